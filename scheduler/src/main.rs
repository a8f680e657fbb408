//! `scheduler`: enqueues the periodic jobs. This build validates its
//! configuration and waits; the schedules arrive with the job system.

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "scheduler",
    version,
    about = "DTX scheduler: enqueues periodic jobs; safe to run as several replicas."
)]
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
    tracing::info!("scheduler ready");
    worker::shutdown::signal().await;
    Ok(())
}
