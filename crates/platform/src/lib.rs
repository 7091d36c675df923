//! Accord as an OAuth 2.0 client of platforms (RFC 6749 authorization code + RFC 7636 PKCE
//! S256, RFC 6749 §6 refresh, RFC 7009 revocation), through the `oauth2` crate. `state` and the PKCE verifier are
//! kept server-side (encrypted verifier), bound to the browser session, for 10 minutes.
//! Used by the hosted flow and API (`web`) and by background jobs (`worker`).

pub mod data;
pub mod secrets;

use accord_domain::catalog::Catalog;
use accord_domain::catalog::{DataUse, Platform, TokenAuth};
use accord_domain::connection::TokenSet;
use accord_domain::crypto::Keyring;
use accord_domain::crypto::{aad, random_token, TokenHash};
use accord_domain::flow::{OAuthFlow, OAUTH_STATE_TTL};
use accord_domain::ids::{BrowserSessionId, ConnectionId, TenantId};
use accord_domain::Clock;
use accord_store::Store;
use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, Scope, TokenResponse, TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use url::Url;

#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// The tenant has not enabled this platform or not given its client credentials.
    #[error("platform `{0}` is not configured for this tenant")]
    NotConfigured(String),
    #[error("catalog endpoint is not a valid URL: {0}")]
    BadEndpoint(String),
    /// The platform refused the exchange (`invalid_grant`…); the code is the platform's.
    #[error("the platform refused: {0}")]
    Refused(String),
    #[error("could not reach the platform: {0}")]
    Unreachable(String),
    /// A refresh answered `invalid_grant` (RFC 6749 §5.2): the refresh token is "invalid,
    /// expired, revoked" — the customer removed Accord's access at the platform, or the grant
    /// ran out. Unlike the other refusals, retrying cannot help.
    #[error("the platform no longer honours the grant")]
    GrantRevoked,
    #[error(transparent)]
    Store(#[from] accord_store::StoreError),
}

impl OAuthError {
    /// A short machine code recorded on the connection and shown in support diagnostics.
    pub fn code(&self) -> &'static str {
        match self {
            OAuthError::NotConfigured(_) => "platform_not_configured",
            OAuthError::BadEndpoint(_) => "platform_misconfigured",
            OAuthError::Refused(_) => "token_exchange_refused",
            OAuthError::Unreachable(_) => "platform_unreachable",
            OAuthError::GrantRevoked => "invalid_grant",
            OAuthError::Store(_) => "internal",
        }
    }
}

/// Where this Accord is reached, and where the sandbox is: everything needed to turn catalog
/// templates into concrete endpoints and redirect URIs.
#[derive(Debug, Clone)]
pub struct Urls {
    pub public_url: Url,
    /// Base URL of the sandbox platform, substituted for `{sandbox_url}` (default: `<public>/sandbox`).
    pub sandbox_url: Option<Url>,
}

impl Urls {
    /// An absolute URL on this Accord, e.g. `url("/link/abc")`.
    pub fn url(&self, path: &str) -> String {
        let base = self.public_url.as_str().trim_end_matches('/');
        format!("{base}{path}")
    }

    /// The single redirect URI registered at a platform for this Accord.
    pub fn redirect_uri(&self, platform: &Platform) -> String {
        self.url(&format!("/link/callback/{}", platform.key))
    }

    /// A catalog endpoint with its placeholders filled in.
    pub fn endpoint(&self, template: &str, shop: Option<&str>) -> String {
        let sandbox = self.sandbox_url.as_ref().map_or_else(
            || self.url("/sandbox"),
            |u| u.as_str().trim_end_matches('/').to_owned(),
        );
        template
            .replace("{sandbox_url}", &sandbox)
            .replace("{shop}", shop.unwrap_or(""))
    }
}

/// An HTTP request of the OAuth flow and its answer, as the `oauth2` crate carries them.
pub type InProcessRequest = oauth2::HttpRequest;
pub type InProcessResponse = oauth2::HttpResponse;
/// How a platform served by this very process answers one request.
pub type InProcessAnswer = Arc<
    dyn Fn(InProcessRequest) -> Pin<Box<dyn Future<Output = InProcessResponse> + Send>>
        + Send
        + Sync,
>;

/// A platform served by this very process: the sandbox, when `accord demo` mounts it beside
/// Accord. The token requests of the OAuth flow whose URL is under `base` are handed to
/// `answer` — the same request (method, path, query, headers, form body, the `Host` the URL
/// names) to the same handlers, and the same response — instead of leaving through a socket
/// to come back in through the listener. Every other platform, and every other call, goes over
/// HTTP as ever; the tests keep the sandbox on HTTP.
#[derive(Clone)]
pub struct InProcess {
    /// The platform's base URL, without a trailing slash (`http://127.0.0.1:8080/sandbox`).
    pub base: String,
    pub answer: InProcessAnswer,
}

impl std::fmt::Debug for InProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcess")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl InProcess {
    /// Whether `uri` is under this platform's base URL (at a path boundary).
    fn serves(&self, uri: &oauth2::http::Uri) -> bool {
        let uri = uri.to_string();
        uri.strip_prefix(&self.base)
            .is_some_and(|rest| rest.starts_with('/') || rest.starts_with('?'))
    }
}

/// What the OAuth flow's requests go through: [`PlatformClient::send`].
type Sent<'a> = Pin<
    Box<
        dyn Future<Output = Result<InProcessResponse, oauth2::HttpClientError<reqwest::Error>>>
            + Send
            + 'a,
    >,
>;

/// The HTTP client of the code exchange: [`PlatformClient::send`].
struct Transport<'a>(&'a PlatformClient);

impl<'c> oauth2::AsyncHttpClient<'c> for Transport<'_> {
    type Error = oauth2::HttpClientError<reqwest::Error>;
    type Future = Sent<'c>;

    fn call(&'c self, request: InProcessRequest) -> Self::Future {
        self.0.send(request)
    }
}

/// What talking to platforms needs. Cheap to clone.
#[derive(Clone, Debug)]
pub struct PlatformClient {
    pub store: Arc<dyn Store>,
    pub catalog: Arc<Catalog>,
    pub keyring: Arc<Keyring>,
    /// Tenants' secrets, sealed under their data keys.
    pub secrets: Arc<secrets::Secrets>,
    pub clock: Arc<dyn Clock>,
    /// Shared: every request's state carries a copy of the client.
    pub urls: Arc<Urls>,
    /// No redirects followed (RFC 9700 §4.11: a token endpoint answering with a redirect is
    /// an attack or a misconfiguration), timeouts set.
    pub http: reqwest::Client,
    /// The platform this process serves itself, if any (see [`InProcess`]).
    pub in_process: Option<InProcess>,
}

impl PlatformClient {
    /// Sends one token request: in-process to the platform this process serves, over HTTP to
    /// any other.
    fn send(&self, mut request: InProcessRequest) -> Sent<'_> {
        match self.in_process.as_ref().filter(|p| p.serves(request.uri())) {
            Some(platform) => {
                // On the wire the client names the host it connects to; so does this request.
                if let Some(host) = request
                    .uri()
                    .authority()
                    .and_then(|a| oauth2::http::HeaderValue::from_str(a.as_str()).ok())
                {
                    request
                        .headers_mut()
                        .entry(oauth2::http::header::HOST)
                        .or_insert(host);
                }
                let answer = (platform.answer)(request);
                Box::pin(async move { Ok(answer.await) })
            }
            None => Box::pin(oauth2::AsyncHttpClient::call(&self.http, request)),
        }
    }

    pub fn http_client() -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(std::time::Duration::from_secs(5))
            .timeout(std::time::Duration::from_secs(15))
            .user_agent(concat!("Accord/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("a reqwest client with static settings builds")
    }
}

/// The tenant's client id and secret for a platform.
pub struct ClientCredentials {
    pub client_id: String,
    pub client_secret: Option<SecretString>,
}

pub fn client_secret_aad(tenant: TenantId, platform: &Platform) -> Vec<u8> {
    aad(&tenant, &platform.key, "client-secret")
}

pub fn tokens_aad(tenant: TenantId, connection: ConnectionId) -> Vec<u8> {
    aad(&tenant, &connection, "tokens")
}

fn verifier_aad(tenant: TenantId, connection: ConnectionId) -> Vec<u8> {
    aad(&tenant, &connection, "pkce-verifier")
}

/// Loads and decrypts the tenant's credentials for an enabled platform.
pub async fn credentials(
    state: &PlatformClient,
    tenant: TenantId,
    platform: &Platform,
) -> Result<ClientCredentials, OAuthError> {
    let cfg = state
        .store
        .tenant_platform(tenant, &platform.key)
        .await?
        .filter(|p| p.enabled)
        .ok_or_else(|| OAuthError::NotConfigured(platform.key.to_string()))?;
    let client_id = cfg
        .client_id
        .ok_or_else(|| OAuthError::NotConfigured(platform.key.to_string()))?;
    let client_secret = match cfg.client_secret_ct {
        Some(ct) => {
            let plain = state
                .secrets
                .open(tenant, &ct, &client_secret_aad(tenant, platform))
                .await
                .map_err(|_| OAuthError::NotConfigured(platform.key.to_string()))?;
            Some(SecretString::from(String::from_utf8(plain).map_err(
                |_| OAuthError::NotConfigured(platform.key.to_string()),
            )?))
        }
        None => None,
    };
    Ok(ClientCredentials {
        client_id,
        client_secret,
    })
}

macro_rules! client {
    ($state:expr, $platform:expr, $creds:expr) => {{
        let cfg = &$state.urls;
        let bad = |e: oauth2::url::ParseError| OAuthError::BadEndpoint(e.to_string());
        let mut c = BasicClient::new(ClientId::new($creds.client_id.clone()))
            .set_auth_uri(AuthUrl::new(cfg.endpoint(&$platform.authorize_url, None)).map_err(bad)?)
            .set_token_uri(TokenUrl::new(cfg.endpoint(&$platform.token_url, None)).map_err(bad)?)
            .set_redirect_uri(RedirectUrl::new(cfg.redirect_uri($platform)).map_err(bad)?)
            .set_auth_type(match $platform.token_auth {
                TokenAuth::Basic => AuthType::BasicAuth,
                TokenAuth::Post => AuthType::RequestBody,
            });
        if let Some(secret) = &$creds.client_secret {
            c = c.set_client_secret(ClientSecret::new(secret.expose_secret().to_owned()));
        }
        c
    }};
}

/// Builds the authorization URL and the server-side flow record for one connection.
pub async fn start(
    state: &PlatformClient,
    tenant: TenantId,
    platform: &Platform,
    connection: ConnectionId,
    session: BrowserSessionId,
    uses: &[DataUse],
) -> Result<(String, OAuthFlow), OAuthError> {
    let creds = credentials(state, tenant, platform).await?;
    let client = client!(state, platform, creds);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    // 256-bit state (at least 128 bits are needed): unguessable, and only its hash is stored.
    let state_value = random_token(32);
    let sv = state_value.clone();
    let mut req = client
        .authorize_url(move || CsrfToken::new(sv))
        .set_pkce_challenge(challenge);
    let scope = platform.scope_for(uses);
    if !scope.is_empty() {
        req = req.add_scope(Scope::new(scope));
    }
    for (k, v) in &platform.authorize_params {
        req = req.add_extra_param(k.clone(), v.clone());
    }
    let (url, _) = req.url();
    let now = state.clock.now();
    let flow = OAuthFlow {
        state_hash: TokenHash::of(&state_value),
        tenant_id: tenant,
        browser_session_id: session,
        connection_id: connection,
        platform_key: platform.key.clone(),
        pkce_verifier_ct: state
            .secrets
            .seal(
                tenant,
                verifier.secret().as_bytes(),
                &verifier_aad(tenant, connection),
            )
            .await
            .map_err(|e| match e {
                secrets::SecretError::Store(e) => OAuthError::Store(e),
                other => OAuthError::NotConfigured(format!("{}: {other}", platform.key)),
            })?,
        redirect_uri: state.urls.redirect_uri(platform),
        created_at: now,
        expires_at: now + OAUTH_STATE_TTL,
    };
    Ok((url.to_string(), flow))
}

/// Exchanges the authorization code, once, with the flow's PKCE verifier.
pub async fn exchange(
    state: &PlatformClient,
    flow: &OAuthFlow,
    platform: &Platform,
    code: &str,
) -> Result<TokenSet, OAuthError> {
    let creds = credentials(state, flow.tenant_id, platform).await?;
    let client = client!(state, platform, creds);
    let verifier = state
        .secrets
        .open(
            flow.tenant_id,
            &flow.pkce_verifier_ct,
            &verifier_aad(flow.tenant_id, flow.connection_id),
        )
        .await
        .map_err(|_| OAuthError::Refused("pkce verifier unreadable".into()))?;
    let verifier = String::from_utf8(verifier)
        .map_err(|_| OAuthError::Refused("pkce verifier unreadable".into()))?;
    let res = client
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .set_pkce_verifier(PkceCodeVerifier::new(verifier))
        .request_async(&Transport(state))
        .await
        .map_err(|e| match e {
            RequestTokenError::ServerResponse(r) => OAuthError::Refused(r.error().to_string()),
            other => OAuthError::Unreachable(other.to_string()),
        })?;
    Ok(token_set(&res, state.clock.now()))
}

/// A token response as Accord keeps it, received at `now`.
fn token_set(res: &oauth2::basic::BasicTokenResponse, now: time::OffsetDateTime) -> TokenSet {
    TokenSet {
        access_token: res.access_token().secret().clone(),
        refresh_token: res.refresh_token().map(|t| t.secret().clone()),
        expires_at: res
            .expires_in()
            .and_then(|d| time::Duration::try_from(d).ok())
            .map(|d| now + d),
        scope: res
            .scopes()
            .map(|s| s.iter().map(|x| x.as_str()).collect::<Vec<_>>().join(" ")),
    }
}

/// Exchanges the refresh token of a token set for a new one (RFC 6749 §6), asking for the
/// scope already granted (no `scope` parameter). A rotated refresh token replaces the old one,
/// which is spent from now on (RFC 9700 §4.14.2: presenting it again makes the platform revoke
/// the grant), so the caller must store the result before anything refreshes again.
///
/// `invalid_grant` is [`OAuthError::GrantRevoked`]; any other refusal is
/// [`OAuthError::Refused`], and no answer (network, timeout, a 5xx without an OAuth error body)
/// is [`OAuthError::Unreachable`]. Error texts carry the platform's error code and description,
/// never a token.
pub async fn refresh(
    state: &PlatformClient,
    tenant: TenantId,
    platform: &Platform,
    tokens: &TokenSet,
) -> Result<TokenSet, OAuthError> {
    let Some(refresh_token) = &tokens.refresh_token else {
        return Err(OAuthError::Refused("no refresh token".into()));
    };
    let creds = credentials(state, tenant, platform).await?;
    let client = client!(state, platform, creds);
    let refresh_token = RefreshToken::new(refresh_token.clone());
    let res = client
        .exchange_refresh_token(&refresh_token)
        .request_async(&state.http)
        .await
        .map_err(|e| match e {
            RequestTokenError::ServerResponse(r)
                if *r.error() == oauth2::basic::BasicErrorResponseType::InvalidGrant =>
            {
                OAuthError::GrantRevoked
            }
            RequestTokenError::ServerResponse(r) => OAuthError::Refused(r.error().to_string()),
            other => OAuthError::Unreachable(other.to_string()),
        })?;
    Ok(tokens.refreshed(token_set(&res, state.clock.now())))
}

/// Revokes a token set at the platform (RFC 7009): the refresh token when there is one (which
/// also ends its access tokens, §2.1), else the access token.
///
/// The request is made here rather than through the `oauth2` crate, which refuses every
/// non-https revocation URL: RFC 7009 §2 has clients verify https, and so do we, except for http
/// on a loopback host — the development allowance the catalog already validated (the in-process
/// sandbox), without which no demo or test disconnect could ever be revoked.
pub async fn revoke(
    state: &PlatformClient,
    tenant: TenantId,
    platform: &Platform,
    tokens: &TokenSet,
) -> Result<(), OAuthError> {
    let Some(revoke_url) = &platform.revoke_url else {
        return Ok(());
    };
    let creds = credentials(state, tenant, platform).await?;
    let url = Url::parse(&state.urls.endpoint(revoke_url, None))
        .map_err(|e| OAuthError::BadEndpoint(e.to_string()))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
        return Err(OAuthError::BadEndpoint(
            "the revocation endpoint must be https".into(),
        ));
    }
    let (token, hint) = match &tokens.refresh_token {
        Some(r) => (r.as_str(), "refresh_token"),
        None => (tokens.access_token.as_str(), "access_token"),
    };
    let mut form = vec![("token", token), ("token_type_hint", hint)];
    let mut req = state
        .http
        .post(url)
        .header(reqwest::header::ACCEPT, "application/json");
    let secret = creds
        .client_secret
        .as_ref()
        .map(ExposeSecret::expose_secret);
    match (platform.token_auth, secret) {
        // RFC 6749 §2.3.1: id and secret are form-encoded before Basic encoding.
        (TokenAuth::Basic, Some(secret)) => {
            let enc =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            req = req.basic_auth(enc(&creds.client_id), Some(enc(secret)));
        }
        (TokenAuth::Post, _) | (TokenAuth::Basic, None) => {
            form.push(("client_id", &creds.client_id));
            if let Some(secret) = secret {
                form.push(("client_secret", secret));
            }
        }
    }
    let res = req
        .form(&form)
        .send()
        .await
        .map_err(|e| OAuthError::Unreachable(e.to_string()))?;
    let status = res.status();
    if status.is_success() {
        return Ok(());
    }
    // RFC 7009 §2.2.1: a 4xx is the platform refusing (RFC 6749 §5.2), a 503 asks for a retry;
    // the worker retries either way, on its schedule.
    if status.is_client_error() {
        Err(OAuthError::Refused(format!(
            "revocation endpoint answered {status}"
        )))
    } else {
        Err(OAuthError::Unreachable(format!(
            "revocation endpoint answered {status}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::InProcess;
    use std::sync::Arc;

    #[test]
    fn only_urls_under_the_in_process_base_stay_in_process() {
        let p = InProcess {
            base: "http://127.0.0.1:8080/sandbox".into(),
            answer: Arc::new(|_| Box::pin(async { oauth2::http::Response::new(Vec::new()) })),
        };
        let serves = |u: &str| p.serves(&u.parse().unwrap());
        assert!(serves("http://127.0.0.1:8080/sandbox/oauth/token"));
        assert!(serves("http://127.0.0.1:8080/sandbox?x=1"));
        assert!(!serves("http://127.0.0.1:8080/sandboxes/oauth/token"));
        assert!(!serves("http://127.0.0.1:8081/sandbox/oauth/token"));
        assert!(!serves("https://platform.example/sandbox/oauth/token"));
    }
}
