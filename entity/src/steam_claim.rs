//! `steam_claims`: a player proved (Steam OpenID) a Steam id that another
//! account holds; staff decide who keeps it.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "steam_claims")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Who proved the id.
    pub user_id: i64,
    pub steam_id: i64,
    /// Who held it when the claim was made.
    pub holder_id: Option<i64>,
    pub status: crate::enums::ClaimStatus,
    pub created_at: DateTimeUtc,
    pub resolved_by: Option<i64>,
    pub resolved_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
