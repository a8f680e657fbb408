//! Brackets and results (SPEC §17): generate a bracket, record and take back
//! results, link Steam matches (which record results too), suggestions, and
//! the bracket with its standings. The rules and the advancing live in
//! `worker::domain::brackets`.

use chrono::{DateTime, Utc};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi};
use worker::domain::brackets::seeding::Seeding;
use worker::domain::brackets::service::{self, BracketRequest, Format, ResultSource};

use crate::auth::Session;
use crate::error::ApiResult;
use crate::pagination::{Page, PageRequest};
use crate::routes::{Created, Tag};
use crate::state::AppState;
use crate::views::brackets::BracketEventView;
use crate::views::games::{GameView, game_view, game_views};
use worker::domain::leagues::Scope;

/// A bracket format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum BracketFormat {
    SingleElimination,
    DoubleElimination,
    Swiss,
}

/// How teams are seeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum SeedingMethod {
    /// Team total MMR (captain + members), descending; ties by draft order, then id.
    Mmr,
    DraftOrder,
}

/// Every option has one meaning whatever the others say, so any body the
/// document accepts is a bracket: `seeds` (when given) is the seeding, and
/// an option of another format does not apply.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct BracketCreate {
    pub format: BracketFormat,
    /// How to seed when `seeds` is not given; default `mmr`.
    pub seeding: Option<SeedingMethod>,
    /// Manual seeding: every team id of the tournament, once each, best first (409 otherwise).
    #[oai(validator(max_items = 256, unique_items))]
    pub seeds: Option<Vec<i64>>,
    /// Swiss rounds (default ⌈log2 teams⌉); other formats do not use it.
    #[oai(validator(minimum(value = "1"), maximum(value = "20")))]
    pub swiss_rounds: Option<u32>,
    /// Double elimination: a second grand final if the losers' champion wins the first (default false);
    /// other formats do not use it.
    pub grand_final_reset: Option<bool>,
}

#[derive(Debug, Object)]
pub struct StandingView {
    pub team_id: i64,
    pub wins: u32,
    pub losses: u32,
    /// Swiss: the sum of opponents' wins.
    #[oai(skip_serializing_if_is_none)]
    pub buchholz: Option<u32>,
    #[oai(nullable)]
    pub placement: Option<i32>,
}

#[derive(Debug, Object)]
pub struct BracketView {
    /// Null before a bracket is generated.
    #[oai(nullable)]
    pub format: Option<BracketFormat>,
    /// By bracket (winners/swiss, losers, grand finals), round, position.
    pub games: Vec<GameView>,
    pub standings: Vec<StandingView>,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct ResultRequest {
    /// The radiant or the dire team of the game.
    pub winning_team_id: i64,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct LinkMatch {
    /// A stored Steam match (of a synced league).
    pub match_id: i64,
}

/// How well a match fits a game's rosters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum MatchTier {
    AllPlayers,
    CaptainsPlus,
    CaptainsOnly,
    Partial,
}

#[derive(Debug, Object)]
pub struct MatchSuggestion {
    pub match_id: i64,
    pub start_time: DateTime<Utc>,
    pub radiant_win: bool,
    /// Registered players of the team that sat radiant, found on radiant.
    pub radiant_overlap: u32,
    /// Registered players of the team that sat dire, found on dire.
    pub dire_overlap: u32,
    /// Whether the game's radiant team played radiant (false: sides swapped in the lobby).
    pub as_scheduled: bool,
    pub tier: MatchTier,
}

fn format_of(f: Format) -> BracketFormat {
    match f {
        Format::SingleElimination => BracketFormat::SingleElimination,
        Format::DoubleElimination => BracketFormat::DoubleElimination,
        Format::Swiss => BracketFormat::Swiss,
    }
}

async fn bracket_view(state: &AppState, tournament_id: i64) -> ApiResult<BracketView> {
    let bracket = service::bracket_of(&state.db, tournament_id).await?;
    Ok(BracketView {
        format: bracket.config.map(|c| format_of(c.format)),
        games: game_views(&state.db, bracket.games).await?,
        standings: bracket
            .standings
            .into_iter()
            .map(|s| StandingView {
                team_id: s.team_id,
                wins: s.wins,
                losses: s.losses,
                buchholz: s.buchholz,
                placement: s.placement,
            })
            .collect(),
    })
}

pub struct BracketsApi;

#[OpenApi(tag = "Tag::Games")]
impl BracketsApi {
    /// Generate (or replace) the tournament's bracket from its teams (organisers).
    ///
    /// Errors: 409 `not_enough_teams`, 409 `bracket_has_results` (take results back first).
    #[oai(path = "/tournaments/:id/bracket", method = "post", operation_id = "generateBracket")]
    async fn generate(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        id: Path<i64>,
        body: Json<BracketCreate>,
    ) -> ApiResult<Created<BracketView>> {
        viewer.require_organiser(&state, Scope::Tournament(id.0)).await?;
        let body = body.0;
        let seeding = match (body.seeds, body.seeding.unwrap_or(SeedingMethod::Mmr)) {
            (Some(seeds), _) => Seeding::Manual(seeds),
            (None, SeedingMethod::Mmr) => Seeding::Mmr,
            (None, SeedingMethod::DraftOrder) => Seeding::DraftOrder,
        };
        let format = match body.format {
            BracketFormat::SingleElimination => Format::SingleElimination,
            BracketFormat::DoubleElimination => Format::DoubleElimination,
            BracketFormat::Swiss => Format::Swiss,
        };
        let request = BracketRequest {
            format,
            seeding,
            swiss_rounds: body.swiss_rounds.filter(|_| format == Format::Swiss),
            grand_final_reset: body.grand_final_reset.unwrap_or(false) && format == Format::DoubleElimination,
        };
        service::generate(&state.services, id.0, request).await?;
        Ok(Created::Created(Json(bracket_view(&state, id.0).await?)))
    }

    /// The tournament's bracket: games with their links, and the standings.
    #[oai(path = "/tournaments/:id/bracket", method = "get", operation_id = "getBracket")]
    async fn get(&self, state: poem::web::Data<&AppState>, id: Path<i64>) -> ApiResult<Json<BracketView>> {
        Ok(Json(bracket_view(&state, id.0).await?))
    }

    /// The tournament's bracket events (generated, results recorded and taken back), oldest first,
    /// paginated like every event list; `after` skips those up to that event id (for clients catching up).
    #[oai(path = "/tournaments/:id/bracket/events", method = "get", operation_id = "listBracketEvents")]
    async fn events(
        &self,
        state: poem::web::Data<&AppState>,
        id: Path<i64>,
        #[oai(validator(minimum(value = "0")))] after: Query<Option<i64>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))] page: Query<Option<u64>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] page_size: Query<Option<u64>>,
    ) -> ApiResult<Json<Page<BracketEventView>>> {
        use entity::bracket_event::{Column, Entity};
        worker::domain::rosters::find_tournament(&state.db, id.0).await?;
        let req = PageRequest::new(page.0, page_size.0);
        Ok(Json(req.events::<Entity, _, _>(&state.db, (Column::TournamentId, id.0), Column::Id, after.0).await?))
    }

    /// Record a game's result (organisers): the winner and loser move on, the tournament closes after its last game.
    ///
    /// Errors: 422 `not_in_game` (the winner is not one of the game's teams), 409 `game_not_ready` (a team is
    /// missing), 409 `already_decided`.
    #[oai(path = "/games/:id/result", method = "post", operation_id = "recordResult")]
    async fn record(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        id: Path<i64>,
        body: Json<ResultRequest>,
    ) -> ApiResult<Json<GameView>> {
        viewer.require_organiser(&state, Scope::Game(id.0)).await?;
        let g = service::record_result(&state.services, id.0, body.0.winning_team_id, ResultSource::Manual).await?;
        Ok(Json(game_view(&state.db, g).await?))
    }

    /// Take a result back (organisers) while no game it fed has a result.
    #[oai(path = "/games/:id/result", method = "delete", operation_id = "undoResult")]
    async fn undo(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        id: Path<i64>,
    ) -> ApiResult<Json<GameView>> {
        viewer.require_organiser(&state, Scope::Game(id.0)).await?;
        let g = service::undo_result(&state.services, id.0).await?;
        Ok(Json(game_view(&state.db, g).await?))
    }

    /// Link a stored Steam match to a game (organisers): the result follows from the side each roster sat on.
    ///
    /// Errors: 422 `unknown_match` (sync the league first), 422 `rosters_do_not_match`, 409 `match_excluded`,
    /// 409 `match_already_linked` (to another game).
    #[oai(path = "/games/:id/link-match", method = "post", operation_id = "linkMatch")]
    async fn link(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        id: Path<i64>,
        body: Json<LinkMatch>,
    ) -> ApiResult<Json<GameView>> {
        viewer.require_organiser(&state, Scope::Game(id.0)).await?;
        let g = service::link_match(&state.services, id.0, body.0.match_id, ResultSource::Linked).await?;
        Ok(Json(game_view(&state.db, g).await?))
    }

    /// Unlink the game's Steam match (organisers), taking back the result it recorded.
    #[oai(path = "/games/:id/link-match", method = "delete", operation_id = "unlinkMatch")]
    async fn unlink(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        id: Path<i64>,
    ) -> ApiResult<Json<GameView>> {
        viewer.require_organiser(&state, Scope::Game(id.0)).await?;
        let g = service::unlink_match(&state.services, id.0).await?;
        Ok(Json(game_view(&state.db, g).await?))
    }

    /// Stored matches of the game's league ranked by how well the game's rosters fit them (at most
    /// 20; logged in).
    #[oai(path = "/games/:id/match-suggestions", method = "get", operation_id = "listMatchSuggestions")]
    async fn suggestions(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        id: Path<i64>,
    ) -> ApiResult<Json<Vec<MatchSuggestion>>> {
        viewer.require_user()?;
        let found = service::suggestions(&state.db, id.0, 20).await?;
        Ok(Json(
            found
                .into_iter()
                .map(|s| MatchSuggestion {
                    match_id: s.match_id,
                    start_time: s.start_time,
                    radiant_win: s.radiant_win,
                    radiant_overlap: s.fit.radiant_overlap as u32,
                    dire_overlap: s.fit.dire_overlap as u32,
                    as_scheduled: s.fit.as_scheduled,
                    tier: match s.fit.tier() {
                        worker::domain::brackets::linking::Tier::AllPlayers => MatchTier::AllPlayers,
                        worker::domain::brackets::linking::Tier::CaptainsPlus => MatchTier::CaptainsPlus,
                        worker::domain::brackets::linking::Tier::CaptainsOnly => MatchTier::CaptainsOnly,
                        worker::domain::brackets::linking::Tier::Partial => MatchTier::Partial,
                    },
                })
                .collect(),
        ))
    }
}
