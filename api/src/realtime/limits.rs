//! Caps on open sockets (SPEC §20), per instance: anonymous sockets per
//! client address, logged-in sockets per user (an office behind one NAT
//! address is many users), and every socket per hero draft. A socket over a
//! cap is refused with 429 before the upgrade; its permit is released when
//! the socket closes.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use poem::Request;
use poem::http::StatusCode;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

#[derive(Debug, Clone, Copy)]
pub struct Caps {
    pub per_address: usize,
    pub per_user: usize,
    pub per_draft: usize,
}

#[derive(Clone, PartialEq, Eq, Hash)]
enum Key {
    Address(IpAddr),
    User(i64),
    Draft(i64),
}

pub struct SocketLimits {
    caps: Caps,
    open: Arc<Mutex<HashMap<Key, usize>>>,
}

/// An admitted socket; dropping it frees its places.
pub struct Permit {
    keys: Vec<Key>,
    open: Arc<Mutex<HashMap<Key, usize>>>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut open = self.open.lock().expect("socket counts");
        for key in &self.keys {
            if let Some(n) = open.get_mut(key) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    open.remove(key);
                }
            }
        }
    }
}

impl SocketLimits {
    pub fn new(caps: Caps) -> Self {
        Self { caps, open: Arc::default() }
    }

    /// Admits a socket of `user` (or an anonymous one) on `draft`, or 429.
    pub fn admit(&self, req: &Request, state: &AppState, user: Option<i64>, draft: Option<i64>) -> ApiResult<Permit> {
        let mut keys = Vec::with_capacity(2);
        match user {
            Some(id) => keys.push((Key::User(id), self.caps.per_user)),
            None => {
                if let Some(ip) = crate::client_ip::client_ip(req, &state.settings.trusted_proxies) {
                    keys.push((Key::Address(crate::client_ip::cap_key(ip)), self.caps.per_address));
                }
            }
        }
        if let Some(id) = draft {
            keys.push((Key::Draft(id), self.caps.per_draft));
        }
        let mut open = self.open.lock().expect("socket counts");
        if let Some((key, cap)) = keys.iter().find(|(key, cap)| open.get(key).copied().unwrap_or(0) >= *cap) {
            let what = match key {
                Key::Address(_) => "from this address",
                Key::User(_) => "for this user",
                Key::Draft(_) => "on this draft",
            };
            let mut err = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_sockets",
                format!("at most {cap} open sockets {what}"),
            );
            err.retry_after = Some(5);
            return Err(err);
        }
        for (key, _) in &keys {
            *open.entry(key.clone()).or_default() += 1;
        }
        Ok(Permit { keys: keys.into_iter().map(|(k, _)| k).collect(), open: self.open.clone() })
    }
}
