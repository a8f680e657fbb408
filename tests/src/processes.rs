//! The workspace's own binaries (`worker`, `scheduler`) as child processes
//! of a test, pointed at a [`TestApp`]'s database and Redis prefix.

use std::process::{Child, Command, Stdio};

use crate::{TestApp, workspace_binary};

/// A child process, killed when dropped.
pub struct Process(pub Child);

impl Process {
    pub fn pid(&self) -> String {
        self.0.id().to_string()
    }

    /// Sends `signal` (`TERM`, `KILL`) the way an operator or a crash would.
    pub fn signal(&self, signal: &str) {
        let sent = Command::new("kill").args([&format!("-{signal}"), &self.pid()]).status().expect("kill runs");
        assert!(sent.success(), "kill -{signal} {}", self.pid());
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("address").port()
}

/// `binary` (`worker` or `scheduler`) on `app`'s database and Redis (at
/// `redis_url`), quiet; add arguments and [`start`] it.
pub fn command(binary: &str, app: &TestApp, redis_url: &str) -> Command {
    let mut cmd = Command::new(workspace_binary(binary));
    cmd.args(["--database-url", app.db_url(), "--redis-url", redis_url])
        .args(["--redis-prefix", app.redis_prefix.as_deref().expect("a distributed app")])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // A worker's metrics listener defaults to 127.0.0.1:9464: a second worker
    // of a test running alongside would fail to bind it and exit at once. An
    // explicit `--metrics-bind` still wins over the variable.
    cmd.env("METRICS_BIND", format!("127.0.0.1:{}", free_port()));
    cmd
}

pub fn start(cmd: &mut Command) -> Process {
    Process(cmd.spawn().expect("workspace binary starts"))
}
