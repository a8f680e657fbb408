//! Identity, for staff (SPEC §20): the audit of identity changes, and the
//! claims of players who proved a Steam id another account holds.

use chrono::{DateTime, Utc};
use entity::{ClaimStatus, identity_change, steam_claim};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::auth::Session;
use crate::error::ApiResult;
use crate::pagination::{Page, PageRequest};
use crate::routes::Tag;
use crate::state::AppState;

/// One audited change of an identity field.
#[derive(Debug, Object)]
pub struct IdentityChangeView {
    pub id: i64,
    pub user_id: i64,
    /// Who made it (null once that account is deleted).
    #[oai(nullable)]
    pub actor_id: Option<i64>,
    /// `username`, `discordId`, `steamId`, `is_staff` or `is_superuser`.
    pub field: String,
    #[oai(nullable)]
    pub old_value: Option<String>,
    #[oai(nullable)]
    pub new_value: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A proven claim to a Steam id another account holds.
#[derive(Debug, Object)]
pub struct SteamClaimView {
    pub id: i64,
    /// Who proved the id (Steam OpenID).
    pub user_id: i64,
    /// SteamID64, as a string.
    pub steam_id: String,
    /// Who held it when the claim was made.
    #[oai(nullable)]
    pub holder_id: Option<i64>,
    pub status: ClaimStatus,
    pub created_at: DateTime<Utc>,
    #[oai(nullable)]
    pub resolved_by: Option<i64>,
    #[oai(nullable)]
    pub resolved_at: Option<DateTime<Utc>>,
}

impl From<steam_claim::Model> for SteamClaimView {
    fn from(c: steam_claim::Model) -> Self {
        Self {
            id: c.id,
            user_id: c.user_id,
            steam_id: c.steam_id.to_string(),
            holder_id: c.holder_id,
            status: c.status,
            created_at: c.created_at,
            resolved_by: c.resolved_by,
            resolved_at: c.resolved_at,
        }
    }
}

pub struct IdentityApi;

#[OpenApi(tag = "Tag::Users")]
impl IdentityApi {
    /// The audited identity changes of a user, newest first (staff).
    #[oai(path = "/users/:id/identity-changes", method = "get", operation_id = "listIdentityChanges")]
    async fn changes(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        id: Path<i64>,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))] page: Query<Option<u64>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] page_size: Query<Option<u64>>,
    ) -> ApiResult<Json<Page<IdentityChangeView>>> {
        viewer.require_staff()?;
        worker::domain::users::find_user(&state.db, id.0).await?;
        let req = PageRequest::new(page.0, page_size.0);
        let select = identity_change::Entity::find()
            .filter(identity_change::Column::UserId.eq(id.0))
            .order_by_desc(identity_change::Column::Id);
        let (count, rows) = req.fetch(&state.db, select).await?;
        Ok(Json(
            req.wrap(
                count,
                rows.into_iter()
                    .map(|c| IdentityChangeView {
                        id: c.id,
                        user_id: c.user_id,
                        actor_id: c.actor_id,
                        field: c.field,
                        old_value: c.old_value,
                        new_value: c.new_value,
                        created_at: c.created_at,
                    })
                    .collect(),
            ),
        ))
    }

    /// Claims to Steam ids, oldest first, optionally by status (staff).
    #[oai(path = "/steam-claims", method = "get", operation_id = "listSteamClaims")]
    async fn claims(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        status: Query<Option<ClaimStatus>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))] page: Query<Option<u64>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] page_size: Query<Option<u64>>,
    ) -> ApiResult<Json<Page<SteamClaimView>>> {
        viewer.require_staff()?;
        let req = PageRequest::new(page.0, page_size.0);
        let mut select = steam_claim::Entity::find().order_by_asc(steam_claim::Column::Id);
        if let Some(status) = status.0 {
            select = select.filter(steam_claim::Column::Status.eq(status));
        }
        let (count, rows) = req.fetch(&state.db, select).await?;
        Ok(Json(req.wrap(count, rows.into_iter().map(Into::into).collect())))
    }

    /// Give the Steam id to the claimant: it leaves its holder (staff; a superuser when a staff account is involved).
    #[oai(path = "/steam-claims/:id/approve", method = "post", operation_id = "approveSteamClaim")]
    async fn approve(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        id: Path<i64>,
    ) -> ApiResult<Json<SteamClaimView>> {
        let actor = viewer.require_staff()?;
        Ok(Json(worker::domain::users::resolve_steam_claim(&state.services, actor, id.0, true).await?.into()))
    }

    /// Refuse a claim: the holder keeps the Steam id (staff; a superuser when a staff account is involved).
    #[oai(path = "/steam-claims/:id/reject", method = "post", operation_id = "rejectSteamClaim")]
    async fn reject(
        &self,
        state: poem::web::Data<&AppState>,
        viewer: Session,
        id: Path<i64>,
    ) -> ApiResult<Json<SteamClaimView>> {
        let actor = viewer.require_staff()?;
        Ok(Json(worker::domain::users::resolve_steam_claim(&state.services, actor, id.0, false).await?.into()))
    }
}
