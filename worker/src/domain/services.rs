//! The handle every domain service takes: the database and the side-effect
//! channels a service drives after it commits (live events, timers through
//! the job queue, cache invalidation). Cheap to clone.

use sea_orm::DatabaseConnection;

use crate::config::CoreSettings;
use crate::infra::bus::Bus;
use crate::infra::cache::Cache;
use crate::infra::lock::Locks;
use crate::infra::presence::Presence;
use crate::jobs::enqueue::Enqueuer;

#[derive(Clone)]
pub struct Services {
    pub db: DatabaseConnection,
    /// Live events to every socket on every instance.
    pub bus: Bus,
    /// The read cache; services invalidate what they change.
    pub cache: Cache,
    /// Jobs (timers, recomputes) a service starts.
    pub enqueuer: Enqueuer,
    /// Who is connected, and captains' heartbeats.
    pub presence: Presence,
    pub locks: Locks,
    pub settings: std::sync::Arc<CoreSettings>,
}
