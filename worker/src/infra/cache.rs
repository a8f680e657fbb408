//! Read cache of serialized responses (SPEC §13), in Redis (distributed) or
//! in-process (embedded).
//!
//! Entries live under a per-namespace *generation*; a write bumps the
//! generations of the namespaces it affects, so a read after a write never
//! sees the old entry (it looks under the new generation). A cache outage
//! degrades to uncached reads, never to errors.
//!
//! Bounded against floods: callers validate a key before caching (a known
//! league, a cacheable page); in-process each namespace holds at most
//! [`PER_NAMESPACE`] entries and, when full, forgets its least recently read
//! tenth (a flood of one namespace evicts only its own cold keys: the hot
//! ones stay); and concurrent misses of one key make one load whose outcome,
//! a failure too, every waiter shares (single flight), so a burst of
//! identical requests makes one Steam call.

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

/// In-process entries per namespace; past it the namespace's expired
/// entries go, then, if still full, its least recently read tenth (never
/// another namespace's).
pub const PER_NAMESPACE: usize = 2_000;

/// The outcome of one load, shared by every caller that waited for it.
type Flight = Arc<tokio::sync::OnceCell<Arc<dyn std::any::Any + Send + Sync>>>;

/// Cheap to clone; clones share the same entries.
#[derive(Clone)]
pub struct Cache {
    backend: Option<Arc<Backend>>,
    /// Keys being loaded now: later misses share the first load's outcome.
    inflight: Arc<Mutex<HashMap<String, Flight>>>,
}

enum Backend {
    Local(Mutex<Local>),
    Redis { conn: redis::aio::ConnectionManager, prefix: String, read: redis::Script },
}

#[derive(Default)]
struct Local {
    generations: HashMap<String, u64>,
    /// namespace → "generation:key" → entry
    entries: HashMap<String, HashMap<String, Entry>>,
}

struct Entry {
    expires: Instant,
    /// When it was last read (or stored): the coldest go first.
    used: Instant,
    bytes: Bytes,
}

impl Local {
    fn get(&mut self, namespace: &str, key: &str) -> (String, Option<Bytes>) {
        let generation = self.generations.get(namespace).copied().unwrap_or(0);
        let full_key = format!("{generation}:{key}");
        let now = Instant::now();
        let hit = self
            .entries
            .get_mut(namespace)
            .and_then(|entries| entries.get_mut(&full_key))
            .filter(|entry| entry.expires > now)
            .map(|entry| {
                entry.used = now;
                entry.bytes.clone()
            });
        (full_key, hit)
    }

    fn put(&mut self, namespace: &str, full_key: String, ttl: Duration, bytes: Bytes) {
        let entries = self.entries.entry(namespace.to_owned()).or_default();
        let now = Instant::now();
        if entries.len() >= PER_NAMESPACE {
            entries.retain(|_, entry| entry.expires > now);
        }
        if entries.len() >= PER_NAMESPACE {
            let mut by_use: Vec<(Instant, String)> = entries.iter().map(|(k, e)| (e.used, k.clone())).collect();
            by_use.sort_unstable();
            for (_, cold) in by_use.into_iter().take(PER_NAMESPACE / 10) {
                entries.remove(&cold);
            }
        }
        entries.insert(full_key, Entry { expires: now + ttl, used: now, bytes });
    }
}

/// Reads the generation and the entry under it in one round trip.
const READ_SCRIPT: &str = r"
local gen = redis.call('GET', KEYS[1]) or '0'
return {gen, redis.call('GET', ARGV[1] .. gen .. ':' .. ARGV[2])}
";

impl Cache {
    fn with(backend: Option<Backend>) -> Self {
        Self { backend: backend.map(Arc::new), inflight: Arc::default() }
    }

    pub fn disabled() -> Self {
        Self::with(None)
    }

    pub fn local() -> Self {
        Self::with(Some(Backend::Local(Mutex::default())))
    }

    pub fn redis(conn: redis::aio::ConnectionManager, prefix: &str) -> Self {
        Self::with(Some(Backend::Redis {
            conn,
            prefix: format!("{prefix}:cache"),
            read: redis::Script::new(READ_SCRIPT),
        }))
    }

    /// The cached bytes for `key` in `namespace`, or what `load` produces
    /// (then stored for `ttl`). Concurrent misses of one key share the first
    /// caller's load and its outcome — a failure too — instead of loading again.
    pub async fn get_or_load<F, Fut, E>(&self, namespace: &str, key: &str, ttl: Duration, load: F) -> Result<Bytes, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Bytes, E>>,
        E: Clone + Send + Sync + 'static,
    {
        if self.backend.is_none() {
            return load().await;
        }
        if let Some(hit) = self.lookup(namespace, key).await {
            return Ok(hit);
        }
        let flight_key = format!("{namespace}\u{0}{key}");
        let flight = self.inflight.lock().expect("inflight").entry(flight_key.clone()).or_default().clone();
        let mut load = Some(load);
        let outcome = flight
            .get_or_init(|| async {
                let load = load.take().expect("the first caller loads");
                let result: Result<Bytes, E> = match self.lookup(namespace, key).await {
                    Some(hit) => Ok(hit),
                    None => self.load_and_store(namespace, key, ttl, load).await,
                };
                Arc::new(result) as Arc<dyn std::any::Any + Send + Sync>
            })
            .await
            .clone();
        {
            // The next miss after this flight loads afresh (a failure is not remembered).
            let mut inflight = self.inflight.lock().expect("inflight");
            if inflight.get(&flight_key).is_some_and(|current| Arc::ptr_eq(current, &flight)) {
                inflight.remove(&flight_key);
            }
        }
        match (outcome.downcast_ref::<Result<Bytes, E>>(), load) {
            (Some(shared), _) => shared.clone(),
            // Another call site loading the same key with another error type.
            (None, Some(load)) => load().await,
            (None, None) => unreachable!("this caller's own load has its own type"),
        }
    }

    /// A live entry, if any.
    async fn lookup(&self, namespace: &str, key: &str) -> Option<Bytes> {
        match self.backend.as_deref()? {
            Backend::Local(local) => local.lock().expect("cache lock").get(namespace, key).1,
            Backend::Redis { conn, prefix, read } => {
                let looked_up: redis::RedisResult<(String, Option<Vec<u8>>)> = read
                    .key(format!("{prefix}:gen:{namespace}"))
                    .arg(format!("{prefix}:{namespace}:"))
                    .arg(key)
                    .invoke_async(&mut conn.clone())
                    .await;
                match looked_up {
                    Ok((_, hit)) => hit.map(Bytes::from),
                    Err(err) => {
                        tracing::warn!(error = %err, "cache read failed; serving uncached");
                        None
                    }
                }
            }
        }
    }

    async fn load_and_store<F, Fut, E>(&self, namespace: &str, key: &str, ttl: Duration, load: F) -> Result<Bytes, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Bytes, E>>,
    {
        match self.backend.as_deref() {
            None => load().await,
            Some(Backend::Local(local)) => {
                let (full_key, _) = local.lock().expect("cache lock").get(namespace, key);
                let bytes = load().await?;
                local.lock().expect("cache lock").put(namespace, full_key, ttl, bytes.clone());
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
    async fn a_flooded_namespace_evicts_only_itself() {
        let cache = Cache::local();
        assert_eq!(read(&cache, "kept").await, "kept");
        for i in 0..(PER_NAMESPACE + 10) {
            let key = format!("flood{i}");
            cache
                .get_or_load("other", &key, Duration::from_secs(60), || async { Ok::<_, ()>(Bytes::from("x")) })
                .await
                .unwrap();
        }
        assert_eq!(read(&cache, "reloaded").await, "kept", "another namespace's entry survives the flood");
    }

    #[tokio::test]
    async fn concurrent_misses_load_once() {
        let cache = Cache::local();
        let loads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let readers = (0..20).map(|_| {
            let (cache, loads) = (cache.clone(), loads.clone());
            tokio::spawn(async move {
                cache
                    .get_or_load("ns", "same", Duration::from_secs(60), || async move {
                        loads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok::<_, ()>(Bytes::from("v"))
                    })
                    .await
                    .unwrap()
            })
        });
        for reader in readers.collect::<Vec<_>>() {
            assert_eq!(reader.await.unwrap(), "v");
        }
        assert_eq!(loads.load(std::sync::atomic::Ordering::SeqCst), 1, "one load for twenty readers");
    }

    #[tokio::test]
    async fn concurrent_misses_share_a_failed_load_and_the_next_miss_tries_again() {
        let cache = Cache::local();
        let loads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let failing = |loads: Arc<std::sync::atomic::AtomicUsize>| async move {
            loads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(50)).await;
            Err::<Bytes, _>("steam 503".to_owned())
        };
        let readers = (0..6).map(|_| {
            let (cache, loads) = (cache.clone(), loads.clone());
            tokio::spawn(
                async move { cache.get_or_load("ns", "same", Duration::from_secs(60), || failing(loads)).await },
            )
        });
        for reader in readers.collect::<Vec<_>>() {
            assert_eq!(reader.await.unwrap(), Err("steam 503".to_owned()));
        }
        assert_eq!(loads.load(std::sync::atomic::Ordering::SeqCst), 1, "six concurrent misses, one failed load");
        let later = cache.get_or_load("ns", "same", Duration::from_secs(60), || failing(loads.clone())).await;
        assert!(later.is_err());
        assert_eq!(loads.load(std::sync::atomic::Ordering::SeqCst), 2, "a failure is not remembered");
    }

    #[tokio::test]
    async fn a_flood_forgets_cold_keys_and_keeps_hot_ones() {
        let cache = Cache::local();
        assert_eq!(read(&cache, "hot").await, "hot");
        let store = |key: String| {
            let cache = cache.clone();
            async move {
                cache.get_or_load("ns", &key, Duration::from_secs(60), || async { Ok::<_, ()>(Bytes::from("x")) }).await
            }
        };
        for i in 0..(3 * PER_NAMESPACE) {
            store(format!("flood{i}")).await.unwrap();
            if i % 100 == 0 {
                assert_eq!(read(&cache, "reloaded").await, "hot", "a key read all along stays (after {i})");
            }
        }
        let entries = match cache.backend.as_deref() {
            Some(Backend::Local(local)) => local.lock().unwrap().entries["ns"].len(),
            _ => unreachable!(),
        };
        assert!(entries <= PER_NAMESPACE, "{entries} entries");
    }

    #[tokio::test]
    async fn disabled_cache_always_loads() {
        let cache = Cache::disabled();
        assert_eq!(read(&cache, "one").await, "one");
        assert_eq!(read(&cache, "two").await, "two");
    }
}
