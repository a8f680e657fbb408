//! Swiss rounds as pure functions (SPEC §17): round 1 pairs seed i with seed
//! i + N/2; every later round pairs teams with equal records, never twice
//! the same pair, moving as few teams as possible between score groups; an
//! odd team out gets a bye that counts as a win (at most one each).
//! Standings: wins, then Buchholz (the sum of opponents' wins), then seed.

use std::collections::{BTreeMap, BTreeSet};

/// A team as the pairing sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub team: i64,
    /// 1 = best.
    pub seed: usize,
    pub wins: u32,
    pub losses: u32,
    /// Teams already met.
    pub opponents: BTreeSet<i64>,
    pub had_bye: bool,
}

/// A round's pairings: (radiant, dire) and the bye, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Round {
    pub pairs: Vec<(i64, i64)>,
    pub bye: Option<i64>,
}

/// The number of rounds when none is given: ⌈log2 teams⌉.
pub fn default_rounds(teams: usize) -> u32 {
    teams.max(2).next_power_of_two().trailing_zeros()
}

/// Round 1: seed i against seed i + N/2; with an odd count the last seed
/// sits out with a bye.
pub fn first_round(seeded: &[i64]) -> Round {
    let (playing, bye) =
        if seeded.len() % 2 == 1 { (&seeded[..seeded.len() - 1], seeded.last().copied()) } else { (seeded, None) };
    let half = playing.len() / 2;
    Round { pairs: (0..half).map(|i| (playing[i], playing[i + half])).collect(), bye }
}

/// Ranks teams: wins, Buchholz, seed.
pub fn standings(records: &[Record]) -> Vec<(i64, u32)> {
    let wins: BTreeMap<i64, u32> = records.iter().map(|r| (r.team, r.wins)).collect();
    let mut ranked: Vec<(&Record, u32)> = records
        .iter()
        .map(|r| (r, r.opponents.iter().map(|o| wins.get(o).copied().unwrap_or(0)).sum::<u32>()))
        .collect();
    ranked.sort_by(|(a, ab), (b, bb)| b.wins.cmp(&a.wins).then(bb.cmp(ab)).then(a.seed.cmp(&b.seed)));
    ranked.into_iter().map(|(r, buchholz)| (r.team, buchholz)).collect()
}

/// A later round from the records so far; `None` when no pairing without a
/// rematch exists.
pub fn next_round(records: &[Record]) -> Option<Round> {
    let mut order: Vec<&Record> = records.iter().collect();
    order.sort_by(|a, b| b.wins.cmp(&a.wins).then(a.seed.cmp(&b.seed)));
    let mut bye = None;
    if order.len() % 2 == 1 {
        // The lowest-ranked team that has not had a bye sits out.
        let at = order.iter().rposition(|r| !r.had_bye)?;
        bye = Some(order.remove(at).team);
    }
    let mut pairs = Vec::new();
    pair(&order, &mut vec![false; order.len()], &mut pairs).then_some(Round { pairs, bye })
}

/// Depth-first: the best unpaired team takes the closest-ranked partner it
/// has not met (its own score group first), backtracking when the rest
/// cannot be paired — so floats between groups are as few as possible.
fn pair(order: &[&Record], used: &mut Vec<bool>, pairs: &mut Vec<(i64, i64)>) -> bool {
    let Some(first) = used.iter().position(|u| !*u) else { return true };
    used[first] = true;
    let mut candidates: Vec<usize> = (first + 1..order.len()).filter(|&i| !used[i]).collect();
    candidates.sort_by_key(|&i| (order[first].wins.abs_diff(order[i].wins), i));
    for i in candidates {
        if order[first].opponents.contains(&order[i].team) {
            continue;
        }
        used[i] = true;
        pairs.push((order[first].team, order[i].team));
        if pair(order, used, pairs) {
            return true;
        }
        pairs.pop();
        used[i] = false;
    }
    used[first] = false;
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(n: usize) -> Vec<Record> {
        (1..=n)
            .map(|s| Record { team: s as i64, seed: s, wins: 0, losses: 0, opponents: BTreeSet::new(), had_bye: false })
            .collect()
    }

    /// Plays `rounds` rounds where the better seed always wins.
    fn play(n: usize, rounds: u32) -> Vec<Record> {
        let mut recs = records(n);
        let seeded: Vec<i64> = recs.iter().map(|r| r.team).collect();
        let mut round = first_round(&seeded);
        for r in 0..rounds {
            for &(a, b) in &round.pairs {
                let (w, l) = if a < b { (a, b) } else { (b, a) };
                let ia = recs.iter().position(|x| x.team == w).unwrap();
                let ib = recs.iter().position(|x| x.team == l).unwrap();
                assert!(!recs[ia].opponents.contains(&l), "no rematch");
                recs[ia].wins += 1;
                recs[ib].losses += 1;
                recs[ia].opponents.insert(l);
                recs[ib].opponents.insert(w);
            }
            if let Some(b) = round.bye {
                let i = recs.iter().position(|x| x.team == b).unwrap();
                assert!(!recs[i].had_bye, "at most one bye each");
                recs[i].wins += 1;
                recs[i].had_bye = true;
            }
            if r + 1 < rounds {
                round = next_round(&recs).expect("a pairing exists");
            }
        }
        recs
    }

    #[test]
    fn round_one_pairs_i_with_i_plus_half() {
        assert_eq!(first_round(&[1, 2, 3, 4, 5, 6, 7, 8]).pairs, vec![(1, 5), (2, 6), (3, 7), (4, 8)]);
        let odd = first_round(&[1, 2, 3, 4, 5, 6, 7]);
        assert_eq!((odd.pairs, odd.bye), (vec![(1, 4), (2, 5), (3, 6)], Some(7)));
        assert_eq!(default_rounds(8), 3);
        assert_eq!(default_rounds(7), 3);
    }

    #[test]
    fn eight_teams_three_rounds_end_in_the_binomial_records() {
        let recs = play(8, 3);
        let mut records: Vec<(u32, u32)> = recs.iter().map(|r| (r.wins, r.losses)).collect();
        records.sort_unstable();
        assert_eq!(records, vec![(0, 3), (1, 2), (1, 2), (1, 2), (2, 1), (2, 1), (2, 1), (3, 0)]);
    }

    #[test]
    fn seven_teams_give_each_bye_once() {
        let recs = play(7, 3);
        assert_eq!(recs.iter().filter(|r| r.had_bye).count(), 3, "one bye per round, never twice");
        assert_eq!(recs.iter().map(|r| r.wins + r.losses).sum::<u32>(), 3 * 6 + 3);
    }

    #[test]
    fn equal_records_meet() {
        let mut recs = records(4);
        for (w, l) in [(1, 3), (2, 4)] {
            recs[w - 1].wins = 1;
            recs[w - 1].opponents.insert(l as i64);
            recs[l - 1].losses = 1;
            recs[l - 1].opponents.insert(w as i64);
        }
        let round = next_round(&recs).unwrap();
        assert_eq!(round.pairs, vec![(1, 2), (3, 4)]);
    }

    #[test]
    fn standings_break_ties_by_buchholz_then_seed() {
        // (team = seed, wins, opponents), worked by hand:
        // Buchholz 1 → w4 + w2 = 0 + 2 = 2; 3 → w2 + w5 = 2 + 1 = 3; 5 → w3 = 1; 6 → w2 = 2 (seed 6 after 1).
        let rows: [(i64, u32, &[i64]); 6] =
            [(1, 1, &[4, 2]), (2, 2, &[1, 3]), (3, 1, &[2, 5]), (4, 0, &[1]), (5, 1, &[3]), (6, 1, &[2])];
        let recs: Vec<Record> = rows
            .iter()
            .map(|(team, wins, opponents)| Record {
                team: *team,
                seed: *team as usize,
                wins: *wins,
                losses: 0,
                opponents: opponents.iter().copied().collect(),
                had_bye: false,
            })
            .collect();
        let ranked: Vec<(i64, u32)> = standings(&recs);
        assert_eq!(ranked, vec![(2, 2), (3, 3), (1, 2), (6, 2), (5, 1), (4, 1)]);
    }
}
