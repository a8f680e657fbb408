//! Leagues and who organises them (SPEC §18). Staff organise everything; a
//! league admin organises the tournaments of their league — tournaments,
//! teams, games, drafts, hero drafts, results, match links, match exclusions — and may enqueue
//! that league's sync; nothing elsewhere, never roles or users.

use chrono::Utc;
use entity::{draft, game, hero_draft, league, league_admin, steam_match, team, tournament, user};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use crate::domain::{DomainError, DomainResult, Services};

/// What an organiser acts on; each leads to (at most) one league.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// A league by its internal id.
    League(i64),
    /// A league by its Steam league id.
    SteamLeague(i64),
    Tournament(i64),
    Team(i64),
    Game(i64),
    Draft(i64),
    HeroDraft(i64),
    /// A stored Steam match: its Steam league's league, if one is registered.
    Match(i64),
}

/// The league (internal id) a scope belongs to; `None` outside any league.
/// A scope that does not exist is `NotFound`.
pub async fn league_of<C: ConnectionTrait>(db: &C, scope: Scope) -> DomainResult<Option<i64>> {
    let tournament_league =
        |t: Option<tournament::Model>| t.ok_or(DomainError::NotFound("tournament")).map(|t| t.league_id);
    match scope {
        Scope::League(id) => {
            Ok(Some(league::Entity::find_by_id(id).one(db).await?.ok_or(DomainError::NotFound("league"))?.id))
        }
        Scope::SteamLeague(steam) => Ok(Some(find_by_steam_id(db, steam).await?.id)),
        Scope::Tournament(id) => tournament_league(tournament::Entity::find_by_id(id).one(db).await?),
        Scope::Team(id) => {
            let t = team::Entity::find_by_id(id).one(db).await?.ok_or(DomainError::NotFound("team"))?;
            tournament_league(tournament::Entity::find_by_id(t.tournament_id).one(db).await?)
        }
        Scope::Game(id) => {
            let g = game::Entity::find_by_id(id).one(db).await?.ok_or(DomainError::NotFound("game"))?;
            match g.tournament_id {
                Some(t) => tournament_league(tournament::Entity::find_by_id(t).one(db).await?),
                None => Ok(g.league_id),
            }
        }
        Scope::Draft(id) => {
            let d = draft::Entity::find_by_id(id).one(db).await?.ok_or(DomainError::NotFound("draft"))?;
            tournament_league(tournament::Entity::find_by_id(d.tournament_id).one(db).await?)
        }
        Scope::HeroDraft(id) => {
            let d = hero_draft::Entity::find_by_id(id).one(db).await?.ok_or(DomainError::NotFound("hero draft"))?;
            Box::pin(league_of(db, Scope::Game(d.game_id))).await
        }
        Scope::Match(id) => {
            let m = steam_match::Entity::find_by_id(id).one(db).await?.ok_or(DomainError::NotFound("match"))?;
            Ok(by_steam_id(db, m.league_id).await?.map(|l| l.id))
        }
    }
}

pub async fn is_admin<C: ConnectionTrait>(db: &C, user_id: i64, league_id: i64) -> DomainResult<bool> {
    Ok(league_admin::Entity::find()
        .filter(league_admin::Column::LeagueId.eq(league_id))
        .filter(league_admin::Column::UserId.eq(user_id))
        .one(db)
        .await?
        .is_some())
}

/// Whether `actor` may organise `scope`: staff anywhere, a league admin in
/// their league. A scope that does not exist is `NotFound` for everyone, so
/// a request about nothing is 404 before its body is judged.
pub async fn may_organise<C: ConnectionTrait>(db: &C, actor: &user::Model, scope: Scope) -> DomainResult<bool> {
    let league = league_of(db, scope).await?;
    if actor.is_staff || actor.is_superuser {
        return Ok(true);
    }
    match league {
        Some(league) => is_admin(db, actor.id, league).await,
        None => Ok(false),
    }
}

/// The league registered for a Steam league id, if any.
pub async fn by_steam_id<C: ConnectionTrait>(db: &C, steam_league_id: i64) -> DomainResult<Option<league::Model>> {
    Ok(league::Entity::find().filter(league::Column::SteamLeagueId.eq(steam_league_id)).one(db).await?)
}

/// The league registered for a Steam league id; `NotFound` without one.
pub async fn find_by_steam_id<C: ConnectionTrait>(db: &C, steam_league_id: i64) -> DomainResult<league::Model> {
    by_steam_id(db, steam_league_id).await?.ok_or(DomainError::NotFound("league"))
}

/// The admins of a league, by when they were granted.
pub async fn admins<C: ConnectionTrait>(
    db: &C,
    steam_league_id: i64,
) -> DomainResult<Vec<(league_admin::Model, user::Model)>> {
    let l = find_by_steam_id(db, steam_league_id).await?;
    let grants = league_admin::Entity::find()
        .filter(league_admin::Column::LeagueId.eq(l.id))
        .order_by_asc(league_admin::Column::Id)
        .all(db)
        .await?;
    let users = user::Entity::find().filter(user::Column::Id.is_in(grants.iter().map(|g| g.user_id))).all(db).await?;
    Ok(grants.into_iter().filter_map(|g| users.iter().find(|u| u.id == g.user_id).cloned().map(|u| (g, u))).collect())
}

/// Makes `user_id` an admin of the league (staff); granting twice is 409.
pub async fn grant_admin(
    svc: &Services,
    steam_league_id: i64,
    user_id: i64,
    by: i64,
) -> DomainResult<league_admin::Model> {
    let l = find_by_steam_id(&svc.db, steam_league_id).await?;
    if user::Entity::find_by_id(user_id).one(&svc.db).await?.is_none() {
        return Err(DomainError::unknown("unknown_user", "user_id does not exist"));
    }
    if is_admin(&svc.db, user_id, l.id).await? {
        return Err(DomainError::conflict("already_admin", "this user already administers the league"));
    }
    let granted = league_admin::ActiveModel {
        league_id: Set(l.id),
        user_id: Set(user_id),
        granted_by: Set(Some(by)),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&svc.db)
    .await
    .map_err(|e| match e.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
            DomainError::conflict("already_admin", "this user already administers the league")
        }
        _ => e.into(),
    })?;
    Ok(granted)
}

pub async fn revoke_admin(svc: &Services, steam_league_id: i64, user_id: i64) -> DomainResult<()> {
    let l = find_by_steam_id(&svc.db, steam_league_id).await?;
    let removed = league_admin::Entity::delete_many()
        .filter(league_admin::Column::LeagueId.eq(l.id))
        .filter(league_admin::Column::UserId.eq(user_id))
        .exec(&svc.db)
        .await?;
    if removed.rows_affected == 0 {
        return Err(DomainError::NotFound("league admin"));
    }
    Ok(())
}
