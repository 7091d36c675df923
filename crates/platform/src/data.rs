//! Calls to a platform's data API on a connection's behalf: who was connected
//! ([`identity`]), one request ([`call`]), and the paging of Accord's data API over the
//! platform's own ([`PageCursor`], [`page_query`], [`read_page`]).
//!
//! Nothing here decides whether a call may be made — the consent rule
//! (`accord_domain::access::check`) and the access log are the caller's — and nothing here
//! touches the store. What this module guarantees is the shape of the call: the URL never
//! leaves the platform's `api_base`, only allow-listed headers cross in either direction, the
//! access token travels in the `Authorization` header only (RFC 6750 §2.1: never in a URL, a
//! log or an error), and answers are bounded in size and time.

use std::time::Duration;

use accord_domain::catalog::{DataEndpoint, Pagination, Platform, UPSTREAM_ID};
use accord_domain::connection::Upstream;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use url::Url;

use crate::Urls;

mod count;
pub use count::count_records;

/// The largest answer read from a platform; a longer one is cut off as an error rather than
/// held in memory.
pub const MAX_RESPONSE_BYTES: usize = 10 * 1024 * 1024;
/// The largest body sent to a platform.
pub const MAX_REQUEST_BYTES: usize = 10 * 1024 * 1024;
/// How long one data call may take, connection to last byte.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// The page size when the caller asks for none, and the most it may ask for.
pub const DEFAULT_PAGE_SIZE: u32 = 20;
pub const MAX_PAGE_SIZE: u32 = 100;
/// The longest opaque cursor accepted from a caller.
const MAX_CURSOR_CHARS: usize = 2048;

/// Caller headers forwarded to the platform: content negotiation and conditional requests.
/// Everything else (cookies, the caller's own `Authorization`, forwarding headers…) stays out.
static FORWARDED_REQUEST_HEADERS: [HeaderName; 4] = [
    HeaderName::from_static("accept"),
    HeaderName::from_static("content-type"),
    HeaderName::from_static("if-none-match"),
    HeaderName::from_static("if-modified-since"),
];

/// Platform headers returned to the caller: the body's type, caching validators, and the rate
/// limits a well-behaved client needs (RFC 9110 `Retry-After`, the IETF `RateLimit` fields and
/// the common `X-RateLimit-*`, Xero's and Shopify's own).
static RETURNED_RESPONSE_HEADERS: [HeaderName; 17] = [
    HeaderName::from_static("content-type"),
    HeaderName::from_static("etag"),
    HeaderName::from_static("last-modified"),
    HeaderName::from_static("retry-after"),
    HeaderName::from_static("ratelimit"),
    HeaderName::from_static("ratelimit-policy"),
    HeaderName::from_static("ratelimit-limit"),
    HeaderName::from_static("ratelimit-remaining"),
    HeaderName::from_static("ratelimit-reset"),
    HeaderName::from_static("x-ratelimit-limit"),
    HeaderName::from_static("x-ratelimit-remaining"),
    HeaderName::from_static("x-ratelimit-reset"),
    HeaderName::from_static("x-rate-limit-problem"),
    HeaderName::from_static("x-minlimit-remaining"),
    HeaderName::from_static("x-daylimit-remaining"),
    HeaderName::from_static("x-appminlimit-remaining"),
    HeaderName::from_static("x-shopify-shop-api-call-limit"),
];

/// Why a platform call could not be made or understood. Never holds a token or a URL with
/// a query: these messages may be logged.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CallError {
    /// The catalog maps no data API (no `api_base`) or no identity endpoint for the platform.
    #[error("platform `{0}` offers no data access through Accord")]
    NoDataAccess(String),
    /// The requested path would leave `api_base` or is not a plain path.
    #[error("the path is not allowed: {0}")]
    BadPath(&'static str),
    /// The platform needs the connected organisation's id (`{upstream_id}`) and none was
    /// given, or it is not a plain identifier.
    #[error("the connected organisation's id is missing or not a plain identifier")]
    BadUpstreamId,
    /// The catalog's `api_base` does not make a URL.
    #[error("catalog endpoint is not a valid URL: {0}")]
    BadEndpoint(String),
    #[error("the request body is larger than {MAX_REQUEST_BYTES} bytes")]
    RequestTooLarge,
    #[error("the platform's answer is larger than {MAX_RESPONSE_BYTES} bytes")]
    ResponseTooLarge,
    #[error("the platform did not answer in time")]
    Timeout,
    #[error("could not reach the platform: {0}")]
    Unreachable(String),
    /// The identity endpoint answered with an error status.
    #[error("the platform answered {0}")]
    Status(u16),
    /// The identity endpoint's answer lacks what the catalog points at.
    #[error("the platform's answer is not as the catalog describes: {0}")]
    BadAnswer(String),
}

impl CallError {
    /// A short machine code for logs, problem details and the access log.
    pub fn code(&self) -> &'static str {
        match self {
            CallError::NoDataAccess(_) => "no_data_access",
            CallError::BadPath(_) => "bad_path",
            CallError::BadUpstreamId => "no_upstream",
            CallError::BadEndpoint(_) => "platform_misconfigured",
            CallError::RequestTooLarge => "request_too_large",
            CallError::ResponseTooLarge => "response_too_large",
            CallError::Timeout => "platform_timeout",
            CallError::Unreachable(_) => "platform_unreachable",
            CallError::Status(_) => "platform_error",
            CallError::BadAnswer(_) => "platform_bad_answer",
        }
    }
}

/// One request to the platform's data API, relative to its `api_base`.
#[derive(Debug, Clone)]
pub struct PlatformRequest {
    pub method: Method,
    /// `/path?query`, relative to `api_base`.
    pub path_and_query: String,
    pub body: Option<Bytes>,
    pub content_type: Option<String>,
    /// The caller's headers; only [`FORWARDED_REQUEST_HEADERS`] are sent on.
    pub headers: HeaderMap,
}

/// The platform's answer, with only the allow-listed headers.
#[derive(Debug, Clone)]
pub struct PlatformResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// `Retry-After` (RFC 9110 §10.2.3) when the platform sent a valid one.
    pub retry_after: Option<RetryAfter>,
}

/// When a platform asks to be called again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfter {
    /// `delay-seconds`.
    Seconds(u64),
    /// An `HTTP-date`; the caller compares it with its own clock.
    At(OffsetDateTime),
}

impl RetryAfter {
    /// Parses a `Retry-After` value: delay-seconds or an IMF-fixdate.
    pub fn parse(value: &str) -> Option<RetryAfter> {
        let value = value.trim();
        if let Ok(seconds) = value.parse::<u64>() {
            return Some(RetryAfter::Seconds(seconds));
        }
        let format = time::format_description::well_known::Rfc2822;
        OffsetDateTime::parse(value, &format)
            .ok()
            .map(RetryAfter::At)
    }
}

/// Who was connected: `GET` the catalog's identity endpoint with the access token and read the
/// organisation's id and name at the catalog's pointers. For a platform that names the
/// organisation on the authorization redirect instead (`identity.callback_param`), `callback`
/// is that parameter's value: it is the id, and fills `{upstream_id}` in the identity path.
pub async fn identity(
    http: &reqwest::Client,
    platform: &Platform,
    urls: &Urls,
    shop: Option<&str>,
    access_token: &str,
    callback: Option<&str>,
) -> Result<Upstream, CallError> {
    let no_access = || CallError::NoDataAccess(platform.key.to_string());
    let spec = platform.identity.as_ref().ok_or_else(no_access)?;
    let from_callback = match &spec.callback_param {
        Some(param) => Some(callback.filter(|id| is_plain_id(id)).ok_or_else(|| {
            CallError::BadAnswer(format!(
                "the authorization redirect named no organisation in `{param}`"
            ))
        })?),
        None => None,
    };
    let url = if spec.path.starts_with('/') {
        let path = fill_upstream(&spec.path, from_callback)?;
        join(&api_base(platform, urls, shop)?, &path)?
    } else {
        Url::parse(&urls.endpoint(&spec.path, shop))
            .map_err(|e| CallError::BadEndpoint(e.to_string()))?
    };
    let response = http
        .get(url)
        .bearer_auth(access_token)
        .header(reqwest::header::ACCEPT, "application/json")
        .timeout(CALL_TIMEOUT)
        .send()
        .await
        .map_err(send_error)?;
    let status = response.status();
    let body = read_bounded(response).await?;
    if !status.is_success() {
        return Err(CallError::Status(status.as_u16()));
    }
    let json: Value = serde_json::from_slice(&body)
        .map_err(|_| CallError::BadAnswer("the identity answer is not JSON".into()))?;
    let read = |pointer: &str, what: &str| -> Result<String, CallError> {
        let text = match json.pointer(pointer) {
            Some(Value::String(s)) => s.trim().to_owned(),
            Some(Value::Number(n)) => n.to_string(),
            _ => String::new(),
        };
        if text.is_empty() {
            Err(CallError::BadAnswer(format!(
                "no organisation {what} at `{pointer}`"
            )))
        } else {
            Ok(text)
        }
    };
    Ok(Upstream {
        id: match from_callback {
            Some(id) => id.to_owned(),
            None => read(&spec.id, "id")?,
        },
        name: read(&spec.name, "name")?,
    })
}

/// One call to the platform's data API for the connected organisation `upstream_id`. The
/// platform's status is returned as it is (a 404 or a 429 is an answer, not an error); errors
/// are for calls that could not be made or read.
pub async fn call(
    http: &reqwest::Client,
    platform: &Platform,
    urls: &Urls,
    shop: Option<&str>,
    upstream_id: Option<&str>,
    access_token: &str,
    request: &PlatformRequest,
) -> Result<PlatformResponse, CallError> {
    let base = api_base(platform, urls, shop)?;
    let url = join(&base, &request.path_and_query)?;
    if request
        .body
        .as_ref()
        .is_some_and(|b| b.len() > MAX_REQUEST_BYTES)
    {
        return Err(CallError::RequestTooLarge);
    }
    let mut headers = HeaderMap::new();
    for name in &FORWARDED_REQUEST_HEADERS {
        for value in request.headers.get_all(name) {
            headers.append(name.clone(), value.clone());
        }
    }
    // Data APIs that speak XML and JSON (Xero, QuickBooks) answer XML unless asked otherwise.
    if !headers.contains_key(reqwest::header::ACCEPT) {
        headers.insert(
            reqwest::header::ACCEPT,
            HeaderValue::from_static("application/json"),
        );
    }
    if let Some(content_type) = &request.content_type {
        let value = HeaderValue::from_str(content_type)
            .map_err(|_| CallError::BadPath("the content type is not a header value"))?;
        headers.insert(CONTENT_TYPE, value);
    }
    for (name, template) in &platform.headers {
        let value = fill_upstream(template, upstream_id)?;
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| CallError::BadEndpoint(format!("header name `{name}`")))?;
        let value = HeaderValue::from_str(&value).map_err(|_| CallError::BadUpstreamId)?;
        headers.insert(name, value);
    }
    let mut auth = HeaderValue::from_str(&format!("Bearer {access_token}"))
        .map_err(|_| CallError::Unreachable("the access token is not a header value".into()))?;
    auth.set_sensitive(true);
    headers.insert(AUTHORIZATION, auth);
    let mut builder = http
        .request(request.method.clone(), url)
        .headers(headers)
        .timeout(CALL_TIMEOUT);
    if let Some(body) = &request.body {
        builder = builder.body(body.clone());
    }
    let response = builder.send().await.map_err(send_error)?;
    let status = response.status();
    // The answer's few headers are walked once (rather than looking each allowed name up),
    // keeping each name's values in the order they came.
    let mut kept = HeaderMap::new();
    for (name, value) in response.headers() {
        if RETURNED_RESPONSE_HEADERS.contains(name) {
            kept.append(name.clone(), value.clone());
        }
    }
    let retry_after = kept
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(RetryAfter::parse);
    let body = read_bounded(response).await?;
    Ok(PlatformResponse {
        status,
        headers: kept,
        body,
        retry_after,
    })
}

/// The platform's `api_base`, filled in.
fn api_base(platform: &Platform, urls: &Urls, shop: Option<&str>) -> Result<Url, CallError> {
    let template = platform
        .api_base
        .as_deref()
        .ok_or_else(|| CallError::NoDataAccess(platform.key.to_string()))?;
    if template.contains("{shop}") && shop.is_none_or(|s| !is_plain_id(s)) {
        return Err(CallError::BadEndpoint("the store name is missing".into()));
    }
    Url::parse(&urls.endpoint(template, shop)).map_err(|e| CallError::BadEndpoint(e.to_string()))
}

/// `base` + `path_and_query`, refusing anything that could end up outside `base`: a path that
/// is not absolute, `//` (a network-path reference), `.` or `..` segments, encoded slashes,
/// backslashes or dots (which a platform may decode after Accord has checked), fragments and
/// control characters. The result is then checked to still be under `base`.
pub fn join(base: &Url, path_and_query: &str) -> Result<Url, CallError> {
    let (path, query) = path_and_query
        .split_once('?')
        .map_or((path_and_query, None), |(p, q)| (p, Some(q)));
    if !path.starts_with('/') {
        return Err(CallError::BadPath("the path must start with `/`"));
    }
    if path.starts_with("//") || path.contains("//") {
        return Err(CallError::BadPath("empty path segments are not allowed"));
    }
    let lower = path.to_ascii_lowercase();
    if ["%2f", "%5c", "%2e", "%00"]
        .iter()
        .any(|e| lower.contains(e))
        || path.contains('\\')
    {
        return Err(CallError::BadPath(
            "encoded slashes and dots are not allowed",
        ));
    }
    if path.split('/').any(|s| s == "." || s == "..") {
        return Err(CallError::BadPath("`.` and `..` segments are not allowed"));
    }
    if path_and_query.contains('#') || path_and_query.chars().any(|c| c.is_control() || c == ' ') {
        return Err(CallError::BadPath(
            "fragments, spaces and control characters are not allowed",
        ));
    }
    if query.is_some_and(|q| q.contains('?')) {
        return Err(CallError::BadPath("only one `?` is allowed"));
    }
    let base_path = base.path().trim_end_matches('/');
    let mut url = base.clone();
    url.set_path(&format!("{base_path}{path}"));
    url.set_query(query);
    let inside = url.origin() == base.origin()
        && url.path().starts_with(&format!("{base_path}/"))
        && url.username().is_empty()
        && url.password().is_none();
    if inside {
        Ok(url)
    } else {
        Err(CallError::BadPath("the path leaves the platform's API"))
    }
}

/// Only ids made of unreserved characters (RFC 3986 §2.3) are put into paths and headers, so
/// an id can neither add a path segment nor need encoding; real ids (GUIDs, realm numbers,
/// shop names) are all of this kind.
fn is_plain_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 200
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

fn fill_upstream(template: &str, upstream_id: Option<&str>) -> Result<String, CallError> {
    if !template.contains(UPSTREAM_ID) {
        return Ok(template.to_owned());
    }
    let id = upstream_id
        .filter(|id| is_plain_id(id))
        .ok_or(CallError::BadUpstreamId)?;
    Ok(template.replace(UPSTREAM_ID, id))
}

/// A reqwest error without its URL (which holds the platform's path and query), so the
/// message may be logged.
fn send_error(e: reqwest::Error) -> CallError {
    if e.is_timeout() {
        CallError::Timeout
    } else {
        CallError::Unreachable(e.without_url().to_string())
    }
}

/// Reads the body, stopping at [`MAX_RESPONSE_BYTES`]. An answer that arrives in one chunk
/// (most small answers over a kept-alive connection) is handed on as that chunk, with no copy;
/// several chunks are gathered into one allocation, sized from `Content-Length` when the
/// platform sent one.
async fn read_bounded(mut response: reqwest::Response) -> Result<Bytes, CallError> {
    let announced = response.content_length();
    if announced.is_some_and(|n| n > MAX_RESPONSE_BYTES as u64) {
        return Err(CallError::ResponseTooLarge);
    }
    let Some(first) = response.chunk().await.map_err(send_error)? else {
        return Ok(Bytes::new());
    };
    if first.len() > MAX_RESPONSE_BYTES {
        return Err(CallError::ResponseTooLarge);
    }
    let Some(second) = response.chunk().await.map_err(send_error)? else {
        return Ok(first);
    };
    let gathered = first.len() + second.len();
    // `announced` is at most MAX_RESPONSE_BYTES here, so the hint never over-allocates.
    let hint = announced.and_then(|n| usize::try_from(n).ok()).unwrap_or(0);
    let mut body = Vec::with_capacity(hint.max(gathered).min(MAX_RESPONSE_BYTES));
    body.extend_from_slice(&first);
    let mut next = Some(second);
    while let Some(chunk) = next {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(CallError::ResponseTooLarge);
        }
        body.extend_from_slice(&chunk);
        next = response.chunk().await.map_err(send_error)?;
    }
    Ok(Bytes::from(body))
}

/// The position in a list, as Accord's data API hands it to its caller: opaque (base64url of a
/// small JSON document), so a caller cannot tell or rely on the platform's paging style.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum PageCursor {
    /// The platform's own cursor.
    #[serde(rename = "c")]
    Cursor(String),
    /// A page number.
    #[serde(rename = "p")]
    Page(u32),
    /// A record offset.
    #[serde(rename = "o")]
    Offset(u64),
}

/// A cursor from a caller that Accord did not make, or made for another kind of list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    #[error("the cursor is not one this API returned")]
    Malformed,
    #[error("the cursor does not belong to this list")]
    WrongKind,
    #[error("the platform's answer holds no records where the catalog points")]
    NoRecords,
}

impl PageCursor {
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).expect("a cursor always serialises");
        URL_SAFE_NO_PAD.encode(json)
    }

    pub fn decode(opaque: &str) -> Result<PageCursor, PageError> {
        if opaque.is_empty() || opaque.len() > MAX_CURSOR_CHARS {
            return Err(PageError::Malformed);
        }
        let json = URL_SAFE_NO_PAD
            .decode(opaque)
            .map_err(|_| PageError::Malformed)?;
        let cursor: PageCursor = serde_json::from_slice(&json).map_err(|_| PageError::Malformed)?;
        match &cursor {
            PageCursor::Cursor(c) if c.is_empty() || c.len() > MAX_CURSOR_CHARS => {
                Err(PageError::Malformed)
            }
            _ => Ok(cursor),
        }
    }
}

/// The page size to ask for: the caller's, within 1 and [`MAX_PAGE_SIZE`].
pub fn page_size(requested: Option<u32>) -> u32 {
    requested
        .unwrap_or(DEFAULT_PAGE_SIZE)
        .clamp(1, MAX_PAGE_SIZE)
}

/// The query parameters that ask the platform for the page at `cursor` (the first page when
/// `None`) of `size` records.
pub fn page_query(
    endpoint: &DataEndpoint,
    cursor: Option<&PageCursor>,
    size: u32,
) -> Result<Vec<(String, String)>, PageError> {
    let mut query = Vec::new();
    match (&endpoint.pagination, cursor) {
        (Pagination::None, None) => {}
        (
            Pagination::Cursor {
                cursor_param,
                limit_param,
                ..
            },
            c @ (None | Some(PageCursor::Cursor(_))),
        ) => {
            if let Some(PageCursor::Cursor(c)) = c {
                query.push((cursor_param.clone(), c.clone()));
            }
            if let Some(limit) = limit_param {
                query.push((limit.clone(), size.to_string()));
            }
        }
        (
            Pagination::Page {
                page_param,
                page_size_param,
                first_page,
            },
            c @ (None | Some(PageCursor::Page(_))),
        ) => {
            let page = match c {
                Some(PageCursor::Page(p)) => *p,
                _ => *first_page,
            };
            query.push((page_param.clone(), page.to_string()));
            if let Some(p) = page_size_param {
                query.push((p.clone(), size.to_string()));
            }
        }
        (
            Pagination::Offset {
                offset_param,
                limit_param,
            },
            c @ (None | Some(PageCursor::Offset(_))),
        ) => {
            let offset = match c {
                Some(PageCursor::Offset(o)) => *o,
                _ => 0,
            };
            query.push((offset_param.clone(), offset.to_string()));
            query.push((limit_param.clone(), size.to_string()));
        }
        _ => return Err(PageError::WrongKind),
    }
    Ok(query)
}

/// The path and query (relative to `api_base`) that read the page at `cursor` of `endpoint`
/// for the connected organisation: the template with `{upstream_id}` filled in, its own query,
/// then the paging parameters.
pub fn page_path(
    endpoint: &DataEndpoint,
    upstream_id: Option<&str>,
    cursor: Option<&PageCursor>,
    size: u32,
) -> Result<String, CallError> {
    let path = fill_upstream(endpoint.path_only(), upstream_id)?;
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if let Some(fixed) = endpoint.fixed_query() {
        let fixed = fill_upstream(fixed, upstream_id)?;
        query.extend_pairs(url::form_urlencoded::parse(fixed.as_bytes()));
    }
    let paging = page_query(endpoint, cursor, size)
        .map_err(|_| CallError::BadPath("the cursor does not belong to this list"))?;
    query.extend_pairs(paging);
    let query = query.finish();
    Ok(if query.is_empty() {
        path
    } else {
        format!("{path}?{query}")
    })
}

/// One page as the platform answered it.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// What the catalog's `records` pointer selects: an array for lists.
    pub records: Value,
    /// Where the next page starts, or `None` on the last page.
    pub next: Option<PageCursor>,
}

/// The records of the platform's answer and the cursor of the next page, given the cursor
/// this page was asked for with and the page size sent.
pub fn read_page(
    endpoint: &DataEndpoint,
    answer: &Value,
    sent: Option<&PageCursor>,
    size: u32,
) -> Result<Page, PageError> {
    let records = answer
        .pointer(&endpoint.records)
        .cloned()
        .ok_or(PageError::NoRecords)?;
    let count = records.as_array().map(Vec::len);
    let next = match &endpoint.pagination {
        Pagination::None => None,
        Pagination::Cursor {
            next_cursor,
            last_record_cursor,
            has_more,
            ..
        } => {
            let more = has_more
                .as_deref()
                .and_then(|p| answer.pointer(p))
                .and_then(Value::as_bool);
            let candidate = match (next_cursor, last_record_cursor) {
                (Some(p), _) => answer.pointer(p),
                (None, Some(p)) => records
                    .as_array()
                    .and_then(|r| r.last())
                    .and_then(|last| last.pointer(p)),
                (None, None) => None,
            };
            let token = candidate.and_then(|v| match v {
                Value::String(s) if !s.is_empty() => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            });
            token
                .filter(|_| more != Some(false) && count != Some(0))
                .map(PageCursor::Cursor)
        }
        Pagination::Page {
            page_size_param,
            first_page,
            ..
        } => {
            let page = match sent {
                Some(PageCursor::Page(p)) => *p,
                _ => *first_page,
            };
            let full = full_page(count, page_size_param.is_some().then_some(size));
            full.then(|| page.checked_add(1).map(PageCursor::Page))
                .flatten()
        }
        Pagination::Offset { .. } => {
            let offset = match sent {
                Some(PageCursor::Offset(o)) => *o,
                _ => 0,
            };
            let n = count.unwrap_or(0) as u64;
            full_page(count, Some(size))
                .then(|| offset.checked_add(n).map(PageCursor::Offset))
                .flatten()
        }
    };
    Ok(Page { records, next })
}

/// Whether a page may have a successor: it held records, and at least as many as asked for
/// when the size is known (a short page is the last).
fn full_page(count: Option<usize>, size: Option<u32>) -> bool {
    match (count, size) {
        (Some(0) | None, _) => false,
        (Some(n), Some(size)) => n >= size as usize,
        (Some(_), None) => true,
    }
}

#[cfg(test)]
mod tests;
