//! Mutual exclusion with a token (SPEC §12): `SET key token NX PX ttl`;
//! renew and release only while the value is still our token. Embedded mode
//! uses an in-process table with the same semantics.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::AsyncCommands;

const RENEW: &str =
    r"if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";
const RELEASE: &str =
    r"if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

#[derive(Clone)]
pub enum Locks {
    Redis { conn: redis::aio::ConnectionManager, prefix: String },
    Local(Arc<Mutex<HashMap<String, (String, Instant)>>>),
}

/// A held lock. Renew it while working; release it when done (expiry
/// releases it anyway if the holder dies).
pub struct LockGuard {
    locks: Locks,
    key: String,
    token: String,
    ttl: Duration,
}

impl Locks {
    pub fn local() -> Self {
        Self::Local(Arc::default())
    }

    /// Takes `name` for `ttl`, or `None` if someone else holds it.
    pub async fn acquire(&self, name: &str, ttl: Duration) -> redis::RedisResult<Option<LockGuard>> {
        let token = ulid::Ulid::generate().to_string();
        let acquired = match self {
            Self::Redis { conn, prefix } => {
                let opts = redis::SetOptions::default()
                    .conditional_set(redis::ExistenceCheck::NX)
                    .with_expiration(redis::SetExpiry::PX(ttl.as_millis() as u64));
                let set: Option<String> =
                    conn.clone().set_options(format!("{prefix}:lock:{name}"), &token, opts).await?;
                set.is_some()
            }
            Self::Local(table) => {
                let mut table = table.lock().expect("lock table");
                let now = Instant::now();
                match table.get(name) {
                    Some((_, expires)) if *expires > now => false,
                    _ => {
                        table.insert(name.to_owned(), (token.clone(), now + ttl));
                        true
                    }
                }
            }
        };
        Ok(acquired.then(|| LockGuard { locks: self.clone(), key: name.to_owned(), token, ttl }))
    }
}

impl LockGuard {
    /// Extends the lease; `false` means the lock was lost (stop working).
    pub async fn renew(&self) -> redis::RedisResult<bool> {
        match &self.locks {
            Locks::Redis { conn, prefix } => {
                let renewed: i64 = redis::Script::new(RENEW)
                    .key(format!("{prefix}:lock:{}", self.key))
                    .arg(&self.token)
                    .arg(self.ttl.as_millis() as u64)
                    .invoke_async(&mut conn.clone())
                    .await?;
                Ok(renewed == 1)
            }
            Locks::Local(table) => {
                let mut table = table.lock().expect("lock table");
                match table.get_mut(&self.key) {
                    Some((token, expires)) if *token == self.token => {
                        *expires = Instant::now() + self.ttl;
                        Ok(true)
                    }
                    _ => Ok(false),
                }
            }
        }
    }

    pub async fn release(self) -> redis::RedisResult<()> {
        match &self.locks {
            Locks::Redis { conn, prefix } => {
                let _: i64 = redis::Script::new(RELEASE)
                    .key(format!("{prefix}:lock:{}", self.key))
                    .arg(&self.token)
                    .invoke_async(&mut conn.clone())
                    .await?;
            }
            Locks::Local(table) => {
                let mut table = table.lock().expect("lock table");
                if table.get(&self.key).is_some_and(|(token, _)| *token == self.token) {
                    table.remove(&self.key);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_lock_excludes_until_released_or_expired() {
        let locks = Locks::local();
        let held = locks.acquire("a", Duration::from_secs(60)).await.unwrap().unwrap();
        assert!(locks.acquire("a", Duration::from_secs(60)).await.unwrap().is_none());
        assert!(held.renew().await.unwrap());
        held.release().await.unwrap();
        let short = locks.acquire("a", Duration::from_millis(1)).await.unwrap().unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        let other = locks.acquire("a", Duration::from_secs(60)).await.unwrap();
        assert!(other.is_some(), "an expired lock can be taken");
        assert!(!short.renew().await.unwrap(), "the old holder learns it lost the lock");
    }
}
