//! Captain's-Mode hero drafts (SPEC §10) over HTTP. The state machine is
//! `worker::herodraft::service`; each round's timeout is a delayed job, so
//! it fires with no client connected and whichever instance started it.

use chrono::{DateTime, Utc};
use entity::{HeroActionType, HeroDraftState, HeroRoundState, hero_draft_event};
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use worker::herodraft::rules;
use worker::herodraft::service::{self, Choice, HeroDraftError, HeroDraftFull};

use crate::auth::Viewer;
use crate::error::{ApiError, ApiResult};
use crate::routes::{Created, Tag};
use crate::state::AppState;

#[derive(Debug, Object)]
pub struct HeroDraftTeamView {
    pub id: i64,
    /// The tournament team.
    pub team_id: i64,
    #[oai(nullable)]
    pub captain_id: Option<i64>,
    #[oai(nullable)]
    pub is_first_pick: Option<bool>,
    #[oai(nullable)]
    pub is_radiant: Option<bool>,
    pub reserve_time_remaining_ms: i64,
    pub is_ready: bool,
    pub is_connected: bool,
}

#[derive(Debug, Object)]
pub struct HeroRoundView {
    pub round_number: i32,
    /// The tournament team acting.
    pub team_id: i64,
    pub action_type: HeroActionType,
    #[oai(nullable)]
    pub hero_id: Option<i32>,
    pub state: HeroRoundState,
    #[oai(nullable)]
    pub started_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub completed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Object)]
pub struct HeroDraftView {
    pub id: i64,
    pub game_id: i64,
    pub state: HeroDraftState,
    pub version: i64,
    #[oai(nullable)]
    pub roll_winner_team_id: Option<i64>,
    pub teams: Vec<HeroDraftTeamView>,
    pub rounds: Vec<HeroRoundView>,
}

#[derive(Debug, Object)]
pub struct HeroDraftEventView {
    pub id: i64,
    pub event_type: String,
    #[oai(nullable)]
    pub hero_draft_team_id: Option<i64>,
    pub metadata: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

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

pub fn api_error(err: HeroDraftError) -> ApiError {
    match err {
        HeroDraftError::NotFound(what) => ApiError::not_found(what),
        HeroDraftError::Forbidden(message) => ApiError::forbidden(message),
        HeroDraftError::Conflict(code, message) => ApiError::conflict(code, message),
        HeroDraftError::Invalid(code, message) => ApiError::invalid(code, message),
        HeroDraftError::Db(db) => db.into(),
    }
}

pub fn view(full: HeroDraftFull) -> HeroDraftView {
    let team_of = |draft_team: i64| full.teams.iter().find(|(d, _)| d.id == draft_team).map_or(0, |(_, t)| t.id);
    HeroDraftView {
        id: full.draft.id,
        game_id: full.draft.game_id,
        state: full.draft.state,
        version: full.draft.version,
        roll_winner_team_id: full.draft.roll_winner_team_id,
        rounds: full
            .rounds
            .iter()
            .map(|r| HeroRoundView {
                round_number: r.round_number,
                team_id: team_of(r.hero_draft_team_id),
                action_type: r.action_type,
                hero_id: r.hero_id,
                state: r.state,
                started_at: r.started_at,
                completed_at: r.completed_at,
            })
            .collect(),
        teams: full
            .teams
            .iter()
            .map(|(d, t)| HeroDraftTeamView {
                id: d.id,
                team_id: t.id,
                captain_id: t.captain_id,
                is_first_pick: d.is_first_pick,
                is_radiant: d.is_radiant,
                reserve_time_remaining_ms: d.reserve_time_remaining_ms,
                is_ready: d.is_ready,
                is_connected: d.is_connected,
            })
            .collect(),
    }
}

async fn current(state: &AppState, id: i64) -> ApiResult<Json<HeroDraftView>> {
    Ok(Json(view(service::load(&state.db, id).await.map_err(api_error)?)))
}

/// The state after a change, announced to every socket of the draft.
async fn changed(state: &AppState, id: i64) -> ApiResult<Json<HeroDraftView>> {
    crate::realtime::herodraft_changed(state, id).await;
    current(state, id).await
}

/// Enqueues the timeout of the round that just started.
async fn arm_timeout(state: &AppState, id: i64, round: Option<i32>) {
    if let Some(round) = round
        && let Err(err) = worker::jobs::herodraft_timeout::schedule(&state.jobs.enqueuer, id, round).await
    {
        tracing::error!(error = %err, draft = id, round, "hero-draft timeout not scheduled");
    }
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
        let draft_id =
            service::create(&state.db, id.0, state.jobs.settings.herodraft_clock()).await.map_err(api_error)?;
        Ok(Created::Created(changed(&state, draft_id).await?))
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
        service::ready(&state.db, id.0, viewer.require_user()?, Utc::now()).await.map_err(api_error)?;
        changed(&state, id.0).await
    }

    /// A captain flips the coin.
    #[oai(path = "/herodrafts/:id/roll", method = "post")]
    async fn roll(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Viewer,
        id: Path<i64>,
    ) -> ApiResult<Json<HeroDraftView>> {
        service::roll(&state.db, id.0, viewer.require_user()?, rand::random::<bool>(), Utc::now())
            .await
            .map_err(api_error)?;
        changed(&state, id.0).await
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
        let clock = state.jobs.settings.herodraft_clock();
        let started = service::choose(&state.db, id.0, viewer.require_user()?, choice, clock, Utc::now())
            .await
            .map_err(api_error)?;
        arm_timeout(&state, id.0, started).await;
        changed(&state, id.0).await
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
        let pool = rules::default_hero_pool();
        let next = service::act(&state.db, id.0, viewer.require_user()?, body.0.hero_id, &pool, Utc::now())
            .await
            .map_err(api_error)?;
        arm_timeout(&state, id.0, next).await;
        changed(&state, id.0).await
    }

    /// Pause a running draft (a captain or staff).
    #[oai(path = "/herodrafts/:id/pause", method = "post")]
    async fn pause(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Viewer,
        id: Path<i64>,
    ) -> ApiResult<Json<HeroDraftView>> {
        service::pause(&state.db, id.0, viewer.require_user()?, Utc::now()).await.map_err(api_error)?;
        changed(&state, id.0).await
    }

    /// Resume after the countdown (a captain or staff); the clock gives back the time paused.
    #[oai(path = "/herodrafts/:id/resume", method = "post")]
    async fn resume(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Viewer,
        id: Path<i64>,
    ) -> ApiResult<Json<HeroDraftView>> {
        let clock = state.jobs.settings.herodraft_clock();
        let round =
            service::resume(&state.db, id.0, viewer.require_user()?, clock, Utc::now()).await.map_err(api_error)?;
        arm_timeout(&state, id.0, round).await;
        changed(&state, id.0).await
    }

    /// Abandon an unfinished draft (a captain or staff).
    #[oai(path = "/herodrafts/:id/abandon", method = "post")]
    async fn abandon(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Viewer,
        id: Path<i64>,
    ) -> ApiResult<Json<HeroDraftView>> {
        service::abandon(&state.db, id.0, viewer.require_user()?, Utc::now()).await.map_err(api_error)?;
        changed(&state, id.0).await
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
        service::reset(&state.db, id.0, state.jobs.settings.herodraft_clock(), Utc::now()).await.map_err(api_error)?;
        changed(&state, id.0).await
    }

    /// The draft's events, oldest first (one per action).
    #[oai(path = "/herodrafts/:id/events", method = "get")]
    async fn events(
        &self,
        state: poem::web::Data<&AppState>,
        id: Path<i64>,
    ) -> ApiResult<Json<Vec<HeroDraftEventView>>> {
        service::load(&state.db, id.0).await.map_err(api_error)?;
        let rows = hero_draft_event::Entity::find()
            .filter(hero_draft_event::Column::HeroDraftId.eq(id.0))
            .order_by_asc(hero_draft_event::Column::Id)
            .all(&state.db)
            .await?;
        Ok(Json(
            rows.into_iter()
                .map(|e| HeroDraftEventView {
                    id: e.id,
                    event_type: e.event_type,
                    hero_draft_team_id: e.hero_draft_team_id,
                    metadata: e.metadata,
                    created_at: e.created_at,
                })
                .collect(),
        ))
    }

    /// Heroes still available.
    #[oai(path = "/herodrafts/:id/heroes", method = "get")]
    async fn heroes(&self, state: poem::web::Data<&AppState>, id: Path<i64>) -> ApiResult<Json<AvailableHeroes>> {
        let full = service::load(&state.db, id.0).await.map_err(api_error)?;
        Ok(Json(AvailableHeroes {
            available_heroes: rules::available(&rules::default_hero_pool(), &full.used_heroes()),
        }))
    }
}
