//! `worker`: the background worker pool, or one-off job commands.

use clap::{Parser, Subcommand};

use worker::jobs::Job;
use worker::jobs::enqueue::NewJob;

#[derive(Parser)]
#[command(name = "worker", version, about = "DTX worker pool: runs background jobs (Steam sync, stats, MMR, Discord).")]
struct Cli {
    #[command(flatten)]
    settings: worker::CoreSettings,
    /// Where to serve this worker's `/metrics`, `/livez` and `/readyz` (several workers on one host:
    /// one port each, e.g. 127.0.0.1:9461, :9462 — the `worker@.service` unit does that).
    #[arg(long, env = "METRICS_BIND", default_value = "127.0.0.1:9464")]
    metrics_bind: std::net::SocketAddr,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the worker pool (the default). SIGTERM drains it
    /// (WORKER_SHUTDOWN_TIMEOUT_SECS); SIGTSTP makes it quiet (no new jobs).
    Run,
    /// Enqueue one job and print its run id, e.g.
    /// `worker enqueue sync_league_matches --args '{"steam_league_id": 17929, "full": true}'`.
    Enqueue {
        kind: String,
        #[arg(long, default_value = "{}")]
        args: String,
        /// Run it later (RFC 3339, at most 30 days ahead), e.g. `2026-12-24T18:00:00Z`.
        #[arg(long)]
        run_at: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Cancel a run: a waiting one at once, a running one at its next safe point.
    Cancel { run_id: String },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    use worker::runtime::startup;
    if let Err(err) = startup::load_dotenv() {
        eprintln!("error: {err}");
        std::process::exit(2);
    }
    let (cli, matches) = startup::parse_cli::<Cli>();
    let settings = cli.settings;
    worker::runtime::telemetry::init_logging(settings.log_format);
    if let Err(err) = startup::require_database_url(&matches).and_then(|()| settings.validate()) {
        eprintln!("error: {err}");
        std::process::exit(2);
    }
    let command = cli.command.unwrap_or(Command::Run);
    if let Command::Enqueue { run_at: Some(run_at), .. } = &command
        && let Err(reason) = worker::jobs::enqueue::check_run_at(*run_at, chrono::Utc::now())
    {
        eprintln!("error: --run-at: {reason}");
        std::process::exit(2);
    }
    if matches!(command, Command::Run) {
        startup::announce("worker", &settings);
    }
    let ctx = worker::runtime::context::boot(settings).await?;
    match command {
        Command::Run => {
            worker::runtime::telemetry::install_metrics("worker")?;
            let probe = worker::runtime::ops::Probe::of(&ctx);
            worker::runtime::ops::serve(cli.metrics_bind, probe.clone(), ctx.clone()).await?;
            let shutdown = async move {
                worker::runtime::shutdown::signal().await;
                probe.drain();
            };
            let stopped = worker::runtime::pool::run(ctx, shutdown, worker::runtime::shutdown::quiet()).await;
            worker::runtime::telemetry::flush_traces();
            stopped
        }
        Command::Enqueue { kind, args, run_at } => {
            let args: serde_json::Value =
                serde_json::from_str(&args).map_err(|e| anyhow::anyhow!("--args is not JSON: {e}"))?;
            let job = Job::parse(&kind, args).map_err(|e| anyhow::anyhow!(e))?;
            let (run, _) = ctx.enqueuer.enqueue(NewJob::new(job).at(run_at)).await?;
            ctx.enqueuer.ledger.settle().await?;
            println!("{}", run.id);
            Ok(())
        }
        Command::Cancel { run_id } => {
            match worker::jobs::control::cancel(&ctx.enqueuer, &run_id).await {
                Ok(run) => println!("{} {}", run.id, run.status.as_str()),
                Err(err) => {
                    eprintln!("error: {err}");
                    std::process::exit(1);
                }
            }
            Ok(())
        }
    }
}
