//! Team (player) drafts (SPEC §9): create/rebuild (staff), read (anyone),
//! pick (staff or the captain whose turn it is), undo (staff), and the
//! style-MMR preview.

use entity::{DraftStyle, draft, user};
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use worker::cache::ns;

use crate::auth::Viewer;
use crate::draft::rules::RandomDice;
use crate::draft::service::{self, DraftState};
use crate::error::{ApiError, ApiResult};
use crate::routes::users::UserView;
use crate::routes::{Created, Tag};
use crate::state::AppState;

#[derive(Debug, Object)]
pub struct DraftRoundView {
    pub pick_number: i32,
    pub pick_phase: i32,
    #[oai(nullable)]
    pub captain_id: Option<i64>,
    #[oai(nullable)]
    pub team_id: Option<i64>,
    #[oai(nullable)]
    pub choice_id: Option<i64>,
    pub was_tie: bool,
    /// `{"tied_teams":[{"id","name","mmr"}], "roll_rounds":[[{"team_id","roll"}]], "winner_id"}`
    #[oai(nullable)]
    pub tie_roll_data: Option<serde_json::Value>,
}

#[derive(Debug, Object)]
pub struct DraftView {
    pub id: i64,
    pub tournament_id: i64,
    pub draft_style: DraftStyle,
    pub rounds: Vec<DraftRoundView>,
    /// Players still to be drafted.
    pub users_remaining: Vec<UserView>,
    /// The pick to make now; null when the draft is complete.
    #[oai(nullable)]
    pub current_pick_number: Option<i32>,
}

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

pub async fn view<C: ConnectionTrait>(db: &C, state: &DraftState) -> ApiResult<DraftView> {
    let remaining = state.remaining();
    let users =
        user::Entity::find().filter(user::Column::Id.is_in(remaining)).order_by_asc(user::Column::Id).all(db).await?;
    Ok(DraftView {
        id: state.draft.id,
        tournament_id: state.draft.tournament_id,
        draft_style: state.draft.draft_style,
        rounds: state
            .rounds
            .iter()
            .map(|r| DraftRoundView {
                pick_number: r.pick_number,
                pick_phase: r.pick_phase,
                captain_id: r.captain_id,
                team_id: state.team_of_captain(r.captain_id).map(|t| t.id),
                choice_id: r.choice_id,
                was_tie: r.was_tie,
                tie_roll_data: r.tie_roll_data.clone(),
            })
            .collect(),
        users_remaining: users.iter().map(UserView::public).collect(),
        current_pick_number: state.current().map(|r| r.pick_number),
    })
}

async fn fresh_view(state: &AppState, draft_id: i64) -> ApiResult<Json<DraftView>> {
    Ok(Json(view(&state.db, &service::load(&state.db, draft_id).await?).await?))
}

/// The view after a change, announced on the realtime channels.
async fn changed_view(state: &AppState, draft_id: i64) -> ApiResult<Json<DraftView>> {
    let current = fresh_view(state, draft_id).await?;
    crate::realtime::draft_changed(state, draft_id, current.tournament_id).await;
    Ok(current)
}

pub struct DraftsApi;

#[OpenApi(tag = "Tag::Drafts")]
impl DraftsApi {
    /// Create or rebuild the tournament's draft (staff): members reset to the captains.
    #[oai(path = "/tournaments/:id/draft", method = "post")]
    async fn create(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Viewer,
        id: Path<i64>,
        body: Json<DraftCreate>,
    ) -> ApiResult<Created<DraftView>> {
        let actor = viewer.require_staff()?;
        crate::routes::tournaments::find_tournament(&state.db, id.0).await?;
        let draft_id = service::init(&state.db, id.0, body.0.draft_style, actor.id, &mut RandomDice).await?;
        state.cache.invalidate(&[ns::TOURNAMENTS]).await;
        Ok(Created::Created(changed_view(&state, draft_id).await?))
    }

    /// The tournament's draft.
    #[oai(path = "/tournaments/:id/draft", method = "get")]
    async fn of_tournament(&self, state: poem::web::Data<&AppState>, id: Path<i64>) -> ApiResult<Json<DraftView>> {
        let d = draft::Entity::find()
            .filter(draft::Column::TournamentId.eq(id.0))
            .one(&state.db)
            .await?
            .ok_or_else(|| ApiError::not_found("draft"))?;
        fresh_view(&state, d.id).await
    }

    /// A draft.
    #[oai(path = "/drafts/:id", method = "get")]
    async fn get(&self, state: poem::web::Data<&AppState>, id: Path<i64>) -> ApiResult<Json<DraftView>> {
        fresh_view(&state, id.0).await
    }

    /// Pick a player: staff, or the captain whose turn it is (409 otherwise).
    #[oai(path = "/drafts/:id/pick", method = "post")]
    async fn pick(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Viewer,
        id: Path<i64>,
        body: Json<PickRequest>,
    ) -> ApiResult<Json<DraftView>> {
        let actor = viewer.require_user()?;
        service::pick(&state.db, id.0, actor, body.0.user_id, &mut RandomDice).await?;
        state.cache.invalidate(&[ns::TOURNAMENTS]).await;
        changed_view(&state, id.0).await
    }

    /// Take back the last pick (staff).
    #[oai(path = "/drafts/:id/undo", method = "post")]
    async fn undo(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Viewer,
        id: Path<i64>,
    ) -> ApiResult<Json<DraftView>> {
        let actor = viewer.require_staff()?;
        service::undo(&state.db, id.0, actor.id).await?;
        state.cache.invalidate(&[ns::TOURNAMENTS]).await;
        changed_view(&state, id.0).await
    }

    /// Each team's total if the remaining pool were drafted greedily by MMR, under snake and normal.
    #[oai(path = "/drafts/:id/style-mmrs", method = "get")]
    async fn style_mmrs(&self, state: poem::web::Data<&AppState>, id: Path<i64>) -> ApiResult<Json<StyleMmrs>> {
        let draft_state = service::load(&state.db, id.0).await?;
        let (snake, normal) = service::style_mmrs(&state.db, &draft_state).await?;
        let totals = |values: Vec<i64>| {
            draft_state.teams.iter().zip(values).map(|(t, total_mmr)| TeamTotal { team_id: t.id, total_mmr }).collect()
        };
        Ok(Json(StyleMmrs { snake: totals(snake), normal: totals(normal) }))
    }
}
