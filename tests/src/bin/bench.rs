//! Benchmarks (SPEC §16). Each prints its figures and the core count.
//!
//! `cargo run -p tests --release --bin bench -- api [--backend sqlite|postgres] [--seconds 10] [--connections 64]`

use clap::{Parser, Subcommand, ValueEnum};
use tests::bench;

#[derive(Parser)]
#[command(name = "bench", about = "DTX benchmarks; each prints its figures")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum BackendArg {
    Sqlite,
    Postgres,
}

#[derive(Subcommand)]
enum Command {
    /// Tournament list and user read under concurrent connections.
    Api {
        #[arg(long, value_enum, default_value = "sqlite")]
        backend: BackendArg,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[arg(long, default_value_t = 64)]
        connections: usize,
        /// Measure with the read cache off.
        #[arg(long)]
        no_cache: bool,
    },
    /// League sync of N matches from a local mock Steam (rate limiter off).
    Ingest {
        #[arg(long, value_enum, default_value = "sqlite")]
        backend: BackendArg,
        #[arg(long, default_value_t = 2000)]
        matches: i64,
        /// Repeat the sync (a fresh database each time) and print each run and the median.
        #[arg(long, default_value_t = 1)]
        runs: usize,
    },
    /// No-op jobs through apalis-redis (bare and with the ledger), beside Celery.
    Jobs {
        #[arg(long, default_value_t = 10_000)]
        jobs: u64,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Tasks the bare apalis-redis worker fetches per poll (default: the concurrency).
        #[arg(long)]
        batch_size: Option<usize>,
        /// Concurrent producers of the multi-producer run (a run with one producer is always made too).
        #[arg(long, default_value_t = 8)]
        producers: usize,
        /// Repeat the distributed comparison this many times; each run is printed, then the medians.
        #[arg(long, default_value_t = 1)]
        runs: usize,
        /// Skip the Celery comparison (it installs celery into a venv on first use).
        #[arg(long)]
        no_celery: bool,
        /// Skip the embedded (SQLite + apalis-sqlite) figure, the slowest part of the run.
        #[arg(long)]
        no_embedded: bool,
    },
    /// WebSocket spectators on one hero draft: tick jitter and fan-out.
    Tick {
        #[arg(long, default_value_t = 500)]
        spectators: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// Full stats + MMR recompute vs one raw GROUP BY.
    Recompute {
        #[arg(long, value_enum, default_value = "sqlite")]
        backend: BackendArg,
        #[arg(long, default_value_t = 1000)]
        players: i64,
        #[arg(long, default_value_t = 20000)]
        matches: i64,
    },
}

impl BackendArg {
    /// SQLite runs embedded; PostgreSQL runs distributed (with Redis).
    fn mode(self) -> tests::Mode {
        match self {
            Self::Sqlite => tests::Mode::Embedded,
            Self::Postgres => tests::Mode::Distributed,
        }
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if std::env::var_os("RUST_LOG").is_some() {
        worker::runtime::telemetry::init_logging(worker::config::LogFormat::Text);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    println!("machine: {} cores", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    runtime.block_on(async {
        match cli.command {
            Command::Api { backend, seconds, connections, no_cache } => {
                let backend = match backend {
                    BackendArg::Sqlite => tests::Backend::Sqlite,
                    BackendArg::Postgres => tests::Backend::Postgres,
                };
                bench::api::run(backend, std::time::Duration::from_secs(seconds), connections, no_cache).await
            }
            Command::Jobs { jobs, concurrency, batch_size, producers, runs, no_celery, no_embedded } => {
                bench::jobs::run(jobs, concurrency, batch_size, producers, runs, !no_celery, !no_embedded).await
            }
            Command::Tick { spectators, seconds } => bench::tick::run(spectators, seconds).await,
            Command::Ingest { backend, matches, runs } => bench::ingest::run(backend.mode(), matches, runs).await,
            Command::Recompute { backend, players, matches } => {
                bench::recompute::run(backend.mode(), players, matches).await
            }
        }
    })
}
