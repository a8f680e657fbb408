//! A closed-loop load generator: N connections, each sending its next
//! request when the previous one answered, for a fixed time.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Latencies of one endpoint.
pub struct Figures {
    pub name: String,
    pub requests: u64,
    pub errors: u64,
    pub elapsed: Duration,
    pub latency_us: Histogram<u64>,
}

impl Figures {
    pub fn print(&self) {
        let rps = self.requests as f64 / self.elapsed.as_secs_f64();
        println!(
            "{:<28} {:>9.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  ({} requests, {} errors)",
            self.name,
            rps,
            self.latency_us.value_at_quantile(0.50) as f64 / 1000.0,
            self.latency_us.value_at_quantile(0.99) as f64 / 1000.0,
            self.requests,
            self.errors,
        );
    }
}

/// Runs `connections` loops against `url` for `duration`.
pub async fn hammer(name: &str, url: String, connections: usize, duration: Duration) -> Figures {
    let client = reqwest::Client::builder().pool_max_idle_per_host(connections).build().expect("client");
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (client, url) = (client.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
            let mut errors = 0;
            while started.elapsed() < duration {
                let t0 = Instant::now();
                match client.get(&url).send().await {
                    Ok(resp) if resp.status().is_success() => {
                        let _ = resp.bytes().await;
                    }
                    _ => errors += 1,
                }
                hist.record(t0.elapsed().as_micros() as u64).ok();
            }
            (hist, errors)
        }));
    }
    let mut latency_us = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
    let mut errors = 0;
    for task in tasks {
        let (hist, e) = task.await.expect("load task");
        latency_us.add(hist).expect("same bounds");
        errors += e;
    }
    Figures { name: name.to_owned(), requests: latency_us.len(), errors, elapsed: started.elapsed(), latency_us }
}
