//! `api`: tournament list and a user read under concurrent connections.

use std::time::Duration;

use chrono::Utc;
use entity::{TournamentState, TournamentType, tournament, tournament_user, user};
use sea_orm::{EntityTrait, Set};

use crate::bench::load::hammer;
use crate::{Backend, Options, TestApp};

const USERS: i64 = 500;
const TOURNAMENTS: i64 = 50;

async fn seed(app: &TestApp) -> anyhow::Result<()> {
    let now = Utc::now();
    let users = (1..=USERS).map(|i| {
        let mut u = api::routes::users::new_user_defaults();
        u.username = Set(format!("player{i}"));
        u.mmr = Set(Some(1000 + (i as i32 * 37) % 5000));
        u.steam_id = Set(Some(76_561_198_000_000_000 + i));
        u.created_at = Set(now);
        u.updated_at = Set(now);
        u
    });
    user::Entity::insert_many(users).exec(app.db()).await?;
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
    for (name, path) in [("GET /api/tournaments", "/api/tournaments"), ("GET /api/users/{id}", "/api/users/250")] {
        // Warm-up: connections and caches.
        hammer(name, format!("{}{path}", app.base), connections, Duration::from_millis(500)).await;
        hammer(name, format!("{}{path}", app.base), connections, duration).await.print();
    }
    Ok(())
}
