//! Brackets in the database. Every change locks the tournament row (so two
//! results of one tournament, or two racing results of one game, never
//! interleave: of two, one wins and the other gets a conflict), applies the
//! pure rules in one transaction, writes a `bracket_event`, commits, then
//! announces it to the tournament's sockets and drops the tournament caches.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{Duration, Utc};
use entity::{
    BracketType, GameStatus, TournamentState, TournamentType, bracket_event, game, league, player_match_stats,
    steam_match, team, team_member, tournament, user,
};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::domain::brackets::elimination::{self, Node, Slot};
use crate::domain::brackets::linking::{self, MatchSides, Roster};
use crate::domain::brackets::seeding::{self, SeedTeam, Seeding};
use crate::domain::brackets::swiss;
use crate::domain::live::{self, EventKind};
use crate::domain::{DomainError, DomainResult, Services};
use crate::infra::cache::ns;

/// Registered players a roster needs on one side for a linked match to decide a game.
pub const LINK_MIN_PLAYERS: usize = 3;
/// … and for an automatic link after a sync.
pub const AUTO_LINK_MIN_PLAYERS: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    SingleElimination,
    DoubleElimination,
    Swiss,
}

impl Format {
    fn tournament_type(self) -> TournamentType {
        match self {
            Self::SingleElimination => TournamentType::SingleElimination,
            Self::DoubleElimination => TournamentType::DoubleElimination,
            Self::Swiss => TournamentType::Swiss,
        }
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct BracketRequest {
    pub format: Format,
    pub seeding: Seeding,
    /// Swiss only; default ⌈log2 teams⌉.
    pub swiss_rounds: Option<u32>,
    /// Double elimination only.
    pub grand_final_reset: bool,
}

/// The settings kept on the tournament (`tournaments.bracket`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BracketConfig {
    pub format: Format,
    pub seeding: String,
    pub swiss_rounds: Option<u32>,
    pub grand_final_reset: bool,
}

/// Where a result came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultSource {
    Manual,
    /// A staff member linked a Steam match.
    Linked,
    /// `auto_link_games` after a sync.
    Automatic,
}

impl ResultSource {
    fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Linked => "linked",
            Self::Automatic => "automatic",
        }
    }
}

/// A team's line in the standings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    pub team_id: i64,
    pub wins: u32,
    pub losses: u32,
    /// Swiss only.
    pub buchholz: Option<u32>,
    pub placement: Option<i32>,
}

/// A tournament's bracket as clients read it.
#[derive(Debug, Clone)]
pub struct Bracket {
    pub config: Option<BracketConfig>,
    /// By bracket, round, position.
    pub games: Vec<game::Model>,
    pub standings: Vec<Standing>,
}

fn has_result(g: &game::Model) -> bool {
    g.winning_team_id.is_some() && g.radiant_team_id.is_some() && g.dire_team_id.is_some()
}

fn is_bye(g: &game::Model) -> bool {
    g.bracket_type == BracketType::Swiss && g.dire_team_id.is_none() && g.winning_team_id.is_some()
}

async fn lock_tournament(txn: &DatabaseTransaction, id: i64) -> DomainResult<tournament::Model> {
    let mut select = tournament::Entity::find_by_id(id);
    if txn.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        select = select.lock_exclusive();
    }
    select.one(txn).await?.ok_or(DomainError::NotFound("tournament"))
}

async fn games_of<C: ConnectionTrait>(db: &C, tournament_id: i64) -> DomainResult<Vec<game::Model>> {
    Ok(game::Entity::find()
        .filter(game::Column::TournamentId.eq(tournament_id))
        .order_by_asc(game::Column::Id)
        .all(db)
        .await?)
}

async fn teams_of<C: ConnectionTrait>(db: &C, tournament_id: i64) -> DomainResult<Vec<team::Model>> {
    Ok(team::Entity::find()
        .filter(team::Column::TournamentId.eq(tournament_id))
        .order_by_asc(team::Column::Id)
        .all(db)
        .await?)
}

/// Members (captain included) of each team, by team id.
async fn members_of<C: ConnectionTrait>(db: &C, team_ids: &[i64]) -> DomainResult<HashMap<i64, BTreeSet<i64>>> {
    let mut members: HashMap<i64, BTreeSet<i64>> = HashMap::new();
    for m in
        team_member::Entity::find().filter(team_member::Column::TeamId.is_in(team_ids.iter().copied())).all(db).await?
    {
        members.entry(m.team_id).or_default().insert(m.user_id);
    }
    Ok(members)
}

async fn event(
    txn: &DatabaseTransaction,
    tournament_id: i64,
    game_id: Option<i64>,
    kind: &str,
    payload: Value,
) -> DomainResult<i64> {
    Ok(bracket_event::ActiveModel {
        tournament_id: Set(tournament_id),
        game_id: Set(game_id),
        event_type: Set(kind.to_owned()),
        payload: Set(payload),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(txn)
    .await?
    .id)
}

async fn commit_and_announce(
    svc: &Services,
    txn: DatabaseTransaction,
    tournament_id: i64,
    event_id: i64,
) -> DomainResult<()> {
    txn.commit().await?;
    svc.cache.invalidate(&[ns::TOURNAMENTS]).await;
    live::notify(&svc.bus, &[live::tournament_channel(tournament_id)], EventKind::Bracket, event_id).await;
    Ok(())
}

/// The tournament's bracket events with ids above `after`, oldest first.
pub async fn events_after<C: ConnectionTrait>(
    db: &C,
    tournament_id: i64,
    after: i64,
    limit: u64,
) -> DomainResult<Vec<bracket_event::Model>> {
    use bracket_event::{Column, Entity};
    Ok(live::rows_after::<Entity, C>(db, Column::TournamentId, Column::Id, tournament_id, after, limit).await?)
}

/// The newest bracket event of a tournament (0 before any).
pub async fn last_event_id<C: ConnectionTrait>(db: &C, tournament_id: i64) -> DomainResult<i64> {
    Ok(bracket_event::Entity::find()
        .select_only()
        .column_as(bracket_event::Column::Id.max(), "last")
        .filter(bracket_event::Column::TournamentId.eq(tournament_id))
        .into_tuple::<Option<i64>>()
        .one(db)
        .await?
        .flatten()
        .unwrap_or(0))
}

/// Builds (or replaces) the tournament's bracket from its teams. Refused
/// once any game of the tournament has a result.
pub async fn generate(svc: &Services, tournament_id: i64, request: BracketRequest) -> DomainResult<()> {
    let txn = crate::infra::db::write_txn(&svc.db).await?;
    let t = lock_tournament(&txn, tournament_id).await?;
    if let Some(played) = games_of(&txn, t.id).await?.iter().find(|g| has_result(g)) {
        return Err(DomainError::conflict(
            "bracket_has_results",
            format!("game {} already has a result; take results back before replacing the bracket", played.id),
        ));
    }
    let teams = teams_of(&txn, t.id).await?;
    if teams.len() < 2 {
        return Err(DomainError::conflict("not_enough_teams", "a bracket needs at least two teams"));
    }
    let ids: Vec<i64> = teams.iter().map(|t| t.id).collect();
    let members = members_of(&txn, &ids).await?;
    let everyone: BTreeSet<i64> = members.values().flatten().copied().collect();
    let mmr: HashMap<i64, i64> = user::Entity::find()
        .filter(user::Column::Id.is_in(everyone))
        .all(&txn)
        .await?
        .into_iter()
        .map(|u| (u.id, u.mmr.map_or(0, i64::from)))
        .collect();
    let seed_teams: Vec<SeedTeam> = teams
        .iter()
        .map(|t| SeedTeam {
            id: t.id,
            draft_order: t.draft_order,
            total_mmr: members.get(&t.id).map_or(0, |m| m.iter().map(|u| mmr.get(u).copied().unwrap_or(0)).sum()),
        })
        .collect();
    let seeds = seeding::seed(&seed_teams, &request.seeding)?;
    game::Entity::delete_many().filter(game::Column::TournamentId.eq(t.id)).exec(&txn).await?;
    for (i, team_id) in seeds.iter().enumerate() {
        team::Entity::update_many()
            .col_expr(team::Column::Seed, Expr::value(i as i32 + 1))
            .col_expr(team::Column::Placement, Expr::value(Option::<i32>::None))
            .filter(team::Column::Id.eq(*team_id))
            .exec(&txn)
            .await?;
    }
    let swiss_rounds = match request.format {
        Format::Swiss => Some(request.swiss_rounds.unwrap_or_else(|| swiss::default_rounds(seeds.len()))),
        _ => None,
    };
    let created = match request.format {
        Format::Swiss => insert_swiss_round(&txn, &t, 1, &swiss::first_round(&seeds)).await?,
        Format::SingleElimination | Format::DoubleElimination => {
            let double = request.format == Format::DoubleElimination;
            let layout = elimination::layout(seeds.len(), double, request.grand_final_reset);
            insert_layout(&txn, &t, &layout, &seeds).await?
        }
    };
    let config = BracketConfig {
        format: request.format,
        seeding: match &request.seeding {
            Seeding::Mmr => "mmr",
            Seeding::DraftOrder => "draft_order",
            Seeding::Manual(_) => "manual",
        }
        .to_owned(),
        swiss_rounds,
        grand_final_reset: request.grand_final_reset && request.format == Format::DoubleElimination,
    };
    tournament::Entity::update_many()
        .col_expr(tournament::Column::TournamentType, Expr::value(request.format.tournament_type().as_str()))
        .col_expr(tournament::Column::Bracket, Expr::value(serde_json::to_value(&config).unwrap_or(Value::Null)))
        .col_expr(tournament::Column::State, Expr::value(TournamentState::InProgress.as_str()))
        .col_expr(tournament::Column::WinningTeamId, Expr::value(Option::<i64>::None))
        .col_expr(tournament::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(tournament::Column::Id.eq(t.id))
        .exec(&txn)
        .await?;
    let payload = json!({"format": config.format, "seeds": seeds, "games": created});
    let event_id = event(&txn, t.id, None, "bracket_generated", payload).await?;
    commit_and_announce(svc, txn, t.id, event_id).await
}

fn new_game(t: &tournament::Model, bracket: BracketType, round: i32, position: i32) -> game::ActiveModel {
    game::ActiveModel {
        tournament_id: Set(Some(t.id)),
        league_id: Set(t.league_id),
        round: Set(round),
        position: Set(position),
        bracket_type: Set(bracket),
        status: Set(GameStatus::Pending),
        radiant_team_id: Set(None),
        dire_team_id: Set(None),
        winning_team_id: Set(None),
        match_id: Set(None),
        next_game_id: Set(None),
        next_game_slot: Set(None),
        loser_next_game_id: Set(None),
        loser_next_game_slot: Set(None),
        ..Default::default()
    }
}

/// Inserts an elimination layout; returns how many games it made.
async fn insert_layout(
    txn: &DatabaseTransaction,
    t: &tournament::Model,
    layout: &elimination::Layout,
    seeds: &[i64],
) -> DomainResult<usize> {
    let team_of = |seed: Option<usize>| seed.and_then(|s| seeds.get(s - 1).copied());
    let mut ids = Vec::with_capacity(layout.games.len());
    for spec in &layout.games {
        let mut g = new_game(t, spec.bracket, spec.round, spec.position);
        g.radiant_team_id = Set(team_of(spec.seeds[0]));
        g.dire_team_id = Set(team_of(spec.seeds[1]));
        ids.push(g.insert(txn).await?.id);
    }
    for (spec, id) in layout.games.iter().zip(&ids) {
        let link = |to: Option<(usize, Slot)>| to.map(|(i, slot)| (ids[i], slot.as_str()));
        let (next, loser_next) = (link(spec.next), link(spec.loser_next));
        if next.is_none() && loser_next.is_none() {
            continue;
        }
        game::Entity::update_many()
            .col_expr(game::Column::NextGameId, Expr::value(next.map(|n| n.0)))
            .col_expr(game::Column::NextGameSlot, Expr::value(next.map(|n| n.1)))
            .col_expr(game::Column::LoserNextGameId, Expr::value(loser_next.map(|n| n.0)))
            .col_expr(game::Column::LoserNextGameSlot, Expr::value(loser_next.map(|n| n.1)))
            .filter(game::Column::Id.eq(*id))
            .exec(txn)
            .await?;
    }
    Ok(ids.len())
}

/// Inserts a Swiss round: its pairs, and the bye as a game already won.
async fn insert_swiss_round(
    txn: &DatabaseTransaction,
    t: &tournament::Model,
    round: i32,
    pairing: &swiss::Round,
) -> DomainResult<usize> {
    for (position, (radiant, dire)) in pairing.pairs.iter().enumerate() {
        let mut g = new_game(t, BracketType::Swiss, round, position as i32);
        g.radiant_team_id = Set(Some(*radiant));
        g.dire_team_id = Set(Some(*dire));
        g.insert(txn).await?;
    }
    if let Some(bye) = pairing.bye {
        let mut g = new_game(t, BracketType::Swiss, round, pairing.pairs.len() as i32);
        g.radiant_team_id = Set(Some(bye));
        g.winning_team_id = Set(Some(bye));
        g.status = Set(GameStatus::Completed);
        g.insert(txn).await?;
    }
    Ok(pairing.pairs.len() + usize::from(pairing.bye.is_some()))
}

fn config_of(t: &tournament::Model) -> Option<BracketConfig> {
    t.bracket.clone().and_then(|v| serde_json::from_value(v).ok())
}

async fn set_slot(txn: &DatabaseTransaction, game_id: i64, slot: Option<&str>, team: Option<i64>) -> DomainResult<()> {
    let column = match slot.and_then(Slot::parse) {
        Some(Slot::Radiant) => game::Column::RadiantTeamId,
        Some(Slot::Dire) => game::Column::DireTeamId,
        None => return Ok(()),
    };
    game::Entity::update_many()
        .col_expr(column, Expr::value(team))
        .col_expr(game::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(game::Column::Id.eq(game_id))
        .exec(txn)
        .await?;
    Ok(())
}

async fn set_placement(txn: &DatabaseTransaction, team_id: i64, placement: Option<i32>) -> DomainResult<()> {
    team::Entity::update_many()
        .col_expr(team::Column::Placement, Expr::value(placement))
        .filter(team::Column::Id.eq(team_id))
        .exec(txn)
        .await?;
    Ok(())
}

/// A grand final the winners' champion (radiant) won, with a reset that is then not needed.
fn ends_without_reset(g: &game::Model, winner: i64) -> bool {
    g.bracket_type == BracketType::GrandFinals && g.next_game_id.is_some() && Some(winner) == g.radiant_team_id
}

/// Records that `winner` won game `game_id`, advances the bracket, and
/// closes the tournament when it was the last game.
pub async fn record_result(
    svc: &Services,
    game_id: i64,
    winner: i64,
    source: ResultSource,
) -> DomainResult<game::Model> {
    let txn = crate::infra::db::write_txn(&svc.db).await?;
    let (t, g) = locked_game(&txn, game_id).await?;
    let event_id = record_in(&txn, &t, &g, winner, source).await?;
    commit_and_announce(svc, txn, t.id, event_id).await?;
    find_game(&svc.db, game_id).await
}

pub async fn find_game<C: ConnectionTrait>(db: &C, id: i64) -> DomainResult<game::Model> {
    game::Entity::find_by_id(id).one(db).await?.ok_or(DomainError::NotFound("game"))
}

/// The game and its tournament, the tournament locked for the transaction.
async fn locked_game(txn: &DatabaseTransaction, game_id: i64) -> DomainResult<(tournament::Model, game::Model)> {
    let g = find_game(txn, game_id).await?;
    let Some(tournament_id) = g.tournament_id else {
        return Err(DomainError::conflict("not_in_a_tournament", "only games of a tournament take results"));
    };
    let t = lock_tournament(txn, tournament_id).await?;
    Ok((t, find_game(txn, game_id).await?))
}

async fn record_in(
    txn: &DatabaseTransaction,
    t: &tournament::Model,
    g: &game::Model,
    winner: i64,
    source: ResultSource,
) -> DomainResult<i64> {
    let (Some(radiant), Some(dire)) = (g.radiant_team_id, g.dire_team_id) else {
        return Err(DomainError::conflict("game_not_ready", "the game needs both teams before a result"));
    };
    if g.winning_team_id.is_some() {
        return Err(DomainError::conflict("already_decided", "this game already has a result"));
    }
    if winner != radiant && winner != dire {
        return Err(DomainError::invalid("not_in_game", format!("team {winner} does not play this game"))
            .with_details(json!({ "winning_team_id": winner })));
    }
    let loser = if winner == radiant { dire } else { radiant };
    let decided = game::Entity::update_many()
        .col_expr(game::Column::WinningTeamId, Expr::value(winner))
        .col_expr(game::Column::Status, Expr::value(GameStatus::Completed.as_str()))
        .col_expr(game::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(game::Column::Id.eq(g.id))
        .filter(game::Column::WinningTeamId.is_null())
        .exec(txn)
        .await?;
    if decided.rows_affected != 1 {
        return Err(DomainError::conflict("already_decided", "this game already has a result"));
    }
    let all = games_of(txn, t.id).await?;
    let mut finished = None;
    if g.bracket_type == BracketType::Swiss {
        finished = advance_swiss(txn, t, g, &all).await?;
    } else {
        let no_reset = ends_without_reset(g, winner);
        if let (Some(next), false) = (g.next_game_id, no_reset) {
            set_slot(txn, next, g.next_game_slot.as_deref(), Some(winner)).await?;
        }
        match (g.loser_next_game_id, no_reset) {
            (Some(next), false) => set_slot(txn, next, g.loser_next_game_slot.as_deref(), Some(loser)).await?,
            _ => {
                let nodes: Vec<Node> = all.iter().map(|x| Node { bracket: x.bracket_type, round: x.round }).collect();
                let node = Node { bracket: g.bracket_type, round: g.round };
                set_placement(txn, loser, Some(elimination::knocked_out_place(node, &nodes))).await?;
            }
        }
        if g.next_game_id.is_none() || no_reset {
            set_placement(txn, winner, Some(1)).await?;
            finished = Some(winner);
        }
    }
    if let Some(champion) = finished {
        close(txn, t.id, champion).await?;
    }
    let payload = json!({"winning_team_id": winner, "losing_team_id": loser, "source": source.as_str(), "tournament_finished": finished.is_some()});
    event(txn, t.id, Some(g.id), "result_recorded", payload).await
}

async fn close(txn: &DatabaseTransaction, tournament_id: i64, champion: i64) -> DomainResult<()> {
    tournament::Entity::update_many()
        .col_expr(tournament::Column::State, Expr::value(TournamentState::Past.as_str()))
        .col_expr(tournament::Column::WinningTeamId, Expr::value(champion))
        .col_expr(tournament::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(tournament::Column::Id.eq(tournament_id))
        .exec(txn)
        .await?;
    Ok(())
}

/// Swiss records from the games so far (completed games and byes).
async fn swiss_records<C: ConnectionTrait>(
    db: &C,
    tournament_id: i64,
    games: &[game::Model],
) -> DomainResult<Vec<swiss::Record>> {
    let teams = teams_of(db, tournament_id).await?;
    let mut records: BTreeMap<i64, swiss::Record> = teams
        .iter()
        .map(|t| {
            let record = swiss::Record {
                team: t.id,
                seed: t.seed.map_or(usize::MAX, |s| s.max(1) as usize),
                wins: 0,
                losses: 0,
                opponents: BTreeSet::new(),
                had_bye: false,
            };
            (t.id, record)
        })
        .collect();
    for g in games.iter().filter(|g| g.bracket_type == BracketType::Swiss) {
        let Some(winner) = g.winning_team_id else { continue };
        if is_bye(g) {
            if let Some(r) = records.get_mut(&winner) {
                r.wins += 1;
                r.had_bye = true;
            }
            continue;
        }
        let (Some(a), Some(b)) = (g.radiant_team_id, g.dire_team_id) else { continue };
        let loser = if winner == a { b } else { a };
        if let Some(r) = records.get_mut(&winner) {
            r.wins += 1;
            r.opponents.insert(loser);
        }
        if let Some(r) = records.get_mut(&loser) {
            r.losses += 1;
            r.opponents.insert(winner);
        }
    }
    Ok(records.into_values().collect())
}

/// After a Swiss result: when its round is complete, the next round is
/// paired, or — after the last round — every team is placed by the
/// standings. Returns the champion when the tournament ends.
async fn advance_swiss(
    txn: &DatabaseTransaction,
    t: &tournament::Model,
    g: &game::Model,
    all: &[game::Model],
) -> DomainResult<Option<i64>> {
    let round_done = all
        .iter()
        .filter(|x| x.bracket_type == BracketType::Swiss && x.round == g.round)
        .all(|x| x.winning_team_id.is_some());
    if !round_done {
        return Ok(None);
    }
    let records = swiss_records(txn, t.id, all).await?;
    let rounds = config_of(t).and_then(|c| c.swiss_rounds).unwrap_or_else(|| swiss::default_rounds(records.len()));
    if (g.round as u32) < rounds
        && let Some(pairing) = swiss::next_round(&records)
    {
        insert_swiss_round(txn, t, g.round + 1, &pairing).await?;
        return Ok(None);
    }
    let standings = swiss::standings(&records);
    for (place, (team_id, _)) in standings.iter().enumerate() {
        set_placement(txn, *team_id, Some(place as i32 + 1)).await?;
    }
    Ok(standings.first().map(|(team, _)| *team))
}

/// Takes a result back while no game it fed has a result (a Swiss round
/// paired from it goes too, if unplayed); reopens a closed tournament.
pub async fn undo_result(svc: &Services, game_id: i64) -> DomainResult<game::Model> {
    let txn = crate::infra::db::write_txn(&svc.db).await?;
    let (t, g) = locked_game(&txn, game_id).await?;
    let event_id = undo_in(&txn, &t, &g).await?;
    commit_and_announce(svc, txn, t.id, event_id).await?;
    find_game(&svc.db, game_id).await
}

async fn undo_in(txn: &DatabaseTransaction, t: &tournament::Model, g: &game::Model) -> DomainResult<i64> {
    let Some(winner) = g.winning_team_id else {
        return Err(DomainError::conflict("no_result", "this game has no result to take back"));
    };
    if is_bye(g) {
        return Err(DomainError::conflict("bye", "a bye is not a result to take back"));
    }
    let loser = if Some(winner) == g.radiant_team_id { g.dire_team_id } else { g.radiant_team_id };
    let all = games_of(txn, t.id).await?;
    let fed: Vec<&game::Model> = if g.bracket_type == BracketType::Swiss {
        all.iter().filter(|x| x.bracket_type == BracketType::Swiss && x.round > g.round).collect()
    } else {
        all.iter().filter(|x| Some(x.id) == g.next_game_id || Some(x.id) == g.loser_next_game_id).collect()
    };
    if let Some(played) = fed.iter().find(|x| has_result(x)) {
        return Err(DomainError::conflict(
            "feeds_a_played_game",
            format!("game {} that this result fed has a result; take that back first", played.id),
        ));
    }
    if g.bracket_type == BracketType::Swiss {
        let later: Vec<i64> = fed.iter().map(|x| x.id).collect();
        game::Entity::delete_many().filter(game::Column::Id.is_in(later)).exec(txn).await?;
        if t.state == TournamentState::Past {
            for team in teams_of(txn, t.id).await? {
                set_placement(txn, team.id, None).await?;
            }
        }
    } else {
        for (next, slot, team) in [
            (g.next_game_id, g.next_game_slot.as_deref(), Some(winner)),
            (g.loser_next_game_id, g.loser_next_game_slot.as_deref(), loser),
        ] {
            if let Some(next) = all.iter().find(|x| Some(x.id) == next) {
                let holds = match slot.and_then(Slot::parse) {
                    Some(Slot::Radiant) => next.radiant_team_id == team,
                    Some(Slot::Dire) => next.dire_team_id == team,
                    None => false,
                };
                if holds {
                    set_slot(txn, next.id, slot, None).await?;
                }
            }
        }
        for team in [Some(winner), loser].into_iter().flatten() {
            set_placement(txn, team, None).await?;
        }
    }
    if t.state == TournamentState::Past {
        tournament::Entity::update_many()
            .col_expr(tournament::Column::State, Expr::value(TournamentState::InProgress.as_str()))
            .col_expr(tournament::Column::WinningTeamId, Expr::value(Option::<i64>::None))
            .filter(tournament::Column::Id.eq(t.id))
            .exec(txn)
            .await?;
    }
    game::Entity::update_many()
        .col_expr(game::Column::WinningTeamId, Expr::value(Option::<i64>::None))
        .col_expr(game::Column::Status, Expr::value(GameStatus::Pending.as_str()))
        .col_expr(game::Column::MatchId, Expr::value(Option::<i64>::None))
        .col_expr(game::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(game::Column::Id.eq(g.id))
        .exec(txn)
        .await?;
    event(txn, t.id, Some(g.id), "result_undone", json!({"winning_team_id": winner})).await
}

/// The bracket of a tournament with its standings.
pub async fn bracket_of<C: ConnectionTrait>(db: &C, tournament_id: i64) -> DomainResult<Bracket> {
    let t = tournament::Entity::find_by_id(tournament_id).one(db).await?.ok_or(DomainError::NotFound("tournament"))?;
    let mut games = games_of(db, t.id).await?;
    games.sort_by_key(|g| (bracket_rank(g.bracket_type), g.round, g.position, g.id));
    let teams = teams_of(db, t.id).await?;
    let config = config_of(&t);
    let standings = if config.as_ref().is_some_and(|c| c.format == Format::Swiss) {
        let records = swiss_records(db, t.id, &games).await?;
        let by_team: HashMap<i64, &swiss::Record> = records.iter().map(|r| (r.team, r)).collect();
        let placements: HashMap<i64, Option<i32>> = teams.iter().map(|t| (t.id, t.placement)).collect();
        swiss::standings(&records)
            .into_iter()
            .map(|(team_id, buchholz)| Standing {
                team_id,
                wins: by_team.get(&team_id).map_or(0, |r| r.wins),
                losses: by_team.get(&team_id).map_or(0, |r| r.losses),
                buchholz: Some(buchholz),
                placement: placements.get(&team_id).copied().flatten(),
            })
            .collect()
    } else {
        let mut lines: Vec<(Option<i32>, Standing, i32)> = teams
            .iter()
            .map(|team| {
                let played: Vec<&game::Model> = games
                    .iter()
                    .filter(|g| {
                        has_result(g) && (g.radiant_team_id == Some(team.id) || g.dire_team_id == Some(team.id))
                    })
                    .collect();
                let wins = played.iter().filter(|g| g.winning_team_id == Some(team.id)).count() as u32;
                let standing = Standing {
                    team_id: team.id,
                    wins,
                    losses: played.len() as u32 - wins,
                    buchholz: None,
                    placement: team.placement,
                };
                (team.placement, standing, team.seed.unwrap_or(i32::MAX))
            })
            .collect();
        lines.sort_by(|a, b| {
            let place = |p: Option<i32>| p.unwrap_or(i32::MAX);
            place(a.0)
                .cmp(&place(b.0))
                .then(b.1.wins.cmp(&a.1.wins))
                .then(a.1.losses.cmp(&b.1.losses))
                .then(a.2.cmp(&b.2))
        });
        lines.into_iter().map(|(_, s, _)| s).collect()
    };
    Ok(Bracket { config, games, standings })
}

fn bracket_rank(b: BracketType) -> u8 {
    match b {
        BracketType::Winners | BracketType::Swiss => 0,
        BracketType::Losers => 1,
        BracketType::GrandFinals => 2,
    }
}

/// A stored match's registered players by side.
async fn match_sides<C: ConnectionTrait>(db: &C, m: &steam_match::Model) -> DomainResult<MatchSides> {
    let lines = player_match_stats::Entity::find()
        .filter(player_match_stats::Column::MatchId.eq(m.match_id))
        .filter(player_match_stats::Column::UserId.is_not_null())
        .all(db)
        .await?;
    let side = |radiant: bool| -> BTreeSet<i64> {
        lines.iter().filter(|l| (l.player_slot < 128) == radiant).filter_map(|l| l.user_id).collect()
    };
    Ok(MatchSides { radiant: side(true), dire: side(false), radiant_win: m.radiant_win })
}

/// The rosters of a game's two teams, as result linking counts them.
async fn rosters<C: ConnectionTrait>(db: &C, g: &game::Model) -> DomainResult<(Roster, Roster)> {
    let (Some(radiant), Some(dire)) = (g.radiant_team_id, g.dire_team_id) else {
        return Err(DomainError::conflict("game_not_ready", "the game needs both teams"));
    };
    let teams: HashMap<i64, team::Model> = team::Entity::find()
        .filter(team::Column::Id.is_in([radiant, dire]))
        .all(db)
        .await?
        .into_iter()
        .map(|t| (t.id, t))
        .collect();
    // Drop-ins count as the team's players, leavers do not (SPEC §23).
    let members = crate::domain::rosters::players_of(db, &[radiant, dire]).await?;
    let roster = |id: i64| Roster {
        team_id: id,
        captain: teams.get(&id).and_then(|t| t.captain_id),
        members: members.get(&id).cloned().unwrap_or_default(),
    };
    Ok((roster(radiant), roster(dire)))
}

/// Links a stored Steam match to a game and records its result from which
/// side each roster sat on (each team needs three registered players on
/// opposite sides); a match decides at most one game.
pub async fn link_match(
    svc: &Services,
    game_id: i64,
    match_id: i64,
    source: ResultSource,
) -> DomainResult<game::Model> {
    let txn = crate::infra::db::write_txn(&svc.db).await?;
    let (t, g) = locked_game(&txn, game_id).await?;
    let event_id = link_in(&txn, &t, &g, match_id, source).await?;
    commit_and_announce(svc, txn, t.id, event_id).await?;
    find_game(&svc.db, game_id).await
}

async fn link_in(
    txn: &DatabaseTransaction,
    t: &tournament::Model,
    g: &game::Model,
    match_id: i64,
    source: ResultSource,
) -> DomainResult<i64> {
    let m = steam_match::Entity::find_by_id(match_id).one(txn).await?.ok_or_else(|| {
        DomainError::unknown("unknown_match", "match_id is not a stored match (sync the league first)")
    })?;
    // A match decides games of its own league only (SPEC §24): another
    // league's match would be taken from that league's games.
    if let Some(steam_league) = steam_league_of(txn, t).await?
        && m.league_id != steam_league
    {
        return Err(DomainError::invalid(
            "match_of_another_league",
            format!(
                "match {match_id} was played in Steam league {}, not this tournament's {steam_league}",
                m.league_id
            ),
        )
        .with_details(json!({ "match_league": m.league_id, "tournament_league": steam_league })));
    }
    if let Some(reason) = &m.excluded_reason {
        return Err(DomainError::conflict(
            "match_excluded",
            format!("match {match_id} is excluded from stats and results ({reason}); include it again first"),
        )
        .with_details(json!({ "match_id": match_id, "excluded_reason": reason })));
    }
    if let Some(other) = game::Entity::find().filter(game::Column::MatchId.eq(match_id)).one(txn).await? {
        return Err(DomainError::conflict(
            "match_already_linked",
            format!("match {match_id} already decided game {}", other.id),
        ));
    }
    if g.winning_team_id.is_some() {
        return Err(DomainError::conflict("already_decided", "this game already has a result"));
    }
    let (radiant, dire) = rosters(txn, g).await?;
    let winner = linking::winner(&radiant, &dire, &match_sides(txn, &m).await?, LINK_MIN_PLAYERS)
        .map_err(|why| DomainError::invalid("rosters_do_not_match", why))?;
    game::Entity::update_many()
        .col_expr(game::Column::MatchId, Expr::value(match_id))
        .filter(game::Column::Id.eq(g.id))
        .exec(txn)
        .await?;
    record_in(txn, t, g, winner, source).await
}

/// Takes a linked match (and the result it recorded) off a game.
pub async fn unlink_match(svc: &Services, game_id: i64) -> DomainResult<game::Model> {
    let txn = crate::infra::db::write_txn(&svc.db).await?;
    let (t, g) = locked_game(&txn, game_id).await?;
    if g.match_id.is_none() {
        return Err(DomainError::conflict("not_linked", "this game has no linked match"));
    }
    let event_id = undo_in(&txn, &t, &g).await?;
    commit_and_announce(svc, txn, t.id, event_id).await?;
    find_game(&svc.db, game_id).await
}

/// A stored match as a candidate for a game.
#[derive(Debug, Clone)]
pub struct Suggestion {
    pub match_id: i64,
    /// The Steam league of the match.
    pub league_id: i64,
    pub start_time: chrono::DateTime<Utc>,
    pub radiant_win: bool,
    pub fit: linking::Fit,
}

/// Stored matches ranked by how well the game's rosters fit them (tier,
/// then players found, then newest), not yet linked to another game.
pub async fn suggestions<C: ConnectionTrait>(db: &C, game_id: i64, limit: usize) -> DomainResult<Vec<Suggestion>> {
    let g = find_game(db, game_id).await?;
    let (radiant, dire) = rosters(db, &g).await?;
    let league = match g.tournament_id {
        Some(t) => {
            steam_league_of(
                db,
                &tournament::Entity::find_by_id(t).one(db).await?.ok_or(DomainError::NotFound("tournament"))?,
            )
            .await?
        }
        None => None,
    };
    let everyone: BTreeSet<i64> = radiant.members.union(&dire.members).copied().collect();
    let match_ids: BTreeSet<i64> = player_match_stats::Entity::find()
        .select_only()
        .column(player_match_stats::Column::MatchId)
        .filter(player_match_stats::Column::UserId.is_in(everyone))
        .into_tuple::<i64>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let taken: BTreeSet<i64> = game::Entity::find()
        .select_only()
        .column(game::Column::MatchId)
        .filter(game::Column::MatchId.is_in(match_ids.iter().copied()))
        .filter(game::Column::Id.ne(g.id))
        .into_tuple::<Option<i64>>()
        .all(db)
        .await?
        .into_iter()
        .flatten()
        .collect();
    // An excluded match (a remake, an abandoned lobby) decides no game.
    let mut candidates = steam_match::Entity::find()
        .filter(steam_match::Column::MatchId.is_in(match_ids.difference(&taken).copied()))
        .filter(steam_match::Column::ExcludedAt.is_null());
    // Only the tournament's league's matches may decide its games.
    if let Some(league) = league {
        candidates = candidates.filter(steam_match::Column::LeagueId.eq(league));
    }
    let candidates = candidates.all(db).await?;
    let mut sides = all_match_sides(db, &candidates).await?;
    let mut found = Vec::new();
    for m in candidates {
        let fit = linking::fit(
            &radiant,
            &dire,
            &sides.remove(&m.match_id).unwrap_or_else(|| MatchSides {
                radiant: BTreeSet::new(),
                dire: BTreeSet::new(),
                radiant_win: m.radiant_win,
            }),
        );
        if fit.radiant_overlap + fit.dire_overlap > 0 {
            found.push(Suggestion {
                match_id: m.match_id,
                league_id: m.league_id,
                start_time: m.start_time,
                radiant_win: m.radiant_win,
                fit,
            });
        }
    }
    found.sort_by(|a, b| {
        a.fit
            .tier()
            .cmp(&b.fit.tier())
            .then((b.fit.radiant_overlap + b.fit.dire_overlap).cmp(&(a.fit.radiant_overlap + a.fit.dire_overlap)))
            .then(b.start_time.cmp(&a.start_time))
    });
    found.truncate(limit);
    Ok(found)
}

/// The Steam league of a tournament's league, if it has one.
async fn steam_league_of<C: ConnectionTrait>(db: &C, t: &tournament::Model) -> DomainResult<Option<i64>> {
    let Some(league_id) = t.league_id else { return Ok(None) };
    Ok(league::Entity::find_by_id(league_id).one(db).await?.map(|l| l.steam_league_id))
}

/// The sides of many matches, from one query over their registered lines
/// (chunked: SQLite binds at most 32 766 parameters).
async fn all_match_sides<C: ConnectionTrait>(
    db: &C,
    matches: &[steam_match::Model],
) -> DomainResult<HashMap<i64, MatchSides>> {
    let mut sides: HashMap<i64, MatchSides> = matches
        .iter()
        .map(|m| {
            (m.match_id, MatchSides { radiant: BTreeSet::new(), dire: BTreeSet::new(), radiant_win: m.radiant_win })
        })
        .collect();
    for chunk in matches.chunks(10_000) {
        let lines: Vec<(i64, i32, Option<i64>)> = player_match_stats::Entity::find()
            .select_only()
            .column(player_match_stats::Column::MatchId)
            .column(player_match_stats::Column::PlayerSlot)
            .column(player_match_stats::Column::UserId)
            .filter(player_match_stats::Column::MatchId.is_in(chunk.iter().map(|m| m.match_id)))
            .filter(player_match_stats::Column::UserId.is_not_null())
            .into_tuple()
            .all(db)
            .await?;
        for (match_id, slot, user) in lines {
            if let (Some(side), Some(user)) = (sides.get_mut(&match_id), user) {
                if slot < 128 {
                    side.radiant.insert(user)
                } else {
                    side.dire.insert(user)
                };
            }
        }
    }
    Ok(sides)
}

/// How far before a tournament's date its games' matches may have started.
const MATCH_WINDOW_BEFORE: i64 = 6;

/// What one `auto_link` pass did: the games it linked, and why it left each
/// other waiting game (SPEC §23: an operator reads the run's result).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct AutoLinked {
    pub linked_games: Vec<i64>,
    pub left_games: Vec<LeftGame>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LeftGame {
    pub game_id: i64,
    /// `no candidate match`, `2 candidate matches` (a remake?), or the refusal of the link.
    pub reason: String,
}

/// After a sync: every waiting game of the league's tournaments in progress
/// (both teams set, no result) whose rosters — four players each, on
/// opposite sides — played exactly one match of the league not yet linked,
/// started since the night began, is linked to it with its result; every
/// other waiting game is reported with why it was left.
pub async fn auto_link(svc: &Services, steam_league_id: i64) -> DomainResult<AutoLinked> {
    let mut done = AutoLinked::default();
    for (t, waiting) in waiting_games(&svc.db, steam_league_id).await? {
        for g in waiting {
            let since = t.date_played - Duration::hours(MATCH_WINDOW_BEFORE);
            let candidates: Vec<Suggestion> = suggestions(&svc.db, g.id, 50)
                .await?
                .into_iter()
                .filter(|s| {
                    s.league_id == steam_league_id && s.fit.holds(AUTO_LINK_MIN_PLAYERS) && s.start_time >= since
                })
                .collect();
            let [only] = candidates.as_slice() else {
                let reason = match candidates.len() {
                    0 => "no candidate match".to_owned(),
                    n => format!("{n} candidate matches: left for staff (a remake?)"),
                };
                tracing::info!(game = g.id, %reason, "game left unlinked");
                done.left_games.push(LeftGame { game_id: g.id, reason });
                continue;
            };
            match link_match(svc, g.id, only.match_id, ResultSource::Automatic).await {
                Ok(_) => done.linked_games.push(g.id),
                // Decided meanwhile (a staff result, a racing run), or the link was refused: said, not fatal.
                Err(refused @ (DomainError::Conflict { .. } | DomainError::Invalid { .. })) => {
                    done.left_games.push(LeftGame { game_id: g.id, reason: refused.to_string() });
                }
                Err(other) => return Err(other),
            }
        }
    }
    Ok(done)
}

/// The games [`auto_link`] looks at, by tournament: of the league's
/// tournaments in progress, those with both teams and no result.
async fn waiting_games<C: ConnectionTrait>(
    db: &C,
    steam_league_id: i64,
) -> DomainResult<Vec<(tournament::Model, Vec<game::Model>)>> {
    let league = crate::domain::leagues::find_by_steam_id(db, steam_league_id).await?;
    let running = tournament::Entity::find()
        .filter(tournament::Column::LeagueId.eq(league.id))
        .filter(tournament::Column::State.eq(TournamentState::InProgress))
        .all(db)
        .await?;
    let mut found = Vec::with_capacity(running.len());
    for t in running {
        let waiting: Vec<game::Model> = games_of(db, t.id)
            .await?
            .into_iter()
            .filter(|g| g.winning_team_id.is_none() && g.radiant_team_id.is_some() && g.dire_team_id.is_some())
            .collect();
        if !waiting.is_empty() {
            found.push((t, waiting));
        }
    }
    Ok(found)
}

/// Whether [`auto_link`] has a game to look at in the league.
pub async fn has_waiting_games<C: ConnectionTrait>(db: &C, steam_league_id: i64) -> DomainResult<bool> {
    Ok(!waiting_games(db, steam_league_id).await?.is_empty())
}

/// Deletes a game, clearing the links of games that fed it.
pub async fn delete_game(svc: &Services, game_id: i64) -> DomainResult<()> {
    let txn = crate::infra::db::write_txn(&svc.db).await?;
    let g = find_game(&txn, game_id).await?;
    for (link, slot) in [
        (game::Column::NextGameId, game::Column::NextGameSlot),
        (game::Column::LoserNextGameId, game::Column::LoserNextGameSlot),
    ] {
        game::Entity::update_many()
            .col_expr(link, Expr::value(Option::<i64>::None))
            .col_expr(slot, Expr::value(Option::<String>::None))
            .filter(link.eq(g.id))
            .exec(&txn)
            .await?;
    }
    game::Entity::delete_by_id(g.id).exec(&txn).await?;
    txn.commit().await?;
    svc.cache.invalidate(&[ns::TOURNAMENTS, ns::MATCHES]).await;
    Ok(())
}
