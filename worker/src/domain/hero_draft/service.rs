//! The hero-draft state machine in the database. Every action loads the
//! draft inside a write transaction, checks state, actor and turn, applies
//! its change, writes exactly one event, and bumps `version` with a
//! compare-and-set — so of two racing actions exactly one wins (the other
//! gets a conflict), on SQLite and PostgreSQL alike. After the commit the
//! action announces its event to the draft's sockets and, when a round
//! started, arms that round's timeout. Time is passed in (`now`) so tests
//! control the clock.
//!
//! Timeouts check the round and its remaining time, not the version: a
//! timeout armed before a pause, a resume or the end of a resume countdown
//! still fires for its round (and re-arms itself if it came early), so a
//! draft can never be left without a live timer.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use entity::{
    HeroActionType, HeroDraftState, HeroRoundState, game, hero_draft, hero_draft_event, hero_draft_round,
    hero_draft_team, team, user,
};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde_json::{Value, json};

use crate::domain::hero_draft::rules::{self, Clock, SEQUENCE, Side};
use crate::domain::live::{self, EventKind};
use crate::domain::{DomainError, DomainResult, Services};

/// A draft with its two sides and its rounds.
#[derive(Debug, Clone)]
pub struct HeroDraftFull {
    pub draft: hero_draft::Model,
    /// (draft team, tournament team) — by id.
    pub teams: Vec<(hero_draft_team::Model, team::Model)>,
    /// By round number.
    pub rounds: Vec<hero_draft_round::Model>,
    /// The newest event id (0 before any), for clients that catch up with `?after=`.
    pub last_event_id: i64,
    /// Captains with a live socket on this draft somewhere in the cluster.
    pub connected: BTreeSet<i64>,
}

impl HeroDraftFull {
    pub fn captain_of(&self, draft_team_id: i64) -> Option<i64> {
        self.teams.iter().find(|(d, _)| d.id == draft_team_id).and_then(|(_, t)| t.captain_id)
    }

    /// The draft team `user_id` captains, if any.
    pub fn team_of(&self, user_id: i64) -> Option<&hero_draft_team::Model> {
        self.teams.iter().find(|(_, t)| t.captain_id == Some(user_id)).map(|(d, _)| d)
    }

    /// The tournament team of a draft team.
    pub fn tournament_team_of(&self, draft_team_id: i64) -> Option<&team::Model> {
        self.teams.iter().find(|(d, _)| d.id == draft_team_id).map(|(_, t)| t)
    }

    pub fn active_round(&self) -> Option<&hero_draft_round::Model> {
        self.rounds.iter().find(|r| r.state == HeroRoundState::Active)
    }

    pub fn used_heroes(&self) -> BTreeSet<i32> {
        self.rounds.iter().filter_map(|r| r.hero_id).collect()
    }

    /// Whether the captain of a draft team has a live socket.
    pub fn is_connected(&self, draft_team_id: i64) -> bool {
        self.captain_of(draft_team_id).is_some_and(|c| self.connected.contains(&c))
    }

    /// Drafting, or resuming whose countdown is over at `now`.
    pub fn running_at(&self, now: DateTime<Utc>) -> bool {
        self.draft.state == HeroDraftState::Drafting
            || (self.draft.state == HeroDraftState::Resuming && self.draft.resuming_until.is_some_and(|u| u <= now))
    }

    /// Milliseconds from `now` until round `round` times out.
    pub fn timeout_in(&self, round: i32, now: DateTime<Utc>) -> Option<i64> {
        let r = self.rounds.iter().find(|r| r.round_number == round)?;
        let side = self.teams.iter().find(|(d, _)| d.id == r.hero_draft_team_id)?;
        let elapsed = (now - r.started_at?).num_milliseconds();
        Some(rules::remaining_ms(side.0.reserve_time_remaining_ms, r.grace_time_ms, elapsed))
    }

    /// The other draft team, or a conflict when a team is gone.
    fn other(&self, draft_team_id: i64) -> DomainResult<i64> {
        self.teams
            .iter()
            .map(|(d, _)| d.id)
            .find(|id| *id != draft_team_id)
            .ok_or_else(|| DomainError::conflict("team_missing", "this hero draft has lost one of its teams"))
    }
}

/// The draft as stored (without presence).
/// Inside a transaction only: its queries must read one state (a write's, or
/// a [`snapshot`]'s).
pub async fn load(db: &DatabaseTransaction, id: i64) -> DomainResult<HeroDraftFull> {
    let draft = hero_draft::Entity::find_by_id(id).one(db).await?.ok_or(DomainError::NotFound("hero draft"))?;
    let sides = hero_draft_team::Entity::find()
        .filter(hero_draft_team::Column::HeroDraftId.eq(id))
        .order_by_asc(hero_draft_team::Column::Id)
        .all(db)
        .await?;
    let tournament_teams =
        team::Entity::find().filter(team::Column::Id.is_in(sides.iter().map(|s| s.team_id))).all(db).await?;
    let teams = sides
        .into_iter()
        .filter_map(|side| tournament_teams.iter().find(|t| t.id == side.team_id).cloned().map(|t| (side, t)))
        .collect();
    let rounds = hero_draft_round::Entity::find()
        .filter(hero_draft_round::Column::HeroDraftId.eq(id))
        .order_by_asc(hero_draft_round::Column::RoundNumber)
        .all(db)
        .await?;
    let last_event_id = hero_draft_event::Entity::find()
        .select_only()
        .column_as(hero_draft_event::Column::Id.max(), "last")
        .filter(hero_draft_event::Column::HeroDraftId.eq(id))
        .into_tuple::<Option<i64>>()
        .one(db)
        .await?
        .flatten()
        .unwrap_or(0);
    Ok(HeroDraftFull { draft, teams, rounds, last_event_id, connected: BTreeSet::new() })
}

/// The draft as one snapshot ([`crate::infra::db::snapshot`]): what every
/// reader outside a write transaction uses.
pub async fn snapshot(db: &sea_orm::DatabaseConnection, id: i64) -> DomainResult<HeroDraftFull> {
    crate::infra::db::snapshot(db, async |txn| load(txn, id).await).await
}

/// The draft with who is connected, as clients see it.
pub async fn load_live(svc: &Services, id: i64, now: DateTime<Utc>) -> DomainResult<HeroDraftFull> {
    let mut full = snapshot(&svc.db, id).await?;
    full.connected = svc.presence.connected(id, now).await.unwrap_or_else(|err| {
        tracing::warn!(error = %err, draft = id, "presence unavailable; showing captains as disconnected");
        BTreeSet::new()
    });
    Ok(full)
}

/// The draft's events with ids above `after`, oldest first, at most `limit`.
pub async fn events_after<C: ConnectionTrait>(
    db: &C,
    id: i64,
    after: i64,
    limit: u64,
) -> DomainResult<Vec<hero_draft_event::Model>> {
    use hero_draft_event::{Column, Entity};
    Ok(live::rows_after::<Entity, C>(db, Column::HeroDraftId, Column::Id, id, after, limit).await?)
}

/// Records an event. Events of a side carry what a page shows without more
/// calls (SPEC §18): `team` `{id, name}` and its `captain` `{id, username,
/// avatarUrl}`, beside the kind's own fields.
async fn event(
    txn: &DatabaseTransaction,
    draft_id: i64,
    kind: &str,
    team: Option<i64>,
    mut metadata: Value,
    now: DateTime<Utc>,
) -> DomainResult<i64> {
    if let (Some(side), Some(fields)) = (team, metadata.as_object_mut()) {
        let side = hero_draft_team::Entity::find_by_id(side).one(txn).await?;
        let tournament_team = match side {
            Some(s) => team::Entity::find_by_id(s.team_id).one(txn).await?,
            None => None,
        };
        if let Some(t) = tournament_team {
            let captain = match t.captain_id {
                Some(c) => user::Entity::find_by_id(c).one(txn).await?,
                None => None,
            };
            fields.insert("team".into(), json!({"id": t.id, "name": t.name}));
            fields.insert(
                "captain".into(),
                captain
                    .map_or(Value::Null, |u| json!({"id": u.id, "username": u.username, "avatarUrl": u.avatar_url()})),
            );
        }
    }
    let row = hero_draft_event::ActiveModel {
        hero_draft_id: Set(draft_id),
        event_type: Set(kind.to_owned()),
        hero_draft_team_id: Set(team),
        metadata: Set(metadata),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    Ok(row.id)
}

/// Bumps the version if nobody else did and commits; a conflict otherwise.
async fn commit_version(txn: DatabaseTransaction, full: &HeroDraftFull, state: HeroDraftState) -> DomainResult<()> {
    let bumped = hero_draft::Entity::update_many()
        .col_expr(hero_draft::Column::Version, Expr::value(full.draft.version + 1))
        .col_expr(hero_draft::Column::State, Expr::value(state.as_str()))
        .col_expr(hero_draft::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(hero_draft::Column::Id.eq(full.draft.id))
        .filter(hero_draft::Column::Version.eq(full.draft.version))
        .exec(&txn)
        .await?;
    if bumped.rows_affected != 1 {
        return Err(DomainError::conflict("conflict", "the draft changed meanwhile; reload and try again"));
    }
    txn.commit().await?;
    Ok(())
}

/// What an action leaves to do once it committed.
struct Committed {
    event_id: i64,
    /// A round that started (or restarted its clock) and needs its timeout.
    arm: Option<i32>,
}

/// Commits, then announces the event and arms the timer: the one path
/// every action (captain, staff, timeout job, tick) takes.
async fn commit_and_announce(
    svc: &Services,
    txn: DatabaseTransaction,
    full: &HeroDraftFull,
    state: HeroDraftState,
    done: Committed,
) -> DomainResult<()> {
    commit_version(txn, full, state).await?;
    let id = full.draft.id;
    live::notify(&svc.bus, &[live::herodraft_channel(id)], EventKind::HeroDraft, done.event_id).await;
    if let Some(round) = done.arm {
        arm_timeout(svc, id, round).await;
    }
    Ok(())
}

/// Enqueues the timeout of `round` for the draft as it stands now. A queue
/// outage is logged, not returned: the action already happened, and the
/// realtime tick times out overdue rounds itself.
pub async fn arm_timeout(svc: &Services, id: i64, round: i32) {
    if let Err(err) = crate::jobs::herodraft_timeout::schedule(svc, id, round).await {
        tracing::error!(error = %err, draft = id, round, "hero-draft timeout not armed");
    }
}

fn wrong_state(full: &HeroDraftFull) -> DomainError {
    DomainError::conflict("wrong_state", format!("not allowed while the draft is {}", full.draft.state.as_str()))
}

fn require_state(full: &HeroDraftFull, allowed: &[HeroDraftState]) -> DomainResult<()> {
    if allowed.contains(&full.draft.state) { Ok(()) } else { Err(wrong_state(full)) }
}

fn captain_team<'a>(full: &'a HeroDraftFull, actor: &user::Model) -> DomainResult<&'a hero_draft_team::Model> {
    full.team_of(actor.id).ok_or_else(|| DomainError::forbidden("only the two captains act in a hero draft"))
}

/// Creates the draft of a game whose radiant and dire teams have captains.
pub async fn create(svc: &Services, game_id: i64, now: DateTime<Utc>) -> DomainResult<i64> {
    let clock = Clock::from_settings(&svc.settings);
    let txn = crate::infra::db::write_txn(&svc.db).await?;
    let g = game::Entity::find_by_id(game_id).one(&txn).await?.ok_or(DomainError::NotFound("game"))?;
    if let Some(existing) = hero_draft::Entity::find().filter(hero_draft::Column::GameId.eq(game_id)).one(&txn).await? {
        return Err(DomainError::conflict("already_exists", format!("this game has hero draft {}", existing.id))
            .with_details(json!({ "herodraft_id": existing.id })));
    }
    if g.status == entity::GameStatus::Completed {
        return Err(DomainError::conflict("game_finished", "this game has its result: no hero draft for it"));
    }
    let (Some(radiant), Some(dire)) = (g.radiant_team_id, g.dire_team_id) else {
        return Err(DomainError::conflict("teams_missing", "the game needs radiant and dire teams"));
    };
    for id in [radiant, dire] {
        let t = team::Entity::find_by_id(id).one(&txn).await?.ok_or(DomainError::NotFound("team"))?;
        if t.captain_id.is_none() {
            return Err(DomainError::conflict("team_without_captain", format!("team {} has no captain", t.name)));
        }
    }
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
    let event_id = event(&txn, draft.id, "draft_created", None, json!({"game_id": game_id}), now).await?;
    txn.commit().await?;
    live::notify(&svc.bus, &[live::herodraft_channel(draft.id)], EventKind::HeroDraft, event_id).await;
    Ok(draft.id)
}

/// A captain is ready; both ready → rolling.
pub async fn ready(svc: &Services, id: i64, actor: &user::Model, now: DateTime<Utc>) -> DomainResult<()> {
    let txn = crate::infra::db::write_txn(&svc.db).await?;
    let full = load(&txn, id).await?;
    require_state(&full, &[HeroDraftState::WaitingForCaptains])?;
    let mine = captain_team(&full, actor)?.clone();
    hero_draft_team::Entity::update_many()
        .col_expr(hero_draft_team::Column::IsReady, Expr::value(true))
        .filter(hero_draft_team::Column::Id.eq(mine.id))
        .exec(&txn)
        .await?;
    let all_ready = full.teams.len() == 2 && full.teams.iter().all(|(d, _)| d.is_ready || d.id == mine.id);
    let event_id = event(&txn, id, "captain_ready", Some(mine.id), json!({}), now).await?;
    let state = if all_ready { HeroDraftState::Rolling } else { HeroDraftState::WaitingForCaptains };
    commit_and_announce(svc, txn, &full, state, Committed { event_id, arm: None }).await
}

/// A captain flips the coin (`coin` picks the winner): the winner chooses first.
pub async fn roll(svc: &Services, id: i64, actor: &user::Model, coin: bool, now: DateTime<Utc>) -> DomainResult<()> {
    let txn = crate::infra::db::write_txn(&svc.db).await?;
    let full = load(&txn, id).await?;
    require_state(&full, &[HeroDraftState::Rolling])?;
    let mine = captain_team(&full, actor)?;
    let winner = full.teams.get(usize::from(coin)).or(full.teams.first()).map(|(_, t)| t.id);
    let winner = winner.ok_or(DomainError::NotFound("team"))?;
    hero_draft::Entity::update_many()
        .col_expr(hero_draft::Column::RollWinnerTeamId, Expr::value(winner))
        .filter(hero_draft::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    let event_id = event(&txn, id, "roll_result", Some(mine.id), json!({"winner_team_id": winner}), now).await?;
    commit_and_announce(svc, txn, &full, HeroDraftState::Choosing, Committed { event_id, arm: None }).await
}

/// What a captain chooses after the roll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    PickOrder { first: bool },
    Side { radiant: bool },
}

/// The roll winner chooses pick order or side; the loser then gets the
/// other choice; with both made the 24 rounds start (round 1's timer armed).
pub async fn choose(
    svc: &Services,
    id: i64,
    actor: &user::Model,
    choice: Choice,
    now: DateTime<Utc>,
) -> DomainResult<()> {
    let clock = Clock::from_settings(&svc.settings);
    let txn = crate::infra::db::write_txn(&svc.db).await?;
    let full = load(&txn, id).await?;
    require_state(&full, &[HeroDraftState::Choosing])?;
    let mine = captain_team(&full, actor)?.clone();
    let winner = full.teams.iter().find(|(_, t)| Some(t.id) == full.draft.roll_winner_team_id).map(|(d, _)| d.id);
    let order_made = full.teams.iter().any(|(d, _)| d.is_first_pick.is_some());
    let side_made = full.teams.iter().any(|(d, _)| d.is_radiant.is_some());
    let first_choice = !order_made && !side_made;
    if first_choice && Some(mine.id) != winner {
        return Err(DomainError::conflict("not_your_turn", "the roll winner chooses first"));
    }
    if !first_choice && Some(mine.id) == winner {
        return Err(DomainError::conflict("not_your_turn", "the other captain makes the second choice"));
    }
    let (column, mine_value) = match choice {
        Choice::PickOrder { .. } if order_made => {
            return Err(DomainError::conflict("already_chosen", "pick order is already chosen"));
        }
        Choice::Side { .. } if side_made => {
            return Err(DomainError::conflict("already_chosen", "the side is already chosen"));
        }
        Choice::PickOrder { first } => (hero_draft_team::Column::IsFirstPick, first),
        Choice::Side { radiant } => (hero_draft_team::Column::IsRadiant, radiant),
    };
    let theirs = full.other(mine.id)?;
    for (team, value) in [(mine.id, mine_value), (theirs, !mine_value)] {
        hero_draft_team::Entity::update_many()
            .col_expr(column, Expr::value(value))
            .filter(hero_draft_team::Column::Id.eq(team))
            .exec(&txn)
            .await?;
    }
    let (choice_type, value) = match choice {
        Choice::PickOrder { first } => ("pick_order", if first { "first" } else { "second" }),
        Choice::Side { radiant } => ("side", if radiant { "radiant" } else { "dire" }),
    };
    let event_id =
        event(&txn, id, "choice_made", Some(mine.id), json!({"choice_type": choice_type, "value": value}), now).await?;
    if first_choice {
        return commit_and_announce(svc, txn, &full, HeroDraftState::Choosing, Committed { event_id, arm: None }).await;
    }
    // Both choices made: build the rounds.
    let first_pick = match choice {
        Choice::PickOrder { first: true } => mine.id,
        Choice::PickOrder { first: false } => theirs,
        Choice::Side { .. } => {
            full.teams.iter().find(|(d, _)| d.is_first_pick == Some(true)).map_or(mine.id, |(d, _)| d.id)
        }
    };
    let second_pick = full.other(first_pick)?;
    let rounds: Vec<hero_draft_round::ActiveModel> = SEQUENCE
        .iter()
        .enumerate()
        .map(|(i, (side, action))| hero_draft_round::ActiveModel {
            hero_draft_id: Set(id),
            hero_draft_team_id: Set(if *side == Side::First { first_pick } else { second_pick }),
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
    commit_and_announce(svc, txn, &full, HeroDraftState::Drafting, Committed { event_id, arm: Some(1) }).await
}

/// The active captain bans or picks `hero`.
pub async fn act(svc: &Services, id: i64, actor: &user::Model, hero: i32, now: DateTime<Utc>) -> DomainResult<()> {
    let txn = crate::infra::db::write_txn(&svc.db).await?;
    let full = load(&txn, id).await?;
    if !full.running_at(now) {
        return Err(wrong_state(&full));
    }
    let round = full.active_round().cloned().ok_or_else(|| DomainError::conflict("wrong_state", "no active round"))?;
    let side = full
        .teams
        .iter()
        .find(|(d, _)| d.id == round.hero_draft_team_id)
        .map(|(d, _)| d.clone())
        .ok_or_else(|| DomainError::conflict("team_missing", "the acting team is gone"))?;
    if full.captain_of(side.id) != Some(actor.id) {
        return Err(if full.team_of(actor.id).is_some() {
            DomainError::conflict("not_your_turn", format!("round {} belongs to the other captain", round.round_number))
        } else {
            DomainError::forbidden("only the two captains act in a hero draft")
        });
    }
    if !rules::default_hero_pool().contains(&hero) {
        return Err(DomainError::invalid("hero_not_in_pool", format!("hero {hero} is not in the hero pool"))
            .with_details(json!({ "hero_id": hero })));
    }
    if full.used_heroes().contains(&hero) {
        return Err(DomainError::conflict("hero_taken", format!("hero {hero} was already picked or banned"))
            .with_details(json!({ "hero_id": hero })));
    }
    let elapsed = (now - round.started_at.unwrap_or(now)).num_milliseconds().max(0);
    let reserve = rules::reserve_after(side.reserve_time_remaining_ms, round.grace_time_ms, elapsed);
    complete_round(svc, txn, &full, &round, side.id, hero, reserve, "hero_selected", now).await
}

/// Completes the active round with `hero` and starts the next one.
#[allow(clippy::too_many_arguments)]
async fn complete_round(
    svc: &Services,
    txn: DatabaseTransaction,
    full: &HeroDraftFull,
    round: &hero_draft_round::Model,
    side: i64,
    hero: i32,
    reserve: i64,
    kind: &str,
    now: DateTime<Utc>,
) -> DomainResult<()> {
    let id = full.draft.id;
    let elapsed = (now - round.started_at.unwrap_or(now)).num_milliseconds().max(0);
    hero_draft_team::Entity::update_many()
        .col_expr(hero_draft_team::Column::ReserveTimeRemainingMs, Expr::value(reserve))
        .filter(hero_draft_team::Column::Id.eq(side))
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
    let event_id = event(
        &txn,
        id,
        kind,
        Some(side),
        json!({"round": round.round_number, "hero_id": hero, "action": action, "elapsed_ms": elapsed}),
        now,
    )
    .await?;
    let state = if finished { HeroDraftState::Completed } else { HeroDraftState::Drafting };
    commit_and_announce(svc, txn, full, state, Committed { event_id, arm: (!finished).then_some(next) }).await
}

/// What a round's timeout found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutOutcome {
    /// Time was up: a random legal hero was banned or picked for the team.
    Acted,
    /// The round still has this long to run (it came early, or the clock was
    /// shifted by a pause): arm again.
    NotDue { remaining_ms: i64 },
    /// The round is over, or the draft is paused or finished (a resume arms
    /// a new timeout).
    Stale,
}

/// The timeout of round `round`: acts randomly for the team if the draft is
/// still at that round and its time is up. `random_index` chooses the hero.
pub async fn time_out(
    svc: &Services,
    id: i64,
    round: i32,
    random_index: usize,
    now: DateTime<Utc>,
) -> DomainResult<TimeoutOutcome> {
    let txn = crate::infra::db::write_txn(&svc.db).await?;
    let full = load(&txn, id).await?;
    if !matches!(full.draft.state, HeroDraftState::Drafting | HeroDraftState::Resuming) {
        return Ok(TimeoutOutcome::Stale);
    }
    let Some(active) = full.active_round().filter(|r| r.round_number == round).cloned() else {
        return Ok(TimeoutOutcome::Stale);
    };
    let Some(side) = full.teams.iter().find(|(d, _)| d.id == active.hero_draft_team_id).map(|(d, _)| d.clone()) else {
        return Ok(TimeoutOutcome::Stale);
    };
    let remaining = full.timeout_in(round, now).unwrap_or(0);
    if !full.running_at(now) || remaining > 0 {
        return Ok(TimeoutOutcome::NotDue { remaining_ms: remaining.max(1) });
    }
    let hero = rules::random_legal(&rules::default_hero_pool(), &full.used_heroes(), |n| random_index % n)
        .ok_or_else(|| DomainError::conflict("no_heroes", "no hero left"))?;
    match complete_round(svc, txn, &full, &active, side.id, hero, 0, "round_timeout", now).await {
        Ok(()) => Ok(TimeoutOutcome::Acted),
        // Someone decided the round meanwhile (a captain, the tick's `tend`,
        // another delivery): superseded, not a failure.
        Err(DomainError::Conflict { code: "conflict", .. }) => Ok(TimeoutOutcome::Stale),
        Err(err) => Err(err),
    }
}

/// Pauses a running draft (a captain — at most `HERODRAFT_PAUSES_PER_TEAM`
/// times per draft — or an organiser of its league, unlimited).
pub async fn pause(
    svc: &Services,
    id: i64,
    actor: &user::Model,
    organiser: bool,
    now: DateTime<Utc>,
) -> DomainResult<()> {
    let full = snapshot(&svc.db, id).await?;
    let by = captain_or_organiser(&full, actor, organiser)?;
    if let Some(team) = by {
        let used = manual_pauses_of(&svc.db, id, team).await?;
        let allowed = svc.settings.herodraft_pauses_per_team as usize;
        if used >= allowed {
            return Err(DomainError::conflict(
                "pause_limit",
                format!("each captain may pause {allowed} times per draft; ask staff to pause"),
            ));
        }
    }
    pause_as(svc, id, by, true, now).await
}

/// Manual pauses a draft team made so far.
async fn manual_pauses_of<C: ConnectionTrait>(db: &C, id: i64, team: i64) -> DomainResult<usize> {
    let pauses = hero_draft_event::Entity::find()
        .filter(hero_draft_event::Column::HeroDraftId.eq(id))
        .filter(hero_draft_event::Column::HeroDraftTeamId.eq(team))
        .filter(hero_draft_event::Column::EventType.eq("draft_paused"))
        .all(db)
        .await?;
    Ok(pauses.iter().filter(|e| e.metadata["manual"] == true).count())
}

async fn pause_as(svc: &Services, id: i64, by: Option<i64>, manual: bool, now: DateTime<Utc>) -> DomainResult<()> {
    let txn = crate::infra::db::write_txn(&svc.db).await?;
    let full = load(&txn, id).await?;
    if !full.running_at(now) {
        return Err(wrong_state(&full));
    }
    hero_draft::Entity::update_many()
        .col_expr(hero_draft::Column::PausedAt, Expr::value(now))
        .col_expr(hero_draft::Column::IsManualPause, Expr::value(manual))
        .filter(hero_draft::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    let reason = if manual { "manual" } else { "heartbeat" };
    let event_id = event(&txn, id, "draft_paused", by, json!({"manual": manual, "reason": reason}), now).await?;
    commit_and_announce(svc, txn, &full, HeroDraftState::Paused, Committed { event_id, arm: None }).await
}

/// Resumes after a countdown; the active round's clock shifts by the time
/// paused plus the countdown, so at the end of the countdown the elapsed
/// time equals the elapsed time at pause. The round's timeout is re-armed.
pub async fn resume(
    svc: &Services,
    id: i64,
    actor: &user::Model,
    organiser: bool,
    now: DateTime<Utc>,
) -> DomainResult<()> {
    let clock = Clock::from_settings(&svc.settings);
    let txn = crate::infra::db::write_txn(&svc.db).await?;
    let full = load(&txn, id).await?;
    require_state(&full, &[HeroDraftState::Paused])?;
    let by = captain_or_organiser(&full, actor, organiser)?;
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
    let event_id = event(&txn, id, "draft_resumed", by, json!({"resuming_until": until}), now).await?;
    let arm = round.map(|r| r.round_number);
    commit_and_announce(svc, txn, &full, HeroDraftState::Resuming, Committed { event_id, arm }).await
}

/// The acting captain's draft team, `None` for an organiser (staff or an
/// admin of the draft's league), or forbidden.
fn captain_or_organiser(full: &HeroDraftFull, actor: &user::Model, organiser: bool) -> DomainResult<Option<i64>> {
    match full.team_of(actor.id) {
        Some(team) => Ok(Some(team.id)),
        None if organiser => Ok(None),
        None => Err(DomainError::forbidden("only the captains or the league's organisers")),
    }
}

/// Abandons an unfinished draft (a captain or an organiser).
pub async fn abandon(
    svc: &Services,
    id: i64,
    actor: &user::Model,
    organiser: bool,
    now: DateTime<Utc>,
) -> DomainResult<()> {
    let txn = crate::infra::db::write_txn(&svc.db).await?;
    let full = load(&txn, id).await?;
    if matches!(full.draft.state, HeroDraftState::Completed | HeroDraftState::Abandoned) {
        return Err(DomainError::conflict("wrong_state", "the draft is over"));
    }
    let by = captain_or_organiser(&full, actor, organiser)?;
    let event_id = event(&txn, id, "draft_abandoned", by, json!({}), now).await?;
    commit_and_announce(svc, txn, &full, HeroDraftState::Abandoned, Committed { event_id, arm: None }).await
}

/// Starts over (staff): no rounds, no choices, full reserves.
pub async fn reset(svc: &Services, id: i64, now: DateTime<Utc>) -> DomainResult<()> {
    let clock = Clock::from_settings(&svc.settings);
    let txn = crate::infra::db::write_txn(&svc.db).await?;
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
    let event_id = event(&txn, id, "draft_reset", None, json!({}), now).await?;
    commit_and_announce(svc, txn, &full, HeroDraftState::WaitingForCaptains, Committed { event_id, arm: None }).await
}

/// How late past its deadline a round may be before the tick acts for the
/// timeout job (which should have fired; its queue may be down).
const OVERDUE_SLACK_MS: i64 = 2_000;

/// The tick's duty for one draft, read-only unless something is due: end a
/// finished resume countdown (re-arming the round's timeout), pause for a
/// captain whose heartbeats stopped, and time out a round the timeout job
/// missed. Returns the draft as it then stands (with presence).
pub async fn tend(svc: &Services, id: i64, now: DateTime<Utc>) -> DomainResult<HeroDraftFull> {
    let full = load_live(svc, id, now).await?;
    match full.draft.state {
        HeroDraftState::Resuming if full.running_at(now) => {
            settle(svc, &full).await?;
        }
        HeroDraftState::Drafting => {
            if let Some(silent) = silent_captain(svc, &full, now).await {
                if pause_as(svc, id, Some(silent), false, now).await.is_ok() {
                    tracing::info!(draft = id, team = silent, "captain silent; draft paused");
                }
            } else if let Some(round) = full.active_round()
                && full.timeout_in(round.round_number, now + Duration::milliseconds(OVERDUE_SLACK_MS)) == Some(0)
            {
                let index = rand::random::<u32>() as usize;
                time_out(svc, id, round.round_number, index, now).await?;
            }
        }
        _ => return Ok(full),
    }
    load_live(svc, id, now).await
}

/// resuming → drafting once the countdown is over; re-arms the round.
async fn settle(svc: &Services, full: &HeroDraftFull) -> DomainResult<()> {
    let txn = crate::infra::db::write_txn(&svc.db).await?;
    match commit_version(txn, full, HeroDraftState::Drafting).await {
        Ok(()) => {
            if let Some(round) = full.active_round() {
                arm_timeout(svc, full.draft.id, round.round_number).await;
            }
            Ok(())
        }
        // Someone else acted first (another instance, a captain): nothing to settle.
        Err(DomainError::Conflict { .. }) => Ok(()),
        Err(other) => Err(other),
    }
}

/// A captain who sent heartbeats and then stopped for longer than allowed.
async fn silent_captain(svc: &Services, full: &HeroDraftFull, now: DateTime<Utc>) -> Option<i64> {
    let limit = Duration::milliseconds(svc.settings.herodraft_heartbeat_timeout_ms);
    for (side, team) in &full.teams {
        let Some(captain) = team.captain_id else { continue };
        if let Ok(Some(seen)) = svc.presence.last_seen(full.draft.id, captain).await
            && now - seen > limit
        {
            return Some(side.id);
        }
    }
    None
}

/// Hero drafts of games whose teams include `team_id` and that are not over.
pub async fn unfinished_of_team<C: ConnectionTrait>(db: &C, team_id: i64) -> DomainResult<Vec<i64>> {
    let drafts: Vec<i64> = hero_draft_team::Entity::find()
        .select_only()
        .column(hero_draft_team::Column::HeroDraftId)
        .filter(hero_draft_team::Column::TeamId.eq(team_id))
        .into_tuple()
        .all(db)
        .await?;
    Ok(hero_draft::Entity::find()
        .select_only()
        .column(hero_draft::Column::Id)
        .filter(hero_draft::Column::Id.is_in(drafts))
        .filter(hero_draft::Column::State.is_not_in([HeroDraftState::Completed, HeroDraftState::Abandoned]))
        .into_tuple()
        .all(db)
        .await?)
}
