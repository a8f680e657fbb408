//! Seeding (SPEC §17): by team MMR (captain + members, descending; ties by
//! draft order, then id), by draft order, or a manual list of every team.

use std::collections::BTreeSet;

use crate::domain::{DomainError, DomainResult};

/// How teams are seeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seeding {
    Mmr,
    DraftOrder,
    /// Every team of the tournament, best first.
    Manual(Vec<i64>),
}

/// A team as seeding sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedTeam {
    pub id: i64,
    pub draft_order: i32,
    /// Captain + members, a missing MMR counting 0.
    pub total_mmr: i64,
}

/// The team ids, seed 1 first.
pub fn seed(teams: &[SeedTeam], seeding: &Seeding) -> DomainResult<Vec<i64>> {
    match seeding {
        Seeding::Mmr => {
            let mut sorted = teams.to_vec();
            sorted.sort_by(|a, b| {
                b.total_mmr.cmp(&a.total_mmr).then(a.draft_order.cmp(&b.draft_order)).then(a.id.cmp(&b.id))
            });
            Ok(sorted.into_iter().map(|t| t.id).collect())
        }
        Seeding::DraftOrder => {
            let mut sorted = teams.to_vec();
            sorted.sort_by(|a, b| a.draft_order.cmp(&b.draft_order).then(a.id.cmp(&b.id)));
            Ok(sorted.into_iter().map(|t| t.id).collect())
        }
        Seeding::Manual(order) => {
            let given: BTreeSet<i64> = order.iter().copied().collect();
            let all: BTreeSet<i64> = teams.iter().map(|t| t.id).collect();
            if given != all || given.len() != order.len() {
                return Err(DomainError::conflict(
                    "bad_seeds",
                    "manual seeds must list every team of the tournament exactly once",
                )
                .with_details(serde_json::json!({ "team_ids": all })));
            }
            Ok(order.clone())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn team(id: i64, draft_order: i32, total_mmr: i64) -> SeedTeam {
        SeedTeam { id, draft_order, total_mmr }
    }

    #[test]
    fn mmr_descending_ties_by_draft_order_then_id() {
        let teams = [team(1, 2, 5000), team(2, 1, 6000), team(3, 0, 5000), team(4, 0, 5000)];
        assert_eq!(seed(&teams, &Seeding::Mmr).unwrap(), vec![2, 3, 4, 1]);
        assert_eq!(seed(&teams, &Seeding::DraftOrder).unwrap(), vec![3, 4, 2, 1]);
    }

    #[test]
    fn manual_seeds_must_name_every_team_once() {
        let teams = [team(1, 0, 0), team(2, 0, 0)];
        assert_eq!(seed(&teams, &Seeding::Manual(vec![2, 1])).unwrap(), vec![2, 1]);
        assert!(seed(&teams, &Seeding::Manual(vec![2])).is_err());
        assert!(seed(&teams, &Seeding::Manual(vec![2, 2, 1])).is_err());
        assert!(seed(&teams, &Seeding::Manual(vec![2, 9])).is_err());
    }
}
