//! The authorization endpoint (RFC 6749 §4.1.1–§4.1.2) with its sign-in page, and the
//! authorization-server metadata (RFC 8414).

use askama::Template;
use axum::body::Bytes;
use axum::extract::{OriginalUri, RawQuery, State};
use axum::http::header::LOCATION;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use url::Url;

use crate::crypto::is_valid_s256_challenge;
use crate::http::{base_url, csp_nonce, error_page, html_page, mount_prefix, Params};
use crate::scope::{Scope, ScopeSet};
use crate::state::AuthRequest;
use crate::Sandbox;

/// The longest organisation (sandbox user) name accepted.
const MAX_ORGANISATION_CHARS: usize = 64;

/// `GET /.well-known/oauth-authorization-server` (RFC 8414 §3). The issuer is the base URL the
/// client reached the sandbox at, mount path included.
pub async fn metadata(
    OriginalUri(original): OriginalUri,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let issuer = base_url(&headers, &mount_prefix(&original, &uri));
    let auth_methods = ["client_secret_basic", "client_secret_post"];
    let scopes: Vec<String> = Scope::all().iter().map(ToString::to_string).collect();
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/oauth/authorize"),
        "token_endpoint": format!("{issuer}/oauth/token"),
        "revocation_endpoint": format!("{issuer}/oauth/revoke"),
        "scopes_supported": scopes,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "code_challenge_methods_supported": ["S256"],
    }))
    .into_response()
}

/// Why an authorization request is refused.
enum Refusal {
    /// RFC 6749 §4.1.2.1: the client or redirect URI cannot be trusted, so the user is told
    /// here and never redirected.
    Page(&'static str),
    /// Any other error goes back to the client's redirect URI.
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        error: &'static str,
        description: String,
    },
}

/// `GET /oauth/authorize`: validates the request, then shows the sign-in page.
pub async fn show(
    State(sandbox): State<Sandbox>,
    OriginalUri(original): OriginalUri,
    RawQuery(query): RawQuery,
) -> Response {
    let Ok(params) = Params::parse(query.unwrap_or_default().as_bytes()) else {
        return refuse(
            Refusal::Page("The sign-in link is malformed."),
            StatusCode::FOUND,
        );
    };
    match validate(&sandbox, &params) {
        Ok(request) => sign_in_page(&sandbox, &request, original.path(), "", None),
        Err(refusal) => refuse(refusal, StatusCode::FOUND),
    }
}

fn validate(sandbox: &Sandbox, params: &Params) -> Result<AuthRequest, Refusal> {
    if matches!(params.repeated(), Some("client_id" | "redirect_uri")) {
        return Err(Refusal::Page(
            "The sign-in link names its application more than once.",
        ));
    }
    let client_id = params.get("client_id").ok_or(Refusal::Page(
        "The sign-in link does not say which application is asking.",
    ))?;
    let redirect_uri = params.get("redirect_uri").ok_or(Refusal::Page(
        "The sign-in link does not say where to return to.",
    ))?;
    check_client(sandbox, client_id, redirect_uri)?;

    let redirect = |error, description: &str| Refusal::Redirect {
        redirect_uri: redirect_uri.to_owned(),
        state: params.get("state").map(str::to_owned),
        error,
        description: description.to_owned(),
    };
    if let Some(name) = params.repeated() {
        return Err(redirect(
            "invalid_request",
            &format!("the parameter {name} is repeated"),
        ));
    }
    match params.get("response_type") {
        None => return Err(redirect("invalid_request", "response_type is required")),
        Some("code") => {}
        Some(_) => {
            return Err(redirect(
                "unsupported_response_type",
                "only response_type=code is supported",
            ))
        }
    }
    // RFC 7636 §4.4.1: PKCE is required here, and only the S256 method is supported.
    let code_challenge = params.get("code_challenge").ok_or_else(|| {
        redirect(
            "invalid_request",
            "code_challenge is required (PKCE, RFC 7636)",
        )
    })?;
    if params.get("code_challenge_method") != Some("S256") {
        return Err(redirect(
            "invalid_request",
            "code_challenge_method must be S256",
        ));
    }
    if !is_valid_s256_challenge(code_challenge) {
        return Err(redirect(
            "invalid_request",
            "code_challenge is not a base64url SHA-256 digest",
        ));
    }
    // RFC 6749 §3.3: the sandbox has no default scope, so a scope is required.
    let scopes = match params.get("scope").map(ScopeSet::parse) {
        None => return Err(redirect("invalid_scope", "scope is required")),
        Some(Err(unknown)) => {
            return Err(redirect(
                "invalid_scope",
                &format!("unknown scope {}", unknown.0),
            ))
        }
        Some(Ok(scopes)) if scopes.is_empty() => {
            return Err(redirect("invalid_scope", "scope is required"))
        }
        Some(Ok(scopes)) => scopes,
    };
    Ok(AuthRequest {
        client_id: client_id.to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        scopes,
        state: params.get("state").map(str::to_owned),
        code_challenge: code_challenge.to_owned(),
    })
}

/// The client must be registered and the redirect URI one of its registered URIs, compared as
/// exact strings (RFC 6749 §3.1.2.3; RFC 9700 §4.1.3 asks for exact matching).
fn check_client(sandbox: &Sandbox, client_id: &str, redirect_uri: &str) -> Result<(), Refusal> {
    let store = sandbox.store();
    let client = store.client(client_id).ok_or(Refusal::Page(
        "The application asking for access is not registered with the sandbox.",
    ))?;
    if !client.redirect_uris.iter().any(|r| r == redirect_uri) {
        return Err(Refusal::Page(
            "The return address is not registered for this application.",
        ));
    }
    // RFC 6749 §3.1.2: an absolute URI without a fragment.
    match Url::parse(redirect_uri) {
        Ok(url) if url.fragment().is_none() => Ok(()),
        _ => Err(Refusal::Page(
            "The registered return address is not a valid URI.",
        )),
    }
}

fn refuse(refusal: Refusal, redirect_status: StatusCode) -> Response {
    match refusal {
        Refusal::Page(message) => error_page(
            StatusCode::BAD_REQUEST,
            "This sign-in request cannot be used",
            message,
        ),
        Refusal::Redirect {
            redirect_uri,
            state,
            error,
            description,
        } => {
            let mut params = vec![
                ("error", error),
                ("error_description", description.as_str()),
            ];
            if let Some(state) = &state {
                params.push(("state", state));
            }
            redirect_to(&redirect_uri, &params, redirect_status)
        }
    }
}

/// Redirects to the client, appending to any query the redirect URI already has
/// (RFC 6749 §3.1.2: the query component must be retained).
fn redirect_to(redirect_uri: &str, params: &[(&str, &str)], status: StatusCode) -> Response {
    let Ok(mut url) = Url::parse(redirect_uri) else {
        return refuse(
            Refusal::Page("The registered return address is not a valid URI."),
            status,
        );
    };
    url.query_pairs_mut().extend_pairs(params);
    (status, [(LOCATION, url.as_str())]).into_response()
}

#[derive(Template)]
#[template(path = "signin.html")]
struct SignInPage<'a> {
    nonce: &'a str,
    action: &'a str,
    client_id: &'a str,
    scopes: Vec<String>,
    scope: String,
    redirect_uri: &'a str,
    state: Option<&'a str>,
    code_challenge: &'a str,
    csrf: &'a str,
    organisation: &'a str,
    error: Option<&'a str>,
    return_to: String,
}

/// Shows the sign-in form with a fresh single-use CSRF nonce bound to this request.
fn sign_in_page(
    sandbox: &Sandbox,
    request: &AuthRequest,
    action: &str,
    organisation: &str,
    error: Option<&str>,
) -> Response {
    let expires_at = sandbox.now() + sandbox.inner.code_ttl * 10;
    let csrf = sandbox.store().issue_nonce(request.clone(), expires_at);
    let return_to = Url::parse(&request.redirect_uri)
        .ok()
        .map(|u| u.origin().ascii_serialization())
        .filter(|origin| origin != "null")
        .unwrap_or_else(|| request.redirect_uri.clone());
    let nonce = csp_nonce();
    let page = SignInPage {
        nonce: &nonce,
        action,
        client_id: &request.client_id,
        scopes: request.scopes.iter().map(Scope::describe).collect(),
        scope: request.scopes.to_string(),
        redirect_uri: &request.redirect_uri,
        state: request.state.as_deref(),
        code_challenge: &request.code_challenge,
        csrf: &csrf,
        organisation,
        error,
        return_to,
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    html_page(status, &page, &nonce)
}

/// `POST /oauth/authorize`: the user's decision on the sign-in page.
pub async fn decide(
    State(sandbox): State<Sandbox>,
    OriginalUri(original): OriginalUri,
    body: Bytes,
) -> Response {
    let Some((form, request)) = Params::parse(&body)
        .ok()
        .filter(|form| form.repeated().is_none())
        .and_then(|form| trusted_request(&sandbox, &form).map(|request| (form, request)))
    else {
        return refuse(
            Refusal::Page("This sign-in form has expired or was already used."),
            StatusCode::SEE_OTHER,
        );
    };
    if let Err(refusal) = check_client(&sandbox, &request.client_id, &request.redirect_uri) {
        return refuse(refusal, StatusCode::SEE_OTHER);
    }
    let state = request.state.clone();
    let with_state = |mut params: Vec<(&'static str, String)>| {
        if let Some(state) = &state {
            params.push(("state", state.clone()));
        }
        params
    };
    match form.get("decision") {
        Some("deny") => {
            // RFC 6749 §4.1.2.1: the resource owner denied the request.
            let params = with_state(vec![
                ("error", "access_denied".to_owned()),
                (
                    "error_description",
                    "The user denied the request.".to_owned(),
                ),
            ]);
            redirect_to(
                &request.redirect_uri,
                &pairs(&params),
                StatusCode::SEE_OTHER,
            )
        }
        Some("approve") => {
            let organisation = form.get("organisation").unwrap_or_default().trim();
            if let Err(problem) = check_organisation(organisation) {
                return sign_in_page(
                    &sandbox,
                    &request,
                    original.path(),
                    organisation,
                    Some(problem),
                );
            }
            let expires_at = sandbox.now() + sandbox.inner.code_ttl;
            let redirect_uri = request.redirect_uri.clone();
            let code = sandbox
                .store()
                .issue_code(request, organisation.to_owned(), expires_at);
            let params = with_state(vec![("code", code)]);
            redirect_to(&redirect_uri, &pairs(&params), StatusCode::SEE_OTHER)
        }
        _ => refuse(
            Refusal::Page("The sign-in form was sent without a choice."),
            StatusCode::SEE_OTHER,
        ),
    }
}

fn pairs<'a>(params: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    params.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// Consumes the form's CSRF nonce and checks that the hidden fields are those of the request
/// the nonce was issued for, so a forged or edited form is refused.
fn trusted_request(sandbox: &Sandbox, form: &Params) -> Option<AuthRequest> {
    let request = sandbox
        .store()
        .take_nonce(form.get("csrf")?, sandbox.now())?;
    let scope = request.scopes.to_string();
    let unchanged = form.get("client_id") == Some(request.client_id.as_str())
        && form.get("redirect_uri") == Some(request.redirect_uri.as_str())
        && form.get("scope") == Some(scope.as_str())
        && form.get("state") == request.state.as_deref()
        && form.get("code_challenge") == Some(request.code_challenge.as_str());
    unchanged.then_some(request)
}

pub(crate) fn check_organisation(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        Err("Enter a sandbox user name.")
    } else if name.chars().count() > MAX_ORGANISATION_CHARS {
        Err("Use 64 characters or fewer.")
    } else if name.chars().any(char::is_control) {
        Err("Use letters, digits, spaces and punctuation only.")
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organisation_names_are_checked() {
        assert!(check_organisation("Acme Ltd").is_ok());
        assert!(check_organisation("").is_err());
        assert!(check_organisation(&"é".repeat(64)).is_ok());
        assert!(check_organisation(&"é".repeat(65)).is_err());
        assert!(check_organisation("a\u{0}b").is_err());
    }

    #[test]
    fn redirects_keep_an_existing_query() {
        let response = redirect_to(
            "https://client.example/cb?tenant=7",
            &[("code", "abc"), ("state", "x y&z")],
            StatusCode::SEE_OTHER,
        );
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            response.headers()[LOCATION],
            "https://client.example/cb?tenant=7&code=abc&state=x+y%26z"
        );
    }
}
