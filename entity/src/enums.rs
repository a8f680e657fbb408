//! Closed sets of values stored as short strings. With the `openapi` feature
//! they double as poem-openapi enums so the API documents the same values.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $value:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(poem_openapi::Enum))]
        #[cfg_attr(feature = "openapi", oai(rename_all = "snake_case"))]
        #[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $(#[sea_orm(string_value = $value)] $variant,)+
        }

        impl $name {
            /// The stored (and JSON) spelling.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $value,)+ }
            }
        }
    };
}

string_enum!(
    /// Where a tournament is in its life.
    TournamentState { Future = "future", InProgress = "in_progress", Past = "past" }
);
string_enum!(
    /// Bracket format of a tournament.
    TournamentType {
        SingleElimination = "single_elimination",
        DoubleElimination = "double_elimination",
        Swiss = "swiss",
    }
);
string_enum!(
    /// Which bracket a game belongs to.
    BracketType { Winners = "winners", Losers = "losers", GrandFinals = "grand_finals", Swiss = "swiss" }
);
string_enum!(
    /// Progress of a game.
    GameStatus { Pending = "pending", Live = "live", Completed = "completed" }
);
string_enum!(
    /// Pick order of a team (player) draft (SPEC §9).
    DraftStyle { Snake = "snake", Normal = "normal", Shuffle = "shuffle" }
);
string_enum!(
    /// Captain's-Mode hero draft states (SPEC §10).
    HeroDraftState {
        WaitingForCaptains = "waiting_for_captains",
        Rolling = "rolling",
        Choosing = "choosing",
        Drafting = "drafting",
        Paused = "paused",
        Resuming = "resuming",
        Completed = "completed",
        Abandoned = "abandoned",
    }
);
string_enum!(
    /// A hero-draft action.
    HeroActionType { Ban = "ban", Pick = "pick" }
);
string_enum!(
    /// Lifecycle of one hero-draft round.
    HeroRoundState { Planned = "planned", Active = "active", Completed = "completed" }
);
string_enum!(
    /// Lifecycle of a background job in the ledger (SPEC §5, §21): `queued`
    /// (waiting for a worker), `scheduled` (waiting for its `run_at`),
    /// `running`, `succeeded`, `failed` (the last attempt failed; a retry is
    /// due), `dead`, `cancelled` (before it started, or at a safe point).
    JobStatus {
        Queued = "queued",
        Scheduled = "scheduled",
        Running = "running",
        Succeeded = "succeeded",
        Failed = "failed",
        Dead = "dead",
        Cancelled = "cancelled",
    }
);
impl JobStatus {
    /// Succeeded, dead or cancelled: nothing will change it any more.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Succeeded | Self::Dead | Self::Cancelled)
    }

    /// Queued, scheduled or waiting for a retry: no attempt is running.
    pub fn is_waiting(self) -> bool {
        matches!(self, Self::Queued | Self::Scheduled | Self::Failed)
    }
}

string_enum!(
    /// Where a claim to a Steam id stands.
    ClaimStatus { Pending = "pending", Approved = "approved", Rejected = "rejected" }
);
