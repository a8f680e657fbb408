//! Captain's-Mode hero drafts (SPEC §10) over HTTP. The state machine is
//! `worker::domain::hero_draft::service`: each action commits, announces
//! its event to the draft's sockets and arms the next round's timeout.

use chrono::Utc;
use entity::{HeroDraftState, game, hero_draft};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi, Union};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use worker::domain::hero_draft::rules;
use worker::domain::hero_draft::service::{self, Choice};

use crate::auth::Session;
use crate::error::ApiResult;
use crate::pagination::{Page, PageRequest};
use crate::routes::{Created, Tag};
use crate::state::AppState;
use crate::views::herodrafts::{HeroDraftEventView, HeroDraftSummary, HeroDraftView, view};
use worker::domain::leagues::Scope;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum PickOrder {
    First,
    Second,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum Side {
    Radiant,
    Dire,
}

#[derive(Debug, Object)]
pub struct PickOrderChoice {
    pub value: PickOrder,
}

#[derive(Debug, Object)]
pub struct SideChoice {
    pub value: Side,
}

/// `{"choice_type": "pick_order", "value": "first"|"second"}` or
/// `{"choice_type": "side", "value": "radiant"|"dire"}`.
#[derive(Debug, Union)]
#[oai(discriminator_name = "choice_type")]
pub enum ChooseRequest {
    #[oai(mapping = "pick_order")]
    PickOrder(PickOrderChoice),
    #[oai(mapping = "side")]
    Side(SideChoice),
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct ActRequest {
    #[oai(validator(minimum(value = "1"), maximum(value = "1000")))]
    pub hero_id: i32,
}

#[derive(Debug, Object)]
pub struct AvailableHeroes {
    pub available_heroes: Vec<i32>,
}

/// The draft as it stands now, with who is connected.
async fn current(state: &AppState, id: i64) -> ApiResult<Json<HeroDraftView>> {
    Ok(Json(view(&service::load_live(&state.services, id, Utc::now()).await?)))
}

pub struct HeroDraftsApi;

#[OpenApi(tag = "Tag::Drafts")]
impl HeroDraftsApi {
    /// Create the hero draft of a game (organisers: staff or the league's admins); the game needs radiant and dire teams with captains.
    ///
    /// Errors: 409 `already_exists` (with the draft's `herodraft_id`), 409 `game_finished`.
    #[oai(path = "/games/:id/herodraft", method = "post", operation_id = "createHeroDraft")]
    async fn create(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        id: Path<i64>,
    ) -> ApiResult<Created<HeroDraftView>> {
        viewer.require_organiser(&state, Scope::Game(id.0)).await?;
        let draft_id = service::create(&state.services, id.0, Utc::now()).await?;
        Ok(Created::Created(current(&state, draft_id).await?))
    }

    /// Hero drafts, newest first, optionally of a tournament, a game or in a state.
    #[oai(path = "/herodrafts", method = "get", operation_id = "listHeroDrafts")]
    async fn list(
        &self,
        state: poem::web::Data<&AppState>,
        /// Only the drafts of this tournament's games.
        tournament_id: Query<Option<i64>>,
        /// Only the draft of this game.
        game_id: Query<Option<i64>>,
        /// Only drafts in this state.
        #[oai(name = "state")]
        draft_state: Query<Option<HeroDraftState>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))] page: Query<Option<u64>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] page_size: Query<Option<u64>>,
    ) -> ApiResult<Json<Page<HeroDraftSummary>>> {
        let req = PageRequest::new(page.0, page_size.0);
        let mut select = hero_draft::Entity::find().order_by_desc(hero_draft::Column::Id);
        if let Some(t) = tournament_id.0 {
            let games =
                game::Entity::find().select_only().column(game::Column::Id).filter(game::Column::TournamentId.eq(t));
            select = select.filter(hero_draft::Column::GameId.in_subquery(sea_orm::QueryTrait::into_query(games)));
        }
        if let Some(g) = game_id.0 {
            select = select.filter(hero_draft::Column::GameId.eq(g));
        }
        if let Some(s) = draft_state.0 {
            select = select.filter(hero_draft::Column::State.eq(s));
        }
        let (count, rows) = req.fetch(&state.db, select).await?;
        let games =
            game::Entity::find().filter(game::Column::Id.is_in(rows.iter().map(|d| d.game_id))).all(&state.db).await?;
        let summaries = rows
            .into_iter()
            .map(|d| HeroDraftSummary {
                tournament_id: games.iter().find(|g| g.id == d.game_id).and_then(|g| g.tournament_id),
                id: d.id,
                game_id: d.game_id,
                state: d.state,
                created_at: d.created_at,
                updated_at: d.updated_at,
            })
            .collect();
        Ok(Json(req.wrap(count, summaries)))
    }

    /// A hero draft.
    #[oai(path = "/herodrafts/:id", method = "get", operation_id = "getHeroDraft")]
    async fn get(&self, state: poem::web::Data<&AppState>, id: Path<i64>) -> ApiResult<Json<HeroDraftView>> {
        current(&state, id.0).await
    }

    /// A captain is ready; both ready → rolling.
    #[oai(path = "/herodrafts/:id/ready", method = "post", operation_id = "heroDraftReady")]
    async fn ready(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        id: Path<i64>,
    ) -> ApiResult<Json<HeroDraftView>> {
        service::ready(&state.services, id.0, viewer.user(), Utc::now()).await?;
        current(&state, id.0).await
    }

    /// A captain flips the coin.
    #[oai(path = "/herodrafts/:id/roll", method = "post", operation_id = "heroDraftRoll")]
    async fn roll(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        id: Path<i64>,
    ) -> ApiResult<Json<HeroDraftView>> {
        service::roll(&state.services, id.0, viewer.user(), rand::random::<bool>(), Utc::now()).await?;
        current(&state, id.0).await
    }

    /// The roll winner chooses pick order or side; the other captain gets the other choice.
    #[oai(path = "/herodrafts/:id/choose", method = "post", operation_id = "heroDraftChoose")]
    async fn choose(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        id: Path<i64>,
        body: Json<ChooseRequest>,
    ) -> ApiResult<Json<HeroDraftView>> {
        let choice = match body.0 {
            ChooseRequest::PickOrder(c) => Choice::PickOrder { first: c.value == PickOrder::First },
            ChooseRequest::Side(c) => Choice::Side { radiant: c.value == Side::Radiant },
        };
        service::choose(&state.services, id.0, viewer.user(), choice, Utc::now()).await?;
        current(&state, id.0).await
    }

    /// The active captain bans or picks a hero; 409 when it is not their turn or the draft moved on.
    #[oai(path = "/herodrafts/:id/act", method = "post", operation_id = "heroDraftAct")]
    async fn act(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        id: Path<i64>,
        body: Json<ActRequest>,
    ) -> ApiResult<Json<HeroDraftView>> {
        service::act(&state.services, id.0, viewer.user(), body.0.hero_id, Utc::now()).await?;
        current(&state, id.0).await
    }

    /// Pause a running draft (a captain, a few times per draft; or an organiser).
    #[oai(path = "/herodrafts/:id/pause", method = "post", operation_id = "heroDraftPause")]
    async fn pause(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        id: Path<i64>,
    ) -> ApiResult<Json<HeroDraftView>> {
        let organiser = viewer.organises(&state, Scope::HeroDraft(id.0)).await?;
        service::pause(&state.services, id.0, viewer.user(), organiser, Utc::now()).await?;
        current(&state, id.0).await
    }

    /// Resume after the countdown (a captain or an organiser); the clock gives back the time paused.
    #[oai(path = "/herodrafts/:id/resume", method = "post", operation_id = "heroDraftResume")]
    async fn resume(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        id: Path<i64>,
    ) -> ApiResult<Json<HeroDraftView>> {
        let organiser = viewer.organises(&state, Scope::HeroDraft(id.0)).await?;
        service::resume(&state.services, id.0, viewer.user(), organiser, Utc::now()).await?;
        current(&state, id.0).await
    }

    /// Abandon an unfinished draft (a captain or an organiser).
    #[oai(path = "/herodrafts/:id/abandon", method = "post", operation_id = "heroDraftAbandon")]
    async fn abandon(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        id: Path<i64>,
    ) -> ApiResult<Json<HeroDraftView>> {
        let organiser = viewer.organises(&state, Scope::HeroDraft(id.0)).await?;
        service::abandon(&state.services, id.0, viewer.user(), organiser, Utc::now()).await?;
        current(&state, id.0).await
    }

    /// Start over (organisers).
    #[oai(path = "/herodrafts/:id/reset", method = "post", operation_id = "heroDraftReset")]
    async fn reset(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        id: Path<i64>,
    ) -> ApiResult<Json<HeroDraftView>> {
        viewer.require_organiser(&state, Scope::HeroDraft(id.0)).await?;
        service::reset(&state.services, id.0, Utc::now()).await?;
        current(&state, id.0).await
    }

    /// The draft's events, oldest first (one per action), paginated like every event list; `after`
    /// skips those up to that event id.
    #[oai(path = "/herodrafts/:id/events", method = "get", operation_id = "listHeroDraftEvents")]
    async fn events(
        &self,
        state: poem::web::Data<&AppState>,
        id: Path<i64>,
        #[oai(validator(minimum(value = "0")))] after: Query<Option<i64>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))] page: Query<Option<u64>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] page_size: Query<Option<u64>>,
    ) -> ApiResult<Json<Page<HeroDraftEventView>>> {
        use entity::hero_draft_event::{Column, Entity};
        service::snapshot(&state.db, id.0).await?;
        let req = PageRequest::new(page.0, page_size.0);
        Ok(Json(req.events::<Entity, _, _>(&state.db, (Column::HeroDraftId, id.0), Column::Id, after.0).await?))
    }

    /// Heroes still available.
    #[oai(path = "/herodrafts/:id/heroes", method = "get", operation_id = "listAvailableHeroes")]
    async fn heroes(&self, state: poem::web::Data<&AppState>, id: Path<i64>) -> ApiResult<Json<AvailableHeroes>> {
        let full = service::snapshot(&state.db, id.0).await?;
        Ok(Json(AvailableHeroes {
            available_heroes: rules::available(&rules::default_hero_pool(), &full.used_heroes()),
        }))
    }
}
