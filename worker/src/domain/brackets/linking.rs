//! Steam matches and bracket games (SPEC §17), as pure functions: which side
//! each team's registered players sat on, the result that follows, and how
//! well a stored match fits a game (for suggestions).

use std::collections::BTreeSet;

/// A team's registered players.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roster {
    pub team_id: i64,
    pub captain: Option<i64>,
    /// User ids, captain included.
    pub members: BTreeSet<i64>,
}

/// The registered users on each side of a match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchSides {
    pub radiant: BTreeSet<i64>,
    pub dire: BTreeSet<i64>,
    pub radiant_win: bool,
}

/// How two rosters fit a match: which way round, how many of each found on
/// their side, and whether the captains were there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fit {
    /// The game's radiant team played on the match's radiant side.
    pub as_scheduled: bool,
    /// Players of the team that sat radiant found on radiant.
    pub radiant_overlap: usize,
    /// Players of the team that sat dire found on dire.
    pub dire_overlap: usize,
    pub captains_in_place: bool,
    /// Both whole rosters found on their sides.
    pub complete: bool,
}

/// How well a match fits, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tier {
    AllPlayers,
    CaptainsPlus,
    CaptainsOnly,
    Partial,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AllPlayers => "all_players",
            Self::CaptainsPlus => "captains_plus",
            Self::CaptainsOnly => "captains_only",
            Self::Partial => "partial",
        }
    }
}

fn found(roster: &Roster, side: &BTreeSet<i64>) -> usize {
    roster.members.intersection(side).count()
}

fn captain_on(roster: &Roster, side: &BTreeSet<i64>) -> bool {
    roster.captain.is_some_and(|c| side.contains(&c))
}

/// The better way round of the two teams (`radiant` = the game's radiant team).
pub fn fit(radiant: &Roster, dire: &Roster, m: &MatchSides) -> Fit {
    let scheduled = found(radiant, &m.radiant) + found(dire, &m.dire);
    let swapped = found(radiant, &m.dire) + found(dire, &m.radiant);
    let as_scheduled = scheduled >= swapped;
    let (on_radiant, on_dire) = if as_scheduled { (radiant, dire) } else { (dire, radiant) };
    let radiant_overlap = found(on_radiant, &m.radiant);
    let dire_overlap = found(on_dire, &m.dire);
    Fit {
        as_scheduled,
        radiant_overlap,
        dire_overlap,
        captains_in_place: captain_on(on_radiant, &m.radiant) && captain_on(on_dire, &m.dire),
        complete: radiant_overlap == on_radiant.members.len() && dire_overlap == on_dire.members.len(),
    }
}

impl Fit {
    pub fn tier(&self) -> Tier {
        match (self.complete, self.captains_in_place) {
            (true, _) => Tier::AllPlayers,
            (false, true) if self.radiant_overlap >= 3 && self.dire_overlap >= 3 => Tier::CaptainsPlus,
            (false, true) => Tier::CaptainsOnly,
            (false, false) => Tier::Partial,
        }
    }

    /// Whether each team had at least `min` players on its side.
    pub fn holds(&self, min: usize) -> bool {
        self.radiant_overlap >= min && self.dire_overlap >= min
    }
}

/// The winner of a game from a match: each team needs `min` of its players
/// on one side of the match, the two teams on opposite sides. The error says
/// why the match cannot decide the game.
pub fn winner(radiant: &Roster, dire: &Roster, m: &MatchSides, min: usize) -> Result<i64, String> {
    let f = fit(radiant, dire, m);
    if !f.holds(min) {
        let (on_radiant, on_dire) = if f.as_scheduled { (radiant, dire) } else { (dire, radiant) };
        return Err(format!(
            "the rosters do not match: team {} has {} of its players on radiant and team {} has {} on dire \
             (each team needs {min} on opposite sides)",
            on_radiant.team_id, f.radiant_overlap, on_dire.team_id, f.dire_overlap
        ));
    }
    let radiant_team_won = f.as_scheduled == m.radiant_win;
    Ok(if radiant_team_won { radiant.team_id } else { dire.team_id })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roster(team_id: i64, members: &[i64]) -> Roster {
        Roster { team_id, captain: members.first().copied(), members: members.iter().copied().collect() }
    }

    fn sides(radiant: &[i64], dire: &[i64], radiant_win: bool) -> MatchSides {
        MatchSides { radiant: radiant.iter().copied().collect(), dire: dire.iter().copied().collect(), radiant_win }
    }

    #[test]
    fn the_winner_follows_the_side_each_roster_sat_on() {
        let a = roster(10, &[1, 2, 3, 4, 5]);
        let b = roster(20, &[6, 7, 8, 9, 10]);
        assert_eq!(winner(&a, &b, &sides(&[1, 2, 3, 4, 5], &[6, 7, 8, 9, 10], true), 3), Ok(10));
        // Sides swapped in the lobby: A played dire, and dire won.
        assert_eq!(winner(&a, &b, &sides(&[6, 7, 8, 9, 10], &[1, 2, 3, 4, 5], false), 3), Ok(10));
        assert_eq!(winner(&a, &b, &sides(&[6, 7, 8, 9, 10], &[1, 2, 3, 4, 5], true), 3), Ok(20));
        // Two stand-ins each side: still three of each.
        assert_eq!(winner(&a, &b, &sides(&[1, 2, 3, 90, 91], &[6, 7, 8, 92, 93], false), 3), Ok(20));
        let mixed = winner(&a, &b, &sides(&[1, 2, 6, 7, 90], &[3, 8, 9, 91, 92], true), 3);
        assert!(mixed.unwrap_err().contains("do not match"));
    }

    #[test]
    fn tiers_rank_how_well_a_match_fits() {
        let a = roster(10, &[1, 2, 3, 4, 5]);
        let b = roster(20, &[6, 7, 8, 9, 10]);
        let tier = |m: MatchSides| fit(&a, &b, &m).tier();
        assert_eq!(tier(sides(&[1, 2, 3, 4, 5], &[6, 7, 8, 9, 10], true)), Tier::AllPlayers);
        assert_eq!(tier(sides(&[1, 2, 3, 4, 90], &[6, 7, 8, 91, 92], true)), Tier::CaptainsPlus);
        assert_eq!(tier(sides(&[1, 90, 91, 92, 93], &[6, 94, 95, 96, 97], true)), Tier::CaptainsOnly);
        assert_eq!(tier(sides(&[2, 3, 90, 91, 92], &[7, 8, 93, 94, 95], true)), Tier::Partial);
        let f = fit(&a, &b, &sides(&[6, 7, 8, 9, 10], &[1, 2, 3, 4, 5], true));
        assert!(!f.as_scheduled && f.radiant_overlap == 5 && f.dire_overlap == 5);
    }
}
