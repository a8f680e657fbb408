//! Team (player) drafts (SPEC §9): create/rebuild (staff), read (anyone),
//! pick (staff or the captain whose turn it is), undo and repair (organisers), the events,
//! and the style-MMR preview. Where a pick happens:
//! `worker::domain::team_draft::service::pick`.

use entity::{DraftStyle, draft_event};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use worker::domain::rosters::find_tournament;
use worker::domain::team_draft::rules::RandomDice;
use worker::domain::team_draft::service;

use crate::auth::Session;
use crate::error::{ApiError, ApiResult};
use crate::pagination::{Page, PageRequest};
use crate::routes::{Created, Tag};
use crate::state::AppState;
use crate::views::drafts::{DraftEventView, DraftView, view};
use worker::domain::leagues::Scope;

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct DraftCreate {
    pub draft_style: DraftStyle,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct PickRequest {
    pub user_id: i64,
}

#[derive(Debug, Object)]
pub struct TeamTotal {
    pub team_id: i64,
    pub total_mmr: i64,
}

#[derive(Debug, Object)]
pub struct StyleMmrs {
    pub snake: Vec<TeamTotal>,
    pub normal: Vec<TeamTotal>,
}

async fn fresh_view(state: &AppState, draft_id: i64) -> ApiResult<Json<DraftView>> {
    Ok(Json(view(&state.db, &service::snapshot(&state.db, draft_id).await?).await?))
}

pub struct DraftsApi;

#[OpenApi(tag = "Tag::Drafts")]
impl DraftsApi {
    /// Create or rebuild the tournament's draft (organisers): members reset to the captains.
    ///
    /// Errors: 409 `not_enough_teams`, 409 `team_without_captain`.
    #[oai(path = "/tournaments/:id/draft", method = "post", operation_id = "createDraft")]
    async fn create(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        id: Path<i64>,
        body: Json<DraftCreate>,
    ) -> ApiResult<Created<DraftView>> {
        let actor = viewer.require_organiser(&state, Scope::Tournament(id.0)).await?;
        find_tournament(&state.db, id.0).await?;
        let draft_id = service::init(&state.services, id.0, body.0.draft_style, actor.id, &mut RandomDice).await?;
        Ok(Created::Created(fresh_view(&state, draft_id).await?))
    }

    /// The tournament's draft.
    #[oai(path = "/tournaments/:id/draft", method = "get", operation_id = "getTournamentDraft")]
    async fn of_tournament(&self, state: poem::web::Data<&AppState>, id: Path<i64>) -> ApiResult<Json<DraftView>> {
        let draft_id = service::of_tournament(&state.db, id.0).await?.ok_or_else(|| ApiError::not_found("draft"))?;
        fresh_view(&state, draft_id).await
    }

    /// A draft.
    #[oai(path = "/drafts/:id", method = "get", operation_id = "getDraft")]
    async fn get(&self, state: poem::web::Data<&AppState>, id: Path<i64>) -> ApiResult<Json<DraftView>> {
        fresh_view(&state, id.0).await
    }

    /// A draft's events, oldest first; `after` skips those up to that event id (for clients catching up).
    #[oai(path = "/drafts/:id/events", method = "get", operation_id = "listDraftEvents")]
    async fn events(
        &self,
        state: poem::web::Data<&AppState>,
        id: Path<i64>,
        #[oai(validator(minimum(value = "0")))] after: Query<Option<i64>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))] page: Query<Option<u64>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] page_size: Query<Option<u64>>,
    ) -> ApiResult<Json<Page<DraftEventView>>> {
        use draft_event::{Column, Entity};
        service::snapshot(&state.db, id.0).await?;
        let req = PageRequest::new(page.0, page_size.0);
        Ok(Json(req.events::<Entity, _, _>(&state.db, (Column::DraftId, id.0), Column::Id, after.0).await?))
    }

    /// Pick a player: the captain whose turn it is, or an organiser.
    ///
    /// Errors: 409 `not_your_turn` (another captain), 422 `player_not_in_pool`, 409 `player_already_drafted`,
    /// 409 `draft_complete`.
    #[oai(path = "/drafts/:id/pick", method = "post", operation_id = "pickPlayer")]
    async fn pick(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        id: Path<i64>,
        body: Json<PickRequest>,
    ) -> ApiResult<Json<DraftView>> {
        let organiser = viewer.organises(&state, Scope::Draft(id.0)).await?;
        service::pick(&state.services, id.0, viewer.user(), organiser, body.0.user_id, &mut RandomDice).await?;
        fresh_view(&state, id.0).await
    }

    /// Take back the last pick (organisers).
    ///
    /// Errors: 409 `nothing_to_undo`.
    #[oai(path = "/drafts/:id/undo", method = "post", operation_id = "undoPick")]
    async fn undo(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        id: Path<i64>,
    ) -> ApiResult<Json<DraftView>> {
        let actor = viewer.require_organiser(&state, Scope::Draft(id.0)).await?;
        service::undo(&state.services, id.0, actor.id).await?;
        fresh_view(&state, id.0).await
    }

    /// Repair a pick already made (organisers): its round names `user_id` instead, the team trades the
    /// old player for them, as one `pick_repaired` event.
    ///
    /// Errors: 404 for a round the draft does not have, 409 `pick_not_made` (a pick still to make),
    /// 422 `player_not_in_pool`, 409 `player_already_drafted`.
    #[oai(path = "/drafts/:id/rounds/:pick_number", method = "patch", operation_id = "repairPick")]
    async fn repair(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        id: Path<i64>,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000")))] pick_number: Path<i32>,
        body: Json<PickRequest>,
    ) -> ApiResult<Json<DraftView>> {
        let actor = viewer.require_organiser(&state, Scope::Draft(id.0)).await?;
        service::repair(&state.services, id.0, pick_number.0, body.0.user_id, actor.id).await?;
        fresh_view(&state, id.0).await
    }

    /// Each team's total if the remaining pool were drafted greedily by MMR, under snake and normal.
    #[oai(path = "/drafts/:id/style-mmrs", method = "get", operation_id = "getDraftStyleMmrs")]
    async fn style_mmrs(&self, state: poem::web::Data<&AppState>, id: Path<i64>) -> ApiResult<Json<StyleMmrs>> {
        let draft_state = service::snapshot(&state.db, id.0).await?;
        let (snake, normal) = service::style_mmrs(&state.db, &draft_state).await?;
        let totals = |values: Vec<i64>| {
            draft_state.teams.iter().zip(values).map(|(t, total_mmr)| TeamTotal { team_id: t.id, total_mmr }).collect()
        };
        Ok(Json(StyleMmrs { snake: totals(snake), normal: totals(normal) }))
    }
}
