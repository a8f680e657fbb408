//! Steam ids as people paste them (SPEC §18): a SteamID64, a 32-bit account
//! ("friend") id, `[U:1:N]`, `STEAM_X:Y:Z`, or a profile URL of
//! steamcommunity.com/profiles, Dotabuff, OpenDota or STRATZ — all become
//! the SteamID64. A `steamcommunity.com/id/<name>` vanity URL needs a Steam
//! call, which a write never makes: it is refused with a pointer to
//! `GET /api/steam/resolve`.
//!
//! The grammar is strict (numbers without leading zeros, lower-case hosts,
//! printable ASCII after the id) so that [`STEAM_ID_PATTERN`] — the regular
//! expression the OpenAPI document publishes — accepts exactly what
//! [`parse`] accepts; a test checks the two against each other.

use entity::steam_id::{PRIVATE_ACCOUNT_ID, STEAM_ID64_OFFSET};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SteamIdError {
    #[error("{0:?} is a Steam vanity name; resolve it first with GET /api/steam/resolve?vanity=…")]
    Vanity(String),
    #[error(
        "not a Steam id: give a SteamID64, an account (friend) id, [U:1:N], STEAM_0:Y:Z, or a Steam, Dotabuff, OpenDota or STRATZ profile URL"
    )]
    Malformed,
}

/// Account ids 1..=4294967294 (4294967295 marks a private profile).
const ACCOUNT: &str = "[1-9][0-9]{0,8}|[1-3][0-9]{9}|4[01][0-9]{8}|42[0-8][0-9]{7}|429[0-3][0-9]{6}|4294[0-8][0-9]{5}\
|42949[0-5][0-9]{4}|429496[0-6][0-9]{3}|4294967[01][0-9]{2}|42949672[0-8][0-9]|429496729[0-4]";
/// SteamID64s of those accounts: 76561197960265729..=76561202255233022.
const ID64: &str = "76561197960265729|765611979602657[3-9][0-9]|76561197960265[89][0-9]{2}|7656119796026[6-9][0-9]{3}\
|765611979602[7-9][0-9]{4}|76561197960[3-9][0-9]{5}|7656119796[1-9][0-9]{6}|765611979[7-9][0-9]{7}|7656119[89][0-9]{9}\
|7656120[01][0-9]{9}|76561202[01][0-9]{8}|765612022[0-4][0-9]{7}|7656120225[0-4][0-9]{6}|76561202255[01][0-9]{5}\
|765612022552[0-2][0-9]{4}|7656120225523[0-2][0-9]{3}|765612022552330[01][0-9]|7656120225523302[0-2]";
/// Z of `STEAM_X:0:Z` (account 2Z): 1..=2147483647.
const HALF_EVEN: &str = "[1-9][0-9]{0,8}|1[0-9]{9}|20[0-9]{8}|21[0-3][0-9]{7}|214[0-6][0-9]{6}|2147[0-3][0-9]{5}\
|21474[0-7][0-9]{4}|214748[0-2][0-9]{3}|2147483[0-5][0-9]{2}|21474836[0-3][0-9]|214748364[0-7]";
/// Z of `STEAM_X:1:Z` (account 2Z + 1): 0..=2147483646.
const HALF_ODD: &str = "0|[1-9][0-9]{0,8}|1[0-9]{9}|20[0-9]{8}|21[0-3][0-9]{7}|214[0-6][0-9]{6}|2147[0-3][0-9]{5}\
|21474[0-7][0-9]{4}|214748[0-2][0-9]{3}|2147483[0-5][0-9]{2}|21474836[0-3][0-9]|214748364[0-6]";

/// Blanks a paste may carry around the id.
const BLANKS: [char; 4] = [' ', '\t', '\r', '\n'];
/// What may follow the id in a profile URL (`/matches`, `?tab=…`).
const URL_TAIL: &str = "(?:[/?#][!-~]*)?";
const SCHEME: &str = "(?:https?://)?(?:www\\.)?";
/// A vanity name: what Steam allows in a custom profile URL.
const VANITY: &str = "[A-Za-z0-9_-]{1,64}";
pub const VANITY_MAX: usize = 64;

/// The accepted forms of a Steam id as one ECMA-262 regular expression.
pub fn steam_id_pattern() -> String {
    format!("^[ \\t\\r\\n]*(?:{})[ \\t\\r\\n]*$", id_forms())
}

/// What `GET /api/steam/resolve` takes: a Steam id in any form, a vanity
/// profile URL, or a bare vanity name.
pub fn lookup_pattern() -> String {
    format!(
        "^[ \\t\\r\\n]*(?:{}|{SCHEME}steamcommunity\\.com/id/{VANITY}{URL_TAIL}|{VANITY})[ \\t\\r\\n]*$",
        id_forms()
    )
}

fn id_forms() -> String {
    let number = format!("{ID64}|{ACCOUNT}");
    format!(
        "{number}|\\[U:1:(?:{ACCOUNT})\\]|STEAM_[01]:(?:0:(?:{HALF_EVEN})|1:(?:{HALF_ODD}))\
|{SCHEME}(?:steamcommunity\\.com/profiles|(?:dotabuff|opendota|stratz)\\.com/players)/(?:{number}){URL_TAIL}"
    )
}

/// The SteamID64 of an individual account id.
fn from_account(account: i64) -> Result<i64, SteamIdError> {
    if (1..PRIVATE_ACCOUNT_ID).contains(&account) {
        Ok(account + STEAM_ID64_OFFSET)
    } else {
        Err(SteamIdError::Malformed)
    }
}

/// A bare number: a SteamID64, or an account id.
pub fn from_number(n: i64) -> Result<i64, SteamIdError> {
    if n >= STEAM_ID64_OFFSET { from_account(n - STEAM_ID64_OFFSET) } else { from_account(n) }
}

/// A number as written by people: digits, no leading zero (but "0" itself).
fn number(s: &str) -> Option<i64> {
    let canonical =
        !s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    canonical.then(|| s.parse().ok()).flatten()
}

/// A bare vanity name, if `s` is one.
pub fn vanity_name(s: &str) -> Option<&str> {
    let s = s.trim_matches(BLANKS);
    (!s.is_empty() && s.len() <= VANITY_MAX && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
        .then_some(s)
}

/// Parses any accepted form into a SteamID64.
pub fn parse(input: &str) -> Result<i64, SteamIdError> {
    let s = input.trim_matches(BLANKS);
    if let Some(n) = number(s) {
        return from_number(n);
    }
    // [U:1:N]
    if let Some(inner) = s.strip_prefix("[U:1:").and_then(|r| r.strip_suffix(']')) {
        return number(inner).ok_or(SteamIdError::Malformed).and_then(from_account);
    }
    // STEAM_X:Y:Z → account = 2Z + Y
    if let Some(rest) = s.strip_prefix("STEAM_") {
        if let [universe, y, z] = rest.split(':').collect::<Vec<_>>()[..]
            && matches!(universe, "0" | "1")
            && let Some(y @ (0 | 1)) = number(y)
            && let Some(z) = number(z)
        {
            return z
                .checked_mul(2)
                .and_then(|v| v.checked_add(y))
                .ok_or(SteamIdError::Malformed)
                .and_then(from_account);
        }
        return Err(SteamIdError::Malformed);
    }
    profile_url(s)
}

/// What a lookup names: an id already, or a vanity name to ask Steam about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Id(i64),
    Vanity(String),
}

/// Parses what `GET /api/steam/resolve` takes ([`lookup_pattern`]).
pub fn parse_lookup(input: &str) -> Result<Lookup, SteamIdError> {
    match parse(input) {
        Ok(id) => Ok(Lookup::Id(id)),
        Err(SteamIdError::Vanity(name)) => Ok(Lookup::Vanity(name)),
        Err(SteamIdError::Malformed) => {
            vanity_name(input).map(|n| Lookup::Vanity(n.to_owned())).ok_or(SteamIdError::Malformed)
        }
    }
}

/// steamcommunity.com/profiles/<id>, steamcommunity.com/id/<vanity>,
/// dotabuff.com/players/<id>, opendota.com/players/<id>,
/// stratz.com/players/<id> (with or without scheme and `www.`), then
/// optionally `/`, `?` or `#` and more printable ASCII.
fn profile_url(s: &str) -> Result<i64, SteamIdError> {
    let rest = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://")).unwrap_or(s);
    let rest = rest.strip_prefix("www.").unwrap_or(rest);
    let (site, rest) = rest.split_once('/').ok_or(SteamIdError::Malformed)?;
    let (section, rest) = rest.split_once('/').ok_or(SteamIdError::Malformed)?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (value, tail) = rest.split_at(end);
    if !tail.bytes().all(|b| (b'!'..=b'~').contains(&b)) {
        return Err(SteamIdError::Malformed);
    }
    match (site, section) {
        ("steamcommunity.com", "profiles") | ("dotabuff.com" | "opendota.com" | "stratz.com", "players") => {
            number(value).ok_or(SteamIdError::Malformed).and_then(from_number)
        }
        ("steamcommunity.com", "id") if vanity_name(value) == Some(value) => {
            Err(SteamIdError::Vanity(value.to_owned()))
        }
        _ => Err(SteamIdError::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Worked by hand: 76561198196640475 − 76561197960265728 = 236374747 = 2 × 118187373 + 1.
    const ID64: i64 = 76_561_198_196_640_475;

    #[test]
    fn every_form_gives_the_same_steam_id64() {
        for form in [
            "76561198196640475",
            "236374747",
            "[U:1:236374747]",
            "STEAM_0:1:118187373",
            "STEAM_1:1:118187373",
            "https://steamcommunity.com/profiles/76561198196640475/",
            "steamcommunity.com/profiles/76561198196640475",
            "https://www.dotabuff.com/players/236374747",
            "https://www.opendota.com/players/236374747/matches",
            "https://stratz.com/players/236374747?tab=matches",
            "  236374747 \n",
        ] {
            assert_eq!(parse(form), Ok(ID64), "{form}");
        }
    }

    #[test]
    fn vanity_urls_point_to_resolve() {
        assert_eq!(
            parse("https://steamcommunity.com/id/gabelogannewell/"),
            Err(SteamIdError::Vanity("gabelogannewell".into()))
        );
        assert_eq!(parse_lookup("gabelogannewell"), Ok(Lookup::Vanity("gabelogannewell".into())));
        assert_eq!(parse_lookup("[U:1:236374747]"), Ok(Lookup::Id(ID64)));
        assert_eq!(parse_lookup("a/b"), Err(SteamIdError::Malformed));
    }

    #[test]
    fn garbage_and_out_of_range_are_refused() {
        for bad in [
            "",
            "abc",
            "0",
            "4294967295",
            "0236374747",
            "[U:1:]",
            "STEAM_0:2:5",
            "STEAM_0:1",
            "STEAM_0:0:0",
            "https://example.com/players/5",
            "https://DOTABUFF.com/players/5",
            "https://dotabuff.com/players/5/ x",
            "-5",
            "76561197960265728",
            "76561202255233023",
        ] {
            assert_eq!(parse(bad), Err(SteamIdError::Malformed), "{bad}");
        }
        // Bounds worked by hand: the largest account 4294967294 is 2 × 2147483647 and 2 × 2147483646 + 1 … + 1.
        assert_eq!(parse("STEAM_0:0:2147483647"), Ok(STEAM_ID64_OFFSET + 4_294_967_294));
        assert_eq!(parse("STEAM_0:1:2147483647"), Err(SteamIdError::Malformed));
        assert_eq!(parse("STEAM_0:1:0"), Ok(STEAM_ID64_OFFSET + 1));
        assert_eq!(from_number(ID64), Ok(ID64));
        assert_eq!(from_number(236_374_747), Ok(ID64));
    }

    /// Strings near the accepted forms: each valid form, cut, extended and with single characters changed.
    fn near_misses() -> Vec<String> {
        let seeds = [
            "76561198196640475",
            "76561197960265729",
            "76561202255233022",
            "4294967294",
            "1",
            "[U:1:4294967294]",
            "STEAM_1:0:2147483647",
            "STEAM_0:1:2147483646",
            "STEAM_0:1:0",
            "http://www.steamcommunity.com/profiles/76561198196640475#x",
            "dotabuff.com/players/236374747/",
            "opendota.com/players/9?x=1",
            "www.stratz.com/players/76561198196640475",
            "https://steamcommunity.com/id/some_name-1/",
            "some_name",
            " 5\t",
        ];
        let alphabet = ['0', '1', '5', '9', ':', '/', '?', '#', ' ', '\n', 'a', 'Z', '_', '-', '[', ']', '.', 'é'];
        let mut out = Vec::new();
        for seed in seeds {
            let chars: Vec<char> = seed.chars().collect();
            out.push(seed.to_owned());
            for i in 0..=chars.len() {
                out.push(chars[..i].iter().collect());
                out.push(chars[i..].iter().collect());
                for c in alphabet {
                    let mut inserted = chars.clone();
                    inserted.insert(i, c);
                    out.push(inserted.iter().collect());
                    if i < chars.len() {
                        let mut changed = chars.clone();
                        changed[i] = c;
                        out.push(changed.iter().collect());
                    }
                }
            }
        }
        // Numbers around every bound.
        for n in [0_i64, 1, 9, 10, 4_294_967_294, 4_294_967_295, 2_147_483_646, 2_147_483_647, 2_147_483_648] {
            for d in -2..=2 {
                for form in ["{}", "[U:1:{}]", "STEAM_0:0:{}", "STEAM_0:1:{}"] {
                    out.push(form.replace("{}", &(n + d).to_string()));
                }
                out.push((STEAM_ID64_OFFSET + n + d).to_string());
            }
        }
        out
    }

    /// The published patterns accept exactly what the parsers accept.
    #[test]
    fn the_patterns_agree_with_the_parsers() {
        let ids = regex::Regex::new(&steam_id_pattern()).unwrap();
        let lookups = regex::Regex::new(&lookup_pattern()).unwrap();
        let cases = near_misses();
        assert!(cases.len() > 5000);
        for case in &cases {
            assert_eq!(ids.is_match(case), parse(case).is_ok(), "steam id {case:?}");
            assert_eq!(lookups.is_match(case), parse_lookup(case).is_ok(), "lookup {case:?}");
        }
    }
}
