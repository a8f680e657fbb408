//! Mutual exclusion with a token (SPEC §12): `SET key token NX PX ttl`;
//! renew and release only while the value is still our token. Embedded mode
//! uses an in-process table with the same semantics.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const RENEW: &str =
    r"if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";
/// Takes the lock if free, or if `owner` already holds it (a redelivery of
/// the same job after its worker died must not wait for the lease to expire).
const ACQUIRE: &str = r"
local current = redis.call('GET', KEYS[1])
if current == false or current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
";
const RELEASE: &str =
    r"if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

#[derive(Clone)]
pub enum Locks {
    Redis { conn: redis::aio::ConnectionManager, prefix: String },
    Local(Arc<Mutex<HashMap<String, (String, Instant)>>>),
}

/// A held lock. Renew it while working; release it when done. Dropping it
/// (a cancelled job) releases it too; expiry covers a holder that died.
pub struct LockGuard {
    locks: Locks,
    key: String,
    token: String,
    ttl: Duration,
    released: bool,
    last_renewed: std::sync::Mutex<Instant>,
}

impl Locks {
    pub fn local() -> Self {
        Self::Local(Arc::default())
    }

    /// Takes `name` for `ttl`, or `None` if someone else holds it.
    pub async fn acquire(&self, name: &str, ttl: Duration) -> redis::RedisResult<Option<LockGuard>> {
        self.acquire_as(name, &ulid::Ulid::generate().to_string(), ttl).await
    }

    /// Takes `name` for `ttl` on behalf of `owner`; succeeds if it is free or
    /// already `owner`'s.
    pub async fn acquire_as(&self, name: &str, owner: &str, ttl: Duration) -> redis::RedisResult<Option<LockGuard>> {
        let acquired = match self {
            Self::Redis { conn, prefix } => {
                let got: i64 = redis::Script::new(ACQUIRE)
                    .key(format!("{prefix}:lock:{name}"))
                    .arg(owner)
                    .arg(ttl.as_millis() as u64)
                    .invoke_async(&mut conn.clone())
                    .await?;
                got == 1
            }
            Self::Local(table) => {
                let mut table = table.lock().expect("lock table");
                let now = Instant::now();
                match table.get(name) {
                    Some((holder, expires)) if *expires > now && holder != owner => false,
                    _ => {
                        table.insert(name.to_owned(), (owner.to_owned(), now + ttl));
                        true
                    }
                }
            }
        };
        let guard = || LockGuard {
            locks: self.clone(),
            key: name.to_owned(),
            token: owner.to_owned(),
            ttl,
            released: false,
            last_renewed: std::sync::Mutex::new(Instant::now()),
        };
        Ok(acquired.then(guard))
    }
}

impl LockGuard {
    /// Renews only once a third of the lease has passed (cheap to call often).
    pub async fn renew_if_due(&self) -> redis::RedisResult<bool> {
        let due = self.last_renewed.lock().expect("renewal clock").elapsed() >= self.ttl / 3;
        if !due {
            return Ok(true);
        }
        let renewed = self.renew().await?;
        if renewed {
            *self.last_renewed.lock().expect("renewal clock") = Instant::now();
        }
        Ok(renewed)
    }

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

    pub async fn release(mut self) -> redis::RedisResult<()> {
        self.released = true;
        release(&self.locks, &self.key, &self.token).await
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        let (locks, key, token) = (self.locks.clone(), self.key.clone(), self.token.clone());
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let _ = release(&locks, &key, &token).await;
            });
        }
    }
}

async fn release(locks: &Locks, key: &str, token: &str) -> redis::RedisResult<()> {
    {
        match locks {
            Locks::Redis { conn, prefix } => {
                let _: i64 = redis::Script::new(RELEASE)
                    .key(format!("{prefix}:lock:{key}"))
                    .arg(token)
                    .invoke_async(&mut conn.clone())
                    .await?;
            }
            Locks::Local(table) => {
                let mut table = table.lock().expect("lock table");
                if table.get(key).is_some_and(|(holder, _)| holder == token) {
                    table.remove(key);
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

    #[tokio::test]
    async fn the_same_owner_takes_over_and_drop_releases() {
        let locks = Locks::local();
        let first = locks.acquire_as("b", "run-1", Duration::from_secs(60)).await.unwrap().unwrap();
        assert!(locks.acquire_as("b", "run-2", Duration::from_secs(60)).await.unwrap().is_none());
        let again = locks.acquire_as("b", "run-1", Duration::from_secs(60)).await.unwrap();
        assert!(again.is_some(), "a redelivery of run-1 is not locked out by its dead predecessor");
        std::mem::forget(first);
        drop(again);
        tokio::task::yield_now().await;
        assert!(
            locks.acquire_as("b", "run-2", Duration::from_secs(60)).await.unwrap().is_some(),
            "dropping released it"
        );
    }
}
