//! `?page=1&page_size=20` (max 100) → `{"count", "page", "page_size", "results"}`.

use poem_openapi::Object;
use poem_openapi::types::{ParseFromJSON, ToJSON, Type};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    Select,
};

use crate::error::ApiResult;

pub const DEFAULT_PAGE_SIZE: u64 = 20;
pub const MAX_PAGE_SIZE: u64 = 100;

/// One page of a list.
#[derive(Debug, Object)]
pub struct Page<T: Type + ParseFromJSON + ToJSON> {
    /// Items in the whole list.
    pub count: u64,
    pub page: u64,
    pub page_size: u64,
    pub results: Vec<T>,
}

/// Validated paging parameters.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    pub page: u64,
    pub page_size: u64,
}

impl PageRequest {
    /// Parameters are range-checked by their OpenAPI validators already.
    pub fn new(page: Option<u64>, page_size: Option<u64>) -> Self {
        Self {
            page: page.unwrap_or(1).max(1),
            page_size: page_size.unwrap_or(DEFAULT_PAGE_SIZE).clamp(1, MAX_PAGE_SIZE),
        }
    }

    /// Whether this page may be cached: the first pages at the usual sizes,
    /// so the number of cacheable keys per list stays small.
    pub fn cacheable(&self) -> bool {
        self.page <= 20 && matches!(self.page_size, 10 | 20 | 25 | 50 | 100)
    }

    pub fn offset(&self) -> u64 {
        (self.page - 1) * self.page_size
    }

    /// Runs `select` (already ordered, with an id tiebreak) for this page.
    pub async fn fetch<E, M, C>(&self, db: &C, select: Select<E>) -> ApiResult<(u64, Vec<M>)>
    where
        E: EntityTrait<Model = M>,
        M: FromQueryResult + Send + Sync,
        C: ConnectionTrait,
    {
        let count = select.clone().count(db).await?;
        let rows = select.offset(self.offset()).limit(self.page_size).all(db).await?;
        Ok((count, rows))
    }

    pub fn wrap<T: Type + ParseFromJSON + ToJSON>(&self, count: u64, results: Vec<T>) -> Page<T> {
        Page { count, page: self.page, page_size: self.page_size, results }
    }

    /// A page of an event list (a draft's, a hero draft's, a bracket's):
    /// the rows of `owner` with ids above `after`, oldest first.
    pub async fn events<E, V, C>(
        &self,
        db: &C,
        (owner_column, owner): (E::Column, i64),
        id_column: E::Column,
        after: Option<i64>,
    ) -> ApiResult<Page<V>>
    where
        E: EntityTrait,
        E::Model: FromQueryResult + Send + Sync,
        V: From<E::Model> + Type + ParseFromJSON + ToJSON,
        C: ConnectionTrait,
    {
        let select =
            E::find().filter(owner_column.eq(owner)).filter(id_column.gt(after.unwrap_or(0))).order_by_asc(id_column);
        let (count, rows) = self.fetch(db, select).await?;
        Ok(self.wrap(count, rows.into_iter().map(Into::into).collect()))
    }
}
