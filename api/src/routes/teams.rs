//! `/api/teams`: teams of a tournament (staff write). The roster rules live
//! in `worker::domain::rosters`.

use entity::team;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{Object, OpenApi};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use worker::domain::rosters::{self, Attendees, NewTeam, TeamChange};

use crate::auth::Session;
use crate::error::{ApiError, ApiResult};
use crate::pagination::{Page, PageRequest};
use crate::routes::{Created, Deleted, Tag, patch};
use crate::state::AppState;
use crate::types::Text;
use crate::validate;
use crate::views::teams::{TeamView, team_views};
use worker::domain::leagues::Scope;

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct TeamCreate {
    pub tournament_id: i64,
    #[oai(validator(min_length = 1, max_length = 255))]
    pub name: Text,
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
    /// Users who play for the team without being drafted (not members).
    #[oai(validator(max_items = 50))]
    pub dropin_member_ids: Option<Vec<i64>>,
    /// Members who left during the night (result linking no longer counts them).
    #[oai(validator(max_items = 50))]
    pub left_member_ids: Option<Vec<i64>>,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct TeamPatch {
    #[oai(validator(min_length = 1, max_length = 255))]
    pub name: Option<Text>,
    pub captain_id: MaybeUndefined<i64>,
    pub deputy_captain_id: MaybeUndefined<i64>,
    #[oai(validator(minimum(value = "0"), maximum(value = "1000")))]
    pub draft_order: Option<i32>,
    #[oai(validator(minimum(value = "1"), maximum(value = "1000")))]
    pub placement: MaybeUndefined<i32>,
    /// Replaces the members (the captain and deputy stay members).
    #[oai(validator(max_items = 50))]
    pub member_ids: Option<Vec<i64>>,
    /// Replaces the drop-ins: users who play for the team without being drafted (not members).
    #[oai(validator(max_items = 50))]
    pub dropin_member_ids: Option<Vec<i64>>,
    /// Replaces the leavers: members who left during the night (result linking no longer counts them).
    #[oai(validator(max_items = 50))]
    pub left_member_ids: Option<Vec<i64>>,
}

/// A body naming a tournament that does not exist is invalid (422), not a missing resource.
fn unknown_tournament(err: ApiError) -> ApiError {
    if err.status == poem::http::StatusCode::NOT_FOUND {
        ApiError::unknown("unknown_tournament", "tournament_id does not exist")
    } else {
        err
    }
}

async fn view_of(state: &AppState, team: team::Model) -> ApiResult<TeamView> {
    Ok(team_views(&state.db, vec![team]).await?.remove(0))
}

pub struct TeamsApi;

#[OpenApi(tag = "Tag::Teams")]
impl TeamsApi {
    /// List teams, optionally of one tournament (by draft order, then id).
    #[oai(path = "/teams", method = "get", operation_id = "listTeams")]
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

    /// Create a team (organisers). Captain and deputy become members; drop-ins are users who are not
    /// members, leavers are members.
    ///
    /// Errors: 422 `unknown_tournament`, 422 `not_a_player` (members come from the pool), 409 `already_on_a_team`,
    /// 422 `deputy_is_captain`, 422 `dropin_is_member`, 422 `leaver_not_a_member`.
    #[oai(path = "/teams", method = "post", operation_id = "createTeam")]
    async fn create(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        body: Json<TeamCreate>,
    ) -> ApiResult<Created<TeamView>> {
        let body = body.0;
        viewer.require_organiser(&state, Scope::Tournament(body.tournament_id)).await.map_err(unknown_tournament)?;
        let new = NewTeam {
            tournament_id: body.tournament_id,
            name: validate::line("name", &body.name, 255)?,
            captain_id: body.captain_id,
            deputy_captain_id: body.deputy_captain_id,
            draft_order: body.draft_order.unwrap_or(0),
            placement: body.placement,
            member_ids: body.member_ids.unwrap_or_default(),
            attendees: Attendees {
                drop_ins: body.dropin_member_ids.unwrap_or_default().into_iter().collect(),
                leavers: body.left_member_ids.unwrap_or_default().into_iter().collect(),
            },
        };
        let created = rosters::create_team(&state.services, new).await?;
        Ok(Created::Created(Json(view_of(&state, created).await?)))
    }

    /// One team with its members.
    #[oai(path = "/teams/:id", method = "get", operation_id = "getTeam")]
    async fn get(&self, state: poem::web::Data<&AppState>, id: Path<i64>) -> ApiResult<Json<TeamView>> {
        let team = rosters::find_team(&state.db, id.0).await?;
        Ok(Json(view_of(&state, team).await?))
    }

    /// Change a team (organisers).
    #[oai(path = "/teams/:id", method = "patch", operation_id = "updateTeam")]
    async fn patch(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        id: Path<i64>,
        body: Json<TeamPatch>,
    ) -> ApiResult<Json<TeamView>> {
        viewer.require_organiser(&state, Scope::Team(id.0)).await?;
        let body = body.0;
        let change = TeamChange {
            name: body.name.as_deref().map(|n| validate::line("name", n, 255)).transpose()?,
            captain_id: patch(body.captain_id),
            deputy_captain_id: patch(body.deputy_captain_id),
            draft_order: body.draft_order,
            placement: patch(body.placement),
            member_ids: body.member_ids,
            dropin_member_ids: body.dropin_member_ids,
            left_member_ids: body.left_member_ids,
        };
        let updated = rosters::update_team(&state.services, id.0, change).await?;
        Ok(Json(view_of(&state, updated).await?))
    }

    /// Delete a team (organisers). Games it played stay, with the team unset; a
    /// team in an unfinished hero draft: 409 naming the draft.
    #[oai(path = "/teams/:id", method = "delete", operation_id = "deleteTeam")]
    async fn delete(&self, state: poem::web::Data<&AppState>, viewer: Session, id: Path<i64>) -> ApiResult<Deleted> {
        viewer.require_organiser(&state, Scope::Team(id.0)).await?;
        rosters::delete_team(&state.services, id.0).await?;
        Ok(Deleted::NoContent)
    }
}
