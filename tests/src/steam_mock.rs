//! A mock Steam Web API (wiremock) over a league history that tests can grow
//! between runs. `GetMatchHistory` pages like Steam (at or older than
//! `start_at_match_id`, newest first); `GetMatchHistoryBySequenceNum` serves
//! details; `GetMatchDetails` answers 500 as Steam has since patch 7.36.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const API_KEY: &str = "TESTKEY-0123456789ABCDEF";

/// The twenty accounts of the fixture, four rosters of five.
pub const ACCOUNTS: [i64; 20] = [
    343820615, 84657820, 213031230, 104151469, 237494518, 875238678, 104427945, 17458752, 22335033, 34959282,
    1207040149, 193995407, 916240826, 171468462, 26722833, 67508271, 1161842715, 120857281, 1274658597, 35244088,
];

#[derive(Debug, Clone)]
pub struct MockMatch {
    pub match_id: i64,
    pub seq: i64,
    pub start_time: i64,
    pub radiant_win: bool,
    /// (account_id, player_slot, kills, deaths, assists, gpm, xpm)
    pub players: Vec<(i64, i32, i32, i32, i32, i32, i32)>,
}

impl MockMatch {
    /// Match `n`: ids and start times grow with `n`; rosters rotate; stats
    /// are a deterministic function of `n` and the slot.
    pub fn nth(n: i64) -> Self {
        let radiant = ((n % 4) * 5) as usize;
        let dire = (((n + 1) % 4) * 5) as usize;
        let mut players = Vec::new();
        for (side, base, slot0) in [(0, radiant, 0), (1, dire, 128)] {
            for i in 0..5 {
                let seed = (n * 7 + i as i64 * 13 + side * 5) as i32;
                players.push((
                    ACCOUNTS[base + i],
                    slot0 + i as i32,
                    2 + seed % 11,
                    1 + seed % 7,
                    3 + seed % 15,
                    250 + (seed * 37) % 450,
                    300 + (seed * 41) % 500,
                ));
            }
        }
        // Ids step by 10 so a test can slot a match in between two others.
        Self {
            match_id: 8_000_000_000 + n * 10,
            seq: 7_000_000_000 + n * 10,
            start_time: 1_754_000_000 + n * 3600,
            radiant_win: n % 3 != 0,
            players,
        }
    }

    /// The match as GetMatchDetails returns it.
    pub fn details(&self) -> Value {
        json!({
            "match_id": self.match_id,
            "match_seq_num": self.seq,
            "radiant_win": self.radiant_win,
            "duration": 2400,
            "start_time": self.start_time,
            "game_mode": 2,
            "lobby_type": 1,
            "leagueid": 17929,
            "players": self.players.iter().map(|(account, slot, k, d, a, gpm, xpm)| json!({
                "account_id": account, "player_slot": slot, "hero_id": 1 + (slot % 100), "kills": k, "deaths": d,
                "assists": a, "gold_per_min": gpm, "xp_per_min": xpm, "last_hits": 100, "denies": 5,
                "hero_damage": 20000, "tower_damage": 3000, "hero_healing": 500
            })).collect::<Vec<_>>(),
        })
    }
}

/// What the mock serves and what it saw.
#[derive(Default)]
pub struct MockState {
    pub matches: Vec<MockMatch>,
    /// Sequence numbers whose details are missing (the match then fails).
    pub broken_seqs: HashSet<i64>,
    /// Answer the next N history calls with 429 and this Retry-After.
    pub throttle_next: Option<(u32, u64)>,
    /// Every call: (method, instant, raw query).
    pub calls: Vec<(String, Instant, String)>,
    /// Delay added to each details answer.
    pub details_delay: Duration,
}

#[derive(Clone)]
pub struct SteamMock {
    pub server: Arc<MockServer>,
    pub state: Arc<Mutex<MockState>>,
}

fn query(req: &Request, name: &str) -> Option<String> {
    req.url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

struct History(Arc<Mutex<MockState>>);
impl Respond for History {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut state = self.0.lock().unwrap();
        state.calls.push(("GetMatchHistory".into(), Instant::now(), req.url.query().unwrap_or("").to_owned()));
        if let Some((n, after)) = state.throttle_next.as_mut()
            && *n > 0
        {
            *n -= 1;
            let after = *after;
            return ResponseTemplate::new(429).insert_header("retry-after", after.to_string().as_str());
        }
        let start_at = query(req, "start_at_match_id").and_then(|v| v.parse::<i64>().ok()).unwrap_or(i64::MAX);
        let count = query(req, "matches_requested").and_then(|v| v.parse::<usize>().ok()).unwrap_or(25).min(100);
        let mut eligible: Vec<&MockMatch> = state.matches.iter().filter(|m| m.match_id <= start_at).collect();
        eligible.sort_by_key(|m| std::cmp::Reverse(m.match_id));
        let page: Vec<Value> = eligible
            .iter()
            .take(count)
            .map(|m| json!({"match_id": m.match_id, "match_seq_num": m.seq, "start_time": m.start_time, "lobby_type": 1, "players": []}))
            .collect();
        let remaining = eligible.len().saturating_sub(page.len());
        ResponseTemplate::new(200).set_body_json(json!({"result": {
            "status": 1, "num_results": page.len(), "total_results": eligible.len(), "results_remaining": remaining, "matches": page
        }}))
    }
}

struct BySeq(Arc<Mutex<MockState>>);
impl Respond for BySeq {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut state = self.0.lock().unwrap();
        state.calls.push((
            "GetMatchHistoryBySequenceNum".into(),
            Instant::now(),
            req.url.query().unwrap_or("").to_owned(),
        ));
        let seq = query(req, "start_at_match_seq_num").and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
        let found: Vec<Value> = if state.broken_seqs.contains(&seq) {
            vec![]
        } else {
            state
                .matches
                .iter()
                .filter(|m| m.seq >= seq)
                .min_by_key(|m| m.seq)
                .map(MockMatch::details)
                .into_iter()
                .collect()
        };
        ResponseTemplate::new(200)
            .set_body_json(json!({"result": {"status": 1, "matches": found}}))
            .set_delay(state.details_delay)
    }
}

struct Details(Arc<Mutex<MockState>>);
impl Respond for Details {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        self.0.lock().unwrap().calls.push((
            "GetMatchDetails".into(),
            Instant::now(),
            req.url.query().unwrap_or("").to_owned(),
        ));
        ResponseTemplate::new(500)
    }
}

impl SteamMock {
    pub async fn start(matches: Vec<MockMatch>) -> Self {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(MockState { matches, ..Default::default() }));
        Mock::given(method("GET"))
            .and(path("/IDOTA2Match_570/GetMatchHistory/v1/"))
            .respond_with(History(state.clone()))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/IDOTA2Match_570/GetMatchHistoryBySequenceNum/v1/"))
            .respond_with(BySeq(state.clone()))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/IDOTA2Match_570/GetMatchDetails/v1/"))
            .respond_with(Details(state.clone()))
            .mount(&server)
            .await;
        Self { server: Arc::new(server), state }
    }

    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// Settings that point the app at this mock (rate limit effectively off).
    pub fn args(&self) -> Vec<String> {
        [
            "--steam-api-key",
            API_KEY,
            "--steam-api-base",
            &self.uri(),
            "--opendota-api-base",
            &self.uri(),
            "--steam-rate-per-sec",
            "100000",
        ]
        .map(String::from)
        .to_vec()
    }

    pub fn push(&self, matches: impl IntoIterator<Item = MockMatch>) {
        self.state.lock().unwrap().matches.extend(matches);
    }

    pub fn calls(&self, method: &str) -> usize {
        self.state.lock().unwrap().calls.iter().filter(|(m, _, _)| m == method).count()
    }
}
