//! Realtime fan-out (SPEC §11–12): a message published on a channel reaches
//! every subscriber in every process — through Redis pub/sub in distributed
//! mode, in-process broadcast channels in embedded mode.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use tokio::sync::broadcast;

/// Messages a slow socket may lag behind before it skips ahead.
const BACKLOG: usize = 256;

#[derive(Clone)]
pub struct Bus {
    local: Arc<Mutex<HashMap<String, broadcast::Sender<Arc<str>>>>>,
    redis: Option<(redis::aio::ConnectionManager, String)>,
}

impl Bus {
    pub fn local() -> Self {
        Self { local: Arc::default(), redis: None }
    }

    /// A bus over Redis: publishes with PUBLISH; one pattern subscription per
    /// process feeds the local channels. The first subscription must succeed
    /// (a clear start-up error); a lost one is renewed with backoff, and
    /// messages published meanwhile are lost, so every local channel then
    /// gets a [`Signal::Resync`](crate::domain::live::Signal) and its sockets
    /// catch up from the database.
    pub async fn redis(url: &str, conn: redis::aio::ConnectionManager, prefix: &str) -> redis::RedisResult<Self> {
        let bus = Self { local: Arc::default(), redis: Some((conn, format!("{prefix}:rt:"))) };
        let client = redis::Client::open(url)?;
        let pattern = format!("{prefix}:rt:*");
        let first = subscribe(&client, &pattern).await?;
        let relay = Relay { client, pattern, strip: format!("{prefix}:rt:"), local: bus.local.clone() };
        tokio::spawn(relay.run(first));
        Ok(bus)
    }

    /// Sends `payload` to every subscriber of `channel`, everywhere.
    pub async fn publish(&self, channel: &str, payload: String) {
        match &self.redis {
            Some((conn, prefix)) => {
                let sent: redis::RedisResult<i64> = redis::cmd("PUBLISH")
                    .arg(format!("{prefix}{channel}"))
                    .arg(payload)
                    .query_async(&mut conn.clone())
                    .await;
                if let Err(err) = sent {
                    tracing::warn!(error = %err, channel, "realtime publish failed");
                }
            }
            None => deliver(&self.local, channel, payload.into()),
        }
    }

    /// Receives what is published on `channel` from now on.
    pub fn subscribe(&self, channel: &str) -> broadcast::Receiver<Arc<str>> {
        let mut local = self.local.lock().expect("bus");
        local.entry(channel.to_owned()).or_insert_with(|| broadcast::channel(BACKLOG).0).subscribe()
    }
}

fn deliver(local: &Mutex<HashMap<String, broadcast::Sender<Arc<str>>>>, channel: &str, payload: Arc<str>) {
    let mut local = local.lock().expect("bus");
    // A failed send means nobody listens any more.
    if let Some(sender) = local.get(channel)
        && sender.send(payload).is_err()
    {
        local.remove(channel);
    }
}

/// Tells every local subscriber that messages may have been lost.
fn resync_all(local: &Mutex<HashMap<String, broadcast::Sender<Arc<str>>>>) {
    let resync: Arc<str> = crate::domain::live::Signal::Resync.encode().into();
    let mut local = local.lock().expect("bus");
    local.retain(|_, sender| sender.send(resync.clone()).is_ok());
}

async fn subscribe(client: &redis::Client, pattern: &str) -> redis::RedisResult<redis::aio::PubSub> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.psubscribe(pattern).await?;
    Ok(pubsub)
}

/// Feeds Redis messages to this process' local channels, resubscribing
/// after Redis restarts.
struct Relay {
    client: redis::Client,
    pattern: String,
    strip: String,
    local: Arc<Mutex<HashMap<String, broadcast::Sender<Arc<str>>>>>,
}

impl Relay {
    async fn run(self, first: redis::aio::PubSub) {
        const MAX_DELAY: std::time::Duration = std::time::Duration::from_secs(5);
        let mut pubsub = Some(first);
        let mut delay = std::time::Duration::from_millis(200);
        loop {
            if let Some(subscribed) = pubsub.take() {
                delay = std::time::Duration::from_millis(200);
                let mut messages = subscribed.into_on_message();
                while let Some(msg) = messages.next().await {
                    let channel = msg.get_channel_name().trim_start_matches(&self.strip).to_owned();
                    let Ok(payload) = msg.get_payload::<String>() else { continue };
                    deliver(&self.local, &channel, payload.into());
                }
                tracing::warn!("realtime subscription lost; resubscribing");
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(MAX_DELAY);
            match subscribe(&self.client, &self.pattern).await {
                Ok(renewed) => {
                    tracing::info!("realtime subscription renewed");
                    pubsub = Some(renewed);
                    resync_all(&self.local);
                }
                Err(err) => tracing::warn!(error = %err, "realtime subscription failed; retrying"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_subscribers_get_messages_of_their_channel_only() {
        let bus = Bus::local();
        let mut a = bus.subscribe("draft:1");
        let mut b = bus.subscribe("draft:2");
        bus.publish("draft:1", "hello".into()).await;
        assert_eq!(&*a.recv().await.unwrap(), "hello");
        assert!(b.try_recv().is_err());
    }
}
