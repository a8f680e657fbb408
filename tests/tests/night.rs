//! The README's "Running a tournament night", run exactly as written (SPEC
//! §23): the ```night block's calls in order, each by the session its line
//! names, ids kept from the responses. A call the README shows must
//! succeed; the night must end as the README says it does.

use std::collections::HashMap;

use reqwest::Method;
use serde_json::Value;
use tests::{Caller, Mode, TestApp, in_both_modes};

/// One line of the block: who calls what, and what to keep.
#[derive(Debug)]
struct Call {
    who: String,
    method: Method,
    path: String,
    body: Option<String>,
    /// (variable, JSON pointer into the response).
    keep: Option<(String, String)>,
}

/// The calls of the README's ```night block.
fn night_calls() -> Vec<Call> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).expect("README.md");
    let start = readme.find("```night\n").expect("a ```night block in the README") + "```night\n".len();
    let block = &readme[start..start + readme[start..].find("```").expect("the block ends")];
    block
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let (call, keep) = match line.split_once('→') {
                Some((call, keep)) => (call.trim(), Some(keep.trim())),
                None => (line, None),
            };
            let keep = keep.map(|k| match k.split_once('=') {
                Some((var, pointer)) => (var.trim().to_owned(), pointer.trim().to_owned()),
                None => (k.to_owned(), "/id".to_owned()),
            });
            let mut tokens = call.split_whitespace();
            let mut word = || tokens.next().unwrap_or_else(|| panic!("who, method and path in {line:?}")).to_owned();
            let (who, method, path) = (word(), word(), word());
            let rest = call[call.find(path.as_str()).unwrap() + path.len()..].trim();
            Call {
                who,
                method: Method::from_bytes(method.as_bytes()).unwrap_or_else(|_| panic!("a method in {line:?}")),
                path,
                body: (!rest.is_empty()).then(|| rest.to_owned()),
                keep,
            }
        })
        .collect()
}

/// `text` with every `$NAME` replaced by its value, longest names first.
fn substitute(text: &str, values: &HashMap<String, String>) -> String {
    let mut names: Vec<&String> = values.keys().collect();
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    names.iter().fold(text.to_owned(), |acc, name| acc.replace(name.as_str(), &values[*name]))
}

async fn the_readme_night_runs_as_written(mode: Mode) {
    let app = TestApp::spawn_with(mode.backend(), mode.options(Vec::new(), true)).await;
    let calls = night_calls();
    assert!(calls.len() >= 30, "the whole night: {calls:#?}");
    let mut sessions: HashMap<String, Caller<'_>> = HashMap::new();
    let mut values: HashMap<String, String> = HashMap::new();
    for call in &calls {
        if !sessions.contains_key(&call.who) {
            let session = match call.who.as_str() {
                "anon" => app.anon(),
                "staff" => app.staff("admin").await,
                // The captains log in as the accounts the block created.
                name => app.user(name).await,
            };
            sessions.insert(call.who.clone(), session);
        }
        let path = substitute(&call.path, &values);
        let body = call.body.as_ref().map(|b| ("application/json", substitute(b, &values).into_bytes()));
        let resp = sessions[&call.who].send(call.method.clone(), &path, body, &[]).await;
        assert!(
            (200..300).contains(&resp.status),
            "{} {} {path}: {} {}",
            call.who,
            call.method,
            resp.status,
            resp.text
        );
        if let Some((var, pointer)) = &call.keep {
            let value = resp.body.pointer(pointer).unwrap_or_else(|| panic!("{pointer} in {}", resp.text));
            values.insert(var.clone(), value.to_string());
        }
    }

    // The night ended as the README says: the tournament is past with its winner and placements, the
    // game shows its hero draft, the league its prize pool.
    let id = |name: &str| values[name].parse::<i64>().unwrap_or_else(|_| panic!("{name} = {}", values[name]));
    let anon = app.anon();
    let t = anon.get(&format!("/api/tournaments/{}", id("$T"))).await.body;
    assert_eq!((t["state"].as_str(), t["winning_team_id"].as_i64()), (Some("past"), Some(id("$A"))), "{t}");
    let placements: HashMap<i64, i64> = t["teams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|team| (team["id"].as_i64().unwrap(), team["placement"].as_i64().unwrap_or(0)))
        .collect();
    assert_eq!(placements, HashMap::from([(id("$A"), 1), (id("$B"), 2)]));
    let game = anon.get(&format!("/api/games/{}", id("$G"))).await.body;
    assert_eq!((game["herodraft_id"].as_i64(), game["status"].as_str()), (Some(id("$H")), Some("completed")));
    // Each team is its captain and the four players the block picked for it (snake order).
    let members = |team: &Value| -> Vec<i64> {
        let mut ids: Vec<i64> = team["members"].as_array().unwrap().iter().map(|m| m["id"].as_i64().unwrap()).collect();
        ids.sort();
        ids
    };
    for (team, picked) in [("$A", ["$CA", "$P1", "$P4", "$P5", "$P8"]), ("$B", ["$CB", "$P2", "$P3", "$P6", "$P7"])] {
        let mut expected: Vec<i64> = picked.iter().map(|p| id(p)).collect();
        expected.sort();
        assert_eq!(members(&anon.get(&format!("/api/teams/{}", id(team))).await.body), expected, "{team}");
    }
    let league = anon.get(&format!("/api/leagues/{}", id("$L"))).await.body;
    assert_eq!((league["steam_league_id"].as_i64(), league["prize_pool"].as_str()), (Some(17929), Some("a mug")));
}

in_both_modes!(the_readme_night_runs_as_written);
