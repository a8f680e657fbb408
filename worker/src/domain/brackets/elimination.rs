//! Elimination brackets as pure functions (SPEC §17): the standard seed
//! layout, single and double elimination graphs with byes collapsed (no game
//! ever waits on a bye), and the placement of a team knocked out by a game.
//!
//! A layout is built for P = the next power of two ≥ the number of teams,
//! every slot fed by a source (a seed, or the winner or loser of another
//! game); seeds above N are byes. Then, in the order games depend on each
//! other, a game with a missing input is removed and its one real input
//! passes straight to where its winner would have gone — so a top seed
//! starts in round 2 and a losers' game never waits on a team that cannot
//! come.

use std::collections::BTreeMap;

use entity::BracketType;

/// Which side of a game a team plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Slot {
    Radiant,
    Dire,
}

impl Slot {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Radiant => "radiant",
            Self::Dire => "dire",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "radiant" => Some(Self::Radiant),
            "dire" => Some(Self::Dire),
            _ => None,
        }
    }
}

/// The standard seed order of a bracket of `size` (a power of two): the
/// round-1 games are `(order[0], order[1])`, `(order[2], order[3])`, …;
/// seeds of every pair add up to size + 1, and seeds 1 and 2 sit in
/// opposite halves (they can only meet in the final).
pub fn seed_order(size: usize) -> Vec<usize> {
    let mut order = vec![1];
    let mut n = 1;
    while n < size {
        n *= 2;
        order = order.iter().flat_map(|&s| [s, n + 1 - s]).collect();
    }
    order
}

/// Where a slot's team comes from, while building.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Seed(usize),
    WinnerOf(usize),
    LoserOf(usize),
    /// Nobody will come (a bye, or a removed game's loser).
    Nobody,
}

/// One game of a generated bracket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GameSpec {
    pub bracket: BracketType,
    /// 1-based within its bracket (the grand final and its reset are rounds 1 and 2).
    pub round: i32,
    /// 0-based within its round.
    pub position: i32,
    /// The seeds playing from the start, by slot.
    pub seeds: [Option<usize>; 2],
    /// Where the winner goes (index into the bracket's games).
    pub next: Option<(usize, Slot)>,
    /// Where the loser goes (double elimination).
    pub loser_next: Option<(usize, Slot)>,
}

/// A generated bracket: its games, and which is the last one (the final, or
/// the grand final; a reset follows it when enabled).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub games: Vec<GameSpec>,
}

struct Draft {
    bracket: BracketType,
    round: i32,
    inputs: [Source; 2],
}

/// Builds the full graph for `size` slots; returns the games in dependency order.
fn full_graph(size: usize, double: bool, reset: bool) -> Vec<Draft> {
    let order = seed_order(size);
    let rounds = size.trailing_zeros() as i32;
    let mut games: Vec<Draft> = Vec::new();
    let mut winners: Vec<Vec<usize>> = Vec::new();
    for r in 1..=rounds {
        let count = size >> r;
        let mut ids = Vec::with_capacity(count);
        for p in 0..count {
            let inputs = if r == 1 {
                [Source::Seed(order[2 * p]), Source::Seed(order[2 * p + 1])]
            } else {
                let prev = &winners[(r - 2) as usize];
                [Source::WinnerOf(prev[2 * p]), Source::WinnerOf(prev[2 * p + 1])]
            };
            games.push(Draft { bracket: BracketType::Winners, round: r, inputs });
            ids.push(games.len() - 1);
        }
        winners.push(ids);
    }
    let winners_final = winners[(rounds - 1) as usize][0];
    if !double {
        return games;
    }
    // Losers' bracket: round 1 pairs the round-1 losers; each even round takes
    // the losers dropping from the next winners' round (crossed, so early
    // opponents do not meet again at once); each odd round halves.
    let mut champion = Source::LoserOf(winners_final);
    let mut previous: Vec<usize> = Vec::new();
    for lr in 1..=(2 * (rounds - 1)) {
        let mut ids = Vec::new();
        if lr == 1 {
            let first = &winners[0];
            for p in 0..first.len() / 2 {
                let inputs = [Source::LoserOf(first[2 * p]), Source::LoserOf(first[2 * p + 1])];
                games.push(Draft { bracket: BracketType::Losers, round: lr, inputs });
                ids.push(games.len() - 1);
            }
        } else if lr % 2 == 0 {
            let dropping = &winners[(lr / 2) as usize];
            let crossed: Vec<usize> =
                if (lr / 2) % 2 == 1 { dropping.iter().rev().copied().collect() } else { dropping.clone() };
            for (p, from_winners) in crossed.iter().enumerate() {
                let inputs = [Source::WinnerOf(previous[p]), Source::LoserOf(*from_winners)];
                games.push(Draft { bracket: BracketType::Losers, round: lr, inputs });
                ids.push(games.len() - 1);
            }
        } else {
            for p in 0..previous.len() / 2 {
                let inputs = [Source::WinnerOf(previous[2 * p]), Source::WinnerOf(previous[2 * p + 1])];
                games.push(Draft { bracket: BracketType::Losers, round: lr, inputs });
                ids.push(games.len() - 1);
            }
        }
        previous = ids;
        champion = Source::WinnerOf(previous[0]);
    }
    games.push(Draft {
        bracket: BracketType::GrandFinals,
        round: 1,
        inputs: [Source::WinnerOf(winners_final), champion],
    });
    let grand_final = games.len() - 1;
    if reset {
        // Played only when the losers' champion wins the first grand final;
        // the same two teams, same sides.
        games.push(Draft {
            bracket: BracketType::GrandFinals,
            round: 2,
            inputs: [Source::WinnerOf(grand_final), Source::LoserOf(grand_final)],
        });
    }
    games
}

/// The bracket of `teams` teams (≥ 2): single or double elimination, with
/// an optional grand-final reset.
pub fn layout(teams: usize, double: bool, reset: bool) -> Layout {
    let size = teams.max(2).next_power_of_two();
    let drafts = full_graph(size, double, reset && double);
    // Collapse: resolve each input through removed games.
    let mut forward: BTreeMap<usize, Source> = BTreeMap::new();
    let mut kept: Vec<usize> = Vec::new();
    let mut resolved: Vec<[Source; 2]> = Vec::with_capacity(drafts.len());
    for (id, draft) in drafts.iter().enumerate() {
        let inputs = draft.inputs.map(|source| match source {
            Source::Seed(s) if s <= teams => Source::Seed(s),
            Source::Seed(_) | Source::Nobody => Source::Nobody,
            Source::WinnerOf(g) => forward.get(&g).copied().unwrap_or(Source::WinnerOf(g)),
            Source::LoserOf(g) if forward.contains_key(&g) => Source::Nobody,
            Source::LoserOf(g) => Source::LoserOf(g),
        });
        resolved.push(inputs);
        match inputs {
            [Source::Nobody, Source::Nobody] => {
                forward.insert(id, Source::Nobody);
            }
            [Source::Nobody, live] | [live, Source::Nobody] => {
                forward.insert(id, live);
            }
            _ => kept.push(id),
        }
    }
    // Number the kept games per (bracket, round) and wire their links.
    let index: BTreeMap<usize, usize> = kept.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    let mut positions: BTreeMap<(u8, i32), i32> = BTreeMap::new();
    let mut games: Vec<GameSpec> = kept
        .iter()
        .map(|&id| {
            let draft = &drafts[id];
            let key = (bracket_rank(draft.bracket), draft.round);
            let position = positions.entry(key).or_default();
            let spec = GameSpec {
                bracket: draft.bracket,
                round: draft.round,
                position: *position,
                seeds: resolved[id].map(|s| if let Source::Seed(n) = s { Some(n) } else { None }),
                next: None,
                loser_next: None,
            };
            *position += 1;
            spec
        })
        .collect();
    for &id in &kept {
        for (side, input) in [Slot::Radiant, Slot::Dire].into_iter().zip(resolved[id]) {
            match input {
                Source::WinnerOf(g) => games[index[&g]].next = Some((index[&id], side)),
                Source::LoserOf(g) => games[index[&g]].loser_next = Some((index[&id], side)),
                _ => {}
            }
        }
    }
    Layout { games }
}

fn bracket_rank(b: BracketType) -> u8 {
    match b {
        BracketType::Winners => 0,
        BracketType::Losers => 1,
        BracketType::GrandFinals => 2,
        BracketType::Swiss => 3,
    }
}

/// A game as the placement rule sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node {
    pub bracket: BracketType,
    pub round: i32,
}

/// The place of a team knocked out by `game` (its loser, with nowhere to
/// go): one plus the number of teams still ahead — the loser of every later
/// game of that bracket, and in double elimination the grand finalists.
/// Teams out in the same round share the best place of their group.
pub fn knocked_out_place(game: Node, bracket: &[Node]) -> i32 {
    let later = |b: BracketType| bracket.iter().filter(|n| n.bracket == b && n.round > game.round).count() as i32;
    match game.bracket {
        // The last games of a grand final decide 1 and 2.
        BracketType::GrandFinals => 2,
        BracketType::Losers => 3 + later(BracketType::Losers),
        BracketType::Winners => 2 + later(BracketType::Winners),
        BracketType::Swiss => 0,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashMap};

    use super::*;

    #[test]
    fn seed_orders_pair_to_size_plus_one() {
        assert_eq!(seed_order(2), vec![1, 2]);
        assert_eq!(seed_order(4), vec![1, 4, 2, 3]);
        assert_eq!(seed_order(8), vec![1, 8, 4, 5, 2, 7, 3, 6]);
        for size in [2, 4, 8, 16, 32] {
            let order = seed_order(size);
            assert!(order.chunks(2).all(|pair| pair[0] + pair[1] == size + 1), "{size}: {order:?}");
            let half = size / 2;
            assert!(order[..half].contains(&1) && order[half..].contains(&2), "1 and 2 in opposite halves");
        }
    }

    /// Plays a layout with `winner_of(game, seeds)` choosing each result;
    /// returns (games played, champion, place of each seed).
    fn play(layout: &Layout, winner_of: impl Fn(usize, [usize; 2]) -> Slot) -> (usize, usize, HashMap<usize, i32>) {
        let n = layout.games.len();
        let mut slots: Vec<[Option<usize>; 2]> = layout.games.iter().map(|g| g.seeds).collect();
        let nodes: Vec<Node> = layout.games.iter().map(|g| Node { bracket: g.bracket, round: g.round }).collect();
        let mut played = 0;
        let mut places = HashMap::new();
        let mut champion = 0;
        let mut done = vec![false; n];
        while let Some(i) = (0..n).find(|&i| !done[i] && slots[i][0].is_some() && slots[i][1].is_some()) {
            let teams = [slots[i][0].unwrap(), slots[i][1].unwrap()];
            let side = winner_of(i, teams);
            let (w, l) = if side == Slot::Radiant { (teams[0], teams[1]) } else { (teams[1], teams[0]) };
            done[i] = true;
            played += 1;
            let game = &layout.games[i];
            let is_first_grand_final = game.bracket == BracketType::GrandFinals && game.round == 1;
            if is_first_grand_final && side == Slot::Radiant && game.next.is_some() {
                // The winners' champion won: no reset.
                champion = w;
                places.insert(l, 2);
                break;
            }
            match game.next {
                Some((g, s)) => slots[g][s as usize] = Some(w),
                None => champion = w,
            }
            match game.loser_next {
                Some((g, s)) => slots[g][s as usize] = Some(l),
                None => {
                    places.insert(l, knocked_out_place(nodes[i], &nodes));
                }
            }
        }
        places.insert(champion, 1);
        (played, champion, places)
    }

    fn higher_seed_wins(_: usize, seeds: [usize; 2]) -> Slot {
        if seeds[0] < seeds[1] { Slot::Radiant } else { Slot::Dire }
    }

    #[test]
    fn single_elimination_for_two_to_sixteen_teams() {
        for n in 2..=16 {
            let layout = layout(n, false, false);
            assert_eq!(layout.games.len(), n - 1, "{n} teams");
            let size = n.next_power_of_two();
            for g in layout.games.iter().filter(|g| g.round == 1) {
                let seeds: Vec<usize> = g.seeds.iter().flatten().copied().collect();
                assert_eq!(seeds.len(), 2, "no round-1 game waits on a bye ({n} teams)");
                assert_eq!(seeds[0] + seeds[1], size + 1, "{n} teams: {seeds:?}");
            }
            let (played, champion, places) = play(&layout, higher_seed_wins);
            assert_eq!((played, champion), (n - 1, 1));
            assert_eq!(places.len(), n, "every team placed");
            if n >= 2 {
                assert_eq!(places[&2], 2, "seeds 1 and 2 meet only in the final ({n} teams)");
            }
        }
    }

    #[test]
    fn double_elimination_for_two_to_sixteen_teams() {
        for n in 2..=16 {
            let layout = layout(n, true, false);
            assert_eq!(layout.games.len(), 2 * n - 2, "{n} teams");
            for g in &layout.games {
                let fed = layout.games.iter().filter(|o| o.next.map(|x| x.0) == Some(index_of(&layout, g))).count()
                    + layout.games.iter().filter(|o| o.loser_next.map(|x| x.0) == Some(index_of(&layout, g))).count()
                    + g.seeds.iter().flatten().count();
                assert_eq!(fed, 2, "every game has exactly two inputs ({n} teams, {g:?})");
            }
            let (played, champion, places) = play(&layout, higher_seed_wins);
            assert_eq!((played, champion), (2 * n - 2, 1), "{n} teams");
            assert_eq!(places.len(), n);
            assert_eq!(places[&2], 2);
        }
    }

    fn index_of(layout: &Layout, game: &GameSpec) -> usize {
        layout.games.iter().position(|g| g == game).unwrap()
    }

    #[test]
    fn a_reset_is_played_only_when_the_losers_champion_wins() {
        let layout = layout(4, true, true);
        assert_eq!(layout.games.len(), 7);
        // Upsets: seed 1 loses its first game, then wins everything through the losers' bracket.
        let (played, champion, _) = play(&layout, |i, seeds| {
            if layout.games[i].bracket == BracketType::Winners && layout.games[i].round == 1 && seeds.contains(&1) {
                if seeds[0] == 1 { Slot::Dire } else { Slot::Radiant }
            } else if seeds[0] == 1 {
                Slot::Radiant
            } else if seeds[1] == 1 {
                Slot::Dire
            } else {
                higher_seed_wins(i, seeds)
            }
        });
        assert_eq!((played, champion), (7, 1), "2N − 1 with the reset");
        let (played, _, _) = play(&layout, higher_seed_wins);
        assert_eq!(played, 6, "2N − 2 without it");
    }

    #[test]
    fn eight_team_placements_share_the_best_place_of_their_group() {
        let count = |places: &HashMap<usize, i32>| {
            let mut v: Vec<i32> = places.values().copied().collect();
            v.sort_unstable();
            v
        };
        let (_, _, single) = play(&layout(8, false, false), higher_seed_wins);
        assert_eq!(count(&single), vec![1, 2, 3, 3, 5, 5, 5, 5]);
        let (_, _, double) = play(&layout(8, true, false), higher_seed_wins);
        assert_eq!(count(&double), vec![1, 2, 3, 4, 5, 5, 7, 7]);
        // With byes: six teams, seeds 1 and 2 start in round 2.
        let six = layout(6, false, false);
        let first_round: BTreeSet<usize> =
            six.games.iter().filter(|g| g.round == 1).flat_map(|g| g.seeds.iter().flatten().copied()).collect();
        assert_eq!(first_round, BTreeSet::from([3, 4, 5, 6]));
        let (_, _, places) = play(&six, higher_seed_wins);
        assert_eq!(count(&places), vec![1, 2, 3, 3, 5, 5]);
    }
}
