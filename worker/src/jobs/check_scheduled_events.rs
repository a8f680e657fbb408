//! `check_scheduled_events {}`: post due Discord announcements, once each.

use serde::{Deserialize, Serialize};

use crate::context::JobContext;
use crate::error::JobError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckScheduledEvents {}

impl CheckScheduledEvents {
    pub async fn run(&self, ctx: &JobContext) -> Result<serde_json::Value, JobError> {
        crate::events::post_due(ctx).await
    }
}
