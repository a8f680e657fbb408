//! `GET /api/health`: 200 when every dependency answers, 503 otherwise.

use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use sea_orm::ConnectionTrait;

use crate::routes::Tag;
use crate::state::AppState;

#[derive(Debug, Object)]
pub struct Health {
    /// `ok` or `degraded`.
    pub status: String,
    /// `ok` or `down`.
    pub db: String,
    /// `ok` or `down` (the job queue's store).
    pub queue: String,
    /// `ok`, `down`, or `disabled` in embedded mode.
    pub redis: String,
}

#[derive(ApiResponse)]
pub enum HealthResponse {
    /// Everything answers.
    #[oai(status = 200)]
    Ok(Json<Health>),
    /// A dependency is down.
    #[oai(status = 503)]
    Degraded(Json<Health>, #[oai(header = "Retry-After")] u64),
}

fn word(ok: bool) -> String {
    if ok { "ok" } else { "down" }.to_owned()
}

pub struct HealthApi;

#[OpenApi(tag = "Tag::Health")]
impl HealthApi {
    /// Dependency health.
    #[oai(path = "/health", method = "get", operation_id = "getHealth")]
    async fn health(&self, state: poem::web::Data<&AppState>) -> HealthResponse {
        let db_ok = state.db.execute_unprepared("SELECT 1").await.is_ok();
        let redis_ok = match &state.redis {
            Some(conn) => Some(redis::cmd("PING").query_async::<String>(&mut conn.clone()).await.is_ok()),
            None => None,
        };
        // The queue lives in Redis in distributed mode, in the database otherwise.
        let queue_ok = redis_ok.unwrap_or(db_ok);
        let health = Health {
            status: if db_ok && queue_ok && redis_ok != Some(false) { "ok" } else { "degraded" }.to_owned(),
            db: word(db_ok),
            queue: word(queue_ok),
            redis: redis_ok.map_or_else(|| "disabled".to_owned(), word),
        };
        if health.status == "ok" { HealthResponse::Ok(Json(health)) } else { HealthResponse::Degraded(Json(health), 5) }
    }
}
