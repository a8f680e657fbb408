//! The pool's Redis backend: apalis-redis' storage, except that the fetch
//! claims the tasks it takes in the same script call ([`Journal::fetch`]) —
//! a job costs Redis one call fewer. Registration, heartbeats, the recovery
//! of dead workers' tasks and pushes stay apalis-redis' own, and so does
//! the key layout.
//!
//! A fetch takes as many tasks as the worker has free slots ([`Slots`]; at
//! most the configured batch), so every task it claims starts at once and
//! none waits, claimed, behind a long job — and a long job never holds back
//! tasks another worker could start. Tasks still buffered when the worker
//! stops (it stopped between a fetch and its start, or during a fetch) go
//! back to the queue, a claimed one through the ledger's release, as a
//! hand-back.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};

use apalis::prelude::*;
use apalis_core::backend::BackendConfig;
use apalis_core::backend::WireFormatBackend;
use apalis_core::backend::future::BoxSyncFuture;
use apalis_redis::{RedisStorage, RedisTask};
use futures_util::FutureExt;

use crate::infra::queue::{Ack, Queue, RawTask};
use crate::jobs::control::PausedKinds;
use crate::jobs::journal::{Fetch, Journal};
use crate::jobs::payload::Lane;

/// A worker's slots: how many of its deliveries run now.
#[derive(Debug)]
pub struct Slots {
    concurrency: usize,
    busy: AtomicUsize,
}

impl Slots {
    pub fn new(concurrency: usize) -> Arc<Self> {
        Arc::new(Self { concurrency, busy: AtomicUsize::new(0) })
    }

    fn free(&self) -> usize {
        self.concurrency.saturating_sub(self.busy.load(Ordering::Relaxed))
    }
}

/// A delivery's hold on a slot, taken when the backend hands the task over
/// and let go when the delivery ends.
pub struct SlotTaken(Arc<Slots>);

impl SlotTaken {
    /// Takes the slot of a delivery the backend handed over.
    pub fn of(slots: &Arc<Slots>) -> Self {
        Self(slots.clone())
    }
}

impl Drop for SlotTaken {
    fn drop(&mut self) {
        let _ = self.0.busy.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }
}

type Fetched = Result<Vec<RedisTask>, apalis_redis::Error>;

/// What a lane's fetch works with.
#[derive(Clone)]
pub struct FetchFor {
    pub lane: Lane,
    pub journal: Journal,
    pub queue: Queue,
    pub paused: PausedKinds,
    /// The newest payload version this worker reads.
    pub understands: u32,
    pub slots: Arc<Slots>,
}

/// See the module's documentation.
pub struct ClaimingFetch {
    inner: RedisStorage<RawTask>,
    setup: FetchFor,
    fetching: Option<BoxSyncFuture<Fetched>>,
    buffer: VecDeque<RedisTask>,
    closing: Option<BoxSyncFuture<()>>,
}

impl ClaimingFetch {
    pub fn new(inner: RedisStorage<RawTask>, setup: FetchFor) -> Self {
        Self { inner, setup, fetching: None, buffer: VecDeque::new(), closing: None }
    }

    fn fetch(&self, worker: &WorkerContext) -> BoxSyncFuture<Fetched> {
        let FetchFor { journal, paused, understands, slots, .. } = &self.setup;
        let (journal, config, worker) = (journal.clone(), self.inner.get_config().clone(), worker.name().to_owned());
        let take = slots.free().clamp(1, config.batch_size.max(1));
        let (paused, understands) = (paused.list(), *understands);
        async move {
            let fetch = Fetch { take, understands, paused: &paused };
            journal.fetch(&config, &worker, &fetch).await
        }
        .boxed()
        .into()
    }

    /// Polls the fetch in flight (if any) to its end, buffering what it
    /// brought; answers how many tasks that was.
    fn poll_fetching(&mut self, cx: &mut Context<'_>) -> Poll<Result<usize, apalis_redis::Error>> {
        let Some(fetching) = self.fetching.as_mut() else { return Poll::Ready(Ok(0)) };
        let fetched = ready!(fetching.poll_unpin(cx));
        self.fetching = None;
        let tasks = fetched?;
        let brought = tasks.len();
        self.buffer.extend(tasks);
        Poll::Ready(Ok(brought))
    }

    /// Puts the buffered tasks back: claimed ones are released (as a
    /// hand-back), the others acknowledged for a retry.
    fn put_back(&mut self, worker: &WorkerContext) -> BoxSyncFuture<()> {
        let tasks: Vec<RedisTask> = self.buffer.drain(..).collect();
        let FetchFor { journal, queue, lane, .. } = self.setup.clone();
        let worker = worker.name().to_owned();
        async move {
            for task in tasks {
                let task_id = task.ctx().task_id().map(ToString::to_string).unwrap_or_default();
                let Some(in_flight) = queue.in_flight(lane, &worker, &task_id) else { continue };
                let claimed = task.ctx().metadata().get("claim") == Some("1");
                let released = match claimed.then(|| run_and_attempt(&task.args)).flatten() {
                    Some((run, attempt)) => {
                        journal.release(&run, attempt, Some(&in_flight)).await.map_err(|e| e.to_string())
                    }
                    None => queue.acknowledge(&in_flight, Ack::Retry).await.map_err(|e| e.to_string()),
                };
                if let Err(err) = released {
                    tracing::warn!(error = err, task_id, "a fetched task not started could not be put back");
                }
            }
        }
        .boxed()
        .into()
    }
}

/// The run id and attempt of a task's envelope.
fn run_and_attempt(task: &[u8]) -> Option<(String, i32)> {
    let envelope: serde_json::Value = serde_json::from_slice(task).ok()?;
    let attempt = i32::try_from(envelope.get("attempt")?.as_i64()?).ok()?;
    Some((envelope.get("run_id")?.as_str()?.to_owned(), attempt))
}

impl Clone for ClaimingFetch {
    fn clone(&self) -> Self {
        Self::new(self.inner.clone(), self.setup.clone())
    }
}

impl Backend for ClaimingFetch {
    type Task = RedisTask;
    type Error = apalis_redis::Error;

    fn poll_ready(&mut self, cx: &mut Context<'_>, worker: &WorkerContext) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx, worker)
    }

    fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        worker: &WorkerContext,
    ) -> Poll<Option<Result<Self::Task, Self::Error>>> {
        loop {
            if let Some(task) = self.buffer.pop_front() {
                self.setup.slots.busy.fetch_add(1, Ordering::Relaxed);
                return Poll::Ready(Some(Ok(task)));
            }
            if self.fetching.is_none() {
                self.fetching = Some(self.fetch(worker));
            }
            match ready!(self.poll_fetching(cx)) {
                // The poll strategy wakes the worker for the next look.
                Ok(0) => return Poll::Pending,
                Ok(_) => {}
                Err(err) => return Poll::Ready(Some(Err(err))),
            }
        }
    }

    fn poll_close(&mut self, cx: &mut Context<'_>, worker: &WorkerContext) -> Poll<Result<(), Self::Error>> {
        if self.closing.is_none() {
            // What a fetch in flight at the stop takes goes back with the rest,
            // rather than wait in this worker's in-flight set for its recovery.
            if let Err(err) = ready!(self.poll_fetching(cx)) {
                tracing::warn!(error = %err, "a fetch in flight at the worker's stop failed");
            }
            if !self.buffer.is_empty() {
                self.closing = Some(self.put_back(worker));
            }
        }
        if let Some(closing) = &mut self.closing {
            if closing.poll_unpin(cx).is_pending() {
                return Poll::Pending;
            }
            self.closing = None;
        }
        self.inner.poll_close(cx, worker)
    }
}

impl BackendConfig for ClaimingFetch {
    type Args = <RedisStorage<RawTask> as BackendConfig>::Args;
    type Id = <RedisStorage<RawTask> as BackendConfig>::Id;
    type Kind = <RedisStorage<RawTask> as BackendConfig>::Kind;
    type Config = <RedisStorage<RawTask> as BackendConfig>::Config;
    type Layer = <RedisStorage<RawTask> as BackendConfig>::Layer;

    fn config(&self) -> &Self::Config {
        self.inner.config()
    }

    fn middleware(&mut self, worker: &mut WorkerContext) -> Self::Layer {
        self.inner.middleware(worker)
    }
}

impl WireFormatBackend for ClaimingFetch {
    type Codec = <RedisStorage<RawTask> as WireFormatBackend>::Codec;
    type Compact = <RedisStorage<RawTask> as WireFormatBackend>::Compact;

    fn codec(&self) -> &Self::Codec {
        self.inner.codec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_is_taken_when_handed_over_and_freed_when_the_delivery_ends() {
        let slots = Slots::new(3);
        assert_eq!(slots.free(), 3);
        slots.busy.fetch_add(1, Ordering::Relaxed);
        let taken = SlotTaken::of(&slots);
        assert_eq!(slots.free(), 2);
        drop(taken);
        assert_eq!(slots.free(), 3);
        drop(SlotTaken::of(&slots));
        assert_eq!(slots.free(), 3, "never below none busy");
    }

    #[test]
    fn a_buffered_task_names_its_run_and_attempt() {
        let task = br#"{"v": 2, "run_id": "01abc", "attempt": 2, "max_attempts": 3, "job": {"kind": "x"}}"#;
        assert_eq!(run_and_attempt(task), Some(("01abc".to_owned(), 2)));
        assert_eq!(run_and_attempt(b"{\"run_id\": 5}"), None);
        assert_eq!(run_and_attempt(b"not json"), None);
    }
}
