//! `/api/games`: bracket games (organisers write).

use entity::{BracketType, GameStatus, game, team};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{Object, OpenApi};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use crate::auth::Session;
use crate::error::{ApiError, ApiResult};
use crate::pagination::{Page, PageRequest};
use crate::routes::{Created, Deleted, Tag, patch};
use crate::state::AppState;
use crate::views::games::{GameView, game_view, game_views};
use worker::domain::leagues::Scope;

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct GameCreate {
    pub tournament_id: Option<i64>,
    pub league_id: Option<i64>,
    /// Default 1.
    #[oai(validator(minimum(value = "1"), maximum(value = "1000")))]
    pub round: Option<i32>,
    /// Default 0.
    #[oai(validator(minimum(value = "0"), maximum(value = "10000")))]
    pub position: Option<i32>,
    /// Default winners.
    pub bracket_type: Option<BracketType>,
    /// Default pending.
    pub status: Option<GameStatus>,
    pub radiant_team_id: Option<i64>,
    pub dire_team_id: Option<i64>,
    pub winning_team_id: Option<i64>,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct GamePatch {
    #[oai(validator(minimum(value = "1"), maximum(value = "1000")))]
    pub round: Option<i32>,
    #[oai(validator(minimum(value = "0"), maximum(value = "10000")))]
    pub position: Option<i32>,
    pub bracket_type: Option<BracketType>,
    pub status: Option<GameStatus>,
    pub radiant_team_id: MaybeUndefined<i64>,
    pub dire_team_id: MaybeUndefined<i64>,
    pub winning_team_id: MaybeUndefined<i64>,
}

/// The sides of a game, as the rules see them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sides {
    pub radiant: Option<i64>,
    pub dire: Option<i64>,
    pub winner: Option<i64>,
}

/// A team cannot play itself, and only a side can win.
pub fn check_sides(sides: Sides) -> ApiResult<()> {
    if sides.radiant.is_some() && sides.radiant == sides.dire {
        return Err(ApiError::invalid("same_team", "radiant and dire must be different teams"));
    }
    if let Some(w) = sides.winner
        && Some(w) != sides.radiant
        && Some(w) != sides.dire
    {
        return Err(ApiError::invalid("winner_not_playing", "the winning team must be radiant or dire"));
    }
    Ok(())
}

/// Every team of the game (the winner too) exists and belongs to one
/// tournament — the game's, or for a game without one, the teams' own,
/// which the game joins — then the side rules. Returns the tournament.
async fn check_teams<C: ConnectionTrait>(db: &C, tournament_id: Option<i64>, sides: Sides) -> ApiResult<Option<i64>> {
    let mut tournament_id = tournament_id;
    for team_id in [sides.radiant, sides.dire, sides.winner].into_iter().flatten() {
        let team = team::Entity::find_by_id(team_id).one(db).await?;
        match (team, tournament_id) {
            (Some(t), Some(tid)) if t.tournament_id == tid => {}
            (Some(t), None) => tournament_id = Some(t.tournament_id),
            _ => {
                return Err(ApiError::unknown(
                    "unknown_team",
                    format!("team {team_id} is not a team of this tournament"),
                ));
            }
        }
    }
    check_sides(sides)?;
    Ok(tournament_id)
}

async fn find_game<C: ConnectionTrait>(db: &C, id: i64) -> ApiResult<game::Model> {
    game::Entity::find_by_id(id).one(db).await?.ok_or_else(|| ApiError::not_found("game"))
}

pub struct GamesApi;

#[OpenApi(tag = "Tag::Games")]
impl GamesApi {
    /// List games (by round, position, id), optionally of a tournament, league or status.
    #[oai(path = "/games", method = "get", operation_id = "listGames")]
    async fn list(
        &self,
        state: poem::web::Data<&AppState>,
        tournament_id: Query<Option<i64>>,
        league_id: Query<Option<i64>>,
        status: Query<Option<GameStatus>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))] page: Query<Option<u64>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] page_size: Query<Option<u64>>,
    ) -> ApiResult<Json<Page<GameView>>> {
        let req = PageRequest::new(page.0, page_size.0);
        let mut select = game::Entity::find()
            .order_by_asc(game::Column::Round)
            .order_by_asc(game::Column::Position)
            .order_by_asc(game::Column::Id);
        if let Some(t) = tournament_id.0 {
            select = select.filter(game::Column::TournamentId.eq(t));
        }
        if let Some(l) = league_id.0 {
            select = select.filter(game::Column::LeagueId.eq(l));
        }
        if let Some(s) = status.0 {
            select = select.filter(game::Column::Status.eq(s));
        }
        let (count, rows) = req.fetch(&state.db, select).await?;
        Ok(Json(req.wrap(count, game_views(&state.db, rows).await?)))
    }

    /// Create a game (organisers).
    #[oai(path = "/games", method = "post", operation_id = "createGame")]
    async fn create(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        body: Json<GameCreate>,
    ) -> ApiResult<Created<GameView>> {
        let body = body.0;
        if let Some(tid) = body.tournament_id {
            worker::domain::rosters::find_tournament(&state.db, tid)
                .await
                .map_err(|_| ApiError::unknown("unknown_tournament", "tournament_id does not exist"))?;
        }
        if let Some(lid) = body.league_id {
            crate::routes::leagues::find_league(&state, lid)
                .await
                .map_err(|_| ApiError::unknown("unknown_league", "league_id does not exist"))?;
        }
        match (body.tournament_id, body.league_id) {
            (Some(t), _) => viewer.require_organiser(&state, Scope::Tournament(t)).await?,
            (None, Some(l)) => viewer.require_organiser(&state, Scope::League(l)).await?,
            (None, None) => viewer.require_staff()?,
        };
        let sides = Sides { radiant: body.radiant_team_id, dire: body.dire_team_id, winner: body.winning_team_id };
        let tournament_id = check_teams(&state.db, body.tournament_id, sides).await?;
        if tournament_id != body.tournament_id
            && let Some(t) = tournament_id
        {
            // The teams' tournament decides who organises the game.
            viewer.require_organiser(&state, Scope::Tournament(t)).await?;
        }
        // A game's league is its tournament's (SPEC §24): another league given with it is refused.
        let league_id = match tournament_id {
            Some(t) => {
                let tournament_league = worker::domain::rosters::find_tournament(&state.db, t).await?.league_id;
                if body.league_id.is_some() && body.league_id != tournament_league {
                    return Err(ApiError::invalid(
                        "league_mismatch",
                        "a game's league is its tournament's: leave league_id out or give the tournament's",
                    )
                    .with_details(
                        serde_json::json!({ "field": "league_id", "tournament_league_id": tournament_league }),
                    ));
                }
                tournament_league
            }
            None => body.league_id,
        };
        let created = game::ActiveModel {
            tournament_id: Set(tournament_id),
            league_id: Set(league_id),
            round: Set(body.round.unwrap_or(1)),
            position: Set(body.position.unwrap_or(0)),
            bracket_type: Set(body.bracket_type.unwrap_or(BracketType::Winners)),
            status: Set(body.status.unwrap_or(GameStatus::Pending)),
            radiant_team_id: Set(sides.radiant),
            dire_team_id: Set(sides.dire),
            winning_team_id: Set(sides.winner),
            match_id: Set(None),
            ..Default::default()
        }
        .insert(&state.db)
        .await?;
        Ok(Created::Created(Json(game_view(&state.db, created).await?)))
    }

    /// One game.
    #[oai(path = "/games/:id", method = "get", operation_id = "getGame")]
    async fn get(&self, state: poem::web::Data<&AppState>, id: Path<i64>) -> ApiResult<Json<GameView>> {
        Ok(Json(game_view(&state.db, find_game(&state.db, id.0).await?).await?))
    }

    /// Change a game (organisers).
    #[oai(path = "/games/:id", method = "patch", operation_id = "updateGame")]
    async fn patch(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        id: Path<i64>,
        body: Json<GamePatch>,
    ) -> ApiResult<Json<GameView>> {
        viewer.require_organiser(&state, Scope::Game(id.0)).await?;
        let body = body.0;
        let g = find_game(&state.db, id.0).await?;
        let sides = Sides {
            radiant: patch(body.radiant_team_id).apply(g.radiant_team_id),
            dire: patch(body.dire_team_id).apply(g.dire_team_id),
            winner: patch(body.winning_team_id).apply(g.winning_team_id),
        };
        let tournament_id = check_teams(&state.db, g.tournament_id, sides).await?;
        if tournament_id != g.tournament_id
            && let Some(t) = tournament_id
        {
            viewer.require_organiser(&state, Scope::Tournament(t)).await?;
        }
        let mut active: game::ActiveModel = g.into();
        active.tournament_id = Set(tournament_id);
        if let Some(v) = body.round {
            active.round = Set(v);
        }
        if let Some(v) = body.position {
            active.position = Set(v);
        }
        if let Some(v) = body.bracket_type {
            active.bracket_type = Set(v);
        }
        if let Some(v) = body.status {
            active.status = Set(v);
        }
        active.radiant_team_id = Set(sides.radiant);
        active.dire_team_id = Set(sides.dire);
        active.winning_team_id = Set(sides.winner);
        let updated = active.update(&state.db).await?;
        Ok(Json(game_view(&state.db, updated).await?))
    }

    /// Delete a game (organisers); links of games that fed it are cleared.
    #[oai(path = "/games/:id", method = "delete", operation_id = "deleteGame")]
    async fn delete(&self, state: poem::web::Data<&AppState>, viewer: Session, id: Path<i64>) -> ApiResult<Deleted> {
        viewer.require_organiser(&state, Scope::Game(id.0)).await?;
        worker::domain::brackets::service::delete_game(&state.services, id.0).await?;
        Ok(Deleted::NoContent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn side_rules() {
        assert!(check_sides(Sides { radiant: Some(1), dire: Some(2), winner: Some(2) }).is_ok());
        assert_eq!(check_sides(Sides { radiant: Some(1), dire: Some(1), winner: None }).unwrap_err().code, "same_team");
        assert_eq!(
            check_sides(Sides { radiant: Some(1), dire: Some(2), winner: Some(3) }).unwrap_err().code,
            "winner_not_playing"
        );
        assert!(check_sides(Sides { radiant: None, dire: None, winner: None }).is_ok());
    }
}
