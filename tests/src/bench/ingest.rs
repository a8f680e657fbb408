//! `ingest`: matches synced from a local mock Steam, rate limiter off.

use std::time::Instant;

use serde_json::json;

use crate::steam_mock::{MockMatch, SteamMock};
use crate::{Mode, TestApp};

/// `runs` syncs, each into a fresh database; each is printed, then the median.
pub async fn run(mode: Mode, matches: i64, runs: usize) -> anyhow::Result<()> {
    let mut rates = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        rates.push(once(mode, matches).await?);
    }
    rates.sort_by(f64::total_cmp);
    if rates.len() > 1 {
        let all: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
        println!(
            "bench ingest ({mode:?}): median of {} runs {:.0} matches/s (runs, sorted: {})",
            rates.len(),
            rates[(rates.len() - 1) / 2],
            all.join(", ")
        );
    }
    Ok(())
}

async fn once(mode: Mode, matches: i64) -> anyhow::Result<f64> {
    let steam = SteamMock::start((0..matches).map(MockMatch::nth).collect()).await;
    let app = TestApp::spawn_with(mode.backend(), mode.options(steam.args(), false)).await;
    app.staff("admin").await.post("/api/leagues", json!({"steam_league_id": 17929, "name": "DTX"})).await;
    // The app's start-up work (the flusher's lease, the scheduler's first
    // ticks and the jobs they enqueue) is over before the clock starts.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let started = Instant::now();
    let result = worker::domain::sync::league_sync::sync_league(&app.state.jobs, 17929, true)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let elapsed = started.elapsed();
    anyhow::ensure!(result["ingested"] == matches, "ingested {result}");
    println!(
        "bench ingest ({mode:?}): {matches} matches (10 players each) in {:.2} s = {:.0} matches/s (history pages + one details call per match; ready matches stored in multi-row transactions)",
        elapsed.as_secs_f64(),
        matches as f64 / elapsed.as_secs_f64()
    );
    Ok(matches as f64 / elapsed.as_secs_f64())
}
