//! Steam ids as people paste them (SPEC §18): a SteamID64, a 32-bit account
//! ("friend") id, `[U:1:N]`, `STEAM_X:Y:Z`, or a profile URL of
//! steamcommunity.com/profiles, Dotabuff, OpenDota or STRATZ — all become
//! the SteamID64. A `steamcommunity.com/id/<name>` vanity URL needs a Steam
//! call, which a write never makes: it is refused with a pointer to
//! `GET /api/steam/resolve`.

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

fn digits(s: &str) -> Option<i64> {
    (!s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
}

/// Parses any accepted form into a SteamID64.
pub fn parse(input: &str) -> Result<i64, SteamIdError> {
    let s = input.trim();
    if let Some(n) = digits(s) {
        return from_number(n);
    }
    // [U:1:N]
    if let Some(inner) = s.strip_prefix("[U:1:").and_then(|r| r.strip_suffix(']')) {
        return digits(inner).ok_or(SteamIdError::Malformed).and_then(from_account);
    }
    // STEAM_X:Y:Z → account = 2Z + Y
    if let Some(rest) = s.strip_prefix("STEAM_") {
        let parts: Vec<&str> = rest.split(':').collect();
        if let [universe, y, z] = parts[..]
            && matches!(universe, "0" | "1")
            && matches!(y, "0" | "1")
            && let (Some(y), Some(z)) = (digits(y), digits(z))
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

/// steamcommunity.com/profiles/<id64>, steamcommunity.com/id/<vanity>,
/// dotabuff.com/players/<account>, opendota.com/players/<account>,
/// stratz.com/players/<account> (with or without scheme and `www.`).
fn profile_url(s: &str) -> Result<i64, SteamIdError> {
    let without_scheme = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://")).unwrap_or(s);
    let without_query = without_scheme.split(['?', '#']).next().unwrap_or_default();
    let mut parts = without_query.split('/').filter(|p| !p.is_empty());
    let host = parts.next().unwrap_or_default().to_ascii_lowercase();
    let host = host.strip_prefix("www.").unwrap_or(&host);
    let (section, value) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    match (host, section) {
        ("steamcommunity.com", "profiles") => digits(value).ok_or(SteamIdError::Malformed).and_then(from_number),
        ("steamcommunity.com", "id") if !value.is_empty() => Err(SteamIdError::Vanity(value.to_owned())),
        ("dotabuff.com" | "opendota.com" | "stratz.com", "players") => {
            digits(value).ok_or(SteamIdError::Malformed).and_then(from_number)
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
            "  236374747  ",
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
    }

    #[test]
    fn garbage_and_out_of_range_are_refused() {
        for bad in [
            "",
            "abc",
            "0",
            "4294967295",
            "[U:1:]",
            "STEAM_0:2:5",
            "STEAM_0:1",
            "https://example.com/players/5",
            "-5",
            "76561197960265728",
        ] {
            assert_eq!(parse(bad), Err(SteamIdError::Malformed), "{bad}");
        }
        assert_eq!(from_number(ID64), Ok(ID64));
        assert_eq!(from_number(236_374_747), Ok(ID64));
    }
}
