//! The hero-draft tick (SPEC §11–12): once a second while a draft is
//! drafting or resuming, exactly one instance cluster-wide — whichever holds
//! the `tick:{id}` lease among instances with sockets on it — tends the draft
//! (the core's `tend`: end a resume countdown, pause for a silent captain,
//! time out a round the timer missed) and broadcasts the tick. If that
//! instance dies, the lease lapses and another takes over within seconds.
//! A draft that is not running costs nothing per second: its ticker waits
//! for the draft's next event (or a slow re-check).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use worker::domain::hero_draft::service;
use worker::domain::live;

use crate::state::AppState;
use crate::views::herodrafts::tick;

const TICK: Duration = Duration::from_secs(1);
const TICK_LEASE: Duration = Duration::from_secs(3);
/// An idle draft is looked at again at least this often.
const IDLE_RECHECK: Duration = Duration::from_secs(10);

/// This instance's tickers: sockets watching each hero draft.
pub struct Tickers {
    instance: String,
    watching: Arc<Mutex<HashMap<i64, usize>>>,
}

/// A socket watching a draft; dropping it stops the ticker with the last one.
pub struct Watching {
    id: i64,
    watching: Arc<Mutex<HashMap<i64, usize>>>,
}

impl Drop for Watching {
    fn drop(&mut self) {
        let mut watching = self.watching.lock().expect("tickers");
        if let Some(n) = watching.get_mut(&self.id) {
            *n = n.saturating_sub(1);
        }
    }
}

impl Tickers {
    pub fn new(instance: String) -> Self {
        Self { instance, watching: Arc::default() }
    }

    /// Counts a socket on `id`, starting this instance's ticker if none runs.
    pub fn watch(&self, state: &AppState, id: i64) -> Watching {
        let first = {
            let mut watching = self.watching.lock().expect("tickers");
            let n = watching.entry(id).or_default();
            *n += 1;
            *n == 1
        };
        if first {
            tokio::spawn(run(state.clone(), id));
        }
        Watching { id, watching: self.watching.clone() }
    }

    /// Whether sockets still watch `id`; forgets the draft when none do.
    fn still_watched(&self, id: i64) -> bool {
        let mut watching = self.watching.lock().expect("tickers");
        let watched = watching.get(&id).copied().unwrap_or(0) > 0;
        if !watched {
            watching.remove(&id);
        }
        watched
    }
}

async fn run(state: AppState, id: i64) {
    let tickers = &state.realtime.tickers;
    let mut interval = tokio::time::interval(TICK);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        if !tickers.still_watched(id) {
            break;
        }
        // Holding (or taking over) the lease makes this instance the one broadcaster.
        let lease = state.jobs.locks.acquire_as(&format!("tick:{id}"), &tickers.instance, TICK_LEASE).await;
        let Ok(Some(guard)) = lease else { continue };
        std::mem::forget(guard); // renewed by the next tick, not released on drop
        let now = Utc::now();
        let full = match service::tend(&state.services, id, now).await {
            Ok(full) => full,
            Err(err) => {
                tracing::warn!(error = %err, draft = id, "hero-draft tick failed");
                continue;
            }
        };
        match tick(&full, now) {
            Some(message) => state.jobs.bus.publish(&live::herodraft_channel(id), message.to_string()).await,
            None => idle(&state, id, IDLE_RECHECK).await,
        }
    }
}

/// Waits for the draft's next event (or `at_most`) before looking again.
async fn idle(state: &AppState, id: i64, at_most: Duration) {
    let mut channel = state.jobs.bus.subscribe(&live::herodraft_channel(id));
    let _ = tokio::time::timeout(at_most, async {
        loop {
            match channel.recv().await {
                Ok(payload) if matches!(live::Signal::decode(&payload), Some(live::Signal::Notice { .. })) => break,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => break,
            }
        }
    })
    .await;
}
