//! `scheduler`: enqueues the periodic jobs (SCHEDULE_<KIND>); safe to run as
//! several replicas — each tick is enqueued once.

use clap::Parser;
use worker::runtime::{ops, schedule, startup};

/// `--help`'s summary, naming every schedule this build has.
fn about() -> String {
    let variables: Vec<String> = schedule::DEFAULTS.iter().map(|(kind, _)| schedule::env_name(kind)).collect();
    format!(
        "DTX scheduler: enqueues periodic jobs. Schedules: {} (six-field cron or off), SCHEDULE_TIMEZONE.",
        variables.join(", ")
    )
}

#[derive(Parser)]
#[command(name = "scheduler", version, about = about())]
struct Cli {
    #[command(flatten)]
    settings: worker::CoreSettings,
    /// Where to serve the scheduler's `/metrics`, `/livez` and `/readyz`.
    #[arg(long, env = "METRICS_BIND", default_value = "127.0.0.1:9463")]
    metrics_bind: std::net::SocketAddr,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if let Err(err) = startup::load_dotenv() {
        eprintln!("error: {err}");
        std::process::exit(2);
    }
    let (cli, matches) = startup::parse_cli::<Cli>();
    let settings = cli.settings;
    worker::runtime::telemetry::init_logging(settings.log_format);
    let checked = startup::require_database_url(&matches).and_then(|()| settings.validate());
    let schedules = match checked.and_then(|()| schedule::from_env()) {
        Ok(s) => s,
        Err(err) => {
            eprintln!("error: {err}");
            std::process::exit(2);
        }
    };
    startup::announce("scheduler", &settings);
    let ctx = worker::runtime::context::boot(settings).await?;
    worker::runtime::telemetry::install_metrics("scheduler")?;
    let probe = ops::Probe::of(&ctx);
    ops::serve(cli.metrics_bind, probe.clone(), ctx.clone()).await?;
    for def in &schedules {
        tracing::info!(kind = def.kind, expression = def.expression, next = ?def.next_runs(1).first(), "schedule");
    }
    let shutdown = async move {
        worker::runtime::shutdown::signal().await;
        probe.drain();
    };
    let stopped = schedule::run(ctx, schedules, shutdown).await;
    worker::runtime::telemetry::flush_traces();
    stopped
}
