//! `tick`: N WebSocket spectators on one drafting hero draft — tick
//! interval jitter (|gap − 1 s|) and broadcast fan-out (spread between the
//! first and each socket's arrival of the same tick), p50/p99.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use hdrhistogram::Histogram;

use crate::{Backend, TestApp, fixtures};

pub async fn run(spectators: usize, seconds: u64) -> anyhow::Result<()> {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let staff = app.staff("admin").await;
    let (id, _) = fixtures::hero_draft(&app, &staff).await;
    fixtures::start_hero_draft(&app, id).await;
    let url = format!("ws://{}/api/herodraft/{id}/", app.addr);
    let mut sockets = Vec::with_capacity(spectators);
    for _ in 0..spectators {
        sockets.push(tokio_tungstenite::connect_async(&url).await?.0);
    }
    println!("bench tick: {spectators} spectators connected; measuring {seconds} s");
    let start = Instant::now() + Duration::from_millis(1500);
    let end = start + Duration::from_secs(seconds);
    let mut readers = Vec::new();
    for mut socket in sockets {
        readers.push(tokio::spawn(async move {
            let mut arrivals = Vec::new();
            while let Ok(Some(Ok(msg))) =
                tokio::time::timeout(end.saturating_duration_since(Instant::now()), socket.next()).await
            {
                if let tokio_tungstenite::tungstenite::Message::Text(text) = msg
                    && text.contains("herodraft_tick")
                    && Instant::now() >= start
                {
                    // Ticks are identified by their grace countdown (one value per second).
                    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                    arrivals.push((v["grace_time_remaining_ms"].as_i64().unwrap_or(0) / 500, Instant::now()));
                }
            }
            arrivals
        }));
    }
    let mut per_socket = Vec::new();
    for r in readers {
        per_socket.push(r.await?);
    }
    let mut jitter = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut fanout = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut first: std::collections::HashMap<i64, Instant> = std::collections::HashMap::new();
    for arrivals in &per_socket {
        for (key, at) in arrivals {
            first.entry(*key).and_modify(|f| *f = (*f).min(*at)).or_insert(*at);
        }
        for pair in arrivals.windows(2) {
            let gap = pair[1].1.duration_since(pair[0].1).as_micros() as i64;
            jitter.record((gap - 1_000_000).unsigned_abs().max(1)).ok();
        }
    }
    for arrivals in &per_socket {
        for (key, at) in arrivals {
            fanout.record((at.duration_since(first[key]).as_micros() as u64).max(1)).ok();
        }
    }
    let ticks: usize = per_socket.iter().map(Vec::len).sum();
    println!(
        "bench tick: {ticks} tick deliveries; interval jitter p50 {:.2} ms p99 {:.2} ms; fan-out spread p50 {:.2} ms p99 {:.2} ms",
        jitter.value_at_quantile(0.5) as f64 / 1000.0,
        jitter.value_at_quantile(0.99) as f64 / 1000.0,
        fanout.value_at_quantile(0.5) as f64 / 1000.0,
        fanout.value_at_quantile(0.99) as f64 / 1000.0
    );
    Ok(())
}
