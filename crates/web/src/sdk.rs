//! The embed SDK's files: `/sdk/link.js` (hand-written, no dependencies, no build step: the
//! file served is the file in the repository, so there is nothing to keep in sync) and its
//! TypeScript declarations `/sdk/link.d.ts`. Public code: cacheable, and readable from any
//! origin (CORS) so host pages may load it with `crossorigin` and subresource integrity.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// The SDK source, as served.
pub const LINK_JS: &str = include_str!("../assets/sdk/link.js");
/// Its TypeScript declarations.
pub const LINK_D_TS: &str = include_str!("../assets/sdk/link.d.ts");

fn file(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (
                header::HeaderName::from_static("cross-origin-resource-policy"),
                "cross-origin",
            ),
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=300"),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            // Like every other response; a script's own CSP does not limit the page running it.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; frame-ancestors 'none'",
            ),
        ],
        body,
    )
        .into_response()
}

pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            "/sdk/link.js",
            get(|| async { file("text/javascript; charset=utf-8", LINK_JS) }),
        )
        .route(
            "/sdk/link.d.ts",
            get(|| async { file("application/typescript; charset=utf-8", LINK_D_TS) }),
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// The embed SDK is at most 4 KB gzipped: it loads on the tenant's own page, whose weight is
    /// not ours to spend.
    #[test]
    fn sdk_is_at_most_4_kb_gzipped() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(LINK_JS.as_bytes()).unwrap();
        let size = gz.finish().unwrap().len();
        assert!(size <= 4096, "link.js is {size} bytes gzipped");
    }

    /// Messages leave with an exact target origin, never `"*"`, and are checked on arrival.
    #[test]
    fn sdk_never_posts_to_any_origin() {
        for src in [LINK_JS, include_str!("../assets/embed.js")] {
            assert!(!src.contains("\"*\""), "wildcard target origin");
            assert!(!src.contains("'*'"), "wildcard target origin");
        }
        assert!(LINK_JS.contains("e.origin !== origin || e.source !== frame.contentWindow"));
        assert!(!LINK_JS.contains("import ") && !LINK_JS.contains("require("));
    }
}
