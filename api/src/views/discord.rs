//! Discord announcements as clients see them.

use chrono::{DateTime, Utc};
use entity::{discord_event_template, scheduled_discord_event};
use poem_openapi::{Enum, Object};

/// How often an event posts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum Recurrence {
    /// Once, at `next_post_at`.
    Once,
    /// Every week from `next_post_at` (missed weeks are skipped, not caught up).
    Weekly,
}

#[derive(Debug, Object)]
pub struct TemplateView {
    pub id: i64,
    pub title: String,
    pub description: String,
    /// 24-bit RGB.
    pub colour: i32,
    pub channel_id: String,
    pub include_rsvp: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<discord_event_template::Model> for TemplateView {
    fn from(t: discord_event_template::Model) -> Self {
        Self {
            id: t.id,
            title: t.title,
            description: t.description,
            colour: t.colour,
            channel_id: t.channel_id,
            include_rsvp: t.include_rsvp,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

#[derive(Debug, Object)]
pub struct EventView {
    pub id: i64,
    pub template_id: i64,
    pub next_post_at: DateTime<Utc>,
    pub recurrence: Recurrence,
    /// Inactive events do not post (a one-off event turns inactive once posted).
    pub is_active: bool,
    #[oai(nullable)]
    pub last_posted_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub discord_message_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<scheduled_discord_event::Model> for EventView {
    fn from(e: scheduled_discord_event::Model) -> Self {
        Self {
            id: e.id,
            template_id: e.template_id,
            next_post_at: e.next_post_at,
            recurrence: if e.is_recurring { Recurrence::Weekly } else { Recurrence::Once },
            is_active: e.is_active,
            last_posted_at: e.last_posted_at,
            discord_message_id: e.discord_message_id,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}
