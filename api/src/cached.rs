//! A JSON response whose bytes may come straight from the cache, documented
//! in OpenAPI exactly like `Json<T>`.

use std::marker::PhantomData;

use bytes::Bytes;
use poem::{IntoResponse, Response};
use poem_openapi::ApiResponse;
use poem_openapi::payload::Payload;
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, MetaSchemaRef, Registry};
use poem_openapi::types::{ToJSON, Type};

const CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// Serialized `T`.
pub struct CachedJson<T>(Bytes, PhantomData<fn() -> T>);

impl<T: ToJSON> CachedJson<T> {
    /// Serializes a value, for storing in the cache.
    pub fn encode(value: &T) -> Bytes {
        Bytes::from(serde_json::to_vec(&value.to_json()).expect("JSON values serialize"))
    }
}

impl<T> CachedJson<T> {
    /// Bytes previously made by [`CachedJson::encode`] of a `T`.
    pub fn from_bytes(bytes: Bytes) -> Self {
        Self(bytes, PhantomData)
    }
}

impl<T: Type> Payload for CachedJson<T> {
    const CONTENT_TYPE: &'static str = CONTENT_TYPE;

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T> IntoResponse for CachedJson<T> {
    fn into_response(self) -> Response {
        Response::builder().content_type(CONTENT_TYPE).body(self.0)
    }
}

impl<T: Type> ApiResponse for CachedJson<T> {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "",
                status: Some(200),
                status_range: None,
                content: vec![MetaMediaType { content_type: CONTENT_TYPE, schema: T::schema_ref() }],
                headers: vec![],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

/// Serves `key` of `namespace` from the cache when `cacheable` (the caller
/// validated what the key is made of), else straight from `load`: a key an
/// outsider can vary at will must never reach the cache.
pub async fn cached_if<T, F, Fut>(
    cacheable: bool,
    cache: &worker::infra::cache::Cache,
    namespace: &str,
    key: &str,
    ttl: std::time::Duration,
    load: F,
) -> crate::error::ApiResult<CachedJson<T>>
where
    T: ToJSON,
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = crate::error::ApiResult<T>>,
{
    if cacheable {
        cached(cache, namespace, key, ttl, load).await
    } else {
        Ok(CachedJson::from_bytes(CachedJson::encode(&load().await?)))
    }
}

/// Serves `key` of `namespace` from the cache, or from `load` (then cached).
pub async fn cached<T, F, Fut>(
    cache: &worker::infra::cache::Cache,
    namespace: &str,
    key: &str,
    ttl: std::time::Duration,
    load: F,
) -> crate::error::ApiResult<CachedJson<T>>
where
    T: ToJSON,
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = crate::error::ApiResult<T>>,
{
    let bytes =
        cache.get_or_load(namespace, key, ttl, || async move { load().await.map(|v| CachedJson::encode(&v)) }).await?;
    Ok(CachedJson::from_bytes(bytes))
}
