//! The DTX league API (poem + poem-openapi): REST under `/api/`, sessions
//! and Discord login, OpenAPI docs at `/api/docs`.
//!
//! Handlers are thin: they parse input into domain values, check the
//! caller's role, read or write through sea-orm, and invalidate the cache.

pub mod auth;
pub use worker::cache;
pub mod cached;
pub mod dashboard;
pub mod draft;
pub mod embedded;
pub mod error;
pub mod kv;
pub mod pagination;
pub mod ratelimit;
pub mod realtime;
pub mod request_id;
pub mod routes;
pub mod seed;
pub mod server;
pub mod settings;
pub mod state;
pub mod validate;

pub use server::{app, serve};
pub use settings::ApiSettings;
pub use state::AppState;
