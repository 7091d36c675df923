//! Builders for the rows the cases need; public so backends' own tests (and benchmarks) can
//! reuse them. Every time is [`t0`] plus whole seconds, so backends may keep microseconds only.
//! The builders that write take only the roles they write through, so a case that needs few
//! roles can ask for just those; a `&dyn Store` or a backend's own store fits them all.

use crate::{
    CompanyStore, ConnectionStore, ConsentStore, ConsentWrite, FlowStore, LinkWrite, NoticeStore,
    RefreshSchedule, TenantStore,
};
use accord_domain::catalog::{Category, DataType, DataUse, Direction, PlatformKey};
use accord_domain::connection::{Connection, ConnectionStatus, Upstream};
use accord_domain::consent::{Consent, ConsentEvidence, ConsentMethod};
use accord_domain::crypto::{sha256_hex, TokenHash};
use accord_domain::flow::{BrowserSession, LinkSession, OAuthFlow, SessionKind};
use accord_domain::ids::{
    ApiKeyId, BrowserSessionId, CompanyId, ConnectionId, ConsentId, LinkSessionId,
    SupportRequestId, TenantId,
};
use accord_domain::ledger::{EventBody, EventKind};
use accord_domain::locale::Locale;
use accord_domain::notice::{NoticeContent, NoticeVersion};
use accord_domain::settings::LinkSettings;
use accord_domain::tenant::{ApiKeyRecord, Company, SupportRequest, SupportTopic, Tenant};
use time::{Duration, OffsetDateTime};

/// The suite's "now": every time is this plus whole seconds.
pub fn t0() -> OffsetDateTime {
    time::macros::datetime!(2030-01-01 00:00 UTC)
}

pub fn at(seconds: i64) -> OffsetDateTime {
    t0() + Duration::seconds(seconds)
}

pub fn sandbox() -> PlatformKey {
    PlatformKey::parse("sandbox").expect("valid platform key")
}

pub fn api_key(tenant: TenantId) -> ApiKeyRecord {
    let id = ApiKeyId::new();
    ApiKeyRecord {
        id,
        tenant_id: tenant,
        name: ApiKeyRecord::DEFAULT_NAME.to_owned(),
        key_id: format!("k{}", id.as_uuid().simple()),
        secret_hash: sha256_hex(id.to_string().as_bytes()),
        created_at: t0(),
        last_used_at: None,
        revoked_at: None,
    }
}

pub async fn tenant(store: &(impl TenantStore + ?Sized), name: &str) -> Tenant {
    let tenant = Tenant {
        id: TenantId::new(),
        name: name.to_owned(),
        settings: LinkSettings::default(),
        created_at: t0(),
    };
    store
        .create_tenant(&tenant, &api_key(tenant.id))
        .await
        .expect("create tenant");
    tenant
}

pub async fn company(
    store: &(impl CompanyStore + ?Sized),
    tenant: TenantId,
    external_id: Option<&str>,
) -> Company {
    let company = Company {
        id: CompanyId::new(),
        tenant_id: tenant,
        name: "Boulangerie Martin".into(),
        external_id: external_id.map(str::to_owned),
        created_at: t0(),
    };
    store
        .create_company(&company)
        .await
        .expect("create company");
    company
}

pub fn content(purpose: &str) -> NoticeContent {
    NoticeContent {
        purpose: purpose.to_owned(),
        data_uses: vec![
            DataUse {
                data_type: DataType::Invoices,
                direction: Direction::Read,
            },
            DataUse {
                data_type: DataType::Payments,
                direction: Direction::Write,
            },
        ],
        retention: "12 months".into(),
        third_party_sharing: "Never without your consent.".into(),
        withdrawal: "Disconnect at any time from the manage page.".into(),
        privacy_policy_url: "https://lender.example/privacy".into(),
    }
}

/// The first version of the tenant's accounting notice in English, published at [`t0`].
pub async fn notice_version(
    store: &(impl NoticeStore + ?Sized),
    tenant: TenantId,
) -> NoticeVersion {
    store
        .publish_notice_version(
            tenant,
            Category::Accounting,
            Locale::En,
            &content("To assess your loan."),
            t0(),
        )
        .await
        .expect("publish notice version")
        .version
}

/// A consent to `nv` for a new, pending connection of `company` to the sandbox platform.
pub fn consent_write(
    company: &Company,
    nv: &NoticeVersion,
    given_at: OffsetDateTime,
) -> ConsentWrite {
    let (connection_id, consent_id) = (ConnectionId::new(), ConsentId::new());
    let text = format!("{} (version {})", nv.content.purpose, nv.version);
    let consent = Consent {
        id: consent_id,
        tenant_id: company.tenant_id,
        company_id: company.id,
        connection_id,
        platform_key: sandbox(),
        category: nv.category,
        notice_version_id: nv.id,
        notice_version: nv.version,
        locale: nv.locale,
        data_uses: nv.content.data_uses.clone(),
        notice_sha256: sha256_hex(text.as_bytes()),
        notice_text: text,
        evidence: ConsentEvidence {
            method: ConsentMethod::HostedFlowCheckbox,
            checkbox_ticked: true,
            ip: Some("192.0.2.7".into()),
            user_agent: Some("conformance".into()),
        },
        given_at,
        withdrawn_at: None,
    };
    // The event describes exactly the consent written with it.
    let event = EventBody::for_consent(
        EventKind::Given,
        &consent,
        &nv.content.purpose,
        "hosted_flow_checkbox",
        given_at,
    );
    ConsentWrite {
        connection: Connection {
            id: connection_id,
            tenant_id: company.tenant_id,
            company_id: company.id,
            platform_key: sandbox(),
            status: ConnectionStatus::PendingAuth,
            data_uses: nv.content.data_uses.clone(),
            consent_id: Some(consent_id),
            granted_scope: None,
            last_error: None,
            created_at: given_at,
            updated_at: given_at,
            linked_at: None,
            disconnected_at: None,
            upstream: None,
        },
        consent,
        oauth_flow: None,
        event,
    }
}

/// A new consent for the same connection, given later.
pub fn reconsent(previous: &ConsentWrite, given_at: OffsetDateTime) -> ConsentWrite {
    let mut w = previous.clone();
    w.consent.id = ConsentId::new();
    w.consent.given_at = given_at;
    w.connection.consent_id = Some(w.consent.id);
    w.connection.updated_at = given_at;
    w.event = EventBody::for_consent(
        EventKind::Reconsented,
        &w.consent,
        &previous.event.purpose,
        "hosted_flow_checkbox",
        given_at,
    );
    w
}

pub fn oauth_flow(
    connection: &Connection,
    browser: BrowserSessionId,
    state: &str,
    expires_at: OffsetDateTime,
) -> OAuthFlow {
    OAuthFlow {
        state_hash: TokenHash::of(state),
        tenant_id: connection.tenant_id,
        browser_session_id: browser,
        connection_id: connection.id,
        platform_key: connection.platform_key.clone(),
        pkce_verifier_ct: format!("ct:verifier:{state}"),
        redirect_uri: "https://accord.example/link/callback/sandbox".into(),
        created_at: t0(),
        expires_at,
    }
}

pub fn link_session(
    company: &Company,
    kind: SessionKind,
    token: &str,
    expires_at: OffsetDateTime,
) -> LinkSession {
    LinkSession {
        id: LinkSessionId::new(),
        tenant_id: company.tenant_id,
        company_id: company.id,
        kind,
        token_hash: TokenHash::of(token),
        locale: Some(Locale::Fr),
        categories: vec![Category::Accounting, Category::Banking],
        return_url: Some("https://lender.example/done".into()),
        created_at: t0(),
        expires_at,
        used_at: None,
    }
}

/// A browser session as the flow builds it before consuming a link: owner unknown yet.
pub fn unbound_browser(
    kind: SessionKind,
    cookie: &str,
    expires_at: OffsetDateTime,
) -> BrowserSession {
    BrowserSession {
        id: BrowserSessionId::new(),
        tenant_id: TenantId::new(),
        company_id: CompanyId::new(),
        kind,
        link_session_id: None,
        token_hash: TokenHash::of(cookie),
        created_at: t0(),
        expires_at,
    }
}

pub async fn browser(
    store: &(impl FlowStore + ?Sized),
    company: &Company,
    kind: SessionKind,
    cookie: &str,
) -> BrowserSession {
    let session = BrowserSession {
        tenant_id: company.tenant_id,
        company_id: company.id,
        ..unbound_browser(kind, cookie, at(3600))
    };
    store
        .create_browser_session(&session)
        .await
        .expect("create browser session");
    session
}

/// What a sign-in stores: tokens `tokens_ct`, no scope reported, no identity read.
pub fn link_write(tokens_ct: &str, refresh: Option<RefreshSchedule>) -> LinkWrite {
    LinkWrite {
        tokens_ct: tokens_ct.to_owned(),
        granted_scope: None,
        refresh,
        upstream: None,
        manage_link: None,
    }
}

/// An upstream organisation at the platform, named after its id.
pub fn upstream(id: &str) -> Upstream {
    Upstream {
        id: id.to_owned(),
        name: format!("Organisation {id}"),
    }
}

/// A connection with a consent in force and tokens `ct:tokens`; returns its consent write.
pub async fn linked(
    store: &(impl ConsentStore + ConnectionStore + ?Sized),
    company: &Company,
    nv: &NoticeVersion,
) -> ConsentWrite {
    let w = consent_write(company, nv, t0());
    store.record_consent(&w).await.expect("record consent");
    let link = LinkWrite {
        granted_scope: Some("invoices.read".into()),
        ..link_write("ct:tokens", None)
    };
    store
        .link_connection(company.tenant_id, w.connection.id, &link, at(60))
        .await
        .expect("link");
    w
}

pub fn support_request(tenant: TenantId, company: Option<CompanyId>, n: u32) -> SupportRequest {
    SupportRequest {
        id: SupportRequestId::new(),
        tenant_id: tenant,
        company_id: company,
        reference: format!("SR-{n:08}"),
        topic: SupportTopic::ConnectionFailed,
        message: "The sign-in page never loads.".into(),
        reply_to: "owner@boulangerie.example".into(),
        diagnostics: serde_json::json!({"step": "consent", "locale": "fr"}),
        created_at: at(i64::from(n)),
    }
}

/// A tenant with one company and one notice version: the setting of most cases.
pub struct World {
    pub tenant: Tenant,
    pub company: Company,
    pub nv: NoticeVersion,
}

impl World {
    pub async fn new(
        store: &(impl TenantStore + CompanyStore + NoticeStore + ?Sized),
        name: &str,
    ) -> Self {
        let tenant = tenant(store, name).await;
        let company = company(store, tenant.id, None).await;
        let nv = notice_version(store, tenant.id).await;
        Self {
            tenant,
            company,
            nv,
        }
    }
}
