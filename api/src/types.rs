//! Wire types shared by requests and views: SteamID64s travel as strings
//! (they exceed 2^53, so a browser would corrupt them as JSON numbers), and
//! Steam ids are accepted in every form people paste (SPEC §18).

use std::borrow::Cow;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use serde_json::Value;
use worker::domain::steam_ids::{self, SteamIdError};

use crate::error::{ApiError, ApiResult};

/// A string field of a request body. Only a JSON string is one: poem's own
/// `String` also takes numbers and booleans (`"username": false` would
/// become `"false"`), which the document does not allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text(pub String);

impl std::ops::Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<Text> for String {
    fn from(text: Text) -> Self {
        text.0
    }
}

impl Type for Text {
    const IS_REQUIRED: bool = true;
    type RawValueType = String;
    type RawElementValueType = String;

    fn name() -> Cow<'static, str> {
        String::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        String::schema_ref()
    }

    fn as_raw_value(&self) -> Option<&String> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a String> + 'a> {
        Box::new(std::iter::once(&self.0))
    }
}

impl ParseFromJSON for Text {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(Value::String(s)) => Ok(Self(s)),
            other => Err(ParseError::expected_type(other.unwrap_or_default())),
        }
    }
}

impl ToJSON for Text {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}

/// A SteamID64 in a response: a JSON string of 17 digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SteamId64(pub i64);

impl Type for SteamId64 {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "SteamId64".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Reference(Self::name().into_owned())
    }

    fn register(registry: &mut Registry) {
        registry.create_schema::<Self, _>(Self::name().into_owned(), |_| MetaSchema {
            description: Some("A SteamID64, as a string (it exceeds 2^53: JSON numbers would lose digits)."),
            pattern: Some("^7656[0-9]{13}$".into()),
            example: Some(Value::String("76561198196640475".into())),
            ..MetaSchema::new("string")
        });
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(std::iter::once(self))
    }
}

impl ToJSON for SteamId64 {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.to_string()))
    }
}

impl ParseFromJSON for SteamId64 {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(Value::String(s)) if s.len() == 17 && s.starts_with("7656") => {
                s.parse().map(Self).map_err(|_| ParseError::custom("not a SteamID64"))
            }
            other => Err(ParseError::expected_type(other.unwrap_or_default())),
        }
    }
}

/// A Steam id as a client sends it: a JSON string in any pasted form, or a
/// number (a SteamID64 or an account id). Parsing keeps what was sent;
/// [`SteamIdInput::resolve`] turns it into a SteamID64 or a 422 that says
/// what to do (a vanity URL points to `GET /api/steam/resolve`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SteamIdInput {
    Number(i64),
    Text(String),
}

/// Longest accepted text form (a profile URL with a tail).
pub const STEAM_ID_MAX_LENGTH: usize = 200;

impl SteamIdInput {
    pub fn resolve(&self) -> ApiResult<i64> {
        let parsed = match self {
            Self::Number(n) => steam_ids::from_number(*n),
            Self::Text(s) if s.chars().count() > STEAM_ID_MAX_LENGTH => Err(SteamIdError::Malformed),
            Self::Text(s) => steam_ids::parse(s),
        };
        parsed.map_err(|err| match &err {
            SteamIdError::Vanity(name) => ApiError::invalid("steam_vanity_url", err.to_string()).with_details(
                serde_json::json!({ "field": "steamId", "vanity": name, "resolve": "/api/steam/resolve" }),
            ),
            SteamIdError::Malformed => ApiError::invalid("invalid_field", format!("steamId: {err}"))
                .with_details(serde_json::json!({ "field": "steamId" })),
        })
    }
}

impl Type for SteamIdInput {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "SteamIdInput".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Reference(Self::name().into_owned())
    }

    /// The integer bounds exceed what an f64 holds exactly, so the finished
    /// document writes this schema itself ([`steam_id_input_schema`]); this
    /// registration only reserves the name.
    fn register(registry: &mut Registry) {
        registry.create_schema::<Self, _>(Self::name().into_owned(), |_| MetaSchema::new("string"));
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(std::iter::once(self))
    }
}

impl ParseFromJSON for SteamIdInput {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(Value::String(s)) => Ok(Self::Text(s)),
            // Out-of-range numbers (floats, beyond i64) become 0, which resolve() refuses.
            Some(Value::Number(n)) => Ok(Self::Number(n.as_i64().unwrap_or(0))),
            other => Err(ParseError::expected_type(other.unwrap_or_default())),
        }
    }
}

impl ToJSON for SteamIdInput {
    fn to_json(&self) -> Option<Value> {
        Some(match self {
            Self::Number(n) => Value::from(*n),
            Self::Text(s) => Value::String(s.clone()),
        })
    }
}

/// The exact JSON schema of [`SteamIdInput`]: account ids and SteamID64s as
/// integers (exact bounds), or any accepted text form.
pub fn steam_id_input_schema() -> Value {
    use entity::steam_id::{PRIVATE_ACCOUNT_ID, STEAM_ID64_OFFSET};
    serde_json::json!({
        "description": "A Steam id as people paste it: a SteamID64 or account (friend) id (number or string), \
            `[U:1:N]`, `STEAM_0:Y:Z`, or a steamcommunity.com/profiles, Dotabuff, OpenDota or STRATZ profile URL. \
            A steamcommunity.com/id/<name> URL is refused (422): resolve it with GET /api/steam/resolve.",
        "oneOf": [
            { "type": "integer", "format": "int64", "minimum": 1, "maximum": PRIVATE_ACCOUNT_ID - 1 },
            { "type": "integer", "format": "int64", "minimum": STEAM_ID64_OFFSET + 1, "maximum": STEAM_ID64_OFFSET + PRIVATE_ACCOUNT_ID - 1 },
            { "type": "string", "maxLength": STEAM_ID_MAX_LENGTH, "pattern": steam_ids::steam_id_pattern() }
        ],
        "example": "https://www.dotabuff.com/players/236374747"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steam_ids_resolve_or_explain() {
        // 39734272 + 76561197960265728, worked by hand.
        assert_eq!(SteamIdInput::Text("[U:1:39734272]".into()).resolve().unwrap(), 76_561_198_000_000_000);
        assert_eq!(SteamIdInput::Number(39_734_272).resolve().unwrap(), 76_561_198_000_000_000);
        assert_eq!(SteamIdInput::Number(76_561_198_000_000_000).resolve().unwrap(), 76_561_198_000_000_000);
        let vanity = SteamIdInput::Text("https://steamcommunity.com/id/gabe".into()).resolve().unwrap_err();
        assert_eq!(vanity.code, "steam_vanity_url");
        assert_eq!(SteamIdInput::Text("nope".into()).resolve().unwrap_err().code, "invalid_field");
        assert_eq!(SteamIdInput::Number(0).resolve().unwrap_err().code, "invalid_field");
    }

    #[test]
    fn steam_id64s_travel_as_strings() {
        assert_eq!(SteamId64(76_561_198_196_640_475).to_json(), Some(Value::String("76561198196640475".into())));
    }
}
