//! The catalog's data map: where each data type lives in a platform's API, in each direction,
//! how its answers are paged, and how to learn which organisation the grant covers. The data
//! gateway reads it to serve `…/data/{data_type}`, and the proxy uses it to decide which data
//! type (and so which consent) a raw platform call touches: a call the map cannot place is
//! refused (deny by default).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::{CatalogError, DataType, DataUse, Direction, Platform};

/// The placeholder replaced by the connected organisation's id at the platform.
pub const UPSTREAM_ID: &str = "{upstream_id}";

/// How to read who was connected at the platform: the organisation, tenant, realm or account
/// the grant covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    /// `GET` this, relative to `api_base`, or an absolute URL for platforms that answer it on
    /// another host (Xero's `https://api.xero.com/connections`). With `callback_param`, it may
    /// name the organisation as `{upstream_id}`.
    pub path: String,
    /// RFC 6901 JSON pointer to the organisation's stable id in the answer. Empty (and not
    /// read) with `callback_param`.
    #[serde(default)]
    pub id: String,
    /// For platforms whose API has no endpoint telling which organisation a token covers: the
    /// query parameter of the authorization redirect that names it (`QuickBooks` sends the
    /// company's `realmId`). Its value is the organisation's id, and only its name is read
    /// from the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_param: Option<String>,
    /// RFC 6901 JSON pointer to its display name.
    pub name: String,
    /// The platform's public documentation of that endpoint.
    pub docs: String,
}

/// How a platform pages a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "style", rename_all = "lowercase", deny_unknown_fields)]
pub enum Pagination {
    /// One answer holds everything the platform returns (or paging cannot be expressed; the
    /// catalog says why in a comment).
    #[default]
    None,
    /// An opaque cursor sent back in `cursor_param`. The next cursor is read from the answer at
    /// `next_cursor`, or, for platforms that page after a record id (Stripe's
    /// `starting_after`), from the last record at `last_record_cursor`; `has_more` (a pointer
    /// to a boolean) says whether there is a next page at all.
    Cursor {
        cursor_param: String,
        #[serde(default)]
        next_cursor: Option<String>,
        #[serde(default)]
        last_record_cursor: Option<String>,
        #[serde(default)]
        has_more: Option<String>,
        /// Where the page size goes, if the platform takes one.
        #[serde(default)]
        limit_param: Option<String>,
    },
    /// A page number in `page_param` (the first page is `first_page`, default 1), and the page
    /// size in `page_size_param` where the platform takes one. The pages end at a short page.
    Page {
        page_param: String,
        #[serde(default)]
        page_size_param: Option<String>,
        #[serde(default = "one")]
        first_page: u32,
    },
    /// A record offset in `offset_param` and the page size in `limit_param`; the pages end at a
    /// short page.
    Offset {
        offset_param: String,
        limit_param: String,
    },
}

fn one() -> u32 {
    1
}

/// One data type in one direction at a platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataEndpoint {
    /// `GET` for reads; `POST`, `PUT` or `PATCH` for writes.
    pub method: String,
    /// Relative to `api_base`, starting with `/`; may hold `{upstream_id}` and a query.
    pub path: String,
    /// RFC 6901 JSON pointer to the records in the answer: an array for lists, the document
    /// itself for single documents and created records (`""` is the whole answer).
    pub records: String,
    #[serde(default)]
    pub pagination: Pagination,
    /// The platform's public documentation of that endpoint.
    pub docs: String,
}

impl DataEndpoint {
    /// The path without its query.
    pub fn path_only(&self) -> &str {
        self.path.split_once('?').map_or(&self.path, |(p, _)| p)
    }

    /// The query the template itself carries (e.g. a filter), without the `?`.
    pub fn fixed_query(&self) -> Option<&str> {
        self.path.split_once('?').map(|(_, q)| q)
    }
}

/// The endpoints of one data type, per direction.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataEndpoints {
    #[serde(default)]
    pub read: Option<DataEndpoint>,
    #[serde(default)]
    pub write: Option<DataEndpoint>,
}

impl DataEndpoints {
    fn get(&self, direction: Direction) -> Option<&DataEndpoint> {
        match direction {
            Direction::Read => self.read.as_ref(),
            Direction::Write => self.write.as_ref(),
        }
    }
}

/// The direction a proxied request moves data in, by its method: reads are safe methods
/// (RFC 9110 §9.2.1), writes change state. Anything else (`OPTIONS`, `TRACE`, `CONNECT`, lower
/// case, extension methods) moves no data Accord can name and is refused.
fn direction_of(method: &str) -> Option<Direction> {
    match method {
        "GET" | "HEAD" => Some(Direction::Read),
        "POST" | "PUT" | "PATCH" | "DELETE" => Some(Direction::Write),
        _ => None,
    }
}

/// How well a request path matched a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Fit {
    /// One record under the template: the template followed by one more segment (`…/{id}`).
    Item,
    Exact,
}

/// Whether a request path is one Accord may place at all: absolute, no empty, `.` or `..`
/// segments, no backslash and no percent-encoded slash, backslash or dot (which a platform may
/// decode into a traversal after Accord has matched the path), no control characters.
fn is_clean_path(path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    let lower = path.to_ascii_lowercase();
    if ["%2f", "%5c", "%2e", "%00"]
        .iter()
        .any(|e| lower.contains(e))
        || path.contains('\\')
        || path.chars().any(char::is_control)
    {
        return false;
    }
    rest.is_empty()
        || rest
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != "..")
}

/// Whether one request segment matches one template segment: literally, or around one
/// `{placeholder}` (which matches one or more characters, e.g. `companies({upstream_id})`).
fn segment_matches(template: &str, actual: &str) -> bool {
    let Some((prefix, rest)) = template.split_once('{') else {
        return template == actual;
    };
    let Some((_, suffix)) = rest.split_once('}') else {
        return template == actual;
    };
    actual.len() > prefix.len() + suffix.len()
        && actual.starts_with(prefix)
        && actual.ends_with(suffix)
}

fn fit(template: &str, path: &str) -> Option<Fit> {
    let t: Vec<&str> = template.trim_start_matches('/').split('/').collect();
    let p: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let same = |n: usize| t.iter().zip(&p[..n]).all(|(t, a)| segment_matches(t, a));
    if p.len() == t.len() && same(t.len()) {
        Some(Fit::Exact)
    } else if p.len() == t.len() + 1 && same(t.len()) {
        Some(Fit::Item)
    } else {
        None
    }
}

impl Platform {
    /// Where `data_use` is served at this platform, if the catalog maps it.
    pub fn data_endpoint(&self, data_use: DataUse) -> Option<&DataEndpoint> {
        self.data.get(&data_use.data_type)?.get(data_use.direction)
    }

    /// The data type and direction a proxied request touches: `method` decides the direction,
    /// `path` (relative to `api_base`, without its query) must match a mapped path of exactly
    /// one data type, exactly or as one record under it (`…/{id}`), and that data type must be
    /// mapped in that direction. Everything else — an unmapped path, a path two data types
    /// share (Xero's invoices and bills are both `/Invoices`), a traversal, an encoded slash — is
    /// `None`: refused.
    pub fn proxy_use(&self, method: &str, path: &str) -> Option<DataUse> {
        let direction = direction_of(method)?;
        if !is_clean_path(path) {
            return None;
        }
        let mut best: Option<(Fit, DataType)> = None;
        let mut ambiguous = false;
        for (data_type, endpoints) in &self.data {
            let fits = [&endpoints.read, &endpoints.write]
                .into_iter()
                .flatten()
                .filter_map(|e| fit(e.path_only(), path))
                .max();
            let Some(f) = fits else { continue };
            match best {
                Some((b, _)) if b > f => {}
                Some((b, _)) if b == f => ambiguous = true,
                _ => {
                    best = Some((f, *data_type));
                    ambiguous = false;
                }
            }
        }
        let (_, data_type) = best.filter(|_| !ambiguous)?;
        let data_use = DataUse {
            data_type,
            direction,
        };
        self.data_endpoint(data_use).map(|_| data_use)
    }

    /// Checks the data map: each mapping has the matching scope, well-formed paths, pointers
    /// and pagination, and something to resolve relative paths against.
    pub(super) fn validate_data_map(&self, allow_http_localhost: bool) -> Result<(), CatalogError> {
        let err = |key: &str, what: &str| {
            CatalogError::Invalid(format!("platform `{}`: {key}: {what}", self.key))
        };
        if let Some(base) = &self.api_base {
            self.check_url("api_base", base, allow_http_localhost)?;
            if base.contains('?') || base.contains(UPSTREAM_ID) {
                return Err(err("api_base", "must hold no query and no {upstream_id}"));
            }
        }
        let needs_base = !self.data.is_empty()
            || self
                .identity
                .as_ref()
                .is_some_and(|i| i.path.starts_with('/'));
        if needs_base && self.api_base.is_none() {
            return Err(err(
                "api_base",
                "is required by `data` and a relative `identity.path`",
            ));
        }
        if let Some(identity) = &self.identity {
            self.validate_identity(identity, allow_http_localhost)?;
        }
        for (name, value) in &self.headers {
            check_header(name, value).map_err(|w| err(&format!("headers.{name}"), w))?;
        }
        for (data_type, endpoints) in &self.data {
            for direction in [Direction::Read, Direction::Write] {
                let Some(endpoint) = endpoints.get(direction) else {
                    continue;
                };
                let key = format!("data.{data_type}.{}", direction.as_str());
                let data_use = DataUse {
                    data_type: *data_type,
                    direction,
                };
                if !self.supports(data_use) {
                    return Err(err(&key, "is mapped but `scopes` has no such direction"));
                }
                check_endpoint(endpoint, direction).map_err(|w| err(&key, &w))?;
            }
        }
        Ok(())
    }

    fn validate_identity(
        &self,
        identity: &Identity,
        allow_http_localhost: bool,
    ) -> Result<(), CatalogError> {
        let err =
            |what: &str| CatalogError::Invalid(format!("platform `{}`: identity.{what}", self.key));
        let from_callback = identity.callback_param.is_some();
        if identity.path.starts_with('/') {
            check_template_path(&identity.path, from_callback)
                .map_err(|w| err(&format!("path: {w}")))?;
        } else {
            self.check_url("identity.path", &identity.path, allow_http_localhost)?;
        }
        match &identity.callback_param {
            Some(param)
                if param.is_empty()
                    || !param
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_') =>
            {
                return Err(err("callback_param: must be a query parameter's name"));
            }
            Some(_) if !identity.id.is_empty() => {
                return Err(err(
                    "id: the callback names the organisation; leave `id` out",
                ));
            }
            Some(_) => {}
            None if identity.id.is_empty() => {
                return Err(err("id: is required (or `callback_param`)"));
            }
            None => check_pointer(&identity.id).map_err(|w| err(&format!("id: {w}")))?,
        }
        check_pointer(&identity.name).map_err(|w| err(&format!("name: {w}")))?;
        if identity.docs.trim().is_empty() {
            return Err(err("docs: must name the documentation page"));
        }
        Ok(())
    }
}

/// `""` or `/…` (RFC 6901 §3).
fn check_pointer(pointer: &str) -> Result<(), String> {
    if pointer.is_empty() || pointer.starts_with('/') {
        Ok(())
    } else {
        Err(format!(
            "`{pointer}` is not a JSON pointer (RFC 6901): start it with `/`"
        ))
    }
}

/// A path template: absolute, clean, and with no placeholder but `{upstream_id}` (and that
/// only where the organisation is known, i.e. not in the identity path).
fn check_template_path(path: &str, upstream_allowed: bool) -> Result<(), String> {
    let (only, _) = path.split_once('?').unwrap_or((path, ""));
    let bare = only.replace(UPSTREAM_ID, "x");
    if !is_clean_path(&bare) {
        return Err(format!(
            "`{path}` must start with `/` and hold no empty, `.` or `..` segment and no encoded slash"
        ));
    }
    let rest = path.replace(UPSTREAM_ID, "");
    if rest.contains('{') || rest.contains('}') || rest.contains('#') {
        return Err(format!(
            "`{path}` may hold no placeholder but {UPSTREAM_ID}, and no fragment"
        ));
    }
    if !upstream_allowed && path.contains(UPSTREAM_ID) {
        return Err(format!("`{path}` cannot use {UPSTREAM_ID}"));
    }
    Ok(())
}

fn check_endpoint(endpoint: &DataEndpoint, direction: Direction) -> Result<(), String> {
    let allowed: &[&str] = match direction {
        Direction::Read => &["GET"],
        Direction::Write => &["POST", "PUT", "PATCH"],
    };
    if !allowed.contains(&endpoint.method.as_str()) {
        return Err(format!(
            "method `{}` must be one of {}",
            endpoint.method,
            allowed.join(", ")
        ));
    }
    check_template_path(&endpoint.path, true).map_err(|w| format!("path: {w}"))?;
    check_pointer(&endpoint.records).map_err(|w| format!("records: {w}"))?;
    if endpoint.docs.trim().is_empty() {
        return Err("docs: must name the documentation page".to_owned());
    }
    check_pagination(&endpoint.pagination).map_err(|w| format!("pagination: {w}"))
}

fn check_pagination(pagination: &Pagination) -> Result<(), String> {
    let param = |name: &str, value: &str| -> Result<(), String> {
        let ok = !value.is_empty()
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.[]$".contains(&b));
        if ok {
            Ok(())
        } else {
            Err(format!(
                "{name} `{value}` must be a plain query parameter name"
            ))
        }
    };
    match pagination {
        Pagination::None => Ok(()),
        Pagination::Cursor {
            cursor_param,
            next_cursor,
            last_record_cursor,
            has_more,
            limit_param,
        } => {
            param("cursor_param", cursor_param)?;
            if let Some(l) = limit_param {
                param("limit_param", l)?;
            }
            match (next_cursor, last_record_cursor) {
                (Some(p), None) | (None, Some(p)) => check_pointer(p)?,
                _ => return Err("give exactly one of next_cursor and last_record_cursor".into()),
            }
            has_more.as_deref().map_or(Ok(()), check_pointer)
        }
        Pagination::Page {
            page_param,
            page_size_param,
            ..
        } => {
            param("page_param", page_param)?;
            page_size_param
                .as_deref()
                .map_or(Ok(()), |p| param("page_size_param", p))
        }
        Pagination::Offset {
            offset_param,
            limit_param,
        } => {
            param("offset_param", offset_param)?;
            param("limit_param", limit_param)
        }
    }
}

/// Headers a catalog may set: a lower-case token, never one that carries credentials or
/// framing (Accord sets those itself).
fn check_header(name: &str, value: &str) -> Result<(), &'static str> {
    const RESERVED: [&str; 8] = [
        "authorization",
        "cookie",
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "proxy-authorization",
        "te",
    ];
    let token = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !token {
        return Err("header names are lower-case tokens");
    }
    if RESERVED.contains(&name) {
        return Err("this header is Accord's to set");
    }
    if value.chars().any(char::is_control) || value.replace(UPSTREAM_ID, "").contains('{') {
        return Err("the value may hold no control character and no placeholder but {upstream_id}");
    }
    Ok(())
}

/// Data type → endpoints per direction, as written under `[platforms.data]`.
pub type DataMap = BTreeMap<DataType, DataEndpoints>;

#[cfg(test)]
mod tests;
