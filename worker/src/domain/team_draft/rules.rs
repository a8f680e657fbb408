//! Team-draft rules as pure functions: pick orders, the shuffle's
//! lowest-MMR-picks-next with dice tie-breaks, and the style-MMR preview.

use serde::{Deserialize, Serialize};

use entity::DraftStyle;

/// Players each team drafts besides its captain.
pub const PICKS_PER_TEAM: usize = 4;
/// A full team: captain + 4.
pub const TEAM_SIZE: usize = 5;

/// `pick_phase` of a 1-based pick among `teams` teams.
pub fn phase_of(pick_number: usize, teams: usize) -> usize {
    (pick_number - 1) / teams + 1
}

/// Which team (index into the draft-ordered teams) picks at `pick_number`
/// in a snake or normal draft.
pub fn picker(style: DraftStyle, pick_number: usize, teams: usize) -> usize {
    let phase = phase_of(pick_number, teams);
    let slot = (pick_number - 1) % teams;
    if style == DraftStyle::Snake && phase.is_multiple_of(2) { teams - 1 - slot } else { slot }
}

/// A d6, injectable so tests decide the rolls.
pub trait Dice {
    fn roll(&mut self) -> u8;
}

/// Real dice.
pub struct RandomDice;

impl Dice for RandomDice {
    fn roll(&mut self) -> u8 {
        rand::random_range(1..=6)
    }
}

/// A team as the shuffle sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeamStanding {
    pub id: i64,
    pub name: String,
    /// Captain + members, a missing MMR counting 0.
    pub mmr: i64,
    pub size: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TiedTeam {
    pub id: i64,
    pub name: String,
    pub mmr: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Roll {
    pub team_id: i64,
    pub roll: u8,
}

/// `tie_roll_data`: `{"tied_teams", "roll_rounds", "winner_id"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TieRollData {
    pub tied_teams: Vec<TiedTeam>,
    pub roll_rounds: Vec<Vec<Roll>>,
    pub winner_id: i64,
}

/// The team that picks next in a shuffle draft: the lowest total MMR among
/// teams not yet full; ties are settled by d6, the highest roll wins, tied
/// highest rolls roll again among themselves. `None` when every team is full.
pub fn shuffle_next(teams: &[TeamStanding], dice: &mut (dyn Dice + Send)) -> Option<(i64, Option<TieRollData>)> {
    let open: Vec<&TeamStanding> = teams.iter().filter(|t| t.size < TEAM_SIZE).collect();
    let lowest = open.iter().map(|t| t.mmr).min()?;
    let mut tied: Vec<&TeamStanding> = open.into_iter().filter(|t| t.mmr == lowest).collect();
    tied.sort_by_key(|t| t.id);
    if tied.len() == 1 {
        return Some((tied[0].id, None));
    }
    let tied_teams = tied.iter().map(|t| TiedTeam { id: t.id, name: t.name.clone(), mmr: t.mmr }).collect();
    let mut contenders: Vec<i64> = tied.iter().map(|t| t.id).collect();
    let mut roll_rounds = Vec::new();
    loop {
        let rolls: Vec<Roll> = contenders.iter().map(|&team_id| Roll { team_id, roll: dice.roll() }).collect();
        let best = rolls.iter().map(|r| r.roll).max().expect("contenders");
        contenders = rolls.iter().filter(|r| r.roll == best).map(|r| r.team_id).collect();
        roll_rounds.push(rolls);
        if contenders.len() == 1 {
            let winner_id = contenders[0];
            return Some((winner_id, Some(TieRollData { tied_teams, roll_rounds, winner_id })));
        }
    }
}

/// Each team's total MMR if the remaining pool were drafted greedily (best
/// MMR first) in `style` order, starting from the teams' current totals.
pub fn greedy_totals(style: DraftStyle, current: &[i64], open_slots: &[usize], pool: &[i64]) -> Vec<i64> {
    let mut totals = current.to_vec();
    let mut slots = open_slots.to_vec();
    let mut pool = pool.to_vec();
    pool.sort_unstable_by(|a, b| b.cmp(a));
    let teams = totals.len();
    let mut pick = 1;
    let mut players = pool.into_iter();
    while slots.iter().any(|s| *s > 0) && teams > 0 {
        let team = picker(style, pick, teams);
        pick += 1;
        if slots[team] == 0 {
            continue;
        }
        let Some(mmr) = players.next() else { break };
        totals[team] += mmr;
        slots[team] -= 1;
    }
    totals
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Scripted(Vec<u8>);
    impl Dice for Scripted {
        fn roll(&mut self) -> u8 {
            self.0.remove(0)
        }
    }

    fn order(style: DraftStyle, teams: usize) -> Vec<usize> {
        (1..=PICKS_PER_TEAM * teams).map(|p| picker(style, p, teams)).collect()
    }

    #[test]
    fn normal_order_repeats_every_phase() {
        assert_eq!(order(DraftStyle::Normal, 2), vec![0, 1, 0, 1, 0, 1, 0, 1]);
        assert_eq!(order(DraftStyle::Normal, 3)[..6], [0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn snake_order_reverses_even_phases() {
        assert_eq!(order(DraftStyle::Snake, 2), vec![0, 1, 1, 0, 0, 1, 1, 0]);
        assert_eq!(order(DraftStyle::Snake, 3)[..9], [0, 1, 2, 2, 1, 0, 0, 1, 2]);
        assert_eq!(order(DraftStyle::Snake, 4)[..8], [0, 1, 2, 3, 3, 2, 1, 0]);
        let five = order(DraftStyle::Snake, 5);
        assert_eq!(five.len(), 20);
        assert_eq!(five[5..10], [4, 3, 2, 1, 0]);
        for team in 0..5 {
            assert_eq!(five.iter().filter(|t| **t == team).count(), 4, "every team picks four times");
        }
    }

    #[test]
    fn phases() {
        assert_eq!((phase_of(1, 4), phase_of(4, 4), phase_of(5, 4)), (1, 1, 2));
    }

    fn team(id: i64, mmr: i64, size: usize) -> TeamStanding {
        TeamStanding { id, name: format!("T{id}"), mmr, size }
    }

    #[test]
    fn lowest_mmr_picks_without_dice() {
        let teams = [team(1, 5000, 2), team(2, 4000, 2), team(3, 3000, 5)];
        assert_eq!(shuffle_next(&teams, &mut Scripted(vec![])), Some((2, None)), "full teams are skipped");
    }

    #[test]
    fn a_two_way_tie_is_rolled() {
        let teams = [team(1, 4000, 1), team(2, 4000, 1), team(3, 6000, 1)];
        let (winner, data) = shuffle_next(&teams, &mut Scripted(vec![2, 5])).unwrap();
        assert_eq!(winner, 2);
        let data = data.unwrap();
        assert_eq!(data.roll_rounds, vec![vec![Roll { team_id: 1, roll: 2 }, Roll { team_id: 2, roll: 5 }]]);
        assert_eq!(data.tied_teams.len(), 2);
        let json = serde_json::to_value(&data).unwrap();
        assert_eq!(json["tied_teams"][0], serde_json::json!({"id": 1, "name": "T1", "mmr": 4000}));
        assert_eq!(json["winner_id"], 2);
    }

    #[test]
    fn a_three_way_tie_rerolls_the_tied_highest() {
        let teams = [team(1, 0, 1), team(2, 0, 1), team(3, 0, 1)];
        // Round 1: 6, 6, 3 → teams 1 and 2 re-roll; round 2: 4, 1 → team 1.
        let (winner, data) = shuffle_next(&teams, &mut Scripted(vec![6, 6, 3, 4, 1])).unwrap();
        assert_eq!(winner, 1);
        let rounds = data.unwrap().roll_rounds;
        assert_eq!(rounds.len(), 2);
        assert_eq!(rounds[1], vec![Roll { team_id: 1, roll: 4 }, Roll { team_id: 2, roll: 1 }]);
    }

    #[test]
    fn nobody_picks_when_all_teams_are_full() {
        assert_eq!(shuffle_next(&[team(1, 0, 5)], &mut Scripted(vec![])), None);
    }

    #[test]
    fn greedy_preview() {
        // Two teams, two slots each, pool 4000, 3000, 2000, 1000.
        assert_eq!(greedy_totals(DraftStyle::Normal, &[0, 0], &[2, 2], &[1000, 4000, 2000, 3000]), vec![6000, 4000]);
        assert_eq!(greedy_totals(DraftStyle::Snake, &[0, 0], &[2, 2], &[1000, 4000, 2000, 3000]), vec![5000, 5000]);
    }
}
