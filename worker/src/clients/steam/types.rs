//! The parts of Steam's responses we read.

use serde::Deserialize;

/// One entry of `GetMatchHistory`.
#[derive(Debug, Clone, Deserialize)]
pub struct HistoryMatch {
    pub match_id: i64,
    pub match_seq_num: Option<i64>,
    #[serde(default)]
    pub start_time: i64,
}

/// `GetMatchHistory` → `result`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct HistoryPage {
    #[serde(default)]
    pub matches: Vec<HistoryMatch>,
    pub results_remaining: Option<i64>,
}

/// A match with per-player statistics (`GetMatchHistoryBySequenceNum`,
/// `GetMatchDetails`, OpenDota `/api/matches/{id}` share these fields).
#[derive(Debug, Clone, Deserialize)]
pub struct MatchDetails {
    pub match_id: i64,
    pub match_seq_num: Option<i64>,
    #[serde(default)]
    pub radiant_win: bool,
    #[serde(default)]
    pub duration: i32,
    #[serde(default)]
    pub start_time: i64,
    #[serde(default)]
    pub game_mode: i32,
    #[serde(default)]
    pub lobby_type: i32,
    #[serde(default)]
    pub players: Vec<PlayerLine>,
}

/// One player's line of a match.
#[derive(Debug, Clone, Deserialize)]
pub struct PlayerLine {
    pub account_id: Option<i64>,
    pub player_slot: i32,
    #[serde(default)]
    pub hero_id: i32,
    #[serde(default)]
    pub kills: i32,
    #[serde(default)]
    pub deaths: i32,
    #[serde(default)]
    pub assists: i32,
    #[serde(default)]
    pub gold_per_min: i32,
    #[serde(default)]
    pub xp_per_min: i32,
    #[serde(default)]
    pub last_hits: i32,
    #[serde(default)]
    pub denies: i32,
    #[serde(default)]
    pub hero_damage: i32,
    #[serde(default)]
    pub tower_damage: i32,
    #[serde(default)]
    pub hero_healing: i32,
}

/// One account of `GetPlayerSummaries`.
#[derive(Debug, Clone, Deserialize)]
pub struct PlayerSummary {
    /// SteamID64, as Steam writes it (a string).
    pub steamid: String,
    #[serde(default)]
    pub personaname: Option<String>,
    #[serde(default)]
    pub avatarfull: Option<String>,
}
