//! Team drafts in the database. Every change runs in one write transaction
//! that first locks the draft row (`FOR UPDATE` on PostgreSQL, `BEGIN
//! IMMEDIATE` on SQLite), so picks are serialised per draft; the unique
//! indexes on (draft, pick_number) and (draft, choice) back that up.

use std::collections::{BTreeSet, HashMap};

use chrono::Utc;
use entity::{DraftStyle, draft, draft_event, draft_round, team, team_member, tournament_user, user};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde_json::{Value, json};

use crate::draft::rules::{self, Dice, PICKS_PER_TEAM, TEAM_SIZE, TeamStanding};
use crate::error::{ApiError, ApiResult};

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
}

pub async fn load<C: ConnectionTrait>(db: &C, draft_id: i64) -> ApiResult<DraftState> {
    let draft = draft::Entity::find_by_id(draft_id).one(db).await?.ok_or_else(|| ApiError::not_found("draft"))?;
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

/// Locks the draft row for the rest of the transaction.
async fn lock(txn: &DatabaseTransaction, draft_id: i64) -> ApiResult<()> {
    let mut select = draft::Entity::find_by_id(draft_id);
    if txn.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        select = select.lock_exclusive();
    }
    select.one(txn).await?.ok_or_else(|| ApiError::not_found("draft"))?;
    Ok(())
}

async fn event(
    txn: &DatabaseTransaction,
    draft_id: i64,
    kind: &str,
    payload: Value,
    actor: Option<i64>,
) -> ApiResult<()> {
    draft_event::ActiveModel {
        draft_id: Set(draft_id),
        event_type: Set(kind.to_owned()),
        payload: Set(payload),
        actor_id: Set(actor),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    Ok(())
}

async fn mmrs<C: ConnectionTrait>(db: &C, ids: impl IntoIterator<Item = i64>) -> ApiResult<HashMap<i64, i64>> {
    Ok(user::Entity::find()
        .select_only()
        .column(user::Column::Id)
        .column(user::Column::Mmr)
        .filter(user::Column::Id.is_in(ids))
        .into_tuple::<(i64, Option<i32>)>()
        .all(db)
        .await?
        .into_iter()
        .map(|(id, mmr)| (id, i64::from(mmr.unwrap_or(0))))
        .collect())
}

/// Teams as the shuffle sees them (captain + members, missing MMR = 0).
async fn standings<C: ConnectionTrait>(db: &C, state: &DraftState) -> ApiResult<Vec<TeamStanding>> {
    let everyone: BTreeSet<i64> =
        state.members.values().flatten().copied().chain(state.teams.iter().filter_map(|t| t.captain_id)).collect();
    let mmr = mmrs(db, everyone).await?;
    Ok(state
        .teams
        .iter()
        .map(|t| {
            let roster: BTreeSet<i64> =
                state.members.get(&t.id).cloned().unwrap_or_default().into_iter().chain(t.captain_id).collect();
            TeamStanding {
                id: t.id,
                name: t.name.clone(),
                mmr: roster.iter().map(|u| mmr.get(u).copied().unwrap_or(0)).sum(),
                size: roster.len(),
            }
        })
        .collect())
}

/// Assigns round `pick_number`'s captain by the shuffle rule.
async fn assign_shuffle_captain(
    txn: &DatabaseTransaction,
    state: &DraftState,
    pick_number: i32,
    actor: Option<i64>,
    dice: &mut (dyn Dice + Send),
) -> ApiResult<()> {
    let teams = standings(txn, state).await?;
    let Some((team_id, tie)) = rules::shuffle_next(&teams, dice) else { return Ok(()) };
    let captain = state.teams.iter().find(|t| t.id == team_id).and_then(|t| t.captain_id);
    let data = tie.as_ref().map(|t| serde_json::to_value(t).expect("serializable"));
    draft_round::Entity::update_many()
        .col_expr(draft_round::Column::CaptainId, Expr::value(captain))
        .col_expr(draft_round::Column::WasTie, Expr::value(tie.is_some()))
        .col_expr(draft_round::Column::TieRollData, Expr::value(data.clone()))
        .filter(draft_round::Column::DraftId.eq(state.draft.id))
        .filter(draft_round::Column::PickNumber.eq(pick_number))
        .exec(txn)
        .await?;
    if let Some(data) = data {
        event(txn, state.draft.id, "tie_roll", data, actor).await?;
    }
    event(
        txn,
        state.draft.id,
        "captain_assigned",
        json!({"pick_number": pick_number, "captain_id": captain, "team_id": team_id}),
        actor,
    )
    .await
}

/// Creates or rebuilds the tournament's draft: members reset to the
/// captains, 4 rounds per team; returns the draft id.
pub async fn init(
    db: &DatabaseConnection,
    tournament_id: i64,
    style: DraftStyle,
    actor: i64,
    dice: &mut (dyn Dice + Send),
) -> ApiResult<i64> {
    let txn = worker::infra::write_txn(db).await?;
    let teams = team::Entity::find()
        .filter(team::Column::TournamentId.eq(tournament_id))
        .order_by_asc(team::Column::DraftOrder)
        .order_by_asc(team::Column::Id)
        .all(&txn)
        .await?;
    if teams.len() < 2 {
        return Err(ApiError::invalid("not_enough_teams", "a draft needs at least two teams"));
    }
    if let Some(t) = teams.iter().find(|t| t.captain_id.is_none()) {
        return Err(ApiError::invalid("team_without_captain", format!("team {} has no captain", t.name)));
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
    for t in &teams {
        team_member::Entity::delete_many().filter(team_member::Column::TeamId.eq(t.id)).exec(&txn).await?;
        let captain = t.captain_id.expect("checked above");
        team_member::ActiveModel { team_id: Set(t.id), user_id: Set(captain) }.insert(&txn).await?;
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
                _ => teams[rules::picker(style, pick, n)].captain_id,
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
    event(
        &txn,
        draft_id,
        "draft_started",
        json!({"draft_style": style.as_str(), "teams": teams.iter().map(|t| t.id).collect::<Vec<_>>()}),
        Some(actor),
    )
    .await?;
    if style == DraftStyle::Shuffle {
        let state = load(&txn, draft_id).await?;
        assign_shuffle_captain(&txn, &state, 1, Some(actor), dice).await?;
    }
    txn.commit().await?;
    Ok(draft_id)
}

/// The current captain (or staff) picks `user_id`.
pub async fn pick(
    db: &DatabaseConnection,
    draft_id: i64,
    actor: &user::Model,
    user_id: i64,
    dice: &mut (dyn Dice + Send),
) -> ApiResult<()> {
    let txn = worker::infra::write_txn(db).await?;
    lock(&txn, draft_id).await?;
    let mut state = load(&txn, draft_id).await?;
    let Some(round) = state.current().cloned() else {
        return Err(ApiError::conflict("draft_complete", "every pick of this draft is made"));
    };
    let staff = actor.is_staff || actor.is_superuser;
    if !staff && round.captain_id != Some(actor.id) {
        return if state.teams.iter().any(|t| t.captain_id == Some(actor.id)) {
            Err(ApiError::conflict("not_your_turn", format!("pick {} belongs to another captain", round.pick_number)))
        } else {
            Err(ApiError::forbidden("only staff or the captain whose turn it is can pick"))
        };
    }
    let Some(team) = state.team_of_captain(round.captain_id).cloned() else {
        return Err(ApiError::conflict("no_captain", "this round has no captain yet"));
    };
    if !state.remaining().contains(&user_id) {
        return Err(ApiError::invalid(
            "player_unavailable",
            "the player is not in the tournament pool or is already drafted",
        ));
    }
    let claimed = draft_round::Entity::update_many()
        .col_expr(draft_round::Column::ChoiceId, Expr::value(user_id))
        .filter(draft_round::Column::Id.eq(round.id))
        .filter(draft_round::Column::ChoiceId.is_null())
        .exec(&txn)
        .await?;
    if claimed.rows_affected != 1 {
        return Err(ApiError::conflict("pick_taken", "this pick was just made"));
    }
    team_member::ActiveModel { team_id: Set(team.id), user_id: Set(user_id) }.insert(&txn).await?;
    event(
        &txn,
        draft_id,
        "player_picked",
        json!({"pick_number": round.pick_number, "user_id": user_id, "team_id": team.id}),
        Some(actor.id),
    )
    .await?;
    state.members.entry(team.id).or_default().insert(user_id);
    let next = round.pick_number + 1;
    if state.rounds.iter().any(|r| r.pick_number == next) {
        if state.draft.draft_style == DraftStyle::Shuffle {
            assign_shuffle_captain(&txn, &state, next, Some(actor.id), dice).await?;
        }
    } else {
        event(&txn, draft_id, "draft_completed", json!({"picks": round.pick_number}), Some(actor.id)).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Takes back the last pick; a shuffle draft also forgets the next round's captain.
pub async fn undo(db: &DatabaseConnection, draft_id: i64, actor: i64) -> ApiResult<()> {
    let txn = worker::infra::write_txn(db).await?;
    lock(&txn, draft_id).await?;
    let state = load(&txn, draft_id).await?;
    let Some(last) = state.rounds.iter().rev().find(|r| r.choice_id.is_some()).cloned() else {
        return Err(ApiError::conflict("nothing_to_undo", "no pick has been made"));
    };
    let user_id = last.choice_id.expect("found by choice");
    if let Some(team) = state.team_of_captain(last.captain_id) {
        team_member::Entity::delete_many()
            .filter(team_member::Column::TeamId.eq(team.id))
            .filter(team_member::Column::UserId.eq(user_id))
            .exec(&txn)
            .await?;
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
    event(&txn, draft_id, "pick_undone", json!({"pick_number": last.pick_number, "user_id": user_id}), Some(actor))
        .await?;
    txn.commit().await?;
    Ok(())
}

/// Team totals under snake and normal if the remaining pool went greedily.
pub async fn style_mmrs<C: ConnectionTrait>(db: &C, state: &DraftState) -> ApiResult<(Vec<i64>, Vec<i64>)> {
    let teams = standings(db, state).await?;
    let pool_mmr = mmrs(db, state.remaining()).await?;
    let pool: Vec<i64> = state.remaining().iter().map(|u| pool_mmr.get(u).copied().unwrap_or(0)).collect();
    let current: Vec<i64> = teams.iter().map(|t| t.mmr).collect();
    let slots: Vec<usize> = teams.iter().map(|t| TEAM_SIZE.saturating_sub(t.size)).collect();
    Ok((
        rules::greedy_totals(DraftStyle::Snake, &current, &slots, &pool),
        rules::greedy_totals(DraftStyle::Normal, &current, &slots, &pool),
    ))
}
