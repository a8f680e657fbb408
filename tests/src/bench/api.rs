//! `api`: the leaderboard, the tournament list, a tournament's detail and a user read under
//! concurrent connections.

use std::time::Duration;

use chrono::Utc;
use entity::{TournamentState, TournamentType, league, league_player_stats, tournament, tournament_user, user};
use sea_orm::{EntityTrait, Set};

use crate::bench::load::hammer;
use crate::{Backend, Options, TestApp};

const USERS: i64 = 500;
const TOURNAMENTS: i64 = 50;
const LEAGUE: i64 = 17929;

async fn seed(app: &TestApp) -> anyhow::Result<()> {
    let now = Utc::now();
    let users = (1..=USERS).map(|i| {
        let mut u = worker::domain::users::new_user_defaults();
        u.username = Set(format!("player{i}"));
        u.mmr = Set(Some(1000 + (i as i32 * 37) % 5000));
        u.steam_id = Set(Some(76_561_198_000_000_000 + i));
        u.created_at = Set(now);
        u.updated_at = Set(now);
        u
    });
    user::Entity::insert_many(users).exec(app.db()).await?;
    let league = league::Entity::insert(league::ActiveModel {
        steam_league_id: Set(LEAGUE),
        name: Set("DTX".into()),
        description: Set(String::new()),
        timezone: Set("UTC".into()),
        sync_enabled: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    })
    .exec(app.db())
    .await?
    .last_insert_id;
    // Every user has played: a leaderboard of 500 lines.
    let lines = (1..=USERS).map(|i| {
        let games = 5 + (i % 40) as i32;
        let wins = (i as i32 * 13) % (games + 1);
        league_player_stats::ActiveModel {
            user_id: Set(i),
            league_id: Set(league),
            games_played: Set(games),
            wins: Set(wins),
            losses: Set(games - wins),
            total_kills: Set(i64::from(games) * 7),
            total_deaths: Set(i64::from(games) * 5),
            total_assists: Set(i64::from(games) * 11),
            total_gpm: Set(i64::from(games) * 450),
            total_xpm: Set(i64::from(games) * 520),
            win_rate: Set(f64::from(wins) / f64::from(games)),
            avg_kills: Set(7.0),
            avg_deaths: Set(5.0),
            avg_assists: Set(11.0),
            avg_gpm: Set(450.0),
            avg_xpm: Set(520.0),
            avg_kda: Set(3.6),
            mmr_adjustment: Set((i as i32 * 29) % 400 - 200),
            updated_at: Set(now),
            ..Default::default()
        }
    });
    league_player_stats::Entity::insert_many(lines).exec(app.db()).await?;
    for t in 1..=TOURNAMENTS {
        let created = tournament::Entity::insert(tournament::ActiveModel {
            name: Set(format!("Cup {t}")),
            date_played: Set(now - chrono::Duration::days(t)),
            timezone: Set("UTC".into()),
            state: Set(TournamentState::Past),
            tournament_type: Set(TournamentType::DoubleElimination),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        })
        .exec(app.db())
        .await?;
        let pool = (0..20).map(|k| tournament_user::ActiveModel {
            tournament_id: Set(created.last_insert_id),
            user_id: Set(1 + (t * 7 + k) % USERS),
        });
        tournament_user::Entity::insert_many(pool).exec(app.db()).await?;
    }
    Ok(())
}

pub async fn run(backend: Backend, duration: Duration, connections: usize, no_cache: bool) -> anyhow::Result<()> {
    let args = if no_cache { vec!["--disable-cache".to_owned(), "true".to_owned()] } else { vec![] };
    let app = TestApp::spawn_with(backend, Options { args, ..Default::default() }).await;
    seed(&app).await?;
    println!(
        "bench api: {backend:?}, cache {}, {connections} connections, {}s per endpoint, {USERS} users, {TOURNAMENTS} tournaments",
        if no_cache { "off" } else { "on" },
        duration.as_secs()
    );
    let endpoints = [
        ("GET /api/leagues/{id}/leaderboard", format!("/api/leagues/{}/leaderboard", app.league_id(LEAGUE).await)),
        ("GET /api/tournaments", "/api/tournaments".to_owned()),
        ("GET /api/tournaments/{id}", format!("/api/tournaments/{}", TOURNAMENTS / 2)),
        ("GET /api/users/{id}", "/api/users/250".to_owned()),
    ];
    for (name, path) in endpoints {
        // Warm-up: connections and caches.
        hammer(name, format!("{}{path}", app.base), connections, Duration::from_millis(500)).await;
        hammer(name, format!("{}{path}", app.base), connections, duration).await.print();
    }
    Ok(())
}
