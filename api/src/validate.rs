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

/// A SteamID64 of an individual account.
pub fn steam_id(value: i64) -> ApiResult<i64> {
    if entity::steam_id::is_valid_steam_id64(value) {
        Ok(value)
    } else {
        Err(invalid("steamId", "must be a SteamID64 (7656119…)"))
    }
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
        assert!(steam_id(76_561_198_000_000_000).is_ok());
        assert!(steam_id(5).is_err());
        assert!(timezone("Europe/Berlin").is_ok());
        assert!(timezone("Europe Berlin").is_err());
    }
}
