//! Tournaments: the list summary and the detail with players and teams.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{TournamentState, TournamentType, team, tournament, tournament_user, user};
use poem_openapi::Object;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, ExprTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect,
};
use worker::domain::rosters::find_tournament;

use crate::error::ApiResult;
use crate::views::teams::{TeamView, team_views};
use crate::views::users::UserView;

#[derive(Debug, Clone, Object)]
pub struct TournamentSummary {
    pub id: i64,
    pub name: String,
    pub date_played: DateTime<Utc>,
    pub timezone: String,
    pub state: TournamentState,
    pub tournament_type: TournamentType,
    #[oai(nullable)]
    pub league_id: Option<i64>,
    #[oai(nullable)]
    pub winning_team_id: Option<i64>,
    /// Players in the pool.
    pub user_count: u64,
}

#[derive(Debug, Clone, Object)]
pub struct TournamentDetail {
    #[oai(flatten)]
    pub summary: TournamentSummary,
    /// The player pool, by id.
    pub users: Vec<UserView>,
    /// Teams by draft order.
    pub teams: Vec<TeamView>,
}

#[derive(FromQueryResult)]
struct PoolSize {
    tournament_id: i64,
    players: i64,
}

pub async fn summaries<C: ConnectionTrait>(db: &C, rows: Vec<tournament::Model>) -> ApiResult<Vec<TournamentSummary>> {
    let ids: Vec<i64> = rows.iter().map(|t| t.id).collect();
    let sizes: HashMap<i64, i64> = tournament_user::Entity::find()
        .select_only()
        .column(tournament_user::Column::TournamentId)
        .column_as(Expr::col(tournament_user::Column::UserId).count(), "players")
        .filter(tournament_user::Column::TournamentId.is_in(ids))
        .group_by(tournament_user::Column::TournamentId)
        .into_model::<PoolSize>()
        .all(db)
        .await?
        .into_iter()
        .map(|s| (s.tournament_id, s.players))
        .collect();
    Ok(rows
        .into_iter()
        .map(|t| TournamentSummary {
            user_count: u64::try_from(sizes.get(&t.id).copied().unwrap_or(0)).unwrap_or(0),
            id: t.id,
            name: t.name,
            date_played: t.date_played,
            timezone: t.timezone,
            state: t.state,
            tournament_type: t.tournament_type,
            league_id: t.league_id,
            winning_team_id: t.winning_team_id,
        })
        .collect())
}

/// The detail of a tournament, in a fixed number of queries.
pub async fn detail<C: ConnectionTrait>(db: &C, id: i64) -> ApiResult<TournamentDetail> {
    let t = find_tournament(db, id).await?;
    let player_ids: Vec<i64> = tournament_user::Entity::find()
        .filter(tournament_user::Column::TournamentId.eq(id))
        .all(db)
        .await?
        .into_iter()
        .map(|p| p.user_id)
        .collect();
    let users =
        user::Entity::find().filter(user::Column::Id.is_in(player_ids)).order_by_asc(user::Column::Id).all(db).await?;
    let teams = team::Entity::find()
        .filter(team::Column::TournamentId.eq(id))
        .order_by_asc(team::Column::DraftOrder)
        .order_by_asc(team::Column::Id)
        .all(db)
        .await?;
    Ok(TournamentDetail {
        summary: summaries(db, vec![t]).await?.remove(0),
        users: users.iter().map(UserView::public).collect(),
        teams: team_views(db, teams).await?,
    })
}
