//! `api import-draftforge` (SPEC §19) against a database the original
//! application made: every table arrives (minus the rows the report skips,
//! each with a reason), fields survive row by row, a second run imports
//! nothing, a grown source imports just its new rows, damaged copies are
//! reported rather than fatal, and the league's MMR is recomputed with §8.
//! Expected values come from the fixture's own summary and from SQL over
//! the source, never from the importer.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::Value;
use tests::draftforge::{self, Copy};
use tests::{Backend, Options, TestApp, TestDb};
use worker::domain::mmr::{self, MmrConfig, Totals};
use worker::import::draftforge::{Report, Silent};

const LEAGUE: i64 = 17929;

/// Source table → the table its rows land in here.
const LANDS_IN: [(&str, &str); 15] = [
    ("app_customuser", "users"),
    ("app_league", "leagues"),
    ("app_tournament", "tournaments"),
    ("app_tournament_users", "tournament_users"),
    ("app_team", "teams"),
    ("app_game", "games"),
    ("app_draft", "drafts"),
    ("app_draftround", "draft_rounds"),
    ("app_draftevent", "draft_events"),
    ("app_herodraft", "hero_drafts"),
    ("app_draftteam", "hero_draft_teams"),
    ("app_herodraftround", "hero_draft_rounds"),
    ("app_herodraftevent", "hero_draft_events"),
    ("steam_match", "steam_matches"),
    ("steam_playermatchstats", "player_match_stats"),
];

async fn import(app: &TestApp, from: &str, dry_run: bool) -> Report {
    let options = worker::import::draftforge::Options { dry_run, min_games: 5 };
    worker::import::draftforge::run(app.db(), from, options, &Silent).await.expect("the import runs")
}

async fn rows(db: &DatabaseConnection, sql: &str) -> Vec<sea_orm::QueryResult> {
    db.query_all_raw(Statement::from_string(db.get_database_backend(), sql.to_owned())).await.expect(sql)
}

/// An integer column of either width (PostgreSQL tells int4 from int8).
fn int(row: &sea_orm::QueryResult, col: &str) -> Option<i64> {
    row.try_get::<Option<i64>>("", col)
        .or_else(|_| row.try_get::<Option<i32>>("", col).map(|v| v.map(i64::from)))
        .expect(col)
}

fn text(row: &sea_orm::QueryResult, col: &str) -> Option<String> {
    row.try_get::<Option<String>>("", col).expect(col)
}

/// Our user id of each source user, found by Discord id (every fixture
/// user has one), independently of the importer's map.
async fn users_by_source(app: &TestApp, source: &DatabaseConnection) -> HashMap<i64, i64> {
    let ours: HashMap<String, i64> = rows(app.db(), "SELECT id, discord_id FROM users WHERE discord_id IS NOT NULL")
        .await
        .iter()
        .map(|r| (text(r, "discord_id").unwrap(), int(r, "id").unwrap()))
        .collect();
    rows(source, "SELECT id, \"discordId\" AS d FROM app_customuser")
        .await
        .iter()
        .filter_map(|r| Some((int(r, "id").unwrap(), *ours.get(&text(r, "d")?)?)))
        .collect()
}

/// Counts: each table here holds the summary's rows minus the skipped.
async fn assert_counts(app: &TestApp, report: &Report) {
    let summary = draftforge::summary();
    for (source, here) in LANDS_IN {
        let expected = summary["tables"][source].as_i64().unwrap();
        let skipped = report.counts(source).map_or(0, |c| c.skipped) as i64;
        let reasons = report.skipped.iter().filter(|n| n.table == source).count() as i64;
        assert_eq!(reasons, skipped, "{source}: every skipped row has its reason");
        assert_eq!(app.count(here).await, expected - skipped, "{source} → {here}: {report}");
    }
    // Members stay members; drop-ins (and leavers: none in the fixture) are the team's attendance.
    assert_eq!(app.count("team_members").await, summary["tables"]["app_team_members"].as_i64().unwrap());
    assert_eq!(app.count("team_attendance").await, summary["tables"]["app_team_dropin_members"].as_i64().unwrap());
    // League admins and league staff both become league admins: distinct people.
    assert_eq!(app.count("league_admins").await, 2);
}

/// The whole fixture, imported and checked; `from` is where the source is
/// read (the SQLite file or its PostgreSQL copy).
async fn the_fixture_arrives_whole(backend: Backend) {
    let app = TestApp::spawn_with(backend, Options::default()).await;
    // The PostgreSQL target reads its source from PostgreSQL too.
    let pg_source = match backend {
        Backend::Postgres => {
            let db = TestDb::create(Backend::Postgres).await;
            draftforge::load_into_postgres(&draftforge::fixture(), &db.url).await;
            Some(db)
        }
        Backend::Sqlite => None,
    };
    let from = pg_source.as_ref().map_or_else(|| draftforge::fixture().display().to_string(), |db| db.url.clone());
    let report = import(&app, &from, false).await;
    assert!(!report.dry_run);
    assert_counts(&app, &report).await;
    let summary = draftforge::summary();

    // Only unfinished hero drafts (and what hangs on them) are skipped.
    let unfinished: BTreeSet<i64> = summary["herodrafts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["state"] != "completed")
        .map(|d| d["id"].as_i64().unwrap())
        .collect();
    let skipped_drafts: BTreeSet<i64> =
        report.skipped.iter().filter(|n| n.table == "app_herodraft").map(|n| n.source_id).collect();
    assert_eq!(skipped_drafts, unfinished, "{report}");
    let skipped_tables: BTreeSet<&str> = report.skipped.iter().map(|n| n.table).collect();
    assert!(
        skipped_tables.is_subset(&BTreeSet::from([
            "app_herodraft",
            "app_draftteam",
            "app_herodraftround",
            "app_herodraftevent"
        ])),
        "the fixture is clean but for its unfinished hero drafts: {report}"
    );
    assert_eq!(report.counts("app_herodraftround").unwrap().skipped, 72 - 48, "24 rounds per finished draft");

    let source = draftforge::open(&draftforge::fixture()).await;
    let users = users_by_source(&app, &source).await;
    assert_eq!(users.len(), 40);

    // Users, field by field.
    for r in rows(&source, "SELECT * FROM app_customuser WHERE id IN (1, 2, 3, 40)").await {
        let id = users[&int(&r, "id").unwrap()];
        let here = &rows(app.db(), &format!("SELECT * FROM users WHERE id = {id}")).await[0];
        assert_eq!(text(here, "username"), text(&r, "username"));
        assert_eq!(int(here, "steam_id"), int(&r, "steamid"));
        assert_eq!(int(here, "mmr"), int(&r, "mmr"));
        assert_eq!(text(here, "avatar"), text(&r, "avatar"));
        assert_eq!(text(here, "guild_nickname"), text(&r, "guildNickname"));
        assert_eq!(text(here, "discord_username"), text(&r, "discordUsername"));
        let flag = |row: &sea_orm::QueryResult, c: &str| row.try_get::<bool>("", c).unwrap();
        assert_eq!(flag(here, "is_staff"), int(&r, "is_staff") == Some(1));
        assert_eq!(flag(here, "is_superuser"), int(&r, "is_superuser") == Some(1));
    }
    let staff = rows(app.db(), "SELECT COUNT(*) AS n FROM users WHERE is_staff").await;
    assert_eq!(int(&staff[0], "n"), summary["users"]["staff"].as_i64());
    let with_steam = rows(app.db(), "SELECT COUNT(*) AS n FROM users WHERE steam_id IS NOT NULL").await;
    assert_eq!(int(&with_steam[0], "n"), summary["users"]["with_nonzero_steamid"].as_i64());

    // Tournaments as the summary lists them.
    for t in summary["tournaments"].as_array().unwrap() {
        let name = t["name"].as_str().unwrap();
        let here = &rows(app.db(), &format!("SELECT * FROM tournaments WHERE name = '{name}'")).await[0];
        assert_eq!(text(here, "state").as_deref(), t["state"].as_str(), "{name}");
        let id = int(here, "id").unwrap();
        let players =
            rows(app.db(), &format!("SELECT COUNT(*) AS n FROM tournament_users WHERE tournament_id = {id}")).await;
        assert_eq!(int(&players[0], "n"), t["users"].as_i64(), "{name}");
        let teams = rows(app.db(), &format!("SELECT COUNT(*) AS n FROM teams WHERE tournament_id = {id}")).await;
        assert_eq!(int(&teams[0], "n"), t["teams"].as_i64(), "{name}");
        let games = rows(app.db(), &format!("SELECT COUNT(*) AS n FROM games WHERE tournament_id = {id}")).await;
        assert_eq!(int(&games[0], "n"), t["games"].as_i64(), "{name}");
        // The winner is the team of the same name and captain.
        let winner = int(here, "winning_team_id");
        assert_eq!(winner.is_some(), !t["winning_team_id"].is_null(), "{name}");
    }

    // Teams: captains are the same people.
    let team_of = |name: String, captain: Option<i64>| (name, captain);
    let source_teams: BTreeSet<(String, Option<i64>)> = rows(&source, "SELECT name, captain_id FROM app_team")
        .await
        .iter()
        .map(|r| team_of(text(r, "name").unwrap(), int(r, "captain_id").map(|c| users[&c])))
        .collect();
    let our_teams: BTreeSet<(String, Option<i64>)> = rows(app.db(), "SELECT name, captain_id FROM teams")
        .await
        .iter()
        .map(|r| team_of(text(r, "name").unwrap(), int(r, "captain_id")))
        .collect();
    assert_eq!(our_teams, source_teams);

    // Games: every bracket link (winner's and loser's) with its slot, and every match id.
    for (link, slot, expected) in
        [("next_game_id", "next_game_slot", 10), ("loser_next_game_id", "loser_next_game_slot", 6)]
    {
        let ours = bracket_links(app.db(), "games", link, slot).await;
        assert_eq!(ours.len(), expected, "{link}s in the fixture's two brackets");
        assert_eq!(ours, bracket_links(&source, "app_game", link, slot).await, "{link}");
    }
    let source_matches: BTreeSet<i64> = rows(&source, "SELECT gameid FROM app_game WHERE gameid IS NOT NULL")
        .await
        .iter()
        .map(|r| int(r, "gameid").unwrap())
        .collect();
    let our_matches: BTreeSet<i64> = rows(app.db(), "SELECT match_id FROM games WHERE match_id IS NOT NULL")
        .await
        .iter()
        .map(|r| int(r, "match_id").unwrap())
        .collect();
    assert_eq!(our_matches, source_matches);

    // Drafts: picks made, ties, styles.
    for d in summary["drafts"].as_array().unwrap() {
        let style = d["draft_style"].as_str().unwrap();
        let here = &rows(app.db(), &format!("SELECT id FROM drafts WHERE draft_style = '{style}'")).await[0];
        let id = int(here, "id").unwrap();
        let made = rows(
            app.db(),
            &format!("SELECT COUNT(*) AS n FROM draft_rounds WHERE draft_id = {id} AND choice_id IS NOT NULL"),
        )
        .await;
        assert_eq!(int(&made[0], "n"), d["picks_made"].as_i64(), "{style}");
        let ties =
            rows(app.db(), &format!("SELECT COUNT(*) AS n FROM draft_rounds WHERE draft_id = {id} AND was_tie")).await;
        assert_eq!(int(&ties[0], "n"), d["tie_rounds"].as_i64(), "{style}");
    }
    // A pick event names the people it names in the original, by their ids here.
    let first = &rows(&source, "SELECT payload FROM app_draftevent WHERE id = 1").await[0];
    let original: Value = serde_json::from_str(&text(first, "payload").unwrap()).unwrap();
    let ours = rows(app.db(), "SELECT payload FROM draft_events ORDER BY id LIMIT 1").await;
    let ours: Value = ours[0].try_get::<Value>("", "payload").unwrap();
    assert_eq!(ours["picked_id"].as_i64(), Some(users[&original["picked_id"].as_i64().unwrap()]));
    assert_eq!(ours["picked_name"], original["picked_name"]);

    // Finished hero drafts: 24 completed rounds each, heroes as in the source.
    let source_heroes: Vec<i64> = rows(
        &source,
        "SELECT r.hero_id FROM app_herodraftround r JOIN app_herodraft d ON d.id = r.draft_id \
         WHERE d.state = 'completed' ORDER BY r.draft_id, r.round_number",
    )
    .await
    .iter()
    .map(|r| int(r, "hero_id").unwrap())
    .collect();
    let our_heroes: Vec<i64> =
        rows(app.db(), "SELECT hero_id FROM hero_draft_rounds ORDER BY hero_draft_id, round_number")
            .await
            .iter()
            .map(|r| int(r, "hero_id").unwrap())
            .collect();
    assert_eq!(our_heroes, source_heroes);

    // Matches and lines: the summary's range; private players stay anonymous.
    let range = &rows(app.db(), "SELECT MIN(match_id) AS lo, MAX(match_id) AS hi FROM steam_matches").await[0];
    assert_eq!(int(range, "lo"), summary["matches"]["min_match_id"].as_i64());
    assert_eq!(int(range, "hi"), summary["matches"]["max_match_id"].as_i64());
    let anonymous = rows(app.db(), "SELECT COUNT(*) AS n FROM player_match_stats WHERE steam_id IS NULL").await;
    assert_eq!(int(&anonymous[0], "n"), summary["player_match_stats"]["private_profile_rows"].as_i64());
    let sync =
        &rows(app.db(), "SELECT last_match_id, CAST(failed_match_ids AS TEXT) AS f FROM league_sync_states").await[0];
    assert_eq!(int(sync, "last_match_id"), summary["league_sync_state"][0]["last_match_id"].as_i64());
    let failed: Value = serde_json::from_str(&text(sync, "f").unwrap()).unwrap();
    assert_eq!(failed, serde_json::json!([8485772340_i64]));

    the_leaderboard_is_recomputed(&app, &source, &users, &report).await;

    // A second run imports nothing and changes nothing.
    let before: Vec<i64> = futures_counts(&app).await;
    let again = import(&app, &from, false).await;
    assert_eq!(again.imported(), 0, "{again}");
    assert_eq!(again.counts("app_customuser").unwrap().already_imported, 40);
    assert_eq!(futures_counts(&app).await, before);
    assert!(again.mmr_changes == report.mmr_changes, "the recompute is stable");
}

/// The links `link` of the games in `table`, each end named by its
/// (position, round, bracket) — ids differ between the databases — sorted.
async fn bracket_links(db: &DatabaseConnection, table: &str, link: &str, slot: &str) -> Vec<(i64, i64, String)> {
    let sql = format!(
        "SELECT g.position AS p, g.round AS r, g.bracket_type AS b, n.position AS np, n.round AS nr, \
         n.bracket_type AS nb, g.{slot} AS s FROM {table} g JOIN {table} n ON n.id = g.{link}"
    );
    let mut links: Vec<(i64, i64, String)> = rows(db, &sql)
        .await
        .iter()
        .map(|r| {
            let end = |p: &str, rd: &str, b: &str| {
                int(r, p).unwrap() * 1000 + int(r, rd).unwrap() * 10 + bracket_code(&text(r, b).unwrap())
            };
            (end("p", "r", "b"), end("np", "nr", "nb"), text(r, "s").unwrap())
        })
        .collect();
    links.sort();
    links
}

fn bracket_code(b: &str) -> i64 {
    match b {
        "winners" => 1,
        "losers" => 2,
        "grand_finals" => 3,
        _ => 4,
    }
}

async fn futures_counts(app: &TestApp) -> Vec<i64> {
    let mut all = Vec::new();
    for (_, here) in LANDS_IN {
        all.push(app.count(here).await);
    }
    all.push(app.count("team_members").await);
    all.push(app.count("league_admins").await);
    all.push(app.count("league_player_stats").await);
    all
}

/// The leaderboard comes from our §8 recompute over the imported lines:
/// per-player totals are summed here straight from the source's matches,
/// then put through the MMR formula; the report's MMR differences are
/// exactly the players whose value moved from the original's.
async fn the_leaderboard_is_recomputed(
    app: &TestApp,
    source: &DatabaseConnection,
    users: &HashMap<i64, i64>,
    report: &Report,
) {
    let totals: Vec<Totals> = rows(
        source,
        "SELECT u.id AS uid, COUNT(*) AS games, \
         SUM(CASE WHEN (p.player_slot < 128) = (m.radiant_win = 1) THEN 1 ELSE 0 END) AS wins, \
         SUM(p.kills) AS k, SUM(p.deaths) AS d, SUM(p.assists) AS a, SUM(p.gold_per_min) AS g, SUM(p.xp_per_min) AS x \
         FROM steam_playermatchstats p JOIN steam_match m ON m.match_id = p.match_id \
         JOIN app_customuser u ON u.steamid = p.steam_id WHERE m.league_id = 17929 GROUP BY u.id",
    )
    .await
    .iter()
    .map(|r| Totals {
        user_id: users[&int(r, "uid").unwrap()],
        games_played: int(r, "games").unwrap(),
        wins: int(r, "wins").unwrap(),
        kills: int(r, "k").unwrap(),
        deaths: int(r, "d").unwrap(),
        assists: int(r, "a").unwrap(),
        gpm: int(r, "g").unwrap(),
        xpm: int(r, "x").unwrap(),
    })
    .collect();
    assert_eq!(totals.len() as u64, draftforge::summary()["league_player_stats"]["rows"].as_u64().unwrap());
    let adjustments = mmr::adjustments(&totals, &MmrConfig::default());
    let board =
        app.anon().get(&format!("/api/leagues/{}/leaderboard?page_size=100", app.league_id(LEAGUE).await)).await;
    assert_eq!(board.status, 200, "{}", board.text);
    let rows_by_user: HashMap<i64, Value> =
        board.body["results"].as_array().unwrap().iter().map(|r| (r["user_id"].as_i64().unwrap(), r.clone())).collect();
    assert_eq!(rows_by_user.len(), totals.len());
    for (t, adj) in totals.iter().zip(&adjustments) {
        let row = &rows_by_user[&t.user_id];
        assert_eq!((row["games_played"].as_i64(), row["wins"].as_i64()), (Some(t.games_played), Some(t.wins)), "{row}");
        assert_eq!(row["mmr_adjustment"].as_i64(), Some(i64::from(*adj)), "{row}");
        let expected = if t.games_played >= 5 { row["mmr"].as_i64().map(|m| m + i64::from(*adj)) } else { None };
        assert_eq!(row["league_mmr"].as_i64(), expected, "{row}");
    }

    // The report's MMR differences, checked against the database.
    let original: BTreeMap<i64, Option<i64>> = rows(source, "SELECT id, league_mmr FROM app_customuser")
        .await
        .iter()
        .map(|r| (int(r, "id").unwrap(), int(r, "league_mmr")))
        .collect();
    let ours: HashMap<i64, Option<i64>> = rows(app.db(), "SELECT id, league_mmr FROM users")
        .await
        .iter()
        .map(|r| (int(r, "id").unwrap(), int(r, "league_mmr")))
        .collect();
    let moved: BTreeMap<i64, (Option<i64>, Option<i64>)> = original
        .iter()
        .filter(|(id, was)| ours[&users[id]] != **was)
        .map(|(id, was)| (*id, (*was, ours[&users[id]])))
        .collect();
    let reported: BTreeMap<i64, (Option<i64>, Option<i64>)> = report
        .mmr_changes
        .iter()
        .map(|c| (c.source_id, (c.original.map(i64::from), c.recomputed.map(i64::from))))
        .collect();
    assert!(!moved.is_empty(), "the original's order-dependent figures differ somewhere");
    assert_eq!(reported, moved);
}

/// Damaged copies (a dangling captain, usernames that clash by case or
/// hide characters, malformed and legacy Steam ids, a pick of a user who
/// no longer exists) import with each repair reported; then the source
/// grows and a second run imports just the new rows.
async fn damaged_and_grown_sources(backend: Backend) {
    let app = TestApp::spawn_with(backend, Options::default()).await;
    let copy = Copy::new();
    copy.execute(&[
        "UPDATE app_team SET captain_id = 999 WHERE id = 1",
        "UPDATE app_customuser SET username = 'SILENTSALVE' WHERE id = 2",
        "UPDATE app_customuser SET username = 'tusk\u{200B}' WHERE id = 4",
        "UPDATE app_customuser SET username = char(8203) WHERE id = 5",
        "UPDATE app_customuser SET steamid = 99999999999999999, steam_account_id = NULL WHERE id = 6",
        "UPDATE app_customuser SET steamid = steamid - 76561197960265728 WHERE id = 7",
        "UPDATE app_draftround SET choice_id = 999 WHERE id = 3",
        "UPDATE app_tournament_users SET customuser_id = 999 WHERE id = 1",
        "UPDATE app_customuser SET \"discordId\" = 'not-a-snowflake' WHERE id = 8",
        "UPDATE app_game SET gameid = 1234 WHERE id = 12",
    ])
    .await;
    let report = import(&app, copy.path_str(), false).await;
    let notes = |table: &str, id: i64| -> Vec<String> {
        report
            .fixed
            .iter()
            .chain(&report.skipped)
            .filter(|n| n.table == table && n.source_id == id)
            .map(|n| n.reason.clone())
            .collect()
    };
    assert!(notes("app_team", 1).iter().any(|n| n.contains("captain 999")), "{report}");
    // The older account keeps the name.
    assert!(notes("app_customuser", 3).iter().any(|n| n.contains("clashes")), "{report}");
    assert!(notes("app_customuser", 5).iter().any(|n| n.contains("replaced")), "{report}");
    assert!(notes("app_customuser", 6).iter().any(|n| n.contains("malformed")), "{report}");
    assert!(notes("app_customuser", 7).iter().any(|n| n.contains("converted")), "{report}");
    assert!(notes("app_customuser", 8).iter().any(|n| n.contains("discordId")), "{report}");
    assert!(notes("app_draftround", 3).iter().any(|n| n.contains("choice_id 999")), "{report}");
    assert!(notes("app_game", 12).iter().any(|n| n.contains("match 1234 is not stored")), "{report}");
    assert_eq!(notes("app_tournament_users", 1).len(), 1, "the dangling signup is skipped: {report}");
    assert_eq!(report.counts("app_tournament_users").unwrap().skipped, 1);

    let source = draftforge::open(&copy.path).await;
    let account = int(&rows(&source, "SELECT steamid FROM app_customuser WHERE id = 7").await[0], "steamid");
    let user = |sql: String| {
        let app = &app;
        async move { rows(app.db(), &sql).await }
    };
    // Every account arrived, each under a unique name by DTX's rules.
    assert_eq!(app.count("users").await, 40);
    let names: Vec<String> =
        user("SELECT username FROM users".into()).await.iter().map(|r| text(r, "username").unwrap()).collect();
    assert!(names.contains(&"SILENTSALVE".to_owned()) && names.contains(&"silentsalve-3".to_owned()), "{names:?}");
    assert!(names.contains(&"tusk".to_owned()) && names.contains(&"player-5".to_owned()), "{names:?}");
    // The 32-bit id is stored as its SteamID64; the malformed one is dropped.
    let converted =
        user(format!("SELECT id FROM users WHERE steam_id = {}", account.unwrap() + 76561197960265728)).await;
    assert_eq!(converted.len(), 1);
    let none = user("SELECT COUNT(*) AS n FROM users WHERE steam_id IS NULL".into()).await;
    assert_eq!(int(&none[0], "n"), Some(4 + 1), "the four without one, and the malformed");
    let captainless = user("SELECT COUNT(*) AS n FROM teams WHERE captain_id IS NULL".into()).await;
    assert_eq!(int(&captainless[0], "n"), Some(1));

    // The source grows: a new player, a new match with two lines, a new signup.
    copy.execute(&[
        "INSERT INTO app_positionsmodel (id, carry, mid, offlane, soft_support, hard_support) VALUES (41, 5, 4, 3, 2, 1)",
        "INSERT INTO app_customuser (id, password, is_superuser, username, first_name, last_name, email, is_staff,          is_active, date_joined, mmr, \"discordId\", positions_id, has_active_dota_mmr, steamid) VALUES          (41, '!', 0, 'newcomer', '', '', '', 0, 1, '2026-02-10 10:00:00', 3100, '123456789012345678', 41, 0, 76561198000000041)",
        "INSERT INTO app_tournament_users (id, tournament_id, customuser_id) VALUES (100, 3, 41)",
        "INSERT INTO steam_match (match_id, radiant_win, duration, start_time, game_mode, lobby_type, league_id)          VALUES (8700000000, 1, 2400, 1770000000, 2, 1, 17929)",
        "INSERT INTO steam_playermatchstats (id, steam_id, player_slot, hero_id, kills, deaths, assists, gold_per_min,          xp_per_min, last_hits, denies, hero_damage, tower_damage, hero_healing, match_id, user_id) VALUES          (1000, 76561198000000041, 0, 1, 10, 2, 5, 600, 700, 200, 10, 20000, 3000, 0, 8700000000, 41),          (1001, 76561202255233023, 128, 2, 1, 9, 3, 300, 350, 50, 1, 5000, 0, 0, 8700000000, NULL)",
    ])
    .await;
    let before = app.count("player_match_stats").await;
    let grown = import(&app, copy.path_str(), false).await;
    let imported: BTreeMap<&str, usize> =
        grown.tables.iter().filter(|t| t.imported > 0).map(|t| (t.table, t.imported)).collect();
    assert_eq!(
        imported,
        BTreeMap::from([
            ("app_customuser", 1),
            ("app_tournament_users", 1),
            ("steam_match", 1),
            ("steam_playermatchstats", 2)
        ]),
        "{grown}"
    );
    assert_eq!(app.count("player_match_stats").await, before + 2);
    let newcomer = user("SELECT id FROM users WHERE username = 'newcomer'".into()).await;
    let newcomer = int(&newcomer[0], "id").unwrap();
    let line = user(format!("SELECT COUNT(*) AS n FROM player_match_stats WHERE user_id = {newcomer}")).await;
    assert_eq!(int(&line[0], "n"), Some(1), "the new line is linked by Steam id");
}

/// Imported text obeys the API's rules (SPEC §24): a 5 MB nickname, text
/// direction, ANSI and NUL characters are cleaned, a forged avatar hash is
/// dropped, a payload nested 100 000 deep is reported — a report line each —
/// and what anonymous readers get is what the API itself would have stored.
async fn imported_text_obeys_the_apis_rules(backend: Backend) {
    let app = TestApp::spawn_with(backend, Options::default()).await;
    let copy = Copy::new();
    copy.execute(&[
        // 5 000 000 characters.
        "UPDATE app_customuser SET nickname = hex(zeroblob(2500000)) WHERE id = 9",
        "UPDATE app_customuser SET nickname = 'Brave' || char(8238) || 'Jakiro', \"discordNickname\" = char(27) || '[31mRed' || char(0) || 'Alert' WHERE id = 10",
        "UPDATE app_customuser SET avatar = '../../../attachments/x?y=\"><script>alert(1)</script>' WHERE id = 11",
        "UPDATE app_customuser SET \"guildNickname\" = char(8203) || char(12644) WHERE id = 12",
        "UPDATE app_draftevent SET payload = replace(hex(zeroblob(50000)), '0', '[') || replace(hex(zeroblob(50000)), '0', ']') WHERE id = 2",
    ])
    .await;
    let report = import(&app, copy.path_str(), false).await;
    let notes = |table: &str, id: i64| -> Vec<String> {
        report.fixed.iter().filter(|n| n.table == table && n.source_id == id).map(|n| n.reason.clone()).collect()
    };
    assert!(notes("app_customuser", 9).iter().any(|n| n.contains("nickname (5000000 characters) cleaned")), "{report}");
    let ten = notes("app_customuser", 10);
    assert!(
        ten.iter().any(|n| n.starts_with("nickname")) && ten.iter().any(|n| n.starts_with("discordNickname")),
        "{ten:?}"
    );
    assert!(notes("app_customuser", 11).iter().any(|n| n.contains("avatar is not a Discord avatar hash")), "{report}");
    assert!(notes("app_customuser", 12).iter().any(|n| n.starts_with("guildNickname")), "{report}");
    assert!(notes("app_draftevent", 2).iter().any(|n| n.contains("payload is not readable JSON")), "{report}");
    assert_eq!(notes("app_customuser", 13), Vec::<String>::new(), "a clean row has no line");

    let user = |name: &'static str| {
        let app = &app;
        async move {
            let id = app.db_rows(&format!("SELECT CAST(id AS TEXT) FROM users WHERE username = '{name}'")).await;
            app.anon().get(&format!("/api/users/{}", id[0])).await.body
        }
    };
    let void = user("void_slark").await;
    assert_eq!(void["nickname"], "0".repeat(100), "cut to the API's 100 characters");
    let jakiro = user("brave_jakiro").await;
    // Hand-worked: U+202E, ESC and NUL dropped, nothing else touched.
    assert_eq!(
        (jakiro["nickname"].as_str(), jakiro["discordNickname"].as_str()),
        (Some("BraveJakiro"), Some("[31mRedAlert"))
    );
    let invoker = user("grumpy_invoker").await;
    // Discord's default avatar for the id: (1027783073464967775 >> 22) % 6.
    let default = (1027783073464967775_u64 >> 22) % 6;
    assert_eq!(invoker["avatarUrl"], format!("https://cdn.discordapp.com/embed/avatars/{default}.png"));
    assert_eq!(user("sneakyjungle").await["guildNickname"], Value::Null, "nothing visible was left");
    let listed = app.anon().get("/api/users?page_size=100").await;
    assert!(listed.text.len() < 200_000, "the user list is {} bytes", listed.text.len());
}

/// A dry run reports the full import and leaves the database as it was;
/// the command line prints the summary table and runs again harmlessly.
async fn a_dry_run_writes_nothing_and_the_command_runs(backend: Backend) {
    let app = TestApp::spawn_with(backend, Options::default()).await;
    let fixture = draftforge::fixture().display().to_string();
    let report = import(&app, &fixture, true).await;
    assert!(report.dry_run);
    assert_eq!(report.counts("app_customuser").unwrap().imported, 40);
    assert_eq!(report.counts("steam_playermatchstats").unwrap().imported, 580);
    assert!(!report.mmr_changes.is_empty(), "the dry run reports the recompute too");
    for table in ["users", "games", "player_match_stats", "league_player_stats", "import_map"] {
        assert_eq!(app.count(table).await, 0, "{table} after a dry run");
    }

    let command = |dry: bool| {
        let mut cmd = std::process::Command::new(tests::workspace_binary("api"));
        cmd.args(["--database-url", app.db_url(), "import-draftforge", "--from", &fixture]);
        if dry {
            cmd.arg("--dry-run");
        }
        cmd.env("RUST_LOG", "warn").output().expect("api import-draftforge runs")
    };
    let first = command(false);
    let out = String::from_utf8_lossy(&first.stdout);
    assert!(first.status.success(), "{out}\n{}", String::from_utf8_lossy(&first.stderr));
    assert!(out.contains("app_customuser") && out.contains("imported"), "{out}");
    assert_eq!(app.count("users").await, 40);
    let second = command(false);
    assert!(second.status.success());
    assert_eq!(app.count("users").await, 40, "a second run imports nothing twice");
    let missing = std::process::Command::new(tests::workspace_binary("api"))
        .args(["--database-url", app.db_url(), "import-draftforge", "--from", "/nonexistent.sqlite3"])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("does not exist"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
}

/// Drop-ins and leavers arrive as the team's attendance (result linking
/// counts the first, not the second), a deactivated account stays
/// deactivated, and a league's rules and prize pool come over — cleaned as
/// the API would, with a report line.
async fn attendance_activity_and_league_text_come_over(backend: Backend) {
    let app = TestApp::spawn_with(backend, Options::default()).await;
    let copy = Copy::new();
    copy.execute(&[
        "UPDATE app_customuser SET is_active = 0 WHERE id = 13",
        // A member of team 2 other than its captain left.
        "INSERT INTO app_team_left_members (id, team_id, customuser_id) SELECT 1, m.team_id, m.customuser_id \
         FROM app_team_members m JOIN app_team t ON t.id = m.team_id \
         WHERE m.team_id = 2 AND m.customuser_id <> t.captain_id ORDER BY m.customuser_id LIMIT 1",
        "UPDATE app_league SET rules = 'Be kind' || char(27) || '[0m', prize_pool = 'a mug'",
    ])
    .await;
    let report = import(&app, copy.path_str(), false).await;
    let source = draftforge::open(std::path::Path::new(copy.path_str())).await;
    let users = users_by_source(&app, &source).await;
    let mut source_rows = Vec::new();
    for table in ["app_team_dropin_members", "app_team_left_members"] {
        let found = rows(&source, &format!("SELECT customuser_id FROM {table}")).await;
        source_rows.push(found.iter().map(|r| users[&int(r, "customuser_id").unwrap()]).collect::<Vec<i64>>());
    }
    let mut here = Vec::new();
    for kind in ["dropin", "left"] {
        let found = rows(app.db(), &format!("SELECT user_id FROM team_attendance WHERE kind = '{kind}'")).await;
        here.push(found.iter().map(|r| int(r, "user_id").unwrap()).collect::<Vec<i64>>());
    }
    assert_eq!((source_rows[0].len(), source_rows[1].len()), (1, 1));
    assert_eq!(here, source_rows, "drop-ins, then leavers");
    // The leaver is still a member: they were drafted.
    let still_member = "SELECT COUNT(*) AS n FROM team_attendance a JOIN team_members m \
                        ON m.team_id = a.team_id AND m.user_id = a.user_id WHERE a.kind = 'left'";
    assert_eq!(int(&rows(app.db(), still_member).await[0], "n"), Some(1));

    let inactive = rows(app.db(), "SELECT id FROM users WHERE NOT is_active").await;
    assert_eq!(inactive.iter().map(|r| int(r, "id").unwrap()).collect::<Vec<_>>(), vec![users[&13]]);

    let league = &rows(app.db(), "SELECT rules, prize_pool FROM leagues").await[0];
    assert_eq!(
        (text(league, "rules").as_deref(), text(league, "prize_pool").as_deref()),
        (Some("Be kind[0m"), Some("a mug"))
    );
    assert!(
        report.fixed.iter().any(|n| n.table == "app_league" && n.reason == "rules: 1 control characters dropped"),
        "{report}"
    );
}

tests::on_both_databases!(
    attendance_activity_and_league_text_come_over,
    the_fixture_arrives_whole,
    damaged_and_grown_sources,
    imported_text_obeys_the_apis_rules,
    a_dry_run_writes_nothing_and_the_command_runs
);
