//! Parsing of free text and ids from request bodies, once, at the edge.
//! Failures are 422 with the field named.

use crate::error::{ApiError, ApiResult};

fn invalid(field: &str, why: &str) -> ApiError {
    ApiError::invalid("invalid_field", format!("{field}: {why}")).with_details(serde_json::json!({ "field": field }))
}

/// A single-line text: trimmed, non-empty, no control characters, at most `max` characters.
pub fn line(field: &str, value: &str, max: usize) -> ApiResult<String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(field, "must not contain control characters"));
    }
    if value.chars().count() > max {
        return Err(invalid(field, &format!("at most {max} characters")));
    }
    Ok(value.to_owned())
}

/// An optional single-line text; empty means none.
pub fn optional_line(field: &str, value: Option<&str>, max: usize) -> ApiResult<Option<String>> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => line(field, v, max).map(Some),
    }
}

/// Multi-line text (descriptions): may be empty; tabs and newlines allowed.
pub fn text(field: &str, value: &str, max: usize) -> ApiResult<String> {
    if value.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err(invalid(field, "must not contain control characters"));
    }
    if value.chars().count() > max {
        return Err(invalid(field, &format!("at most {max} characters")));
    }
    Ok(value.to_owned())
}

/// A Discord snowflake: 1–20 digits.
pub fn discord_id(value: &str) -> ApiResult<String> {
    if value.is_empty() || value.len() > 20 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("discordId", "must be a Discord id (digits)"));
    }
    Ok(value.to_owned())
}

/// A Steam id in any form people paste (SPEC §18), as its SteamID64.
pub fn steam_id(value: &str) -> ApiResult<i64> {
    use worker::domain::steam_ids::{self, SteamIdError};
    steam_ids::parse(value).map_err(|err| match &err {
        SteamIdError::Vanity(name) => ApiError::invalid("steam_vanity_url", err.to_string())
            .with_details(serde_json::json!({ "field": "steamId", "vanity": name, "resolve": "/api/steam/resolve" })),
        SteamIdError::Malformed => invalid("steamId", &err.to_string()),
    })
}

/// A username: NFKC, no invisible, control or text-direction characters,
/// at most 150 characters (uniqueness by look-alike key is the core's).
pub fn username(value: &str) -> ApiResult<String> {
    worker::domain::usernames::normalize(value).map_err(|e| invalid("username", &e.to_string()))
}

/// An IANA-style time-zone name (`UTC`, `Europe/Berlin`).
pub fn timezone(value: &str) -> ApiResult<String> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-' | b'+'));
    if ok { Ok(value.to_owned()) } else { Err(invalid("timezone", "must be a time-zone name such as Europe/Berlin")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_trimmed_and_checked() {
        assert_eq!(line("name", "  Cup  ", 10).unwrap(), "Cup");
        assert!(line("name", "   ", 10).is_err());
        assert!(line("name", "a\0b", 10).is_err());
        assert!(line("name", "abcdefghijk", 10).is_err());
        assert_eq!(optional_line("n", Some(" "), 5).unwrap(), None);
    }

    #[test]
    fn ids() {
        assert!(discord_id("198618246868500481").is_ok());
        assert!(discord_id("12a").is_err());
        assert_eq!(steam_id("[U:1:39734272]").unwrap(), 76_561_198_000_000_000);
        assert_eq!(steam_id("https://steamcommunity.com/id/gabe").unwrap_err().code, "steam_vanity_url");
        assert_eq!(steam_id("nope").unwrap_err().code, "invalid_field");
        assert!(timezone("Europe/Berlin").is_ok());
        assert!(timezone("Europe Berlin").is_err());
    }
}
