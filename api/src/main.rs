//! `api`: serve the DTX API (default), migrate the database, or load demo data.

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use poem::listener::{Listener, TcpListener};

use api::{ApiSettings, AppState};

#[derive(Parser)]
#[command(
    name = "api",
    version,
    about = "DTX league API server. With no REDIS_URL it runs everything in one process on SQLite."
)]
struct Cli {
    #[command(flatten)]
    settings: ApiSettings,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Bring the database schema up to date, then exit.
    Migrate,
    /// Load a small demo league (players, a tournament, teams, games), then exit.
    SeedDemo,
    /// Print the OpenAPI document, then exit.
    Openapi,
    /// Bring a league over from a Draftforge database (SPEC §19), then exit.
    /// Safe to run again: rows imported before are not imported twice.
    ImportDraftforge {
        /// The Draftforge database: a SQLite file or a postgres:// URL.
        #[arg(long)]
        from: String,
        /// Report what would be imported; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Also write the report as JSON to this file.
        #[arg(long)]
        report_json: Option<std::path::PathBuf>,
    },
}

/// One progress bar per table (SPEC §19).
struct Bars(std::sync::Mutex<Option<ProgressBar>>);

impl worker::import::draftforge::Progress for Bars {
    fn start(&self, table: &str, rows: u64) {
        let bar = ProgressBar::new(rows)
            .with_style(ProgressStyle::with_template("{msg:<32} {bar:30} {pos:>6}/{len:<6}").expect("valid template"));
        bar.set_message(table.to_owned());
        *self.0.lock().expect("progress lock") = Some(bar);
    }

    fn advance(&self) {
        if let Some(bar) = self.0.lock().expect("progress lock").as_ref() {
            bar.inc(1);
        }
    }

    fn finish(&self) {
        if let Some(bar) = self.0.lock().expect("progress lock").take() {
            bar.finish();
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    let settings = cli.settings;
    worker::runtime::telemetry::init_logging(settings.core.log_format);
    if let Err(err) = settings.validate() {
        eprintln!("error: {err}");
        std::process::exit(2);
    }
    rustls::crypto::ring::default_provider().install_default().ok();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Openapi => {
            println!("{}", api::server::spec_json(settings.test_endpoints));
        }
        Command::Migrate => {
            worker::infra::db::connect_and_migrate(&settings.core.database_url).await?;
            println!("database schema is up to date");
        }
        Command::SeedDemo => {
            let db = worker::infra::db::connect_and_migrate(&settings.core.database_url).await?;
            let bar = ProgressBar::new(api::seed::STEPS)
                .with_style(ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}").expect("valid template"));
            let seeded = api::seed::seed_demo(&db, settings.core.default_league_id, |step| {
                bar.set_message(step.to_owned());
                bar.inc(1);
            })
            .await?;
            bar.finish_and_clear();
            if seeded.created {
                println!("demo league loaded: {} players, tournament id {}", seeded.users, seeded.tournament_id);
            } else {
                println!("demo league already present (tournament id {})", seeded.tournament_id);
            }
        }
        Command::ImportDraftforge { from, dry_run, report_json } => {
            let db = worker::infra::db::connect_and_migrate(&settings.core.database_url).await?;
            let options = worker::import::draftforge::Options {
                dry_run,
                min_games: i64::from(settings.core.league_mmr_min_games),
            };
            let report = worker::import::draftforge::run(&db, &from, options, &Bars(Default::default())).await?;
            println!("{report}");
            if let Some(path) = report_json {
                std::fs::write(&path, serde_json::to_vec_pretty(&report)?)?;
            }
        }
        Command::Serve => {
            if settings.test_endpoints {
                tracing::warn!("DTX_TEST_ENDPOINTS is on: anyone can log in as anyone via POST /api/tests/login");
            }
            let acceptor = TcpListener::bind(settings.bind)
                .into_acceptor()
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on BIND={}: {e}", settings.bind))?;
            let metrics_bind = settings.metrics_address()?;
            let state = AppState::connect(settings).await?;
            if let Some(addr) = metrics_bind {
                let metrics = TcpListener::bind(addr)
                    .into_acceptor()
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot listen on API_METRICS_BIND={addr}: {e}"))?;
                let app = api::server::metrics_app(state.clone());
                tokio::spawn(async move { poem::Server::new_with_acceptor(metrics).run(app).await });
            }
            let background = api::embedded::start(&state)?;
            api::serve(state, acceptor, worker::runtime::shutdown::signal()).await?;
            background.stop().await;
            worker::runtime::telemetry::flush_traces();
        }
    }
    Ok(())
}
