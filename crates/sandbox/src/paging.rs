//! Paging of the data API's lists: `?limit=` records from the opaque `?cursor=` the previous
//! page answered with, `{"data": [...], "next_cursor": "…" | null}`. The cursor is opaque on
//! purpose, as at real platforms, so a client cannot build one and must follow the chain.

use axum::http::StatusCode;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};

use crate::http::{OAuthError, Params};

/// Records per page when the client names no `limit`, and the most it may name.
pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 100;

/// The prefix inside every cursor, so a cursor of another platform (or a number) is refused.
const CURSOR_PREFIX: &str = "sandbox-offset:";

fn bad(description: &str) -> OAuthError {
    OAuthError::new(StatusCode::BAD_REQUEST, "invalid_request", description)
}

pub fn cursor_for(offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("{CURSOR_PREFIX}{offset}"))
}

fn offset_of(cursor: &str) -> Option<usize> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
    text.strip_prefix(CURSOR_PREFIX)?.parse().ok()
}

/// The page of `items` that the query (`limit`, `cursor`) asks for.
pub fn page(items: &[Value], query: &str) -> Result<Value, OAuthError> {
    let params = Params::parse(query.as_bytes()).map_err(|_| bad("the query is not valid"))?;
    if let Some(name) = params.repeated() {
        return Err(bad(&format!("the parameter {name} is repeated")));
    }
    let limit = match params.get("limit") {
        None => DEFAULT_LIMIT,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=MAX_LIMIT).contains(l))
            .ok_or_else(|| bad("limit must be a whole number from 1 to 100"))?,
    };
    let offset = match params.get("cursor") {
        None => 0,
        Some(c) => offset_of(c)
            .filter(|o| *o <= items.len())
            .ok_or_else(|| bad("cursor is not one this API returned"))?,
    };
    let end = (offset + limit).min(items.len());
    let next = (end < items.len()).then(|| cursor_for(end));
    Ok(json!({ "data": &items[offset..end], "next_cursor": next }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(n: usize) -> Vec<Value> {
        (0..n).map(|i| json!(i)).collect()
    }

    #[test]
    fn pages_chain_until_the_end() {
        let all = items(5);
        let first = page(&all, "limit=2").unwrap();
        assert_eq!(first["data"], json!([0, 1]));
        let next = first["next_cursor"].as_str().unwrap();
        let second = page(&all, &format!("limit=2&cursor={next}")).unwrap();
        assert_eq!(second["data"], json!([2, 3]));
        let next = second["next_cursor"].as_str().unwrap();
        let last = page(&all, &format!("limit=2&cursor={next}")).unwrap();
        assert_eq!(last["data"], json!([4]));
        assert_eq!(last["next_cursor"], Value::Null);
        let whole = page(&all, "").unwrap();
        assert_eq!(whole["data"], json!([0, 1, 2, 3, 4]));
        assert_eq!(whole["next_cursor"], Value::Null);
        assert_eq!(page(&[], "").unwrap()["data"], json!([]));
    }

    #[test]
    fn bad_limits_and_cursors_are_refused() {
        let all = items(5);
        let foreign = URL_SAFE_NO_PAD.encode("offset:2");
        let past = cursor_for(6);
        for query in [
            "limit=0",
            "limit=101",
            "limit=-1",
            "limit=x",
            "cursor=%%%",
            "cursor=2",
            &format!("cursor={foreign}"),
            &format!("cursor={past}"),
            "limit=1&limit=2",
        ] {
            assert!(page(&all, query).is_err(), "{query}");
        }
    }
}
