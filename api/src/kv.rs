//! Expiring key/value entries — sessions and OAuth states. Redis in
//! distributed mode; the `kv_entries` table in embedded mode, so sessions
//! survive a restart either way.

use std::time::Duration;

use chrono::Utc;
use entity::kv_entry;
use redis::AsyncCommands;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};

use crate::error::ApiResult;

#[derive(Clone)]
pub enum KvStore {
    Db(DatabaseConnection),
    Redis { conn: redis::aio::ConnectionManager, prefix: String },
}

impl KvStore {
    pub async fn put(&self, key: &str, value: &str, ttl: Duration) -> ApiResult<()> {
        match self {
            Self::Db(db) => {
                let expires_at = Utc::now() + chrono::Duration::from_std(ttl).unwrap_or_default();
                kv_entry::Entity::insert(kv_entry::ActiveModel {
                    key: Set(key.to_owned()),
                    value: Set(value.to_owned()),
                    expires_at: Set(expires_at),
                })
                .on_conflict(
                    OnConflict::column(kv_entry::Column::Key)
                        .update_columns([kv_entry::Column::Value, kv_entry::Column::ExpiresAt])
                        .to_owned(),
                )
                .exec(db)
                .await?;
                // Expired rows are never read; sweep them now and then.
                if rand::random::<u8>() == 0 {
                    kv_entry::Entity::delete_many().filter(kv_entry::Column::ExpiresAt.lt(Utc::now())).exec(db).await?;
                }
            }
            Self::Redis { conn, prefix } => {
                let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
                conn.clone().pset_ex::<_, _, ()>(format!("{prefix}:kv:{key}"), value, ms).await?;
            }
        }
        Ok(())
    }

    /// Stores an entry unless a live one holds the key; false if one did
    /// (of two concurrent callers only one stores it).
    pub async fn put_new(&self, key: &str, value: &str, ttl: Duration) -> ApiResult<bool> {
        match self {
            Self::Db(db) => {
                kv_entry::Entity::delete_many()
                    .filter(kv_entry::Column::Key.eq(key))
                    .filter(kv_entry::Column::ExpiresAt.lte(Utc::now()))
                    .exec(db)
                    .await?;
                let expires_at = Utc::now() + chrono::Duration::from_std(ttl).unwrap_or_default();
                let row = kv_entry::ActiveModel {
                    key: Set(key.to_owned()),
                    value: Set(value.to_owned()),
                    expires_at: Set(expires_at),
                };
                let inserted = kv_entry::Entity::insert(row)
                    .on_conflict(OnConflict::column(kv_entry::Column::Key).do_nothing().to_owned())
                    .exec_without_returning(db)
                    .await?;
                Ok(inserted == 1)
            }
            Self::Redis { conn, prefix } => {
                let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
                let options = redis::SetOptions::default()
                    .conditional_set(redis::ExistenceCheck::NX)
                    .with_expiration(redis::SetExpiry::PX(ms));
                let set: Option<String> =
                    conn.clone().set_options(format!("{prefix}:kv:{key}"), value, options).await?;
                Ok(set.is_some())
            }
        }
    }

    pub async fn get(&self, key: &str) -> ApiResult<Option<String>> {
        Ok(match self {
            Self::Db(db) => kv_entry::Entity::find_by_id(key.to_owned())
                .filter(kv_entry::Column::ExpiresAt.gt(Utc::now()))
                .one(db)
                .await?
                .map(|row| row.value),
            Self::Redis { conn, prefix } => conn.clone().get(format!("{prefix}:kv:{key}")).await?,
        })
    }

    /// Reads and deletes an entry; of two concurrent takers only one gets it.
    pub async fn take(&self, key: &str) -> ApiResult<Option<String>> {
        match self {
            Self::Db(db) => {
                let Some(value) = self.get(key).await? else { return Ok(None) };
                let deleted = kv_entry::Entity::delete_by_id(key.to_owned()).exec(db).await?;
                Ok((deleted.rows_affected == 1).then_some(value))
            }
            Self::Redis { conn, prefix } => Ok(conn.clone().get_del(format!("{prefix}:kv:{key}")).await?),
        }
    }

    pub async fn delete(&self, key: &str) -> ApiResult<()> {
        match self {
            Self::Db(db) => {
                kv_entry::Entity::delete_by_id(key.to_owned()).exec(db).await?;
            }
            Self::Redis { conn, prefix } => {
                conn.clone().del::<_, ()>(format!("{prefix}:kv:{key}")).await?;
            }
        }
        Ok(())
    }
}
