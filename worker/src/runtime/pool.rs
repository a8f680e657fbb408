//! The worker pool: one apalis worker per lane over the configured queues
//! (its own concurrency each), all running [`runner::execute`]. Worker
//! names are unique per process start (host-pid-random), as apalis-redis
//! requires.
//!
//! Beside the workers the pool keeps its view of the paused kinds fresh
//! (every second, and at once when a pause changes) and makes held runs due:
//! those of resumed kinds, and those of newer payload versions it reads.
//!
//! Stopping (SPEC §21): on the shutdown signal the workers stop fetching at
//! once; running jobs get `WORKER_SHUTDOWN_TIMEOUT_SECS` to finish, then the
//! rest are handed back — their claims released, a log line each — and
//! their tasks return to the queue, due at once for a restarted or other
//! worker. On the quiet signal (SIGTSTP for the `worker` binary) the
//! workers stop fetching and running jobs go on.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use apalis::prelude::*;
use apalis_core::backend::ext::poll_strategy::Strategy;
use apalis_redis::RedisStorage;
use apalis_sqlite::SqliteStorage;
use futures_util::FutureExt;

use crate::infra::queue::{Ack, Hold, Queue, RawCodec, RawTask};
use crate::jobs::JobError;
use crate::jobs::control::PAUSES_CHANNEL;
use crate::jobs::journal::fetched_claim;
use crate::jobs::payload::Lane;
use crate::jobs::recorder::Recorder;
use crate::runtime::context::JobContext;
use crate::runtime::fetch::{ClaimingFetch, FetchFor, SlotTaken, Slots};
use crate::runtime::runner::{self, Delivered, Outcome};

/// How often idle workers look for due tasks.
const POLL: Duration = Duration::from_millis(200);
/// How often the pool reads the paused kinds and releases held runs.
const MAINTAIN_EVERY: Duration = Duration::from_secs(1);
/// What the workers get beyond the shutdown timeout to hand their runs
/// back and acknowledge them before the pool stops regardless.
const HAND_BACK_MARGIN: Duration = Duration::from_secs(5);

/// Runs a delivery and ends it in the queue. On Redis the pool's workers
/// acknowledge their own tasks (see [`crate::infra::queue::InFlight`]): the run's last ledger
/// write did, or this acknowledges it here — done, or due again in a second
/// when the run could not be recorded (or the runner panicked). Under apalis-sqlite an
/// error (and a hand-back) has apalis deliver the task again.
async fn handle(
    task: RawTask,
    task_id: TaskId,
    worker: WorkerContext,
    meta: MetadataStore,
    ctx: Data<JobContext>,
    lane: Data<Lane>,
    slots: Data<Arc<Slots>>,
) -> Result<(), BoxDynError> {
    let queue = &ctx.enqueuer.queue;
    let task_id = task_id.to_string();
    let in_flight = queue.in_flight(*lane, worker.name(), &task_id);
    let _slot = in_flight.is_some().then(|| SlotTaken::of(&slots));
    let claimed = fetched_claim(meta.get("claim"));
    let delivered =
        Delivered { task, task_id, lane: *lane, worker: worker.name(), in_flight: in_flight.clone(), claimed };
    let ran = match AssertUnwindSafe(runner::execute(delivered, &ctx)).catch_unwind().await {
        Ok(ran) => ran,
        // The runner's own code panicked (a job's panic is a failure of its run).
        Err(panic) => {
            tracing::error!(panic = runner::panic_message(&*panic), "delivery panicked; its task comes again");
            Err(JobError::transient("the delivery panicked"))
        }
    };
    let Some(in_flight) = in_flight else {
        return match ran {
            Ok(Outcome::HandedBack) => Err("handed back at shutdown".into()),
            Ok(_) => Ok(()),
            Err(err) => Err(err.to_string().into()),
        };
    };
    let ack = match &ran {
        Ok(outcome) if outcome.acknowledged() => return Ok(()),
        Ok(_) => Ack::Done,
        Err(_) => Ack::Retry,
    };
    if let Err(err) = queue.acknowledge(&in_flight, ack).await {
        let task_id = &in_flight.task_id;
        tracing::warn!(error = %err, task_id, "acknowledging a delivery failed; it returns with its worker's in-flight set");
    }
    ran.map(|_| ()).map_err(|e| e.to_string().into())
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

/// The apalis workers this pool started (so a quiet signal can pause them).
type Started = Arc<Mutex<Vec<WorkerContext>>>;

/// Registers one lane's worker on `monitor`.
macro_rules! register_lane {
    ($monitor:expr, $backend:expr, $slots:expr, $ctx:expr, $name:expr, $lane:expr, $concurrency:expr) => {{
        let (ctx, name, lane, concurrency, slots) = ($ctx.clone(), $name.clone(), $lane, $concurrency, $slots);
        let backend = $backend;
        $monitor.register(move |restarts| {
            WorkerBuilder::new(format!("{name}-{}-{restarts}", lane.as_str()))
                .backend(backend.clone())
                .data(ctx.clone())
                .data(lane)
                .data(slots.clone())
                .concurrency(concurrency)
                .build(handle)
        })
    }};
}

/// Runs the pool until `shutdown` resolves (then drains as above); `quiet`
/// resolving stops fetching without stopping.
pub async fn run(
    mut ctx: JobContext,
    shutdown: impl Future<Output = ()> + Send + 'static,
    quiet: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let name = worker_name();
    let settings = ctx.settings.clone();
    let (bulk, interactive) = (settings.worker_concurrency as usize, settings.worker_interactive_concurrency as usize);
    let grace = Duration::from_secs(settings.worker_shutdown_timeout_secs);
    tracing::info!(worker = name, bulk, interactive, shutdown_timeout_s = grace.as_secs(), "worker pool starting");
    ctx.hand_back = tokio_util::sync::CancellationToken::new();
    let (clock, supervision) = tokio::sync::watch::channel(0_u64);
    ctx.supervision = supervision;
    if let Err(err) = ctx.paused.refresh(&ctx.db).await {
        tracing::warn!(error = %err, "cannot read the paused job kinds yet");
    }
    let started: Started = Arc::default();
    let on_start = started.clone();
    let mut monitor = Monitor::new().should_restart(|_, _| true).shutdown_timeout(grace + HAND_BACK_MARGIN).on_event(
        move |worker, event| {
            if matches!(event, Event::Start) {
                on_start.lock().expect("workers").push(worker.clone());
            }
        },
    );
    let mut promoted = Vec::new();
    match ctx.enqueuer.queue.clone() {
        Queue::Redis { conn, configs, .. } => {
            let Recorder::Journal(journal) = &ctx.enqueuer.ledger else {
                anyhow::bail!("a Redis queue without its ledger journal");
            };
            promoted = ctx.enqueuer.queue.redis_names();
            for queue in &promoted {
                // Before the first fetch: a backlog must not reach apalis' own promotion.
                crate::infra::queue::promote_due(&conn, queue).await?;
            }
            for (lane, concurrency) in [(Lane::Interactive, interactive), (Lane::Bulk, bulk)] {
                let slots = Slots::new(concurrency);
                let storage = RedisStorage::<RawTask>::new(conn.clone()).with_config(configs.get(lane).clone());
                let fetch = FetchFor {
                    lane,
                    journal: journal.clone(),
                    queue: ctx.enqueuer.queue.clone(),
                    paused: ctx.paused.clone(),
                    understands: settings.payload_version,
                    slots: slots.clone(),
                };
                let backend = ClaimingFetch::new(storage, fetch).with_codec(RawCodec).poll_with_interval(POLL);
                monitor = register_lane!(monitor, backend, slots, ctx, name, lane, concurrency);
            }
        }
        Queue::Sqlite { storages, configs, wake } => {
            for (lane, concurrency) in [(Lane::Interactive, interactive), (Lane::Bulk, bulk)] {
                let strategy = Strategy::new().stream(wake.get(lane).clone()).interval(POLL);
                let backend = SqliteStorage::<RawTask>::new(storages.get(lane).pool())
                    .with_config(configs.get(lane).clone())
                    .with_codec(RawCodec)
                    .poll_with_strategy(strategy);
                monitor = register_lane!(monitor, backend, Slots::new(concurrency), ctx, name, lane, concurrency);
            }
        }
        Queue::Unavailable => anyhow::bail!("no job queue: PostgreSQL needs REDIS_URL"),
    }
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let until_stopped = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    };
    let background = vec![
        tokio::spawn(maintain(ctx.clone(), name.clone(), clock, until_stopped())),
        tokio::spawn(crate::infra::queue::promote_due_forever(
            match &ctx.enqueuer.queue {
                Queue::Redis { conn, .. } => Some(conn.clone()),
                _ => None,
            },
            promoted,
            POLL,
            until_stopped(),
        )),
        tokio::spawn(quiet_when(quiet, started, until_stopped())),
    ];
    let hand_back = ctx.hand_back.clone();
    let signal = async move {
        shutdown.await;
        tracing::info!(timeout_s = grace.as_secs(), "worker pool stopping: no new jobs; running jobs may finish");
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            hand_back.cancel();
        });
        Ok(())
    };
    let result = monitor.run_with_signal(signal).await;
    let _ = stop.send(true);
    for task in background {
        let _ = task.await;
    }
    ctx.enqueuer.queue.forget(&name).await;
    tracing::info!("worker pool stopped");
    result.map_err(|e| anyhow::anyhow!("worker pool: {e}"))
}

/// Pauses every started worker when `quiet` resolves (before `stop`).
async fn quiet_when(quiet: impl Future<Output = ()>, started: Started, stop: impl Future<Output = ()>) {
    tokio::select! {
        () = quiet => {}
        () = stop => return,
    }
    for worker in started.lock().expect("workers").iter() {
        let _ = worker.pause();
    }
    tracing::info!("worker pool quiet: no new jobs; running jobs go on");
}

/// Keeps the paused kinds fresh and releases the held runs of resumed kinds
/// and of the payload versions this worker reads, every [`MAINTAIN_EVERY`]
/// and whenever a pause changes; ticks the supervision clock of running
/// jobs; beats for this process (`dtx_workers_alive`).
async fn maintain(
    ctx: JobContext,
    name: String,
    clock: tokio::sync::watch::Sender<u64>,
    stop: impl Future<Output = ()>,
) {
    let mut changes = ctx.bus.subscribe(PAUSES_CHANNEL);
    let mut ticker = tokio::time::interval(MAINTAIN_EVERY);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return,
            _ = ticker.tick() => {
                clock.send_modify(|tick| *tick += 1);
                ctx.enqueuer.queue.beat(&name).await;
            }
            change = changes.recv() => {
                if let Err(tokio::sync::broadcast::error::RecvError::Closed) = change {
                    changes = ctx.bus.subscribe(PAUSES_CHANNEL);
                }
            }
        }
        match ctx.paused.refresh(&ctx.db).await {
            Ok(paused) => {
                let lifted = Hold::lifted(&paused, ctx.settings.payload_version);
                if let Err(err) = ctx.enqueuer.queue.release(&lifted).await {
                    tracing::warn!(error = %err, "releasing held jobs failed");
                }
            }
            Err(err) => tracing::warn!(error = %err, "cannot read the paused job kinds"),
        }
    }
}
