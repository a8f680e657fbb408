//! Teams with their members, drop-ins, leavers and total MMR.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use entity::{team, team_member, user};
use poem_openapi::Object;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::error::ApiResult;
use crate::views::users::UserView;

#[derive(Debug, Clone, Object)]
pub struct TeamView {
    pub id: i64,
    pub tournament_id: i64,
    pub name: String,
    #[oai(nullable)]
    pub captain_id: Option<i64>,
    #[oai(nullable)]
    pub deputy_captain_id: Option<i64>,
    pub draft_order: i32,
    #[oai(nullable)]
    pub placement: Option<i32>,
    /// Members, captain included, by id.
    pub members: Vec<UserView>,
    /// Played for the team without being drafted (not members), by id.
    pub dropin_member_ids: Vec<i64>,
    /// Members who left during the night, by id. Result linking counts drop-ins, not leavers.
    pub left_member_ids: Vec<i64>,
    /// Sum of the members' MMR (none counts as 0).
    pub total_mmr: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Loads members for `teams` with two queries, keeping the teams' order.
pub async fn team_views<C: ConnectionTrait>(db: &C, teams: Vec<team::Model>) -> ApiResult<Vec<TeamView>> {
    let team_ids: Vec<i64> = teams.iter().map(|t| t.id).collect();
    let links = team_member::Entity::find()
        .filter(team_member::Column::TeamId.is_in(team_ids.iter().copied()))
        .order_by_asc(team_member::Column::UserId)
        .all(db)
        .await?;
    let user_ids: BTreeSet<i64> = links.iter().map(|l| l.user_id).collect();
    let users: HashMap<i64, user::Model> = user::Entity::find()
        .filter(user::Column::Id.is_in(user_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|u| (u.id, u))
        .collect();
    let mut attendance = worker::domain::rosters::attendance_of(db, &team_ids).await?;
    let mut members: HashMap<i64, Vec<UserView>> = HashMap::new();
    for link in &links {
        if let Some(u) = users.get(&link.user_id) {
            members.entry(link.team_id).or_default().push(UserView::public(u));
        }
    }
    Ok(teams
        .into_iter()
        .map(|t| {
            let members = members.remove(&t.id).unwrap_or_default();
            let attendees = attendance.remove(&t.id).unwrap_or_default();
            TeamView {
                dropin_member_ids: attendees.drop_ins.into_iter().collect(),
                left_member_ids: attendees.leavers.into_iter().collect(),
                total_mmr: members.iter().map(|m| i64::from(m.mmr.unwrap_or(0))).sum(),
                members,
                id: t.id,
                tournament_id: t.tournament_id,
                name: t.name,
                captain_id: t.captain_id,
                deputy_captain_id: t.deputy_captain_id,
                draft_order: t.draft_order,
                placement: t.placement,
                created_at: t.created_at,
                updated_at: t.updated_at,
            }
        })
        .collect())
}
