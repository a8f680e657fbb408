//! The hero-draft state machine in the database. Every action loads the
//! draft inside a write transaction, checks state, actor and turn, applies
//! its change, writes exactly one event, and bumps `version` with a
//! compare-and-set — so of two racing actions exactly one wins (the other
//! gets `Conflict`), on SQLite and PostgreSQL alike. Time is passed in
//! (`now`) so tests control the clock.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use entity::{
    HeroActionType, HeroDraftState, HeroRoundState, game, hero_draft, hero_draft_event, hero_draft_round,
    hero_draft_team, team, user,
};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, QueryOrder, Set,
};
use serde_json::{Value, json};

use crate::herodraft::rules::{self, Clock, SEQUENCE, Side};

#[derive(Debug, thiserror::Error)]
pub enum HeroDraftError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Forbidden(String),
    #[error("{1}")]
    Conflict(&'static str, String),
    #[error("{1}")]
    Invalid(&'static str, String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

use HeroDraftError::{Conflict, Forbidden, Invalid, NotFound};

pub type Result<T> = std::result::Result<T, HeroDraftError>;

/// A draft with its two sides and its rounds.
#[derive(Debug, Clone)]
pub struct HeroDraftFull {
    pub draft: hero_draft::Model,
    /// (draft team, tournament team) — by id.
    pub teams: Vec<(hero_draft_team::Model, team::Model)>,
    /// By round number.
    pub rounds: Vec<hero_draft_round::Model>,
}

impl HeroDraftFull {
    pub fn captain_of(&self, draft_team_id: i64) -> Option<i64> {
        self.teams.iter().find(|(d, _)| d.id == draft_team_id).and_then(|(_, t)| t.captain_id)
    }

    /// The draft team `user_id` captains, if any.
    pub fn team_of(&self, user_id: i64) -> Option<&hero_draft_team::Model> {
        self.teams.iter().find(|(_, t)| t.captain_id == Some(user_id)).map(|(d, _)| d)
    }

    pub fn active_round(&self) -> Option<&hero_draft_round::Model> {
        self.rounds.iter().find(|r| r.state == HeroRoundState::Active)
    }

    pub fn used_heroes(&self) -> BTreeSet<i32> {
        self.rounds.iter().filter_map(|r| r.hero_id).collect()
    }

    /// Drafting, or resuming whose countdown is over at `now`.
    fn running_at(&self, now: DateTime<Utc>) -> bool {
        self.draft.state == HeroDraftState::Drafting
            || (self.draft.state == HeroDraftState::Resuming && self.draft.resuming_until.is_some_and(|u| u <= now))
    }
}

pub async fn load<C: ConnectionTrait>(db: &C, id: i64) -> Result<HeroDraftFull> {
    let draft = hero_draft::Entity::find_by_id(id).one(db).await?.ok_or(NotFound("hero draft"))?;
    let sides = hero_draft_team::Entity::find()
        .filter(hero_draft_team::Column::HeroDraftId.eq(id))
        .order_by_asc(hero_draft_team::Column::Id)
        .all(db)
        .await?;
    let mut teams = Vec::new();
    for side in sides {
        let t = team::Entity::find_by_id(side.team_id).one(db).await?.ok_or(NotFound("team"))?;
        teams.push((side, t));
    }
    let rounds = hero_draft_round::Entity::find()
        .filter(hero_draft_round::Column::HeroDraftId.eq(id))
        .order_by_asc(hero_draft_round::Column::RoundNumber)
        .all(db)
        .await?;
    Ok(HeroDraftFull { draft, teams, rounds })
}

async fn event(
    txn: &DatabaseTransaction,
    draft_id: i64,
    kind: &str,
    team: Option<i64>,
    metadata: Value,
    now: DateTime<Utc>,
) -> Result<()> {
    hero_draft_event::ActiveModel {
        hero_draft_id: Set(draft_id),
        event_type: Set(kind.to_owned()),
        hero_draft_team_id: Set(team),
        metadata: Set(metadata),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    Ok(())
}

/// Bumps the version if nobody else did; `Conflict` otherwise.
async fn commit_version(txn: DatabaseTransaction, full: &HeroDraftFull, state: HeroDraftState) -> Result<()> {
    let bumped = hero_draft::Entity::update_many()
        .col_expr(hero_draft::Column::Version, Expr::value(full.draft.version + 1))
        .col_expr(hero_draft::Column::State, Expr::value(state.as_str()))
        .col_expr(hero_draft::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(hero_draft::Column::Id.eq(full.draft.id))
        .filter(hero_draft::Column::Version.eq(full.draft.version))
        .exec(&txn)
        .await?;
    if bumped.rows_affected != 1 {
        return Err(Conflict("conflict", "the draft changed meanwhile; reload and try again".into()));
    }
    txn.commit().await?;
    Ok(())
}

fn require_state(full: &HeroDraftFull, allowed: &[HeroDraftState]) -> Result<()> {
    if allowed.contains(&full.draft.state) {
        Ok(())
    } else {
        Err(Conflict("wrong_state", format!("not allowed while the draft is {}", full.draft.state.as_str())))
    }
}

fn captain_team<'a>(full: &'a HeroDraftFull, actor: &user::Model) -> Result<&'a hero_draft_team::Model> {
    full.team_of(actor.id).ok_or_else(|| Forbidden("only the two captains act in a hero draft".into()))
}

/// Creates the draft of a game whose radiant and dire teams have captains.
pub async fn create(db: &DatabaseConnection, game_id: i64, clock: Clock) -> Result<i64> {
    let txn = crate::infra::write_txn(db).await?;
    let g = game::Entity::find_by_id(game_id).one(&txn).await?.ok_or(NotFound("game"))?;
    if hero_draft::Entity::find().filter(hero_draft::Column::GameId.eq(game_id)).one(&txn).await?.is_some() {
        return Err(Conflict("already_exists", "this game has a hero draft".into()));
    }
    let (Some(radiant), Some(dire)) = (g.radiant_team_id, g.dire_team_id) else {
        return Err(Invalid("teams_missing", "the game needs radiant and dire teams".into()));
    };
    for id in [radiant, dire] {
        let t = team::Entity::find_by_id(id).one(&txn).await?.ok_or(NotFound("team"))?;
        if t.captain_id.is_none() {
            return Err(Invalid("team_without_captain", format!("team {} has no captain", t.name)));
        }
    }
    let now = Utc::now();
    let draft = hero_draft::ActiveModel {
        game_id: Set(game_id),
        state: Set(HeroDraftState::WaitingForCaptains),
        roll_winner_team_id: Set(None),
        paused_at: Set(None),
        resuming_until: Set(None),
        is_manual_pause: Set(false),
        version: Set(0),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    for team_id in [radiant, dire] {
        hero_draft_team::ActiveModel {
            hero_draft_id: Set(draft.id),
            team_id: Set(team_id),
            is_first_pick: Set(None),
            is_radiant: Set(None),
            reserve_time_remaining_ms: Set(clock.reserve_ms),
            is_ready: Set(false),
            is_connected: Set(false),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
    }
    event(&txn, draft.id, "draft_created", None, json!({"game_id": game_id}), now).await?;
    txn.commit().await?;
    Ok(draft.id)
}

/// A captain is ready; both ready → rolling.
pub async fn ready(db: &DatabaseConnection, id: i64, actor: &user::Model, now: DateTime<Utc>) -> Result<()> {
    let txn = crate::infra::write_txn(db).await?;
    let full = load(&txn, id).await?;
    require_state(&full, &[HeroDraftState::WaitingForCaptains])?;
    let mine = captain_team(&full, actor)?.clone();
    hero_draft_team::Entity::update_many()
        .col_expr(hero_draft_team::Column::IsReady, Expr::value(true))
        .filter(hero_draft_team::Column::Id.eq(mine.id))
        .exec(&txn)
        .await?;
    let all_ready = full.teams.iter().all(|(d, _)| d.is_ready || d.id == mine.id);
    event(&txn, id, "captain_ready", Some(mine.id), json!({}), now).await?;
    commit_version(txn, &full, if all_ready { HeroDraftState::Rolling } else { HeroDraftState::WaitingForCaptains })
        .await
}

/// A captain flips the coin: the winner chooses first.
pub async fn roll(db: &DatabaseConnection, id: i64, actor: &user::Model, coin: bool, now: DateTime<Utc>) -> Result<()> {
    let txn = crate::infra::write_txn(db).await?;
    let full = load(&txn, id).await?;
    require_state(&full, &[HeroDraftState::Rolling])?;
    let mine = captain_team(&full, actor)?;
    let winner = &full.teams[usize::from(coin)].1;
    hero_draft::Entity::update_many()
        .col_expr(hero_draft::Column::RollWinnerTeamId, Expr::value(winner.id))
        .filter(hero_draft::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    event(&txn, id, "roll_result", Some(mine.id), json!({"winner_team_id": winner.id}), now).await?;
    commit_version(txn, &full, HeroDraftState::Choosing).await
}

/// What a captain chooses after the roll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    PickOrder { first: bool },
    Side { radiant: bool },
}

/// The roll winner chooses pick order or side; the loser then gets the
/// other choice; with both made the 24 rounds start. Returns the round to
/// time out, if the draft started.
pub async fn choose(
    db: &DatabaseConnection,
    id: i64,
    actor: &user::Model,
    choice: Choice,
    clock: Clock,
    now: DateTime<Utc>,
) -> Result<Option<i32>> {
    let txn = crate::infra::write_txn(db).await?;
    let full = load(&txn, id).await?;
    require_state(&full, &[HeroDraftState::Choosing])?;
    let mine = captain_team(&full, actor)?.clone();
    let winner = full.teams.iter().find(|(_, t)| Some(t.id) == full.draft.roll_winner_team_id).map(|(d, _)| d.id);
    let order_made = full.teams.iter().any(|(d, _)| d.is_first_pick.is_some());
    let side_made = full.teams.iter().any(|(d, _)| d.is_radiant.is_some());
    let first_choice = !order_made && !side_made;
    if first_choice && Some(mine.id) != winner {
        return Err(Conflict("not_your_turn", "the roll winner chooses first".into()));
    }
    if !first_choice && Some(mine.id) == winner {
        return Err(Conflict("not_your_turn", "the other captain makes the second choice".into()));
    }
    let (column, mine_value) = match choice {
        Choice::PickOrder { .. } if order_made => {
            return Err(Invalid("already_chosen", "pick order is already chosen".into()));
        }
        Choice::Side { .. } if side_made => return Err(Invalid("already_chosen", "the side is already chosen".into())),
        Choice::PickOrder { first } => (hero_draft_team::Column::IsFirstPick, first),
        Choice::Side { radiant } => (hero_draft_team::Column::IsRadiant, radiant),
    };
    for (d, _) in &full.teams {
        hero_draft_team::Entity::update_many()
            .col_expr(column, Expr::value(if d.id == mine.id { mine_value } else { !mine_value }))
            .filter(hero_draft_team::Column::Id.eq(d.id))
            .exec(&txn)
            .await?;
    }
    event(&txn, id, "choice_made", Some(mine.id), json!({"choice": format!("{choice:?}")}), now).await?;
    if first_choice {
        commit_version(txn, &full, HeroDraftState::Choosing).await?;
        return Ok(None);
    }
    // Both choices made: build the rounds.
    let order_first = match choice {
        Choice::PickOrder { first } => {
            if first {
                mine.id
            } else {
                other(&full, mine.id)
            }
        }
        Choice::Side { .. } => {
            full.teams.iter().find(|(d, _)| d.is_first_pick == Some(true)).map(|(d, _)| d.id).unwrap_or(mine.id)
        }
    };
    let second = other(&full, order_first);
    let rounds: Vec<hero_draft_round::ActiveModel> = SEQUENCE
        .iter()
        .enumerate()
        .map(|(i, (side, action))| hero_draft_round::ActiveModel {
            hero_draft_id: Set(id),
            hero_draft_team_id: Set(if *side == Side::First { order_first } else { second }),
            round_number: Set(i as i32 + 1),
            action_type: Set(*action),
            hero_id: Set(None),
            state: Set(if i == 0 { HeroRoundState::Active } else { HeroRoundState::Planned }),
            grace_time_ms: Set(clock.grace_ms),
            started_at: Set((i == 0).then_some(now)),
            completed_at: Set(None),
            ..Default::default()
        })
        .collect();
    hero_draft_round::Entity::insert_many(rounds).exec(&txn).await?;
    commit_version(txn, &full, HeroDraftState::Drafting).await?;
    Ok(Some(1))
}

fn other(full: &HeroDraftFull, draft_team_id: i64) -> i64 {
    full.teams.iter().map(|(d, _)| d.id).find(|id| *id != draft_team_id).expect("two teams")
}

/// Who completes a round, and with what.
enum Actor<'a> {
    Captain(&'a user::Model, i32),
    Timeout { expected_round: i32, expected_version: i64, random_index: usize },
}

/// The active team bans or picks; returns the next round to time out.
pub async fn act(
    db: &DatabaseConnection,
    id: i64,
    actor: &user::Model,
    hero_id: i32,
    pool: &BTreeSet<i32>,
    now: DateTime<Utc>,
) -> Result<Option<i32>> {
    complete_round(db, id, Actor::Captain(actor, hero_id), pool, now).await
}

/// The timeout of round `round`: acts randomly for the team if the draft is
/// still at that round and version and its time is up; otherwise nothing.
pub async fn time_out(
    db: &DatabaseConnection,
    id: i64,
    round: i32,
    version: i64,
    random_index: usize,
    pool: &BTreeSet<i32>,
    now: DateTime<Utc>,
) -> Result<Option<i32>> {
    complete_round(db, id, Actor::Timeout { expected_round: round, expected_version: version, random_index }, pool, now)
        .await
}

async fn complete_round(
    db: &DatabaseConnection,
    id: i64,
    who: Actor<'_>,
    pool: &BTreeSet<i32>,
    now: DateTime<Utc>,
) -> Result<Option<i32>> {
    let txn = crate::infra::write_txn(db).await?;
    let full = load(&txn, id).await?;
    if !full.running_at(now) {
        return match who {
            Actor::Timeout { .. } => Ok(None),
            Actor::Captain(..) => {
                Err(Conflict("wrong_state", format!("not allowed while the draft is {}", full.draft.state.as_str())))
            }
        };
    }
    let round = full.active_round().cloned().ok_or(Conflict("wrong_state", "no active round".to_owned()))?;
    let side =
        full.teams.iter().find(|(d, _)| d.id == round.hero_draft_team_id).map(|(d, _)| d.clone()).expect("round team");
    let elapsed = (now - round.started_at.unwrap_or(now)).num_milliseconds().max(0);
    let used = full.used_heroes();
    let (hero, reserve, kind) = match who {
        Actor::Captain(actor, hero) => {
            if full.captain_of(side.id) != Some(actor.id) {
                return Err(if full.team_of(actor.id).is_some() {
                    Conflict("not_your_turn", format!("round {} belongs to the other captain", round.round_number))
                } else {
                    Forbidden("only the two captains act in a hero draft".into())
                });
            }
            if !pool.contains(&hero) || used.contains(&hero) {
                return Err(Invalid("hero_unavailable", format!("hero {hero} is not available")));
            }
            (hero, rules::reserve_after(side.reserve_time_remaining_ms, round.grace_time_ms, elapsed), "hero_selected")
        }
        Actor::Timeout { expected_round, expected_version, random_index } => {
            if round.round_number != expected_round
                || full.draft.version != expected_version
                || !rules::timed_out(side.reserve_time_remaining_ms, round.grace_time_ms, elapsed)
            {
                return Ok(None);
            }
            let hero = rules::random_legal(pool, &used, |n| random_index % n)
                .ok_or(Conflict("no_heroes", "no hero left".to_owned()))?;
            (hero, 0, "round_timeout")
        }
    };
    hero_draft_team::Entity::update_many()
        .col_expr(hero_draft_team::Column::ReserveTimeRemainingMs, Expr::value(reserve))
        .filter(hero_draft_team::Column::Id.eq(side.id))
        .exec(&txn)
        .await?;
    hero_draft_round::Entity::update_many()
        .col_expr(hero_draft_round::Column::HeroId, Expr::value(hero))
        .col_expr(hero_draft_round::Column::State, Expr::value(HeroRoundState::Completed.as_str()))
        .col_expr(hero_draft_round::Column::CompletedAt, Expr::value(now))
        .filter(hero_draft_round::Column::Id.eq(round.id))
        .exec(&txn)
        .await?;
    let next = round.round_number + 1;
    let finished = next > SEQUENCE.len() as i32;
    if !finished {
        hero_draft_round::Entity::update_many()
            .col_expr(hero_draft_round::Column::State, Expr::value(HeroRoundState::Active.as_str()))
            .col_expr(hero_draft_round::Column::StartedAt, Expr::value(now))
            .filter(hero_draft_round::Column::HeroDraftId.eq(id))
            .filter(hero_draft_round::Column::RoundNumber.eq(next))
            .exec(&txn)
            .await?;
    }
    let action = if round.action_type == HeroActionType::Ban { "ban" } else { "pick" };
    event(
        &txn,
        id,
        kind,
        Some(side.id),
        json!({"round": round.round_number, "hero_id": hero, "action": action, "elapsed_ms": elapsed}),
        now,
    )
    .await?;
    commit_version(txn, &full, if finished { HeroDraftState::Completed } else { HeroDraftState::Drafting }).await?;
    Ok((!finished).then_some(next))
}

/// Pauses a running draft (a captain or staff).
pub async fn pause(db: &DatabaseConnection, id: i64, actor: &user::Model, now: DateTime<Utc>) -> Result<()> {
    let full = load(db, id).await?;
    let by = captain_or_staff(&full, actor)?;
    pause_as(db, id, by, true, now).await
}

/// Pauses for a captain who stopped sending heartbeats.
pub async fn pause_for_silence(db: &DatabaseConnection, id: i64, team: i64, now: DateTime<Utc>) -> Result<()> {
    pause_as(db, id, Some(team), false, now).await
}

async fn pause_as(db: &DatabaseConnection, id: i64, by: Option<i64>, manual: bool, now: DateTime<Utc>) -> Result<()> {
    let txn = crate::infra::write_txn(db).await?;
    let full = load(&txn, id).await?;
    if !full.running_at(now) {
        return Err(Conflict("wrong_state", format!("not allowed while the draft is {}", full.draft.state.as_str())));
    }
    hero_draft::Entity::update_many()
        .col_expr(hero_draft::Column::PausedAt, Expr::value(now))
        .col_expr(hero_draft::Column::IsManualPause, Expr::value(manual))
        .filter(hero_draft::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    let reason = if manual { "manual" } else { "heartbeat" };
    event(&txn, id, "draft_paused", by, json!({"manual": manual, "reason": reason}), now).await?;
    commit_version(txn, &full, HeroDraftState::Paused).await
}

/// Resumes after a countdown; the active round's clock shifts by the time
/// paused plus the countdown, so at the end of the countdown the elapsed
/// time equals the elapsed time at pause. Returns the round to time out.
pub async fn resume(
    db: &DatabaseConnection,
    id: i64,
    actor: &user::Model,
    clock: Clock,
    now: DateTime<Utc>,
) -> Result<Option<i32>> {
    let txn = crate::infra::write_txn(db).await?;
    let full = load(&txn, id).await?;
    require_state(&full, &[HeroDraftState::Paused])?;
    let by = captain_or_staff(&full, actor)?;
    let until = now + Duration::milliseconds(clock.resume_countdown_ms);
    let shift = until - full.draft.paused_at.unwrap_or(now);
    let round = full.active_round().cloned();
    if let Some(r) = &round {
        hero_draft_round::Entity::update_many()
            .col_expr(hero_draft_round::Column::StartedAt, Expr::value(r.started_at.unwrap_or(now) + shift))
            .filter(hero_draft_round::Column::Id.eq(r.id))
            .exec(&txn)
            .await?;
    }
    hero_draft::Entity::update_many()
        .col_expr(hero_draft::Column::ResumingUntil, Expr::value(until))
        .col_expr(hero_draft::Column::PausedAt, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(hero_draft::Column::IsManualPause, Expr::value(false))
        .filter(hero_draft::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    event(&txn, id, "draft_resumed", by, json!({"resuming_until": until}), now).await?;
    commit_version(txn, &full, HeroDraftState::Resuming).await?;
    Ok(round.map(|r| r.round_number))
}

fn captain_or_staff(full: &HeroDraftFull, actor: &user::Model) -> Result<Option<i64>> {
    match full.team_of(actor.id) {
        Some(team) => Ok(Some(team.id)),
        None if actor.is_staff || actor.is_superuser => Ok(None),
        None => Err(Forbidden("only the captains or staff".into())),
    }
}

/// Abandons an unfinished draft (a captain or staff).
pub async fn abandon(db: &DatabaseConnection, id: i64, actor: &user::Model, now: DateTime<Utc>) -> Result<()> {
    let txn = crate::infra::write_txn(db).await?;
    let full = load(&txn, id).await?;
    if matches!(full.draft.state, HeroDraftState::Completed | HeroDraftState::Abandoned) {
        return Err(Conflict("wrong_state", "the draft is over".into()));
    }
    let by = captain_or_staff(&full, actor)?;
    event(&txn, id, "draft_abandoned", by, json!({}), now).await?;
    commit_version(txn, &full, HeroDraftState::Abandoned).await
}

/// Starts over (staff): no rounds, no choices, full reserves.
pub async fn reset(db: &DatabaseConnection, id: i64, clock: Clock, now: DateTime<Utc>) -> Result<()> {
    let txn = crate::infra::write_txn(db).await?;
    let full = load(&txn, id).await?;
    hero_draft_round::Entity::delete_many().filter(hero_draft_round::Column::HeroDraftId.eq(id)).exec(&txn).await?;
    hero_draft_team::Entity::update_many()
        .col_expr(hero_draft_team::Column::IsFirstPick, Expr::value(Option::<bool>::None))
        .col_expr(hero_draft_team::Column::IsRadiant, Expr::value(Option::<bool>::None))
        .col_expr(hero_draft_team::Column::IsReady, Expr::value(false))
        .col_expr(hero_draft_team::Column::ReserveTimeRemainingMs, Expr::value(clock.reserve_ms))
        .filter(hero_draft_team::Column::HeroDraftId.eq(id))
        .exec(&txn)
        .await?;
    hero_draft::Entity::update_many()
        .col_expr(hero_draft::Column::RollWinnerTeamId, Expr::value(Option::<i64>::None))
        .col_expr(hero_draft::Column::PausedAt, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(hero_draft::Column::ResumingUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(hero_draft::Column::IsManualPause, Expr::value(false))
        .filter(hero_draft::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    event(&txn, id, "draft_reset", None, json!({}), now).await?;
    commit_version(txn, &full, HeroDraftState::WaitingForCaptains).await
}

/// Ends a finished resume countdown (resuming → drafting); true if it did.
pub async fn settle(db: &DatabaseConnection, id: i64, now: DateTime<Utc>) -> Result<bool> {
    let txn = crate::infra::write_txn(db).await?;
    let full = load(&txn, id).await?;
    if full.draft.state != HeroDraftState::Resuming || !full.running_at(now) {
        return Ok(false);
    }
    commit_version(txn, &full, HeroDraftState::Drafting).await?;
    Ok(true)
}

/// Milliseconds from `now` until round `round` of the draft times out.
pub fn timeout_in(full: &HeroDraftFull, round: i32, now: DateTime<Utc>) -> Option<i64> {
    let r = full.rounds.iter().find(|r| r.round_number == round)?;
    let side = full.teams.iter().find(|(d, _)| d.id == r.hero_draft_team_id)?;
    let elapsed = (now - r.started_at?).num_milliseconds();
    Some(rules::remaining_ms(side.0.reserve_time_remaining_ms, r.grace_time_ms, elapsed))
}
