//! How Draftforge values become DTX values, as pure functions: Steam ids in
//! the forms the original stored, Discord ids, usernames made unique the way
//! DTX compares them, and the ids inside historical event payloads.

use std::collections::{HashMap, HashSet};

use entity::steam_id::{PRIVATE_ACCOUNT_ID, STEAM_ID64_OFFSET, is_valid_steam_id64};
use serde_json::Value;

use crate::domain::usernames;

/// A user's SteamID64 from the original's two columns: `steamid`
/// (SteamID64, but `0` on a legacy row and a 32-bit account id on rows
/// written by an old `profile_update`) and `steam_account_id` (filled only
/// by a data migration). Returns the id and, when it was not taken as is,
/// what was done.
pub fn user_steam_id(steamid: Option<i64>, account_id: Option<i64>) -> (Option<i64>, Option<String>) {
    let from_account = account_id.filter(|a| (1..PRIVATE_ACCOUNT_ID).contains(a)).map(|a| a + STEAM_ID64_OFFSET);
    match steamid {
        Some(id) if is_valid_steam_id64(id) => (Some(id), None),
        None | Some(0) => match from_account {
            Some(id) => (Some(id), Some(format!("Steam id taken from steam_account_id {}", id - STEAM_ID64_OFFSET))),
            None if steamid == Some(0) => (None, Some("legacy steamid 0 read as no Steam id".into())),
            None => (None, None),
        },
        Some(id) if (1..PRIVATE_ACCOUNT_ID).contains(&id) => {
            (Some(id + STEAM_ID64_OFFSET), Some(format!("32-bit account id {id} converted to SteamID64")))
        }
        Some(id) => match from_account {
            Some(fixed) => (Some(fixed), Some(format!("malformed Steam id {id} replaced by steam_account_id"))),
            None => (None, Some(format!("malformed Steam id {id} dropped"))),
        },
    }
}

/// A player line's SteamID64: `None` for Steam's private-profile id and
/// for anything that is not an individual account.
pub fn line_steam_id(steam_id: i64) -> Option<i64> {
    is_valid_steam_id64(steam_id).then_some(steam_id)
}

/// A Discord id as DTX accepts it (1–20 digits), or `None`.
pub fn discord_id(raw: Option<&str>) -> Option<String> {
    let id = raw?.trim();
    (!id.is_empty() && id.len() <= 20 && id.bytes().all(|b| b.is_ascii_digit())).then(|| id.to_owned())
}

/// Free text (a league's description, rules, prize pool) as the API takes
/// it: control characters other than tab and line breaks dropped, at most
/// `max` characters kept. The note says what changed, when anything did.
pub fn text(raw: &str, max: usize) -> (String, Option<String>) {
    let kept: String = raw.chars().filter(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t')).collect();
    let dropped = raw.chars().count() - kept.chars().count();
    let total = kept.chars().count();
    let text: String = kept.chars().take(max).collect();
    let mut notes = Vec::new();
    if dropped > 0 {
        notes.push(format!("{dropped} control characters dropped"));
    }
    if total > max {
        notes.push(format!("{total} characters cut to {max}"));
    }
    (text, (!notes.is_empty()).then(|| notes.join(", ")))
}

/// Usernames handed out so far, by DTX's uniqueness key (case and
/// look-alikes folded).
#[derive(Debug, Default)]
pub struct Usernames {
    taken: HashSet<String>,
}

impl Usernames {
    pub fn new(existing: impl IntoIterator<Item = String>) -> Self {
        Self { taken: existing.into_iter().collect() }
    }

    /// The username of source user `source_id`: hidden characters dropped
    /// and NFKC (or `player-<id>` when nothing is left); when another
    /// account already holds it by DTX's rules (`Sniper` beside `sniper`),
    /// `-<id>` is added. Deterministic: the older account (imported first)
    /// keeps the name. Returns the name and, when changed, why.
    pub fn assign(&mut self, raw: &str, source_id: i64) -> (String, Option<String>) {
        let (base, mut note) = match usernames::sanitize(raw) {
            Some(name) if name == raw => (name, None),
            Some(name) => {
                let note = format!("username {raw:?} cleaned to {name:?}");
                (name, Some(note))
            }
            None => (format!("player-{source_id}"), Some(format!("empty or invisible username {raw:?} replaced"))),
        };
        let mut name = base.clone();
        let mut attempt = 1;
        while !self.taken.insert(entity::user::username_key(&name)) {
            let suffix = if attempt == 1 { format!("-{source_id}") } else { format!("-{source_id}-{attempt}") };
            let room = usernames::MAX_CHARS - suffix.chars().count();
            name = format!("{}{suffix}", base.chars().take(room).collect::<String>());
            note = Some(format!("username {raw:?} clashes with another account; renamed {name:?}"));
            attempt += 1;
        }
        (name, note)
    }
}

/// Payload keys that hold a user's or a team's id in the original's events.
const USER_KEYS: [&str; 6] = ["captain_id", "picked_id", "choice_id", "user_id", "player_id", "created_by"];
const TEAM_KEYS: [&str; 2] = ["team_id", "winner_id"];

/// An event payload with the original's user and team ids replaced by the
/// ids they got here (`null` when that row was not carried over).
pub fn remap_payload(mut payload: Value, users: &HashMap<i64, i64>, teams: &HashMap<i64, i64>) -> Value {
    if let Value::Object(fields) = &mut payload {
        for (key, value) in fields.iter_mut() {
            let map = if USER_KEYS.contains(&key.as_str()) {
                users
            } else if TEAM_KEYS.contains(&key.as_str()) {
                teams
            } else {
                continue;
            };
            if let Some(id) = value.as_i64() {
                *value = map.get(&id).map_or(Value::Null, |new| Value::from(*new));
            }
        }
    }
    payload
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn free_text_is_cleaned_and_cut_as_the_api_would() {
        assert_eq!(text("Rules:\n\t1. be kind", 50), ("Rules:\n\t1. be kind".to_owned(), None));
        assert_eq!(text("a\u{1b}[31mb\0", 50), ("a[31mb".to_owned(), Some("2 control characters dropped".to_owned())));
        assert_eq!(text("ééééé", 3), ("ééé".to_owned(), Some("5 characters cut to 3".to_owned())));
    }

    #[test]
    fn steam_ids_in_every_stored_form() {
        let id64 = 76_561_198_196_640_475;
        let account = id64 - STEAM_ID64_OFFSET;
        assert_eq!(user_steam_id(Some(id64), Some(account)), (Some(id64), None));
        assert_eq!(user_steam_id(Some(id64), None).0, Some(id64), "account id not maintained");
        assert_eq!(user_steam_id(Some(account), None).0, Some(id64), "32-bit id in steamid");
        assert_eq!(user_steam_id(None, Some(account)).0, Some(id64), "only the account id");
        assert_eq!(user_steam_id(Some(0), None).0, None, "legacy zero");
        assert_eq!(user_steam_id(Some(0), Some(account)).0, Some(id64));
        let (dropped, note) = user_steam_id(Some(12_345_678_901_234), None);
        assert_eq!(dropped, None);
        assert!(note.unwrap().contains("malformed"));
        assert_eq!(user_steam_id(Some(STEAM_ID64_OFFSET + PRIVATE_ACCOUNT_ID), None).0, None, "private id");
        assert_eq!(user_steam_id(None, None), (None, None));
    }

    #[test]
    fn private_player_lines_have_no_steam_id() {
        assert_eq!(line_steam_id(76_561_202_255_233_023), None);
        assert_eq!(line_steam_id(76_561_198_196_640_475), Some(76_561_198_196_640_475));
    }

    #[test]
    fn discord_ids_are_digits() {
        assert_eq!(discord_id(Some("198618246868500481")).as_deref(), Some("198618246868500481"));
        assert_eq!(discord_id(Some("12a")), None);
        assert_eq!(discord_id(Some("")), None);
        assert_eq!(discord_id(None), None);
    }

    #[test]
    fn clashing_usernames_get_the_source_id() {
        let mut names = Usernames::new([entity::user::username_key("admin")]);
        assert_eq!(names.assign("Sniper", 3), ("Sniper".into(), None));
        let (second, note) = names.assign("sniper", 7);
        assert_eq!(second, "sniper-7");
        assert!(note.is_some());
        assert_eq!(names.assign("\u{0430}dmin", 9).0, "\u{0430}dmin-9", "look-alike of an existing account");
        assert_eq!(names.assign("\u{200B}", 11).0, "player-11");
        assert_eq!(names.assign("an\u{200B}a", 12).0, "ana");
        assert_eq!(names.assign("ana", 13).0, "ana-13");
    }

    #[test]
    fn payload_ids_follow_their_rows() {
        let users = HashMap::from([(9, 109), (13, 113)]);
        let teams = HashMap::from([(1, 201)]);
        let payload = json!({"captain_id": 9, "picked_id": 13, "team_id": 1, "pick_number": 1, "created_by": 77});
        assert_eq!(
            remap_payload(payload, &users, &teams),
            json!({"captain_id": 109, "picked_id": 113, "team_id": 201, "pick_number": 1, "created_by": null})
        );
    }
}
