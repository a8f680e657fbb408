//! Steam-facing reads (SPEC §3), served from the database and the cache;
//! only `resolve` and `live` call Steam, and their answers are cached.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::{league, league_player_stats, league_sync_state, player_match_stats, steam_match, user};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, JoinType, Order, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use worker::clients::steam::client::SteamError;
use worker::domain::leagues::Scope;
use worker::domain::mmr::display_kda;
use worker::domain::steam_ids::{self, Lookup};

use crate::types::SteamId64;
use worker::infra::cache::ns;

use crate::auth::{Session, Viewer};
use crate::cached::{CachedJson, cached, cached_if};
use crate::error::{ApiError, ApiResult};
use crate::pagination::{Page, PageRequest};
use crate::routes::Tag;
use crate::state::AppState;

const STATS_TTL: Duration = Duration::from_secs(300);
const LIVE_TTL: Duration = Duration::from_secs(30);
const RESOLVE_TTL: Duration = Duration::from_secs(3600);
/// Guild matches change when a sync stores matches (which drops them) or a
/// user links a Steam id (likewise); the TTL only bounds a missed drop.
const GUILD_TTL: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum SortBy {
    LeagueMmr,
    WinRate,
    GamesPlayed,
    AvgKda,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum SortOrder {
    Asc,
    Desc,
}

/// One player's line in a league.
#[derive(Debug, Clone, Object)]
pub struct PlayerLeagueStats {
    pub user_id: i64,
    pub username: String,
    #[oai(rename = "avatarUrl", nullable)]
    pub avatar_url: Option<String>,
    #[oai(nullable)]
    pub mmr: Option<i32>,
    #[oai(nullable)]
    pub league_mmr: Option<i32>,
    pub mmr_adjustment: i32,
    pub games_played: i32,
    pub wins: i32,
    pub losses: i32,
    pub win_rate: f64,
    pub avg_kills: f64,
    pub avg_deaths: f64,
    pub avg_assists: f64,
    /// `round((avg_kills + avg_assists) / max(avg_deaths, 1), 2)`.
    pub avg_kda: f64,
    pub avg_gpm: f64,
    pub avg_xpm: f64,
}

impl PlayerLeagueStats {
    fn of(s: &league_player_stats::Model, u: &user::Model) -> Self {
        Self {
            user_id: u.id,
            username: u.username.clone(),
            avatar_url: u.avatar_url(),
            mmr: u.mmr,
            league_mmr: u.league_mmr,
            mmr_adjustment: s.mmr_adjustment,
            games_played: s.games_played,
            wins: s.wins,
            losses: s.losses,
            win_rate: s.win_rate,
            avg_kills: s.avg_kills,
            avg_deaths: s.avg_deaths,
            avg_assists: s.avg_assists,
            avg_kda: display_kda(s.avg_kda),
            avg_gpm: s.avg_gpm,
            avg_xpm: s.avg_xpm,
        }
    }
}

/// A player's stats in one league (for `/api/me/stats`).
#[derive(Debug, Clone, Object)]
pub struct LeagueStatsEntry {
    /// The league's id.
    pub league_id: i64,
    /// The league's Steam league id.
    pub steam_league_id: i64,
    pub league_name: String,
    pub stats: PlayerLeagueStats,
}

#[derive(Debug, Clone, Object)]
pub struct MatchPlayer {
    pub player_slot: i32,
    pub is_radiant: bool,
    /// SteamID64; null for a private profile.
    #[oai(nullable)]
    pub steam_id: Option<SteamId64>,
    #[oai(nullable)]
    pub user_id: Option<i64>,
    #[oai(nullable)]
    pub username: Option<String>,
    pub hero_id: i32,
    pub kills: i32,
    pub deaths: i32,
    pub assists: i32,
    pub gold_per_min: i32,
    pub xp_per_min: i32,
    pub last_hits: i32,
    pub denies: i32,
    pub hero_damage: i32,
    pub tower_damage: i32,
    pub hero_healing: i32,
}

#[derive(Debug, Clone, Object)]
pub struct MatchView {
    pub match_id: i64,
    #[oai(nullable)]
    pub match_seq_num: Option<i64>,
    /// The Steam league the match was played in.
    pub steam_league_id: i64,
    pub radiant_win: bool,
    pub duration: i32,
    pub start_time: DateTime<Utc>,
    pub game_mode: i32,
    pub lobby_type: i32,
    /// An excluded match (a remake, an abandoned lobby) counts toward no stats or league MMR and
    /// decides no game.
    pub excluded: bool,
    /// Why it was excluded.
    #[oai(nullable)]
    pub excluded_reason: Option<String>,
    /// By player slot.
    pub players: Vec<MatchPlayer>,
}

/// Why a match is excluded.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct Exclusion {
    /// Shown on the match (`a remake`, `abandoned lobby`).
    #[oai(validator(min_length = 1, max_length = 500))]
    pub reason: crate::types::Text,
}

#[derive(Debug, Object)]
pub struct SyncStateView {
    /// The league's id.
    pub league_id: i64,
    /// Its Steam league id (what the sync reads).
    pub steam_league_id: i64,
    #[oai(nullable)]
    pub last_match_id: Option<i64>,
    #[oai(nullable)]
    pub last_sync_at: Option<DateTime<Utc>>,
    /// `[{match_id, match_seq_num, error}]`
    pub failed_matches: serde_json::Value,
    /// The last sync error (staff only; null for everyone else).
    #[oai(nullable)]
    pub last_error: Option<String>,
    pub stored_matches: u64,
}

#[derive(Debug, Clone, Object)]
pub struct Resolved {
    pub steam_id: SteamId64,
    /// The 32-bit account ("friend") id.
    pub account_id: i64,
}

impl Resolved {
    fn of(steam_id: i64) -> Self {
        Self { steam_id: SteamId64(steam_id), account_id: entity::steam_id::account_id_of(steam_id) }
    }
}

async fn league_by_id<C: ConnectionTrait>(db: &C, id: i64) -> ApiResult<league::Model> {
    league::Entity::find_by_id(id).one(db).await?.ok_or_else(|| ApiError::not_found("league"))
}

/// Every player of a league with games, joined to their users.
/// One page of a league's leaderboard, sorted and paginated in SQL (only
/// the page's rows and users are loaded); ties broken by user id so pages
/// are stable. A missing league MMR sorts below every number.
async fn leaderboard_page<C: ConnectionTrait>(
    db: &C,
    league_id: i64,
    by: SortBy,
    order: SortOrder,
    req: PageRequest,
) -> ApiResult<Page<PlayerLeagueStats>> {
    use league_player_stats::Column as Stats;
    use sea_orm::sea_query::NullOrdering;
    let to_user = league_player_stats::Entity::belongs_to(user::Entity).from(Stats::UserId).to(user::Column::Id);
    let lines = league_player_stats::Entity::find()
        .join(JoinType::InnerJoin, to_user.into())
        .filter(Stats::LeagueId.eq(league_id))
        .filter(Stats::GamesPlayed.gt(0));
    let count = lines.clone().count(db).await?;
    let (dir, missing_mmr) = match order {
        SortOrder::Desc => (Order::Desc, NullOrdering::Last),
        SortOrder::Asc => (Order::Asc, NullOrdering::First),
    };
    let sorted = match by {
        SortBy::LeagueMmr => lines.order_by_with_nulls(user::Column::LeagueMmr, dir, missing_mmr),
        SortBy::WinRate => lines.order_by(Stats::WinRate, dir),
        SortBy::GamesPlayed => lines.order_by(Stats::GamesPlayed, dir),
        SortBy::AvgKda => lines.order_by(Stats::AvgKda, dir),
    };
    let rows = sorted.order_by_asc(Stats::UserId).offset(req.offset()).limit(req.page_size).all(db).await?;
    let users: HashMap<i64, user::Model> = user::Entity::find()
        .filter(user::Column::Id.is_in(rows.iter().map(|r| r.user_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|u| (u.id, u))
        .collect();
    let results = rows.iter().filter_map(|r| users.get(&r.user_id).map(|u| PlayerLeagueStats::of(r, u))).collect();
    Ok(req.wrap(count, results))
}

async fn match_view<C: ConnectionTrait>(db: &C, match_id: i64) -> ApiResult<MatchView> {
    let m = steam_match::Entity::find_by_id(match_id).one(db).await?.ok_or_else(|| ApiError::not_found("match"))?;
    Ok(match_views(db, vec![m]).await?.pop().expect("one view per match"))
}

/// Views of `matches` with their players, in the same order: two queries
/// whatever the number of matches.
async fn match_views<C: ConnectionTrait>(db: &C, matches: Vec<steam_match::Model>) -> ApiResult<Vec<MatchView>> {
    let lines = player_match_stats::Entity::find()
        .filter(player_match_stats::Column::MatchId.is_in(matches.iter().map(|m| m.match_id)))
        .order_by_asc(player_match_stats::Column::MatchId)
        .order_by_asc(player_match_stats::Column::PlayerSlot)
        .all(db)
        .await?;
    let users: HashMap<i64, String> = user::Entity::find()
        .filter(user::Column::Id.is_in(lines.iter().filter_map(|l| l.user_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|u| (u.id, u.username))
        .collect();
    let mut by_match: HashMap<i64, Vec<MatchPlayer>> = HashMap::new();
    for l in lines {
        by_match.entry(l.match_id).or_default().push(MatchPlayer {
            is_radiant: l.player_slot < 128,
            username: l.user_id.and_then(|id| users.get(&id).cloned()),
            player_slot: l.player_slot,
            steam_id: l.steam_id.map(SteamId64),
            user_id: l.user_id,
            hero_id: l.hero_id,
            kills: l.kills,
            deaths: l.deaths,
            assists: l.assists,
            gold_per_min: l.gold_per_min,
            xp_per_min: l.xp_per_min,
            last_hits: l.last_hits,
            denies: l.denies,
            hero_damage: l.hero_damage,
            tower_damage: l.tower_damage,
            hero_healing: l.hero_healing,
        });
    }
    Ok(matches
        .into_iter()
        .map(|m| MatchView {
            players: by_match.remove(&m.match_id).unwrap_or_default(),
            match_id: m.match_id,
            match_seq_num: m.match_seq_num,
            steam_league_id: m.league_id,
            radiant_win: m.radiant_win,
            duration: m.duration,
            start_time: m.start_time,
            game_mode: m.game_mode,
            lobby_type: m.lobby_type,
            excluded: m.excluded_at.is_some(),
            excluded_reason: m.excluded_reason,
        })
        .collect())
}

fn steam_failure(err: SteamError) -> ApiError {
    match err {
        SteamError::NotConfigured => ApiError::new(
            poem::http::StatusCode::NOT_FOUND,
            "not_configured",
            "Steam lookups are not configured (STEAM_API_KEY)",
        ),
        SteamError::Busy => {
            let mut err = ApiError::new(
                poem::http::StatusCode::TOO_MANY_REQUESTS,
                "steam_busy",
                "Steam lookups are busy (the league sync comes first); try again shortly",
            );
            err.retry_after = Some(5);
            err
        }
        other => {
            tracing::warn!(error = %other, "steam lookup failed");
            ApiError::unavailable("Steam")
        }
    }
}

pub struct SteamApi;

#[OpenApi(tag = "Tag::Steam")]
impl SteamApi {
    /// A league's leaderboard: players with games, sorted, paginated.
    #[oai(path = "/leagues/:id/leaderboard", method = "get", operation_id = "getLeaderboard")]
    #[allow(clippy::too_many_arguments)]
    async fn leaderboard(
        &self,
        state: poem::web::Data<&AppState>,
        id: Path<i64>,
        sort_by: Query<Option<SortBy>>,
        order: Query<Option<SortOrder>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))] page: Query<Option<u64>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] page_size: Query<Option<u64>>,
    ) -> ApiResult<CachedJson<Page<PlayerLeagueStats>>> {
        let req = PageRequest::new(page.0, page_size.0);
        let (by, order) = (sort_by.0.unwrap_or(SortBy::LeagueMmr), order.0.unwrap_or(SortOrder::Desc));
        let key = format!("leaderboard:{}:{by:?}:{order:?}:{}:{}", id.0, req.page, req.page_size);
        let db = &state.db;
        cached_if(req.cacheable(), &state.cache, ns::LEAGUE_STATS, &key, STATS_TTL, || async move {
            let league = league_by_id(db, id.0).await?;
            leaderboard_page(db, league.id, by, order, req).await
        })
        .await
    }

    /// One player's stats in a league.
    #[oai(path = "/leagues/:id/players/:user_id/stats", method = "get", operation_id = "getPlayerStats")]
    async fn player_stats(
        &self,
        state: poem::web::Data<&AppState>,
        id: Path<i64>,
        user_id: Path<i64>,
    ) -> ApiResult<Json<PlayerLeagueStats>> {
        let league = league_by_id(&state.db, id.0).await?;
        let stats = league_player_stats::Entity::find()
            .filter(league_player_stats::Column::LeagueId.eq(league.id))
            .filter(league_player_stats::Column::UserId.eq(user_id.0))
            .one(&state.db)
            .await?
            .ok_or_else(|| ApiError::not_found("stats for this player in this league"))?;
        let u = worker::domain::users::find_user(&state.db, user_id.0).await?;
        Ok(Json(PlayerLeagueStats::of(&stats, &u)))
    }

    /// Your stats in every league you played.
    #[oai(path = "/me/stats", method = "get", operation_id = "getMyStats")]
    async fn my_stats(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
    ) -> ApiResult<Json<Vec<LeagueStatsEntry>>> {
        let me = viewer.require_user()?;
        let rows = league_player_stats::Entity::find()
            .filter(league_player_stats::Column::UserId.eq(me.id))
            .order_by_asc(league_player_stats::Column::LeagueId)
            .all(&state.db)
            .await?;
        let leagues: HashMap<i64, league::Model> = league::Entity::find()
            .filter(league::Column::Id.is_in(rows.iter().map(|r| r.league_id)))
            .all(&state.db)
            .await?
            .into_iter()
            .map(|l| (l.id, l))
            .collect();
        Ok(Json(
            rows.iter()
                .filter_map(|r| {
                    leagues.get(&r.league_id).map(|l| LeagueStatsEntry {
                        league_id: l.id,
                        steam_league_id: l.steam_league_id,
                        league_name: l.name.clone(),
                        stats: PlayerLeagueStats::of(r, me),
                    })
                })
                .collect(),
        ))
    }

    /// A stored match with its players.
    #[oai(path = "/matches/:match_id", method = "get", operation_id = "getMatch")]
    async fn get_match(
        &self,
        state: poem::web::Data<&AppState>,
        match_id: Path<i64>,
    ) -> ApiResult<CachedJson<MatchView>> {
        let db = &state.db;
        cached(&state.cache, ns::MATCHES, &format!("match:{}", match_id.0), STATS_TTL, || async move {
            match_view(db, match_id.0).await
        })
        .await
    }

    /// Exclude a match from stats, league MMR and results (staff, or the league's admins): a remake, an
    /// abandoned lobby. The league's stats and MMR are recomputed at once.
    ///
    /// Errors: 409 `match_linked` (it decides a game: unlink it first).
    #[oai(path = "/matches/:match_id/exclude", method = "post", operation_id = "excludeMatch")]
    async fn exclude_match(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        match_id: Path<i64>,
        body: Json<Exclusion>,
    ) -> ApiResult<Json<MatchView>> {
        let actor = viewer.require_organiser(&state, Scope::Match(match_id.0)).await?;
        let reason = crate::validate::line("reason", &body.0.reason, 500)?;
        worker::domain::matches::exclude(&state.services, match_id.0, reason, actor.id).await?;
        Ok(Json(match_view(&state.db, match_id.0).await?))
    }

    /// Count an excluded match again (staff, or the league's admins); stats and league MMR are recomputed.
    #[oai(path = "/matches/:match_id/exclude", method = "delete", operation_id = "includeMatch")]
    async fn include_match(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        match_id: Path<i64>,
    ) -> ApiResult<Json<MatchView>> {
        viewer.require_organiser(&state, Scope::Match(match_id.0)).await?;
        worker::domain::matches::include(&state.services, match_id.0).await?;
        Ok(Json(match_view(&state.db, match_id.0).await?))
    }

    /// Where a league's sync stands.
    #[oai(path = "/leagues/:id/sync-state", method = "get", operation_id = "getSyncState")]
    async fn sync_state(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Viewer,
        id: Path<i64>,
    ) -> ApiResult<Json<SyncStateView>> {
        let league = league_by_id(&state.db, id.0).await?;
        let s = league_sync_state::Entity::find()
            .filter(league_sync_state::Column::LeagueId.eq(league.id))
            .one(&state.db)
            .await?;
        let stored = steam_match::Entity::find()
            .filter(steam_match::Column::LeagueId.eq(league.steam_league_id))
            .count(&state.db)
            .await?;
        Ok(Json(SyncStateView {
            league_id: league.id,
            steam_league_id: league.steam_league_id,
            last_match_id: s.as_ref().and_then(|s| s.last_match_id),
            last_sync_at: s.as_ref().and_then(|s| s.last_sync_at),
            failed_matches: s.as_ref().map_or(serde_json::json!([]), |s| s.failed_match_ids.clone()),
            // Error texts quote outside systems (URLs, hosts): staff only.
            last_error: s.and_then(|s| s.last_error).filter(|_| viewer.is_staff()),
            stored_matches: stored,
        }))
    }

    /// A Steam vanity name or profile URL → SteamID64. Ids in any pasted form answer at once; a vanity
    /// name calls Steam (logged in; a few lookups a minute; cached 1 h; jobs have priority: 429 when busy).
    #[oai(path = "/steam/resolve", method = "get", operation_id = "resolveSteamId")]
    async fn resolve(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Viewer,
        #[oai(validator(min_length = 1, max_length = 200))] vanity: Query<String>,
    ) -> ApiResult<CachedJson<Resolved>> {
        let name = match steam_ids::parse_lookup(&vanity.0) {
            Ok(Lookup::Id(id)) => return Ok(CachedJson::from_bytes(CachedJson::encode(&Resolved::of(id)))),
            Ok(Lookup::Vanity(name)) => name.to_lowercase(),
            Err(_) => {
                return Err(ApiError::invalid("invalid_vanity", "not a Steam vanity name, profile URL or Steam id"));
            }
        };
        let me = viewer.require_user()?;
        let (steam, limiter) = (&state.jobs.steam, &state.lookup_limiter);
        cached(&state.cache, ns::STEAM, &format!("vanity:{name}"), RESOLVE_TTL, || async move {
            // Only a lookup that reaches Steam counts against the caller.
            if let Some(bucket) = crate::ratelimit::Bucket::of_user(Some(me)) {
                limiter.check(&bucket).await?;
            }
            let id = steam
                .resolve_vanity(&name)
                .await
                .map_err(steam_failure)?
                .ok_or_else(|| ApiError::not_found("Steam profile"))?;
            Ok(Resolved::of(id))
        })
        .await
    }

    /// Live games of a known league (default: the one of `DEFAULT_LEAGUE_ID`), as Steam reports them
    /// (cached 30 s: one Steam call per league per 30 s).
    #[oai(path = "/steam/live", method = "get", operation_id = "listLiveGames")]
    async fn live(
        &self,
        state: poem::web::Data<&AppState>,
        league_id: Query<Option<i64>>,
    ) -> ApiResult<CachedJson<serde_json::Value>> {
        let league = match league_id.0 {
            Some(id) => league_by_id(&state.db, id).await?,
            None => worker::domain::leagues::find_by_steam_id(&state.db, state.settings.core.default_league_id).await?,
        };
        let steam = &state.jobs.steam;
        cached(&state.cache, ns::STEAM, &format!("live:{}", league.steam_league_id), LIVE_TTL, || async move {
            steam.live_league_games(league.steam_league_id).await.map_err(steam_failure)
        })
        .await
    }

    /// Recent stored matches that involve registered users, newest first, optionally of one league (the
    /// first 20 pages, cached).
    #[oai(path = "/steam/guild-matches", method = "get", operation_id = "listGuildMatches")]
    async fn guild_matches(
        &self,
        state: poem::web::Data<&AppState>,
        league_id: Query<Option<i64>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "20")))] page: Query<Option<u64>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] page_size: Query<Option<u64>>,
    ) -> ApiResult<CachedJson<Page<MatchView>>> {
        let req = PageRequest::new(page.0, page_size.0);
        let steam_league = match league_id.0 {
            Some(id) => Some(league_by_id(&state.db, id).await?.steam_league_id),
            None => None,
        };
        let key = format!("guild:{steam_league:?}:{}:{}", req.page, req.page_size);
        let db = &state.db;
        cached_if(req.cacheable(), &state.cache, ns::MATCHES, &key, GUILD_TTL, || async move {
            let with_users = player_match_stats::Entity::find()
                .select_only()
                .column(player_match_stats::Column::MatchId)
                .filter(player_match_stats::Column::UserId.is_not_null())
                .distinct();
            let mut select = steam_match::Entity::find()
                .filter(steam_match::Column::MatchId.in_subquery(sea_orm::QueryTrait::into_query(with_users)))
                .order_by_desc(steam_match::Column::StartTime)
                .order_by_desc(steam_match::Column::MatchId);
            if let Some(l) = steam_league {
                select = select.filter(steam_match::Column::LeagueId.eq(l));
            }
            let (count, rows) = req.fetch(db, select).await?;
            Ok(req.wrap(count, match_views(db, rows).await?))
        })
        .await
    }
}
