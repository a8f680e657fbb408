//! `worker`: the background worker pool, or one-off job commands.

use clap::{Parser, Subcommand};

use worker::jobs::Job;

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
    /// Run the worker pool (the default).
    Run,
    /// Enqueue one job, e.g. `worker enqueue sync_league_matches --args '{"league_id": 17929, "full": true}'`.
    Enqueue {
        kind: String,
        #[arg(long, default_value = "{}")]
        args: String,
    },
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
    let ctx = worker::runtime::context::boot(settings).await?;
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => {
            worker::runtime::telemetry::install_metrics(Some(cli.metrics_bind))
                .map_err(|e| anyhow::anyhow!("cannot serve metrics on METRICS_BIND={}: {e}", cli.metrics_bind))?;
            worker::runtime::pool::run(ctx, worker::runtime::shutdown::signal()).await
        }
        Command::Enqueue { kind, args } => {
            let args: serde_json::Value =
                serde_json::from_str(&args).map_err(|e| anyhow::anyhow!("--args is not JSON: {e}"))?;
            let job = Job::parse(&kind, args).map_err(|e| anyhow::anyhow!(e))?;
            let (run, _) = ctx.enqueuer.enqueue(job, None, None).await?;
            println!("{}", run.id);
            Ok(())
        }
    }
}
