//! The DTX league API (poem + poem-openapi): REST under `/api/`, sessions
//! and Discord login, OpenAPI docs at `/api/docs`.
//!
//! Handlers are thin: they parse input into domain values, check the
//! caller's role, call one service of the core (`worker::domain`) and render
//! a view. Dependencies point one way: `routes` → `views` + core;
//! `realtime` → `views` + core; no route imports `realtime` and `realtime`
//! imports no route.

pub mod auth;
pub use worker::infra::cache;
pub mod cached;
pub mod client_ip;
pub mod dashboard;
pub mod embedded;
pub mod error;
pub mod kv;
pub mod listener;
pub mod openapi;
pub mod pagination;
pub mod ratelimit;
pub mod realtime;
pub mod request_id;
pub mod routes;
pub mod seed;
pub mod server;
pub mod settings;
pub mod state;
pub mod types;
pub mod validate;
pub mod views;

pub use server::{app, serve};
pub use settings::ApiSettings;
pub use state::AppState;
