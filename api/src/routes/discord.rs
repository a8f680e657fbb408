//! `/api/discord`: announcement templates and scheduled events (staff);
//! "post now" enqueues `post_discord_event`. Channel ids and colours are
//! checked by the core (422); their pattern and range are in the document.

use chrono::{DateTime, Utc};
use entity::{discord_event_template, scheduled_discord_event};
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use sea_orm::{EntityTrait, QueryOrder};
use worker::domain::announcements::{self, EventChange, TemplateChange, TemplateFields};
use worker::jobs::Job;
use worker::jobs::payload::PostDiscordEvent;

use crate::auth::Session;
use crate::error::ApiResult;
use crate::pagination::{Page, PageRequest};
use crate::routes::jobs::{Accepted, enqueue};
use crate::routes::{Created, Deleted, Tag};
use crate::state::AppState;
use crate::types::Text;
use crate::validate;
use crate::views::discord::{EventView, Recurrence, TemplateView};

/// Longest embed title and description Discord takes.
const TITLE_MAX: usize = 256;
const DESCRIPTION_MAX: usize = 4096;

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct TemplateCreate {
    #[oai(validator(min_length = 1, max_length = 256))]
    pub title: Text,
    /// Markdown, as Discord renders it. Default empty.
    #[oai(validator(max_length = 4096))]
    pub description: Option<Text>,
    /// 24-bit RGB (0 to 16777215).
    pub colour: i32,
    /// The channel to post in (a snowflake, 17–19 digits).
    pub channel_id: Text,
    /// Add ✅ ❓ ❌ reactions for RSVPs. Default false.
    pub include_rsvp: Option<bool>,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct TemplatePatch {
    #[oai(validator(min_length = 1, max_length = 256))]
    pub title: Option<Text>,
    #[oai(validator(max_length = 4096))]
    pub description: Option<Text>,
    /// 24-bit RGB (0 to 16777215).
    pub colour: Option<i32>,
    /// A snowflake, 17–19 digits.
    pub channel_id: Option<Text>,
    pub include_rsvp: Option<bool>,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct EventCreate {
    pub template_id: i64,
    /// The first (or only) time it posts.
    pub next_post_at: DateTime<Utc>,
    /// Default once.
    pub recurrence: Option<Recurrence>,
    /// Default true.
    pub is_active: Option<bool>,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct EventPatch {
    pub template_id: Option<i64>,
    pub next_post_at: Option<DateTime<Utc>>,
    pub recurrence: Option<Recurrence>,
    pub is_active: Option<bool>,
}

fn title(value: &str) -> ApiResult<String> {
    validate::line("title", value, TITLE_MAX)
}

fn description(value: &str) -> ApiResult<String> {
    validate::text("description", value, DESCRIPTION_MAX)
}

pub struct DiscordApi;

#[OpenApi(tag = "Tag::Discord")]
impl DiscordApi {
    /// Announcement templates, oldest first (staff).
    #[oai(path = "/discord/templates", method = "get", operation_id = "listDiscordTemplates")]
    async fn list_templates(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))] page: poem_openapi::param::Query<
            Option<u64>,
        >,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] page_size: poem_openapi::param::Query<
            Option<u64>,
        >,
    ) -> ApiResult<Json<Page<TemplateView>>> {
        viewer.require_staff()?;
        let req = PageRequest::new(page.0, page_size.0);
        let select = discord_event_template::Entity::find().order_by_asc(discord_event_template::Column::Id);
        let (count, rows) = req.fetch(&state.db, select).await?;
        Ok(Json(req.wrap(count, rows.into_iter().map(Into::into).collect())))
    }

    /// Create a template (staff): what an announcement says, and where.
    #[oai(path = "/discord/templates", method = "post", operation_id = "createDiscordTemplate")]
    async fn create_template(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        body: Json<TemplateCreate>,
    ) -> ApiResult<Created<TemplateView>> {
        viewer.require_staff()?;
        let b = body.0;
        let fields = TemplateFields {
            title: title(&b.title)?,
            description: description(b.description.as_deref().unwrap_or(""))?,
            colour: b.colour,
            channel_id: b.channel_id.into(),
            include_rsvp: b.include_rsvp.unwrap_or(false),
        };
        Ok(Created::Created(Json(announcements::create_template(&state.db, fields).await?.into())))
    }

    /// One template (staff).
    #[oai(path = "/discord/templates/:id", method = "get", operation_id = "getDiscordTemplate")]
    async fn get_template(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        id: Path<i64>,
    ) -> ApiResult<Json<TemplateView>> {
        viewer.require_staff()?;
        Ok(Json(announcements::find_template(&state.db, id.0).await?.into()))
    }

    /// Change a template (staff).
    #[oai(path = "/discord/templates/:id", method = "patch", operation_id = "updateDiscordTemplate")]
    async fn patch_template(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        id: Path<i64>,
        body: Json<TemplatePatch>,
    ) -> ApiResult<Json<TemplateView>> {
        viewer.require_staff()?;
        let b = body.0;
        let change = TemplateChange {
            title: b.title.as_deref().map(title).transpose()?,
            description: b.description.as_deref().map(description).transpose()?,
            colour: b.colour,
            channel_id: b.channel_id.map(Into::into),
            include_rsvp: b.include_rsvp,
        };
        Ok(Json(announcements::update_template(&state.db, id.0, change).await?.into()))
    }

    /// Delete a template (staff); 409 while scheduled events use it.
    #[oai(path = "/discord/templates/:id", method = "delete", operation_id = "deleteDiscordTemplate")]
    async fn delete_template(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        id: Path<i64>,
    ) -> ApiResult<Deleted> {
        viewer.require_staff()?;
        announcements::delete_template(&state.db, id.0).await?;
        Ok(Deleted::NoContent)
    }

    /// Scheduled events, by next post time (staff).
    #[oai(path = "/discord/events", method = "get", operation_id = "listDiscordEvents")]
    async fn list_events(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))] page: poem_openapi::param::Query<
            Option<u64>,
        >,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] page_size: poem_openapi::param::Query<
            Option<u64>,
        >,
    ) -> ApiResult<Json<Page<EventView>>> {
        viewer.require_staff()?;
        let req = PageRequest::new(page.0, page_size.0);
        let select = scheduled_discord_event::Entity::find()
            .order_by_asc(scheduled_discord_event::Column::NextPostAt)
            .order_by_asc(scheduled_discord_event::Column::Id);
        let (count, rows) = req.fetch(&state.db, select).await?;
        Ok(Json(req.wrap(count, rows.into_iter().map(Into::into).collect())))
    }

    /// Schedule a template (staff): once, or weekly from `next_post_at`.
    #[oai(path = "/discord/events", method = "post", operation_id = "createDiscordEvent")]
    async fn create_event(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        body: Json<EventCreate>,
    ) -> ApiResult<Created<EventView>> {
        viewer.require_staff()?;
        let b = body.0;
        let weekly = b.recurrence.unwrap_or(Recurrence::Once) == Recurrence::Weekly;
        let created =
            announcements::create_event(&state.db, b.template_id, b.next_post_at, weekly, b.is_active.unwrap_or(true))
                .await?;
        Ok(Created::Created(Json(created.into())))
    }

    /// One scheduled event (staff).
    #[oai(path = "/discord/events/:id", method = "get", operation_id = "getDiscordEvent")]
    async fn get_event(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        id: Path<i64>,
    ) -> ApiResult<Json<EventView>> {
        viewer.require_staff()?;
        Ok(Json(announcements::find_event(&state.db, id.0).await?.into()))
    }

    /// Change a scheduled event (staff).
    #[oai(path = "/discord/events/:id", method = "patch", operation_id = "updateDiscordEvent")]
    async fn patch_event(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        id: Path<i64>,
        body: Json<EventPatch>,
    ) -> ApiResult<Json<EventView>> {
        viewer.require_staff()?;
        let b = body.0;
        let change = EventChange {
            template_id: b.template_id,
            next_post_at: b.next_post_at,
            weekly: b.recurrence.map(|r| r == Recurrence::Weekly),
            is_active: b.is_active,
        };
        Ok(Json(announcements::update_event(&state.db, id.0, change).await?.into()))
    }

    /// Delete a scheduled event (staff).
    #[oai(path = "/discord/events/:id", method = "delete", operation_id = "deleteDiscordEvent")]
    async fn delete_event(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        id: Path<i64>,
    ) -> ApiResult<Deleted> {
        viewer.require_staff()?;
        announcements::delete_event(&state.db, id.0).await?;
        Ok(Deleted::NoContent)
    }

    /// Post the event now (staff): 202 with the `post_discord_event` job to poll; its schedule stays.
    #[oai(path = "/discord/events/:id/post", method = "post", operation_id = "postDiscordEvent")]
    async fn post_now(&self, state: poem::web::Data<&AppState>, viewer: Session, id: Path<i64>) -> ApiResult<Accepted> {
        let user = viewer.require_staff()?;
        let event = announcements::find_event(&state.db, id.0).await?;
        let run =
            enqueue(&state, Job::PostDiscordEvent(PostDiscordEvent { event_id: event.id }), Some(user.id)).await?;
        Ok(Accepted::Accepted(Json(run.into())))
    }
}
