//! `worker`: the background worker pool. This build connects to its stores
//! and waits for jobs; job kinds arrive with the job system.

use clap::Parser;

#[derive(Parser)]
#[command(name = "worker", version, about = "DTX worker pool: runs background jobs (Steam sync, stats, MMR, Discord).")]
struct Cli {
    #[command(flatten)]
    settings: worker::CoreSettings,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    worker::telemetry::init_logging(cli.settings.log_format);
    if let Err(err) = cli.settings.validate() {
        eprintln!("error: {err}");
        std::process::exit(2);
    }
    worker::infra::connect_and_migrate(&cli.settings.database_url)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open DATABASE_URL: {e}"))?;
    if let Some(url) = &cli.settings.redis_url {
        worker::infra::connect_redis(url).await.map_err(|e| anyhow::anyhow!("cannot connect to REDIS_URL: {e}"))?;
    }
    tracing::info!(concurrency = cli.settings.worker_concurrency, "worker ready");
    worker::shutdown::signal().await;
    Ok(())
}
