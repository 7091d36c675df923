//! How a tenant integrates the flow into its own site: the origins allowed to embed the flow in
//! an iframe (the embed SDK; they become CSP `frame-ancestors`), and the return URLs the
//! customer may be sent back to when the flow finishes (exact matching: a prefix or pattern
//! match would let a look-alike URL receive the customer and the flow's outcome).
//!
//! Both lists hold canonical strings only: an entry is accepted when it is exactly what the URL
//! parser (WHATWG URL, the `url` crate) serialises it to, so the stored text is also what a
//! browser would compare, and a later exact string comparison cannot be fooled by case,
//! encodings, default ports or trailing dots that a looser comparison would fold together.

use crate::validate::{check_url_scheme, FieldError, Invalid};
use serde::{Deserialize, Serialize};
use url::Url;

/// At most this many entries per list.
pub const MAX_ENTRIES: usize = 20;

/// The tenant's integration settings (part of [`crate::settings::LinkSettings`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntegrationSettings {
    /// Origins allowed to frame the flow (`https://lender.example`): scheme, host and port only.
    #[serde(default)]
    pub embedding_origins: Vec<String>,
    /// Absolute URLs the customer may be sent back to, matched exactly.
    #[serde(default)]
    pub return_urls: Vec<String>,
}

impl IntegrationSettings {
    pub fn is_empty(&self) -> bool {
        self.embedding_origins.is_empty() && self.return_urls.is_empty()
    }

    /// Validates both lists; errors name `integration.embedding_origins.N` and
    /// `integration.return_urls.N`.
    pub fn validate(&self, allow_http_localhost: bool, invalid: &mut Invalid) {
        for (name, list) in [
            ("embedding_origins", &self.embedding_origins),
            ("return_urls", &self.return_urls),
        ] {
            if list.len() > MAX_ENTRIES {
                invalid.push(FieldError::new(
                    format!("integration.{name}"),
                    format!("at most {MAX_ENTRIES} entries"),
                ));
            }
            for (i, raw) in list.iter().enumerate() {
                let path = format!("integration.{name}.{i}");
                let checked = if name == "embedding_origins" {
                    origin_entry(raw, allow_http_localhost)
                } else {
                    return_url_entry(raw, allow_http_localhost)
                };
                if let Err(m) = checked {
                    invalid.push(FieldError::new(path.clone(), m));
                } else if list[..i].contains(raw) {
                    invalid.push(FieldError::new(path, "is listed twice"));
                }
            }
        }
    }

    /// Whether `origin` (as a browser serialises it, e.g. from `event.origin`) may embed the flow.
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.embedding_origins.iter().any(|o| o == origin)
    }

    /// The registered return URL equal to `candidate`, byte for byte. Nothing is normalised
    /// first: a registered URL is canonical, so any other spelling is a different URL.
    pub fn return_url(&self, candidate: &str) -> Option<&str> {
        self.return_urls
            .iter()
            .find(|u| u.as_str() == candidate)
            .map(String::as_str)
    }
}

/// An origin entry: canonical `scheme://host[:port]`, https (http only for localhost in
/// development), no path, query, fragment, user info or wildcard.
fn origin_entry(raw: &str, allow_http_localhost: bool) -> Result<(), String> {
    const SHAPE: &str =
        "must be an exact origin like https://lender.example (no path, wildcard or user info)";
    if raw.contains('*') {
        return Err("wildcards are not allowed; list each origin".to_owned());
    }
    let url = Url::parse(raw).map_err(|_| SHAPE.to_owned())?;
    check_url_scheme(&url, allow_http_localhost)?;
    let canonical = url.origin().ascii_serialization();
    if canonical != raw {
        return Err(format!("{SHAPE}; did you mean {canonical}?"));
    }
    Ok(())
}

/// A return-URL entry: absolute, https (http only for localhost in development), no user info
/// or fragment, written canonically.
fn return_url_entry(raw: &str, allow_http_localhost: bool) -> Result<(), String> {
    if raw.len() > 2048 {
        return Err("must be at most 2048 characters".to_owned());
    }
    let url = Url::parse(raw).map_err(|e| format!("is not an absolute URL ({e})"))?;
    check_url_scheme(&url, allow_http_localhost)?;
    if url.fragment().is_some() {
        return Err("must not have a fragment".to_owned());
    }
    if url.as_str() != raw {
        return Err(format!("must be written canonically: {}", url.as_str()));
    }
    Ok(())
}

/// What the customer's return to the tenant carries (issue: `companyId`, `connectionId`,
/// `platform`, `status`, `errorCode`). Only identifiers and codes: nothing secret.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReturnParams {
    pub company_id: String,
    pub connection_id: Option<String>,
    pub platform: Option<String>,
    /// The connection's status (`linked`, `pending_auth`…), or `exited` without a connection.
    pub status: String,
    pub error_code: Option<String>,
}

/// The registered return URL with the result appended to its query (its own query is kept).
pub fn return_redirect(registered: &str, params: &ReturnParams) -> Option<String> {
    let mut url = Url::parse(registered).ok()?;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("companyId", &params.company_id);
        if let Some(c) = &params.connection_id {
            q.append_pair("connectionId", c);
        }
        if let Some(p) = &params.platform {
            q.append_pair("platform", p);
        }
        q.append_pair("status", &params.status);
        if let Some(e) = &params.error_code {
            q.append_pair("errorCode", e);
        }
    }
    Some(url.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(s: &IntegrationSettings, dev: bool) -> Vec<String> {
        let mut inv = Invalid::default();
        s.validate(dev, &mut inv);
        inv.0.into_iter().map(|e| e.path).collect()
    }

    #[test]
    fn origins_are_exact() {
        let good = IntegrationSettings {
            embedding_origins: vec![
                "https://lender.example".into(),
                "https://app.lender.example:8443".into(),
            ],
            return_urls: vec![],
        };
        assert!(paths(&good, false).is_empty());
        let bad: Vec<String> = [
            "https://lender.example/",
            "https://lender.example/app",
            "https://*.lender.example",
            "*",
            "http://lender.example",
            "https://LENDER.example",
            "https://lender.example:443",
            "https://user@lender.example",
            "lender.example",
            "null",
            "javascript:alert(1)",
            "https://lender.example?x",
        ]
        .map(String::from)
        .to_vec();
        let s = IntegrationSettings {
            embedding_origins: bad.clone(),
            return_urls: vec![],
        };
        assert_eq!(paths(&s, true).len(), bad.len(), "{bad:?}");
        let local = IntegrationSettings {
            embedding_origins: vec!["http://localhost:3000".into(), "http://127.0.0.1:9".into()],
            return_urls: vec![],
        };
        assert!(paths(&local, true).is_empty());
        assert_eq!(paths(&local, false).len(), 2);
    }

    #[test]
    fn return_urls_are_canonical_and_matched_exactly() {
        let s = IntegrationSettings {
            embedding_origins: vec![],
            return_urls: vec!["https://lender.example/accord/done?from=accord".into()],
        };
        assert!(paths(&s, false).is_empty());
        assert!(s
            .return_url("https://lender.example/accord/done?from=accord")
            .is_some());
        for near in [
            "https://lender.example/accord/done",
            "https://LENDER.example/accord/done?from=accord",
            "https://lender.example/accord/done?from=accord&x=1",
            "https://lender.example/accord/done/?from=accord",
            "https://lender.example/accord/%64one?from=accord",
        ] {
            assert!(s.return_url(near).is_none(), "{near}");
        }
        let bad = IntegrationSettings {
            embedding_origins: vec![],
            return_urls: vec![
                "https://lender.example".into(), // canonical form has a trailing slash
                "https://lender.example/done#x".into(),
                "http://lender.example/done".into(),
                "https://u:p@lender.example/done".into(),
                "/done".into(),
                "https://lender.example/done".into(),
                "https://lender.example/done".into(),
            ],
        };
        assert_eq!(
            paths(&bad, false),
            [
                "integration.return_urls.0",
                "integration.return_urls.1",
                "integration.return_urls.2",
                "integration.return_urls.3",
                "integration.return_urls.4",
                "integration.return_urls.6",
            ]
        );
    }

    #[test]
    fn redirect_keeps_the_registered_query() {
        let url = return_redirect(
            "https://lender.example/done?from=accord",
            &ReturnParams {
                company_id: "c1".into(),
                connection_id: Some("k1".into()),
                platform: Some("sandbox".into()),
                status: "linked".into(),
                error_code: None,
            },
        )
        .unwrap();
        assert_eq!(
            url,
            "https://lender.example/done?from=accord&companyId=c1&connectionId=k1&platform=sandbox&status=linked"
        );
    }
}
