//! Data access under consent, the HTTP surface: the data gateway (`…/data/{data_type}`), the
//! proxy (`…/proxy/{*path}`), access tokens and the access log. The orchestration (the consent
//! check, tokens, the platform call, the record) is `services::access`.

use crate::api::extract::{ApiJson, ApiPath, ApiQuery, Auth, AuthKey};
use crate::error::{ApiError, Problem};
use crate::services::access::{self, Caller, ProxyRequest};
use crate::state::AppState;
use accord_domain::access::{AccessOutcome, AccessRecord};
use accord_domain::ids::AccessId;
use accord_platform::data::PageCursor;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Where the proxy's path starts in a request path, after the connection id.
const PROXY_SEGMENT: &str = "/proxy";

/// One page of a data type, or one document.
#[derive(Debug, Serialize, ToSchema)]
pub struct DataPageDto {
    /// The platform's records (a list), or its document, where the catalog points.
    pub data: Value,
    /// Opaque: pass it back as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DataQuery {
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Records per page, 1 to 100 (default 20), where the platform takes a page size.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

fn caller<'a>(tenant: &'a accord_domain::tenant::Tenant, key: &'a str) -> Caller<'a> {
    Caller {
        tenant,
        api_key_id: key,
    }
}

/// Read a data type through the connection: one page of the platform's records, only while the
/// customer's consent covers the data type for reading. Every call is recorded in the access
/// log.
#[utoipa::path(get, path = "/v1/companies/{company_id}/connections/{connection_id}/data/{data_type}", operation_id = "read_data", tag = "data",
    params(("company_id" = Uuid, Path), ("connection_id" = Uuid, Path), ("data_type" = String, Path, description = "`invoices`, `bills`, `bank-transactions`…"), DataQuery),
    responses(
        (status = 200, body = DataPageDto),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Refused under the consent; the type ends with the reason: `not_consented`, `withdrawn`, `expired`, `reconsent_required`, `deauthorized`"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json", description = "The platform is rate limiting; `Retry-After` as it sent it"),
        (status = 502, body = Problem, content_type = "application/problem+json", description = "The platform failed; its status in `platform_status`"),
        (status = 503, body = Problem, content_type = "application/problem+json", description = "The platform is unavailable; `Retry-After` as it sent it")))]
pub async fn read(
    State(state): State<AppState>,
    AuthKey(tenant, key): AuthKey,
    ApiPath((company_id, connection_id, data_type)): ApiPath<(Uuid, Uuid, String)>,
    ApiQuery(q): ApiQuery<DataQuery>,
) -> Result<Json<DataPageDto>, ApiError> {
    if q.limit.is_some_and(|l| !(1..=100).contains(&l)) {
        return Err(ApiError::invalid("limit", "must be between 1 and 100"));
    }
    let cursor = q
        .cursor
        .as_deref()
        .map(PageCursor::decode)
        .transpose()
        .map_err(|_| ApiError::invalid("cursor", "is not a cursor this API returned"))?;
    let ids = (company_id, connection_id);
    let who = caller(&tenant, &key.key_id);
    let page = access::read_data(&state, who, ids, &data_type, cursor, q.limit).await?;
    Ok(Json(DataPageDto {
        data: page.data,
        next_cursor: page.next_cursor,
    }))
}

/// Write a record of a data type through the connection (e.g. create an invoice), only while
/// the customer's consent covers the data type for writing. The body is the platform's own
/// JSON document for that record. Every call is recorded in the access log.
#[utoipa::path(post, path = "/v1/companies/{company_id}/connections/{connection_id}/data/{data_type}", operation_id = "write_data", tag = "data",
    params(("company_id" = Uuid, Path), ("connection_id" = Uuid, Path), ("data_type" = String, Path, description = "`invoices`, `bills`…")),
    request_body(content = Object, description = "The record, as the platform takes it"),
    responses(
        (status = 200, body = DataPageDto, description = "The created record in `data`"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Refused under the consent; the type ends with the reason"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
        (status = 502, body = Problem, content_type = "application/problem+json", description = "The platform refused or failed; its status in `platform_status`"),
        (status = 503, body = Problem, content_type = "application/problem+json")))]
pub async fn write(
    State(state): State<AppState>,
    AuthKey(tenant, key): AuthKey,
    ApiPath((company_id, connection_id, data_type)): ApiPath<(Uuid, Uuid, String)>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Json<DataPageDto>, ApiError> {
    let ids = (company_id, connection_id);
    let who = caller(&tenant, &key.key_id);
    let page = access::write_data(&state, who, ids, &data_type, &body).await?;
    Ok(Json(DataPageDto {
        data: page.data,
        next_cursor: page.next_cursor,
    }))
}

/// Forward a call to the platform's API with the connection's token, only for a path and
/// method the catalog maps to a data type and direction the consent covers; everything else is
/// refused (`…/problems/not_consented`). Only allow-listed headers cross, both ways. Every call
/// is recorded in the access log.
#[utoipa::path(method(get, head, post, put, patch, delete), path = "/v1/companies/{company_id}/connections/{connection_id}/proxy/{path}", operation_id = "proxy", tag = "data",
    params(("company_id" = Uuid, Path), ("connection_id" = Uuid, Path), ("path" = String, Path, description = "The platform API path, relative to its API base")),
    request_body(content = Object, description = "Passed on as sent, with its `Content-Type`"),
    responses(
        (status = 200, description = "The platform's answer: its status, body and allow-listed headers"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Refused: an unmapped path (`not_consented`), or under the consent"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
        (status = 502, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json")))]
pub async fn proxy(
    State(state): State<AppState>,
    AuthKey(tenant, key): AuthKey,
    req: Request,
) -> Result<Response, ApiError> {
    // The request is taken apart rather than copied by one extractor each: its headers move on
    // to the platform call (which keeps only the allow-listed ones), and its body is read
    // as the `Bytes` extractor reads it (its limit and its rejections unchanged).
    let (mut parts, body) = req.into_parts();
    let method = std::mem::take(&mut parts.method);
    let uri = std::mem::take(&mut parts.uri);
    let headers = std::mem::take(&mut parts.headers);
    let body = match Bytes::from_request(Request::from_parts(parts, body), &state).await {
        Ok(body) => body,
        Err(rejection) => return Ok(rejection.into_response()),
    };
    let (company_id, connection_id, path) =
        proxy_target(uri.path()).ok_or(ApiError::NotFound(crate::error::Resource::Connection))?;
    let request = ProxyRequest {
        method,
        path,
        query: uri.query().map(str::to_owned),
        headers,
        body,
    };
    let who = caller(&tenant, &key.key_id);
    let out = access::proxy(&state, who, (company_id, connection_id), request).await?;
    let mut res = Response::new(Body::from(out.body));
    *res.status_mut() = out.status;
    *res.headers_mut() = out.headers;
    Ok(res)
}

/// The ids and the raw (still percent-encoded) platform path of a proxy request path
/// `/v1/companies/{c}/connections/{k}/proxy/{*path}`: the path is taken from the request as it
/// came, not as the router decoded it, so what is checked is exactly what is forwarded.
fn proxy_target(path: &str) -> Option<(Uuid, Uuid, String)> {
    let rest = path.strip_prefix("/v1/companies/")?;
    let (company, rest) = rest.split_once('/')?;
    let rest = rest.strip_prefix("connections/")?;
    let (connection, rest) = rest.split_once('/')?;
    let platform_path = rest.strip_prefix(&PROXY_SEGMENT[1..])?;
    if !platform_path.starts_with('/') {
        return None;
    }
    Some((
        company.parse().ok()?,
        connection.parse().ok()?,
        platform_path.to_owned(),
    ))
}

/// A connection's access token.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccessTokenDto {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// The scopes the platform granted, space-separated.
    pub scope: Option<String>,
}

/// Hand out a currently valid access token of the connection (refreshed first if it is about
/// to expire), with its expiry and granted scopes. Off unless `allow_access_tokens` is on in
/// the link settings (`403 …/problems/access_tokens_disabled`); refused like a data call unless
/// the connection is linked under a live consent. Every issuance is recorded in the access log.
#[utoipa::path(post, path = "/v1/companies/{company_id}/connections/{connection_id}/access-token", operation_id = "issue_access_token", tag = "data",
    params(("company_id" = Uuid, Path), ("connection_id" = Uuid, Path)),
    responses(
        (status = 200, body = AccessTokenDto),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "`access_tokens_disabled`, or refused under the consent"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 502, body = Problem, content_type = "application/problem+json", description = "The platform did not refresh the token")))]
pub async fn access_token(
    State(state): State<AppState>,
    AuthKey(tenant, key): AuthKey,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> Result<Json<AccessTokenDto>, ApiError> {
    let issued = access::issue_token(&state, caller(&tenant, &key.key_id), ids).await?;
    Ok(Json(AccessTokenDto {
        access_token: issued.access_token,
        token_type: "Bearer",
        expires_at: issued.expires_at,
        scope: issued.scope,
    }))
}

/// One access through a connection. It holds no data and no secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccessRecordDto {
    pub id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// `data`, `proxy` or `credential`.
    pub kind: &'static str,
    pub data_type: Option<String>,
    /// `read` or `write`.
    pub direction: Option<&'static str>,
    /// `served`, `refused` or `platform_error`.
    pub outcome: &'static str,
    /// When refused: `not_consented`, `withdrawn`, `expired`, `reconsent_required` or
    /// `deauthorized`.
    pub reason: Option<&'static str>,
    /// The platform's HTTP status, when the call reached it.
    pub platform_status: Option<u16>,
    /// Records returned or sent, when Accord could count them.
    pub records: Option<u64>,
    /// Bytes of the platform's answer passed on.
    pub bytes: Option<u64>,
    /// The public id of the API key that made the call.
    pub api_key_id: Option<String>,
}

impl From<AccessRecord> for AccessRecordDto {
    fn from(r: AccessRecord) -> Self {
        let (outcome, reason) = match r.outcome {
            AccessOutcome::Served => ("served", None),
            AccessOutcome::PlatformError => ("platform_error", None),
            AccessOutcome::Refused(reason) => ("refused", Some(reason.as_str())),
        };
        Self {
            id: r.id.0,
            at: r.at,
            kind: r.kind.as_str(),
            data_type: r.data_type.map(|t| t.as_str().to_owned()),
            direction: r.direction.map(accord_domain::catalog::Direction::as_str),
            outcome,
            reason,
            platform_status: r.platform_status,
            records: r.records,
            bytes: r.bytes,
            api_key_id: r.api_key_id,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccessLogList {
    /// Newest first.
    pub data: Vec<AccessRecordDto>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_before: Option<Uuid>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccessLogQuery {
    /// Only records older than this one (the `next_before` of the previous page).
    pub before: Option<Uuid>,
    /// 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

/// Every access through the connection — data calls, proxied calls, access tokens handed
/// out; served, refused or failed — newest first. What the customer sees on the manage page.
#[utoipa::path(get, path = "/v1/companies/{company_id}/connections/{connection_id}/access-log", operation_id = "list_access_log", tag = "data",
    params(("company_id" = Uuid, Path), ("connection_id" = Uuid, Path), AccessLogQuery),
    responses(
        (status = 200, body = AccessLogList),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn access_log(
    State(state): State<AppState>,
    Auth(tenant): Auth,
    ApiPath((company_id, connection_id)): ApiPath<(Uuid, Uuid)>,
    ApiQuery(q): ApiQuery<AccessLogQuery>,
) -> Result<Json<AccessLogList>, ApiError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be between 1 and 100"));
    }
    let before = q.before.map(AccessId);
    let mut data = access::access_log(
        &state,
        &tenant,
        company_id,
        connection_id,
        before,
        limit + 1,
    )
    .await?;
    let more = data.len() > limit as usize;
    data.truncate(limit as usize);
    let data: Vec<AccessRecordDto> = data.into_iter().map(Into::into).collect();
    Ok(Json(AccessLogList {
        next_before: if more {
            data.last().map(|r| r.id)
        } else {
            None
        },
        data,
    }))
}

#[cfg(test)]
mod tests {
    use super::proxy_target;

    #[test]
    fn the_proxy_path_is_taken_raw_after_the_connection() {
        let c = "0190b6a0-0000-7000-8000-000000000001";
        let k = "0190b6a0-0000-7000-8000-000000000002";
        let (_, _, path) = proxy_target(&format!(
            "/v1/companies/{c}/connections/{k}/proxy/invoices/inv_1"
        ))
        .unwrap();
        assert_eq!(path, "/invoices/inv_1");
        let (_, _, raw) = proxy_target(&format!(
            "/v1/companies/{c}/connections/{k}/proxy/..%2f..%2foauth"
        ))
        .unwrap();
        assert_eq!(
            raw, "/..%2f..%2foauth",
            "kept encoded, for the checks to refuse"
        );
        assert!(proxy_target(&format!("/v1/companies/{c}/connections/{k}/proxyx/a")).is_none());
        assert!(proxy_target("/v1/companies/x/connections/y/proxy/a").is_none());
    }
}
