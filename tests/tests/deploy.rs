//! The files in `deploy/` (SPEC §22), tried with what runs on this machine:
//! the nginx template with the real nginx in front of two api instances
//! (TLS, a WebSocket through it, the client address from X-Forwarded-For,
//! `/metrics` and the probes private), the systemd units through
//! `systemd-analyze verify`, the compose file's DTX services started natively
//! with their own commands and variables, and the alert rules and scrape
//! configuration through `promtool`; alerts and dashboard name only series
//! the processes export.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use tests::processes::{Process, free_port};
use tests::{Backend, Options, TestApp, TestDb, eventually, redis_url, unique_name, workspace_binary};

fn deploy(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy").join(file)
}

fn read(file: &str) -> String {
    std::fs::read_to_string(deploy(file)).unwrap_or_else(|e| panic!("deploy/{file}: {e}"))
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(unique_name("deploy"));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// `deploy/nginx/dtx.conf.template` as envsubst would fill it for two api
/// instances, with the public ports moved to free loopback ones (the TLS
/// server also listens in plain HTTP on `plain`, for the WebSocket client).
fn nginx_site(api: [u16; 2], ports: (u16, u16, u16), cert: &Path, key: &Path) -> String {
    let (redirect, tls, plain) = ports;
    read("nginx/dtx.conf.template")
        .replace("${DTX_SERVER_NAME}", "localhost")
        .replace("${DTX_API_1}", &format!("127.0.0.1:{}", api[0]))
        .replace("${DTX_API_2}", &format!("127.0.0.1:{}", api[1]))
        .replace("${DTX_TLS_CERT}", &cert.display().to_string())
        .replace("${DTX_TLS_KEY}", &key.display().to_string())
        .lines()
        .filter(|l| !l.contains("listen [::]"))
        .map(|l| match l.trim() {
            "listen 80;" => format!("    listen 127.0.0.1:{redirect};"),
            "listen 443 ssl http2;" => format!("    listen 127.0.0.1:{tls} ssl http2;\n    listen 127.0.0.1:{plain};"),
            _ => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// nginx with the shipped site in front of two api instances (PostgreSQL +
/// Redis, `TRUSTED_PROXIES=127.0.0.1/32`).
#[tokio::test]
async fn nginx_with_the_shipped_site_in_front_of_two_api_instances() {
    let limits = ["--trusted-proxies", "127.0.0.1/32", "--rate-limit-per-minute", "10"].map(String::from).to_vec();
    let first =
        TestApp::spawn_with(Backend::Postgres, Options { redis: true, args: limits.clone(), ..Default::default() })
            .await;
    let second = first.sibling_with(Options { args: limits, ..Default::default() }).await;
    let dir = scratch();
    // nginx's workers drop root: they must reach the temp paths.
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let ports = (free_port(), free_port(), free_port());
    std::fs::write(dir.join("dtx.conf"), nginx_site([first.addr.port(), second.addr.port()], ports, &cert, &key))
        .unwrap();
    let d = dir.display();
    let main = format!(
        "daemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\nevents {{ worker_connections 256; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  \
         fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  \
         include {d}/dtx.conf;\n}}\n"
    );
    std::fs::write(dir.join("nginx.conf"), main).unwrap();
    let nginx = which("nginx").expect("nginx is installed (tests/setup.sh installs it)");
    let tested = Command::new(&nginx).arg("-t").arg("-c").arg(dir.join("nginx.conf")).output().unwrap();
    assert!(tested.status.success(), "nginx -t: {}", String::from_utf8_lossy(&tested.stderr));
    let _nginx = Process(
        Command::new(&nginx)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let (redirect, tls, plain) = ports;
    let http = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let health = eventually("nginx answers over TLS", Duration::from_secs(10), || async {
        http.get(format!("https://127.0.0.1:{tls}/api/health")).send().await.ok()
    })
    .await;
    assert_eq!(health.status(), 200);
    let moved = http.get(format!("http://127.0.0.1:{redirect}/api/health")).send().await.unwrap();
    assert_eq!(moved.status(), 301, "plain HTTP goes to https");
    assert!(moved.headers()["location"].to_str().unwrap().starts_with("https://"));

    // Either instance may serve; a stopped one is passed over.
    second.stop().await;
    for _ in 0..6 {
        let resp = http.get(format!("https://127.0.0.1:{tls}/api/health")).send().await.unwrap();
        assert_eq!(resp.status(), 200, "the other instance takes over");
    }
    // Private: /metrics (even with the token) and the probes.
    for path in ["/metrics", "/livez", "/readyz"] {
        let resp =
            http.get(format!("https://127.0.0.1:{tls}{path}")).bearer_auth(tests::METRICS_TOKEN).send().await.unwrap();
        assert_eq!(resp.status(), 404, "{path} is not public");
    }

    // The client address comes from X-Forwarded-For: two addresses, two budgets (10 writes a minute).
    let write = |from: &'static str| {
        let http = http.clone();
        async move {
            http.post(format!("https://127.0.0.1:{tls}/api/leagues"))
                .header("x-forwarded-for", from)
                .json(&json!({"steam_league_id": 1, "name": "x"}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let mut from_a = Vec::new();
    for _ in 0..12 {
        from_a.push(write("203.0.113.7").await);
    }
    assert!(from_a.contains(&429), "one client's burst is spent: {from_a:?}");
    assert_ne!(write("198.51.100.9").await, 429, "another client has its own budget");

    // A WebSocket through the proxy.
    let staff = first.staff("admin").await;
    let (id, _) = tests::fixtures::hero_draft(&first, &staff).await;
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{plain}/api/herodraft/{id}/"))
        .await
        .expect("upgraded");
    let first_message = tokio::time::timeout(Duration::from_secs(10), socket.next()).await.unwrap().unwrap().unwrap();
    let state: Value = serde_json::from_str(first_message.to_text().unwrap()).unwrap();
    assert_eq!(state["type"], "initial_state");
}

fn which(binary: &str) -> Option<PathBuf> {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
        .map(|dir| Path::new(dir).join(binary))
        .find(|p| p.exists())
}

/// Every unit passes `systemd-analyze verify`, with the binaries installed
/// where the units expect them (here: links to the built ones).
#[test]
fn the_systemd_units_pass_systemd_analyze_verify() {
    let analyze = which("systemd-analyze").expect("systemd-analyze (the systemd package)");
    let dir = scratch();
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for (installed, built) in [("dtx-api", "api"), ("dtx-worker", "worker"), ("dtx-scheduler", "scheduler")] {
        std::os::unix::fs::symlink(workspace_binary(built), bin.join(installed)).unwrap();
    }
    let mut units = Vec::new();
    for entry in std::fs::read_dir(deploy("systemd")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let text = std::fs::read_to_string(&path).unwrap().replace("/usr/local/bin/", &format!("{}/", bin.display()));
        // A template is verified as an instance of it.
        let name = name.replace("@.service", "@1.service");
        std::fs::write(dir.join(&name), text).unwrap();
        units.push(dir.join(name));
    }
    assert_eq!(units.len(), 4, "dtx, dtx-api@, dtx-worker@, dtx-scheduler: {units:?}");
    let out = Command::new(analyze).arg("verify").args(&units).output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && said.trim().is_empty(), "systemd-analyze verify:\n{said}");
}

/// `${VAR:-default}` as compose fills it when VAR is unset.
fn interpolate(value: &str) -> String {
    let mut out = value.to_owned();
    while let Some(start) = out.find("${") {
        let end = out[start..].find('}').map(|e| start + e).expect("a closed ${…}");
        let inner = &out[start + 2..end];
        let default = inner.split_once(":-").map(|(_, d)| d.to_owned()).unwrap_or_default();
        out.replace_range(start..=end, &default);
    }
    out
}

/// The compose file's DTX services (api ×2, worker ×2, scheduler ×2) started
/// natively, all at once, with their own commands and variables — only the
/// hosts `postgres` and `redis` and the listen ports moved to this machine —
/// all come up ready; PostgreSQL, Redis (with its append-only file) and the
/// proxy (with the shipped template) are there too.
#[tokio::test]
async fn the_compose_services_start_natively_with_their_commands_and_variables() {
    rustls::crypto::ring::default_provider().install_default().ok();
    let mut compose: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&read("compose.yaml")).expect("compose.yaml parses");
    compose.apply_merge().expect("merge keys resolve");
    let services = compose["services"].as_mapping().expect("services");
    let shared: Vec<(String, String)> = read("compose.env")
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('=').expect("KEY=value");
            (k.to_owned(), v.to_owned())
        })
        .collect();
    let names: Vec<&str> = services.keys().filter_map(|k| k.as_str()).collect();
    for expected in ["postgres", "redis", "api1", "api2", "worker1", "worker2", "scheduler1", "scheduler2", "proxy"] {
        assert!(names.contains(&expected), "{expected} in compose.yaml: {names:?}");
    }
    let redis_command: Vec<&str> =
        services["redis"]["command"].as_sequence().unwrap().iter().filter_map(|v| v.as_str()).collect();
    assert!(redis_command.windows(2).any(|w| w == ["--appendonly", "yes"]), "Redis keeps an append-only file");
    let template = services["proxy"]["volumes"].as_sequence().unwrap()[0].as_str().unwrap().split(':').next().unwrap();
    assert!(deploy(template).exists(), "the proxy mounts {template}");

    let db = TestDb::create(Backend::Postgres).await;
    let prefix = unique_name("redis");
    let dir = scratch();
    let mut started = Vec::new();
    for (name, service) in services {
        let name = name.as_str().expect("a service name");
        let command: Vec<String> = service["command"]
            .as_sequence()
            .map(|c| c.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        let Some(binary) = command.first().and_then(|c| c.strip_prefix("dtx-")) else { continue };
        let mut env: BTreeMap<String, String> = shared.iter().cloned().collect();
        for (k, v) in service["environment"].as_mapping().into_iter().flatten() {
            env.insert(k.as_str().unwrap().to_owned(), interpolate(v.as_str().unwrap()));
        }
        // The containers' hosts `postgres` and `redis` are this machine's servers.
        assert!(env["DATABASE_URL"].contains("@postgres:5432/"), "{name}: {env:?}");
        assert!(env["REDIS_URL"].contains("//redis:6379"), "{name}: {env:?}");
        env.insert("DATABASE_URL".into(), db.url.clone());
        env.insert("REDIS_URL".into(), redis_url());
        env.insert("DTX_REDIS_PREFIX".into(), prefix.clone());
        let mut ready = None;
        for key in ["BIND", "API_METRICS_BIND", "METRICS_BIND"] {
            if let Some(addr) = env.get(key) {
                assert!(addr.starts_with("0.0.0.0:"), "{name}: {key}={addr} listens on the container network");
                let local = format!("127.0.0.1:{}", free_port());
                if key != "API_METRICS_BIND" {
                    ready = Some(format!("http://{local}/readyz"));
                }
                env.insert(key.into(), local);
            }
        }
        let ready = ready.unwrap_or_else(|| panic!("{name} serves /readyz somewhere"));
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(workspace_binary(binary));
        cmd.args(&command[1..])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(&env)
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        started.push((name.to_owned(), Process(cmd.spawn().unwrap()), ready, log));
    }
    assert_eq!(started.len(), 6, "api ×2, worker ×2, scheduler ×2");
    let http = reqwest::Client::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    for (name, process, ready, log) in &mut started {
        while !http.get(ready.as_str()).send().await.is_ok_and(|r| r.status() == 200) {
            let said = || std::fs::read_to_string(&*log).unwrap_or_default();
            if let Ok(Some(status)) = process.0.try_wait() {
                panic!("{name} exited ({status}):\n{}", said());
            }
            assert!(std::time::Instant::now() < deadline, "{name} not ready:\n{}", said());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The names of the series an expression reads (`dtx_…`, `process_…`).
fn series_in(expr: &str) -> Vec<String> {
    let mut found = Vec::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &expr[i..];
        if (rest.starts_with("dtx_") || rest.starts_with("process_"))
            && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric())
        {
            let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            i += name.len();
            found.push(name);
        } else {
            i += 1;
        }
    }
    found
}

/// The alert rules and the scrape configuration pass `promtool`; every
/// series an alert or a dashboard panel reads is one the processes export
/// (described with `# HELP`, or a process metric a scrape shows).
#[tokio::test]
async fn alerts_and_dashboard_read_only_exported_series_and_pass_promtool() {
    if let Some(promtool) = which("promtool") {
        for (what, args) in
            [("rules", ["check", "rules", "alerts.yml"]), ("config", ["check", "config", "prometheus.yml"])]
        {
            let out = Command::new(&promtool).args(args).current_dir(deploy("prometheus")).output().unwrap();
            assert!(
                out.status.success(),
                "promtool check {what}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    let app = TestApp::spawn(Backend::Sqlite).await;
    let text = app.metrics().await.text;
    let known = |series: &str| {
        let base = series.trim_end_matches("_bucket").trim_end_matches("_sum").trim_end_matches("_count");
        worker::runtime::telemetry::DESCRIBED.iter().any(|(name, _)| *name == series || *name == base)
            || (series.starts_with("process_") && text.contains(&format!("\n{series} ")))
    };
    let rules: serde_yaml_ng::Value = serde_yaml_ng::from_str(&read("prometheus/alerts.yml")).unwrap();
    let dashboard: Value = serde_json::from_str(&read("grafana/dtx-dashboard.json")).unwrap();
    let mut expressions: Vec<String> = rules["groups"][0]["rules"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|r| r["expr"].as_str().unwrap().to_owned())
        .collect();
    expressions.extend(
        dashboard["panels"].as_array().unwrap().iter().map(|p| p["targets"][0]["expr"].as_str().unwrap().to_owned()),
    );
    let mut unknown = Vec::new();
    for expr in &expressions {
        for series in series_in(expr) {
            if !known(&series) {
                unknown.push(series);
            }
        }
    }
    assert!(unknown.is_empty(), "read but not exported: {unknown:?}");
}
