//! League MMR (SPEC §8) as pure functions: deterministic, independent of
//! the order players come in.

/// Tunables; the weights sum to 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MmrConfig {
    pub min_games: i64,
    pub win_span: f64,
    pub gpm_span: f64,
    pub weight_win: f64,
    pub weight_kda: f64,
    pub weight_gpm: f64,
}

impl Default for MmrConfig {
    fn default() -> Self {
        Self { min_games: 5, win_span: 0.25, gpm_span: 0.5, weight_win: 0.40, weight_kda: 0.35, weight_gpm: 0.25 }
    }
}

/// One player's totals in one league.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Totals {
    pub user_id: i64,
    pub games_played: i64,
    pub wins: i64,
    pub kills: i64,
    pub deaths: i64,
    pub assists: i64,
    pub gpm: i64,
    pub xpm: i64,
}

/// The derived figures of a [`Totals`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Averages {
    pub win_rate: f64,
    pub avg_kills: f64,
    pub avg_deaths: f64,
    pub avg_assists: f64,
    pub avg_gpm: f64,
    pub avg_xpm: f64,
    /// `(avg_kills + avg_assists) / max(avg_deaths, 1)`.
    pub kda: f64,
}

impl Totals {
    pub fn averages(&self) -> Averages {
        if self.games_played <= 0 {
            return Averages {
                win_rate: 0.0,
                avg_kills: 0.0,
                avg_deaths: 0.0,
                avg_assists: 0.0,
                avg_gpm: 0.0,
                avg_xpm: 0.0,
                kda: 0.0,
            };
        }
        let n = self.games_played as f64;
        let (k, d, a) = (self.kills as f64 / n, self.deaths as f64 / n, self.assists as f64 / n);
        Averages {
            win_rate: self.wins as f64 / n,
            avg_kills: k,
            avg_deaths: d,
            avg_assists: a,
            avg_gpm: self.gpm as f64 / n,
            avg_xpm: self.xpm as f64 / n,
            kda: (k + a) / d.max(1.0),
        }
    }
}

fn clamp1(x: f64) -> f64 {
    x.clamp(-1.0, 1.0)
}

/// The `mmr_adjustment` of every player (same order as `players`): 0 below
/// the games minimum; otherwise the weighted, clamped comparison to the
/// league means over qualified players, rounded half away from zero.
pub fn adjustments(players: &[Totals], cfg: &MmrConfig) -> Vec<i32> {
    // Means are summed in user-id order so the result never depends on input order.
    let mut qualified: Vec<(i64, Averages)> =
        players.iter().filter(|p| p.games_played >= cfg.min_games).map(|p| (p.user_id, p.averages())).collect();
    qualified.sort_by_key(|(id, _)| *id);
    let n = qualified.len() as f64;
    let mean =
        |f: fn(&Averages) -> f64| if n > 0.0 { qualified.iter().map(|(_, a)| f(a)).sum::<f64>() / n } else { 0.0 };
    let (wr_l, kda_l, gpm_l) = (mean(|a| a.win_rate), mean(|a| a.kda), mean(|a| a.avg_gpm));
    players
        .iter()
        .map(|p| {
            if p.games_played < cfg.min_games {
                return 0;
            }
            let a = p.averages();
            let f_win = clamp1((a.win_rate - wr_l) / cfg.win_span);
            let f_kda = if kda_l > 0.0 { clamp1(a.kda / kda_l - 1.0) } else { 0.0 };
            let f_gpm = if gpm_l > 0.0 { clamp1((a.avg_gpm / gpm_l - 1.0) / cfg.gpm_span) } else { 0.0 };
            round_adjustment(500.0 * (cfg.weight_win * f_win + cfg.weight_kda * f_kda + cfg.weight_gpm * f_gpm))
        })
        .collect()
}

/// Rounds half away from zero into [-500, 500].
pub fn round_adjustment(raw: f64) -> i32 {
    // f64::round rounds half away from zero.
    raw.round().clamp(-500.0, 500.0) as i32
}

/// `mmr + best adjustment over the leagues where the user qualifies`, or
/// `None` without a base MMR or a qualifying league.
pub fn league_mmr(base_mmr: Option<i32>, qualified_adjustments: &[i32]) -> Option<i32> {
    Some(base_mmr? + *qualified_adjustments.iter().max()?)
}

/// The `avg_kda` shown in APIs: two decimals.
pub fn display_kda(kda: f64) -> f64 {
    (kda * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(user_id: i64, games: i64, wins: i64, k: i64, d: i64, a: i64, gpm: i64) -> Totals {
        Totals { user_id, games_played: games, wins, kills: k, deaths: d, assists: a, gpm, xpm: 0 }
    }

    #[test]
    fn average_player_gets_zero() {
        let players = [p(1, 10, 5, 50, 50, 50, 4000), p(2, 10, 5, 50, 50, 50, 4000)];
        assert_eq!(adjustments(&players, &MmrConfig::default()), vec![0, 0]);
    }

    #[test]
    fn weights_and_spans() {
        // League means: win rate 0.5, kda 2.0, gpm 400. Player 1: win rate 0.625 → f_win 0.5;
        // kda 3.0 → f_kda 0.5; gpm 500 → f_gpm 0.25/0.5 = 0.5 … against means including both.
        let players = [p(1, 8, 5, 16, 8, 8, 4000), p(2, 8, 3, 8, 8, 8, 2400)];
        // means: wr (0.625+0.375)/2 = 0.5; kda (3+2)/2 = 2.5; gpm (500+300)/2 = 400
        // p1: f_win = 0.125/0.25 = 0.5; f_kda = 3/2.5-1 = 0.2; f_gpm = (1.25-1)/0.5 = 0.5
        //     500*(0.2 + 0.07 + 0.125) = 197.5 in exact arithmetic (f64 lands a hair either side)
        let adj = adjustments(&players, &MmrConfig::default());
        assert!((197..=198).contains(&adj[0]), "{adj:?}");
        assert_eq!(adj[0], -adj[1], "symmetric players get opposite adjustments");
    }

    #[test]
    fn rounds_half_away_from_zero() {
        assert_eq!(round_adjustment(197.5), 198);
        assert_eq!(round_adjustment(-197.5), -198);
        assert_eq!(round_adjustment(2.49), 2);
        assert_eq!(round_adjustment(-0.5), -1);
        assert_eq!(round_adjustment(900.0), 500);
        assert_eq!(round_adjustment(-900.0), -500);
    }

    #[test]
    fn factors_are_clamped() {
        let players = [p(1, 5, 5, 100, 0, 100, 10000), p(2, 5, 0, 0, 50, 0, 100), p(3, 5, 0, 0, 50, 0, 100)];
        let adj = adjustments(&players, &MmrConfig::default());
        assert_eq!(adj[0], 500, "every factor clamps at +1");
        assert!(adj[1] < 0 && adj[1] >= -500);
    }

    #[test]
    fn below_minimum_is_zero_and_does_not_count() {
        let players = [p(1, 10, 10, 10, 10, 10, 5000), p(2, 4, 0, 0, 40, 0, 100), p(3, 10, 0, 10, 10, 10, 5000)];
        let adj = adjustments(&players, &MmrConfig::default());
        assert_eq!(adj[1], 0);
        // Player 2 is ignored in the means: players 1 and 3 differ only in wins.
        assert_eq!(adj[0], -adj[2]);
        assert_eq!(adj[0], 200, "f_win = 0.5/0.25 clamps to 1 → 0.40 × 500");
    }

    #[test]
    fn order_does_not_matter() {
        let players = [p(1, 7, 4, 30, 20, 40, 3100), p(2, 9, 3, 20, 35, 60, 2800), p(3, 6, 5, 40, 10, 20, 3900)];
        let mut reversed = players;
        reversed.reverse();
        let mut back = adjustments(&reversed, &MmrConfig::default());
        back.reverse();
        assert_eq!(adjustments(&players, &MmrConfig::default()), back);
    }

    #[test]
    fn deaths_floor_at_one() {
        let a = p(1, 2, 1, 4, 0, 2, 0).averages();
        assert_eq!(a.kda, 3.0);
        assert_eq!(display_kda(2.0 / 3.0), 0.67);
    }

    #[test]
    fn league_mmr_needs_base_and_a_qualifying_league() {
        assert_eq!(league_mmr(Some(3000), &[120, -40]), Some(3120));
        assert_eq!(league_mmr(None, &[120]), None);
        assert_eq!(league_mmr(Some(3000), &[]), None);
    }
}
