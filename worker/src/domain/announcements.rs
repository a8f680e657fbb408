//! Discord announcements (SPEC §7.4, §18): templates (what is said, where)
//! and scheduled events (when, once or weekly), managed through the API;
//! "post now" is the `post_discord_event` job. Each due occurrence is
//! claimed atomically before it is posted, so two runs never post it twice;
//! weekly events move to their next future slot (missed ones are skipped,
//! no catch-up bursts).

use chrono::{DateTime, Duration, Utc};
use entity::{discord_event_template, scheduled_discord_event};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
};
use serde_json::json;

use crate::clients::discord::DiscordClient;
use crate::domain::{DomainError, DomainResult};
use crate::jobs::JobError;
use crate::runtime::context::JobContext;

/// The first weekly slot after `now`, counted from the scheduled time.
pub fn next_weekly(scheduled: DateTime<Utc>, now: DateTime<Utc>) -> DateTime<Utc> {
    let week = Duration::days(7);
    let behind = (now - scheduled).num_seconds().max(0) / week.num_seconds();
    let mut next = scheduled + week * (behind as i32 + 1);
    while next <= now {
        next += week;
    }
    next
}

pub async fn post_due(ctx: &JobContext) -> Result<serde_json::Value, JobError> {
    if !ctx.discord.is_configured() {
        return Ok(crate::domain::avatars::not_configured());
    }
    let now = Utc::now();
    let due = scheduled_discord_event::Entity::find()
        .filter(scheduled_discord_event::Column::IsActive.eq(true))
        .filter(scheduled_discord_event::Column::NextPostAt.lte(now))
        .order_by_asc(scheduled_discord_event::Column::NextPostAt)
        .all(&ctx.db)
        .await?;
    let mut posted = 0;
    for ev in due {
        let Some(template) = discord_event_template::Entity::find_by_id(ev.template_id).one(&ctx.db).await? else {
            continue;
        };
        let next = if ev.is_recurring { next_weekly(ev.next_post_at, now) } else { ev.next_post_at };
        let claimed = scheduled_discord_event::Entity::update_many()
            .col_expr(scheduled_discord_event::Column::NextPostAt, Expr::value(next))
            .col_expr(scheduled_discord_event::Column::IsActive, Expr::value(ev.is_recurring))
            .col_expr(scheduled_discord_event::Column::LastPostedAt, Expr::value(now))
            .filter(scheduled_discord_event::Column::Id.eq(ev.id))
            .filter(scheduled_discord_event::Column::IsActive.eq(true))
            .filter(scheduled_discord_event::Column::NextPostAt.eq(ev.next_post_at))
            .exec(&ctx.db)
            .await?;
        if claimed.rows_affected != 1 {
            continue; // another run owns this occurrence
        }
        if let Err(err) = publish(&ctx.db, &ctx.discord, &template, ev.id).await {
            // Give the occurrence back so the retry can post it.
            scheduled_discord_event::Entity::update_many()
                .col_expr(scheduled_discord_event::Column::NextPostAt, Expr::value(ev.next_post_at))
                .col_expr(scheduled_discord_event::Column::IsActive, Expr::value(true))
                .col_expr(scheduled_discord_event::Column::LastPostedAt, Expr::value(ev.last_posted_at))
                .filter(scheduled_discord_event::Column::Id.eq(ev.id))
                .filter(scheduled_discord_event::Column::NextPostAt.eq(next))
                .exec(&ctx.db)
                .await?;
            return Err(err);
        }
        posted += 1;
    }
    Ok(json!({ "posted": posted }))
}

/// Posts an event's template to its channel (with the RSVP reactions it
/// asks for) and records the message.
async fn publish<C: ConnectionTrait>(
    db: &C,
    discord: &DiscordClient,
    template: &discord_event_template::Model,
    event_id: i64,
) -> Result<String, JobError> {
    let message_id = discord
        .post_embed(
            &template.channel_id,
            &template.title,
            &template.description,
            template.colour,
            template.include_rsvp,
        )
        .await?;
    if template.include_rsvp {
        discord.add_rsvp_reactions(&template.channel_id, &message_id).await?;
    }
    scheduled_discord_event::Entity::update_many()
        .col_expr(scheduled_discord_event::Column::DiscordMessageId, Expr::value(message_id.clone()))
        .filter(scheduled_discord_event::Column::Id.eq(event_id))
        .exec(db)
        .await?;
    Ok(message_id)
}

/// "Post now": posts the event once, leaving its schedule as it is.
pub async fn post_now<C: ConnectionTrait>(
    db: &C,
    discord: &DiscordClient,
    event_id: i64,
) -> Result<serde_json::Value, JobError> {
    if !discord.is_configured() {
        return Ok(crate::domain::avatars::not_configured());
    }
    let Some(ev) = scheduled_discord_event::Entity::find_by_id(event_id).one(db).await? else {
        return Err(JobError::Permanent(format!("event {event_id} no longer exists")));
    };
    let Some(template) = discord_event_template::Entity::find_by_id(ev.template_id).one(db).await? else {
        return Err(JobError::Permanent(format!("the template of event {event_id} no longer exists")));
    };
    let message_id = publish(db, discord, &template, ev.id).await?;
    scheduled_discord_event::Entity::update_many()
        .col_expr(scheduled_discord_event::Column::LastPostedAt, Expr::value(Utc::now()))
        .filter(scheduled_discord_event::Column::Id.eq(ev.id))
        .exec(db)
        .await?;
    Ok(json!({ "posted": 1, "message_id": message_id }))
}

/// The highest embed colour (24-bit RGB).
pub const MAX_COLOUR: i32 = 0xFF_FFFF;

/// A Discord channel id: a snowflake of 17 to 19 digits (the API documents
/// [`SNOWFLAKE_PATTERN`]). Snowflakes are 64-bit; 19 digits keep every one a
/// pattern accepts below 2^64 (20-digit ids begin after 2090).
pub const SNOWFLAKE_PATTERN: &str = "^[0-9]{17,19}$";
pub fn is_snowflake(id: &str) -> bool {
    (17..=19).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit())
}

/// What an announcement says and where.
#[derive(Debug, Clone)]
pub struct TemplateFields {
    pub title: String,
    pub description: String,
    pub colour: i32,
    pub channel_id: String,
    pub include_rsvp: bool,
}

/// A change to a template; `None` keeps the field.
#[derive(Debug, Clone, Default)]
pub struct TemplateChange {
    pub title: Option<String>,
    pub description: Option<String>,
    pub colour: Option<i32>,
    pub channel_id: Option<String>,
    pub include_rsvp: Option<bool>,
}

fn check_template(f: &TemplateFields) -> DomainResult<()> {
    if !is_snowflake(&f.channel_id) {
        return Err(DomainError::invalid("invalid_channel", "channel_id must be a Discord channel id (17–19 digits)"));
    }
    if !(0..=MAX_COLOUR).contains(&f.colour) {
        return Err(DomainError::invalid("invalid_colour", "colour must be 0..=16777215 (0xFFFFFF)"));
    }
    Ok(())
}

pub async fn find_template<C: ConnectionTrait>(db: &C, id: i64) -> DomainResult<discord_event_template::Model> {
    discord_event_template::Entity::find_by_id(id).one(db).await?.ok_or(DomainError::NotFound("template"))
}

pub async fn create_template<C: ConnectionTrait>(
    db: &C,
    f: TemplateFields,
) -> DomainResult<discord_event_template::Model> {
    check_template(&f)?;
    Ok(discord_event_template::ActiveModel {
        title: Set(f.title),
        description: Set(f.description),
        colour: Set(f.colour),
        channel_id: Set(f.channel_id),
        include_rsvp: Set(f.include_rsvp),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

pub async fn update_template<C: ConnectionTrait>(
    db: &C,
    id: i64,
    change: TemplateChange,
) -> DomainResult<discord_event_template::Model> {
    let before = find_template(db, id).await?;
    let merged = TemplateFields {
        title: change.title.unwrap_or(before.title.clone()),
        description: change.description.unwrap_or(before.description.clone()),
        colour: change.colour.unwrap_or(before.colour),
        channel_id: change.channel_id.unwrap_or(before.channel_id.clone()),
        include_rsvp: change.include_rsvp.unwrap_or(before.include_rsvp),
    };
    check_template(&merged)?;
    let mut active: discord_event_template::ActiveModel = before.into();
    active.title = Set(merged.title);
    active.description = Set(merged.description);
    active.colour = Set(merged.colour);
    active.channel_id = Set(merged.channel_id);
    active.include_rsvp = Set(merged.include_rsvp);
    Ok(active.update(db).await?)
}

/// Deletes a template no event uses (409 otherwise: delete its events first).
pub async fn delete_template<C: ConnectionTrait>(db: &C, id: i64) -> DomainResult<()> {
    find_template(db, id).await?;
    let used = scheduled_discord_event::Entity::find()
        .filter(scheduled_discord_event::Column::TemplateId.eq(id))
        .count(db)
        .await?;
    if used > 0 {
        return Err(DomainError::conflict("template_in_use", format!("{used} scheduled event(s) use this template")));
    }
    discord_event_template::Entity::delete_by_id(id).exec(db).await?;
    Ok(())
}

/// When and how often an announcement goes out.
#[derive(Debug, Clone, Default)]
pub struct EventChange {
    pub template_id: Option<i64>,
    pub next_post_at: Option<DateTime<Utc>>,
    /// Weekly from `next_post_at`, or once.
    pub weekly: Option<bool>,
    pub is_active: Option<bool>,
}

pub async fn find_event<C: ConnectionTrait>(db: &C, id: i64) -> DomainResult<scheduled_discord_event::Model> {
    scheduled_discord_event::Entity::find_by_id(id).one(db).await?.ok_or(DomainError::NotFound("event"))
}

async fn check_template_exists<C: ConnectionTrait>(db: &C, template_id: i64) -> DomainResult<()> {
    find_template(db, template_id)
        .await
        .map(|_| ())
        .map_err(|_| DomainError::unknown("unknown_template", "template_id does not exist"))
}

pub async fn create_event<C: ConnectionTrait>(
    db: &C,
    template_id: i64,
    next_post_at: DateTime<Utc>,
    weekly: bool,
    is_active: bool,
) -> DomainResult<scheduled_discord_event::Model> {
    check_template_exists(db, template_id).await?;
    Ok(scheduled_discord_event::ActiveModel {
        template_id: Set(template_id),
        next_post_at: Set(next_post_at),
        is_recurring: Set(weekly),
        is_active: Set(is_active),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

pub async fn update_event<C: ConnectionTrait>(
    db: &C,
    id: i64,
    change: EventChange,
) -> DomainResult<scheduled_discord_event::Model> {
    let before = find_event(db, id).await?;
    if let Some(t) = change.template_id {
        check_template_exists(db, t).await?;
    }
    let mut active: scheduled_discord_event::ActiveModel = before.into();
    if let Some(t) = change.template_id {
        active.template_id = Set(t);
    }
    if let Some(at) = change.next_post_at {
        active.next_post_at = Set(at);
    }
    if let Some(weekly) = change.weekly {
        active.is_recurring = Set(weekly);
    }
    if let Some(on) = change.is_active {
        active.is_active = Set(on);
    }
    Ok(active.update(db).await?)
}

pub async fn delete_event<C: ConnectionTrait>(db: &C, id: i64) -> DomainResult<()> {
    find_event(db, id).await?;
    scheduled_discord_event::Entity::delete_by_id(id).exec(db).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn weekly_skips_missed_occurrences() {
        let scheduled = Utc.with_ymd_and_hms(2026, 11, 1, 18, 0, 0).unwrap();
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap();
        assert_eq!(next_weekly(scheduled, now), Utc.with_ymd_and_hms(2026, 11, 29, 18, 0, 0).unwrap());
        let just_posted = Utc.with_ymd_and_hms(2026, 11, 1, 18, 0, 30).unwrap();
        assert_eq!(next_weekly(scheduled, just_posted), Utc.with_ymd_and_hms(2026, 11, 8, 18, 0, 0).unwrap());
        assert_eq!(next_weekly(scheduled, scheduled), Utc.with_ymd_and_hms(2026, 11, 8, 18, 0, 0).unwrap());
    }

    #[test]
    fn channel_ids_are_snowflakes() {
        assert!(is_snowflake("81384788765712384"));
        assert!(is_snowflake("1234567890123456789"));
        // 20 digits: past a 64-bit id (18446744073709551616 = 2^64).
        for bad in
            ["", "123", "8138478876571238a", "18446744073709551616", "99999999999999999999", " 81384788765712384"]
        {
            assert!(!is_snowflake(bad), "{bad}");
        }
    }
}
