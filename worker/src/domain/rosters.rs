//! Rosters: a tournament's player pool and its teams (captain, deputy,
//! members). The rules, enforced on every write (the original never did):
//! the captain and the deputy are members; the deputy is not the captain;
//! every member is a player of the tournament and on no other team of it.
//! Removing a player never deletes a team; a leaving captain is succeeded by
//! the deputy. A team in an unfinished hero draft cannot be deleted (409
//! naming the draft): finish or abandon the draft first.
//!
//! Besides its drafted members a team keeps its night's attendance (SPEC
//! §23): drop-ins (played without being drafted; known users, not members)
//! and leavers (members who left during the night). Result linking counts
//! drop-ins as the team's players and not leavers ([`players_of`]).

use std::collections::BTreeSet;

use std::collections::HashMap;

use entity::team_attendance::{self, Attendance};
use entity::{team, team_member, tournament, tournament_user, user};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, Set};
use serde_json::json;

use crate::domain::{DomainError, DomainResult, Services};
use crate::infra::cache::ns;

/// A change to a nullable field: keep it, clear it, or set it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Patch<T> {
    #[default]
    Keep,
    Clear,
    Set(T),
}

impl<T> Patch<T> {
    /// The value after the change.
    pub fn apply(self, current: Option<T>) -> Option<T> {
        match self {
            Self::Keep => current,
            Self::Clear => None,
            Self::Set(v) => Some(v),
        }
    }
}

/// The member set of a team: `members` plus captain and deputy.
pub fn roster(captain: Option<i64>, deputy: Option<i64>, members: &[i64]) -> BTreeSet<i64> {
    members.iter().copied().chain(captain).chain(deputy).collect()
}

/// The deputy is someone else than the captain (checked after the members
/// exist and may play, so an id that names nobody is answered as such first).
pub fn check_deputy(captain: Option<i64>, deputy: Option<i64>) -> DomainResult<()> {
    if captain.is_some() && captain == deputy {
        return Err(DomainError::invalid("deputy_is_captain", "the deputy captain cannot also be the captain"));
    }
    Ok(())
}

/// Captain and deputy after `leaving` leaves a team: a leaving captain is
/// succeeded by the deputy; a leaving deputy is not replaced.
pub fn succession(captain: Option<i64>, deputy: Option<i64>, leaving: i64) -> (Option<i64>, Option<i64>) {
    match (captain, deputy) {
        (Some(c), d) if c == leaving => (d, None),
        (c, Some(d)) if d == leaving => (c, None),
        other => other,
    }
}

/// Checks that `members` may form team `team_id` (None = a new team) of the tournament.
async fn check_roster(
    txn: &DatabaseTransaction,
    tournament_id: i64,
    team_id: Option<i64>,
    members: &BTreeSet<i64>,
) -> DomainResult<()> {
    let players: BTreeSet<i64> = tournament_user::Entity::find()
        .filter(tournament_user::Column::TournamentId.eq(tournament_id))
        .filter(tournament_user::Column::UserId.is_in(members.iter().copied()))
        .all(txn)
        .await?
        .into_iter()
        .map(|p| p.user_id)
        .collect();
    let outsiders: Vec<i64> = members.difference(&players).copied().collect();
    if !outsiders.is_empty() {
        return Err(DomainError::invalid(
            "not_a_player",
            "team members must be players of the tournament (POST /api/tournaments/{id}/players)",
        )
        .with_details(json!({ "user_ids": outsiders })));
    }
    let other_teams: Vec<i64> = team::Entity::find()
        .filter(team::Column::TournamentId.eq(tournament_id))
        .filter(team::Column::Id.ne(team_id.unwrap_or(-1)))
        .all(txn)
        .await?
        .into_iter()
        .map(|t| t.id)
        .collect();
    let taken: Vec<i64> = team_member::Entity::find()
        .filter(team_member::Column::TeamId.is_in(other_teams))
        .filter(team_member::Column::UserId.is_in(members.iter().copied()))
        .all(txn)
        .await?
        .into_iter()
        .map(|m| m.user_id)
        .collect();
    if !taken.is_empty() {
        return Err(DomainError::conflict(
            "already_on_a_team",
            "a player is already on another team of this tournament",
        )
        .with_details(json!({ "user_ids": taken })));
    }
    Ok(())
}

async fn replace_members(txn: &DatabaseTransaction, team_id: i64, members: &BTreeSet<i64>) -> DomainResult<()> {
    team_member::Entity::delete_many().filter(team_member::Column::TeamId.eq(team_id)).exec(txn).await?;
    if !members.is_empty() {
        team_member::Entity::insert_many(
            members.iter().map(|&user_id| team_member::ActiveModel { team_id: Set(team_id), user_id: Set(user_id) }),
        )
        .exec(txn)
        .await?;
    }
    Ok(())
}

/// A team's night: who dropped in and who left.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attendees {
    pub drop_ins: BTreeSet<i64>,
    pub leavers: BTreeSet<i64>,
}

/// Checks a team's attendance against its members: drop-ins are known users
/// who are not members, leavers are members.
async fn check_attendance(
    txn: &DatabaseTransaction,
    members: &BTreeSet<i64>,
    attendees: &Attendees,
) -> DomainResult<()> {
    let known: BTreeSet<i64> = if attendees.drop_ins.is_empty() {
        BTreeSet::new()
    } else {
        user::Entity::find()
            .filter(user::Column::Id.is_in(attendees.drop_ins.iter().copied()))
            .all(txn)
            .await?
            .into_iter()
            .map(|u| u.id)
            .collect()
    };
    let unknown: Vec<i64> = attendees.drop_ins.difference(&known).copied().collect();
    if !unknown.is_empty() {
        return Err(DomainError::unknown("unknown_users", "some dropin_member_ids name no user")
            .with_details(json!({ "field": "dropin_member_ids", "user_ids": unknown })));
    }
    let drafted: Vec<i64> = attendees.drop_ins.intersection(members).copied().collect();
    if !drafted.is_empty() {
        return Err(DomainError::invalid(
            "dropin_is_member",
            "a drop-in plays without being drafted: these users are members of the team",
        )
        .with_details(json!({ "field": "dropin_member_ids", "user_ids": drafted })));
    }
    let strangers: Vec<i64> = attendees.leavers.difference(members).copied().collect();
    if !strangers.is_empty() {
        return Err(DomainError::invalid(
            "leaver_not_a_member",
            "a leaver is a member who left during the night: these users are not members of the team",
        )
        .with_details(json!({ "field": "left_member_ids", "user_ids": strangers })));
    }
    Ok(())
}

async fn replace_attendance(txn: &DatabaseTransaction, team_id: i64, attendees: &Attendees) -> DomainResult<()> {
    team_attendance::Entity::delete_many().filter(team_attendance::Column::TeamId.eq(team_id)).exec(txn).await?;
    let rows: Vec<team_attendance::ActiveModel> =
        [(Attendance::DropIn, &attendees.drop_ins), (Attendance::Left, &attendees.leavers)]
            .into_iter()
            .flat_map(|(kind, ids)| {
                ids.iter().map(move |&user_id| team_attendance::ActiveModel {
                    team_id: Set(team_id),
                    user_id: Set(user_id),
                    kind: Set(kind),
                })
            })
            .collect();
    if !rows.is_empty() {
        team_attendance::Entity::insert_many(rows).exec(txn).await?;
    }
    Ok(())
}

/// The attendance of each of `team_ids`, by team id.
pub async fn attendance_of<C: ConnectionTrait>(db: &C, team_ids: &[i64]) -> DomainResult<HashMap<i64, Attendees>> {
    let mut found: HashMap<i64, Attendees> = HashMap::new();
    for row in team_attendance::Entity::find()
        .filter(team_attendance::Column::TeamId.is_in(team_ids.iter().copied()))
        .all(db)
        .await?
    {
        let entry = found.entry(row.team_id).or_default();
        match row.kind {
            Attendance::DropIn => entry.drop_ins.insert(row.user_id),
            Attendance::Left => entry.leavers.insert(row.user_id),
        };
    }
    Ok(found)
}

/// Who played for each of `team_ids` as result linking counts them: the
/// members (captain included) and drop-ins, without leavers.
pub async fn players_of<C: ConnectionTrait>(db: &C, team_ids: &[i64]) -> DomainResult<HashMap<i64, BTreeSet<i64>>> {
    let mut players: HashMap<i64, BTreeSet<i64>> = HashMap::new();
    for m in
        team_member::Entity::find().filter(team_member::Column::TeamId.is_in(team_ids.iter().copied())).all(db).await?
    {
        players.entry(m.team_id).or_default().insert(m.user_id);
    }
    for (team_id, attendees) in attendance_of(db, team_ids).await? {
        let team = players.entry(team_id).or_default();
        team.extend(attendees.drop_ins);
        team.retain(|id| !attendees.leavers.contains(id));
    }
    Ok(players)
}

pub async fn find_team<C: ConnectionTrait>(db: &C, id: i64) -> DomainResult<team::Model> {
    team::Entity::find_by_id(id).one(db).await?.ok_or(DomainError::NotFound("team"))
}

pub async fn find_tournament<C: ConnectionTrait>(db: &C, id: i64) -> DomainResult<tournament::Model> {
    tournament::Entity::find_by_id(id).one(db).await?.ok_or(DomainError::NotFound("tournament"))
}

/// A new team; `name` already validated.
pub struct NewTeam {
    pub tournament_id: i64,
    pub name: String,
    pub captain_id: Option<i64>,
    pub deputy_captain_id: Option<i64>,
    pub draft_order: i32,
    pub placement: Option<i32>,
    /// Members besides the captain and deputy.
    pub member_ids: Vec<i64>,
    pub attendees: Attendees,
}

/// Creates a team; captain and deputy become members.
pub async fn create_team(svc: &Services, new: NewTeam) -> DomainResult<team::Model> {
    let members = roster(new.captain_id, new.deputy_captain_id, &new.member_ids);
    let txn = crate::infra::db::write_txn(&svc.db).await?;
    if tournament::Entity::find_by_id(new.tournament_id).one(&txn).await?.is_none() {
        return Err(DomainError::unknown("unknown_tournament", "tournament_id does not exist"));
    }
    check_roster(&txn, new.tournament_id, None, &members).await?;
    check_deputy(new.captain_id, new.deputy_captain_id)?;
    check_attendance(&txn, &members, &new.attendees).await?;
    let created = team::ActiveModel {
        tournament_id: Set(new.tournament_id),
        name: Set(new.name),
        captain_id: Set(new.captain_id),
        deputy_captain_id: Set(new.deputy_captain_id),
        draft_order: Set(new.draft_order),
        placement: Set(new.placement),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    replace_members(&txn, created.id, &members).await?;
    replace_attendance(&txn, created.id, &new.attendees).await?;
    txn.commit().await?;
    svc.cache.invalidate(&[ns::TOURNAMENTS]).await;
    Ok(created)
}

/// Changes to a team; `name` already validated.
#[derive(Default)]
pub struct TeamChange {
    pub name: Option<String>,
    pub captain_id: Patch<i64>,
    pub deputy_captain_id: Patch<i64>,
    pub draft_order: Option<i32>,
    pub placement: Patch<i32>,
    /// Replaces the members (the captain and deputy stay members).
    pub member_ids: Option<Vec<i64>>,
    /// Replace the drop-ins and the leavers.
    pub dropin_member_ids: Option<Vec<i64>>,
    pub left_member_ids: Option<Vec<i64>>,
}

pub async fn update_team(svc: &Services, id: i64, change: TeamChange) -> DomainResult<team::Model> {
    let txn = crate::infra::db::write_txn(&svc.db).await?;
    let team = find_team(&txn, id).await?;
    let current: Vec<i64> = team_member::Entity::find()
        .filter(team_member::Column::TeamId.eq(team.id))
        .all(&txn)
        .await?
        .into_iter()
        .map(|m| m.user_id)
        .collect();
    let captain = change.captain_id.apply(team.captain_id);
    let deputy = change.deputy_captain_id.apply(team.deputy_captain_id);
    let members = roster(captain, deputy, change.member_ids.as_deref().unwrap_or(&current));
    check_roster(&txn, team.tournament_id, Some(team.id), &members).await?;
    check_deputy(captain, deputy)?;
    let mut attendees = attendance_of(&txn, &[team.id]).await?.remove(&team.id).unwrap_or_default();
    match change.dropin_member_ids {
        Some(ids) => attendees.drop_ins = ids.into_iter().collect(),
        // A drop-in who became a member is no longer a drop-in.
        None => attendees.drop_ins.retain(|id| !members.contains(id)),
    }
    match change.left_member_ids {
        Some(ids) => attendees.leavers = ids.into_iter().collect(),
        // Members taken off the team are no longer its leavers.
        None => attendees.leavers.retain(|id| members.contains(id)),
    }
    check_attendance(&txn, &members, &attendees).await?;
    let placement = change.placement.apply(team.placement);
    let mut active: team::ActiveModel = team.into();
    if let Some(name) = change.name {
        active.name = Set(name);
    }
    active.captain_id = Set(captain);
    active.deputy_captain_id = Set(deputy);
    if let Some(order) = change.draft_order {
        active.draft_order = Set(order);
    }
    active.placement = Set(placement);
    let updated = active.update(&txn).await?;
    replace_members(&txn, updated.id, &members).await?;
    replace_attendance(&txn, updated.id, &attendees).await?;
    txn.commit().await?;
    svc.cache.invalidate(&[ns::TOURNAMENTS]).await;
    Ok(updated)
}

/// Deletes a team; the games it played stay, with the team unset. Refused
/// while the team is in an unfinished hero draft.
pub async fn delete_team(svc: &Services, id: i64) -> DomainResult<()> {
    let txn = crate::infra::db::write_txn(&svc.db).await?;
    let team = find_team(&txn, id).await?;
    let drafts = crate::domain::hero_draft::service::unfinished_of_team(&txn, team.id).await?;
    if let Some(draft) = drafts.first() {
        return Err(DomainError::conflict(
            "team_in_hero_draft",
            format!("team {} is in hero draft {draft}, which is not over; finish or abandon it first", team.name),
        )
        .with_details(json!({ "hero_draft_ids": drafts })));
    }
    team::Entity::delete_by_id(team.id).exec(&txn).await?;
    txn.commit().await?;
    svc.cache.invalidate(&[ns::TOURNAMENTS]).await;
    Ok(())
}

/// Adds users to a tournament's pool; unknown user ids: nothing added.
pub async fn add_players(svc: &Services, tournament_id: i64, user_ids: &[i64]) -> DomainResult<()> {
    let wanted: BTreeSet<i64> = user_ids.iter().copied().collect();
    let txn = crate::infra::db::write_txn(&svc.db).await?;
    let t = find_tournament(&txn, tournament_id).await?;
    let known: BTreeSet<i64> = user::Entity::find()
        .filter(user::Column::Id.is_in(wanted.iter().copied()))
        .all(&txn)
        .await?
        .into_iter()
        .map(|u| u.id)
        .collect();
    let unknown: Vec<i64> = wanted.difference(&known).copied().collect();
    if !unknown.is_empty() {
        return Err(DomainError::unknown("unknown_users", "some user ids do not exist")
            .with_details(json!({ "user_ids": unknown })));
    }
    tournament_user::Entity::insert_many(
        wanted.iter().map(|&user_id| tournament_user::ActiveModel { tournament_id: Set(t.id), user_id: Set(user_id) }),
    )
    .on_conflict_do_nothing_on([tournament_user::Column::TournamentId, tournament_user::Column::UserId])
    .exec(&txn)
    .await?;
    txn.commit().await?;
    svc.cache.invalidate(&[ns::TOURNAMENTS]).await;
    Ok(())
}

/// Removes a player: they also leave their team; a removed captain is
/// succeeded by the deputy (or none). Teams are never deleted here.
pub async fn remove_player(svc: &Services, tournament_id: i64, user_id: i64) -> DomainResult<()> {
    let txn = crate::infra::db::write_txn(&svc.db).await?;
    let removed = tournament_user::Entity::delete_many()
        .filter(tournament_user::Column::TournamentId.eq(tournament_id))
        .filter(tournament_user::Column::UserId.eq(user_id))
        .exec(&txn)
        .await?;
    if removed.rows_affected == 0 {
        return Err(DomainError::NotFound("player of this tournament"));
    }
    let teams = team::Entity::find().filter(team::Column::TournamentId.eq(tournament_id)).all(&txn).await?;
    for t in teams {
        let (captain, deputy) = succession(t.captain_id, t.deputy_captain_id, user_id);
        if (captain, deputy) != (t.captain_id, t.deputy_captain_id) {
            let mut active: team::ActiveModel = t.clone().into();
            active.captain_id = Set(captain);
            active.deputy_captain_id = Set(deputy);
            active.update(&txn).await?;
        }
        team_member::Entity::delete_many()
            .filter(team_member::Column::TeamId.eq(t.id))
            .filter(team_member::Column::UserId.eq(user_id))
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    svc.cache.invalidate(&[ns::TOURNAMENTS]).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roster_includes_captain_and_deputy() {
        let r = roster(Some(1), Some(2), &[3, 1]);
        assert_eq!(r.into_iter().collect::<Vec<_>>(), vec![1, 2, 3]);
    }

    #[test]
    fn deputy_cannot_be_captain() {
        assert_eq!(check_deputy(Some(1), Some(1)).unwrap_err().code(), "deputy_is_captain");
        assert!(check_deputy(Some(1), Some(2)).is_ok());
    }

    #[test]
    fn deputy_succeeds_a_leaving_captain() {
        assert_eq!(succession(Some(1), Some(2), 1), (Some(2), None));
        assert_eq!(succession(Some(1), None, 1), (None, None));
        assert_eq!(succession(Some(1), Some(2), 2), (Some(1), None));
        assert_eq!(succession(Some(1), Some(2), 3), (Some(1), Some(2)));
    }

    #[test]
    fn patches() {
        assert_eq!(Patch::Set("a".to_owned()).apply(None), Some("a".to_owned()));
        assert_eq!(Patch::<i64>::Keep.apply(Some(4)), Some(4));
        assert_eq!(Patch::<i64>::Clear.apply(Some(4)), None);
        assert_eq!(Patch::Set(5).apply(Some(4)), Some(5));
    }
}
