//! Parsing of free text and ids from request bodies, once, at the edge.
//! Failures are 422 with the field named. Each rule has its pattern, which
//! the OpenAPI document states for the fields it guards (`crate::openapi`);
//! a test checks each pattern accepts exactly what its rule accepts.

use crate::error::{ApiError, ApiResult};

/// Control characters (Unicode Cc), as regex class contents.
const CONTROL: &str = r"\x00-\x1F\x7F-\x9F";

/// [`line`]: no control character, something besides blanks.
pub fn line_pattern() -> String {
    format!(r"^[^{CONTROL}]*[^{CONTROL}\s][^{CONTROL}]*$")
}

/// [`text`]: no control character but tab, newline and carriage return.
pub const TEXT_PATTERN: &str = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$";

/// [`timezone`].
pub const TIMEZONE_PATTERN: &str = r"^[A-Za-z0-9/_+-]{1,64}$";

/// The characters [`username`] refuses in the Basic Multilingual Plane
/// (`worker::domain::usernames`; the few astral ones are refused too).
const HIDDEN: &str = r"\x00-\x1F\x7F-\x9F\u00AD\u034F\u061C\u115F\u1160\u17B4\u17B5\u180B-\u180F\u200B-\u200F\u2028-\u202E\u2060-\u206F\u3164\uFE00-\uFE0F\uFEFF\uFFA0\uFFF9-\uFFFB";

/// [`username`]: no hidden character, something besides blanks.
pub fn username_pattern() -> String {
    format!(r"^[^{HIDDEN}]*[^{HIDDEN}\s][^{HIDDEN}]*$")
}

/// [`nickname`]: no hidden character (blank means none).
pub fn nickname_pattern() -> String {
    format!(r"^[^{HIDDEN}]*$")
}

fn invalid(field: &str, why: &str) -> ApiError {
    ApiError::invalid("invalid_field", format!("{field}: {why}")).with_details(serde_json::json!({ "field": field }))
}

/// A single-line text: no control characters, trimmed, non-empty, at most `max` characters.
pub fn line(field: &str, value: &str, max: usize) -> ApiResult<String> {
    if value.chars().any(char::is_control) {
        return Err(invalid(field, "must not contain control characters"));
    }
    let value = value.trim();
    if value.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(invalid(field, &format!("at most {max} characters")));
    }
    Ok(value.to_owned())
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

/// A username: NFKC, no invisible, control or text-direction characters,
/// at most 150 characters (uniqueness by look-alike key is the core's).
pub fn username(value: &str) -> ApiResult<String> {
    worker::domain::usernames::normalize(value).map_err(|e| invalid("username", &e.to_string()))
}

/// A nickname (or a Discord or guild display name): no invisible, control
/// or text-direction character, as usernames; blank means none.
pub fn nickname(field: &str, value: Option<&str>) -> ApiResult<Option<String>> {
    match value {
        None => Ok(None),
        Some(v) => worker::domain::usernames::nickname(v).map_err(|e| invalid(field, &e.to_string())),
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
        assert_eq!(nickname("n", Some(" ")).unwrap(), None);
    }

    #[test]
    fn ids() {
        assert!(discord_id("198618246868500481").is_ok());
        assert!(discord_id("12a").is_err());
        assert!(timezone("Europe/Berlin").is_ok());
        assert!(timezone("Europe Berlin").is_err());
    }

    /// Strings around each rule's edges: blanks, control and hidden characters, ordinary text.
    fn samples() -> Vec<String> {
        let pieces = [
            "",
            " ",
            "a",
            "Ana",
            "\t",
            "\n",
            "\r",
            "\u{0}",
            "\u{1F}",
            "\u{7F}",
            "\u{85}",
            "\u{9F}",
            "\u{A0}",
            "\u{AD}",
            "\u{200B}",
            "\u{202E}",
            "\u{3000}",
            "\u{FEFF}",
            "é",
            "日本",
            "Europe/Berlin",
            "+",
            "-",
            "_",
        ];
        let mut out = Vec::new();
        for a in pieces {
            for b in pieces {
                out.push(format!("{a}{b}"));
                for c in pieces {
                    out.push(format!("{a}{b}{c}"));
                }
            }
        }
        out
    }

    #[test]
    fn the_patterns_accept_what_the_rules_accept() {
        let re = |p: &str| regex::Regex::new(p).unwrap();
        let (lines, texts, zones, names, nicknames) = (
            re(&line_pattern()),
            re(TEXT_PATTERN),
            re(TIMEZONE_PATTERN),
            re(&username_pattern()),
            re(&nickname_pattern()),
        );
        for s in samples() {
            assert_eq!(lines.is_match(&s), line("f", &s, 1000).is_ok(), "line {s:?}");
            assert_eq!(texts.is_match(&s), text("f", &s, 1000).is_ok(), "text {s:?}");
            assert_eq!(zones.is_match(&s), timezone(&s).is_ok(), "timezone {s:?}");
            assert_eq!(names.is_match(&s), username(&s).is_ok(), "username {s:?}");
            assert_eq!(nicknames.is_match(&s), nickname("f", Some(&s)).is_ok(), "nickname {s:?}");
        }
    }
}
