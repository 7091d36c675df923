//! The peer's complete flow against node oidc-provider (`bench/peer/server.js`): the
//! authorization request with PKCE (S256), the login page and its form, the resume, the consent
//! page and its form, the resume to the redirect URI with the code, then the code exchanged at
//! the token endpoint with the verifier and the client's credentials.

use crate::browser::{expect, Browser};
use crate::html;
use anyhow::{bail, Context};
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

pub const CLIENT_ID: &str = "bench";
pub const CLIENT_SECRET: &str = "bench-secret-bench-secret-bench-secret";

pub async fn flow(b: &mut Browser) -> anyhow::Result<()> {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut raw = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut raw);
    let verifier = b64.encode(raw);
    let challenge = b64.encode(Sha256::digest(verifier.as_bytes()));
    rand::thread_rng().fill_bytes(&mut raw[..16]);
    let state = b64.encode(&raw[..16]);
    let redirect_uri = b.abs("/cb");
    let mut authorize = url::Url::parse(&b.abs("/auth"))?;
    authorize
        .query_pairs_mut()
        .append_pair("client_id", CLIENT_ID)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid")
        .append_pair("redirect_uri", &redirect_uri)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", &state);
    let start = b.get("authorize", authorize.as_str()).await?;
    expect(&start, 303, "authorize")?;
    let after_login = interaction(b, &start.location, "login", true).await?;
    let resumed = b.get("resume after login", &after_login).await?;
    expect(&resumed, 303, "resume after login")?;
    let after_consent = interaction(b, &resumed.location, "consent", false).await?;
    let code_redirect = b.get("resume after consent", &after_consent).await?;
    expect(&code_redirect, 303, "resume after consent")?;
    let back = url::Url::parse(&code_redirect.location)?;
    let param = |name: &str| {
        back.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    if param("state").as_deref() != Some(state.as_str()) {
        bail!("redirect without our state: {}", code_redirect.location);
    }
    let code = param("code").context("redirect without a code")?;
    token(b, &code, &redirect_uri, &verifier).await
}

/// An interaction page and its form posted back (with an account name on the login form).
async fn interaction(
    b: &mut Browser,
    url: &str,
    what: &'static str,
    login: bool,
) -> anyhow::Result<String> {
    let (page_step, post_step) = if login {
        ("login page", "login post")
    } else {
        ("consent page", "consent post")
    };
    let page = b.get(page_step, url).await?;
    expect(&page, 200, page_step)?;
    let (action, mut fields) =
        html::form(&page.body, "").with_context(|| format!("{what}: no form"))?;
    if login {
        fields.retain(|(k, _)| k != "login");
        fields.push(("login".into(), "bluebell".into()));
    }
    let posted = b.post_form(post_step, &action, &fields).await?;
    expect(&posted, 303, post_step)?;
    Ok(posted.location)
}

async fn token(
    b: &mut Browser,
    code: &str,
    redirect_uri: &str,
    verifier: &str,
) -> anyhow::Result<()> {
    let req = b
        .client
        .post(b.abs("/token"))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
        ]);
    let res = b.send("token exchange", req).await?;
    expect(&res, 200, "token exchange")?;
    let body: serde_json::Value = serde_json::from_str(&res.body)?;
    if body["access_token"].as_str().is_none_or(str::is_empty) {
        bail!("token response without an access token: {}", res.body);
    }
    Ok(())
}
