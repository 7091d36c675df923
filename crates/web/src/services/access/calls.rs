//! The four kinds of access through a connection: a data read, a data write, a proxied
//! platform call and an access token handed out. Each opens an [`Access`], checks it, calls the
//! platform with the connection's tokens and finishes (fence, record, answer).

use super::tokens::{self, Held};
use super::{Access, Caller, Failure, Served};
use crate::error::ApiError;
use crate::state::AppState;
use accord_domain::access::{AccessKind, Refusal};
use accord_domain::catalog::{DataEndpoint, DataType, DataUse, Direction};
use accord_platform::data::{self, PageCursor, PlatformRequest, PlatformResponse, RetryAfter};
use axum::body::Bytes;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

/// One page (or one document) of a data type, as Accord's data API answers it.
#[derive(Debug)]
pub struct DataPage {
    pub data: Value,
    /// Opaque; pass it back as `cursor` for the next page. `None` on the last page.
    pub next_cursor: Option<String>,
}

/// A platform's answer to a proxied call: its status, allow-listed headers and body.
#[derive(Debug)]
pub struct Proxied {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A connection's access token, as handed to the tenant.
pub struct IssuedToken {
    pub access_token: String,
    pub expires_at: Option<OffsetDateTime>,
    pub scope: Option<String>,
}

/// The data use a `data_type` path segment and a direction name; an unknown data type is one
/// no consent covers.
fn wanted(data_type: &str, direction: Direction) -> Option<DataUse> {
    let data_type: DataType = data_type.parse().ok()?;
    Some(DataUse {
        data_type,
        direction,
    })
}

/// The refusal of a call the catalog cannot place (an unknown data type, an unmapped path):
/// the connection's own refusal first (a disconnected connection says `withdrawn`), else
/// `not_consented`, since no consent can cover it.
fn unplaced(access: &Access<'_>, what: &str) -> Failure {
    if let Err(refused) = access.check(None) {
        return refused;
    }
    Failure::Refused(
        Refusal::NotConsented,
        format!("{what} is not a data type and direction the catalog maps for this platform, so no consent can cover it."),
    )
}

/// `GET …/data/{data_type}`: one page of the platform's records.
pub async fn read_data(
    state: &AppState,
    caller: Caller<'_>,
    (company_id, connection_id): (Uuid, Uuid),
    data_type: &str,
    cursor: Option<PageCursor>,
    limit: Option<u32>,
) -> Result<DataPage, ApiError> {
    let access = Access::open(state, caller, company_id, connection_id, AccessKind::Data).await?;
    let use_ = wanted(data_type, Direction::Read);
    let result = async {
        let use_ = use_.ok_or_else(|| unplaced(&access, "This data type"))?;
        access.check(Some(use_))?;
        let endpoint = mapped(&access, use_)?;
        let size = data::page_size(limit);
        let upstream = access.connection.upstream.as_ref().map(|u| u.id.as_str());
        let path = data::page_path(endpoint, upstream, cursor.as_ref(), size).map_err(|_| {
            Failure::Input(ApiError::invalid("cursor", "is not a cursor of this list"))
        })?;
        let res = call(&access, &endpoint_request(endpoint, path, None)).await?;
        let answer = json_answer(&res)?;
        let page = data::read_page(endpoint, &answer, cursor.as_ref(), size)
            .map_err(|_| bad_answer(&res))?;
        Ok(Served {
            records: Some(count(&page.records)),
            platform_status: Some(res.status.as_u16()),
            bytes: Some(res.body.len() as u64),
            value: DataPage {
                data: page.records,
                next_cursor: page.next.map(|c| c.encode()),
            },
        })
    }
    .await;
    access.finish(use_, result).await
}

/// `POST …/data/{data_type}`: creates a record at the platform.
pub async fn write_data(
    state: &AppState,
    caller: Caller<'_>,
    (company_id, connection_id): (Uuid, Uuid),
    data_type: &str,
    body: &Value,
) -> Result<DataPage, ApiError> {
    let access = Access::open(state, caller, company_id, connection_id, AccessKind::Data).await?;
    let use_ = wanted(data_type, Direction::Write);
    let result = async {
        let use_ = use_.ok_or_else(|| unplaced(&access, "This data type"))?;
        access.check(Some(use_))?;
        let endpoint = mapped(&access, use_)?;
        let upstream = access.connection.upstream.as_ref().map(|u| u.id.as_str());
        let path = data::page_path(endpoint, upstream, None, data::DEFAULT_PAGE_SIZE)
            .map_err(|e| Failure::Internal(format!("write path: {e}")))?;
        let body = serde_json::to_vec(body).map_err(|e| Failure::Internal(e.to_string()))?;
        let res = call(
            &access,
            &endpoint_request(endpoint, path, Some(body.into())),
        )
        .await?;
        let answer = json_answer(&res)?;
        let records = answer
            .pointer(&endpoint.records)
            .cloned()
            .ok_or_else(|| bad_answer(&res))?;
        Ok(Served {
            records: Some(count(&records)),
            platform_status: Some(res.status.as_u16()),
            bytes: Some(res.body.len() as u64),
            value: DataPage {
                data: records,
                next_cursor: None,
            },
        })
    }
    .await;
    access.finish(use_, result).await
}

/// A proxied call, as the tenant made it relative to the platform's API.
pub struct ProxyRequest {
    pub method: Method,
    /// The raw path after `/proxy`, still percent-encoded, starting with `/`.
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// `ANY …/proxy/{*path}`: forwarded only when the catalog maps the path and method to a data
/// type and direction the consent covers.
pub async fn proxy(
    state: &AppState,
    caller: Caller<'_>,
    (company_id, connection_id): (Uuid, Uuid),
    request: ProxyRequest,
) -> Result<Proxied, ApiError> {
    let access = Access::open(state, caller, company_id, connection_id, AccessKind::Proxy).await?;
    let use_ = access
        .platform
        .proxy_use(request.method.as_str(), &request.path);
    let result = async {
        let use_ = use_.ok_or_else(|| unplaced(&access, "This path and method"))?;
        access.check(Some(use_))?;
        let ProxyRequest {
            method,
            mut path,
            query,
            headers,
            body,
        } = request;
        if let Some(q) = query {
            path.push('?');
            path.push_str(&q);
        }
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let forwarded = PlatformRequest {
            method,
            path_and_query: path,
            body: (!body.is_empty()).then_some(body),
            content_type,
            headers,
        };
        let res = call(&access, &forwarded).await?;
        let records = access
            .platform
            .data_endpoint(use_)
            .and_then(|endpoint| data::count_records(&res.body, &endpoint.records));
        Ok(Served {
            records,
            platform_status: Some(res.status.as_u16()),
            bytes: Some(res.body.len() as u64),
            value: Proxied {
                status: res.status,
                headers: res.headers,
                body: res.body,
            },
        })
    }
    .await;
    access.finish(use_, result).await
}

/// `POST …/access-token`: a currently valid access token, refreshed first if it is about to
/// expire. A credential serves every use the consent covers, so the connection must be linked
/// under a live consent; the token itself is never logged.
pub async fn issue_token(
    state: &AppState,
    caller: Caller<'_>,
    (company_id, connection_id): (Uuid, Uuid),
) -> Result<IssuedToken, ApiError> {
    let access = Access::open(
        state,
        caller,
        company_id,
        connection_id,
        AccessKind::Credential,
    )
    .await?;
    let result = async {
        if !access.tenant.settings.allow_access_tokens {
            return Err(Failure::Input(ApiError::AccessTokensDisabled));
        }
        access.check(None)?;
        let held = tokens::current(&access).await?;
        Ok(Served {
            platform_status: None,
            records: None,
            bytes: None,
            value: IssuedToken {
                access_token: held.set.access_token,
                expires_at: held.set.expires_at,
                scope: held.set.scope,
            },
        })
    }
    .await;
    let disabled = matches!(result, Err(Failure::Input(ApiError::AccessTokensDisabled)));
    if disabled {
        // Refused by the tenant's own settings, before the connection was touched: logged as a
        // refusal, so the customer's log shows every credential asked for.
        let failure = Failure::Refused(Refusal::NotConsented, String::new());
        let _ = access.fail(None, failure).await;
        return Err(ApiError::AccessTokensDisabled);
    }
    access.finish(None, result).await
}

/// The catalog's endpoint of a consented use; a use with scopes but no data map is refused
/// like any other the catalog cannot place.
fn mapped<'a>(access: &Access<'a>, use_: DataUse) -> Result<&'a DataEndpoint, Failure> {
    access.platform.data_endpoint(use_).ok_or_else(|| {
        Failure::Refused(
            Refusal::NotConsented,
            "This data type is not one the catalog maps for this platform in this direction."
                .into(),
        )
    })
}

fn endpoint_request(endpoint: &DataEndpoint, path: String, body: Option<Bytes>) -> PlatformRequest {
    let method = Method::from_bytes(endpoint.method.as_bytes()).unwrap_or(Method::GET);
    PlatformRequest {
        method,
        path_and_query: path,
        content_type: body.as_ref().map(|_| "application/json".to_owned()),
        body,
        headers: HeaderMap::new(),
    }
}

/// Calls the platform with the connection's tokens; a `401` refreshes once and retries once.
/// A platform error status is a [`Failure`]; `2xx` and `304` are answers.
async fn call(access: &Access<'_>, request: &PlatformRequest) -> Result<PlatformResponse, Failure> {
    let mut held = tokens::current(access).await?;
    let mut retried = false;
    loop {
        let res = send(access, &held, request).await?;
        if res.status == StatusCode::UNAUTHORIZED && !retried {
            retried = true;
            held = tokens::renew(access, held).await?;
            continue;
        }
        return match failure_of(&res, access.state.clock.now()) {
            Some(failure) => Err(failure),
            None => Ok(res),
        };
    }
}

async fn send(
    access: &Access<'_>,
    held: &Held,
    request: &PlatformRequest,
) -> Result<PlatformResponse, Failure> {
    let upstream = access.connection.upstream.as_ref().map(|u| u.id.as_str());
    data::call(
        &access.state.platforms.http,
        access.platform,
        &access.state.platforms.urls,
        None,
        upstream,
        &held.set.access_token,
        request,
    )
    .await
    .map_err(|e| {
        let status = match e {
            data::CallError::BadPath(_) => {
                return Failure::Refused(
                    Refusal::NotConsented,
                    "The path is not one Accord forwards.".into(),
                )
            }
            data::CallError::Timeout => StatusCode::GATEWAY_TIMEOUT,
            _ => StatusCode::BAD_GATEWAY,
        };
        Failure::platform(
            status,
            e.code(),
            &format!("The platform call failed ({}).", e.code()),
            None,
        )
    })
}

/// How a platform's error status is answered: its `429` as `429` and its `5xx` as `503` or
/// `502`, both with its retry hint; any other error as `502` with its status. Never its body.
fn failure_of(res: &PlatformResponse, now: OffsetDateTime) -> Option<Failure> {
    let status = res.status;
    if status.is_success() || status == StatusCode::NOT_MODIFIED {
        return None;
    }
    let code = status.as_u16();
    let (ours, kind, detail) = if status == StatusCode::TOO_MANY_REQUESTS {
        (status, "platform_rate_limited", format!("The platform is rate limiting calls (it answered {code}); try again after the Retry-After delay."))
    } else if status.is_server_error() {
        let ours = if status == StatusCode::SERVICE_UNAVAILABLE {
            status
        } else {
            StatusCode::BAD_GATEWAY
        };
        (
            ours,
            "platform_unavailable",
            format!("The platform failed (it answered {code}); try again later."),
        )
    } else {
        (
            StatusCode::BAD_GATEWAY,
            "platform_error",
            format!(
                "The platform refused the call (it answered {code}); its answer is not passed on."
            ),
        )
    };
    let mut failure = Failure::platform(ours, kind, &detail, Some(code));
    if let Failure::Platform(p) = &mut failure {
        p.retry_after = retry_hint(res, now);
    }
    Some(failure)
}

/// The platform's `Retry-After`, passed on as it was sent, with the seconds it means now.
fn retry_hint(res: &PlatformResponse, now: OffsetDateTime) -> Option<(HeaderValue, u64)> {
    let value = res.headers.get(header::RETRY_AFTER)?.clone();
    let seconds = match res.retry_after? {
        RetryAfter::Seconds(s) => s,
        RetryAfter::At(at) => u64::try_from((at - now).whole_seconds()).unwrap_or(0),
    };
    Some((value, seconds))
}

fn json_answer(res: &PlatformResponse) -> Result<Value, Failure> {
    serde_json::from_slice(&res.body).map_err(|_| bad_answer(res))
}

fn bad_answer(res: &PlatformResponse) -> Failure {
    Failure::platform(
        StatusCode::BAD_GATEWAY,
        "platform_bad_answer",
        "The platform's answer is not as the catalog describes it.",
        Some(res.status.as_u16()),
    )
}

/// Records in an answer: a list's length, one for a document.
fn count(records: &Value) -> u64 {
    match records {
        Value::Array(a) => a.len() as u64,
        Value::Null => 0,
        _ => 1,
    }
}
