//! What a domain service refuses, and why. The api maps these to HTTP in one
//! place (`impl From<DomainError> for ApiError`); jobs map them to permanent
//! or transient failures.

use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// It clashes with the current state (not your turn, already exists).
    #[error("{message}")]
    Conflict { code: &'static str, message: String, details: Option<Value> },
    /// Well-formed but breaks a rule the request alone shows (a bad value, fields that do not go together).
    #[error("{message}")]
    Invalid { code: &'static str, message: String, details: Option<Value> },
    /// The request names something (in its body) that does not exist.
    #[error("{message}")]
    UnknownReference { code: &'static str, message: String, details: Option<Value> },
    /// A dependency (the job queue, Redis) is down; try again later.
    #[error("{0} is unavailable")]
    Unavailable(&'static str),
    #[error(transparent)]
    Db(#[from] sea_orm::DbErr),
}

pub type DomainResult<T> = Result<T, DomainError>;

impl DomainError {
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict { code, message: message.into(), details: None }
    }

    pub fn unknown(code: &'static str, message: impl Into<String>) -> Self {
        Self::UnknownReference { code, message: message.into(), details: None }
    }

    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid { code, message: message.into(), details: None }
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::Forbidden(message.into())
    }

    /// Adds structured context (the offending ids) to a conflict or an invalid value.
    pub fn with_details(mut self, value: Value) -> Self {
        if let Self::Conflict { details, .. } | Self::Invalid { details, .. } | Self::UnknownReference { details, .. } =
            &mut self
        {
            *details = Some(value);
        }
        self
    }

    /// The stable snake_case code of a refusal.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::Forbidden(_) => "forbidden",
            Self::Conflict { code, .. } | Self::Invalid { code, .. } | Self::UnknownReference { code, .. } => code,
            Self::Unavailable(_) => "unavailable",
            Self::Db(_) => "database",
        }
    }
}
