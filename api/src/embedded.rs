//! The worker pool and scheduler running inside the api process (embedded
//! mode, or `DTX_EMBEDDED_WORKER=1` / `DTX_EMBEDDED_SCHEDULER=1`).

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::state::AppState;

/// Background tasks started with the server; [`Background::stop`] ends them.
pub struct Background {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// Starts what the settings ask for.
pub fn start(state: &AppState) -> anyhow::Result<Background> {
    let (stop, rx) = watch::channel(false);
    let mut tasks = Vec::new();
    if state.settings.runs_embedded_worker()
        && !matches!(state.jobs.enqueuer.queue, worker::infra::queue::Queue::Unavailable)
    {
        let ctx = state.jobs.clone();
        let until = stopped(rx.clone());
        tasks.push(tokio::spawn(async move {
            if let Err(err) = worker::runtime::pool::run(ctx, until, std::future::pending()).await {
                tracing::error!(error = %err, "embedded worker pool stopped");
            }
        }));
    }
    if state.settings.runs_embedded_scheduler() {
        let schedules = worker::runtime::schedule::from_env()?;
        let ctx = state.jobs.clone();
        let until = stopped(rx);
        tasks.push(tokio::spawn(async move {
            if let Err(err) = worker::runtime::schedule::run(ctx, schedules, until).await {
                tracing::error!(error = %err, "embedded scheduler stopped");
            }
        }));
    }
    Ok(Background { stop, tasks })
}

impl Background {
    /// Asks the tasks to stop without waiting (for `Drop` contexts).
    pub fn signal_stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Stops the tasks and waits for in-flight jobs (up to the pool's deadline).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}
