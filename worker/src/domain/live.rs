//! Live events (SPEC §11). Every change a service commits is stored as event
//! rows (draft events, hero-draft events, bracket events); after the commit
//! the service publishes a *notice* naming the newest event id on the
//! channels that show it. A socket never trusts a notice's content: it keeps
//! the id of the last row it sent and, on any signal (a notice, a tick, the
//! bus reconnecting, its own slow timer), sends every newer row in id order.
//! A lost notice costs a little delay, never an event; nothing is doubled.

use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};

use crate::infra::bus::Bus;

pub fn draft_channel(draft_id: i64) -> String {
    format!("draft:{draft_id}")
}

pub fn herodraft_channel(hero_draft_id: i64) -> String {
    format!("herodraft:{hero_draft_id}")
}

pub fn tournament_channel(tournament_id: i64) -> String {
    format!("tournament:{tournament_id}")
}

/// What travels on a channel besides the hero-draft tick (which goes to
/// clients as it is).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Signal {
    /// Event rows up to `event_id` exist (of the channel's own kind of rows:
    /// draft events, hero-draft events, or bracket events on a tournament).
    Notice { kind: EventKind, event_id: i64 },
    /// Messages may have been lost (the bus reconnected): catch up.
    Resync,
    /// A captain opened a new socket: older sockets of theirs close (4000).
    Kick { user_id: i64, socket_id: String },
}

/// Which rows a notice is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Draft,
    HeroDraft,
    Bracket,
}

impl Signal {
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A signal, or `None` for anything else (a tick).
    pub fn decode(payload: &str) -> Option<Self> {
        if !payload.starts_with("{\"type\":\"") || payload.starts_with("{\"type\":\"herodraft_tick\"") {
            return None;
        }
        serde_json::from_str(payload).ok()
    }
}

/// Tells every socket of `channels` that event rows up to `event_id` exist.
pub async fn notify(bus: &Bus, channels: &[String], kind: EventKind, event_id: i64) {
    let notice = Signal::Notice { kind, event_id }.encode();
    for channel in channels {
        bus.publish(channel, notice.clone()).await;
    }
}

/// Event rows of `owner_id` (a draft, a hero draft, a tournament) with ids
/// above `after`, oldest first, at most `limit` — what a socket catches up with.
pub async fn rows_after<E: EntityTrait, C: ConnectionTrait>(
    db: &C,
    owner: E::Column,
    id: E::Column,
    owner_id: i64,
    after: i64,
    limit: u64,
) -> Result<Vec<E::Model>, DbErr> {
    E::find().filter(owner.eq(owner_id)).filter(id.gt(after)).order_by_asc(id).limit(limit).all(db).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_round_trip_and_ticks_are_not_signals() {
        let notice = Signal::Notice { kind: EventKind::Draft, event_id: 42 };
        assert_eq!(notice.encode(), r#"{"type":"notice","kind":"draft","event_id":42}"#);
        assert_eq!(Signal::decode(&notice.encode()), Some(notice));
        assert_eq!(Signal::decode(r#"{"type":"resync"}"#), Some(Signal::Resync));
        assert_eq!(Signal::decode(r#"{"type":"herodraft_tick","current_round":3}"#), None);
        assert_eq!(Signal::decode("garbage"), None);
    }
}
