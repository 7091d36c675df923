//! `accord demo`: a tenant ("Northwind Lending") with the sandbox platforms enabled, a demo
//! company, and a fresh link, so a new user sees the whole flow in a minute.

use crate::sandbox_client;
use accord_domain::crypto::{random_token, TokenHash};
use accord_domain::flow::{LinkSession, SessionKind};
use accord_domain::ids::{CompanyId, LinkSessionId};
use accord_domain::settings::{LinkSettings, Localized, SupportContacts};
use accord_domain::tenant::{Company, Tenant, TenantPlatform};
use accord_platform::client_secret_aad;
use accord_web::services::tenants;
use accord_web::AppState;
use secrecy::{ExposeSecret, SecretString};

pub const DEMO_TENANT: &str = "Northwind Lending";

pub struct Demo {
    pub tenant: Tenant,
    pub api_key: SecretString,
    pub company: Company,
    pub link_url: String,
    pub manage_url: String,
}

fn demo_settings() -> LinkSettings {
    LinkSettings {
        legal_name: Some("Northwind Lending Ltd".into()),
        jurisdiction: Some("GB".into()),
        trust_message: Localized {
            en: Some("Securely add your business accounts to get a decision in minutes. You choose what is shared and can disconnect at any time.".into()),
            fr: Some("Ajoutez vos comptes professionnels en toute sécurité pour obtenir une décision en quelques minutes. Vous choisissez ce qui est partagé et pouvez couper l’accès à tout moment.".into()),
        },
        trust_statistics: vec![Localized {
            en: Some("Over 40,000 businesses trust our encryption.".into()),
            fr: Some("Plus de 40 000 entreprises font confiance à notre chiffrement.".into()),
        }],
        support: SupportContacts {
            phone: Some("+44 20 7946 0000".into()),
            email: Some("help@northwind-lending.example".into()),
            hours: Localized { en: Some("Monday to Friday, 9:00 to 18:00 (UK time)".into()), fr: Some("Du lundi au vendredi, de 9 h à 18 h (heure du Royaume-Uni)".into()) },
            form_enabled: true,
            inbox: None,
        },
        ..LinkSettings::default()
    }
}

/// Creates (or finds) the demo tenant and its company, enables the sandbox platforms with the
/// in-process sandbox's client, and mints a link and a manage URL.
pub async fn ensure(state: &AppState) -> anyhow::Result<Demo> {
    let (tenant, api_key) = match state.store.tenant_by_name(DEMO_TENANT).await? {
        Some(t) => {
            let key = tenants::add_api_key(state, t.id).await?;
            (t, key)
        }
        None => tenants::create_tenant(state, DEMO_TENANT, demo_settings()).await?,
    };
    let (client_id, secret) = sandbox_client(&state.keyring);
    for p in state.catalog.all().iter().filter(|p| p.is_sandbox()) {
        state
            .store
            .upsert_tenant_platform(&TenantPlatform {
                tenant_id: tenant.id,
                platform_key: p.key.clone(),
                enabled: true,
                client_id: Some(client_id.clone()),
                client_secret_ct: Some(
                    state
                        .secrets()
                        .seal(
                            tenant.id,
                            secret.expose_secret().as_bytes(),
                            &client_secret_aad(tenant.id, p),
                        )
                        .await?,
                ),
                updated_at: state.clock.now(),
            })
            .await?;
    }
    let now = state.clock.now();
    let company = Company {
        id: CompanyId::new(),
        tenant_id: tenant.id,
        name: "Bluebell Bakery Ltd".into(),
        external_id: None,
        created_at: now,
    };
    state.store.create_company(&company).await?;
    let mut urls = Vec::new();
    for kind in [SessionKind::Link, SessionKind::Manage] {
        let token = random_token(32);
        state
            .store
            .create_link_session(&LinkSession {
                id: LinkSessionId::new(),
                tenant_id: tenant.id,
                company_id: company.id,
                kind,
                token_hash: TokenHash::of(&token),
                locale: None,
                categories: Vec::new(),
                return_url: None,
                created_at: now,
                expires_at: now + state.config.link_session_ttl,
                used_at: None,
            })
            .await?;
        urls.push(state.config.url(&format!(
            "/{}/{token}",
            if kind == SessionKind::Link {
                "link"
            } else {
                "manage"
            }
        )));
    }
    let manage_url = urls.pop().unwrap_or_default();
    let link_url = urls.pop().unwrap_or_default();
    Ok(Demo {
        tenant,
        api_key,
        company,
        link_url,
        manage_url,
    })
}
