//! Presence (SPEC §12), two kinds, both refreshed by their own entries so a
//! crashed instance's sockets simply stop counting:
//!
//! - **heartbeats**: a captain's last `{"type":"heartbeat"}` per draft (a
//!   silent captain pauses a drafting draft);
//! - **sockets**: every captain socket refreshes its entry every few seconds
//!   while open and removes it on close; a captain is *connected* while one
//!   of their entries is younger than [`SOCKET_TTL_MS`] on any instance.
//!
//! Redis sorted sets scored by time in distributed mode, in-process maps in
//! embedded mode.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeZone, Utc};

/// A socket entry older than this no longer counts (its instance died).
pub const SOCKET_TTL_MS: i64 = 10_000;
/// How often an open socket refreshes its entry.
pub const SOCKET_REFRESH: std::time::Duration = std::time::Duration::from_secs(3);

#[derive(Default)]
pub struct LocalPresence {
    heartbeats: HashMap<(i64, i64), DateTime<Utc>>,
    /// draft → (user, socket) → last refresh (ms)
    sockets: HashMap<i64, HashMap<(i64, String), i64>>,
}

#[derive(Clone)]
pub enum Presence {
    Redis { conn: redis::aio::ConnectionManager, prefix: String },
    Local(Arc<Mutex<LocalPresence>>),
}

impl Presence {
    pub fn local() -> Self {
        Self::Local(Arc::default())
    }

    fn heartbeat_key(prefix: &str, draft: i64) -> String {
        format!("{prefix}:presence:herodraft:{draft}")
    }

    fn socket_key(prefix: &str, draft: i64) -> String {
        format!("{prefix}:presence:sockets:herodraft:{draft}")
    }

    /// Records a heartbeat of `user` on `draft` at `now`.
    pub async fn touch(&self, draft: i64, user: i64, now: DateTime<Utc>) -> redis::RedisResult<()> {
        match self {
            Self::Redis { conn, prefix } => {
                scored(conn, &Self::heartbeat_key(prefix, draft), &user.to_string(), now.timestamp_millis(), None).await
            }
            Self::Local(map) => {
                map.lock().expect("presence").heartbeats.insert((draft, user), now);
                Ok(())
            }
        }
    }

    /// When `user` last sent a heartbeat on `draft`, if ever.
    pub async fn last_seen(&self, draft: i64, user: i64) -> redis::RedisResult<Option<DateTime<Utc>>> {
        match self {
            Self::Redis { conn, prefix } => {
                let score: Option<i64> = redis::cmd("ZSCORE")
                    .arg(Self::heartbeat_key(prefix, draft))
                    .arg(user)
                    .query_async(&mut conn.clone())
                    .await?;
                Ok(score.and_then(|ms| Utc.timestamp_millis_opt(ms).single()))
            }
            Self::Local(map) => Ok(map.lock().expect("presence").heartbeats.get(&(draft, user)).copied()),
        }
    }

    /// Marks socket `socket` of `user` on `draft` as open at `now` (call again to refresh).
    pub async fn socket_seen(&self, draft: i64, user: i64, socket: &str, now: DateTime<Utc>) -> redis::RedisResult<()> {
        let ms = now.timestamp_millis();
        match self {
            Self::Redis { conn, prefix } => {
                let key = Self::socket_key(prefix, draft);
                scored(conn, &key, &format!("{user}:{socket}"), ms, Some(ms - SOCKET_TTL_MS)).await
            }
            Self::Local(map) => {
                let mut map = map.lock().expect("presence");
                let sockets = map.sockets.entry(draft).or_default();
                sockets.retain(|_, seen| *seen > ms - SOCKET_TTL_MS);
                sockets.insert((user, socket.to_owned()), ms);
                Ok(())
            }
        }
    }

    /// Forgets a closed socket.
    pub async fn socket_closed(&self, draft: i64, user: i64, socket: &str) -> redis::RedisResult<()> {
        match self {
            Self::Redis { conn, prefix } => {
                redis::cmd("ZREM")
                    .arg(Self::socket_key(prefix, draft))
                    .arg(format!("{user}:{socket}"))
                    .query_async::<()>(&mut conn.clone())
                    .await
            }
            Self::Local(map) => {
                let mut map = map.lock().expect("presence");
                if let Some(sockets) = map.sockets.get_mut(&draft) {
                    sockets.remove(&(user, socket.to_owned()));
                    if sockets.is_empty() {
                        map.sockets.remove(&draft);
                    }
                }
                Ok(())
            }
        }
    }

    /// Users with a live socket on `draft` on any instance.
    pub async fn connected(&self, draft: i64, now: DateTime<Utc>) -> redis::RedisResult<BTreeSet<i64>> {
        let horizon = now.timestamp_millis() - SOCKET_TTL_MS;
        match self {
            Self::Redis { conn, prefix } => {
                let members: Vec<String> = redis::cmd("ZRANGEBYSCORE")
                    .arg(Self::socket_key(prefix, draft))
                    .arg(horizon)
                    .arg("+inf")
                    .query_async(&mut conn.clone())
                    .await?;
                Ok(members.iter().filter_map(|m| m.split(':').next()?.parse().ok()).collect())
            }
            Self::Local(map) => Ok(map
                .lock()
                .expect("presence")
                .sockets
                .get(&draft)
                .map(|sockets| {
                    sockets.iter().filter(|(_, seen)| **seen > horizon).map(|((user, _), _)| *user).collect()
                })
                .unwrap_or_default()),
        }
    }
}

/// Sets `member`'s score in a sorted set that lives a day past its last
/// write, dropping members scored below `prune_below`.
async fn scored(
    conn: &redis::aio::ConnectionManager,
    key: &str,
    member: &str,
    score: i64,
    prune_below: Option<i64>,
) -> redis::RedisResult<()> {
    let mut pipe = redis::pipe();
    pipe.zadd(key, member, score).ignore();
    if let Some(horizon) = prune_below {
        pipe.zrembyscore(key, "-inf", horizon).ignore();
    }
    pipe.expire(key, 86_400).ignore().query_async::<()>(&mut conn.clone()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_socket_counts_until_closed_or_stale() {
        let presence = Presence::local();
        let t0 = Utc.timestamp_millis_opt(1_000_000).unwrap();
        presence.socket_seen(1, 7, "a", t0).await.unwrap();
        presence.socket_seen(1, 8, "b", t0).await.unwrap();
        assert_eq!(presence.connected(1, t0).await.unwrap(), BTreeSet::from([7, 8]));
        presence.socket_closed(1, 7, "a").await.unwrap();
        assert_eq!(presence.connected(1, t0).await.unwrap(), BTreeSet::from([8]));
        let later = t0 + chrono::Duration::milliseconds(SOCKET_TTL_MS + 1);
        assert!(presence.connected(1, later).await.unwrap().is_empty(), "a socket that stopped refreshing is gone");
        assert!(presence.connected(2, t0).await.unwrap().is_empty());
    }
}
