//! How a job attempt fails.

use std::time::Duration;

/// A failed attempt: permanent ones go straight to `dead`, transient ones
/// are retried with backoff (no sooner than `retry_after` when given).
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("{0}")]
    Permanent(String),
    #[error("{message}")]
    Transient { message: String, retry_after: Option<Duration> },
    /// An operator cancelled the run; it stopped at a safe point.
    #[error("cancelled")]
    Cancelled,
}

impl JobError {
    pub fn transient(message: impl Into<String>) -> Self {
        Self::Transient { message: message.into(), retry_after: None }
    }

    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::Permanent(_))
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Transient { retry_after, .. } => *retry_after,
            Self::Permanent(_) | Self::Cancelled => None,
        }
    }
}

impl From<sea_orm::DbErr> for JobError {
    fn from(err: sea_orm::DbErr) -> Self {
        Self::transient(format!("database: {err}"))
    }
}

impl From<redis::RedisError> for JobError {
    fn from(err: redis::RedisError) -> Self {
        Self::transient(format!("redis: {err}"))
    }
}

impl From<crate::domain::DomainError> for JobError {
    fn from(err: crate::domain::DomainError) -> Self {
        use crate::domain::DomainError;
        match err {
            DomainError::Db(db) => db.into(),
            DomainError::Unavailable(what) => Self::transient(format!("{what} is unavailable")),
            refused => Self::Permanent(refused.to_string()),
        }
    }
}
