//! Background jobs (SPEC §5, §21). [`payload`] defines every kind's
//! arguments and the envelope's versions; each kind's handler is a file of
//! its own here; [`enqueue`] puts jobs on the queue and [`recorder`] records
//! their lifecycle in the ledger ([`ledger`]: single-row writes and the
//! rules; [`group_commit`]: embedded mode; [`journal`]: distributed mode);
//! [`control`] steers them (cancel, bulk, pause). The runner that drives an
//! attempt is `runtime::runner`.

pub mod auto_link_games;
pub mod check_scheduled_events;
pub mod control;
pub mod enqueue;
pub mod error;
pub mod group_commit;
pub mod herodraft_timeout;
pub mod history;
pub mod journal;
pub mod ledger;
pub mod payload;
pub mod post_discord_event;
pub mod prune_job_runs;
pub mod queue_summary;
pub mod recalculate_league_mmr;
pub mod recorder;
pub mod refresh_all_discord_data;
pub mod refresh_discord_avatars;
pub mod refresh_steam_profiles;
pub mod refresh_user_avatar;
pub mod retry_failed_matches;
pub mod sync_league_matches;
pub mod update_league_stats;

pub use error::JobError;
pub use payload::{Envelope, Job, KINDS, Policy};

use crate::runtime::context::JobContext;

impl Job {
    /// Runs the job once; the result JSON goes to the ledger.
    pub async fn run(&self, ctx: &JobContext) -> Result<serde_json::Value, JobError> {
        match self {
            Self::SyncLeagueMatches(a) => a.run(ctx).await,
            Self::RetryFailedMatches(a) => a.run(ctx).await,
            Self::UpdateLeagueStats(a) => a.run(ctx).await,
            Self::RecalculateLeagueMmr(a) => a.run(ctx).await,
            Self::RefreshDiscordAvatars(a) => a.run(ctx).await,
            Self::RefreshUserAvatar(a) => a.run(ctx).await,
            Self::RefreshAllDiscordData(a) => a.run(ctx).await,
            Self::CheckScheduledEvents(a) => a.run(ctx).await,
            Self::HerodraftTimeout(a) => a.run(ctx).await,
            Self::PruneJobRuns(a) => a.run(ctx).await,
            Self::AutoLinkGames(a) => a.run(ctx).await,
            Self::PostDiscordEvent(a) => a.run(ctx).await,
            Self::RefreshSteamProfiles(a) => a.run(ctx).await,
        }
    }
}
