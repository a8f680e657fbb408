//! The worker pool: apalis workers over the configured queue, all running
//! [`runner::execute`]. Worker names are unique per process start
//! (host-pid-random), as apalis-redis requires.

use std::future::Future;
use std::time::Duration;

use apalis::prelude::*;

use crate::infra::queue::Queue;
use crate::jobs::payload::Envelope;
use crate::runtime::context::JobContext;
use crate::runtime::runner;

/// How often idle workers look for due tasks.
const POLL: Duration = Duration::from_millis(200);

async fn handle(envelope: Envelope, ctx: Data<JobContext>) -> Result<(), BoxDynError> {
    runner::execute(envelope, &ctx).await.map(|_| ()).map_err(|e| -> BoxDynError { e.to_string().into() })
}

/// A worker name no other live process uses.
pub fn worker_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".to_owned());
    format!("{host}-{}-{:04x}", std::process::id(), rand::random::<u16>())
}

macro_rules! monitor_for {
    ($storage:expr, $ctx:expr, $name:expr, $concurrency:expr, $shutdown:expr) => {{
        let (storage, ctx, name, concurrency) = ($storage, $ctx, $name, $concurrency);
        Monitor::new()
            .register(move |restarts| {
                WorkerBuilder::new(format!("{name}-{restarts}"))
                    .backend(storage.clone().poll_with_interval(POLL))
                    .data(ctx.clone())
                    .concurrency(concurrency)
                    .catch_panic()
                    .build(handle)
            })
            .should_restart(|_, _| true)
            .shutdown_timeout(Duration::from_secs(30))
            .run_with_signal(async move {
                $shutdown.await;
                Ok(())
            })
            .await
    }};
}

/// Runs workers until `shutdown` resolves; in-flight jobs get 30 s to finish
/// (unfinished ones are picked up again by the next worker).
pub async fn run(ctx: JobContext, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    let name = worker_name();
    let concurrency = ctx.settings.worker_concurrency as usize;
    tracing::info!(worker = name, concurrency, "worker pool starting");
    let result = match ctx.enqueuer.queue.clone() {
        Queue::Redis { storage, conn, name: queue } => {
            // Before the first fetch: a backlog must not reach apalis' own promotion.
            crate::infra::queue::promote_due(&conn, &queue).await?;
            let (stop, rx) = tokio::sync::watch::channel(false);
            let promoter = tokio::spawn(crate::infra::queue::promote_due_forever(conn, queue, POLL, async move {
                let mut rx = rx;
                let _ = rx.wait_for(|s| *s).await;
            }));
            let result = monitor_for!(storage, ctx, name, concurrency, shutdown);
            let _ = stop.send(true);
            let _ = promoter.await;
            result
        }
        Queue::Sqlite(storage) => monitor_for!(storage, ctx, name, concurrency, shutdown),
        Queue::Unavailable => anyhow::bail!("no job queue: PostgreSQL needs REDIS_URL"),
    };
    result.map_err(|e| anyhow::anyhow!("worker pool: {e}"))
}
