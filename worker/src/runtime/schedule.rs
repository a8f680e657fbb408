//! The periodic jobs (SPEC §6), on apalis-cron. The scheduler only pushes
//! jobs. Every (schedule, tick) is claimed through the ledger's unique
//! idempotency key before pushing, so however many replicas tick, each tick
//! is enqueued exactly once, and a restarted replica never re-fires a tick.

use std::str::FromStr;
use std::time::Duration;

use apalis::prelude::*;
use apalis_cron::timezone::Tz;
use apalis_cron::{CronScheduler, Tick};
use chrono::{DateTime, Utc};
use entity::league;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::config::ConfigError;
use crate::jobs::enqueue::{IdempotencyKey, NewJob};
use crate::jobs::ledger::Inserted;
use crate::jobs::payload::{
    CheckScheduledEvents, Job, PruneJobRuns, RefreshAllDiscordData, RefreshDiscordAvatars, RefreshSteamProfiles,
    SyncLeagueMatches,
};
use crate::runtime::context::JobContext;

/// The scheduled kinds and their default six-field cron expressions.
pub const DEFAULTS: [(&str, &str); 6] = [
    ("sync_league_matches", "0 * * * * *"),
    ("check_scheduled_events", "0 * * * * *"),
    ("refresh_discord_avatars", "0 */5 * * * *"),
    ("refresh_all_discord_data", "0 0 4 * * *"),
    ("prune_job_runs", "0 30 4 * * *"),
    ("refresh_steam_profiles", "0 0 5 * * *"),
];

/// One periodic job.
#[derive(Debug, Clone)]
pub struct ScheduleDef {
    pub kind: &'static str,
    /// The expression as configured (`off` disables).
    pub expression: String,
    pub schedule: Option<cron::Schedule>,
    pub timezone: Tz,
}

impl ScheduleDef {
    /// The next `n` run times (UTC).
    pub fn next_runs(&self, n: usize) -> Vec<DateTime<Utc>> {
        match &self.schedule {
            Some(s) => s.upcoming(self.timezone).take(n).map(|t| t.with_timezone(&Utc)).collect(),
            None => vec![],
        }
    }
}

/// Reads `SCHEDULE_<KIND>` (cron with seconds, or `off`) and `SCHEDULE_TIMEZONE`.
pub fn from_env() -> Result<Vec<ScheduleDef>, ConfigError> {
    let tz_name = std::env::var("SCHEDULE_TIMEZONE").unwrap_or_else(|_| "UTC".to_owned());
    let timezone = Tz::from_str(&tz_name)
        .map_err(|_| ConfigError::new("SCHEDULE_TIMEZONE", format!("unknown time zone {tz_name:?}")))?;
    DEFAULTS
        .iter()
        .map(|(kind, default)| {
            let variable = env_name(kind);
            let expression = std::env::var(&variable).unwrap_or_else(|_| (*default).to_owned());
            parse(kind, &expression, timezone).map_err(|reason| ConfigError::new(leak(variable), reason))
        })
        .collect()
}

/// The variable that sets a kind's schedule (`SCHEDULE_SYNC_LEAGUE_MATCHES`).
pub fn env_name(kind: &str) -> String {
    format!("SCHEDULE_{}", kind.to_uppercase())
}

/// Config errors name a `&'static str` variable; these few names live for the process.
fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// Parses one schedule (`off` disables it).
pub fn parse(kind: &'static str, expression: &str, timezone: Tz) -> Result<ScheduleDef, String> {
    let trimmed = expression.trim();
    let schedule = if trimmed.eq_ignore_ascii_case("off") {
        None
    } else {
        if trimmed.split_whitespace().count() != 6 {
            return Err(format!("{trimmed:?} must have six fields (sec min hour day month weekday) or be off"));
        }
        Some(cron::Schedule::from_str(trimmed).map_err(|e| format!("{trimmed:?}: {e}"))?)
    };
    Ok(ScheduleDef { kind, expression: trimmed.to_owned(), schedule, timezone })
}

/// The jobs one tick of `kind` enqueues, with their idempotency keys (the
/// part after `cron:`: `<schedule>[:<steam league>]:<tick>`).
async fn jobs_for(ctx: &JobContext, kind: &str, tick: i64) -> anyhow::Result<Vec<(Job, String)>> {
    Ok(match kind {
        "sync_league_matches" => {
            if !ctx.steam.is_configured() {
                return Ok(vec![]);
            }
            league::Entity::find()
                .filter(league::Column::SyncEnabled.eq(true))
                .all(&ctx.db)
                .await?
                .into_iter()
                .map(|l| {
                    let key = format!("{kind}:{}:{tick}", l.steam_league_id);
                    (Job::SyncLeagueMatches(SyncLeagueMatches { steam_league_id: l.steam_league_id, full: false }), key)
                })
                .collect()
        }
        "prune_job_runs" => {
            let keep_days = ctx.settings.job_retention_days;
            vec![(Job::PruneJobRuns(PruneJobRuns { keep_days }), format!("{kind}:{tick}"))]
        }
        "refresh_steam_profiles" if ctx.steam.is_configured() => {
            vec![(Job::RefreshSteamProfiles(RefreshSteamProfiles {}), format!("{kind}:{tick}"))]
        }
        "refresh_steam_profiles" => vec![],
        _ if !ctx.discord.is_configured() => vec![],
        "check_scheduled_events" => {
            vec![(Job::CheckScheduledEvents(CheckScheduledEvents {}), format!("{kind}:{tick}"))]
        }
        "refresh_discord_avatars" => {
            vec![(Job::RefreshDiscordAvatars(RefreshDiscordAvatars { batch_size: 50 }), format!("{kind}:{tick}"))]
        }
        "refresh_all_discord_data" => {
            vec![(Job::RefreshAllDiscordData(RefreshAllDiscordData {}), format!("{kind}:{tick}"))]
        }
        _ => vec![],
    })
}

/// Enqueues the jobs of one tick; returns how many this replica enqueued.
pub async fn fire(ctx: &JobContext, kind: &str, tick: i64) -> anyhow::Result<usize> {
    let batch = jobs_for(ctx, kind, tick)
        .await?
        .into_iter()
        .map(|(job, key)| NewJob::new(job).key(Some(IdempotencyKey::cron(&key))))
        .collect();
    // Concurrent enqueues for the whole fan-out (a sync per league).
    let runs = ctx.enqueuer.enqueue_many(batch).await?;
    let fresh = runs.iter().filter(|(_, inserted)| *inserted == Inserted::Fresh).count();
    if fresh > 0 {
        tracing::info!(kind, tick, enqueued = fresh, "schedule fired");
    }
    Ok(fresh)
}

#[derive(Clone)]
struct Firing {
    kind: &'static str,
    ctx: JobContext,
}

async fn on_tick(tick: Tick<Tz>, firing: Data<Firing>) -> Result<(), BoxDynError> {
    let at = i64::try_from(tick.get_timestamp()).unwrap_or_default();
    fire(&firing.ctx, firing.kind, at).await.map(|_| ()).map_err(|e| -> BoxDynError { e.to_string().into() })
}

/// Runs the schedules until `shutdown` resolves.
pub async fn run(
    ctx: JobContext,
    schedules: Vec<ScheduleDef>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let mut monitor = Monitor::new();
    for def in schedules {
        let Some(schedule) = def.schedule.clone() else {
            tracing::info!(kind = def.kind, "schedule off");
            continue;
        };
        let firing = Firing { kind: def.kind, ctx: ctx.clone() };
        let tz = def.timezone;
        let name = format!("cron-{}-{}", def.kind, crate::runtime::pool::worker_name());
        monitor = monitor.register(move |_| {
            WorkerBuilder::new(name.clone())
                .backend(CronScheduler::new(schedule.clone()).with_timezone(tz))
                .data(firing.clone())
                .build(on_tick)
        });
    }
    monitor
        .shutdown_timeout(Duration::from_secs(10))
        .run_with_signal(async move {
            shutdown.await;
            Ok(())
        })
        .await
        .map_err(|e| anyhow::anyhow!("scheduler: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_six_fields_or_off() {
        let def = parse("sync_league_matches", "0 * * * * *", Tz::UTC).unwrap();
        let runs = def.next_runs(2);
        assert_eq!((runs[1] - runs[0]).num_seconds(), 60);
        assert!(parse("sync_league_matches", "off", Tz::UTC).unwrap().next_runs(3).is_empty());
        assert!(parse("sync_league_matches", "* * * * *", Tz::UTC).unwrap_err().contains("six fields"));
        assert!(parse("sync_league_matches", "0 * * * * nope", Tz::UTC).is_err());
    }

    #[test]
    fn daily_at_four_in_the_configured_zone() {
        let def = parse("refresh_all_discord_data", "0 0 4 * * *", Tz::Europe__Berlin).unwrap();
        let next = def.next_runs(1)[0].with_timezone(&Tz::Europe__Berlin);
        assert_eq!(next.format("%H:%M:%S").to_string(), "04:00:00");
    }
}
