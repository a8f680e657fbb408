//! Read cache of serialized responses (SPEC §13), in Redis (distributed) or
//! in-process (embedded).
//!
//! Entries live under a per-namespace *generation*; a write bumps the
//! generations of the namespaces it affects, so a read after a write never
//! sees the old entry (it looks under the new generation). A cache outage
//! degrades to uncached reads, never to errors.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use redis::AsyncCommands;

/// Namespaces: what a cached read depends on.
pub mod ns {
    pub const TOURNAMENTS: &str = "tournaments";
    pub const USERS: &str = "users";
    /// Leaderboards and player league stats (rebuilt by the stats job).
    pub const LEAGUE_STATS: &str = "league_stats";
    /// Stored Steam matches and their links to games.
    pub const MATCHES: &str = "matches";
    /// Answers from Steam (vanity names, live games).
    pub const STEAM: &str = "steam";
}

/// Local entries are dropped wholesale past this many (simple and bounded).
const LOCAL_CAPACITY: usize = 10_000;

/// Cheap to clone; clones share the same entries.
#[derive(Clone)]
pub struct Cache {
    backend: Option<Arc<Backend>>,
}

enum Backend {
    Local(Mutex<Local>),
    Redis { conn: redis::aio::ConnectionManager, prefix: String, read: redis::Script },
}

#[derive(Default)]
struct Local {
    generations: HashMap<String, u64>,
    entries: HashMap<String, (Instant, Bytes)>,
}

/// Reads the generation and the entry under it in one round trip.
const READ_SCRIPT: &str = r"
local gen = redis.call('GET', KEYS[1]) or '0'
return {gen, redis.call('GET', ARGV[1] .. gen .. ':' .. ARGV[2])}
";

impl Cache {
    pub fn disabled() -> Self {
        Self { backend: None }
    }

    pub fn local() -> Self {
        Self { backend: Some(Arc::new(Backend::Local(Mutex::default()))) }
    }

    pub fn redis(conn: redis::aio::ConnectionManager, prefix: &str) -> Self {
        Self {
            backend: Some(Arc::new(Backend::Redis {
                conn,
                prefix: format!("{prefix}:cache"),
                read: redis::Script::new(READ_SCRIPT),
            })),
        }
    }

    /// The cached bytes for `key` in `namespace`, or what `load` produces
    /// (then stored for `ttl`).
    pub async fn get_or_load<F, Fut, E>(&self, namespace: &str, key: &str, ttl: Duration, load: F) -> Result<Bytes, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Bytes, E>>,
    {
        match self.backend.as_deref() {
            None => load().await,
            Some(Backend::Local(local)) => {
                let (full_key, hit) = {
                    let local = local.lock().expect("cache lock");
                    let generation = local.generations.get(namespace).copied().unwrap_or(0);
                    let full_key = format!("{namespace}:{generation}:{key}");
                    let hit = local
                        .entries
                        .get(&full_key)
                        .filter(|(expires, _)| *expires > Instant::now())
                        .map(|(_, bytes)| bytes.clone());
                    (full_key, hit)
                };
                if let Some(bytes) = hit {
                    return Ok(bytes);
                }
                let bytes = load().await?;
                let mut local = local.lock().expect("cache lock");
                if local.entries.len() >= LOCAL_CAPACITY {
                    local.entries.clear();
                }
                local.entries.insert(full_key, (Instant::now() + ttl, bytes.clone()));
                Ok(bytes)
            }
            Some(Backend::Redis { conn, prefix, read }) => {
                let mut conn = conn.clone();
                let looked_up: redis::RedisResult<(String, Option<Vec<u8>>)> = read
                    .key(format!("{prefix}:gen:{namespace}"))
                    .arg(format!("{prefix}:{namespace}:"))
                    .arg(key)
                    .invoke_async(&mut conn)
                    .await;
                let generation = match looked_up {
                    Ok((_, Some(bytes))) => return Ok(Bytes::from(bytes)),
                    Ok((generation, None)) => Some(generation),
                    Err(err) => {
                        tracing::warn!(error = %err, "cache read failed; serving uncached");
                        None
                    }
                };
                let bytes = load().await?;
                if let Some(generation) = generation {
                    let ms = u64::try_from(ttl.as_millis()).unwrap_or(60_000);
                    let stored: redis::RedisResult<()> =
                        conn.pset_ex(format!("{prefix}:{namespace}:{generation}:{key}"), bytes.as_ref(), ms).await;
                    if let Err(err) = stored {
                        tracing::warn!(error = %err, "cache write failed");
                    }
                }
                Ok(bytes)
            }
        }
    }

    /// Makes every cached entry of these namespaces unreachable.
    pub async fn invalidate(&self, namespaces: &[&str]) {
        match self.backend.as_deref() {
            None => {}
            Some(Backend::Local(local)) => {
                let mut local = local.lock().expect("cache lock");
                for namespace in namespaces {
                    *local.generations.entry((*namespace).to_owned()).or_default() += 1;
                }
            }
            Some(Backend::Redis { conn, prefix, .. }) => {
                let mut pipe = redis::pipe();
                for namespace in namespaces {
                    pipe.incr(format!("{prefix}:gen:{namespace}"), 1).ignore();
                }
                if let Err(err) = pipe.query_async::<()>(&mut conn.clone()).await {
                    // Entries expire by TTL; log loudly since reads may be stale until then.
                    tracing::error!(error = %err, "cache invalidation failed");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read(cache: &Cache, value: &'static str) -> Bytes {
        cache
            .get_or_load("ns", "k", Duration::from_secs(60), || async move { Ok::<_, ()>(Bytes::from(value)) })
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn local_cache_hits_until_invalidated() {
        let cache = Cache::local();
        assert_eq!(read(&cache, "one").await, "one");
        assert_eq!(read(&cache, "two").await, "one", "second read is served from cache");
        cache.invalidate(&["ns"]).await;
        assert_eq!(read(&cache, "three").await, "three", "a read after invalidation reloads");
    }

    #[tokio::test]
    async fn disabled_cache_always_loads() {
        let cache = Cache::disabled();
        assert_eq!(read(&cache, "one").await, "one");
        assert_eq!(read(&cache, "two").await, "two");
    }
}
