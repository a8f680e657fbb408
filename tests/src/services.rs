//! Private Redis and PostgreSQL servers for the failure drills, on ports of
//! their own so a drill can stop and restart them without disturbing the
//! shared servers other tests run on in parallel.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use crate::processes::free_port;
use crate::{eventually, unique_name};

fn scratch_dir(kind: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(unique_name(kind));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

async fn run(cmd: &mut Command, what: &str) {
    let out = cmd.stdin(Stdio::null()).output().await.unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn accepts_connections(port: u16) -> bool {
    tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok()
}

/// A `redis-server` that persists to an append-only file, as production
/// Redis should: a restart keeps queued jobs.
pub struct PrivateRedis {
    pub port: u16,
    dir: PathBuf,
    child: Option<tokio::process::Child>,
}

impl PrivateRedis {
    pub async fn start() -> Self {
        let mut redis = Self { port: free_port(), dir: scratch_dir("redis"), child: None };
        redis.restart().await;
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Starts the server (again) on the same port and data directory.
    pub async fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string(), "--save", ""])
            .args(["--appendonly", "yes", "--appendfsync", "always", "--dir"])
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server starts (apt-get install redis-server)");
        self.child = Some(child);
        let port = self.port;
        eventually("private Redis to listen", Duration::from_secs(10), || async move {
            accepts_connections(port).await.then_some(())
        })
        .await;
    }

    /// Stops it the way a service manager does (SIGTERM: flush and exit).
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = child.id().expect("running").to_string();
            run(Command::new("kill").args(["-TERM", &pid]), "kill -TERM redis-server").await;
            child.wait().await.expect("redis-server exits");
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A PostgreSQL cluster of its own (initdb in a scratch directory), run as
/// the `postgres` system user when the tests run as root.
pub struct PrivatePostgres {
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
}

impl PrivatePostgres {
    pub async fn start() -> Self {
        let dir = scratch_dir("pg");
        let pg = Self { port: free_port(), bin: postgres_bindir().await, dir };
        if is_root() {
            run(Command::new("chown").args(["-R", "postgres:postgres"]).arg(&pg.dir), "chown scratch dir").await;
        }
        let data = pg.data_dir();
        let mut initdb = pg.as_owner("initdb");
        initdb.arg("-D").arg(&data).args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"]);
        run(&mut initdb.into(), "initdb").await;
        pg.restart().await;
        pg
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// `program` of the server's bin dir, run as the cluster's owner.
    fn as_owner(&self, program: &str) -> std::process::Command {
        let path = self.bin.join(program);
        if is_root() {
            let mut cmd = std::process::Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(path);
            cmd
        } else {
            std::process::Command::new(path)
        }
    }

    fn pg_ctl(&self) -> std::process::Command {
        let mut cmd = self.as_owner("pg_ctl");
        cmd.arg("-D").arg(self.data_dir());
        cmd
    }

    pub async fn restart(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            self.port,
            self.dir.display()
        );
        let mut start = self.pg_ctl();
        start.arg("-l").arg(self.dir.join("server.log")).args(["-o", &options, "-w", "start"]);
        run(&mut start.into(), "pg_ctl start").await;
    }

    /// A fast shutdown: open sessions are terminated, as in a restart.
    pub async fn stop(&self) {
        self.stop_with("fast").await;
    }

    /// An immediate shutdown: the server exits without a checkpoint and
    /// replays its WAL on the next start, as after a crash — commits made
    /// with `synchronous_commit = off` that were not yet flushed are lost.
    pub async fn crash(&self) {
        self.stop_with("immediate").await;
    }

    async fn stop_with(&self, mode: &str) {
        let mut stop = self.pg_ctl();
        stop.args(["-m", mode, "-w", "stop"]);
        run(&mut stop.into(), "pg_ctl stop").await;
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self.pg_ctl().args(["-m", "immediate", "stop"]).stdout(Stdio::null()).stderr(Stdio::null()).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn is_root() -> bool {
    std::process::Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// `pg_config --bindir`, else the newest `/usr/lib/postgresql/*/bin`.
async fn postgres_bindir() -> PathBuf {
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output().await {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join("initdb").exists() {
            return dir;
        }
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server binaries under /usr/lib/postgresql")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    found.sort();
    found.pop().expect("an initdb under /usr/lib/postgresql/*/bin")
}

async fn until_cut_is(watch: &mut tokio::sync::watch::Receiver<bool>, cut: bool) {
    let _ = watch.wait_for(|now| *now == cut).await.map(|_| ());
}

/// A TCP proxy in front of a server that a test can cut — connections hang
/// as in a network partition (no refusal, no reset) — and restore.
pub struct CuttableProxy {
    pub port: u16,
    cut: tokio::sync::watch::Sender<bool>,
}

impl CuttableProxy {
    pub async fn start(target_port: u16) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a proxy port");
        let port = listener.local_addr().expect("address").port();
        let (cut, watch) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let mut watch = watch.clone();
                tokio::spawn(async move {
                    // While cut, a new connection is held silent until the cut ends.
                    until_cut_is(&mut watch, false).await;
                    let Ok(mut server) = tokio::net::TcpStream::connect(("127.0.0.1", target_port)).await else {
                        return;
                    };
                    let mut cutting = watch.clone();
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        // Cut: stop forwarding and hold the client silent until restored.
                        () = until_cut_is(&mut cutting, true) => until_cut_is(&mut watch, false).await,
                    }
                });
            }
        });
        Self { port, cut }
    }

    /// From now on nothing passes: open connections hang, new ones too.
    pub fn cut(&self) {
        let _ = self.cut.send(true);
    }

    pub fn restore(&self) {
        let _ = self.cut.send(false);
    }
}
