//! `auto_link_games {steam_league_id}`: after a sync stored new matches, every
//! waiting game of the league's running tournaments whose two rosters played
//! exactly one new match is linked to it and gets its result
//! (`domain::brackets::service::auto_link`); its result names the games it
//! left and why.

use serde_json::json;

use crate::jobs::JobError;
use crate::jobs::payload::AutoLinkGames;
use crate::runtime::context::JobContext;

impl AutoLinkGames {
    pub async fn run(&self, ctx: &JobContext) -> Result<serde_json::Value, JobError> {
        let done = crate::domain::brackets::service::auto_link(&ctx.services(), self.steam_league_id).await?;
        Ok(
            json!({ "steam_league_id": self.steam_league_id, "linked_games": done.linked_games, "left_games": done.left_games }),
        )
    }
}
