//! The role matrix: every endpoint × anonymous, user, captain, league admin
//! (of the row's league), admin of another league, staff, superuser (SPEC
//! §4, §18). A league admin answers like staff on the rows marked
//! `organised()` (their league's tournaments, teams, games, drafts, hero
//! drafts, results and links) and like a plain user everywhere else; an
//! admin of another league always like a plain user. A row that changes something runs on fresh records
//! for each role, so one role's delete cannot hide the answer another gets;
//! reads share one set. "Captain" is the captain the row is about: of the
//! team whose turn it is in a draft, of the roll winner in a hero draft, of
//! the game's radiant team otherwise — a plain user everywhere else.
//!
//! Where a role is allowed but the record's state refuses the action (retry
//! a queued job, undo with no pick), the row expects that 409: it shows the
//! role got past the permission check.

use reqwest::Method;
use serde_json::{Value, json};
use tests::fixtures::{self, HeroStage};
use tests::steam_mock::MockMatch;
use tests::{Backend, Caller, Options, TestApp, on_both_databases};

const ROLES: [&str; 7] = ["anonymous", "user", "captain", "league admin", "other league's admin", "staff", "superuser"];

/// What a row needs to exist before the call.
#[derive(Clone, Copy, Default)]
struct Setup {
    /// A team draft of the tournament (and whether one pick was made).
    team_draft: Option<bool>,
    /// A hero draft of a second game, driven to this stage.
    hero: Option<HeroStage>,
}

const PLAIN: Setup = Setup { team_draft: None, hero: None };
const DRAFTED: Setup = Setup { team_draft: Some(false), hero: None };
const PICKED: Setup = Setup { team_draft: Some(true), hero: None };

const fn hero(stage: HeroStage) -> Setup {
    Setup { team_draft: None, hero: Some(stage) }
}

/// Records a row acts on.
struct Ids {
    league: i64,
    steam_league: i64,
    tournament: i64,
    team: i64,
    game: i64,
    player: i64,
    plain_user: i64,
    staff_user: i64,
    job: String,
    match_id: i64,
    draft: i64,
    hero_draft: i64,
    template: i64,
    event: i64,
    /// The league admin's user id (granted on this row's league).
    admin: i64,
    /// Who the captain role logs in as.
    captain: String,
}

/// The league admin of every row's league, and the admin of a league of its own.
const LEAGUE_ADMIN: &str = "lena";
const OTHER_ADMIN: &str = "otto";

async fn fresh_records(app: &TestApp, root: &Caller<'_>, n: usize, setup: Setup) -> Ids {
    let steam_league = 1000 + n as i64;
    let league =
        root.post("/api/leagues", json!({"steam_league_id": steam_league, "name": format!("L{n}")})).await.id();
    let tournament = root
        .post(
            "/api/tournaments",
            json!({"name": format!("T{n}"), "date_played": "2026-12-01T18:00:00Z", "league_id": league}),
        )
        .await
        .id();
    let admin = app.user(LEAGUE_ADMIN).await.get("/api/me").await.id();
    let granted = root.post(&format!("/api/leagues/{league}/admins"), json!({"user_id": admin})).await;
    assert_eq!(granted.status, 201, "{}", granted.text);
    let template = root
        .post(
            "/api/discord/templates",
            json!({"title": format!("Night {n}"), "colour": 255, "channel_id": "81384788765712384"}),
        )
        .await
        .id();
    let event = root
        .post("/api/discord/events", json!({"template_id": template, "next_post_at": "2026-12-01T17:00:00Z"}))
        .await
        .id();
    let (cap_a, cap_b) = (format!("cap{n}"), format!("capb{n}"));
    let captain_a = fixtures::user(root, &cap_a, 3000).await;
    let captain_b = fixtures::user(root, &cap_b, 2900).await;
    let player = fixtures::user(root, &format!("player{n}"), 2000).await;
    fixtures::add_players(root, tournament, &[captain_a, captain_b, player]).await;
    let team = fixtures::team(root, tournament, &format!("Team{n}"), captain_a, 0).await;
    let team_b = fixtures::team(root, tournament, &format!("TeamB{n}"), captain_b, 1).await;
    let versus = json!({"tournament_id": tournament, "radiant_team_id": team, "dire_team_id": team_b, "round": 1});
    let game = root.post("/api/games", versus.clone()).await.id();
    let plain_user = fixtures::user(root, &format!("plain{n}"), 1000).await;
    let staff_user = root.post("/api/users", json!({"username": format!("staffer{n}"), "is_staff": true})).await.id();
    let job =
        root.post("/api/jobs", json!({"kind": "update_league_stats", "args": {"steam_league_id": steam_league}})).await;
    let job = job.body["id"].as_str().expect("job queued").to_owned();
    let mock = MockMatch::nth(n as i64);
    let details = serde_json::from_value(mock.details()).expect("match details");
    worker::domain::sync::ingest::ingest_match(app.db(), steam_league, None, &details).await.expect("ingest");

    let mut captain = cap_a.clone();
    let mut draft = 0;
    if let Some(picked) = setup.team_draft {
        let created =
            root.post(&format!("/api/tournaments/{tournament}/draft"), json!({"draft_style": "normal"})).await;
        assert_eq!(created.status, 201, "{}", created.text);
        draft = created.id();
        if picked {
            root.post(&format!("/api/drafts/{draft}/pick"), json!({"user_id": player})).await;
            // The second pick is the other captain's.
            captain = cap_b.clone();
        }
    }
    let mut hero_draft = 0;
    if let Some(stage) = setup.hero {
        let hero_game = root.post("/api/games", versus).await.id();
        let created = root.post(&format!("/api/games/{hero_game}/herodraft"), json!({})).await;
        assert_eq!(created.status, 201, "{}", created.text);
        hero_draft = created.id();
        let next = fixtures::advance_hero_draft(app, hero_draft, [&cap_a, &cap_b], stage).await;
        captain = [&cap_a, &cap_b][next].clone();
    }
    Ids {
        league,
        steam_league,
        tournament,
        team,
        game,
        player,
        plain_user,
        staff_user,
        job,
        match_id: mock.match_id,
        draft,
        hero_draft,
        template,
        event,
        admin,
        captain,
    }
}

struct Case {
    method: Method,
    path: fn(&Ids) -> String,
    body: fn(&Ids) -> Option<Value>,
    setup: Setup,
    /// anonymous, user, captain, staff, superuser
    expect: [u16; 5],
    /// The row acts on the league's nights: its league admin answers like staff.
    organisers: bool,
}

impl Case {
    fn organised(mut self) -> Self {
        self.organisers = true;
        self
    }

    /// The answer for `ROLES[role]`.
    fn expected(&self, role: usize) -> u16 {
        let [anonymous, user, captain, staff, superuser] = self.expect;
        match role {
            0 => anonymous,
            1 => user,
            2 => captain,
            3 if self.organisers => staff,
            3 | 4 => user,
            5 => staff,
            _ => superuser,
        }
    }
}

fn none(_: &Ids) -> Option<Value> {
    None
}

fn empty(_: &Ids) -> Option<Value> {
    Some(json!({}))
}

fn get(path: fn(&Ids) -> String, setup: Setup, expect: [u16; 5]) -> Case {
    Case { method: Method::GET, path, body: none, setup, expect, organisers: false }
}

fn write(
    method: Method,
    path: fn(&Ids) -> String,
    body: fn(&Ids) -> Option<Value>,
    setup: Setup,
    expect: [u16; 5],
) -> Case {
    Case { method, path, body, setup, expect, organisers: false }
}

const PUBLIC: [u16; 5] = [200; 5];
const LOGGED_IN: [u16; 5] = [401, 200, 200, 200, 200];
const STAFF: [u16; 5] = [401, 403, 403, 200, 200];
const STAFF_CREATES: [u16; 5] = [401, 403, 403, 201, 201];
const STAFF_DELETES: [u16; 5] = [401, 403, 403, 204, 204];
const SUPERUSER: [u16; 5] = [401, 403, 403, 403, 200];

fn account_cases() -> Vec<Case> {
    use Method as M;
    vec![
        get(|_| "/api/health".into(), PLAIN, PUBLIC),
        // Discord login is not configured in the suite: the same answer for everyone.
        get(|_| "/api/auth/discord/login".into(), PLAIN, [404; 5]),
        get(|_| "/api/auth/discord/callback?code=x&state=y".into(), PLAIN, [404; 5]),
        write(M::POST, |_| "/api/auth/logout".into(), empty, PLAIN, [204; 5]),
        get(|_| "/api/users".into(), PLAIN, PUBLIC),
        get(|i| format!("/api/users/{}", i.plain_user), PLAIN, PUBLIC),
        get(|_| "/api/users/search?q=plain".into(), PLAIN, LOGGED_IN),
        get(|_| "/api/me".into(), PLAIN, LOGGED_IN),
        write(M::PATCH, |_| "/api/me".into(), |_| Some(json!({"nickname": "Nick"})), PLAIN, LOGGED_IN),
        write(
            M::POST,
            |_| "/api/users".into(),
            |i| Some(json!({"username": format!("newbie{}", i.plain_user)})),
            PLAIN,
            STAFF_CREATES,
        ),
        write(
            M::POST,
            |_| "/api/users".into(),
            |i| Some(json!({"username": format!("newstaff{}", i.plain_user), "is_staff": true})),
            PLAIN,
            [401, 403, 403, 403, 201],
        ),
        write(M::PATCH, |i| format!("/api/users/{}", i.plain_user), |_| Some(json!({"mmr": 1234})), PLAIN, STAFF),
        write(
            M::PATCH,
            |i| format!("/api/users/{}", i.plain_user),
            |_| Some(json!({"is_superuser": true})),
            PLAIN,
            SUPERUSER,
        ),
        write(
            M::PATCH,
            |i| format!("/api/users/{}", i.plain_user),
            |_| Some(json!({"is_staff": true})),
            PLAIN,
            SUPERUSER,
        ),
        write(M::DELETE, |i| format!("/api/users/{}", i.plain_user), none, PLAIN, STAFF_DELETES),
        write(M::DELETE, |i| format!("/api/users/{}", i.staff_user), none, PLAIN, [401, 403, 403, 403, 204]),
        // Identity (SPEC §20): a Discord id is how an account logs in — superusers only, for any account;
        // a staff account's username and Steam id too.
        write(
            M::PATCH,
            |i| format!("/api/users/{}", i.plain_user),
            |i| Some(json!({"discordId": format!("{}", 80_351_110_224_678_912_i64 + i.plain_user)})),
            PLAIN,
            SUPERUSER,
        ),
        write(
            M::PATCH,
            |i| format!("/api/users/{}", i.staff_user),
            |i| Some(json!({"username": format!("renamed{}", i.staff_user)})),
            PLAIN,
            SUPERUSER,
        ),
        write(
            M::PATCH,
            |i| format!("/api/users/{}", i.staff_user),
            |i| Some(json!({"steamId": format!("{}", 100_000 + i.staff_user)})),
            PLAIN,
            SUPERUSER,
        ),
        get(|i| format!("/api/users/{}/identity-changes", i.plain_user), PLAIN, STAFF),
        get(|_| "/api/steam-claims".into(), PLAIN, STAFF),
        // No such claim: staff get past the permission check to the 404.
        write(M::POST, |_| "/api/steam-claims/1/approve".into(), empty, PLAIN, [401, 403, 403, 404, 404]),
        write(M::POST, |_| "/api/steam-claims/1/reject".into(), empty, PLAIN, [401, 403, 403, 404, 404]),
        // Proving a Steam account: any logged-in user starts it (a redirect to Steam).
        get(|_| "/api/auth/steam/link".into(), PLAIN, [401, 302, 302, 302, 302]),
        get(|_| "/api/auth/steam/callback?link=unknown".into(), PLAIN, [401, 404, 404, 404, 404]),
        write(M::DELETE, |_| "/api/auth/steam/link".into(), none, PLAIN, LOGGED_IN),
    ]
}

fn league_cases() -> Vec<Case> {
    use Method as M;
    vec![
        get(|_| "/api/leagues".into(), PLAIN, PUBLIC),
        get(|i| format!("/api/leagues/{}", i.league), PLAIN, PUBLIC),
        write(
            M::POST,
            |_| "/api/leagues".into(),
            |i| Some(json!({"steam_league_id": 100_000 + i.plain_user, "name": "New"})),
            PLAIN,
            STAFF_CREATES,
        ),
        write(M::PATCH, |i| format!("/api/leagues/{}", i.league), |_| Some(json!({"name": "Renamed"})), PLAIN, STAFF),
        write(M::DELETE, |i| format!("/api/leagues/{}", i.league), none, PLAIN, STAFF_DELETES),
        // Grants are staff's, even for the league's own admin.
        get(|i| format!("/api/leagues/{}/admins", i.league), PLAIN, STAFF),
        write(
            M::POST,
            |i| format!("/api/leagues/{}/admins", i.league),
            |i| Some(json!({"user_id": i.plain_user})),
            PLAIN,
            STAFF_CREATES,
        ),
        write(M::DELETE, |i| format!("/api/leagues/{}/admins/{}", i.league, i.admin), none, PLAIN, STAFF_DELETES),
        get(|_| "/api/tournaments".into(), PLAIN, PUBLIC),
        get(|i| format!("/api/tournaments/{}", i.tournament), PLAIN, PUBLIC),
        write(
            M::POST,
            |_| "/api/tournaments".into(),
            |_| Some(json!({"name": "Open", "date_played": "2026-12-24T18:00:00Z"})),
            PLAIN,
            STAFF_CREATES,
        ),
        // In a league its admin organises.
        write(
            M::POST,
            |_| "/api/tournaments".into(),
            |i| Some(json!({"name": "League night", "date_played": "2026-12-24T18:00:00Z", "league_id": i.league})),
            PLAIN,
            STAFF_CREATES,
        )
        .organised(),
        write(
            M::PATCH,
            |i| format!("/api/tournaments/{}", i.tournament),
            |_| Some(json!({"state": "in_progress"})),
            PLAIN,
            STAFF,
        )
        .organised(),
        write(M::DELETE, |i| format!("/api/tournaments/{}", i.tournament), none, PLAIN, STAFF_DELETES).organised(),
        write(
            M::POST,
            |i| format!("/api/tournaments/{}/players", i.tournament),
            |i| Some(json!({"user_ids": [i.plain_user]})),
            PLAIN,
            STAFF,
        )
        .organised(),
        write(
            M::DELETE,
            |i| format!("/api/tournaments/{}/players/{}", i.tournament, i.player),
            none,
            PLAIN,
            STAFF_DELETES,
        )
        .organised(),
        get(|_| "/api/teams".into(), PLAIN, PUBLIC),
        get(|i| format!("/api/teams/{}", i.team), PLAIN, PUBLIC),
        write(
            M::POST,
            |_| "/api/teams".into(),
            |i| Some(json!({"tournament_id": i.tournament, "name": "Third", "captain_id": i.player})),
            PLAIN,
            STAFF_CREATES,
        )
        .organised(),
        // A captain does not manage their own team either: staff do.
        write(M::PATCH, |i| format!("/api/teams/{}", i.team), |_| Some(json!({"name": "Renamed"})), PLAIN, STAFF)
            .organised(),
        write(M::DELETE, |i| format!("/api/teams/{}", i.team), none, PLAIN, STAFF_DELETES).organised(),
        get(|_| "/api/games".into(), PLAIN, PUBLIC),
        get(|i| format!("/api/games/{}", i.game), PLAIN, PUBLIC),
        write(
            M::POST,
            |_| "/api/games".into(),
            |i| Some(json!({"tournament_id": i.tournament, "round": 2})),
            PLAIN,
            STAFF_CREATES,
        )
        .organised(),
        write(M::PATCH, |i| format!("/api/games/{}", i.game), |_| Some(json!({"status": "live"})), PLAIN, STAFF)
            .organised(),
        write(M::DELETE, |i| format!("/api/games/{}", i.game), none, PLAIN, STAFF_DELETES).organised(),
    ]
}

fn draft_cases() -> Vec<Case> {
    use Method as M;
    vec![
        write(
            M::POST,
            |i| format!("/api/tournaments/{}/draft", i.tournament),
            |_| Some(json!({"draft_style": "snake"})),
            PLAIN,
            STAFF_CREATES,
        )
        .organised(),
        get(|i| format!("/api/tournaments/{}/draft", i.tournament), DRAFTED, PUBLIC),
        get(|i| format!("/api/drafts/{}", i.draft), DRAFTED, PUBLIC),
        get(|i| format!("/api/drafts/{}/style-mmrs", i.draft), DRAFTED, PUBLIC),
        get(|i| format!("/api/drafts/{}/events?after=0", i.draft), DRAFTED, PUBLIC),
        // The captain whose turn it is, or staff.
        write(
            M::POST,
            |i| format!("/api/drafts/{}/pick", i.draft),
            |i| Some(json!({"user_id": i.player})),
            DRAFTED,
            [401, 403, 200, 200, 200],
        )
        .organised(),
        write(M::POST, |i| format!("/api/drafts/{}/undo", i.draft), empty, PICKED, STAFF).organised(),
        write(M::POST, |i| format!("/api/drafts/{}/undo", i.draft), empty, DRAFTED, [401, 403, 403, 409, 409])
            .organised(),
        // Organisers get past the permission check to the rule: no pick has been made to repair.
        write(
            M::PATCH,
            |i| format!("/api/drafts/{}/rounds/1", i.draft),
            |i| Some(json!({"user_id": i.player})),
            DRAFTED,
            [401, 403, 403, 409, 409],
        )
        .organised(),
    ]
}

fn hero_draft_cases() -> Vec<Case> {
    use HeroStage as S;
    use Method as M;
    let waiting = hero(S::WaitingForCaptains);
    vec![
        write(M::POST, |i| format!("/api/games/{}/herodraft", i.game), empty, PLAIN, STAFF_CREATES).organised(),
        get(|_| "/api/herodrafts".into(), waiting, PUBLIC),
        get(|i| format!("/api/herodrafts/{}", i.hero_draft), waiting, PUBLIC),
        get(|i| format!("/api/herodrafts/{}/events", i.hero_draft), waiting, PUBLIC),
        get(|i| format!("/api/herodrafts/{}/heroes", i.hero_draft), waiting, PUBLIC),
        // Captains act for their team; staff are not a team's captain.
        write(
            M::POST,
            |i| format!("/api/herodrafts/{}/ready", i.hero_draft),
            empty,
            waiting,
            [401, 403, 200, 403, 403],
        ),
        write(
            M::POST,
            |i| format!("/api/herodrafts/{}/roll", i.hero_draft),
            empty,
            hero(S::Rolling),
            [401, 403, 200, 403, 403],
        ),
        write(
            M::POST,
            |i| format!("/api/herodrafts/{}/choose", i.hero_draft),
            |_| Some(json!({"choice_type": "side", "value": "dire"})),
            hero(S::Choosing),
            [401, 403, 200, 403, 403],
        ),
        write(
            M::POST,
            |i| format!("/api/herodrafts/{}/act", i.hero_draft),
            |_| Some(json!({"hero_id": 1})),
            hero(S::Drafting),
            [401, 403, 200, 403, 403],
        ),
        write(
            M::POST,
            |i| format!("/api/herodrafts/{}/pause", i.hero_draft),
            empty,
            hero(S::Drafting),
            [401, 403, 200, 200, 200],
        )
        .organised(),
        write(
            M::POST,
            |i| format!("/api/herodrafts/{}/resume", i.hero_draft),
            empty,
            hero(S::Paused),
            [401, 403, 200, 200, 200],
        )
        .organised(),
        // Either captain may give the draft up, as may staff.
        write(
            M::POST,
            |i| format!("/api/herodrafts/{}/abandon", i.hero_draft),
            empty,
            hero(S::Drafting),
            [401, 403, 200, 200, 200],
        )
        .organised(),
        write(M::POST, |i| format!("/api/herodrafts/{}/reset", i.hero_draft), empty, hero(S::Drafting), STAFF)
            .organised(),
    ]
}

fn job_and_steam_cases() -> Vec<Case> {
    use Method as M;
    vec![
        write(
            M::POST,
            |_| "/api/jobs".into(),
            |i| Some(json!({"kind": "recalculate_league_mmr", "args": {"steam_league_id": i.steam_league}})),
            PLAIN,
            [401, 403, 403, 202, 202],
        ),
        // A league's admin may sync their league.
        write(
            M::POST,
            |_| "/api/jobs".into(),
            |i| Some(json!({"kind": "sync_league_matches", "args": {"steam_league_id": i.steam_league}})),
            PLAIN,
            [401, 403, 403, 202, 202],
        )
        .organised(),
        write(
            M::POST,
            |_| "/api/jobs/batch".into(),
            |i| {
                Some(json!({"jobs": [{"kind": "recalculate_league_mmr", "args": {"steam_league_id": i.steam_league}}]}))
            },
            PLAIN,
            [401, 403, 403, 202, 202],
        ),
        get(|_| "/api/jobs".into(), PLAIN, STAFF),
        get(|i| format!("/api/jobs/{}", i.job), PLAIN, STAFF),
        // Allowed, but a queued job is not retryable.
        write(M::POST, |i| format!("/api/jobs/{}/retry", i.job), empty, PLAIN, [401, 403, 403, 409, 409]),
        // The row's job is its league's stats run: the league's admin may cancel it too.
        write(M::POST, |i| format!("/api/jobs/{}/cancel", i.job), empty, PLAIN, [401, 403, 403, 200, 200]).organised(),
        write(
            M::POST,
            |_| "/api/jobs/bulk".into(),
            |_| Some(json!({"action": "cancel", "kind": "refresh_steam_profiles"})),
            PLAIN,
            STAFF,
        ),
        write(M::POST, |_| "/api/queues/refresh_steam_profiles/pause".into(), empty, PLAIN, STAFF),
        write(M::POST, |_| "/api/queues/refresh_steam_profiles/resume".into(), empty, PLAIN, STAFF),
        get(|_| "/api/queues".into(), PLAIN, STAFF),
        get(|_| "/api/schedules".into(), PLAIN, STAFF),
        get(|i| format!("/api/leagues/{}/leaderboard", i.league), PLAIN, PUBLIC),
        // Public; this player has no stats yet, whoever asks.
        get(|i| format!("/api/leagues/{}/players/{}/stats", i.league, i.player), PLAIN, [404; 5]),
        get(|_| "/api/me/stats".into(), PLAIN, LOGGED_IN),
        get(|i| format!("/api/matches/{}", i.match_id), PLAIN, PUBLIC),
        write(
            M::POST,
            |i| format!("/api/matches/{}/exclude", i.match_id),
            |_| Some(json!({"reason": "remake"})),
            PLAIN,
            STAFF,
        )
        .organised(),
        write(M::DELETE, |i| format!("/api/matches/{}/exclude", i.match_id), none, PLAIN, STAFF).organised(),
        get(|i| format!("/api/leagues/{}/sync-state", i.league), PLAIN, PUBLIC),
        // Steam is not configured in the suite; a vanity lookup (a Steam call) needs a login first.
        get(|_| "/api/steam/resolve?vanity=gaben".into(), PLAIN, [401, 404, 404, 404, 404]),
        get(|_| "/api/steam/live".into(), PLAIN, [404; 5]),
        get(|_| "/api/steam/guild-matches".into(), PLAIN, PUBLIC),
        // Staff get past the permission check to the rule: these rosters did not play that match.
        write(
            M::POST,
            |i| format!("/api/games/{}/link-match", i.game),
            |i| Some(json!({"match_id": i.match_id})),
            PLAIN,
            [401, 403, 403, 422, 422],
        )
        .organised(),
        // Nothing linked yet.
        write(M::DELETE, |i| format!("/api/games/{}/link-match", i.game), none, PLAIN, [401, 403, 403, 409, 409])
            .organised(),
        get(|i| format!("/api/games/{}/match-suggestions", i.game), PLAIN, LOGGED_IN),
        write(
            M::POST,
            |i| format!("/api/tournaments/{}/bracket", i.tournament),
            |_| Some(json!({"format": "single_elimination"})),
            PLAIN,
            STAFF_CREATES,
        )
        .organised(),
        get(|i| format!("/api/tournaments/{}/bracket", i.tournament), PLAIN, PUBLIC),
        get(|i| format!("/api/tournaments/{}/bracket/events", i.tournament), PLAIN, PUBLIC),
        write(
            M::POST,
            |i| format!("/api/games/{}/result", i.game),
            |i| Some(json!({"winning_team_id": i.team})),
            PLAIN,
            STAFF,
        )
        .organised(),
        // No result yet to take back.
        write(M::DELETE, |i| format!("/api/games/{}/result", i.game), none, PLAIN, [401, 403, 403, 409, 409])
            .organised(),
    ]
}

fn discord_cases() -> Vec<Case> {
    use Method as M;
    let template = |_: &Ids| Some(json!({"title": "Thursday", "colour": 65280, "channel_id": "81384788765712384"}));
    vec![
        get(|_| "/api/discord/templates".into(), PLAIN, STAFF),
        write(M::POST, |_| "/api/discord/templates".into(), template, PLAIN, STAFF_CREATES),
        get(|i| format!("/api/discord/templates/{}", i.template), PLAIN, STAFF),
        write(
            M::PATCH,
            |i| format!("/api/discord/templates/{}", i.template),
            |_| Some(json!({"title": "Friday"})),
            PLAIN,
            STAFF,
        ),
        // Its event still uses it: staff get past the permission check to the 409.
        write(M::DELETE, |i| format!("/api/discord/templates/{}", i.template), none, PLAIN, [401, 403, 403, 409, 409]),
        get(|_| "/api/discord/events".into(), PLAIN, STAFF),
        write(
            M::POST,
            |_| "/api/discord/events".into(),
            |i| {
                Some(json!({"template_id": i.template, "next_post_at": "2026-12-02T17:00:00Z", "recurrence": "weekly"}))
            },
            PLAIN,
            STAFF_CREATES,
        ),
        get(|i| format!("/api/discord/events/{}", i.event), PLAIN, STAFF),
        write(
            M::PATCH,
            |i| format!("/api/discord/events/{}", i.event),
            |_| Some(json!({"is_active": false})),
            PLAIN,
            STAFF,
        ),
        write(M::DELETE, |i| format!("/api/discord/events/{}", i.event), none, PLAIN, STAFF_DELETES),
        write(M::POST, |i| format!("/api/discord/events/{}/post", i.event), empty, PLAIN, [401, 403, 403, 202, 202]),
    ]
}

fn cases() -> Vec<Case> {
    [account_cases(), league_cases(), draft_cases(), hero_draft_cases(), job_and_steam_cases(), discord_cases()]
        .into_iter()
        .flatten()
        .collect()
}

async fn every_endpoint_by_every_role(backend: Backend) {
    // Jobs need a queue: PostgreSQL runs with Redis, as in production.
    let options = Options { redis: backend == Backend::Postgres, ..Default::default() };
    let app = TestApp::spawn_with(backend, options).await;
    let root = app.superuser("root").await;
    let other = app.user(OTHER_ADMIN).await.get("/api/me").await.id();
    let elsewhere = root.post("/api/leagues", json!({"steam_league_id": 999, "name": "Elsewhere"})).await.id();
    let granted = root.post(&format!("/api/leagues/{elsewhere}/admins"), json!({"user_id": other})).await;
    assert_eq!(granted.status, 201, "{}", granted.text);
    let mut n = 0;
    let mut failures = Vec::new();
    for c in cases() {
        let shared = if c.method == Method::GET {
            n += 1;
            Some(fresh_records(&app, &root, n, c.setup).await)
        } else {
            None
        };
        for (role, name) in ROLES.iter().enumerate() {
            let fresh;
            let ids = match &shared {
                Some(ids) => ids,
                None => {
                    n += 1;
                    fresh = fresh_records(&app, &root, n, c.setup).await;
                    &fresh
                }
            };
            // A session of its own per row: the logout row ends only its own.
            let caller = match role {
                0 => app.anon(),
                1 => app.user("alice").await,
                2 => app.user(&ids.captain).await,
                3 => app.user(LEAGUE_ADMIN).await,
                4 => app.user(OTHER_ADMIN).await,
                5 => app.staff("steve").await,
                _ => app.superuser("sue").await,
            };
            let path = (c.path)(ids);
            let body = (c.body)(ids).map(|b| ("application/json", b.to_string().into_bytes()));
            let resp = caller.send(c.method.clone(), &path, body, &[]).await;
            if resp.status != c.expected(role) {
                failures.push(format!(
                    "{} {path} as {name}: {} (expected {}) {}",
                    c.method,
                    resp.status,
                    c.expected(role),
                    resp.text
                ));
            } else if resp.status >= 400 {
                resp.error_code();
            }
        }
    }
    assert!(failures.is_empty(), "role matrix broken ({} rows):\n{}", failures.len(), failures.join("\n"));
}

/// Every operation of the OpenAPI document has a row in the matrix.
#[tokio::test]
async fn the_matrix_covers_every_documented_operation() {
    let spec: Value = serde_json::from_str(&api::server::spec_json(false)).unwrap();
    let ids = Ids {
        league: 1,
        steam_league: 1,
        tournament: 1,
        team: 1,
        game: 1,
        player: 1,
        plain_user: 1,
        staff_user: 1,
        job: "1".into(),
        match_id: 1,
        draft: 1,
        hero_draft: 1,
        template: 1,
        event: 1,
        admin: 1,
        captain: String::new(),
    };
    let covered: std::collections::BTreeSet<(String, String)> = cases()
        .iter()
        .map(|c| {
            let path = (c.path)(&ids);
            let path = path.split('?').next().unwrap().trim_start_matches("/api").to_owned();
            (c.method.as_str().to_owned(), path)
        })
        .collect();
    let mut missing = Vec::new();
    for (template, ops) in spec["paths"].as_object().unwrap() {
        // Every id in a row is 1 (or "1" for jobs), so templates fill with 1; a job kind is the rows' kind.
        let fill = |seg: &str| {
            match seg {
                "{kind}" => "refresh_steam_profiles",
                seg if seg.starts_with('{') => "1",
                seg => seg,
            }
            .to_owned()
        };
        let concrete: String = template.split('/').map(fill).collect::<Vec<_>>().join("/");
        for method in ops.as_object().unwrap().keys() {
            let method = method.to_uppercase();
            if !covered.contains(&(method.clone(), concrete.clone())) {
                missing.push(format!("{method} {template}"));
            }
        }
    }
    assert!(missing.is_empty(), "operations without a row in the role matrix: {missing:?}");
}

on_both_databases!(every_endpoint_by_every_role);
