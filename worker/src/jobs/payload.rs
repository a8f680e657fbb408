//! Job payloads (SPEC §5, §21): what each kind takes, apart from the handlers
//! that run them, so enqueueing, the ledger and the queue need only this
//! file. A job is serialized as `{"kind": "...", "args": {...}}` — the same
//! shape the admin API accepts — inside an [`Envelope`] that carries the
//! payload version.
//!
//! Payload versions: 1 (no `v` in the envelope) named a league's Steam id
//! `league_id` in job arguments; 2 calls it `steam_league_id`, as the API does
//! everywhere (SPEC §23). A worker reads every version up to its own
//! ([`decode`]); a newer one it leaves on the queue for a newer worker.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `sync_league_matches`: page the league's history and store new matches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncLeagueMatches {
    /// The league's Steam league id.
    pub steam_league_id: i64,
    /// Read the whole history instead of stopping at known matches.
    #[serde(default)]
    pub full: bool,
}

/// `retry_failed_matches`: re-fetch the league's failed matches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryFailedMatches {
    /// The league's Steam league id.
    pub steam_league_id: i64,
}

/// `update_league_stats`: rebuild LeaguePlayerStats, then MMR.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateLeagueStats {
    /// The league's Steam league id.
    pub steam_league_id: i64,
}

/// `recalculate_league_mmr`: MMR only, of one league, one user, or every league.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecalculateLeagueMmr {
    /// The league's Steam league id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steam_league_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
}

/// `refresh_discord_avatars`: the users checked longest ago.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshDiscordAvatars {
    #[serde(default = "default_batch")]
    pub batch_size: u32,
}

fn default_batch() -> u32 {
    50
}

/// `refresh_user_avatar`: one user, on login or by staff.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshUserAvatar {
    pub user_id: i64,
}

/// `refresh_all_discord_data`: every user with a Discord account, in pages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshAllDiscordData {}

/// `check_scheduled_events`: post due Discord announcements, once each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckScheduledEvents {}

/// `herodraft_timeout`: a hero-draft round ran out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HerodraftTimeout {
    pub draft_id: i64,
    pub round_number: i32,
}

/// `auto_link_games`: complete waiting games from new league matches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoLinkGames {
    /// The league's Steam league id.
    pub steam_league_id: i64,
}

/// `post_discord_event`: post one scheduled announcement now ("post now").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostDiscordEvent {
    pub event_id: i64,
}

/// `refresh_steam_profiles`: persona names and avatars of every user with a
/// Steam id, 100 per Steam call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshSteamProfiles {}

fn default_keep_days() -> u32 {
    crate::config::DEFAULT_JOB_RETENTION_DAYS
}

/// `prune_job_runs`: delete finished ledger rows older than `keep_days`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PruneJobRuns {
    /// Finished runs younger than this many days are kept (1..=3650).
    #[serde(default = "default_keep_days")]
    pub keep_days: u32,
}

/// A job with its arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "args", rename_all = "snake_case")]
pub enum Job {
    SyncLeagueMatches(SyncLeagueMatches),
    RetryFailedMatches(RetryFailedMatches),
    UpdateLeagueStats(UpdateLeagueStats),
    RecalculateLeagueMmr(RecalculateLeagueMmr),
    RefreshDiscordAvatars(RefreshDiscordAvatars),
    RefreshUserAvatar(RefreshUserAvatar),
    RefreshAllDiscordData(RefreshAllDiscordData),
    CheckScheduledEvents(CheckScheduledEvents),
    HerodraftTimeout(HerodraftTimeout),
    PruneJobRuns(PruneJobRuns),
    AutoLinkGames(AutoLinkGames),
    PostDiscordEvent(PostDiscordEvent),
    RefreshSteamProfiles(RefreshSteamProfiles),
}

/// The kind names, as the API spells them.
pub const KINDS: [&str; 13] = [
    "sync_league_matches",
    "retry_failed_matches",
    "update_league_stats",
    "recalculate_league_mmr",
    "refresh_discord_avatars",
    "refresh_user_avatar",
    "refresh_all_discord_data",
    "check_scheduled_events",
    "herodraft_timeout",
    "prune_job_runs",
    "auto_link_games",
    "post_discord_event",
    "refresh_steam_profiles",
];

/// The JSON schema of each kind's `args`, as the API documents them (a
/// `oneOf` on `kind` for `POST /api/jobs`). Kept beside the structs; a test
/// checks every kind is here and that examples built from each schema parse.
pub fn args_schemas() -> Vec<(&'static str, serde_json::Value)> {
    use serde_json::json;
    let int = |description: &str| json!({ "type": "integer", "format": "int64", "description": description });
    let steam_league = int("The league's Steam league id (not the API's league id).");
    let object = |properties: serde_json::Value, required: &[&str]| {
        let mut schema = json!({ "type": "object", "additionalProperties": false, "properties": properties });
        if !required.is_empty() {
            schema["required"] = json!(required); // OpenAPI 3.0: `required` is never empty
        }
        schema
    };
    let nothing = object(json!({}), &[]);
    vec![
        (
            "sync_league_matches",
            object(
                json!({ "steam_league_id": steam_league, "full": { "type": "boolean", "description": "Read the whole history, not only new matches (default false)." } }),
                &["steam_league_id"],
            ),
        ),
        ("retry_failed_matches", object(json!({ "steam_league_id": steam_league }), &["steam_league_id"])),
        ("update_league_stats", object(json!({ "steam_league_id": steam_league }), &["steam_league_id"])),
        (
            "recalculate_league_mmr",
            json!({
                "type": "object", "additionalProperties": false, "maxProperties": 1,
                "description": "One league, one user, or (neither) every league.",
                "properties": {
                    "steam_league_id": { "type": "integer", "format": "int64", "nullable": true, "description": "The league's Steam league id." },
                    "user_id": { "type": "integer", "format": "int64", "nullable": true }
                }
            }),
        ),
        (
            "refresh_discord_avatars",
            object(
                json!({ "batch_size": { "type": "integer", "format": "int32", "minimum": 1, "maximum": 1000, "description": "Default 50." } }),
                &[],
            ),
        ),
        ("refresh_user_avatar", object(json!({ "user_id": int("The user.") }), &["user_id"])),
        ("refresh_all_discord_data", nothing.clone()),
        ("check_scheduled_events", nothing.clone()),
        (
            "herodraft_timeout",
            object(
                json!({ "draft_id": int("The hero draft."), "round_number": { "type": "integer", "format": "int32" } }),
                &["draft_id", "round_number"],
            ),
        ),
        (
            "prune_job_runs",
            object(
                json!({ "keep_days": { "type": "integer", "format": "int32", "minimum": 1, "maximum": 3650, "description": "Default 30." } }),
                &[],
            ),
        ),
        ("auto_link_games", object(json!({ "steam_league_id": steam_league }), &["steam_league_id"])),
        ("post_discord_event", object(json!({ "event_id": int("The scheduled event.") }), &["event_id"])),
        ("refresh_steam_profiles", nothing),
    ]
}

/// How a kind is run: attempts and the time one attempt may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub max_attempts: i32,
    pub timeout: Duration,
}

impl Job {
    /// Parses `{"kind", "args"}` as the API receives it; the error says what is wrong.
    pub fn parse(kind: &str, args: serde_json::Value) -> Result<Self, String> {
        if !KINDS.contains(&kind) {
            return Err(format!("unknown job kind {kind:?}; one of: {}", KINDS.join(", ")));
        }
        let args = match args {
            serde_json::Value::Null => serde_json::json!({}),
            serde_json::Value::Object(_) => args,
            _ => return Err(format!("invalid args for {kind}: an object (or null) is expected")),
        };
        // At most one of the two, as documented (`maxProperties: 1`), even as nulls.
        if kind == "recalculate_league_mmr" && args.as_object().is_some_and(|a| a.len() > 1) {
            return Err("give steam_league_id or user_id, not both".into());
        }
        let job: Job = serde_json::from_value(serde_json::json!({ "kind": kind, "args": args }))
            .map_err(|e| format!("invalid args for {kind}: {e}"))?;
        job.validate()?;
        Ok(job)
    }

    /// The Steam league whose sync this job is, if it is one: a league's
    /// admins may enqueue these for their league (SPEC §18).
    pub fn league_sync(&self) -> Option<i64> {
        match self {
            Self::SyncLeagueMatches(j) => Some(j.steam_league_id),
            Self::RetryFailedMatches(j) => Some(j.steam_league_id),
            _ => None,
        }
    }

    /// The league a run is about, if it is about one (its admins may cancel it).
    pub fn steam_league(&self) -> Option<i64> {
        match self {
            Self::SyncLeagueMatches(j) => Some(j.steam_league_id),
            Self::RetryFailedMatches(j) => Some(j.steam_league_id),
            Self::UpdateLeagueStats(j) => Some(j.steam_league_id),
            Self::AutoLinkGames(j) => Some(j.steam_league_id),
            Self::RecalculateLeagueMmr(j) => j.steam_league_id,
            _ => None,
        }
    }

    /// Parses arguments as the ledger stored them, in whatever payload
    /// version wrote them (a manual retry of a run an older version enqueued).
    pub fn parse_stored(kind: &str, args: serde_json::Value) -> Result<Self, String> {
        Self::parse(kind, args.clone()).or_else(|current| {
            let mut upgraded = args;
            upgrade_v1_args(kind, &mut upgraded);
            Self::parse(kind, upgraded).map_err(|_| current)
        })
    }

    /// Which lane runs it: interactive work never waits behind bulk work.
    pub fn lane(&self) -> Lane {
        match self {
            Self::HerodraftTimeout(_) | Self::PostDiscordEvent(_) | Self::RefreshUserAvatar(_) => Lane::Interactive,
            Self::RecalculateLeagueMmr(j) if j.user_id.is_some() => Lane::Interactive,
            _ => Lane::Bulk,
        }
    }

    /// The one waiting place this run takes, if its kind keeps one per
    /// league: while a sync, retry or stats run of a league waits, another
    /// enqueue of it returns that run (SPEC §21). A full sync has a place of
    /// its own: a waiting incremental sync does not read the whole history.
    pub fn queue_key(&self) -> Option<String> {
        if let Self::SyncLeagueMatches(j) = self
            && j.full
        {
            return Some(format!("{}:{}:full", self.kind(), j.steam_league_id));
        }
        let league = match self {
            Self::SyncLeagueMatches(j) => j.steam_league_id,
            Self::RetryFailedMatches(j) => j.steam_league_id,
            Self::UpdateLeagueStats(j) => j.steam_league_id,
            _ => return None,
        };
        Some(format!("{}:{league}", self.kind()))
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::SyncLeagueMatches(_) => "sync_league_matches",
            Self::RetryFailedMatches(_) => "retry_failed_matches",
            Self::UpdateLeagueStats(_) => "update_league_stats",
            Self::RecalculateLeagueMmr(_) => "recalculate_league_mmr",
            Self::RefreshDiscordAvatars(_) => "refresh_discord_avatars",
            Self::RefreshUserAvatar(_) => "refresh_user_avatar",
            Self::RefreshAllDiscordData(_) => "refresh_all_discord_data",
            Self::CheckScheduledEvents(_) => "check_scheduled_events",
            Self::HerodraftTimeout(_) => "herodraft_timeout",
            Self::PruneJobRuns(_) => "prune_job_runs",
            Self::AutoLinkGames(_) => "auto_link_games",
            Self::PostDiscordEvent(_) => "post_discord_event",
            Self::RefreshSteamProfiles(_) => "refresh_steam_profiles",
        }
    }

    /// The arguments as JSON (for the ledger).
    pub fn args(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("jobs serialize")["args"].take()
    }

    /// Range checks serde cannot express.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Self::RefreshDiscordAvatars(a) if !(1..=1000).contains(&a.batch_size) => {
                Err("batch_size must be 1..=1000".into())
            }
            Self::RecalculateLeagueMmr(a) if a.steam_league_id.is_some() && a.user_id.is_some() => {
                Err("give steam_league_id or user_id, not both".into())
            }
            Self::PruneJobRuns(a) if !(1..=3650).contains(&a.keep_days) => Err("keep_days must be 1..=3650".into()),
            _ => Ok(()),
        }
    }

    pub fn policy(&self) -> Policy {
        let minutes = |m: u64| Duration::from_secs(60 * m);
        match self {
            Self::SyncLeagueMatches(_) => Policy { max_attempts: 5, timeout: minutes(60) },
            Self::RetryFailedMatches(_) => Policy { max_attempts: 5, timeout: minutes(30) },
            Self::UpdateLeagueStats(_)
            | Self::RecalculateLeagueMmr(_)
            | Self::PruneJobRuns(_)
            | Self::AutoLinkGames(_) => Policy { max_attempts: 3, timeout: minutes(10) },
            Self::RefreshDiscordAvatars(_) | Self::CheckScheduledEvents(_) | Self::PostDiscordEvent(_) => {
                Policy { max_attempts: 3, timeout: minutes(5) }
            }
            Self::RefreshUserAvatar(_) | Self::HerodraftTimeout(_) => Policy { max_attempts: 5, timeout: minutes(1) },
            Self::RefreshAllDiscordData(_) | Self::RefreshSteamProfiles(_) => {
                Policy { max_attempts: 3, timeout: minutes(60) }
            }
        }
    }
}

/// The payload version this build writes (and the newest it reads).
pub const PAYLOAD_VERSION: u32 = 2;

/// The kinds whose arguments named a Steam league id `league_id` in payload
/// version 1.
const V1_LEAGUE_KINDS: [&str; 5] =
    ["sync_league_matches", "retry_failed_matches", "update_league_stats", "recalculate_league_mmr", "auto_link_games"];

/// Rewrites version-1 arguments of `kind` as version 2 spells them.
fn upgrade_v1_args(kind: &str, args: &mut serde_json::Value) {
    if let Some(args) = args.as_object_mut()
        && V1_LEAGUE_KINDS.contains(&kind)
        && let Some(league) = args.remove("league_id")
    {
        args.insert("steam_league_id".into(), league);
    }
}

/// Where a run waits for a worker: interactive work (a hero-draft timeout,
/// a post, one user's refresh) never waits behind bulk work (syncs, stats,
/// batches, pruning); each lane has its own queue and concurrency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lane {
    Interactive,
    Bulk,
}

impl Lane {
    pub const ALL: [Lane; 2] = [Lane::Interactive, Lane::Bulk];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Interactive => "interactive",
            Self::Bulk => "bulk",
        }
    }

    /// The lane of a kind as the API lists it (a kind whose lane depends on
    /// its arguments is listed by its usual one).
    pub fn of_kind(kind: &str) -> Self {
        match kind {
            "herodraft_timeout" | "post_discord_event" | "refresh_user_avatar" => Self::Interactive,
            _ => Self::Bulk,
        }
    }
}

fn version_1() -> u32 {
    1
}

/// What travels through the queue: the payload version, the ledger id, the
/// attempt it is, the job, and the trace of the request that enqueued it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// Payload version; absent (1) in what older builds wrote.
    #[serde(default = "version_1")]
    pub v: u32,
    pub run_id: String,
    /// 1-based.
    pub attempt: i32,
    /// Attempts allowed for this run (raised by a manual retry).
    pub max_attempts: i32,
    pub job: Job,
    /// The W3C `traceparent` of the request that enqueued the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

impl Envelope {
    /// An envelope of this build's payload version.
    pub fn new(run_id: String, attempt: i32, max_attempts: i32, job: Job, traceparent: Option<String>) -> Self {
        Self { v: PAYLOAD_VERSION, run_id, attempt, max_attempts, job, traceparent }
    }
}

/// What a worker makes of a task's bytes.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// A job to run.
    Ready(Envelope),
    /// Written by a newer build: left on the queue for a worker that reads it.
    Newer { version: u32, payload: serde_json::Value },
    /// Cannot be read (bad JSON, an unknown kind, an unknown or missing
    /// field): dead-lettered once, never retried.
    Undecodable { run_id: Option<String>, kind: Option<String>, reason: String },
}

/// Reads a task written by any build, for a worker that understands payload
/// versions up to `understands`.
pub fn decode(bytes: &[u8], understands: u32) -> Delivery {
    // The common case in one parse: this build's own version, read whole.
    if let Ok(envelope) = serde_json::from_slice::<Envelope>(bytes)
        && envelope.v == PAYLOAD_VERSION
        && envelope.v <= understands
        && envelope.job.validate().is_ok()
    {
        return Delivery::Ready(envelope);
    }
    let undecodable =
        |run_id: Option<String>, kind: Option<String>, reason: String| Delivery::Undecodable { run_id, kind, reason };
    let mut payload: serde_json::Value = match serde_json::from_slice(bytes) {
        Ok(value) => value,
        Err(err) => return undecodable(None, None, format!("not JSON: {err}")),
    };
    let run_id = payload.get("run_id").and_then(|v| v.as_str()).map(str::to_owned);
    let kind = payload.pointer("/job/kind").and_then(|v| v.as_str()).map(str::to_owned);
    let version = match payload.get("v") {
        None => 1,
        Some(v) => match v.as_u64().and_then(|v| u32::try_from(v).ok()) {
            Some(version) if version >= 1 => version,
            _ => return undecodable(run_id, kind, format!("payload version {v} is not a positive integer")),
        },
    };
    if version > understands {
        return Delivery::Newer { version, payload };
    }
    if version == 1 {
        if let (Some(kind), Some(args)) = (kind.as_deref(), payload.pointer_mut("/job/args")) {
            upgrade_v1_args(kind, args);
        }
        payload["v"] = PAYLOAD_VERSION.into();
    }
    match serde_json::from_value::<Envelope>(payload) {
        Err(err) => undecodable(run_id, kind, err.to_string()),
        Ok(envelope) => match envelope.job.validate() {
            Err(reason) => undecodable(run_id, kind, reason),
            Ok(()) => Delivery::Ready(envelope),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_every_kind_and_round_trips() {
        for (kind, args) in [
            ("sync_league_matches", json!({"steam_league_id": 17929, "full": true})),
            ("retry_failed_matches", json!({"steam_league_id": 17929})),
            ("update_league_stats", json!({"steam_league_id": 17929})),
            ("recalculate_league_mmr", json!({"user_id": 3})),
            ("refresh_discord_avatars", json!({"batch_size": 50})),
            ("refresh_user_avatar", json!({"user_id": 3})),
            ("refresh_all_discord_data", json!({})),
            ("check_scheduled_events", json!({})),
            ("prune_job_runs", json!({"keep_days": 7})),
            ("auto_link_games", json!({"steam_league_id": 17929})),
            ("post_discord_event", json!({"event_id": 4})),
            ("refresh_steam_profiles", json!({})),
        ] {
            let job = Job::parse(kind, args).unwrap();
            assert_eq!(job.kind(), kind);
            assert_eq!(Job::parse(kind, job.args()).unwrap(), job);
        }
    }

    /// A minimal and a maximal example of each documented `args` schema.
    fn examples(schema: &serde_json::Value) -> Vec<serde_json::Value> {
        let props = schema["properties"].as_object().cloned().unwrap_or_default();
        let required: Vec<&str> =
            schema["required"].as_array().map(|r| r.iter().filter_map(|v| v.as_str()).collect()).unwrap_or_default();
        let value = |p: &serde_json::Value| match p["type"].as_str() {
            Some("boolean") => json!(true),
            _ => json!(p["minimum"].as_i64().unwrap_or(7)),
        };
        let minimal: serde_json::Map<_, _> =
            props.iter().filter(|(k, _)| required.contains(&k.as_str())).map(|(k, p)| (k.clone(), value(p))).collect();
        let max_props = schema["maxProperties"].as_u64().unwrap_or(u64::MAX) as usize;
        let maximal: serde_json::Map<_, _> = props.iter().take(max_props).map(|(k, p)| (k.clone(), value(p))).collect();
        vec![json!(minimal), json!(maximal)]
    }

    #[test]
    fn documented_args_match_what_parses() {
        let schemas = args_schemas();
        let documented: Vec<&str> = schemas.iter().map(|(k, _)| *k).collect();
        assert_eq!(documented, KINDS.to_vec(), "every kind documented, in order");
        for (kind, schema) in &schemas {
            for example in examples(schema) {
                assert!(Job::parse(kind, example.clone()).is_ok(), "{kind} {example}");
            }
            let mut unknown = examples(schema).remove(1);
            unknown["surprise"] = json!(1);
            assert!(Job::parse(kind, unknown).is_err(), "{kind}: unknown fields refused, as documented");
            if let Some(required) = schema["required"].as_array().filter(|r| !r.is_empty()) {
                let mut missing = examples(schema).remove(0);
                missing.as_object_mut().unwrap().remove(required[0].as_str().unwrap());
                assert!(Job::parse(kind, missing).is_err(), "{kind}: required fields are required");
            }
        }
    }

    #[test]
    fn defaults_apply() {
        let job = Job::parse("sync_league_matches", json!({"steam_league_id": 1})).unwrap();
        assert_eq!(job.args(), json!({"steam_league_id": 1, "full": false}));
        assert_eq!(Job::parse("refresh_discord_avatars", json!(null)).unwrap().args(), json!({"batch_size": 50}));
        assert_eq!(Job::parse("prune_job_runs", json!({})).unwrap().args(), json!({"keep_days": 30}));
    }

    #[test]
    fn bad_args_say_why() {
        assert!(Job::parse("nope", json!({})).unwrap_err().contains("unknown job kind"));
        assert!(Job::parse("sync_league_matches", json!({})).unwrap_err().contains("steam_league_id"));
        assert!(
            Job::parse("sync_league_matches", json!({"steam_league_id": "x"})).unwrap_err().contains("invalid args")
        );
        assert!(
            Job::parse("refresh_user_avatar", json!({"user_id": 1, "extra": 2})).unwrap_err().contains("unknown field")
        );
        assert!(Job::parse("refresh_discord_avatars", json!({"batch_size": 0})).unwrap_err().contains("batch_size"));
        assert!(Job::parse("recalculate_league_mmr", json!({"steam_league_id": 1, "user_id": 2})).is_err());
        assert!(Job::parse("recalculate_league_mmr", json!({"steam_league_id": null, "user_id": null})).is_err());
        assert!(Job::parse("recalculate_league_mmr", json!([null, null])).unwrap_err().contains("an object"));
        assert!(Job::parse("prune_job_runs", json!({"keep_days": 0})).unwrap_err().contains("keep_days"));
    }

    fn envelope_bytes(value: serde_json::Value) -> Vec<u8> {
        serde_json::to_vec(&value).unwrap()
    }

    #[test]
    fn a_version_1_task_is_read_with_its_league_renamed() {
        // As the previous build wrote it: no `v`, the Steam league as `league_id`.
        let old = json!({"run_id": "r1", "attempt": 1, "max_attempts": 5,
                         "job": {"kind": "sync_league_matches", "args": {"league_id": 17929, "full": false}}});
        let Delivery::Ready(envelope) = decode(&envelope_bytes(old), PAYLOAD_VERSION) else { panic!("readable") };
        assert_eq!(envelope.v, 2);
        assert_eq!(envelope.job, Job::SyncLeagueMatches(SyncLeagueMatches { steam_league_id: 17929, full: false }));
        let old_args = json!({"league_id": 5});
        assert_eq!(
            Job::parse_stored("update_league_stats", old_args).unwrap(),
            Job::UpdateLeagueStats(UpdateLeagueStats { steam_league_id: 5 })
        );
    }

    #[test]
    fn a_newer_task_is_left_for_a_newer_worker() {
        let newer = json!({"v": 3, "run_id": "r2", "attempt": 1, "max_attempts": 3, "shiny": true,
                           "job": {"kind": "check_scheduled_events", "args": {}}});
        assert!(matches!(decode(&envelope_bytes(newer.clone()), 2), Delivery::Newer { version: 3, .. }));
        // A worker that reads only version 1 leaves version 2 alone too.
        let current = serde_json::to_vec(&Envelope::new(
            "r3".into(),
            1,
            3,
            Job::CheckScheduledEvents(CheckScheduledEvents {}),
            None,
        ))
        .unwrap();
        assert!(matches!(decode(&current, 1), Delivery::Newer { version: 2, .. }));
        assert!(matches!(decode(&current, 2), Delivery::Ready(_)));
    }

    #[test]
    fn what_cannot_be_read_says_why_and_keeps_the_run_id_it_could_read() {
        let unknown_field = json!({"v": 2, "run_id": "r4", "attempt": 1, "max_attempts": 3,
                                   "job": {"kind": "refresh_user_avatar", "args": {"user_id": 1, "colour": "red"}}});
        let unknown_kind = json!({"v": 2, "run_id": "r5", "attempt": 1, "max_attempts": 3,
                                  "job": {"kind": "mine_bitcoin", "args": {}}});
        let missing =
            json!({"v": 2, "attempt": 1, "max_attempts": 3, "job": {"kind": "refresh_steam_profiles", "args": {}}});
        let cases = [
            (envelope_bytes(unknown_field), Some("r4"), "unknown field"),
            (envelope_bytes(unknown_kind), Some("r5"), "unknown variant"),
            (envelope_bytes(missing), None, "missing field `run_id`"),
            (b"{\"run_id\": \"r6\", \"atte".to_vec(), None, "not JSON"),
        ];
        for (bytes, run, why) in cases {
            match decode(&bytes, PAYLOAD_VERSION) {
                Delivery::Undecodable { run_id, reason, .. } => {
                    assert_eq!(run_id.as_deref(), run, "{reason}");
                    assert!(reason.contains(why), "{reason} should say {why}");
                }
                other => panic!("undecodable expected, got {other:?}"),
            }
        }
    }

    #[test]
    fn lanes_and_waiting_places() {
        let timeout = Job::HerodraftTimeout(HerodraftTimeout { draft_id: 1, round_number: 2 });
        let one_user = Job::RecalculateLeagueMmr(RecalculateLeagueMmr { steam_league_id: None, user_id: Some(4) });
        let league = Job::RecalculateLeagueMmr(RecalculateLeagueMmr { steam_league_id: Some(4), user_id: None });
        let sync = Job::SyncLeagueMatches(SyncLeagueMatches { steam_league_id: 9, full: true });
        assert_eq!(
            (timeout.lane(), one_user.lane(), league.lane(), sync.lane()),
            (Lane::Interactive, Lane::Interactive, Lane::Bulk, Lane::Bulk)
        );
        assert_eq!(sync.queue_key().as_deref(), Some("sync_league_matches:9:full"));
        let incremental = Job::SyncLeagueMatches(SyncLeagueMatches { steam_league_id: 9, full: false });
        assert_eq!(incremental.queue_key().as_deref(), Some("sync_league_matches:9"));
        assert_eq!(
            Job::UpdateLeagueStats(UpdateLeagueStats { steam_league_id: 9 }).queue_key().as_deref(),
            Some("update_league_stats:9")
        );
        assert_eq!(timeout.queue_key(), None);
    }
}
