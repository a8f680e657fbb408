//! `recalculate_league_mmr {league_id?} | {user_id?}`: MMR only, from the
//! stored stats; with neither, every league.

use entity::league;
use sea_orm::EntityTrait;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::context::JobContext;
use crate::error::JobError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecalculateLeagueMmr {
    /// Steam league id.
    #[serde(default)]
    pub league_id: Option<i64>,
    #[serde(default)]
    pub user_id: Option<i64>,
}

impl RecalculateLeagueMmr {
    pub async fn run(&self, ctx: &JobContext) -> Result<serde_json::Value, JobError> {
        if let Some(user_id) = self.user_id {
            let txn = crate::infra::write_txn(&ctx.db).await?;
            let changed =
                crate::stats::refresh_league_mmr(&txn, &[user_id], crate::stats::mmr_config(ctx).min_games).await?;
            txn.commit().await?;
            return Ok(json!({ "user_id": user_id, "league_mmr_updated": changed }));
        }
        let leagues = match self.league_id {
            Some(id) => vec![id],
            None => league::Entity::find().all(&ctx.db).await?.into_iter().map(|l| l.steam_league_id).collect(),
        };
        let mut results = Vec::new();
        for id in leagues {
            results.push(crate::stats::recalculate_league(ctx, id).await?);
        }
        Ok(json!({ "leagues": results }))
    }
}
