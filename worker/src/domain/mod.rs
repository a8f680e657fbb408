//! The league domain. Each concept has one home here, whoever calls it:
//!
//! | concept | where |
//! |---|---|
//! | users, identity fields, Steam ids as pasted | [`users`], [`steam_ids`] |
//! | leagues and their admins (who organises what) | [`leagues`] |
//! | rosters (captain, deputy, members) | [`rosters`] |
//! | team (player) drafts | [`team_draft`] — `rules` (orders, dice) + `service` (picks) |
//! | hero drafts (Captain's Mode) | [`hero_draft`] — `rules` (sequence, clock) + `service` |
//! | brackets, results, Steam match links | [`brackets`] — pure rules + `service` |
//! | live events to sockets | [`live`] |
//! | league stats and MMR | [`stats`], [`mmr`] |
//! | Steam match sync | [`sync`] |
//! | Discord announcements, avatars | [`announcements`], [`avatars`] |
//!
//! Services take a [`Services`] handle, an injected clock (`now`) and dice
//! where they need them, and return [`DomainError`]s — never HTTP errors.

pub mod active_drafts;
pub mod announcements;
pub mod avatars;
pub mod brackets;
mod error;
pub mod hero_draft;
pub mod leagues;
pub mod live;
pub mod matches;
pub mod mmr;
pub mod rosters;
mod services;
pub mod stats;
pub mod steam_ids;
pub mod steam_profiles;
pub mod sync;
pub mod team_draft;
pub mod usernames;
pub mod users;

pub use error::{DomainError, DomainResult};
pub use services::Services;
