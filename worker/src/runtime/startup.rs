//! How every binary starts (SPEC §22): `.env` read strictly, flags accepted
//! before or after a subcommand, the database named explicitly where a
//! silent default would be wrong, and one start-up line saying what runs.

use clap::{ArgMatches, CommandFactory, FromArgMatches, parser::ValueSource};

use crate::config::{ConfigError, CoreSettings};

/// Reads `.env` (the working directory's or a parent's) into the
/// environment, where variables already set win. A missing file is fine; a
/// line that cannot be parsed is an error naming it (dotenvy stops at it,
/// which used to drop every later line silently).
pub fn load_dotenv() -> Result<(), ConfigError> {
    match dotenvy::dotenv() {
        Ok(_) => Ok(()),
        Err(err) if err.not_found() => Ok(()),
        Err(dotenvy::Error::LineParse(line, _)) => {
            let number = std::fs::read_to_string(".env")
                .ok()
                .and_then(|text| text.lines().position(|l| l == line || l.starts_with(line.as_str())))
                .map_or_else(String::new, |n| format!("line {}: ", n + 1));
            Err(ConfigError::new(".env", format!("{number}cannot parse {line:?}")))
        }
        Err(err) => Err(ConfigError::new(".env", err.to_string())),
    }
}

/// Parses the command line of `T`; every top-level flag is global, so
/// `api migrate --database-url …` works as well as `api --database-url … migrate`.
/// Exits with clap's message (and code) on bad arguments, like `T::parse`.
pub fn parse_cli<T: CommandFactory + FromArgMatches>() -> (T, ArgMatches) {
    let matches = T::command().mut_args(|arg| if arg.is_positional() { arg } else { arg.global(true) }).get_matches();
    match T::from_arg_matches(&matches) {
        Ok(cli) => (cli, matches),
        Err(err) => err.exit(),
    }
}

/// A standalone worker or scheduler has no business creating a SQLite file
/// of its own: unless `DATABASE_URL` (or `--database-url`) was given, it
/// refuses to start.
pub fn require_database_url(matches: &ArgMatches) -> Result<(), ConfigError> {
    match matches.value_source("database_url") {
        Some(ValueSource::CommandLine | ValueSource::EnvVariable) => Ok(()),
        _ => Err(ConfigError::new(
            "DATABASE_URL",
            "not set: a worker or scheduler uses the api's database (postgres://… with REDIS_URL)",
        )),
    }
}

/// The host a database URL points at, without user or password
/// (`db.internal:5432`, or the file of a SQLite database).
pub fn database_host(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(parsed) if parsed.scheme().starts_with("postgres") => {
            let host = parsed.host_str().unwrap_or("localhost");
            let db = parsed.path().trim_start_matches('/');
            match parsed.port() {
                Some(port) => format!("{host}:{port}/{db}"),
                None => format!("{host}/{db}"),
            }
        }
        _ => url.split('?').next().unwrap_or_default().to_owned(),
    }
}

/// Logs the one start-up line of a process: what it is, its mode, where its
/// database is, its Redis prefix, its version.
pub fn announce(process: &str, settings: &CoreSettings) {
    let mode = if settings.is_embedded() { "embedded" } else { "distributed" };
    tracing::info!(
        process,
        mode,
        database = %database_host(&settings.database_url),
        redis_prefix = settings.redis_url.as_ref().map(|_| settings.redis_prefix.as_str()),
        version = env!("CARGO_PKG_VERSION"),
        env = ?settings.deploy_env(),
        "starting"
    );
}

#[cfg(test)]
mod tests {
    use super::database_host;

    #[test]
    fn the_database_host_never_carries_a_password() {
        assert_eq!(database_host("postgres://dtx:hunter2PW@db.internal:5433/dtx"), "db.internal:5433/dtx");
        assert_eq!(database_host("postgresql://dtx:pw@db/dtx?sslmode=require"), "db/dtx");
        assert_eq!(database_host("sqlite://dtx.sqlite3?mode=rwc"), "sqlite://dtx.sqlite3");
    }
}
