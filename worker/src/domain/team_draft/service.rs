//! Team drafts in the database. Every change runs in one write transaction
//! that first locks the draft row (`FOR UPDATE` on PostgreSQL, `BEGIN
//! IMMEDIATE` on SQLite), so picks are serialised per draft; the unique
//! indexes on (draft, pick_number) and (draft, choice) back that up. After
//! the commit the change is announced to the draft's and the tournament's
//! sockets and the tournament caches are dropped.
//!
//! Event payloads carry what a page shows (names, pictures, team totals),
//! so a client renders an event without further calls.

use std::collections::{BTreeSet, HashMap};

use chrono::Utc;
use entity::{DraftStyle, draft, draft_event, draft_round, team, team_member, tournament_user, user};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde_json::{Value, json};

use crate::domain::live::{self, EventKind};
use crate::domain::team_draft::rules::{self, Dice, PICKS_PER_TEAM, TEAM_SIZE, TeamStanding};
use crate::domain::{DomainError, DomainResult, Services};
use crate::infra::cache::ns;

/// A draft with everything its rules need.
pub struct DraftState {
    pub draft: draft::Model,
    /// By draft order, then id.
    pub teams: Vec<team::Model>,
    pub members: HashMap<i64, BTreeSet<i64>>,
    /// By pick number.
    pub rounds: Vec<draft_round::Model>,
    /// The tournament's players.
    pub pool: BTreeSet<i64>,
}

impl DraftState {
    /// The round to pick now: the lowest pick number without a choice.
    pub fn current(&self) -> Option<&draft_round::Model> {
        self.rounds.iter().find(|r| r.choice_id.is_none())
    }

    /// The team a captain leads.
    pub fn team_of_captain(&self, captain: Option<i64>) -> Option<&team::Model> {
        let captain = captain?;
        self.teams.iter().find(|t| t.captain_id == Some(captain))
    }

    /// Players not yet on any team.
    pub fn remaining(&self) -> Vec<i64> {
        let taken: BTreeSet<i64> = self.members.values().flatten().copied().collect();
        self.pool.iter().filter(|u| !taken.contains(u)).copied().collect()
    }

    /// Whether the draft still has picks to make.
    pub fn is_open(&self) -> bool {
        self.current().is_some()
    }
}

/// The draft as one snapshot ([`crate::infra::db::snapshot`]): what every
/// reader outside a write transaction uses.
pub async fn snapshot(db: &sea_orm::DatabaseConnection, draft_id: i64) -> DomainResult<DraftState> {
    crate::infra::db::snapshot(db, async |txn| load(txn, draft_id).await).await
}

/// Inside a transaction only: its queries must read one state (a write's, or
/// a [`snapshot`]'s).
pub async fn load(db: &DatabaseTransaction, draft_id: i64) -> DomainResult<DraftState> {
    let draft = draft::Entity::find_by_id(draft_id).one(db).await?.ok_or(DomainError::NotFound("draft"))?;
    let teams = team::Entity::find()
        .filter(team::Column::TournamentId.eq(draft.tournament_id))
        .order_by_asc(team::Column::DraftOrder)
        .order_by_asc(team::Column::Id)
        .all(db)
        .await?;
    let mut members: HashMap<i64, BTreeSet<i64>> = teams.iter().map(|t| (t.id, BTreeSet::new())).collect();
    for m in team_member::Entity::find()
        .filter(team_member::Column::TeamId.is_in(teams.iter().map(|t| t.id)))
        .all(db)
        .await?
    {
        members.entry(m.team_id).or_default().insert(m.user_id);
    }
    let rounds = draft_round::Entity::find()
        .filter(draft_round::Column::DraftId.eq(draft_id))
        .order_by_asc(draft_round::Column::PickNumber)
        .all(db)
        .await?;
    let pool = tournament_user::Entity::find()
        .filter(tournament_user::Column::TournamentId.eq(draft.tournament_id))
        .all(db)
        .await?
        .into_iter()
        .map(|p| p.user_id)
        .collect();
    Ok(DraftState { draft, teams, members, rounds, pool })
}

/// The draft of a tournament, if it has one.
pub async fn of_tournament<C: ConnectionTrait>(db: &C, tournament_id: i64) -> DomainResult<Option<i64>> {
    Ok(draft::Entity::find()
        .select_only()
        .column(draft::Column::Id)
        .filter(draft::Column::TournamentId.eq(tournament_id))
        .into_tuple()
        .one(db)
        .await?)
}

/// The draft's events with ids above `after`, oldest first, at most `limit`.
pub async fn events_after<C: ConnectionTrait>(
    db: &C,
    draft_id: i64,
    after: i64,
    limit: u64,
) -> DomainResult<Vec<draft_event::Model>> {
    use draft_event::{Column, Entity};
    Ok(live::rows_after::<Entity, C>(db, Column::DraftId, Column::Id, draft_id, after, limit).await?)
}

/// Locks the draft row for the rest of the transaction.
async fn lock(txn: &DatabaseTransaction, draft_id: i64) -> DomainResult<()> {
    let mut select = draft::Entity::find_by_id(draft_id);
    if txn.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        select = select.lock_exclusive();
    }
    select.one(txn).await?.ok_or(DomainError::NotFound("draft"))?;
    Ok(())
}

async fn event(
    txn: &DatabaseTransaction,
    draft_id: i64,
    kind: &str,
    payload: Value,
    actor: Option<i64>,
) -> DomainResult<i64> {
    let row = draft_event::ActiveModel {
        draft_id: Set(draft_id),
        event_type: Set(kind.to_owned()),
        payload: Set(payload),
        actor_id: Set(actor),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    Ok(row.id)
}

/// The people of a draft (pool and captains) and the teams' totals, as
/// event payloads show them.
struct Cast {
    users: HashMap<i64, user::Model>,
}

impl Cast {
    async fn load<C: ConnectionTrait>(db: &C, state: &DraftState) -> DomainResult<Self> {
        let ids: BTreeSet<i64> = state
            .pool
            .iter()
            .copied()
            .chain(state.members.values().flatten().copied())
            .chain(state.teams.iter().filter_map(|t| t.captain_id))
            .collect();
        let users = user::Entity::find().filter(user::Column::Id.is_in(ids)).all(db).await?;
        Ok(Self { users: users.into_iter().map(|u| (u.id, u)).collect() })
    }

    fn mmr(&self, user_id: i64) -> i64 {
        self.users.get(&user_id).and_then(|u| u.mmr).map_or(0, i64::from)
    }

    /// `{id, username, avatarUrl, mmr}`
    fn person(&self, user_id: Option<i64>) -> Value {
        match user_id.and_then(|id| self.users.get(&id)) {
            Some(u) => json!({"id": u.id, "username": u.username, "avatarUrl": u.avatar_url(), "mmr": u.mmr}),
            None => json!({"id": user_id, "username": null, "avatarUrl": null, "mmr": null}),
        }
    }

    /// `{id, name, total_mmr}` with the roster as it stands in `state`.
    fn team(&self, state: &DraftState, team_id: i64) -> Value {
        let Some(t) = state.teams.iter().find(|t| t.id == team_id) else { return json!({"id": team_id}) };
        json!({"id": t.id, "name": t.name, "total_mmr": standing(state, t, self).mmr})
    }
}

/// A team as the shuffle sees it (captain + members, missing MMR = 0).
fn standing(state: &DraftState, t: &team::Model, cast: &Cast) -> TeamStanding {
    let roster: BTreeSet<i64> =
        state.members.get(&t.id).cloned().unwrap_or_default().into_iter().chain(t.captain_id).collect();
    TeamStanding { id: t.id, name: t.name.clone(), mmr: roster.iter().map(|u| cast.mmr(*u)).sum(), size: roster.len() }
}

fn standings(state: &DraftState, cast: &Cast) -> Vec<TeamStanding> {
    state.teams.iter().map(|t| standing(state, t, cast)).collect()
}

/// Assigns round `pick_number`'s captain by the shuffle rule; returns the id
/// of the last event written.
async fn assign_shuffle_captain(
    txn: &DatabaseTransaction,
    state: &DraftState,
    cast: &Cast,
    pick_number: i32,
    actor: Option<i64>,
    dice: &mut (dyn Dice + Send),
) -> DomainResult<Option<i64>> {
    let Some((team_id, tie)) = rules::shuffle_next(&standings(state, cast), dice) else { return Ok(None) };
    let captain = state.teams.iter().find(|t| t.id == team_id).and_then(|t| t.captain_id);
    let data = tie.as_ref().and_then(|t| serde_json::to_value(t).ok());
    draft_round::Entity::update_many()
        .col_expr(draft_round::Column::CaptainId, Expr::value(captain))
        .col_expr(draft_round::Column::WasTie, Expr::value(tie.is_some()))
        .col_expr(draft_round::Column::TieRollData, Expr::value(data.clone()))
        .filter(draft_round::Column::DraftId.eq(state.draft.id))
        .filter(draft_round::Column::PickNumber.eq(pick_number))
        .exec(txn)
        .await?;
    if let Some(mut data) = data {
        data["pick_number"] = json!(pick_number);
        data["winner"] = cast.team(state, team_id);
        event(txn, state.draft.id, "tie_roll", data, actor).await?;
    }
    let payload = json!({
        "pick_number": pick_number,
        "captain_id": captain,
        "team_id": team_id,
        "captain": cast.person(captain),
        "team": cast.team(state, team_id),
    });
    Ok(Some(event(txn, state.draft.id, "captain_assigned", payload, actor).await?))
}

/// Commits, announces the events up to `event_id` to the draft's and the
/// tournament's sockets, and drops the cached tournament views.
async fn commit_and_announce(
    svc: &Services,
    txn: DatabaseTransaction,
    draft_id: i64,
    tournament_id: i64,
    event_id: i64,
) -> DomainResult<()> {
    txn.commit().await?;
    svc.cache.invalidate(&[ns::TOURNAMENTS]).await;
    let channels = [live::draft_channel(draft_id), live::tournament_channel(tournament_id)];
    live::notify(&svc.bus, &channels, EventKind::Draft, event_id).await;
    Ok(())
}

/// Creates or rebuilds the tournament's draft: members reset to the
/// captains, 4 rounds per team; returns the draft id.
pub async fn init(
    svc: &Services,
    tournament_id: i64,
    style: DraftStyle,
    actor: i64,
    dice: &mut (dyn Dice + Send),
) -> DomainResult<i64> {
    let txn = crate::infra::db::write_txn(&svc.db).await?;
    let teams = team::Entity::find()
        .filter(team::Column::TournamentId.eq(tournament_id))
        .order_by_asc(team::Column::DraftOrder)
        .order_by_asc(team::Column::Id)
        .all(&txn)
        .await?;
    if teams.len() < 2 {
        return Err(DomainError::conflict("not_enough_teams", "a draft needs at least two teams"));
    }
    let mut captains = Vec::with_capacity(teams.len());
    for t in &teams {
        match t.captain_id {
            Some(c) => captains.push(c),
            None => {
                return Err(DomainError::conflict("team_without_captain", format!("team {} has no captain", t.name)));
            }
        }
    }
    let draft_id = match draft::Entity::find().filter(draft::Column::TournamentId.eq(tournament_id)).one(&txn).await? {
        Some(existing) => {
            lock(&txn, existing.id).await?;
            draft_round::Entity::delete_many().filter(draft_round::Column::DraftId.eq(existing.id)).exec(&txn).await?;
            let mut active: draft::ActiveModel = existing.into();
            active.draft_style = Set(style);
            active.update(&txn).await?.id
        }
        None => {
            draft::ActiveModel { tournament_id: Set(tournament_id), draft_style: Set(style), ..Default::default() }
                .insert(&txn)
                .await?
                .id
        }
    };
    for (t, captain) in teams.iter().zip(&captains) {
        team_member::Entity::delete_many().filter(team_member::Column::TeamId.eq(t.id)).exec(&txn).await?;
        team_member::ActiveModel { team_id: Set(t.id), user_id: Set(*captain) }.insert(&txn).await?;
        if t.deputy_captain_id.is_some() {
            team::Entity::update_many()
                .col_expr(team::Column::DeputyCaptainId, Expr::value(Option::<i64>::None))
                .filter(team::Column::Id.eq(t.id))
                .exec(&txn)
                .await?;
        }
    }
    let n = teams.len();
    let rounds: Vec<draft_round::ActiveModel> = (1..=PICKS_PER_TEAM * n)
        .map(|pick| draft_round::ActiveModel {
            draft_id: Set(draft_id),
            captain_id: Set(match style {
                DraftStyle::Shuffle => None,
                _ => Some(captains[rules::picker(style, pick, n)]),
            }),
            pick_number: Set(pick as i32),
            pick_phase: Set(rules::phase_of(pick, n) as i32),
            choice_id: Set(None),
            was_tie: Set(false),
            tie_roll_data: Set(None),
            ..Default::default()
        })
        .collect();
    draft_round::Entity::insert_many(rounds).exec(&txn).await?;
    let state = load(&txn, draft_id).await?;
    let cast = Cast::load(&txn, &state).await?;
    let team_cards: Vec<Value> = state
        .teams
        .iter()
        .map(|t| {
            let mut card = cast.team(&state, t.id);
            card["captain"] = cast.person(t.captain_id);
            card
        })
        .collect();
    let mut last = event(
        &txn,
        draft_id,
        "draft_started",
        json!({"draft_style": style.as_str(), "teams": team_cards}),
        Some(actor),
    )
    .await?;
    if style == DraftStyle::Shuffle
        && let Some(assigned) = assign_shuffle_captain(&txn, &state, &cast, 1, Some(actor), dice).await?
    {
        last = assigned;
    }
    commit_and_announce(svc, txn, draft_id, tournament_id, last).await?;
    Ok(draft_id)
}

/// The current captain (or an organiser: staff, an admin of the league)
/// picks `user_id`.
pub async fn pick(
    svc: &Services,
    draft_id: i64,
    actor: &user::Model,
    organiser: bool,
    user_id: i64,
    dice: &mut (dyn Dice + Send),
) -> DomainResult<()> {
    let txn = crate::infra::db::write_txn(&svc.db).await?;
    lock(&txn, draft_id).await?;
    let mut state = load(&txn, draft_id).await?;
    let Some(round) = state.current().cloned() else {
        return Err(DomainError::conflict("draft_complete", "every pick of this draft is made"));
    };
    if !organiser && round.captain_id != Some(actor.id) {
        return if state.teams.iter().any(|t| t.captain_id == Some(actor.id)) {
            Err(DomainError::conflict(
                "not_your_turn",
                format!("pick {} belongs to another captain", round.pick_number),
            ))
        } else {
            Err(DomainError::forbidden("only the captain whose turn it is, or an organiser, can pick"))
        };
    }
    let Some(team) = state.team_of_captain(round.captain_id).cloned() else {
        return Err(DomainError::conflict("no_captain", "this round has no captain yet"));
    };
    if !state.remaining().contains(&user_id) {
        // Drafted already: the state forbids it (409); never in the pool: the request names a wrong player (422).
        if state.members.values().any(|members| members.contains(&user_id)) {
            return Err(DomainError::conflict("player_already_drafted", "this player is already on a team")
                .with_details(json!({ "user_id": user_id })));
        }
        return Err(DomainError::invalid("player_not_in_pool", "this player is not in the tournament's pool")
            .with_details(json!({ "user_id": user_id })));
    }
    let claimed = draft_round::Entity::update_many()
        .col_expr(draft_round::Column::ChoiceId, Expr::value(user_id))
        .filter(draft_round::Column::Id.eq(round.id))
        .filter(draft_round::Column::ChoiceId.is_null())
        .exec(&txn)
        .await?;
    if claimed.rows_affected != 1 {
        return Err(DomainError::conflict("pick_taken", "this pick was just made"));
    }
    team_member::ActiveModel { team_id: Set(team.id), user_id: Set(user_id) }.insert(&txn).await?;
    state.members.entry(team.id).or_default().insert(user_id);
    let cast = Cast::load(&txn, &state).await?;
    let payload = json!({
        "pick_number": round.pick_number,
        "user_id": user_id,
        "team_id": team.id,
        "captain": cast.person(round.captain_id),
        "player": cast.person(Some(user_id)),
        "team": cast.team(&state, team.id),
    });
    let mut last = event(&txn, draft_id, "player_picked", payload, Some(actor.id)).await?;
    let next = round.pick_number + 1;
    if state.rounds.iter().any(|r| r.pick_number == next) {
        if state.draft.draft_style == DraftStyle::Shuffle
            && let Some(assigned) = assign_shuffle_captain(&txn, &state, &cast, next, Some(actor.id), dice).await?
        {
            last = assigned;
        }
    } else {
        let teams: Vec<Value> = state.teams.iter().map(|t| cast.team(&state, t.id)).collect();
        let payload = json!({"picks": round.pick_number, "teams": teams});
        last = event(&txn, draft_id, "draft_completed", payload, Some(actor.id)).await?;
    }
    commit_and_announce(svc, txn, draft_id, state.draft.tournament_id, last).await
}

/// Takes back the last pick; a shuffle draft also forgets the next round's captain.
pub async fn undo(svc: &Services, draft_id: i64, actor: i64) -> DomainResult<()> {
    let txn = crate::infra::db::write_txn(&svc.db).await?;
    lock(&txn, draft_id).await?;
    let mut state = load(&txn, draft_id).await?;
    let Some(last) = state.rounds.iter().rev().find(|r| r.choice_id.is_some()).cloned() else {
        return Err(DomainError::conflict("nothing_to_undo", "no pick has been made"));
    };
    let Some(user_id) = last.choice_id else { return Err(DomainError::conflict("nothing_to_undo", "no pick")) };
    let team_id = state.team_of_captain(last.captain_id).map(|t| t.id);
    if let Some(team_id) = team_id {
        team_member::Entity::delete_many()
            .filter(team_member::Column::TeamId.eq(team_id))
            .filter(team_member::Column::UserId.eq(user_id))
            .exec(&txn)
            .await?;
        if let Some(members) = state.members.get_mut(&team_id) {
            members.remove(&user_id);
        }
    }
    draft_round::Entity::update_many()
        .col_expr(draft_round::Column::ChoiceId, Expr::value(Option::<i64>::None))
        .filter(draft_round::Column::Id.eq(last.id))
        .exec(&txn)
        .await?;
    if state.draft.draft_style == DraftStyle::Shuffle {
        draft_round::Entity::update_many()
            .col_expr(draft_round::Column::CaptainId, Expr::value(Option::<i64>::None))
            .col_expr(draft_round::Column::WasTie, Expr::value(false))
            .col_expr(draft_round::Column::TieRollData, Expr::value(Option::<Value>::None))
            .filter(draft_round::Column::DraftId.eq(draft_id))
            .filter(draft_round::Column::PickNumber.eq(last.pick_number + 1))
            .exec(&txn)
            .await?;
    }
    let cast = Cast::load(&txn, &state).await?;
    let payload = json!({
        "pick_number": last.pick_number,
        "user_id": user_id,
        "player": cast.person(Some(user_id)),
        "team": team_id.map(|t| cast.team(&state, t)),
    });
    let event_id = event(&txn, draft_id, "pick_undone", payload, Some(actor)).await?;
    commit_and_announce(svc, txn, draft_id, state.draft.tournament_id, event_id).await
}

/// Replaces the choice of a pick already made (a repair: the wrong player
/// was clicked, or two names were swapped) without rebuilding the draft:
/// the round names `user_id`, the team trades the old player for them, and
/// one `pick_repaired` event says so. Later rounds stay as they were (a
/// shuffle draft's captains are not re-rolled). Naming the player already
/// chosen changes nothing.
pub async fn repair(svc: &Services, draft_id: i64, pick_number: i32, user_id: i64, actor: i64) -> DomainResult<()> {
    let txn = crate::infra::db::write_txn(&svc.db).await?;
    lock(&txn, draft_id).await?;
    let mut state = load(&txn, draft_id).await?;
    let Some(round) = state.rounds.iter().find(|r| r.pick_number == pick_number).cloned() else {
        return Err(DomainError::NotFound("round"));
    };
    let Some(previous) = round.choice_id else {
        return Err(DomainError::conflict(
            "pick_not_made",
            format!("pick {pick_number} has not been made yet: make it with POST /api/drafts/{draft_id}/pick"),
        ));
    };
    if previous == user_id {
        return Ok(());
    }
    if !state.remaining().contains(&user_id) {
        if let Some((team_id, _)) = state.members.iter().find(|(_, members)| members.contains(&user_id)) {
            return Err(DomainError::conflict("player_already_drafted", "this player is already on a team")
                .with_details(json!({ "user_id": user_id, "team_id": team_id })));
        }
        return Err(DomainError::invalid("player_not_in_pool", "this player is not in the tournament's pool")
            .with_details(json!({ "user_id": user_id })));
    }
    let team_id = state.team_of_captain(round.captain_id).map(|t| t.id);
    draft_round::Entity::update_many()
        .col_expr(draft_round::Column::ChoiceId, Expr::value(user_id))
        .filter(draft_round::Column::Id.eq(round.id))
        .exec(&txn)
        .await?;
    if let Some(team_id) = team_id {
        team_member::Entity::delete_many()
            .filter(team_member::Column::TeamId.eq(team_id))
            .filter(team_member::Column::UserId.eq(previous))
            .exec(&txn)
            .await?;
        team_member::ActiveModel { team_id: Set(team_id), user_id: Set(user_id) }.insert(&txn).await?;
        let members = state.members.entry(team_id).or_default();
        members.remove(&previous);
        members.insert(user_id);
    }
    let cast = Cast::load(&txn, &state).await?;
    let payload = json!({
        "pick_number": pick_number,
        "user_id": user_id,
        "previous_user_id": previous,
        "team_id": team_id,
        "player": cast.person(Some(user_id)),
        "previous_player": cast.person(Some(previous)),
        "team": team_id.map(|t| cast.team(&state, t)),
    });
    let event_id = event(&txn, draft_id, "pick_repaired", payload, Some(actor)).await?;
    commit_and_announce(svc, txn, draft_id, state.draft.tournament_id, event_id).await
}

/// Team totals under snake and normal if the remaining pool went greedily.
pub async fn style_mmrs<C: ConnectionTrait>(db: &C, state: &DraftState) -> DomainResult<(Vec<i64>, Vec<i64>)> {
    let cast = Cast::load(db, state).await?;
    let teams = standings(state, &cast);
    let pool: Vec<i64> = state.remaining().iter().map(|u| cast.mmr(*u)).collect();
    let current: Vec<i64> = teams.iter().map(|t| t.mmr).collect();
    let slots: Vec<usize> = teams.iter().map(|t| TEAM_SIZE.saturating_sub(t.size)).collect();
    Ok((
        rules::greedy_totals(DraftStyle::Snake, &current, &slots, &pool),
        rules::greedy_totals(DraftStyle::Normal, &current, &slots, &pool),
    ))
}
