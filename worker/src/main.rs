//! `worker`: the background worker pool, or one-off job commands.

use clap::{Parser, Subcommand};

use worker::jobs::Job;
use worker::jobs::enqueue::NewJob;

#[derive(Parser)]
#[command(name = "worker", version, about = "DTX worker pool: runs background jobs (Steam sync, stats, MMR, Discord).")]
struct Cli {
    #[command(flatten)]
    settings: worker::CoreSettings,
    /// Where to serve Prometheus `GET /metrics` for this worker.
    #[arg(long, env = "METRICS_BIND", default_value = "127.0.0.1:9100")]
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
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    let settings = cli.settings;
    worker::runtime::telemetry::init_logging(settings.log_format);
    if let Err(err) = settings.validate() {
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
    let ctx = worker::runtime::context::boot(settings).await?;
    match command {
        Command::Run => {
            worker::runtime::telemetry::install_metrics(Some(cli.metrics_bind))
                .map_err(|e| anyhow::anyhow!("cannot serve metrics on METRICS_BIND={}: {e}", cli.metrics_bind))?;
            let stopped = worker::runtime::pool::run(
                ctx,
                worker::runtime::shutdown::signal(),
                worker::runtime::shutdown::quiet(),
            )
            .await;
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
