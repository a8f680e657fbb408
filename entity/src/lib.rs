//! sea-orm entities for every DTX table (SPEC §2), their enums, and the pure
//! rules that belong to the data itself (derived fields such as
//! `steam_account_id` and `avatarUrl`).
//!
//! Column names are snake_case in the database; the API layer renames the few
//! fields the SPEC spells in camelCase (`discordId`, `steamId`, …).

pub mod enums;
pub mod steam_id;

pub mod bracket_event;
pub mod discord_event_template;
pub mod draft;
pub mod draft_event;
pub mod draft_round;
pub mod game;
pub mod hero_draft;
pub mod hero_draft_event;
pub mod hero_draft_round;
pub mod hero_draft_team;
pub mod identity_change;
pub mod import_map;
pub mod job_kind_pause;
pub mod job_run;
pub mod kv_entry;
pub mod league;
pub mod league_admin;
pub mod league_player_stats;
pub mod league_sync_state;
pub mod player_match_stats;
pub mod scheduled_discord_event;
pub mod steam_claim;
pub mod steam_match;
pub mod team;
pub mod team_attendance;
pub mod team_member;
pub mod tournament;
pub mod tournament_user;
pub mod user;

pub use enums::*;

/// `ActiveModelBehavior` for tables with `created_at`/`updated_at`: both are
/// stamped on insert, `updated_at` on every update.
#[macro_export]
macro_rules! timestamped {
    () => {
        #[sea_orm::entity::prelude::async_trait::async_trait]
        impl sea_orm::ActiveModelBehavior for ActiveModel {
            async fn before_save<C: sea_orm::ConnectionTrait>(
                mut self,
                _db: &C,
                insert: bool,
            ) -> Result<Self, sea_orm::DbErr> {
                let now = chrono::Utc::now();
                if insert && self.created_at.is_not_set() {
                    self.created_at = sea_orm::Set(now);
                }
                self.updated_at = sea_orm::Set(now);
                Ok(self)
            }
        }
    };
}
