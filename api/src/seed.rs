//! `api seed-demo`: a small demo league so a newcomer sees data at once.
//! Players carry the Steam accounts of the bundled fixture, so a later sync
//! of league 17929 links their matches. Running it twice changes nothing.

use chrono::{Duration, Utc};
use entity::steam_id::STEAM_ID64_OFFSET;
use entity::{
    BracketType, GameStatus, TournamentState, TournamentType, game, league, team, team_member, tournament,
    tournament_user, user,
};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};

use worker::domain::users::new_user_defaults;

/// Steam account ids of the fixture's players.
const ACCOUNTS: [i64; 20] = [
    17458752, 22335033, 26722833, 34959282, 35244088, 67508271, 84657820, 104151469, 104427945, 120857281, 171468462,
    193995407, 213031230, 237494518, 343820615, 875238678, 916240826, 1161842715, 1207040149, 1274658597,
];

const TOURNAMENT: &str = "DTX Demo Cup";

/// What was loaded.
pub struct Seeded {
    pub users: usize,
    pub tournament_id: i64,
    pub created: bool,
}

/// Loads the demo league; `progress` is told after each step (of `STEPS`).
pub async fn seed_demo(
    db: &DatabaseConnection,
    steam_league_id: i64,
    progress: impl Fn(&str),
) -> anyhow::Result<Seeded> {
    if let Some(existing) = tournament::Entity::find().filter(tournament::Column::Name.eq(TOURNAMENT)).one(db).await? {
        return Ok(Seeded { users: ACCOUNTS.len(), tournament_id: existing.id, created: false });
    }
    let txn = worker::infra::db::write_txn(db).await?;
    let league =
        match league::Entity::find().filter(league::Column::SteamLeagueId.eq(steam_league_id)).one(&txn).await? {
            Some(l) => l,
            None => {
                league::ActiveModel {
                    steam_league_id: Set(steam_league_id),
                    name: Set("DTX League".into()),
                    description: Set("Demo league loaded by `api seed-demo`.".into()),
                    timezone: Set("UTC".into()),
                    sync_enabled: Set(true),
                    ..Default::default()
                }
                .insert(&txn)
                .await?
            }
        };
    progress("league");
    let mut users = Vec::new();
    for (i, account) in ACCOUNTS.iter().enumerate() {
        let steam_id = account + STEAM_ID64_OFFSET;
        let existing = user::Entity::find().filter(user::Column::SteamId.eq(steam_id)).one(&txn).await?;
        let u = match existing {
            Some(u) => u,
            None => {
                let mut fresh = new_user_defaults();
                fresh.username = Set(format!("demo_player_{:02}", i + 1));
                fresh.steam_id = Set(Some(steam_id));
                fresh.mmr = Set(Some(2000 + (i as i32 * 173) % 4000));
                fresh.pos_carry = Set((i % 6) as i16);
                fresh.pos_mid = Set(((i + 2) % 6) as i16);
                fresh.insert(&txn).await?
            }
        };
        users.push(u);
    }
    progress("players");
    let t = tournament::ActiveModel {
        name: Set(TOURNAMENT.into()),
        date_played: Set(Utc::now() + Duration::days(7)),
        timezone: Set("UTC".into()),
        state: Set(TournamentState::Future),
        tournament_type: Set(TournamentType::DoubleElimination),
        league_id: Set(Some(league.id)),
        winning_team_id: Set(None),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    tournament_user::Entity::insert_many(
        users.iter().map(|u| tournament_user::ActiveModel { tournament_id: Set(t.id), user_id: Set(u.id) }),
    )
    .exec(&txn)
    .await?;
    progress("tournament");
    let mut teams = Vec::new();
    for (i, roster) in users.chunks(5).enumerate() {
        let created = team::ActiveModel {
            tournament_id: Set(t.id),
            name: Set(format!("Team {}", ["Radiant", "Dire", "Roshan", "Aegis"][i])),
            captain_id: Set(Some(roster[0].id)),
            deputy_captain_id: Set(Some(roster[1].id)),
            draft_order: Set(i as i32),
            placement: Set(None),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        team_member::Entity::insert_many(
            roster.iter().map(|u| team_member::ActiveModel { team_id: Set(created.id), user_id: Set(u.id) }),
        )
        .exec(&txn)
        .await?;
        teams.push(created);
    }
    progress("teams");
    for (position, pair) in teams.chunks(2).enumerate() {
        game::ActiveModel {
            tournament_id: Set(Some(t.id)),
            league_id: Set(Some(league.id)),
            round: Set(1),
            position: Set(position as i32),
            bracket_type: Set(BracketType::Winners),
            status: Set(GameStatus::Pending),
            radiant_team_id: Set(Some(pair[0].id)),
            dire_team_id: Set(Some(pair[1].id)),
            winning_team_id: Set(None),
            match_id: Set(None),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
    }
    progress("games");
    txn.commit().await?;
    Ok(Seeded { users: users.len(), tournament_id: t.id, created: true })
}

/// Steps `seed_demo` reports, for a progress bar.
pub const STEPS: u64 = 5;
