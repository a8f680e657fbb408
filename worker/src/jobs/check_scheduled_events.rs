//! `check_scheduled_events {}`: post due Discord announcements, once each.

use crate::jobs::JobError;
use crate::jobs::payload::CheckScheduledEvents;
use crate::runtime::context::JobContext;

impl CheckScheduledEvents {
    pub async fn run(&self, ctx: &JobContext) -> Result<serde_json::Value, JobError> {
        crate::domain::announcements::post_due(ctx).await
    }
}
