//! The one error type of the API and its body (SPEC §3):
//! `{"error": {"code", "message", "details"?}}`.

use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use poem_openapi::registry::{MetaHeader, MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::types::{ToJSON, Type};
use poem_openapi::{ApiResponse, Object};
use sea_orm::{DbErr, SqlErr};

/// What went wrong, machine- and human-readable.
#[derive(Debug, Clone, Object)]
pub struct ErrorDetail {
    /// A stable snake_case code, e.g. `not_found`, `not_your_turn`.
    pub code: String,
    /// A sentence for humans.
    pub message: String,
    /// Extra structured context (e.g. the offending ids).
    #[oai(skip_serializing_if_is_none)]
    pub details: Option<serde_json::Value>,
}

/// The body of every 4xx/5xx response.
#[derive(Debug, Clone, Object)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// An API error: a status, a code and a message.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub details: Option<serde_json::Value>,
    /// Seconds, for 429 and 503.
    pub retry_after: Option<u64>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self { status, code: code.into(), message: message.into(), details: None, retry_after: None }
    }

    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "not_authenticated", "log in first")
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
    }

    pub fn conflict(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 422 for something the request names in its body or query that does
    /// not exist (`unknown_team`); 404 is only for the resource the path names
    /// (SPEC §23).
    pub fn unknown(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    pub fn invalid(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    pub fn unavailable(what: &str) -> Self {
        let mut err = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            format!("{what} is unavailable, try again shortly"),
        );
        err.retry_after = Some(5);
        err
    }

    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
    }

    /// The JSON error body for any status, e.g. from poem's own errors.
    pub fn from_status(status: StatusCode, message: String) -> Self {
        let code = match status {
            StatusCode::BAD_REQUEST => "bad_request",
            StatusCode::UNAUTHORIZED => "not_authenticated",
            StatusCode::FORBIDDEN => "forbidden",
            StatusCode::NOT_FOUND => "not_found",
            StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
            StatusCode::NOT_ACCEPTABLE => "not_acceptable",
            StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            StatusCode::UNPROCESSABLE_ENTITY => "invalid",
            StatusCode::TOO_MANY_REQUESTS => "rate_limited",
            StatusCode::SERVICE_UNAVAILABLE => "unavailable",
            s if s.is_client_error() => "bad_request",
            _ => "internal",
        };
        let mut err = Self::new(status, code, message);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            err.retry_after = Some(5);
        }
        err
    }

    fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code.clone(),
                message: self.message.clone(),
                details: self.details.clone(),
            },
        }
    }
}

impl From<DbErr> for ApiError {
    fn from(err: DbErr) -> Self {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => {
                return Self::conflict("already_exists", "a record with these unique values already exists");
            }
            Some(SqlErr::ForeignKeyConstraintViolation(_)) => {
                return Self::unknown("unknown_reference", "a referenced record does not exist");
            }
            _ => {}
        }
        match err {
            DbErr::RecordNotFound(what) => Self::not_found(&what),
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => {
                tracing::warn!(error = %err, "database unavailable");
                Self::unavailable("the database")
            }
            other if is_connection_failure(&other) => {
                tracing::warn!(error = %other, "database unavailable");
                Self::unavailable("the database")
            }
            other => {
                tracing::error!(error = %other, "database error");
                Self::internal()
            }
        }
    }
}

/// Whether a query failed because the server went away (restart, network),
/// as opposed to a bug in the query.
fn is_connection_failure(err: &DbErr) -> bool {
    let text = err.to_string().to_ascii_lowercase();
    [
        "connection refused",
        "connection reset",
        "broken pipe",
        "pool timed out",
        "pool closed",
        "terminating connection",
        "error communicating with database",
        "io error",
    ]
    .iter()
    .any(|needle| text.contains(needle))
}

/// The one conversion from the core's refusals to HTTP.
impl From<worker::DomainError> for ApiError {
    fn from(err: worker::DomainError) -> Self {
        use worker::DomainError as D;
        match err {
            D::NotFound(what) => Self::not_found(what),
            D::Forbidden(message) => Self::forbidden(message),
            D::Conflict { code, message, details } => Self { details, ..Self::conflict(code, message) },
            D::Invalid { code, message, details } => Self { details, ..Self::invalid(code, message) },
            D::UnknownReference { code, message, details } => Self { details, ..Self::unknown(code, message) },
            D::Unavailable(what) => Self::unavailable(what),
            D::Db(db) => db.into(),
        }
    }
}

impl From<redis::RedisError> for ApiError {
    fn from(err: redis::RedisError) -> Self {
        tracing::warn!(error = %err, "redis unavailable");
        Self::unavailable("redis")
    }
}

impl poem::error::ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        self.status
    }

    fn as_response(&self) -> Response {
        let mut resp = poem::web::Json(self.body().to_json()).with_status(self.status).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut().insert("retry-after", secs.into());
        }
        resp
    }
}

/// Every status an endpoint may answer with besides its success.
const DOCUMENTED: &[(u16, &str)] = &[
    (400, "Malformed request: bad JSON, wrong types, missing fields, bad parameters."),
    (401, "Not logged in."),
    (403, "Logged in but not allowed, or a cross-site write."),
    (404, "No such resource."),
    (409, "Conflicts with the current state (duplicate, not your turn)."),
    (413, "Request body too large."),
    (415, "Body is not JSON (Content-Type)."),
    (422, "Well-formed but invalid (unknown reference, rule broken)."),
    (429, "Rate limited; see Retry-After."),
    (503, "A dependency (database, Redis) is down; see Retry-After."),
];

impl ApiResponse for ApiError {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: DOCUMENTED
                .iter()
                .map(|(status, description)| MetaResponse {
                    description,
                    status: Some(*status),
                    status_range: None,
                    content: vec![MetaMediaType {
                        content_type: "application/json; charset=utf-8",
                        schema: ErrorBody::schema_ref(),
                    }],
                    headers: if matches!(status, 429 | 503) {
                        vec![MetaHeader {
                            name: "Retry-After".to_owned(),
                            description: Some("Seconds to wait before retrying.".to_owned()),
                            required: false,
                            deprecated: false,
                            schema: u64::schema_ref(),
                        }]
                    } else {
                        vec![]
                    },
                })
                .collect(),
        }
    }

    fn register(registry: &mut Registry) {
        ErrorBody::register(registry);
    }
}

/// Turns every error that reaches the top (unknown route, bad JSON, poem's
/// own errors) into the JSON error body; [`ApiError`]s keep their own.
pub async fn render_error(err: poem::Error) -> Response {
    if let Some(api) = err.downcast_ref::<ApiError>() {
        if api.status.is_server_error() && api.status != StatusCode::SERVICE_UNAVAILABLE {
            tracing::error!(error = %api, "request failed");
        }
        return poem::error::ResponseError::as_response(api);
    }
    let status = err.status();
    let message = if status.is_server_error() {
        tracing::error!(error = %err, "unhandled error");
        "internal error".to_owned()
    } else {
        err.to_string()
    };
    let api = ApiError::from_status(status, message);
    poem::error::ResponseError::as_response(&api)
}
