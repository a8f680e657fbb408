//! Who is calling: sessions, the request's viewer, CSRF defence, Discord
//! OAuth2 login.

pub mod csrf;
pub mod discord;
pub mod pkce;
pub mod session;
pub mod viewer;

pub use viewer::{Session, Viewer};
