//! The token endpoint (RFC 6749 §3.2, §4.1.3, §6) and the revocation endpoint (RFC 7009),
//! with their client authentication (RFC 6749 §2.3.1: `client_secret_basic` or
//! `client_secret_post`).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, PRAGMA, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use secrecy::ExposeSecret as _;
use serde_json::json;

use crate::crypto::secrets_match;
use crate::http::{OAuthError, Params};
use crate::scope::ScopeSet;
use crate::state::{GrantError, Issued, NotYourToken};
use crate::Sandbox;

fn invalid_request(description: impl Into<String>) -> OAuthError {
    OAuthError::bad_request("invalid_request", description)
}

/// RFC 6749 §5.2: `invalid_client` is a 401, and a 401 carries a challenge (RFC 9110 §11.6.1).
fn invalid_client(description: &str) -> OAuthError {
    OAuthError::new(StatusCode::UNAUTHORIZED, "invalid_client", description)
        .with_challenge("Basic realm=\"accord-sandbox\"")
}

/// Reads a form body: the right media type (RFC 6749 §3.2), valid encoding, no repeated
/// parameter (§3.2).
fn read_form(headers: &HeaderMap, body: &[u8]) -> Result<Params, OAuthError> {
    let form_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';').next().is_some_and(|t| {
                t.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        });
    if !form_type {
        return Err(invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let params =
        Params::parse(body).map_err(|_| invalid_request("the body is not valid form encoding"))?;
    if let Some(name) = params.repeated() {
        return Err(invalid_request(format!("the parameter {name} is repeated")));
    }
    Ok(params)
}

/// Decodes one `application/x-www-form-urlencoded` value, as RFC 6749 §2.3.1 requires for the
/// client id and secret inside HTTP Basic credentials.
fn form_decode(encoded: &str) -> Option<String> {
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = encoded.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Authenticates the client and returns its id.
fn authenticate(
    sandbox: &Sandbox,
    headers: &HeaderMap,
    params: &Params,
) -> Result<String, OAuthError> {
    let basic = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .map(|(_, credentials)| credentials.trim());
    let (client_id, secret) = if let Some(credentials) = basic {
        // RFC 6749 §2.3: a client uses one authentication method per request.
        if params.get("client_secret").is_some() {
            return Err(invalid_request(
                "use one client authentication method, not two",
            ));
        }
        let decoded = STANDARD
            .decode(credentials)
            .ok()
            .and_then(|d| String::from_utf8(d).ok())
            .ok_or_else(|| invalid_client("the Basic credentials are malformed"))?;
        let (id, secret) = decoded
            .split_once(':')
            .and_then(|(id, secret)| Some((form_decode(id)?, form_decode(secret)?)))
            .ok_or_else(|| invalid_client("the Basic credentials are malformed"))?;
        if params.get("client_id").is_some_and(|body_id| body_id != id) {
            return Err(invalid_client(
                "client_id differs from the authenticated client",
            ));
        }
        (id, secret)
    } else {
        let id = params
            .get("client_id")
            .ok_or_else(|| invalid_client("client authentication is required"))?;
        let secret = params
            .get("client_secret")
            .ok_or_else(|| invalid_client("client authentication is required"))?;
        (id.to_owned(), secret.to_owned())
    };
    let store = sandbox.store();
    let expected = store
        .client(&client_id)
        .map(|c| c.client_secret.expose_secret());
    // Compare even for an unknown client, so timing does not tell which client ids exist.
    let matches = secrets_match(&secret, expected.unwrap_or("\u{0}unknown-client"));
    if expected.is_some() && matches {
        Ok(client_id)
    } else {
        Err(invalid_client("client authentication failed"))
    }
}

/// `POST /oauth/token`.
pub async fn token(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    if sandbox.in_outage() {
        // What a load balancer answers when the service behind it is down: no OAuth body.
        return Ok((
            StatusCode::SERVICE_UNAVAILABLE,
            [(RETRY_AFTER, HeaderValue::from_static("30"))],
            "Service Unavailable",
        )
            .into_response());
    }
    let params = read_form(&headers, &body)?;
    if params.get("grant_type") == Some("refresh_token") {
        sandbox.count_refresh();
    }
    let client_id = authenticate(&sandbox, &headers, &params)?;
    let now = sandbox.now();
    let ttl = sandbox.inner.access_token_ttl;
    let issued = match params.get("grant_type") {
        None => return Err(invalid_request("grant_type is required")),
        Some("authorization_code") => {
            // RFC 6749 §4.1.3 (redirect_uri was in the authorization request, so it is
            // required) and RFC 7636 §4.5.
            let (Some(code), Some(redirect_uri), Some(verifier)) = (
                params.get("code"),
                params.get("redirect_uri"),
                params.get("code_verifier"),
            ) else {
                return Err(invalid_request(
                    "code, redirect_uri and code_verifier are required",
                ));
            };
            sandbox
                .store()
                .redeem_code(code, &client_id, redirect_uri, verifier, now, ttl)
        }
        Some("refresh_token") => {
            let refresh_token = params
                .get("refresh_token")
                .ok_or_else(|| invalid_request("refresh_token is required"))?;
            let requested = params
                .get("scope")
                .map(ScopeSet::parse)
                .transpose()
                .map_err(|unknown| {
                    OAuthError::bad_request("invalid_scope", format!("unknown scope {}", unknown.0))
                })?;
            sandbox
                .store()
                .refresh(refresh_token, &client_id, requested, now, ttl)
        }
        Some(_) => {
            return Err(OAuthError::bad_request(
                "unsupported_grant_type",
                "grant_type must be authorization_code or refresh_token",
            ))
        }
    };
    match issued {
        Ok(issued) => Ok(token_response(issued)),
        Err(GrantError::InvalidGrant(description)) => {
            Err(OAuthError::bad_request("invalid_grant", description))
        }
        Err(GrantError::InvalidScope(description)) => {
            Err(OAuthError::bad_request("invalid_scope", description))
        }
    }
}

/// RFC 6749 §5.1: the token response, never cached.
fn token_response(issued: Issued) -> Response {
    let mut body = json!({
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "scope": issued.scopes.to_string(),
    });
    if let Some(refresh_token) = issued.refresh_token {
        body["refresh_token"] = refresh_token.into();
    }
    let mut response = Json(body).into_response();
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// `POST /oauth/revoke` (RFC 7009 §2).
pub async fn revoke(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, OAuthError> {
    let params = read_form(&headers, &body)?;
    let client_id = authenticate(&sandbox, &headers, &params)?;
    let token = params
        .get("token")
        .ok_or_else(|| invalid_request("token is required"))?;
    // `token_type_hint` is only a hint (RFC 7009 §2.1): both kinds of token are looked up.
    match sandbox.store().revoke(token, &client_id) {
        // RFC 7009 §2.2: 200 also for a token that is unknown, expired or already revoked.
        Ok(()) => Ok(StatusCode::OK),
        Err(NotYourToken) => Err(invalid_request("the token was not issued to this client")),
    }
}

#[cfg(test)]
mod tests {
    use super::form_decode;

    #[test]
    fn basic_credentials_are_form_decoded() {
        assert_eq!(form_decode("a%3Ab+c").as_deref(), Some("a:b c"));
        assert_eq!(form_decode("plain").as_deref(), Some("plain"));
        assert_eq!(form_decode("bad%zz"), None);
        assert_eq!(form_decode("cut%4"), None);
    }
}
