//! `recalculate_league_mmr {steam_league_id?} | {user_id?}`: MMR only, from the
//! stored stats; with neither, every league.

use entity::league;
use sea_orm::EntityTrait;
use serde_json::json;

use crate::jobs::JobError;
use crate::jobs::payload::RecalculateLeagueMmr;
use crate::runtime::context::JobContext;

impl RecalculateLeagueMmr {
    pub async fn run(&self, ctx: &JobContext) -> Result<serde_json::Value, JobError> {
        if let Some(user_id) = self.user_id {
            let txn = crate::infra::db::write_txn(&ctx.db).await?;
            let changed = crate::domain::stats::refresh_league_mmr(
                &txn,
                &[user_id],
                crate::domain::stats::mmr_config(ctx).min_games,
            )
            .await?;
            txn.commit().await?;
            return Ok(json!({ "user_id": user_id, "league_mmr_updated": changed }));
        }
        let leagues = match self.steam_league_id {
            Some(id) => vec![id],
            None => league::Entity::find().all(&ctx.db).await?.into_iter().map(|l| l.steam_league_id).collect(),
        };
        let mut results = Vec::new();
        for id in leagues {
            results.push(crate::domain::stats::recalculate_league(ctx, id).await?);
        }
        Ok(json!({ "leagues": results }))
    }
}
