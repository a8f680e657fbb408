//! `scheduler`: enqueues the periodic jobs (SCHEDULE_<KIND>); safe to run as
//! several replicas — each tick is enqueued once.

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "scheduler",
    version,
    about = "DTX scheduler: enqueues periodic jobs. Schedules: SCHEDULE_SYNC_LEAGUE_MATCHES, SCHEDULE_CHECK_SCHEDULED_EVENTS, SCHEDULE_REFRESH_DISCORD_AVATARS, SCHEDULE_REFRESH_ALL_DISCORD_DATA, SCHEDULE_PRUNE_JOB_RUNS (six-field cron or off), SCHEDULE_TIMEZONE."
)]
struct Cli {
    #[command(flatten)]
    settings: worker::CoreSettings,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    let settings = cli.settings;
    worker::runtime::telemetry::init_logging(settings.log_format);
    let schedules = match settings.validate().and_then(|()| worker::runtime::schedule::from_env()) {
        Ok(s) => s,
        Err(err) => {
            eprintln!("error: {err}");
            std::process::exit(2);
        }
    };
    let ctx = worker::runtime::context::boot(settings).await?;
    for def in &schedules {
        tracing::info!(kind = def.kind, expression = def.expression, next = ?def.next_runs(1).first(), "schedule");
    }
    let stopped = worker::runtime::schedule::run(ctx, schedules, worker::runtime::shutdown::signal()).await;
    worker::runtime::telemetry::flush_traces();
    stopped
}
