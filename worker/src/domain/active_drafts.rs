//! "Where do I go now" (SPEC §18): every unfinished draft a user captains in,
//! and whether it waits for them.

use entity::{HeroDraftState, draft, game, hero_draft, hero_draft_team, team};
use sea_orm::{ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder};

use crate::domain::DomainResult;
use crate::domain::hero_draft::service::{self as hero, HeroDraftFull};
use crate::domain::team_draft::service::{self as team_draft, DraftState};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DraftKind {
    TeamDraft,
    HeroDraft,
}

/// An unfinished draft the user is a captain in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveDraft {
    pub kind: DraftKind,
    pub id: i64,
    pub tournament_id: Option<i64>,
    /// The game of a hero draft.
    pub game_id: Option<i64>,
    /// `drafting` for a team draft; the hero draft's state otherwise.
    pub state: String,
    /// Whether the next move is this captain's.
    pub my_turn: bool,
}

/// Whether a team draft waits for `user_id`: the current pick is theirs.
pub fn team_draft_awaits(state: &DraftState, user_id: i64) -> bool {
    state.current().is_some_and(|round| round.captain_id == Some(user_id))
}

/// Whether a hero draft waits for `user_id`'s move: to ready up, to roll
/// (either captain may), to choose (the roll winner first, then the other),
/// or to ban or pick in the active round.
pub fn hero_draft_awaits(full: &HeroDraftFull, user_id: i64) -> bool {
    let Some(mine) = full.team_of(user_id) else { return false };
    match full.draft.state {
        HeroDraftState::WaitingForCaptains => !mine.is_ready,
        HeroDraftState::Rolling => true,
        HeroDraftState::Choosing => {
            let won_roll =
                full.tournament_team_of(mine.id).is_some_and(|t| Some(t.id) == full.draft.roll_winner_team_id);
            let first_choice_made = full.teams.iter().any(|(d, _)| d.is_first_pick.is_some() || d.is_radiant.is_some());
            won_roll != first_choice_made
        }
        HeroDraftState::Drafting | HeroDraftState::Resuming => {
            full.active_round().is_some_and(|r| r.hero_draft_team_id == mine.id)
        }
        HeroDraftState::Paused | HeroDraftState::Completed | HeroDraftState::Abandoned => false,
    }
}

/// The unfinished drafts `user_id` captains in: team drafts first, then hero drafts, each by id.
/// One snapshot, so every draft's "your turn" is read from one state.
pub async fn of_captain(db: &DatabaseConnection, user_id: i64) -> DomainResult<Vec<ActiveDraft>> {
    crate::infra::db::snapshot(db, async |txn| captained(txn, user_id).await).await
}

async fn captained(db: &DatabaseTransaction, user_id: i64) -> DomainResult<Vec<ActiveDraft>> {
    let teams = team::Entity::find().filter(team::Column::CaptainId.eq(user_id)).all(db).await?;
    if teams.is_empty() {
        return Ok(Vec::new());
    }
    let mut found = Vec::new();
    let drafts = draft::Entity::find()
        .filter(draft::Column::TournamentId.is_in(teams.iter().map(|t| t.tournament_id)))
        .order_by_asc(draft::Column::Id)
        .all(db)
        .await?;
    for d in drafts {
        let state = team_draft::load(db, d.id).await?;
        // Rounds are laid out for full teams; a draft whose pool ran out is over for its captains.
        if state.is_open() && !state.remaining().is_empty() {
            found.push(ActiveDraft {
                kind: DraftKind::TeamDraft,
                id: d.id,
                tournament_id: Some(d.tournament_id),
                game_id: None,
                state: "drafting".into(),
                my_turn: team_draft_awaits(&state, user_id),
            });
        }
    }
    let sides = hero_draft_team::Entity::find()
        .filter(hero_draft_team::Column::TeamId.is_in(teams.iter().map(|t| t.id)))
        .all(db)
        .await?;
    let hero_drafts = hero_draft::Entity::find()
        .filter(hero_draft::Column::Id.is_in(sides.iter().map(|s| s.hero_draft_id)))
        .filter(hero_draft::Column::State.is_not_in([HeroDraftState::Completed, HeroDraftState::Abandoned]))
        .order_by_asc(hero_draft::Column::Id)
        .all(db)
        .await?;
    for d in hero_drafts {
        let full = hero::load(db, d.id).await?;
        let tournament_id = game::Entity::find_by_id(d.game_id).one(db).await?.and_then(|g| g.tournament_id);
        found.push(ActiveDraft {
            kind: DraftKind::HeroDraft,
            id: d.id,
            tournament_id,
            game_id: Some(d.game_id),
            state: d.state.as_str().to_owned(),
            my_turn: hero_draft_awaits(&full, user_id),
        });
    }
    Ok(found)
}
