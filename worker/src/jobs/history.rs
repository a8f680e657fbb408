//! A run's attempts as an operator reads them, from the ledger's attempt log
//! (one event per claim, one per end of an attempt) — or, for a run whose
//! first attempt succeeded within one journal flush (most runs), from the
//! row itself: such a run writes no log.

use chrono::{DateTime, Utc};
use entity::job_run;
use serde_json::Value;

/// One try of a run: who took it, when, and how it ended (`None` while it runs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub attempt: i32,
    pub worker: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// succeeded, failed, dead, cancelled or handed_back.
    pub outcome: Option<String>,
    pub error: Option<String>,
}

fn time(event: &Value, field: &str) -> Option<DateTime<Utc>> {
    event.get(field).and_then(Value::as_str).and_then(|t| DateTime::parse_from_rfc3339(t).ok()).map(|t| t.to_utc())
}

fn text(event: &Value, field: &str) -> Option<String> {
    event.get(field).and_then(Value::as_str).map(str::to_owned)
}

/// The attempts of `run`: its log's, or the one attempt its row describes
/// (which worker ran it is not kept then).
pub fn of_run(run: &job_run::Model) -> Vec<Attempt> {
    match &run.attempt_log {
        Some(log) => attempts(Some(log)),
        None if run.attempts >= 1 && run.started_at.is_some() => vec![Attempt {
            attempt: run.attempts,
            worker: None,
            started_at: run.started_at,
            finished_at: run.finished_at,
            outcome: run.status.is_final().then(|| run.status.as_str().to_owned()),
            error: run.error.clone(),
        }],
        None => Vec::new(),
    }
}

/// The attempts of a log, in order: each claim starts one (a redelivery
/// after a worker died is a try of its own); an end closes the latest open
/// try of its attempt, or stands alone when none was claimed.
pub fn attempts(log: Option<&Value>) -> Vec<Attempt> {
    let mut tries: Vec<Attempt> = Vec::new();
    for event in log.and_then(Value::as_array).into_iter().flatten() {
        let Some(attempt) = event.get("attempt").and_then(Value::as_i64).and_then(|a| i32::try_from(a).ok()) else {
            continue;
        };
        if event.get("started_at").is_some() {
            tries.push(Attempt {
                attempt,
                worker: text(event, "worker").filter(|w| !w.is_empty()),
                started_at: time(event, "started_at"),
                finished_at: None,
                outcome: None,
                error: None,
            });
            continue;
        }
        let end = |a: &mut Attempt| {
            a.finished_at = time(event, "finished_at");
            a.outcome = text(event, "outcome");
            a.error = text(event, "error");
        };
        match tries.iter_mut().rev().find(|t| t.attempt == attempt && t.outcome.is_none()) {
            Some(open) => end(open),
            None => {
                let mut alone =
                    Attempt { attempt, worker: None, started_at: None, finished_at: None, outcome: None, error: None };
                end(&mut alone);
                tries.push(alone);
            }
        }
    }
    tries
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn claims_and_ends_pair_up_per_attempt() {
        let log = json!([
            {"attempt": 1, "worker": "w1", "started_at": "2026-12-06T10:00:00Z"},
            {"attempt": 1, "outcome": "failed", "finished_at": "2026-12-06T10:00:05Z", "error": "steam 503"},
            {"attempt": 2, "worker": "w2", "started_at": "2026-12-06T10:00:09Z"},
            {"attempt": 2, "worker": "w3", "started_at": "2026-12-06T10:01:00Z"},
            {"attempt": 2, "outcome": "succeeded", "finished_at": "2026-12-06T10:01:02Z"},
        ]);
        let tries = attempts(Some(&log));
        assert_eq!(tries.len(), 3, "the redelivered attempt 2 is a try of its own");
        assert_eq!((tries[0].outcome.as_deref(), tries[0].error.as_deref()), (Some("failed"), Some("steam 503")));
        assert_eq!((tries[1].worker.as_deref(), tries[1].outcome.as_deref()), (Some("w2"), None), "w2 died mid-run");
        assert_eq!((tries[2].worker.as_deref(), tries[2].outcome.as_deref()), (Some("w3"), Some("succeeded")));
        assert_eq!(tries[2].finished_at, Some("2026-12-06T10:01:02Z".parse().unwrap()));
    }

    #[test]
    fn an_end_without_a_claim_stands_alone_and_a_missing_log_is_empty() {
        let log = json!([{"attempt": 0, "outcome": "cancelled", "finished_at": "2026-12-06T10:00:00Z"}]);
        let tries = attempts(Some(&log));
        assert_eq!((tries.len(), tries[0].started_at, tries[0].outcome.as_deref()), (1, None, Some("cancelled")));
        assert!(attempts(None).is_empty());
        assert!(attempts(Some(&json!({"not": "a list"}))).is_empty());
    }

    #[test]
    fn a_run_without_a_log_is_its_one_successful_attempt() {
        let at = |s: u32| chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 12, 6, 10, 0, s).unwrap();
        let run = job_run::Model {
            id: "r".into(),
            kind: "prune_job_runs".into(),
            args: json!({}),
            status: entity::JobStatus::Succeeded,
            attempts: 1,
            max_attempts: 3,
            progress: None,
            result: None,
            error: None,
            enqueued_by: None,
            enqueued_at: at(0),
            started_at: Some(at(1)),
            finished_at: Some(at(2)),
            idempotency_key: None,
            attempt_log: None,
            run_at: None,
            cancel_requested_at: None,
            queue_key: None,
        };
        assert_eq!(
            of_run(&run),
            [Attempt {
                attempt: 1,
                worker: None,
                started_at: Some(at(1)),
                finished_at: Some(at(2)),
                outcome: Some("succeeded".into()),
                error: None
            }]
        );
        let waiting = job_run::Model { status: entity::JobStatus::Queued, attempts: 0, started_at: None, ..run };
        assert!(of_run(&waiting).is_empty(), "no attempt yet");
    }
}
