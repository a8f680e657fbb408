//! Steam id arithmetic (SPEC §7.1).

/// SteamID64 = account id + this offset.
pub const STEAM_ID64_OFFSET: i64 = 76_561_197_960_265_728;

/// The account id Steam reports for a player with a private profile.
pub const PRIVATE_ACCOUNT_ID: i64 = 4_294_967_295;

/// The 32-bit account id of a SteamID64.
pub fn account_id_of(steam_id64: i64) -> i64 {
    steam_id64 - STEAM_ID64_OFFSET
}

/// The SteamID64 of an account id, or `None` for a private profile.
pub fn steam_id64_of(account_id: i64) -> Option<i64> {
    (account_id != PRIVATE_ACCOUNT_ID && account_id >= 0).then(|| account_id + STEAM_ID64_OFFSET)
}

/// Whether a number is a plausible individual SteamID64 (universe 1, individual account).
pub fn is_valid_steam_id64(steam_id64: i64) -> bool {
    (STEAM_ID64_OFFSET..STEAM_ID64_OFFSET + PRIVATE_ACCOUNT_ID).contains(&steam_id64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_both_ways() {
        assert_eq!(account_id_of(76_561_198_000_000_000), 39_734_272);
        assert_eq!(steam_id64_of(39_734_272), Some(76_561_198_000_000_000));
    }

    #[test]
    fn private_profiles_have_no_steam_id() {
        assert_eq!(steam_id64_of(PRIVATE_ACCOUNT_ID), None);
        assert_eq!(steam_id64_of(-1), None);
    }

    #[test]
    fn validates_range() {
        assert!(is_valid_steam_id64(76_561_198_000_000_000));
        assert!(!is_valid_steam_id64(12345));
        assert!(!is_valid_steam_id64(STEAM_ID64_OFFSET + PRIVATE_ACCOUNT_ID));
    }
}
