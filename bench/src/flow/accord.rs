//! Accord's complete hosted flow, as a tenant and a customer's browser run it: the tenant
//! creates a company and a link session through the API; the browser opens the link, reads the
//! landing page, the platform list and the consent page, ticks the box and posts the consent
//! form (CSRF token and the notice's version and hash from hidden fields), signs in at the
//! sandbox platform (a real OAuth 2.0 server: its form's single-use nonce and hidden fields
//! posted back) and approves, follows the redirect to Accord's callback (which exchanges the code
//! with PKCE at the sandbox's token endpoint) and reads the success page.

use crate::browser::{expect, Browser};
use crate::html;
use anyhow::{anyhow, Context};

/// The tenant's side: its API key and the platform the customer connects.
pub struct Tenant {
    pub api_key: String,
    pub platform: String,
}

pub async fn flow(b: &mut Browser, tenant: &Tenant, n: u64) -> anyhow::Result<()> {
    let link = create_link(b, tenant, n).await?;
    let opened = b.get("open link", &link).await?;
    expect(&opened, 303, "open link")?;
    let landing = b.get("landing", &opened.location).await?;
    expect(&landing, 200, "landing")?;
    let list_url = html::href(&landing.body, "/link/platforms").context("landing: no link on")?;
    let list = b.get("platform list", &list_url).await?;
    expect(&list, 200, "platform list")?;
    let consent_url = html::href(
        &list.body,
        &format!("/link/platforms/{}/consent", tenant.platform),
    )
    .context("platform list: platform not listed")?;
    let consent = b.get("consent page", &consent_url).await?;
    expect(&consent, 200, "consent page")?;
    let (action, mut fields) =
        html::form(&consent.body, "consent-form").context("consent page: no consent form")?;
    fields.push(("agree".into(), "yes".into()));
    fields.push(("action".into(), "connect".into()));
    let to_platform = b.post_form("consent post", &action, &fields).await?;
    expect(&to_platform, 303, "consent post")?;
    let callback = sandbox_approve(b, &to_platform.location).await?;
    let done = b.get("callback", &callback).await?;
    expect(&done, 303, "callback")?;
    let success = b.get("success page", &done.location).await?;
    expect(&success, 200, "success page")
}

/// `POST /v1/companies`, then `POST /v1/companies/{id}/link-sessions`: the link URL.
async fn create_link(b: &mut Browser, tenant: &Tenant, n: u64) -> anyhow::Result<String> {
    let req = b
        .client
        .post(b.abs("/v1/companies"))
        .bearer_auth(&tenant.api_key)
        .json(&serde_json::json!({ "name": format!("Bench Company {n}") }));
    let company = b.send("API: company", req).await?;
    expect(&company, 201, "API: company")?;
    let company: serde_json::Value = serde_json::from_str(&company.body)?;
    let id = company["id"]
        .as_str()
        .ok_or_else(|| anyhow!("company without id"))?;
    let req = b
        .client
        .post(b.abs(&format!("/v1/companies/{id}/link-sessions")))
        .bearer_auth(&tenant.api_key)
        .json(&serde_json::json!({}));
    let session = b.send("API: link session", req).await?;
    expect(&session, 201, "API: link session")?;
    let session: serde_json::Value = serde_json::from_str(&session.body)?;
    session["url"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("link session without url"))
}

/// The sandbox's sign-in page, then its form posted with an organisation and "approve": the
/// redirect back to Accord's callback.
async fn sandbox_approve(b: &mut Browser, authorize_url: &str) -> anyhow::Result<String> {
    let page = b.get("sandbox sign-in page", authorize_url).await?;
    expect(&page, 200, "sandbox sign-in page")?;
    let (action, mut fields) = html::form(&page.body, "").context("sandbox: no form")?;
    fields.retain(|(k, _)| k != "organisation");
    fields.push(("organisation".into(), "Bluebell".into()));
    fields.push(("decision".into(), "approve".into()));
    // The action resolves against the sign-in page's URL: the sandbox may be served apart from
    // Accord (`accord sandbox`), on another port.
    let action = url::Url::parse(&b.abs(authorize_url))?
        .join(&action)?
        .to_string();
    let approved = b.post_form("sandbox approve", &action, &fields).await?;
    expect(&approved, 303, "sandbox approve")?;
    Ok(approved.location)
}
