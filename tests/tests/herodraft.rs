//! Captain's-Mode hero drafts: over HTTP with two captains, timeouts with
//! nobody connected, the clock to the millisecond, races.

use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::user;
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use tests::{Backend, Caller, Options, TestApp, eventually, fixtures, on_both_databases};
use worker::domain::hero_draft::rules::{SEQUENCE, Side};
use worker::domain::hero_draft::service::{self, Choice};

/// The shared hero-draft fixture, plus: it starts waiting, and a game has one.
async fn setup(app: &TestApp, staff: &Caller<'_>) -> (i64, [i64; 2]) {
    let (id, captains) = fixtures::hero_draft(app, staff).await;
    let created = staff.get(&format!("/api/herodrafts/{id}")).await;
    assert_eq!(created.body["state"], "waiting_for_captains");
    let game = created.body["game_id"].as_i64().unwrap();
    assert_eq!(staff.post(&format!("/api/games/{game}/herodraft"), json!({})).await.status, 409, "one per game");
    (id, captains)
}

/// Both captains ready up, roll, choose; returns (captain callers, first-pick captain index).
async fn to_drafting<'a>(app: &'a TestApp, id: i64) -> ([Caller<'a>; 2], Value) {
    let caps = [app.user("radiant_cap").await, app.user("dire_cap").await];
    for c in &caps {
        assert_eq!(c.post(&format!("/api/herodrafts/{id}/ready"), json!({})).await.status, 200);
    }
    let rolled = caps[0].post(&format!("/api/herodrafts/{id}/roll"), json!({})).await;
    assert_eq!(rolled.body["state"], "choosing", "{}", rolled.text);
    let winner_team = rolled.body["roll_winner_team_id"].as_i64().unwrap();
    let teams = rolled.body["teams"].as_array().unwrap().clone();
    let winner = teams.iter().position(|t| t["team_id"] == winner_team).unwrap();
    let loser = 1 - winner;
    let early = caps[loser]
        .post(&format!("/api/herodrafts/{id}/choose"), json!({"choice_type": "side", "value": "radiant"}))
        .await;
    assert_eq!((early.status, early.error_code().as_str()), (409, "not_your_turn"), "the winner chooses first");
    caps[winner]
        .post(&format!("/api/herodrafts/{id}/choose"), json!({"choice_type": "pick_order", "value": "first"}))
        .await;
    let twice = caps[loser]
        .post(&format!("/api/herodrafts/{id}/choose"), json!({"choice_type": "pick_order", "value": "first"}))
        .await;
    assert_eq!(twice.status, 409, "the loser gets the other choice");
    let drafting = caps[loser]
        .post(&format!("/api/herodrafts/{id}/choose"), json!({"choice_type": "side", "value": "radiant"}))
        .await;
    assert_eq!(drafting.body["state"], "drafting", "{}", drafting.text);
    (caps, drafting.body)
}

async fn a_full_draft_by_two_captains(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let staff = app.staff("admin").await;
    let (id, _) = setup(&app, &staff).await;
    let (caps, body) = to_drafting(&app, id).await;
    let teams = body["teams"].as_array().unwrap().clone();
    let first = teams.iter().position(|t| t["is_first_pick"] == true).unwrap();
    let team_ids = [teams[0]["team_id"].as_i64().unwrap(), teams[1]["team_id"].as_i64().unwrap()];
    let rounds = body["rounds"].as_array().unwrap();
    assert_eq!(rounds.len(), 24);
    for (round, (side, action)) in rounds.iter().zip(SEQUENCE) {
        let expected = if side == Side::First { team_ids[first] } else { team_ids[1 - first] };
        assert_eq!(round["team_id"], expected, "round {}", round["round_number"]);
        assert_eq!(round["action_type"], if action == entity::HeroActionType::Ban { "ban" } else { "pick" });
    }
    for (n, (side, _)) in SEQUENCE.iter().enumerate() {
        let acting = if *side == Side::First { first } else { 1 - first };
        let heroes = caps[acting].get(&format!("/api/herodrafts/{id}/heroes")).await.body["available_heroes"].clone();
        assert_eq!(heroes.as_array().unwrap().len(), 127 - n);
        let wrong = caps[1 - acting].post(&format!("/api/herodrafts/{id}/act"), json!({"hero_id": heroes[0]})).await;
        assert_eq!((wrong.status, wrong.error_code().as_str()), (409, "not_your_turn"));
        let done = caps[acting].post(&format!("/api/herodrafts/{id}/act"), json!({"hero_id": heroes[0]})).await;
        assert_eq!(done.status, 200, "round {}: {}", n + 1, done.text);
    }
    let final_state = staff.get(&format!("/api/herodrafts/{id}")).await;
    assert_eq!(final_state.body["state"], "completed");
    let events = staff.get(&format!("/api/herodrafts/{id}/events?page_size=100")).await;
    let selected =
        events.body["results"].as_array().unwrap().iter().filter(|e| e["event_type"] == "hero_selected").count();
    assert_eq!(selected, 24, "exactly one event per action");
    let taken = caps[0].post(&format!("/api/herodrafts/{id}/act"), json!({"hero_id": 1})).await;
    assert_eq!(taken.status, 409);
}

async fn racing_actions_one_wins(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let staff = app.staff("admin").await;
    let (id, _) = setup(&app, &staff).await;
    let (caps, body) = to_drafting(&app, id).await;
    let first = body["teams"].as_array().unwrap().iter().position(|t| t["is_first_pick"] == true).unwrap();
    let path = format!("/api/herodrafts/{id}/act");
    // Round 1; then race on round 2, whose successor belongs to the other team.
    assert_eq!(caps[first].post(&path, json!({"hero_id": 9})).await.status, 200);
    let (a, b) =
        tokio::join!(caps[first].post(&path, json!({"hero_id": 10})), caps[first].post(&path, json!({"hero_id": 11})));
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{} / {}", a.text, b.text);
    let events = staff.get(&format!("/api/herodrafts/{id}/events?page_size=100")).await.body["results"].clone();
    let round2 = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event_type"] == "hero_selected" && e["metadata"]["round"] == 2)
        .count();
    assert_eq!(round2, 1, "one event row for the contested round");
    let after = staff.get(&format!("/api/herodrafts/{id}")).await.body;
    assert_eq!(after["rounds"][2]["state"], "active", "round 3 waits for the other captain");
}

/// A draft is read as one snapshot: its teams and its rounds are separate
/// queries, and a commit landing between them showed a round completed by a
/// timeout beside the reserve its team had before (seen as a flaky
/// `a_timeout_acts_with_nobody_connected`). A writer changes a team's
/// reserve and a round's hero together, again and again, while readers load
/// the draft: every load must see both from the same commit.
async fn a_draft_is_read_from_one_snapshot(backend: Backend) {
    use sea_orm::{ColumnTrait, QueryFilter, TransactionTrait, sea_query::Expr};
    let app = TestApp::spawn(backend).await;
    let staff = app.staff("admin").await;
    let (id, _) = setup(&app, &staff).await;
    to_drafting(&app, id).await;
    let db = app.db();
    let write = move |n: i64| async move {
        let txn = db.begin().await.unwrap();
        entity::hero_draft_team::Entity::update_many()
            .col_expr(entity::hero_draft_team::Column::ReserveTimeRemainingMs, Expr::value(n))
            .filter(entity::hero_draft_team::Column::HeroDraftId.eq(id))
            .exec(&txn)
            .await
            .unwrap();
        entity::hero_draft_round::Entity::update_many()
            .col_expr(entity::hero_draft_round::Column::HeroId, Expr::value(n as i32))
            .filter(entity::hero_draft_round::Column::HeroDraftId.eq(id))
            .filter(entity::hero_draft_round::Column::RoundNumber.eq(1))
            .exec(&txn)
            .await
            .unwrap();
        txn.commit().await.unwrap();
    };
    write(0).await;
    let done = std::sync::atomic::AtomicBool::new(false);
    let writer = async {
        for n in 1..=400 {
            write(n).await;
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
    };
    let reader = || async {
        let mut reads = 0;
        while !done.load(std::sync::atomic::Ordering::Relaxed) {
            let full = service::snapshot(db, id).await.unwrap();
            let hero = full.rounds[0].hero_id.map(i64::from);
            for (team, _) in &full.teams {
                assert_eq!(Some(team.reserve_time_remaining_ms), hero, "a read straddled a commit");
            }
            reads += 1;
        }
        reads
    };
    let ((), a, b) = tokio::join!(writer, reader(), reader());
    assert!(a + b > 0, "the readers ran beside the writer");
}

/// Several deliveries of one round's timeout race (a redelivery, the tick's
/// own timeout, a captain): one acts, the others find the round decided and
/// succeed with `acted: false` — superseded work is not a failure (SPEC §21).
async fn superseded_timeouts_succeed_without_acting(backend: Backend) {
    let args = ["--herodraft-grace-ms", "0", "--herodraft-reserve-ms", "0"].map(String::from).to_vec();
    let app = TestApp::spawn_with(backend, Options { args, ..Default::default() }).await;
    let staff = app.staff("admin").await;
    let (id, _) = setup(&app, &staff).await;
    to_drafting(&app, id).await;
    let job = worker::jobs::payload::HerodraftTimeout { draft_id: id, round_number: 1 };
    let ctx = &app.state.jobs;
    let runs = futures_util::future::join_all((0..4).map(|_| job.run(ctx))).await;
    let acted: Vec<bool> = runs
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| panic!("a superseded timeout failed: {e}"))["acted"].as_bool().unwrap())
        .collect();
    assert_eq!(acted.iter().filter(|a| **a).count(), 1, "exactly one acts: {acted:?}");
    let events = staff.get(&format!("/api/herodrafts/{id}/events?page_size=100")).await.body["results"].clone();
    let timeouts = events.as_array().unwrap().iter().filter(|e| e["event_type"] == "round_timeout").count();
    assert_eq!(timeouts, 1);
}

on_both_databases!(
    superseded_timeouts_succeed_without_acting,
    a_full_draft_by_two_captains,
    racing_actions_one_wins,
    deleting_a_team_of_a_running_hero_draft_is_refused,
    a_draft_is_read_from_one_snapshot
);

/// With no client at all, the round times out and the server acts for the team.
#[tokio::test]
async fn a_timeout_acts_with_nobody_connected() {
    let args = ["--herodraft-grace-ms", "150", "--herodraft-reserve-ms", "150"].map(String::from).to_vec();
    let app = TestApp::spawn_with(Backend::Sqlite, Options { worker: true, args, ..Default::default() }).await;
    let staff = app.staff("admin").await;
    let (id, _) = setup(&app, &staff).await;
    to_drafting(&app, id).await;
    let after = eventually("round 1 to time out", Duration::from_secs(20), || async {
        let d = staff.get(&format!("/api/herodrafts/{id}")).await.body;
        (d["rounds"][0]["state"] == "completed").then_some(d)
    })
    .await;
    assert!(after["rounds"][0]["hero_id"].as_i64().is_some());
    let events = staff.get(&format!("/api/herodrafts/{id}/events?page_size=100")).await.body["results"].clone();
    assert!(
        events.as_array().unwrap().iter().any(|e| e["event_type"] == "round_timeout" && e["metadata"]["round"] == 1)
    );
    let first = after["teams"].as_array().unwrap().iter().find(|t| t["is_first_pick"] == true).unwrap().clone();
    assert_eq!(first["reserve_time_remaining_ms"], 0, "a timeout spends the whole reserve");
}

fn at(base: DateTime<Utc>, ms: i64) -> DateTime<Utc> {
    base + chrono::Duration::milliseconds(ms)
}

/// The clock to the millisecond, with time passed in: an action 45.5 s into
/// a round costs 15.5 s of reserve; a pause gives its time back.
#[tokio::test]
async fn reserve_and_pause_to_the_millisecond() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let staff = app.staff("admin").await;
    let (id, [c1, c2]) = setup(&app, &staff).await;
    let svc = &app.state.services;
    let db = app.db();
    let cap1 = user::Entity::find_by_id(c1).one(db).await.unwrap().unwrap();
    let cap2 = user::Entity::find_by_id(c2).one(db).await.unwrap().unwrap();
    let t0 = Utc::now();
    service::ready(svc, id, &cap1, t0).await.unwrap();
    service::ready(svc, id, &cap2, t0).await.unwrap();
    service::roll(svc, id, &cap1, false, t0).await.unwrap();
    // The first team (cap1's) won: it takes first pick; cap2 picks the side.
    service::choose(svc, id, &cap1, Choice::PickOrder { first: true }, t0).await.unwrap();
    service::choose(svc, id, &cap2, Choice::Side { radiant: false }, t0).await.unwrap();
    let full = service::snapshot(db, id).await.unwrap();
    assert_eq!(full.active_round().map(|r| r.round_number), Some(1), "round 1 runs");
    let started = full.rounds[0].started_at.unwrap();
    service::act(svc, id, &cap1, 1, at(started, 45_500)).await.unwrap();
    let full = service::snapshot(db, id).await.unwrap();
    let reserve = |f: &service::HeroDraftFull, cap: i64| {
        f.teams.iter().find(|(_, t)| t.captain_id == Some(cap)).unwrap().0.reserve_time_remaining_ms
    };
    assert_eq!(reserve(&full, c1), 74_500);

    // Round 2 (cap1 again): pause 10 s in, resume 20 s in; after the 3 s countdown
    // the elapsed time is 10 s again, so acting 25 s after that costs 5 s.
    let r2 = full.rounds[1].started_at.unwrap();
    service::pause(svc, id, &cap2, false, at(r2, 10_000)).await.unwrap();
    assert_eq!(service::snapshot(db, id).await.unwrap().draft.state, entity::HeroDraftState::Paused);
    service::resume(svc, id, &cap2, false, at(r2, 20_000)).await.unwrap();
    let resume_end = at(r2, 23_000);
    let early = service::act(svc, id, &cap1, 2, at(r2, 21_000)).await;
    assert!(
        matches!(&early, Err(worker::DomainError::Conflict { code: "wrong_state", .. })),
        "no actions during the countdown: {early:?}"
    );
    let full = service::snapshot(db, id).await.unwrap();
    // The shown clock stands still through the countdown: 30 s of grace minus the 10 s before the pause.
    for (into, countdown_left) in [(20_500, 2_500), (22_500, 500)] {
        let tick = api::views::herodrafts::tick(&full, at(r2, into)).expect("a resuming draft ticks");
        assert_eq!(
            (tick["grace_time_remaining_ms"].as_i64(), tick["countdown_remaining_ms"].as_i64()),
            (Some(20_000), Some(countdown_left)),
            "{into} ms into round 2: {tick}"
        );
    }
    assert_eq!(
        full.timeout_in(2, resume_end),
        Some(30_000 + 74_500 - 10_000),
        "elapsed at resume end = elapsed at pause"
    );
    service::act(svc, id, &cap1, 2, at(resume_end, 25_000)).await.unwrap();
    assert_eq!(reserve(&service::snapshot(db, id).await.unwrap(), c1), 69_500);
}

/// A short clock for timer tests: rounds run out 2 s after they start.
fn quick_clock() -> Vec<String> {
    ["--herodraft-grace-ms", "1500", "--herodraft-reserve-ms", "500", "--herodraft-resume-countdown-ms", "300"]
        .map(String::from)
        .to_vec()
}

/// The event of `kind` (the first), from the REST list.
fn event_of<'a>(events: &'a Value, kind: &str) -> &'a Value {
    events.as_array().unwrap().iter().find(|e| e["event_type"] == kind).unwrap_or_else(|| panic!("no {kind}"))
}

/// Pauses round 1 right away, resumes it, and waits for the server to act
/// for the silent team: the resumed round's timer still fires.
async fn pause_resume_then_time_out(actions: &TestApp, observer: &Caller<'_>) -> Value {
    let staff = actions.staff("admin").await;
    let (id, _) = setup(actions, &staff).await;
    to_drafting(actions, id).await;
    assert_eq!(staff.post(&format!("/api/herodrafts/{id}/pause"), json!({})).await.body["state"], "paused");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(staff.post(&format!("/api/herodrafts/{id}/resume"), json!({})).await.body["state"], "resuming");
    id_timed_out(observer, id).await
}

async fn id_timed_out(observer: &Caller<'_>, id: i64) -> Value {
    eventually("round 1 to run out after the resume", Duration::from_secs(20), || async {
        let d = observer.get(&format!("/api/herodrafts/{id}")).await.body;
        (d["rounds"][0]["state"] == "completed").then_some(())
    })
    .await;
    let events = observer.get(&format!("/api/herodrafts/{id}/events?page_size=100")).await.body["results"].clone();
    let resumed = event_of(&events, "draft_resumed")["id"].as_i64().unwrap();
    let timed_out = event_of(&events, "round_timeout");
    assert_eq!(timed_out["metadata"]["round"], 1);
    assert!(timed_out["id"].as_i64().unwrap() > resumed, "the timeout came after the resume");
    events
}

#[tokio::test]
async fn a_resumed_round_times_out_with_nobody_watching() {
    let app =
        TestApp::spawn_with(Backend::Sqlite, Options { worker: true, args: quick_clock(), ..Default::default() }).await;
    pause_resume_then_time_out(&app, &app.anon()).await;
}

#[tokio::test]
async fn a_resumed_round_times_out_while_a_spectator_watches() {
    let app =
        TestApp::spawn_with(Backend::Sqlite, Options { worker: true, args: quick_clock(), ..Default::default() }).await;
    let staff = app.staff("admin").await;
    let (id, _) = setup(&app, &staff).await;
    let mut spectator = tests::ws::connect(&app, &format!("/api/herodraft/{id}/")).await;
    tests::ws::next_of(&mut spectator, "initial_state", Duration::from_secs(5)).await;
    to_drafting(&app, id).await;
    staff.post(&format!("/api/herodrafts/{id}/pause"), json!({})).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    staff.post(&format!("/api/herodrafts/{id}/resume"), json!({})).await;
    id_timed_out(&app.anon(), id).await;
    let seen = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let e = tests::ws::next_of(&mut spectator, "herodraft_event", Duration::from_secs(10)).await;
            if e["event"]["event_type"] == "round_timeout" {
                return e;
            }
        }
    })
    .await
    .expect("the spectator sees the timeout");
    assert_eq!(seen["state"]["rounds"][0]["state"], "completed");
}

/// The instance that armed the timer (by resuming) stops; the other
/// instance's worker still runs the timeout.
#[tokio::test]
async fn a_timeout_armed_by_a_stopped_instance_still_fires() {
    let survivor = TestApp::spawn_with(
        Backend::Postgres,
        Options { redis: true, worker: true, args: quick_clock(), ..Default::default() },
    )
    .await;
    let armer = survivor.sibling_with(Options { args: quick_clock(), ..Default::default() }).await;
    let staff = armer.staff("admin").await;
    let (id, _) = setup(&armer, &staff).await;
    to_drafting(&armer, id).await;
    staff.post(&format!("/api/herodrafts/{id}/pause"), json!({})).await;
    staff.post(&format!("/api/herodrafts/{id}/resume"), json!({})).await;
    drop(staff);
    drop(armer);
    id_timed_out(&survivor.anon(), id).await;
}

/// A team in an unfinished hero draft cannot be deleted (409 naming the
/// draft); the draft stays readable. Once the draft is over, it can.
async fn deleting_a_team_of_a_running_hero_draft_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let staff = app.staff("admin").await;
    let (id, _) = setup(&app, &staff).await;
    to_drafting(&app, id).await;
    let draft = staff.get(&format!("/api/herodrafts/{id}")).await.body;
    let team = draft["teams"][1]["team_id"].as_i64().unwrap();
    let refused = staff.delete(&format!("/api/teams/{team}")).await;
    assert_eq!((refused.status, refused.error_code().as_str()), (409, "team_in_hero_draft"), "{}", refused.text);
    assert_eq!(refused.body["error"]["details"]["hero_draft_ids"], json!([id]));
    assert_eq!(staff.get(&format!("/api/herodrafts/{id}")).await.status, 200);
    assert_eq!(staff.post(&format!("/api/herodrafts/{id}/abandon"), json!({})).await.status, 200);
    assert_eq!(staff.delete(&format!("/api/teams/{team}")).await.status, 204, "an abandoned draft lets go");
    let after = staff.get(&format!("/api/herodrafts/{id}")).await;
    assert_eq!(after.status, 200, "a draft missing a team still reads: {}", after.text);
    assert_eq!(after.body["teams"].as_array().unwrap().len(), 1);
}
