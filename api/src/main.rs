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
    /// Bring the database schema up to date (under a lock: safe while replicas start), then exit.
    Migrate {
        /// Only say whether the schema is current: exit 0 if so, 1 if migrations are pending.
        #[arg(long)]
        check: bool,
    },
    /// Make the user with this Discord id a superuser (created when missing), then exit: the
    /// first administrator of a new league logs in with Discord as that account.
    GrantSuperuser {
        /// The account's Discord id (a snowflake).
        #[arg(long)]
        discord_id: String,
    },
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
    use worker::runtime::startup;
    if let Err(err) = startup::load_dotenv() {
        eprintln!("error: {err}");
        std::process::exit(2);
    }
    let (cli, _) = startup::parse_cli::<Cli>();
    let settings = cli.settings;
    worker::runtime::telemetry::init_logging(settings.core.log_format);
    if let Err(err) = settings.validate() {
        eprintln!("error: {err}");
        std::process::exit(2);
    }
    rustls::crypto::ring::default_provider().install_default().ok();
    let url = settings.core.database_url.clone();
    // One-off commands migrate first (under the lock), whatever MIGRATE_ON_START says.
    let ready = || worker::infra::db::connect_ready(&url, true);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Openapi => {
            println!("{}", api::server::spec_json(settings.test_endpoints));
        }
        Command::Migrate { check: true } => {
            let db = worker::infra::db::connect_db(&url).await?;
            let status = worker::infra::schema::status(&db).await?;
            if status.is_current() {
                println!("database schema is current");
            } else {
                println!("pending migrations: {}", status.pending.join(", "));
                std::process::exit(1);
            }
        }
        Command::Migrate { check: false } => {
            let db = worker::infra::db::connect_db(&url).await?;
            let applied = worker::infra::schema::migrate(&db, &url).await?;
            match applied.is_empty() {
                true => println!("database schema is up to date"),
                false => println!("database schema is up to date (applied {})", applied.join(", ")),
            }
        }
        Command::GrantSuperuser { discord_id } => {
            let db = ready().await?;
            match worker::domain::users::grant_superuser(&db, &discord_id).await {
                Ok(granted) => println!(
                    "user {} ({}) is a superuser{}; log in with Discord as {discord_id}",
                    granted.user.id,
                    granted.user.username,
                    if granted.created { ", created" } else { "" }
                ),
                Err(err) => {
                    eprintln!("error: {err}");
                    std::process::exit(2);
                }
            }
        }
        Command::SeedDemo => {
            let db = ready().await?;
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
            let db = ready().await?;
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
            startup::announce("api", &settings.core);
            if !settings.public_url().starts_with("https://")
                && settings.core.env != Some(worker::config::DeployEnv::Development)
            {
                tracing::warn!(public_url = %settings.public_url(), "PUBLIC_URL is not https: session cookies are not Secure (set it to the public https:// URL, or DTX_ENV=development)");
            }
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
