//! Logs of a real `api` process (embedded worker, PostgreSQL + Redis) with
//! `LOG_FORMAT=json` at debug level: every line is JSON, request ids tie a
//! request to its log lines and to the jobs it enqueued, and no secret —
//! Steam key, Discord secrets, database password, session token — appears
//! anywhere, even on the failure paths that print URLs and errors.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use tests::processes::{Process, free_port};
use tests::{Backend, TestDb, eventually, workspace_binary};

const STEAM_KEY: &str = "SECRETsteamKEY0123456789ABCDEF01";
const DISCORD_SECRET: &str = "SECRETdiscordCLIENTsecret";
const BOT_TOKEN: &str = "SECRETdiscordBOTtoken.abc.def";
const PG_PASSWORD: &str = "SECRETpgPASSWORD";
const OAUTH_CODE: &str = "SECREToauthCODE4242";
const OAUTH_STATE: &str = "SECREToauthSTATE4242";

fn closed_port_url() -> String {
    format!("http://127.0.0.1:{}", free_port())
}

#[tokio::test]
async fn json_logs_carry_request_ids_and_no_secrets() {
    let db = TestDb::create(Backend::Postgres).await;
    let mut db_url = url::Url::parse(&db.url).unwrap();
    // Trust authentication ignores it, but it is in the URL the process sees.
    db_url.set_password(Some(PG_PASSWORD)).unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let log_path = std::env::temp_dir().join(format!("dtx_test_logs_{port}.jsonl"));
    let log = std::fs::File::create(&log_path).unwrap();
    let prefix = format!("dtx_test_logs_{:08x}", rand::random::<u32>());
    let api = Process(
        Command::new(workspace_binary("api"))
            .arg("serve")
            .env("DATABASE_URL", db_url.as_str())
            .env("REDIS_URL", tests::redis_url())
            .env("DTX_REDIS_PREFIX", &prefix)
            .env("BIND", format!("127.0.0.1:{port}"))
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "debug")
            .env("DTX_ENV", "development")
            .env("DTX_TEST_ENDPOINTS", "1")
            .env("DTX_EMBEDDED_WORKER", "true")
            .env("DTX_EMBEDDED_SCHEDULER", "false")
            .env("JOB_BACKOFF_BASE_MS", "100")
            .env("STEAM_API_KEY", STEAM_KEY)
            .env("STEAM_API_BASE", closed_port_url())
            .env("OPENDOTA_API_BASE", closed_port_url())
            .env("DISCORD_CLIENT_ID", "1234")
            .env("DISCORD_CLIENT_SECRET", DISCORD_SECRET)
            .env("DISCORD_BOT_TOKEN", BOT_TOKEN)
            .env("DISCORD_GUILD_ID", "42")
            .env("DISCORD_API_BASE", closed_port_url())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("api starts"),
    );
    rustls::crypto::ring::default_provider().install_default().ok();
    let http = reqwest::Client::new();
    eventually("the api to serve", Duration::from_secs(30), || async {
        let resp = http.get(format!("{base}/api/health")).send().await.ok()?;
        (resp.status() == 200).then_some(())
    })
    .await;

    let missing = http.get(format!("{base}/api/users/424242")).header("x-request-id", "drill-logs-42").send().await;
    let missing = missing.unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.headers()["x-request-id"], "drill-logs-42", "a plausible incoming id is kept");
    let odd = http.get(format!("{base}/api/health")).header("x-request-id", "not an id").send().await.unwrap();
    assert_ne!(odd.headers()["x-request-id"], "not an id", "anything else is replaced");

    // A Discord callback (refused: no such login) carries a code and a state: neither reaches the log.
    let callback = http
        .get(format!("{base}/api/auth/discord/callback?code={OAUTH_CODE}&state={OAUTH_STATE}"))
        .header("cookie", "dtx_oauth=binding")
        .send()
        .await
        .unwrap();
    assert_eq!(callback.status(), 400);

    let login = http
        .post(format!("{base}/api/tests/login"))
        .json(&json!({"username": "admin", "is_staff": true}))
        .send()
        .await
        .unwrap();
    let cookie = login.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let session_token = cookie.split_once('=').unwrap().1.to_owned();
    let post = |path: &str, body: Value| {
        http.post(format!("{base}{path}"))
            .header("cookie", &cookie)
            .header("x-request-id", "drill-enqueue-7")
            .json(&body)
    };
    post("/api/leagues", json!({"steam_league_id": 17929, "name": "DTX"})).send().await.unwrap();
    let member = post("/api/users", json!({"username": "linked", "discordId": "80351110224678912"})).send().await;
    let member: Value = member.unwrap().json().await.unwrap();
    let mut runs = Vec::new();
    for job in [
        json!({"kind": "sync_league_matches", "args": {"steam_league_id": 17929}}),
        json!({"kind": "refresh_user_avatar", "args": {"user_id": member["id"]}}),
    ] {
        let run: Value = post("/api/jobs", job).send().await.unwrap().json().await.unwrap();
        runs.push(run["id"].as_str().expect("job accepted").to_owned());
    }
    for id in &runs {
        eventually("the job to fail against the unreachable outside world", Duration::from_secs(30), || async {
            let resp = http.get(format!("{base}/api/jobs/{id}")).header("cookie", &cookie).send().await.ok()?;
            let run: Value = resp.json().await.ok()?;
            run["error"].is_string().then_some(())
        })
        .await;
    }
    api.signal("TERM");
    drop(api);
    let logs = std::fs::read_to_string(&log_path).unwrap();
    let _ = std::fs::remove_file(&log_path);

    for secret in [STEAM_KEY, DISCORD_SECRET, BOT_TOKEN, PG_PASSWORD, OAUTH_CODE, OAUTH_STATE, session_token.as_str()] {
        let leaks: Vec<&str> = logs.lines().filter(|l| l.contains(secret)).collect();
        assert!(leaks.is_empty(), "a secret is in the logs:\n{}", leaks.join("\n"));
    }
    let lines: Vec<Value> = logs
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}")))
        .collect();
    for line in &lines {
        assert!(line["timestamp"].is_string() && line["level"].is_string(), "{line}");
    }
    let request_of = |line: &Value| {
        let spans = line["spans"].as_array()?;
        spans.iter().find_map(|span| span["request_id"].as_str().map(str::to_owned))
    };
    assert!(
        lines.iter().any(|l| request_of(l).as_deref() == Some("drill-logs-42") && l["status"] == 404),
        "the 404 is logged under its request id"
    );
    for id in &runs {
        assert!(
            lines.iter().any(|l| l["message"] == "job enqueued"
                && l["run_id"] == id.as_str()
                && request_of(l).as_deref() == Some("drill-enqueue-7")),
            "job {id} is tied to the request that enqueued it"
        );
    }
    assert!(logs.contains("Steam unreachable"), "the Steam failure path was logged (and checked for the key)");
    assert!(lines.len() > 50, "debug logging was on: {} lines", lines.len());
}
