//! `recompute`: a league of 1 000 players and 20 000 matches — the full
//! `update_league_stats` against one raw GROUP BY over the same rows.

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use entity::{player_match_stats, steam_match, user};
use sea_orm::{EntityTrait, Set};
use serde_json::json;

use crate::{Mode, TestApp};

const LEAGUE: i64 = 17929;

async fn seed(app: &TestApp, players: i64, matches: i64) -> anyhow::Result<()> {
    let now = Utc::now();
    for chunk in (1..=players).collect::<Vec<_>>().chunks(500) {
        user::Entity::insert_many(chunk.iter().map(|i| {
            let mut u = worker::domain::users::new_user_defaults();
            u.username = Set(format!("p{i}"));
            u.mmr = Set(Some(2000 + (*i as i32 * 37) % 4000));
            u.steam_id = Set(Some(76_561_198_000_000_000 + i));
            u.steam_account_id = Set(Some(*i));
            u.created_at = Set(now);
            u.updated_at = Set(now);
            u
        }))
        .exec(app.db())
        .await?;
    }
    let ids: Vec<i64> = (1..=matches).collect();
    for chunk in ids.chunks(1000) {
        steam_match::Entity::insert_many(chunk.iter().map(|m| steam_match::ActiveModel {
            match_id: Set(8_000_000_000 + m),
            match_seq_num: Set(Some(7_000_000_000 + m)),
            league_id: Set(LEAGUE),
            radiant_win: Set(m % 2 == 0),
            duration: Set(2400),
            start_time: Set(Utc.timestamp_opt(1_754_000_000 + m * 60, 0).unwrap()),
            game_mode: Set(2),
            lobby_type: Set(1),
            fetched_at: Set(now),
            ..Default::default()
        }))
        .exec(app.db())
        .await?;
        let lines: Vec<player_match_stats::ActiveModel> = chunk
            .iter()
            .flat_map(|m| {
                (0..10).map(move |slot| {
                    let player = 1 + (m * 7 + slot * 101) % players;
                    let s = (m * 13 + slot * 7) as i32;
                    player_match_stats::ActiveModel {
                        match_id: Set(8_000_000_000 + m),
                        steam_id: Set(Some(76_561_198_000_000_000 + player)),
                        user_id: Set(Some(player)),
                        player_slot: Set(if slot < 5 { slot as i32 } else { 128 + slot as i32 - 5 }),
                        hero_id: Set(1 + s % 120),
                        kills: Set(s % 15),
                        deaths: Set(1 + s % 9),
                        assists: Set(s % 21),
                        gold_per_min: Set(250 + s % 450),
                        xp_per_min: Set(300 + s % 500),
                        last_hits: Set(100),
                        denies: Set(5),
                        hero_damage: Set(20000),
                        tower_damage: Set(2000),
                        hero_healing: Set(300),
                        ..Default::default()
                    }
                })
            })
            .collect();
        for part in lines.chunks(1000) {
            player_match_stats::Entity::insert_many(part.to_vec()).exec(app.db()).await?;
        }
    }
    Ok(())
}

async fn time<F: std::future::Future<Output = anyhow::Result<()>>>(
    f: impl Fn() -> F,
    runs: u32,
) -> anyhow::Result<Duration> {
    let mut best = Duration::MAX;
    for _ in 0..runs {
        let t = Instant::now();
        f().await?;
        best = best.min(t.elapsed());
    }
    Ok(best)
}

pub async fn run(mode: Mode, players: i64, matches: i64) -> anyhow::Result<()> {
    let app = TestApp::spawn_with(mode.backend(), mode.options(vec![], false)).await;
    app.staff("admin").await.post("/api/leagues", json!({"steam_league_id": LEAGUE, "name": "DTX"})).await;
    let seeding = Instant::now();
    seed(&app, players, matches).await?;
    println!(
        "bench recompute ({mode:?}): seeded {players} players, {matches} matches, {} lines in {:.1} s",
        matches * 10,
        seeding.elapsed().as_secs_f64()
    );
    let ctx = app.state.jobs.clone();
    // Warm the buffers so the first run is compared on equal terms.
    worker::domain::stats::league_totals(app.db(), LEAGUE).await?;
    let cold = Instant::now();
    worker::domain::stats::update_league_stats(&ctx, LEAGUE).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let cold = cold.elapsed();
    let full = time(
        || async {
            worker::domain::stats::update_league_stats(&ctx, LEAGUE)
                .await
                .map(|_| ())
                .map_err(|e| anyhow::anyhow!("{e}"))
        },
        3,
    )
    .await?;
    let db = app.db().clone();
    let raw = time(
        || async {
            worker::domain::stats::league_totals(&db, LEAGUE).await.map(|_| ()).map_err(|e| anyhow::anyhow!("{e}"))
        },
        3,
    )
    .await?;
    println!(
        "bench recompute ({mode:?}): first run (writes every row) {:.1} ms = {:.2}x; rerun {:.1} ms = {:.2}x; raw GROUP BY {:.1} ms (best of 3)",
        cold.as_secs_f64() * 1000.0,
        cold.as_secs_f64() / raw.as_secs_f64(),
        full.as_secs_f64() * 1000.0,
        full.as_secs_f64() / raw.as_secs_f64(),
        raw.as_secs_f64() * 1000.0,
    );
    Ok(())
}
