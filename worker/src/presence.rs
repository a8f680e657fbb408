//! Captain presence (SPEC §12): each captain socket refreshes its own
//! last-seen time on every heartbeat — a sorted set in Redis scored by time,
//! or an in-process map — so a long draft never looks empty while clients
//! are connected, and a crashed instance's sockets simply stop refreshing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeZone, Utc};

/// Last seen per (draft, user).
type LastSeen = Arc<Mutex<HashMap<(i64, i64), DateTime<Utc>>>>;

#[derive(Clone)]
pub enum Presence {
    Redis { conn: redis::aio::ConnectionManager, prefix: String },
    Local(LastSeen),
}

impl Presence {
    pub fn local() -> Self {
        Self::Local(Arc::default())
    }

    fn key(prefix: &str, draft: i64) -> String {
        format!("{prefix}:presence:herodraft:{draft}")
    }

    /// Records that `user` was seen on `draft` at `now`.
    pub async fn touch(&self, draft: i64, user: i64, now: DateTime<Utc>) -> redis::RedisResult<()> {
        match self {
            Self::Redis { conn, prefix } => {
                let key = Self::key(prefix, draft);
                redis::pipe()
                    .zadd(&key, user, now.timestamp_millis())
                    .ignore()
                    .expire(&key, 86_400)
                    .ignore()
                    .query_async::<()>(&mut conn.clone())
                    .await
            }
            Self::Local(map) => {
                map.lock().expect("presence").insert((draft, user), now);
                Ok(())
            }
        }
    }

    /// When `user` was last seen on `draft`, if ever.
    pub async fn last_seen(&self, draft: i64, user: i64) -> redis::RedisResult<Option<DateTime<Utc>>> {
        match self {
            Self::Redis { conn, prefix } => {
                let score: Option<i64> =
                    redis::cmd("ZSCORE").arg(Self::key(prefix, draft)).arg(user).query_async(&mut conn.clone()).await?;
                Ok(score.and_then(|ms| Utc.timestamp_millis_opt(ms).single()))
            }
            Self::Local(map) => Ok(map.lock().expect("presence").get(&(draft, user)).copied()),
        }
    }
}
