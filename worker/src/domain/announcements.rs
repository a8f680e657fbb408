//! Scheduled Discord announcements (SPEC §7.4): each due occurrence is
//! claimed atomically before it is posted, so two runs never post it twice;
//! weekly events move to their next future slot (missed ones are skipped,
//! no catch-up bursts).

use chrono::{DateTime, Duration, Utc};
use entity::{discord_event_template, scheduled_discord_event};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::json;

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
        let result = ctx
            .discord
            .post_embed(
                &template.channel_id,
                &template.title,
                &template.description,
                template.colour,
                template.include_rsvp,
            )
            .await;
        match result {
            Ok(message_id) => {
                if template.include_rsvp {
                    ctx.discord.add_rsvp_reactions(&template.channel_id, &message_id).await?;
                }
                scheduled_discord_event::Entity::update_many()
                    .col_expr(scheduled_discord_event::Column::DiscordMessageId, Expr::value(message_id))
                    .filter(scheduled_discord_event::Column::Id.eq(ev.id))
                    .exec(&ctx.db)
                    .await?;
                posted += 1;
            }
            Err(err) => {
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
        }
    }
    Ok(json!({ "posted": posted }))
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
}
