//! Users and the rules of their identity (SPEC §4, §20). Whoever can change
//! an identity field can log in as that account, so:
//!
//! - role flags are granted and revoked only by superusers;
//! - the identity fields (`username`, `discordId`, `steamId`) and flags of a
//!   staff or superuser account change only by a superuser;
//! - a `discordId` change is superuser-only for every account, ends that
//!   account's sessions (its `session_epoch` moves on) and, like every
//!   identity change, is audited: who, when, old → new.
//!
//! Every change is one transaction: the row, the league MMR that follows a
//! base MMR change, the match lines that follow a Steam id, the audit. After
//! the commit the caches are dropped and the affected leagues' stats are
//! recomputed (enqueued).

use std::collections::BTreeSet;

use chrono::Utc;
use entity::{ClaimStatus, identity_change, steam_claim, user};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, Set};
use serde_json::json;

use crate::domain::rosters::Patch;
use crate::domain::{DomainError, DomainResult, Services};
use crate::infra::cache::ns;
use crate::jobs::enqueue::NewJob;
use crate::jobs::payload::{Job, UpdateLeagueStats};

/// Position preferences to set, 0–5 each; `None` keeps the current one.
#[derive(Debug, Clone, Copy, Default)]
pub struct PositionsChange {
    pub carry: Option<i16>,
    pub mid: Option<i16>,
    pub offlane: Option<i16>,
    pub soft_support: Option<i16>,
    pub hard_support: Option<i16>,
}

impl PositionsChange {
    fn apply(self, active: &mut user::ActiveModel) {
        for (value, column) in [
            (self.carry, &mut active.pos_carry),
            (self.mid, &mut active.pos_mid),
            (self.offlane, &mut active.pos_offlane),
            (self.soft_support, &mut active.pos_soft_support),
            (self.hard_support, &mut active.pos_hard_support),
        ] {
            if let Some(v) = value {
                *column = Set(v);
            }
        }
    }
}

/// A change to a user; text already validated, Steam id already parsed.
#[derive(Debug, Clone, Default)]
pub struct UserChange {
    pub username: Option<String>,
    pub discord_id: Patch<String>,
    pub discord_username: Patch<String>,
    pub steam_id: Patch<i64>,
    pub mmr: Patch<i32>,
    pub nickname: Patch<String>,
    pub positions: PositionsChange,
    pub is_staff: Option<bool>,
    pub is_superuser: Option<bool>,
    /// Deactivates (false) or reactivates a user: a deactivated user cannot
    /// log in, their sessions end, and they stay in every history.
    pub is_active: Option<bool>,
}

impl UserChange {
    fn touches_identity(&self) -> bool {
        self.username.is_some()
            || !matches!(self.discord_id, Patch::Keep)
            || !matches!(self.steam_id, Patch::Keep)
            || self.is_staff.is_some()
            || self.is_superuser.is_some()
            || self.is_active.is_some()
    }
}

/// Column defaults of a fresh user row.
pub fn new_user_defaults() -> user::ActiveModel {
    user::ActiveModel {
        pos_carry: Set(0),
        pos_mid: Set(0),
        pos_offlane: Set(0),
        pos_soft_support: Set(0),
        pos_hard_support: Set(0),
        is_staff: Set(false),
        is_superuser: Set(false),
        is_active: Set(true),
        session_epoch: Set(0),
        ..Default::default()
    }
}

pub async fn find_user<C: ConnectionTrait>(db: &C, id: i64) -> DomainResult<user::Model> {
    user::Entity::find_by_id(id).one(db).await?.ok_or(DomainError::NotFound("user"))
}

fn is_privileged(u: &user::Model) -> bool {
    u.is_staff || u.is_superuser
}

/// Whether `actor` may make `change` to `target` (None = a new account).
fn check_permission(actor: &user::Model, target: Option<&user::Model>, change: &UserChange) -> DomainResult<()> {
    if actor.is_superuser {
        return Ok(());
    }
    if change.is_staff.is_some() || change.is_superuser.is_some() {
        return Err(DomainError::forbidden("only superusers grant or revoke roles"));
    }
    if target.is_some() && !matches!(change.discord_id, Patch::Keep) {
        return Err(DomainError::forbidden("only superusers change a Discord id (it is how an account logs in)"));
    }
    if target.is_some_and(is_privileged) && change.touches_identity() {
        return Err(DomainError::forbidden(
            "only superusers change the username, Discord id or Steam id of a staff or superuser account",
        ));
    }
    Ok(())
}

/// A username is free when no other account's name looks like it.
async fn check_username_free<C: ConnectionTrait>(db: &C, name: &str, except: Option<i64>) -> DomainResult<()> {
    let key = entity::user::username_key(name);
    let mut clash = user::Entity::find().filter(user::Column::UsernameKey.eq(key));
    if let Some(id) = except {
        clash = clash.filter(user::Column::Id.ne(id));
    }
    match clash.one(db).await? {
        Some(other) if other.username == name => {
            Err(DomainError::conflict("user_exists", format!("the username {name:?} is taken by user {}", other.id))
                .with_details(json!({ "field": "username", "holder_id": other.id })))
        }
        Some(other) => Err(DomainError::conflict(
            "username_confusable",
            format!("{name:?} looks like the existing username {:?} (case or look-alike letters)", other.username),
        )),
        None => Ok(()),
    }
}

/// Refuses a Discord or Steam id another account holds, naming the field
/// and the holder (SPEC §23: say what is in the way).
async fn check_ids_free<C: ConnectionTrait>(
    db: &C,
    discord_id: Option<&str>,
    steam_id: Option<i64>,
    except: Option<i64>,
) -> DomainResult<()> {
    let holders = [
        ("discordId", discord_id.map(|d| user::Column::DiscordId.eq(d))),
        ("steamId", steam_id.map(|s| user::Column::SteamId.eq(s))),
    ];
    for (field, condition) in holders {
        let Some(condition) = condition else { continue };
        let mut clash = user::Entity::find().filter(condition);
        if let Some(id) = except {
            clash = clash.filter(user::Column::Id.ne(id));
        }
        if let Some(holder) = clash.one(db).await? {
            return Err(DomainError::conflict("user_exists", format!("{field} is linked to user {}", holder.id))
                .with_details(json!({ "field": field, "holder_id": holder.id })));
        }
    }
    Ok(())
}

/// `wanted` (sanitized), or `wanted_2`, `wanted_3`… whichever looks like no
/// existing username — for accounts named by someone else (Discord login).
pub async fn free_username<C: ConnectionTrait>(db: &C, wanted: &str) -> DomainResult<String> {
    let base: String = crate::domain::usernames::sanitize(wanted).unwrap_or_else(|| "player".to_owned());
    let base: String = base.chars().take(crate::domain::usernames::MAX_CHARS - 8).collect();
    for n in 1..=1000 {
        let candidate = if n == 1 { base.clone() } else { format!("{base}_{n}") };
        if check_username_free(db, &candidate, None).await.is_ok() {
            return Ok(candidate);
        }
    }
    Ok(format!("{base}_{:08x}", rand::random::<u32>()))
}

fn conflict_of(err: sea_orm::DbErr) -> DomainError {
    match err.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
            DomainError::conflict("user_exists", "username, discordId or steamId is already taken")
        }
        _ => err.into(),
    }
}

/// Creates a user (staff; role flags need a superuser).
pub async fn create_user(svc: &Services, actor: &user::Model, change: UserChange) -> DomainResult<user::Model> {
    check_permission(actor, None, &change)?;
    let Some(username) = change.username.clone() else {
        return Err(DomainError::invalid("invalid_field", "username: required"));
    };
    let mut active = new_user_defaults();
    active.username = Set(username);
    active.discord_id = Set(change.discord_id.clone().apply(None));
    active.discord_username = Set(change.discord_username.clone().apply(None));
    active.steam_id = Set(change.steam_id.apply(None));
    active.mmr = Set(change.mmr.apply(None));
    active.nickname = Set(change.nickname.clone().apply(None));
    active.is_staff = Set(change.is_staff.unwrap_or(false));
    active.is_superuser = Set(change.is_superuser.unwrap_or(false));
    active.is_active = Set(change.is_active.unwrap_or(true));
    change.positions.apply(&mut active);
    let txn = crate::infra::db::write_txn(&svc.db).await?;
    if let Some(name) = &change.username {
        check_username_free(&txn, name, None).await?;
    }
    let (discord_id, steam_id) = (change.discord_id.clone().apply(None), change.steam_id.apply(None));
    check_ids_free(&txn, discord_id.as_deref(), steam_id, None).await?;
    let created = active.insert(&txn).await.map_err(conflict_of)?;
    let leagues = follow_changes(svc, &txn, &created, None, created.mmr.is_some()).await?;
    txn.commit().await?;
    after_commit(svc, created.id, leagues).await;
    find_user(&svc.db, created.id).await
}

/// Changes a user (staff; see the module rules for identity fields).
pub async fn update_user(
    svc: &Services,
    actor: &user::Model,
    id: i64,
    change: UserChange,
) -> DomainResult<user::Model> {
    let txn = crate::infra::db::write_txn(&svc.db).await?;
    let before = find_user(&txn, id).await?;
    check_permission(actor, Some(&before), &change)?;
    save_change(svc, txn, actor.id, before, change).await
}

/// What `api grant-superuser` did.
#[derive(Debug, Clone)]
pub struct Granted {
    pub user: user::Model,
    /// The account did not exist: it was made, named `admin` (or the first free variant).
    pub created: bool,
}

/// Makes the account with Discord id `discord_id` a superuser (and staff),
/// creating it when missing: the first administrator of a new league then
/// logs in with Discord as that account (SPEC §22). Audited with no actor
/// (the command line); running it again changes nothing.
pub async fn grant_superuser(db: &sea_orm::DatabaseConnection, discord_id: &str) -> DomainResult<Granted> {
    if !crate::domain::announcements::is_snowflake(discord_id) {
        return Err(DomainError::invalid("invalid_discord_id", "a Discord id is a snowflake of 17–19 digits"));
    }
    let txn = crate::infra::db::write_txn(db).await?;
    let existing = user::Entity::find().filter(user::Column::DiscordId.eq(discord_id)).one(&txn).await?;
    let (before, created) = match existing {
        Some(found) => (found, false),
        None => {
            let mut fresh = new_user_defaults();
            fresh.username = Set(free_username(&txn, "admin").await?);
            fresh.discord_id = Set(Some(discord_id.to_owned()));
            (fresh.insert(&txn).await.map_err(conflict_of)?, true)
        }
    };
    let mut active: user::ActiveModel = before.clone().into();
    active.is_staff = Set(true);
    active.is_superuser = Set(true);
    let after = active.update(&txn).await?;
    audit(&txn, None, &before, &after).await?;
    txn.commit().await?;
    Ok(Granted { user: after, created })
}

/// What users change on their own profile: nickname, positions, and
/// unlinking their Steam id (linking one needs proof: Steam OpenID).
#[derive(Debug, Clone, Default)]
pub struct ProfileChange {
    pub nickname: Patch<String>,
    pub unlink_steam: bool,
    pub positions: PositionsChange,
}

pub async fn update_profile(svc: &Services, me: i64, change: ProfileChange) -> DomainResult<user::Model> {
    let txn = crate::infra::db::write_txn(&svc.db).await?;
    let before = find_user(&txn, me).await?;
    let change = UserChange {
        nickname: change.nickname,
        steam_id: if change.unlink_steam { Patch::Clear } else { Patch::Keep },
        positions: change.positions,
        ..Default::default()
    };
    save_change(svc, txn, me, before, change).await
}

/// Applies a permitted change in `txn`, with what follows from it, and commits.
async fn save_change(
    svc: &Services,
    txn: DatabaseTransaction,
    actor: i64,
    before: user::Model,
    change: UserChange,
) -> DomainResult<user::Model> {
    let mut active: user::ActiveModel = before.clone().into();
    if let Some(username) = change.username.clone() {
        check_username_free(&txn, &username, Some(before.id)).await?;
        active.username = Set(username);
    }
    let discord_id = change.discord_id.clone().apply(before.discord_id.clone());
    let steam_id = change.steam_id.apply(before.steam_id);
    check_ids_free(&txn, discord_id.as_deref(), steam_id, Some(before.id)).await?;
    active.discord_id = Set(discord_id.clone());
    active.discord_username = Set(change.discord_username.clone().apply(before.discord_username.clone()));
    active.steam_id = Set(steam_id);
    active.mmr = Set(change.mmr.apply(before.mmr));
    active.nickname = Set(change.nickname.clone().apply(before.nickname.clone()));
    if let Some(flag) = change.is_staff {
        active.is_staff = Set(flag);
    }
    if let Some(flag) = change.is_superuser {
        active.is_superuser = Set(flag);
    }
    if let Some(flag) = change.is_active {
        active.is_active = Set(flag);
    }
    if discord_id != before.discord_id || change.is_active == Some(false) {
        // Whoever logged in through the old Discord account, or as a user
        // now deactivated, is logged out.
        active.session_epoch = Set(before.session_epoch + 1);
    }
    change.positions.apply(&mut active);
    let after = active.update(&txn).await.map_err(conflict_of)?;
    audit(&txn, Some(actor), &before, &after).await?;
    let leagues = follow_changes(svc, &txn, &after, Some(&before), after.mmr != before.mmr).await?;
    txn.commit().await?;
    after_commit(svc, after.id, leagues).await;
    find_user(&svc.db, after.id).await
}

/// Deletes a user (staff; a staff or superuser account only by a superuser).
/// Their history stays: draft rounds and stats keep the row with the user unset.
pub async fn delete_user(svc: &Services, actor: &user::Model, id: i64) -> DomainResult<()> {
    let target = find_user(&svc.db, id).await?;
    if is_privileged(&target) && !actor.is_superuser {
        return Err(DomainError::forbidden("only superusers delete staff accounts"));
    }
    user::Entity::delete_by_id(target.id).exec(&svc.db).await?;
    svc.cache.invalidate(&[ns::USERS, ns::TOURNAMENTS, ns::LEAGUE_STATS]).await;
    Ok(())
}

/// What follows a saved user inside its transaction: the league MMR after a
/// base MMR change, the match lines after a Steam id change. Returns the
/// Steam leagues whose stats must be recomputed.
async fn follow_changes(
    svc: &Services,
    txn: &DatabaseTransaction,
    after: &user::Model,
    before: Option<&user::Model>,
    mmr_changed: bool,
) -> DomainResult<BTreeSet<i64>> {
    if mmr_changed {
        // league_mmr = mmr + best adjustment: follow a base MMR change at once.
        let min_games = i64::from(svc.settings.league_mmr_min_games);
        crate::domain::stats::refresh_league_mmr(txn, &[after.id], min_games).await?;
    }
    let previous_steam = before.and_then(|b| b.steam_id);
    if after.steam_id == previous_steam {
        return Ok(BTreeSet::new());
    }
    Ok(crate::domain::sync::link::relink(txn, after.id, previous_steam, after.steam_id).await?)
}

async fn after_commit(svc: &Services, user_id: i64, leagues: BTreeSet<i64>) {
    svc.cache.invalidate(&[ns::USERS, ns::TOURNAMENTS, ns::LEAGUE_STATS, ns::MATCHES]).await;
    if leagues.is_empty() {
        return;
    }
    let jobs = leagues
        .iter()
        .map(|&steam_league_id| {
            NewJob::new(Job::UpdateLeagueStats(UpdateLeagueStats { steam_league_id })).by(Some(user_id))
        })
        .collect();
    if let Err(err) = svc.enqueuer.enqueue_many(jobs).await {
        tracing::warn!(error = %err, ?leagues, "stats recomputes not enqueued after a steamId change");
    }
}

/// One audit row per identity field that changed (`actor` `None`: the
/// command line, e.g. `api grant-superuser`).
async fn audit(
    txn: &DatabaseTransaction,
    actor: Option<i64>,
    before: &user::Model,
    after: &user::Model,
) -> DomainResult<()> {
    let steam = |id: Option<i64>| id.map(|v| v.to_string());
    let changes = [
        ("username", Some(before.username.clone()), Some(after.username.clone())),
        ("discordId", before.discord_id.clone(), after.discord_id.clone()),
        ("steamId", steam(before.steam_id), steam(after.steam_id)),
        ("is_staff", Some(before.is_staff.to_string()), Some(after.is_staff.to_string())),
        ("is_superuser", Some(before.is_superuser.to_string()), Some(after.is_superuser.to_string())),
        ("is_active", Some(before.is_active.to_string()), Some(after.is_active.to_string())),
    ];
    let now = Utc::now();
    for (field, old, new) in changes {
        if old != new {
            identity_change::ActiveModel {
                user_id: Set(after.id),
                actor_id: Set(actor),
                field: Set(field.to_owned()),
                old_value: Set(old),
                new_value: Set(new),
                created_at: Set(now),
                ..Default::default()
            }
            .insert(txn)
            .await?;
        }
    }
    Ok(())
}

/// What proving a Steam id did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SteamLink {
    /// The id is now this user's.
    Linked,
    /// Another account holds it: a claim waits for staff (its id).
    Claimed(i64),
}

/// A player proved (Steam OpenID) that `steam_id` is theirs. A free id is
/// linked at once, with the lines and stats that follow; an id another
/// account holds becomes a claim for staff to decide — never a silent 409,
/// never a silent move.
pub async fn link_proven_steam_id(svc: &Services, user_id: i64, steam_id: i64) -> DomainResult<SteamLink> {
    let txn = crate::infra::db::write_txn(&svc.db).await?;
    let me = find_user(&txn, user_id).await?;
    if me.steam_id == Some(steam_id) {
        return Ok(SteamLink::Linked);
    }
    if let Some(holder) = user::Entity::find().filter(user::Column::SteamId.eq(steam_id)).one(&txn).await? {
        let open = steam_claim::Entity::find()
            .filter(steam_claim::Column::UserId.eq(user_id))
            .filter(steam_claim::Column::SteamId.eq(steam_id))
            .filter(steam_claim::Column::Status.eq(ClaimStatus::Pending))
            .one(&txn)
            .await?;
        let claim = match open {
            Some(claim) => claim.id,
            None => {
                steam_claim::ActiveModel {
                    user_id: Set(user_id),
                    steam_id: Set(steam_id),
                    holder_id: Set(Some(holder.id)),
                    status: Set(ClaimStatus::Pending),
                    created_at: Set(Utc::now()),
                    resolved_by: Set(None),
                    resolved_at: Set(None),
                    ..Default::default()
                }
                .insert(&txn)
                .await?
                .id
            }
        };
        txn.commit().await?;
        return Ok(SteamLink::Claimed(claim));
    }
    let change = UserChange { steam_id: Patch::Set(steam_id), ..Default::default() };
    save_change(svc, txn, user_id, me, change).await?;
    Ok(SteamLink::Linked)
}

/// Staff decide a claim: approving moves the id from its holder to the
/// claimant (both audited); rejecting leaves it. The holder or claimant
/// being staff needs a superuser (identity of a privileged account).
pub async fn resolve_steam_claim(
    svc: &Services,
    actor: &user::Model,
    claim_id: i64,
    approve: bool,
) -> DomainResult<steam_claim::Model> {
    let txn = crate::infra::db::write_txn(&svc.db).await?;
    let claim = steam_claim::Entity::find_by_id(claim_id).one(&txn).await?.ok_or(DomainError::NotFound("claim"))?;
    if claim.status != ClaimStatus::Pending {
        return Err(DomainError::conflict("claim_resolved", "this claim is already decided"));
    }
    let claimant = find_user(&txn, claim.user_id).await?;
    let holder = match claim.holder_id {
        Some(id) => user::Entity::find_by_id(id).one(&txn).await?,
        None => None,
    };
    if !actor.is_superuser && (is_privileged(&claimant) || holder.as_ref().is_some_and(is_privileged)) {
        return Err(DomainError::forbidden("a claim involving a staff account is decided by a superuser"));
    }
    let mut resolved: steam_claim::ActiveModel = claim.clone().into();
    resolved.status = Set(if approve { ClaimStatus::Approved } else { ClaimStatus::Rejected });
    resolved.resolved_by = Set(Some(actor.id));
    resolved.resolved_at = Set(Some(Utc::now()));
    let resolved = resolved.update(&txn).await?;
    if !approve {
        txn.commit().await?;
        return Ok(resolved);
    }
    let mut leagues = BTreeSet::new();
    if let Some(holder) = holder.filter(|h| h.steam_id == Some(claim.steam_id)) {
        let mut active: user::ActiveModel = holder.clone().into();
        active.steam_id = Set(None);
        let after = active.update(&txn).await?;
        audit(&txn, Some(actor.id), &holder, &after).await?;
        leagues.extend(follow_changes(svc, &txn, &after, Some(&holder), false).await?);
    }
    let mut active: user::ActiveModel = claimant.clone().into();
    active.steam_id = Set(Some(claim.steam_id));
    let after = active.update(&txn).await.map_err(conflict_of)?;
    audit(&txn, Some(actor.id), &claimant, &after).await?;
    leagues.extend(follow_changes(svc, &txn, &after, Some(&claimant), false).await?);
    txn.commit().await?;
    after_commit(svc, after.id, leagues).await;
    Ok(resolved)
}

/// Marks a login: stamps `last_login`.
pub async fn touch_login<C: ConnectionTrait>(db: &C, id: i64) -> DomainResult<()> {
    user::Entity::update_many()
        .col_expr(user::Column::LastLogin, Expr::value(Utc::now()))
        .filter(user::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(id: i64, staff: bool, superuser: bool) -> user::Model {
        user::Model {
            discord_id: Some(format!("{id}000")),
            is_staff: staff,
            is_superuser: superuser,
            ..user::Model::blank(id, &format!("u{id}"))
        }
    }

    #[test]
    fn staff_cannot_touch_identity_of_privileged_accounts() {
        let staff = account(1, true, false);
        let root = account(2, true, true);
        let other_staff = account(3, true, false);
        let player = account(4, false, false);
        let rename = UserChange { username: Some("x".into()), ..Default::default() };
        let relink = UserChange { discord_id: Patch::Set("99".into()), ..Default::default() };
        let nickname = UserChange { nickname: Patch::Set("n".into()), ..Default::default() };
        for target in [&root, &other_staff] {
            assert!(check_permission(&staff, Some(target), &rename).is_err());
            assert!(check_permission(&staff, Some(target), &relink).is_err());
            assert!(check_permission(&staff, Some(target), &nickname).is_ok(), "profile fields stay editable");
            assert!(check_permission(&root, Some(target), &relink).is_ok());
        }
        assert!(check_permission(&staff, Some(&player), &rename).is_ok());
        assert!(check_permission(&staff, Some(&player), &relink).is_err(), "Discord ids are superuser-only");
        let grant = UserChange { is_staff: Some(true), ..Default::default() };
        assert!(check_permission(&staff, Some(&player), &grant).is_err());
        assert!(check_permission(&staff, None, &relink).is_ok(), "staff create players with a Discord id");
    }
}
