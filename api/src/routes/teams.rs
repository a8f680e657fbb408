//! `/api/teams`: teams of a tournament (staff write).
//!
//! Roster rules, enforced on every write: the captain and the deputy are
//! members; the deputy is not the captain; every member is a player of the
//! tournament and on no other team of it.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use entity::{team, team_member, tournament_user, user};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{Object, OpenApi};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, Set,
};
use serde_json::json;

use crate::auth::Viewer;
use crate::cache::ns;
use crate::error::{ApiError, ApiResult};
use crate::pagination::{Page, PageRequest};
use crate::routes::users::UserView;
use crate::routes::{Created, Deleted, Tag};
use crate::state::AppState;
use crate::validate;

#[derive(Debug, Clone, Object)]
pub struct TeamView {
    pub id: i64,
    pub tournament_id: i64,
    pub name: String,
    #[oai(nullable)]
    pub captain_id: Option<i64>,
    #[oai(nullable)]
    pub deputy_captain_id: Option<i64>,
    pub draft_order: i32,
    #[oai(nullable)]
    pub placement: Option<i32>,
    /// Members, captain included, by id.
    pub members: Vec<UserView>,
    /// Sum of the members' MMR (none counts as 0).
    pub total_mmr: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct TeamCreate {
    pub tournament_id: i64,
    #[oai(validator(min_length = 1, max_length = 255))]
    pub name: String,
    pub captain_id: Option<i64>,
    pub deputy_captain_id: Option<i64>,
    /// Order in snake/normal drafts (ascending); default 0.
    #[oai(validator(minimum(value = "0"), maximum(value = "1000")))]
    pub draft_order: Option<i32>,
    #[oai(validator(minimum(value = "1"), maximum(value = "1000")))]
    pub placement: Option<i32>,
    /// Members besides the captain and deputy.
    #[oai(validator(max_items = 50))]
    pub member_ids: Option<Vec<i64>>,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct TeamPatch {
    #[oai(validator(min_length = 1, max_length = 255))]
    pub name: Option<String>,
    pub captain_id: MaybeUndefined<i64>,
    pub deputy_captain_id: MaybeUndefined<i64>,
    #[oai(validator(minimum(value = "0"), maximum(value = "1000")))]
    pub draft_order: Option<i32>,
    #[oai(validator(minimum(value = "1"), maximum(value = "1000")))]
    pub placement: MaybeUndefined<i32>,
    /// Replaces the members (the captain and deputy stay members).
    #[oai(validator(max_items = 50))]
    pub member_ids: Option<Vec<i64>>,
}

/// The member set of a team: `members` plus captain and deputy.
pub(crate) fn roster(captain: Option<i64>, deputy: Option<i64>, members: &[i64]) -> ApiResult<BTreeSet<i64>> {
    if captain.is_some() && captain == deputy {
        return Err(ApiError::invalid("deputy_is_captain", "the deputy captain cannot also be the captain"));
    }
    Ok(members.iter().copied().chain(captain).chain(deputy).collect())
}

/// Loads members for `teams` with two queries, keeping the teams' order.
pub async fn team_views<C: ConnectionTrait>(db: &C, teams: Vec<team::Model>) -> ApiResult<Vec<TeamView>> {
    let team_ids: Vec<i64> = teams.iter().map(|t| t.id).collect();
    let links = team_member::Entity::find()
        .filter(team_member::Column::TeamId.is_in(team_ids))
        .order_by_asc(team_member::Column::UserId)
        .all(db)
        .await?;
    let user_ids: BTreeSet<i64> = links.iter().map(|l| l.user_id).collect();
    let users: HashMap<i64, user::Model> = user::Entity::find()
        .filter(user::Column::Id.is_in(user_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|u| (u.id, u))
        .collect();
    let mut members: HashMap<i64, Vec<UserView>> = HashMap::new();
    for link in &links {
        if let Some(u) = users.get(&link.user_id) {
            members.entry(link.team_id).or_default().push(UserView::public(u));
        }
    }
    Ok(teams
        .into_iter()
        .map(|t| {
            let members = members.remove(&t.id).unwrap_or_default();
            TeamView {
                total_mmr: members.iter().map(|m| i64::from(m.mmr.unwrap_or(0))).sum(),
                members,
                id: t.id,
                tournament_id: t.tournament_id,
                name: t.name,
                captain_id: t.captain_id,
                deputy_captain_id: t.deputy_captain_id,
                draft_order: t.draft_order,
                placement: t.placement,
                created_at: t.created_at,
                updated_at: t.updated_at,
            }
        })
        .collect())
}

/// Checks that `members` may form team `team_id` (None = a new team) of the tournament.
async fn check_roster(
    txn: &DatabaseTransaction,
    tournament_id: i64,
    team_id: Option<i64>,
    members: &BTreeSet<i64>,
) -> ApiResult<()> {
    let players: BTreeSet<i64> = tournament_user::Entity::find()
        .filter(tournament_user::Column::TournamentId.eq(tournament_id))
        .filter(tournament_user::Column::UserId.is_in(members.iter().copied()))
        .all(txn)
        .await?
        .into_iter()
        .map(|p| p.user_id)
        .collect();
    let outsiders: Vec<i64> = members.difference(&players).copied().collect();
    if !outsiders.is_empty() {
        return Err(ApiError::invalid(
            "not_a_player",
            "team members must be players of the tournament (POST /api/tournaments/{id}/players)",
        )
        .with_details(json!({ "user_ids": outsiders })));
    }
    let other_teams: Vec<i64> = team::Entity::find()
        .filter(team::Column::TournamentId.eq(tournament_id))
        .filter(team::Column::Id.ne(team_id.unwrap_or(-1)))
        .all(txn)
        .await?
        .into_iter()
        .map(|t| t.id)
        .collect();
    let taken: Vec<i64> = team_member::Entity::find()
        .filter(team_member::Column::TeamId.is_in(other_teams))
        .filter(team_member::Column::UserId.is_in(members.iter().copied()))
        .all(txn)
        .await?
        .into_iter()
        .map(|m| m.user_id)
        .collect();
    if !taken.is_empty() {
        return Err(ApiError::conflict("already_on_a_team", "a player is already on another team of this tournament")
            .with_details(json!({ "user_ids": taken })));
    }
    Ok(())
}

async fn replace_members(txn: &DatabaseTransaction, team_id: i64, members: &BTreeSet<i64>) -> ApiResult<()> {
    team_member::Entity::delete_many().filter(team_member::Column::TeamId.eq(team_id)).exec(txn).await?;
    if !members.is_empty() {
        team_member::Entity::insert_many(
            members.iter().map(|&user_id| team_member::ActiveModel { team_id: Set(team_id), user_id: Set(user_id) }),
        )
        .exec(txn)
        .await?;
    }
    Ok(())
}

pub async fn find_team<C: ConnectionTrait>(db: &C, id: i64) -> ApiResult<team::Model> {
    team::Entity::find_by_id(id).one(db).await?.ok_or_else(|| ApiError::not_found("team"))
}

async fn view_of(state: &AppState, team: team::Model) -> ApiResult<TeamView> {
    Ok(team_views(&state.db, vec![team]).await?.remove(0))
}

pub struct TeamsApi;

#[OpenApi(tag = "Tag::Teams")]
impl TeamsApi {
    /// List teams, optionally of one tournament (by draft order, then id).
    #[oai(path = "/teams", method = "get")]
    async fn list(
        &self,
        state: poem::web::Data<&AppState>,
        tournament_id: Query<Option<i64>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))] page: Query<Option<u64>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] page_size: Query<Option<u64>>,
    ) -> ApiResult<Json<Page<TeamView>>> {
        let req = PageRequest::new(page.0, page_size.0);
        let mut select = team::Entity::find().order_by_asc(team::Column::DraftOrder).order_by_asc(team::Column::Id);
        if let Some(t) = tournament_id.0 {
            select = select.filter(team::Column::TournamentId.eq(t));
        }
        let (count, rows) = req.fetch(&state.db, select).await?;
        Ok(Json(req.wrap(count, team_views(&state.db, rows).await?)))
    }

    /// Create a team (staff). Captain and deputy become members.
    #[oai(path = "/teams", method = "post")]
    async fn create(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Viewer,
        body: Json<TeamCreate>,
    ) -> ApiResult<Created<TeamView>> {
        viewer.require_staff()?;
        let body = body.0;
        let name = validate::line("name", &body.name, 255)?;
        let members = roster(body.captain_id, body.deputy_captain_id, body.member_ids.as_deref().unwrap_or_default())?;
        let txn = worker::infra::write_txn(&state.db).await?;
        crate::routes::tournaments::find_tournament(&txn, body.tournament_id)
            .await
            .map_err(|_| ApiError::invalid("unknown_tournament", "tournament_id does not exist"))?;
        check_roster(&txn, body.tournament_id, None, &members).await?;
        let created = team::ActiveModel {
            tournament_id: Set(body.tournament_id),
            name: Set(name),
            captain_id: Set(body.captain_id),
            deputy_captain_id: Set(body.deputy_captain_id),
            draft_order: Set(body.draft_order.unwrap_or(0)),
            placement: Set(body.placement),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        replace_members(&txn, created.id, &members).await?;
        txn.commit().await?;
        state.cache.invalidate(&[ns::TOURNAMENTS]).await;
        Ok(Created::Created(Json(view_of(&state, created).await?)))
    }

    /// One team with its members.
    #[oai(path = "/teams/:id", method = "get")]
    async fn get(&self, state: poem::web::Data<&AppState>, id: Path<i64>) -> ApiResult<Json<TeamView>> {
        let team = find_team(&state.db, id.0).await?;
        Ok(Json(view_of(&state, team).await?))
    }

    /// Change a team (staff).
    #[oai(path = "/teams/:id", method = "patch")]
    async fn patch(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Viewer,
        id: Path<i64>,
        body: Json<TeamPatch>,
    ) -> ApiResult<Json<TeamView>> {
        viewer.require_staff()?;
        let body = body.0;
        let txn = worker::infra::write_txn(&state.db).await?;
        let team = find_team(&txn, id.0).await?;
        let current: Vec<i64> = team_member::Entity::find()
            .filter(team_member::Column::TeamId.eq(team.id))
            .all(&txn)
            .await?
            .into_iter()
            .map(|m| m.user_id)
            .collect();
        let captain = body.captain_id.or_current(team.captain_id);
        let deputy = body.deputy_captain_id.or_current(team.deputy_captain_id);
        let members = roster(captain, deputy, body.member_ids.as_deref().unwrap_or(&current))?;
        check_roster(&txn, team.tournament_id, Some(team.id), &members).await?;
        let mut active: team::ActiveModel = team.into();
        if let Some(name) = body.name {
            active.name = Set(validate::line("name", &name, 255)?);
        }
        active.captain_id = Set(captain);
        active.deputy_captain_id = Set(deputy);
        if let Some(order) = body.draft_order {
            active.draft_order = Set(order);
        }
        active.placement = Set(body.placement.or_current(*active.placement.as_ref()));
        let updated = active.update(&txn).await?;
        replace_members(&txn, updated.id, &members).await?;
        txn.commit().await?;
        state.cache.invalidate(&[ns::TOURNAMENTS]).await;
        Ok(Json(view_of(&state, updated).await?))
    }

    /// Delete a team (staff). Games it played stay, with the team unset.
    #[oai(path = "/teams/:id", method = "delete")]
    async fn delete(&self, state: poem::web::Data<&AppState>, viewer: Viewer, id: Path<i64>) -> ApiResult<Deleted> {
        viewer.require_staff()?;
        let team = find_team(&state.db, id.0).await?;
        team::Entity::delete_by_id(team.id).exec(&state.db).await?;
        state.cache.invalidate(&[ns::TOURNAMENTS]).await;
        Ok(Deleted::NoContent)
    }
}

/// `MaybeUndefined` applied to a current nullable value.
pub(crate) trait UpdateTo<T> {
    fn or_current(&self, current: Option<T>) -> Option<T>;
}

impl<T: Copy> UpdateTo<T> for MaybeUndefined<T> {
    fn or_current(&self, current: Option<T>) -> Option<T> {
        match self {
            MaybeUndefined::Undefined => current,
            MaybeUndefined::Null => None,
            MaybeUndefined::Value(v) => Some(*v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roster_includes_captain_and_deputy() {
        let r = roster(Some(1), Some(2), &[3, 1]).unwrap();
        assert_eq!(r.into_iter().collect::<Vec<_>>(), vec![1, 2, 3]);
    }

    #[test]
    fn deputy_cannot_be_captain() {
        assert_eq!(roster(Some(1), Some(1), &[]).unwrap_err().code, "deputy_is_captain");
    }

    #[test]
    fn maybe_undefined_updates() {
        assert_eq!(MaybeUndefined::<i64>::Undefined.or_current(Some(4)), Some(4));
        assert_eq!(MaybeUndefined::<i64>::Null.or_current(Some(4)), None);
        assert_eq!(MaybeUndefined::Value(5).or_current(Some(4)), Some(5));
    }
}
