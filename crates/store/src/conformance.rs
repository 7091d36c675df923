//! The conformance suite: what every [`Store`] backend must do, written once (STYLE.md: one
//! trait, two backends, one suite). Each case is a `pub async fn` taking a fresh, empty store;
//! [`conformance_tests!`](crate::conformance_tests) turns them into one named `#[tokio::test]`
//! each in the backend's own test binary:
//!
//! ```ignore
//! async fn fresh_store() -> (Arc<dyn Store>, TempDir) { … }
//! mod conformance {
//!     accord_store::conformance_tests!(super::fresh_store);
//! }
//! ```
//!
//! Times are whole seconds from a fixed instant, so backends may keep microseconds only.

use crate::{ConsentWrite, Page, Store, StoreError};
use accord_domain::catalog::{Category, DataType, DataUse, Direction, PlatformKey};
use accord_domain::connection::{Connection, ConnectionStatus};
use accord_domain::consent::{Consent, ConsentEvidence, ConsentMethod};
use accord_domain::crypto::{sha256_hex, TokenHash};
use accord_domain::flow::{BrowserSession, LinkSession, OAuthFlow, SessionKind};
use accord_domain::ids::{
    ApiKeyId, BrowserSessionId, CompanyId, ConnectionId, ConsentId, JobId, LinkSessionId,
    SupportRequestId, TenantId,
};
use accord_domain::locale::Locale;
use accord_domain::notice::{NoticeContent, NoticeVersion};
use accord_domain::settings::LinkSettings;
use accord_domain::tenant::{
    ApiKeyRecord, Company, JobKind, SupportRequest, SupportTopic, Tenant, TenantPlatform,
};
use time::{Duration, OffsetDateTime};

/// Expands into one `#[tokio::test]` per conformance case. `$make` is called as `$make()` and
/// must return a future of `(store, guard)`: `&*store` must give a `&dyn Store` (or a type
/// that coerces to it) and `guard` lives until the test ends (a temporary directory, a
/// database to drop…). The calling crate needs `tokio` with `macros` and `rt-multi-thread`.
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr) => {
        $crate::conformance_tests!(@cases $make;
            ping_answers,
            tenants_and_api_keys,
            link_settings_are_replaced,
            external_id_is_unique_per_tenant,
            companies_page_by_id,
            tenant_platforms_are_upserted,
            notice_versions_are_numbered_and_kept,
            notice_versions_are_numbered_atomically,
            link_session_is_consumed_once,
            expired_or_other_kind_link_session_is_refused,
            browser_sessions_match_kind_and_expiry,
            oauth_flow_is_consumed_once_by_its_session,
            expired_oauth_flow_is_refused,
            record_consent_inserts_then_updates,
            record_consent_is_all_or_nothing,
            connection_is_linked_and_failed,
            disconnect_destroys_tokens_and_queues_one_revocation,
            disconnect_without_tokens_or_revoke_queues_nothing,
            delete_company_disconnects_its_connections,
            jobs_are_claimed_once_under_a_lease,
            failed_jobs_retry_then_give_up,
            support_requests_are_listed_per_tenant,
            another_tenants_ids_are_not_found,
            concurrent_consents_all_land,
        );
    };
    (@cases $make:expr; $($case:ident),+ $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (store, _guard) = ($make)().await;
                $crate::conformance::$case(&*store).await;
            }
        )+
    };
}

/// Builders for the rows the cases need; public so backends' own tests can reuse them.
pub mod fixtures {
    use super::{
        sha256_hex, ApiKeyId, ApiKeyRecord, BrowserSession, BrowserSessionId, Category, Company,
        CompanyId, Connection, ConnectionId, ConnectionStatus, Consent, ConsentEvidence, ConsentId,
        ConsentMethod, ConsentWrite, DataType, DataUse, Direction, Duration, LinkSession,
        LinkSessionId, LinkSettings, Locale, NoticeContent, NoticeVersion, OAuthFlow,
        OffsetDateTime, PlatformKey, SessionKind, Store, SupportRequest, SupportRequestId,
        SupportTopic, Tenant, TenantId, TokenHash,
    };

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
            key_id: format!("k{}", id.as_uuid().simple()),
            secret_hash: sha256_hex(id.to_string().as_bytes()),
            created_at: t0(),
            revoked_at: None,
        }
    }

    pub async fn tenant(store: &dyn Store, name: &str) -> Tenant {
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
        store: &dyn Store,
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

    pub async fn notice_version(store: &dyn Store, tenant: TenantId) -> NoticeVersion {
        store
            .add_notice_version(
                tenant,
                Category::Accounting,
                Locale::En,
                &content("To assess your loan."),
                t0(),
            )
            .await
            .expect("add notice version")
    }

    /// A consent to `nv` for a new, pending connection of `company` to the sandbox platform.
    pub fn consent_write(
        company: &Company,
        nv: &NoticeVersion,
        given_at: OffsetDateTime,
    ) -> ConsentWrite {
        let (connection_id, consent_id) = (ConnectionId::new(), ConsentId::new());
        let text = format!("{} (version {})", nv.content.purpose, nv.version);
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
            },
            consent: Consent {
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
            },
            oauth_flow: None,
        }
    }

    /// A new consent for the same connection, given later.
    pub fn reconsent(previous: &ConsentWrite, given_at: OffsetDateTime) -> ConsentWrite {
        let mut w = previous.clone();
        w.consent.id = ConsentId::new();
        w.consent.given_at = given_at;
        w.connection.consent_id = Some(w.consent.id);
        w.connection.updated_at = given_at;
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
        store: &dyn Store,
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

    /// A connection with a consent in force and tokens `ct:tokens`; returns its consent write.
    pub async fn linked(store: &dyn Store, company: &Company, nv: &NoticeVersion) -> ConsentWrite {
        let w = consent_write(company, nv, t0());
        store.record_consent(&w).await.expect("record consent");
        store
            .link_connection(
                company.tenant_id,
                w.connection.id,
                "ct:tokens",
                Some("invoices.read"),
                at(60),
            )
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
        pub async fn new(store: &dyn Store, name: &str) -> Self {
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
}

use fixtures::{at, t0, World};

fn page<Id>(after: Option<Id>, limit: u32) -> Page<Id> {
    Page { after, limit }
}

pub async fn ping_answers(store: &dyn Store) {
    store.ping().await.expect("ping");
}

pub async fn tenants_and_api_keys(store: &dyn Store) {
    let tenant = Tenant {
        id: TenantId::new(),
        name: "Lender A".into(),
        settings: LinkSettings::default(),
        created_at: t0(),
    };
    let key = fixtures::api_key(tenant.id);
    store
        .create_tenant(&tenant, &key)
        .await
        .expect("create tenant");
    assert_eq!(store.tenant(tenant.id).await.unwrap(), Some(tenant.clone()));
    assert_eq!(
        store.tenant_by_name("Lender A").await.unwrap(),
        Some(tenant.clone())
    );
    assert_eq!(store.tenant_by_name("Lender B").await.unwrap(), None);
    assert_eq!(store.tenant(TenantId::new()).await.unwrap(), None);
    assert_eq!(store.api_key(&key.key_id).await.unwrap(), Some(key.clone()));
    assert_eq!(store.api_key("k-unknown").await.unwrap(), None);

    let second = ApiKeyRecord {
        revoked_at: Some(at(5)),
        ..fixtures::api_key(tenant.id)
    };
    store.add_api_key(&second).await.expect("add key");
    assert_eq!(
        store.api_key(&second.key_id).await.unwrap(),
        Some(second.clone())
    );
    let clash = ApiKeyRecord {
        id: ApiKeyId::new(),
        ..second
    };
    assert!(
        matches!(
            store.add_api_key(&clash).await,
            Err(StoreError::Conflict(_))
        ),
        "key ids are unique"
    );
    let twin = Tenant {
        id: TenantId::new(),
        ..tenant
    };
    assert!(
        matches!(
            store
                .create_tenant(&twin, &fixtures::api_key(twin.id))
                .await,
            Err(StoreError::Conflict(_))
        ),
        "names are unique"
    );
}

pub async fn link_settings_are_replaced(store: &dyn Store) {
    let tenant = fixtures::tenant(store, "Lender A").await;
    let mut settings = LinkSettings {
        legal_name: Some("Lender A SAS".into()),
        landing_enabled: false,
        ..LinkSettings::default()
    };
    settings.support.email = Some("help@lender.example".into());
    store
        .update_link_settings(tenant.id, &settings)
        .await
        .expect("update settings");
    assert_eq!(
        store.tenant(tenant.id).await.unwrap().unwrap().settings,
        settings
    );
    assert!(matches!(
        store.update_link_settings(TenantId::new(), &settings).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn external_id_is_unique_per_tenant(store: &dyn Store) {
    let a = fixtures::tenant(store, "Lender A").await;
    let b = fixtures::tenant(store, "Lender B").await;
    let first = fixtures::company(store, a.id, Some("cust-1")).await;
    assert_eq!(
        store.company(a.id, first.id).await.unwrap(),
        Some(first.clone())
    );
    let again = Company {
        id: CompanyId::new(),
        ..first.clone()
    };
    assert!(matches!(
        store.create_company(&again).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.company(a.id, again.id).await.unwrap(), None);
    fixtures::company(store, b.id, Some("cust-1")).await;
    fixtures::company(store, a.id, None).await;
    fixtures::company(store, a.id, None).await;
}

pub async fn companies_page_by_id(store: &dyn Store) {
    let a = fixtures::tenant(store, "Lender A").await;
    let b = fixtures::tenant(store, "Lender B").await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(fixtures::company(store, a.id, None).await.id);
        fixtures::company(store, b.id, None).await;
    }
    ids.sort();
    let list = |after, limit| async move {
        store
            .list_companies(a.id, page(after, limit))
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(list(None, 2).await, ids[..2]);
    assert_eq!(list(Some(ids[1]), 2).await, ids[2..4]);
    assert_eq!(list(Some(ids[3]), 2).await, ids[4..]);
    assert!(list(Some(ids[4]), 2).await.is_empty());
    assert_eq!(list(None, 100).await, ids);
}

pub async fn tenant_platforms_are_upserted(store: &dyn Store) {
    let a = fixtures::tenant(store, "Lender A").await;
    let p = TenantPlatform {
        tenant_id: a.id,
        platform_key: fixtures::sandbox(),
        enabled: true,
        client_id: Some("client-1".into()),
        client_secret_ct: Some("ct:secret".into()),
        updated_at: t0(),
    };
    store.upsert_tenant_platform(&p).await.expect("insert");
    assert_eq!(
        store.tenant_platform(a.id, &p.platform_key).await.unwrap(),
        Some(p.clone())
    );
    let p2 = TenantPlatform {
        enabled: false,
        client_id: None,
        client_secret_ct: None,
        updated_at: at(10),
        ..p.clone()
    };
    store.upsert_tenant_platform(&p2).await.expect("update");
    let xero = TenantPlatform {
        platform_key: PlatformKey::parse("xero").unwrap(),
        ..p
    };
    store
        .upsert_tenant_platform(&xero)
        .await
        .expect("insert another");
    assert_eq!(
        store.tenant_platforms(a.id).await.unwrap(),
        vec![p2, xero],
        "ordered by platform key"
    );
}

pub async fn notice_versions_are_numbered_and_kept(store: &dyn Store) {
    let a = fixtures::tenant(store, "Lender A").await;
    let mut versions = Vec::new();
    for (n, purpose) in ["first", "second", "third"].into_iter().enumerate() {
        let when = at(i64::try_from(n).unwrap() * 60);
        versions.push(
            store
                .add_notice_version(
                    a.id,
                    Category::Accounting,
                    Locale::En,
                    &fixtures::content(purpose),
                    when,
                )
                .await
                .unwrap(),
        );
    }
    assert_eq!(
        versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert!(versions
        .iter()
        .all(|v| v.notice_id == versions[0].notice_id && v.tenant_id == a.id));
    assert_eq!(
        versions[0].content,
        fixtures::content("first"),
        "an old version keeps its content"
    );
    let notice = store
        .notice(a.id, versions[0].notice_id)
        .await
        .unwrap()
        .expect("notice");
    assert_eq!(
        (notice.current_version, notice.category, notice.locale),
        (3, Category::Accounting, Locale::En)
    );
    assert_eq!((notice.created_at, notice.updated_at), (at(0), at(120)));
    assert_eq!(
        store.notice_versions(a.id, notice.id).await.unwrap(),
        versions
    );
    assert_eq!(
        store.notice_version(a.id, versions[0].id).await.unwrap(),
        Some(versions[0].clone())
    );
    assert_eq!(
        store
            .current_notice_version(a.id, Category::Accounting, Locale::En)
            .await
            .unwrap(),
        Some(versions[2].clone())
    );
    assert_eq!(
        store
            .current_notice_version(a.id, Category::Banking, Locale::En)
            .await
            .unwrap(),
        None
    );
    let fr = store
        .add_notice_version(
            a.id,
            Category::Accounting,
            Locale::Fr,
            &fixtures::content("premier"),
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(
        fr.version, 1,
        "each tenant × category × locale counts on its own"
    );
    assert_ne!(fr.notice_id, notice.id);
    assert_eq!(store.notices(a.id).await.unwrap().len(), 2);
}

pub async fn notice_versions_are_numbered_atomically(store: &dyn Store) {
    let a = fixtures::tenant(store, "Lender A").await;
    let content = fixtures::content("concurrent");
    let adds = (0..16)
        .map(|_| store.add_notice_version(a.id, Category::Banking, Locale::En, &content, t0()));
    let mut numbers: Vec<i64> = futures::future::join_all(adds)
        .await
        .into_iter()
        .map(|r| r.expect("add").version)
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=16).collect::<Vec<_>>());
}

pub async fn link_session_is_consumed_once(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let link = fixtures::link_session(&w.company, SessionKind::Link, "link-token", at(600));
    store.create_link_session(&link).await.expect("create");
    assert_eq!(
        store.link_session(w.tenant.id, link.id).await.unwrap(),
        Some(link.clone())
    );

    let browser = fixtures::unbound_browser(SessionKind::Link, "cookie-1", at(3600));
    let used = store
        .consume_link_session(&TokenHash::of("link-token"), at(60), &browser)
        .await
        .unwrap()
        .expect("usable");
    assert_eq!(
        used,
        LinkSession {
            used_at: Some(at(60)),
            ..link.clone()
        }
    );
    let opened = store
        .browser_session(&TokenHash::of("cookie-1"), SessionKind::Link, at(61))
        .await
        .unwrap()
        .expect("browser session created");
    let bound = BrowserSession {
        tenant_id: w.tenant.id,
        company_id: w.company.id,
        link_session_id: Some(link.id),
        ..browser
    };
    assert_eq!(opened, bound, "bound to the link session's owner");

    let replay = fixtures::unbound_browser(SessionKind::Link, "cookie-2", at(3600));
    assert_eq!(
        store
            .consume_link_session(&TokenHash::of("link-token"), at(62), &replay)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .browser_session(&TokenHash::of("cookie-2"), SessionKind::Link, at(63))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .link_session(w.tenant.id, link.id)
            .await
            .unwrap()
            .unwrap()
            .used_at,
        Some(at(60))
    );
}

pub async fn expired_or_other_kind_link_session_is_refused(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    store
        .create_link_session(&fixtures::link_session(
            &w.company,
            SessionKind::Link,
            "old",
            at(600),
        ))
        .await
        .unwrap();
    let late = fixtures::unbound_browser(SessionKind::Link, "cookie-late", at(3600));
    assert_eq!(
        store
            .consume_link_session(&TokenHash::of("old"), at(600), &late)
            .await
            .unwrap(),
        None,
        "expired at expires_at"
    );
    assert_eq!(
        store
            .browser_session(&TokenHash::of("cookie-late"), SessionKind::Link, at(601))
            .await
            .unwrap(),
        None
    );

    store
        .create_link_session(&fixtures::link_session(
            &w.company,
            SessionKind::Manage,
            "manage",
            at(600),
        ))
        .await
        .unwrap();
    let wrong = fixtures::unbound_browser(SessionKind::Link, "cookie-wrong", at(3600));
    assert_eq!(
        store
            .consume_link_session(&TokenHash::of("manage"), at(1), &wrong)
            .await
            .unwrap(),
        None
    );
    let right = fixtures::unbound_browser(SessionKind::Manage, "cookie-right", at(3600));
    assert!(
        store
            .consume_link_session(&TokenHash::of("manage"), at(2), &right)
            .await
            .unwrap()
            .is_some(),
        "not burnt by the wrong kind"
    );
    assert_eq!(
        store
            .consume_link_session(&TokenHash::of("unknown"), at(2), &late)
            .await
            .unwrap(),
        None
    );
}

pub async fn browser_sessions_match_kind_and_expiry(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let session = fixtures::browser(store, &w.company, SessionKind::Manage, "cookie").await;
    let hash = TokenHash::of("cookie");
    assert_eq!(
        store
            .browser_session(&hash, SessionKind::Manage, t0())
            .await
            .unwrap(),
        Some(session.clone())
    );
    assert_eq!(
        store
            .browser_session(&hash, SessionKind::Link, t0())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .browser_session(&hash, SessionKind::Manage, session.expires_at)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .browser_session(&TokenHash::of("other"), SessionKind::Manage, t0())
            .await
            .unwrap(),
        None
    );
}

pub async fn oauth_flow_is_consumed_once_by_its_session(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let mine = fixtures::browser(store, &w.company, SessionKind::Link, "mine").await;
    let other = fixtures::browser(store, &w.company, SessionKind::Link, "other").await;
    let mut write = fixtures::consent_write(&w.company, &w.nv, t0());
    let flow = fixtures::oauth_flow(&write.connection, mine.id, "state-1", at(600));
    write.oauth_flow = Some(flow.clone());
    store.record_consent(&write).await.expect("record");
    let state = TokenHash::of("state-1");
    assert_eq!(
        store
            .consume_oauth_flow(&state, other.id, at(10))
            .await
            .unwrap(),
        None,
        "bound to its browser session"
    );
    assert_eq!(
        store
            .consume_oauth_flow(&state, mine.id, at(11))
            .await
            .unwrap(),
        Some(flow),
        "a wrong session does not burn it"
    );
    assert_eq!(
        store
            .consume_oauth_flow(&state, mine.id, at(12))
            .await
            .unwrap(),
        None,
        "a replay finds nothing"
    );
}

pub async fn expired_oauth_flow_is_refused(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let session = fixtures::browser(store, &w.company, SessionKind::Link, "cookie").await;
    let write = fixtures::consent_write(&w.company, &w.nv, t0());
    store.record_consent(&write).await.unwrap();
    store
        .create_oauth_flow(&fixtures::oauth_flow(
            &write.connection,
            session.id,
            "state-2",
            at(600),
        ))
        .await
        .unwrap();
    assert_eq!(
        store
            .consume_oauth_flow(&TokenHash::of("state-2"), session.id, at(600))
            .await
            .unwrap(),
        None
    );
}

pub async fn record_consent_inserts_then_updates(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let first = fixtures::consent_write(&w.company, &w.nv, t0());
    store.record_consent(&first).await.expect("insert");
    assert_eq!(
        store
            .connection(w.tenant.id, first.connection.id)
            .await
            .unwrap(),
        Some(first.connection.clone())
    );
    assert_eq!(
        store.consent(w.tenant.id, first.consent.id).await.unwrap(),
        Some(first.consent.clone())
    );

    let second = fixtures::reconsent(&first, at(30));
    store.record_consent(&second).await.expect("update");
    assert_eq!(
        store
            .connection(w.tenant.id, first.connection.id)
            .await
            .unwrap(),
        Some(second.connection.clone())
    );
    assert_eq!(
        store
            .company_connections(w.tenant.id, w.company.id)
            .await
            .unwrap(),
        vec![second.connection]
    );
    assert_eq!(
        store
            .company_consents(w.tenant.id, w.company.id)
            .await
            .unwrap(),
        vec![first.consent, second.consent]
    );
}

pub async fn record_consent_is_all_or_nothing(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let first = fixtures::consent_write(&w.company, &w.nv, t0());
    store.record_consent(&first).await.unwrap();
    // A new connection whose consent reuses an existing consent id: nothing of it is written.
    let mut clash = fixtures::consent_write(&w.company, &w.nv, at(5));
    clash.consent.id = first.consent.id;
    clash.connection.consent_id = Some(first.consent.id);
    assert!(matches!(
        store.record_consent(&clash).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store
            .connection(w.tenant.id, clash.connection.id)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .company_consents(w.tenant.id, w.company.id)
            .await
            .unwrap(),
        vec![first.consent]
    );
}

pub async fn connection_is_linked_and_failed(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let write = fixtures::consent_write(&w.company, &w.nv, t0());
    store.record_consent(&write).await.unwrap();
    let (t, id) = (w.tenant.id, write.connection.id);
    assert_eq!(store.connection_tokens(t, id).await.unwrap(), None);
    store
        .fail_connection(t, id, "access_denied", at(10))
        .await
        .expect("fail");
    let failed = store.connection(t, id).await.unwrap().unwrap();
    assert_eq!(
        (
            failed.status,
            failed.last_error.as_deref(),
            failed.updated_at
        ),
        (ConnectionStatus::PendingAuth, Some("access_denied"), at(10))
    );

    store
        .link_connection(t, id, "ct:tokens", Some("invoices.read"), at(20))
        .await
        .expect("link");
    let linked = store.connection(t, id).await.unwrap().unwrap();
    assert_eq!(linked.status, ConnectionStatus::Linked);
    assert_eq!(
        (
            linked.linked_at,
            linked.granted_scope.as_deref(),
            linked.last_error.as_deref()
        ),
        (Some(at(20)), Some("invoices.read"), None)
    );
    assert_eq!(
        store.connection_tokens(t, id).await.unwrap().as_deref(),
        Some("ct:tokens")
    );
    store
        .fail_connection(t, id, "late_error", at(25))
        .await
        .expect("late failure is ignored");
    assert_eq!(
        store.connection(t, id).await.unwrap().unwrap(),
        linked,
        "only a pending connection records failures"
    );

    store.disconnect(t, id, false, at(30)).await.unwrap();
    assert!(
        store
            .link_connection(t, id, "ct:again", None, at(40))
            .await
            .is_err(),
        "a late callback never revives it"
    );
    assert_eq!(store.connection_tokens(t, id).await.unwrap(), None);
    assert_eq!(
        store.connection(t, id).await.unwrap().unwrap().status,
        ConnectionStatus::Disconnected
    );
    let unknown = ConnectionId::new();
    assert!(matches!(
        store.link_connection(t, unknown, "ct", None, at(1)).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.fail_connection(t, unknown, "x", at(1)).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn disconnect_destroys_tokens_and_queues_one_revocation(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let write = fixtures::linked(store, &w.company, &w.nv).await;
    let (t, id) = (w.tenant.id, write.connection.id);
    let out = store
        .disconnect(t, id, true, at(300))
        .await
        .unwrap()
        .expect("exists");
    assert_eq!(
        (out.connection.status, out.connection.disconnected_at),
        (ConnectionStatus::Disconnected, Some(at(300)))
    );
    assert_eq!(
        store.connection(t, id).await.unwrap(),
        Some(out.connection.clone())
    );
    assert_eq!(
        store.connection_tokens(t, id).await.unwrap(),
        None,
        "tokens destroyed"
    );
    assert_eq!(
        store
            .consent(t, write.consent.id)
            .await
            .unwrap()
            .unwrap()
            .withdrawn_at,
        Some(at(300))
    );

    let job = store
        .job(out.revoke_job.expect("a revocation job"))
        .await
        .unwrap()
        .expect("job stored");
    assert_eq!(
        (
            job.kind,
            job.tenant_id,
            job.attempts,
            job.run_at,
            job.done_at
        ),
        (JobKind::RevokeToken, t, 0, at(300), None)
    );
    assert_eq!(job.payload["tokens_ct"], "ct:tokens");
    assert_eq!(job.payload["connection_id"], id.to_string());
    assert_eq!(job.payload["platform_key"], "sandbox");

    let again = store
        .disconnect(t, id, true, at(400))
        .await
        .unwrap()
        .expect("still exists");
    assert_eq!(
        (again.connection, again.revoke_job),
        (out.connection, None),
        "returned unchanged, no second job"
    );
    assert_eq!(
        store
            .consent(t, write.consent.id)
            .await
            .unwrap()
            .unwrap()
            .withdrawn_at,
        Some(at(300))
    );
    assert_eq!(
        store
            .claim_jobs(at(500), 10, Duration::minutes(1))
            .await
            .unwrap()
            .len(),
        1
    );
}

pub async fn disconnect_without_tokens_or_revoke_queues_nothing(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let pending = fixtures::consent_write(&w.company, &w.nv, t0());
    store.record_consent(&pending).await.unwrap();
    let out = store
        .disconnect(w.tenant.id, pending.connection.id, true, at(10))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (out.connection.status, out.revoke_job),
        (ConnectionStatus::Disconnected, None)
    );
    let linked = fixtures::linked(store, &w.company, &w.nv).await;
    let out = store
        .disconnect(w.tenant.id, linked.connection.id, false, at(20))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.revoke_job, None);
    assert_eq!(
        store
            .connection_tokens(w.tenant.id, linked.connection.id)
            .await
            .unwrap(),
        None
    );
    assert!(store
        .claim_jobs(at(100), 10, Duration::minutes(1))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .disconnect(w.tenant.id, ConnectionId::new(), true, at(30))
            .await
            .unwrap()
            .map(|d| d.connection),
        None
    );
}

pub async fn delete_company_disconnects_its_connections(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let t = w.tenant.id;
    let company = fixtures::company(store, t, Some("cust-9")).await;
    let linked = fixtures::linked(store, &company, &w.nv).await;
    let pending = fixtures::consent_write(&company, &w.nv, at(1));
    store.record_consent(&pending).await.unwrap();
    store
        .create_link_session(&fixtures::link_session(
            &company,
            SessionKind::Link,
            "link",
            at(600),
        ))
        .await
        .unwrap();
    fixtures::browser(store, &company, SessionKind::Manage, "manage").await;

    assert!(store.delete_company(t, company.id, at(120)).await.unwrap());
    assert_eq!(store.company(t, company.id).await.unwrap(), None);
    assert_eq!(
        store.list_companies(t, page(None, 10)).await.unwrap(),
        vec![w.company.clone()]
    );
    assert!(
        !store.delete_company(t, company.id, at(130)).await.unwrap(),
        "already gone"
    );
    for id in [linked.connection.id, pending.connection.id] {
        assert_eq!(
            store.connection(t, id).await.unwrap().unwrap().status,
            ConnectionStatus::Disconnected
        );
        assert_eq!(store.connection_tokens(t, id).await.unwrap(), None);
    }
    let consents = store.company_consents(t, company.id).await.unwrap();
    assert_eq!(consents.len(), 2, "consents are kept as proof");
    assert!(consents.iter().all(|c| c.withdrawn_at == Some(at(120))));
    assert_eq!(
        store
            .claim_jobs(at(200), 10, Duration::minutes(1))
            .await
            .unwrap()
            .len(),
        1,
        "one job: only one held tokens"
    );
    let browser = fixtures::unbound_browser(SessionKind::Link, "late", at(900));
    assert_eq!(
        store
            .consume_link_session(&TokenHash::of("link"), at(130), &browser)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .browser_session(&TokenHash::of("manage"), SessionKind::Manage, at(130))
            .await
            .unwrap(),
        None
    );
    // A deleted company frees its external id.
    fixtures::company(store, t, Some("cust-9")).await;
}

/// A revocation job due at `at(0)`, as a disconnect creates it.
async fn one_job(store: &dyn Store) -> JobId {
    let w = World::new(store, "Lender A").await;
    let write = fixtures::linked(store, &w.company, &w.nv).await;
    store
        .disconnect(w.tenant.id, write.connection.id, true, at(0))
        .await
        .unwrap()
        .unwrap()
        .revoke_job
        .unwrap()
}

pub async fn jobs_are_claimed_once_under_a_lease(store: &dyn Store) {
    let id = one_job(store).await;
    let lease = Duration::minutes(1);
    let (a, b) = futures::join!(
        store.claim_jobs(at(10), 10, lease),
        store.claim_jobs(at(10), 10, lease)
    );
    let claimed: Vec<_> = a.unwrap().into_iter().chain(b.unwrap()).collect();
    assert_eq!(claimed.len(), 1, "two claims at once do not both get it");
    assert_eq!((claimed[0].id, claimed[0].attempts), (id, 1));
    assert!(
        store
            .claim_jobs(at(40), 10, lease)
            .await
            .unwrap()
            .is_empty(),
        "leased"
    );
    let reclaimed = store.claim_jobs(at(70), 10, lease).await.unwrap();
    assert_eq!(
        reclaimed
            .iter()
            .map(|j| (j.id, j.attempts))
            .collect::<Vec<_>>(),
        [(id, 2)],
        "lease expired"
    );
    store.complete_job(id, at(80)).await.expect("complete");
    let done = store.job(id).await.unwrap().unwrap();
    assert_eq!(
        (done.done_at, done.payload, done.last_error),
        (Some(at(80)), serde_json::Value::Null, None),
        "payload cleared"
    );
    assert!(store
        .claim_jobs(at(10_000), 10, lease)
        .await
        .unwrap()
        .is_empty());
    assert!(matches!(
        store.complete_job(JobId::new(), at(90)).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn failed_jobs_retry_then_give_up(store: &dyn Store) {
    let id = one_job(store).await;
    let lease = Duration::minutes(1);
    assert_eq!(store.claim_jobs(at(10), 10, lease).await.unwrap().len(), 1);
    store
        .fail_job(id, "platform timeout", Some(at(600)), at(20))
        .await
        .expect("fail");
    let waiting = store.job(id).await.unwrap().unwrap();
    assert_eq!(
        (
            waiting.run_at,
            waiting.last_error.as_deref(),
            waiting.done_at
        ),
        (at(600), Some("platform timeout"), None)
    );
    assert_eq!(
        waiting.payload["tokens_ct"], "ct:tokens",
        "kept for the retry"
    );
    assert!(
        store
            .claim_jobs(at(300), 10, lease)
            .await
            .unwrap()
            .is_empty(),
        "not due yet"
    );
    assert_eq!(
        store.claim_jobs(at(600), 10, lease).await.unwrap()[0].attempts,
        2
    );
    store
        .fail_job(id, "gave up", None, at(610))
        .await
        .expect("give up");
    let given_up = store.job(id).await.unwrap().unwrap();
    assert_eq!(
        (
            given_up.done_at,
            given_up.payload,
            given_up.last_error.as_deref()
        ),
        (Some(at(610)), serde_json::Value::Null, Some("gave up"))
    );
    assert!(store
        .claim_jobs(at(10_000), 10, lease)
        .await
        .unwrap()
        .is_empty());
    assert!(matches!(
        store.fail_job(JobId::new(), "x", None, at(1)).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn support_requests_are_listed_per_tenant(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let b = fixtures::tenant(store, "Lender B").await;
    let mut mine = Vec::new();
    for n in 0..3 {
        let r = fixtures::support_request(w.tenant.id, (n == 0).then_some(w.company.id), n);
        store.create_support_request(&r).await.expect("create");
        mine.push(r);
        store
            .create_support_request(&fixtures::support_request(b.id, None, n))
            .await
            .expect("same reference, other tenant");
    }
    mine.sort_by_key(|r| r.id);
    assert_eq!(
        store
            .support_requests(w.tenant.id, page(None, 2))
            .await
            .unwrap(),
        mine[..2]
    );
    assert_eq!(
        store
            .support_requests(w.tenant.id, page(Some(mine[1].id), 2))
            .await
            .unwrap(),
        mine[2..]
    );
    assert_eq!(
        store
            .support_requests(b.id, page(None, 10))
            .await
            .unwrap()
            .len(),
        3
    );
}

pub async fn another_tenants_ids_are_not_found(store: &dyn Store) {
    let a = World::new(store, "Lender A").await;
    let b = World::new(store, "Lender B").await;
    let (ta, tb) = (a.tenant.id, b.tenant.id);
    let write = fixtures::linked(store, &a.company, &a.nv).await;
    let conn = write.connection.id;
    let link = fixtures::link_session(&a.company, SessionKind::Link, "a-link", at(600));
    store.create_link_session(&link).await.unwrap();
    store
        .create_support_request(&fixtures::support_request(ta, Some(a.company.id), 1))
        .await
        .unwrap();
    let platform = TenantPlatform {
        tenant_id: ta,
        platform_key: fixtures::sandbox(),
        enabled: true,
        client_id: None,
        client_secret_ct: None,
        updated_at: t0(),
    };
    store.upsert_tenant_platform(&platform).await.unwrap();

    assert_eq!(store.company(tb, a.company.id).await.unwrap(), None);
    assert_eq!(
        store.list_companies(tb, page(None, 10)).await.unwrap(),
        vec![b.company.clone()]
    );
    assert_eq!(
        store
            .tenant_platform(tb, &platform.platform_key)
            .await
            .unwrap(),
        None
    );
    assert!(store.tenant_platforms(tb).await.unwrap().is_empty());
    assert_eq!(store.notice(tb, a.nv.notice_id).await.unwrap(), None);
    assert!(store
        .notice_versions(tb, a.nv.notice_id)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.notice_version(tb, a.nv.id).await.unwrap(), None);
    assert_eq!(store.notices(tb).await.unwrap().len(), 1, "only its own");
    assert_eq!(store.link_session(tb, link.id).await.unwrap(), None);
    assert_eq!(store.connection(tb, conn).await.unwrap(), None);
    assert!(store
        .company_connections(tb, a.company.id)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.connection_tokens(tb, conn).await.unwrap(), None);
    assert_eq!(store.consent(tb, write.consent.id).await.unwrap(), None);
    assert!(store
        .company_consents(tb, a.company.id)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.support_requests(tb, page(None, 10)).await.unwrap(),
        vec![]
    );

    assert!(matches!(
        store
            .link_connection(tb, conn, "ct:evil", None, at(5))
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.fail_connection(tb, conn, "evil", at(5)).await,
        Err(StoreError::NotFound)
    ));
    assert!(store
        .disconnect(tb, conn, true, at(5))
        .await
        .unwrap()
        .is_none());
    assert!(!store.delete_company(tb, a.company.id, at(5)).await.unwrap());
    // Writes naming A's rows from B's side are refused, as if those rows did not exist.
    let mut hijack = fixtures::consent_write(&b.company, &b.nv, at(5));
    hijack.connection.id = conn;
    hijack.consent.connection_id = conn;
    assert!(matches!(
        store.record_consent(&hijack).await,
        Err(StoreError::NotFound)
    ));
    let foreign = LinkSession {
        tenant_id: tb,
        ..fixtures::link_session(&a.company, SessionKind::Link, "b-link", at(600))
    };
    assert!(matches!(
        store.create_link_session(&foreign).await,
        Err(StoreError::NotFound)
    ));

    assert_eq!(
        store.connection(ta, conn).await.unwrap().unwrap().status,
        ConnectionStatus::Linked,
        "A untouched"
    );
    assert_eq!(
        store.connection_tokens(ta, conn).await.unwrap().as_deref(),
        Some("ct:tokens")
    );
    assert!(store.company(ta, a.company.id).await.unwrap().is_some());
    assert_eq!(
        store.company_consents(ta, a.company.id).await.unwrap(),
        vec![write.consent]
    );
}

pub async fn concurrent_consents_all_land(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    let writes: Vec<_> = (0..200)
        .map(|n| fixtures::consent_write(&w.company, &w.nv, at(n)))
        .collect();
    let results =
        futures::future::join_all(writes.iter().map(|write| store.record_consent(write))).await;
    assert!(
        results.iter().all(Result::is_ok),
        "every call commits: {:?}",
        results.iter().find(|r| r.is_err())
    );
    let consents = store
        .company_consents(w.tenant.id, w.company.id)
        .await
        .unwrap();
    assert_eq!(consents.len(), 200);
    assert_eq!(
        store
            .company_connections(w.tenant.id, w.company.id)
            .await
            .unwrap()
            .len(),
        200
    );
    let mut expected: Vec<_> = writes.into_iter().map(|w| w.consent).collect();
    expected.sort_by_key(|c| c.id);
    assert_eq!(consents, expected);
}
