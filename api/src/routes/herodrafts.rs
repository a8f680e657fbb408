//! Captain's-Mode hero drafts (SPEC §10) over HTTP. The state machine is
//! `worker::domain::hero_draft::service`: each action commits, announces
//! its event to the draft's sockets and arms the next round's timeout.

use chrono::Utc;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi};
use worker::domain::hero_draft::rules;
use worker::domain::hero_draft::service::{self, Choice};

use crate::auth::Viewer;
use crate::error::{ApiError, ApiResult};
use crate::routes::{Created, Tag};
use crate::state::AppState;
use crate::views::herodrafts::{HeroDraftEventView, HeroDraftView, view};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ChoiceType {
    PickOrder,
    Side,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ChoiceValue {
    First,
    Second,
    Radiant,
    Dire,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct ChooseRequest {
    pub choice_type: ChoiceType,
    pub value: ChoiceValue,
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
    /// Create the hero draft of a game (staff); the game needs radiant and dire teams with captains.
    #[oai(path = "/games/:id/herodraft", method = "post")]
    async fn create(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Viewer,
        id: Path<i64>,
    ) -> ApiResult<Created<HeroDraftView>> {
        viewer.require_staff()?;
        let draft_id = service::create(&state.services, id.0, Utc::now()).await?;
        Ok(Created::Created(current(&state, draft_id).await?))
    }

    /// A hero draft.
    #[oai(path = "/herodrafts/:id", method = "get")]
    async fn get(&self, state: poem::web::Data<&AppState>, id: Path<i64>) -> ApiResult<Json<HeroDraftView>> {
        current(&state, id.0).await
    }

    /// A captain is ready; both ready → rolling.
    #[oai(path = "/herodrafts/:id/ready", method = "post")]
    async fn ready(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Viewer,
        id: Path<i64>,
    ) -> ApiResult<Json<HeroDraftView>> {
        service::ready(&state.services, id.0, viewer.require_user()?, Utc::now()).await?;
        current(&state, id.0).await
    }

    /// A captain flips the coin.
    #[oai(path = "/herodrafts/:id/roll", method = "post")]
    async fn roll(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Viewer,
        id: Path<i64>,
    ) -> ApiResult<Json<HeroDraftView>> {
        service::roll(&state.services, id.0, viewer.require_user()?, rand::random::<bool>(), Utc::now()).await?;
        current(&state, id.0).await
    }

    /// The roll winner chooses pick order or side; the other captain gets the other choice.
    #[oai(path = "/herodrafts/:id/choose", method = "post")]
    async fn choose(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Viewer,
        id: Path<i64>,
        body: Json<ChooseRequest>,
    ) -> ApiResult<Json<HeroDraftView>> {
        let choice = match (body.0.choice_type, body.0.value) {
            (ChoiceType::PickOrder, ChoiceValue::First) => Choice::PickOrder { first: true },
            (ChoiceType::PickOrder, ChoiceValue::Second) => Choice::PickOrder { first: false },
            (ChoiceType::Side, ChoiceValue::Radiant) => Choice::Side { radiant: true },
            (ChoiceType::Side, ChoiceValue::Dire) => Choice::Side { radiant: false },
            _ => {
                return Err(ApiError::invalid(
                    "invalid_choice",
                    "pick_order takes first|second, side takes radiant|dire",
                ));
            }
        };
        service::choose(&state.services, id.0, viewer.require_user()?, choice, Utc::now()).await?;
        current(&state, id.0).await
    }

    /// The active captain bans or picks a hero; 409 when it is not their turn or the draft moved on.
    #[oai(path = "/herodrafts/:id/act", method = "post")]
    async fn act(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Viewer,
        id: Path<i64>,
        body: Json<ActRequest>,
    ) -> ApiResult<Json<HeroDraftView>> {
        service::act(&state.services, id.0, viewer.require_user()?, body.0.hero_id, Utc::now()).await?;
        current(&state, id.0).await
    }

    /// Pause a running draft (a captain or staff).
    #[oai(path = "/herodrafts/:id/pause", method = "post")]
    async fn pause(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Viewer,
        id: Path<i64>,
    ) -> ApiResult<Json<HeroDraftView>> {
        service::pause(&state.services, id.0, viewer.require_user()?, Utc::now()).await?;
        current(&state, id.0).await
    }

    /// Resume after the countdown (a captain or staff); the clock gives back the time paused.
    #[oai(path = "/herodrafts/:id/resume", method = "post")]
    async fn resume(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Viewer,
        id: Path<i64>,
    ) -> ApiResult<Json<HeroDraftView>> {
        service::resume(&state.services, id.0, viewer.require_user()?, Utc::now()).await?;
        current(&state, id.0).await
    }

    /// Abandon an unfinished draft (a captain or staff).
    #[oai(path = "/herodrafts/:id/abandon", method = "post")]
    async fn abandon(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Viewer,
        id: Path<i64>,
    ) -> ApiResult<Json<HeroDraftView>> {
        service::abandon(&state.services, id.0, viewer.require_user()?, Utc::now()).await?;
        current(&state, id.0).await
    }

    /// Start over (staff).
    #[oai(path = "/herodrafts/:id/reset", method = "post")]
    async fn reset(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Viewer,
        id: Path<i64>,
    ) -> ApiResult<Json<HeroDraftView>> {
        viewer.require_staff()?;
        service::reset(&state.services, id.0, Utc::now()).await?;
        current(&state, id.0).await
    }

    /// The draft's events, oldest first (one per action); `after` skips those up to that event id.
    #[oai(path = "/herodrafts/:id/events", method = "get")]
    async fn events(
        &self,
        state: poem::web::Data<&AppState>,
        id: Path<i64>,
        #[oai(validator(minimum(value = "0")))] after: Query<Option<i64>>,
    ) -> ApiResult<Json<Vec<HeroDraftEventView>>> {
        service::load(&state.db, id.0).await?;
        // A draft has at most ~30 events (one per action), so the whole list fits one answer.
        let rows = service::events_after(&state.db, id.0, after.0.unwrap_or(0), 1_000).await?;
        Ok(Json(rows.into_iter().map(Into::into).collect()))
    }

    /// Heroes still available.
    #[oai(path = "/herodrafts/:id/heroes", method = "get")]
    async fn heroes(&self, state: poem::web::Data<&AppState>, id: Path<i64>) -> ApiResult<Json<AvailableHeroes>> {
        let full = service::load(&state.db, id.0).await?;
        Ok(Json(AvailableHeroes {
            available_heroes: rules::available(&rules::default_hero_pool(), &full.used_heroes()),
        }))
    }
}
