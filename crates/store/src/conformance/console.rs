//! [`ConsoleStore`]: the tenant console's users, set-password links, sessions and audit trail;
//! and the API keys' names, last use and revocation ([`TenantStore`]).

use super::fixtures::{self, at, t0};
use crate::{ConsoleStore, StoreError, TenantStore};
use accord_domain::console::{
    AuditEntry, AuditId, ConsoleSession, ConsoleUser, Role, SetPasswordPurpose, SetPasswordToken,
    UserId,
};
use accord_domain::crypto::TokenHash;
use accord_domain::ids::{ApiKeyId, TenantId};
use accord_domain::tenant::ApiKeyRecord;
use futures::future::join_all;
use time::Duration;

/// A user without a password; the e-mail is unique to this call, so cases never clash.
fn user(tenant: TenantId, role: Role) -> ConsoleUser {
    let id = UserId::new();
    ConsoleUser {
        id,
        tenant_id: tenant,
        email: format!("{}@example.com", id.as_uuid().simple()),
        name: "Ana Lima".into(),
        role,
        password_hash: None,
        totp_secret: None,
        failed_sign_ins: 0,
        locked_until: None,
        created_at: t0(),
        disabled_at: None,
    }
}

fn link(u: &ConsoleUser, secret: &str, expires_in: i64) -> SetPasswordToken {
    SetPasswordToken {
        token_hash: TokenHash::of(secret),
        user_id: u.id,
        tenant_id: u.tenant_id,
        purpose: SetPasswordPurpose::Invite,
        created_at: t0(),
        expires_at: at(expires_in),
        used_at: None,
    }
}

fn session(u: &ConsoleUser, secret: &str, created: i64) -> ConsoleSession {
    ConsoleSession {
        id_hash: TokenHash::of(secret),
        user_id: u.id,
        tenant_id: u.tenant_id,
        created_at: at(created),
        last_seen_at: at(created),
        expires_at: at(created + 3600),
        ended_at: None,
        user_agent: "Firefox".into(),
    }
}

pub async fn console_users_are_unique_by_email_and_updated(
    store: &(impl ConsoleStore + TenantStore + ?Sized),
) {
    let a = fixtures::tenant(store, "Lender A").await;
    let b = fixtures::tenant(store, "Lender B").await;
    let owner = user(a.id, Role::Owner);
    store.create_user(&owner).await.expect("create user");
    assert_eq!(store.user(owner.id).await.unwrap(), Some(owner.clone()));
    assert_eq!(
        store.user_by_email(&owner.email).await.unwrap(),
        Some(owner.clone())
    );
    assert_eq!(store.user(UserId::new()).await.unwrap(), None);
    assert_eq!(
        store.user_by_email("nobody@example.com").await.unwrap(),
        None
    );

    // One account per e-mail on the instance, in any tenant.
    let twin = ConsoleUser {
        email: owner.email.clone(),
        ..user(b.id, Role::Viewer)
    };
    assert!(
        matches!(store.create_user(&twin).await, Err(StoreError::Conflict(_))),
        "an e-mail has one account"
    );
    assert!(
        matches!(
            store.create_user(&user(TenantId::new(), Role::Admin)).await,
            Err(StoreError::NotFound)
        ),
        "a user belongs to an existing tenant"
    );

    let viewer = user(a.id, Role::Viewer);
    store.create_user(&viewer).await.unwrap();
    store.create_user(&user(b.id, Role::Owner)).await.unwrap();
    assert_eq!(
        store.users(a.id).await.unwrap(),
        vec![owner.clone(), viewer.clone()],
        "a tenant's users, in creation order, and only its own"
    );

    let changed = ConsoleUser {
        name: "Ana L.".into(),
        role: Role::Admin,
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
        totp_secret: Some("sealed".into()),
        failed_sign_ins: 3,
        locked_until: Some(at(900)),
        disabled_at: Some(at(1000)),
        // Never changed by an update.
        email: "other@example.com".into(),
        created_at: at(50),
        ..viewer.clone()
    };
    store.update_user(&changed).await.expect("update user");
    let stored = store.user(viewer.id).await.unwrap().unwrap();
    assert_eq!(
        stored,
        ConsoleUser {
            email: viewer.email.clone(),
            created_at: viewer.created_at,
            ..changed
        }
    );
    assert!(matches!(
        store.update_user(&user(a.id, Role::Viewer)).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn set_password_links_are_used_once_before_expiry(
    store: &(impl ConsoleStore + TenantStore + ?Sized),
) {
    let a = fixtures::tenant(store, "Lender A").await;
    let u = user(a.id, Role::Owner);
    store.create_user(&u).await.unwrap();
    let invite = link(&u, "invite-secret", 600);
    store
        .add_set_password_token(&invite)
        .await
        .expect("add link");
    assert!(matches!(
        store.add_set_password_token(&invite).await,
        Err(StoreError::Conflict(_))
    ));

    let used = store
        .use_set_password_token(&invite.token_hash, at(10))
        .await
        .unwrap();
    assert_eq!(
        used,
        Some(SetPasswordToken {
            used_at: Some(at(10)),
            ..invite.clone()
        })
    );
    assert_eq!(
        store
            .use_set_password_token(&invite.token_hash, at(11))
            .await
            .unwrap(),
        None,
        "a link is used once"
    );

    let late = link(&u, "late-secret", 600);
    store.add_set_password_token(&late).await.unwrap();
    assert_eq!(
        store
            .use_set_password_token(&late.token_hash, at(600))
            .await
            .unwrap(),
        None,
        "an expired link opens nothing"
    );
    assert_eq!(
        store
            .use_set_password_token(&late.token_hash, at(599))
            .await
            .unwrap()
            .map(|t| t.user_id),
        Some(u.id),
        "a refused late use did not spend it before its expiry"
    );
    assert_eq!(
        store
            .use_set_password_token(&TokenHash::of("unknown"), at(1))
            .await
            .unwrap(),
        None
    );

    // A link names its user's own tenant.
    let b = fixtures::tenant(store, "Lender B").await;
    let crossed = SetPasswordToken {
        tenant_id: b.id,
        ..link(&u, "crossed-secret", 600)
    };
    assert!(matches!(
        store.add_set_password_token(&crossed).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn racing_set_password_uses_spend_the_link_once(
    store: &(impl ConsoleStore + TenantStore + ?Sized),
) {
    let a = fixtures::tenant(store, "Lender A").await;
    let u = user(a.id, Role::Owner);
    store.create_user(&u).await.unwrap();
    let invite = link(&u, "raced-secret", 600);
    store.add_set_password_token(&invite).await.unwrap();
    let outcomes =
        join_all((0..8).map(|_| store.use_set_password_token(&invite.token_hash, at(5)))).await;
    let spent = outcomes
        .into_iter()
        .filter_map(|o| o.expect("use link"))
        .count();
    assert_eq!(spent, 1, "one of the racing uses spends the link");
}

pub async fn console_sessions_are_live_until_ended_or_expired(
    store: &(impl ConsoleStore + TenantStore + ?Sized),
) {
    let a = fixtures::tenant(store, "Lender A").await;
    let u = user(a.id, Role::Admin);
    let other = user(a.id, Role::Viewer);
    store.create_user(&u).await.unwrap();
    store.create_user(&other).await.unwrap();
    let first = session(&u, "first", 0);
    let second = session(&u, "second", 10);
    let theirs = session(&other, "theirs", 0);
    for s in [&first, &second, &theirs] {
        store.create_session(s).await.expect("create session");
    }
    assert!(matches!(
        store.create_session(&first).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(
        matches!(
            store
                .create_session(&session(&user(a.id, Role::Owner), "ghost", 0))
                .await,
            Err(StoreError::NotFound)
        ),
        "a session belongs to an existing user"
    );
    assert_eq!(
        store.session(&first.id_hash).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(store.session(&TokenHash::of("nope")).await.unwrap(), None);

    store.touch_session(&first.id_hash, at(20)).await.unwrap();
    let touched = store.session(&first.id_hash).await.unwrap().unwrap();
    assert_eq!(touched.last_seen_at, at(20));
    assert_eq!(
        store.user_sessions(u.id, at(30)).await.unwrap(),
        vec![second.clone(), touched.clone()],
        "the user's live sessions, newest first"
    );
    assert_eq!(
        store.user_sessions(u.id, at(3605)).await.unwrap(),
        vec![second.clone()],
        "an expired session is not live"
    );

    store.end_session(&second.id_hash, at(40)).await.unwrap();
    store.end_session(&second.id_hash, at(50)).await.unwrap();
    let ended = store.session(&second.id_hash).await.unwrap().unwrap();
    assert_eq!(ended.ended_at, Some(at(40)), "the first sign-out stays");
    assert!(!ended.is_live(at(41)));
    store.touch_session(&second.id_hash, at(60)).await.unwrap();
    assert_eq!(
        store
            .session(&second.id_hash)
            .await
            .unwrap()
            .unwrap()
            .last_seen_at,
        second.last_seen_at,
        "an ended session is not touched"
    );

    assert_eq!(store.end_user_sessions(u.id, at(70)).await.unwrap(), 1);
    assert_eq!(store.user_sessions(u.id, at(71)).await.unwrap(), vec![]);
    assert_eq!(
        store.user_sessions(other.id, at(71)).await.unwrap(),
        vec![theirs],
        "only that user's sessions end"
    );
}

pub async fn audit_entries_are_paged_newest_first_per_tenant(
    store: &(impl ConsoleStore + TenantStore + ?Sized),
) {
    let a = fixtures::tenant(store, "Lender A").await;
    let b = fixtures::tenant(store, "Lender B").await;
    let mut written = Vec::new();
    for i in 0..5 {
        let entry = AuditEntry {
            id: AuditId::new(),
            tenant_id: a.id,
            actor: "ana@example.com".into(),
            action: "settings.saved".into(),
            target: (i % 2 == 0).then(|| format!("target-{i}")),
            detail: serde_json::json!({ "n": i, "fields": ["brand"] }),
            at: at(i),
        };
        store.record_audit(&entry).await.expect("record audit");
        written.push(entry);
    }
    store
        .record_audit(&AuditEntry {
            id: AuditId::new(),
            tenant_id: b.id,
            actor: "accord".into(),
            action: "console.user_created".into(),
            target: None,
            detail: serde_json::json!({}),
            at: at(9),
        })
        .await
        .unwrap();
    written.reverse();
    let first = store.audit(a.id, None, 3).await.unwrap();
    assert_eq!(first, written[..3].to_vec(), "newest first, its own only");
    let next = store.audit(a.id, Some(first[2].id), 3).await.unwrap();
    assert_eq!(next, written[3..].to_vec());
    assert_eq!(
        store.audit(TenantId::new(), None, 10).await.unwrap(),
        vec![]
    );
    assert!(matches!(
        store
            .record_audit(&AuditEntry {
                tenant_id: TenantId::new(),
                id: AuditId::new(),
                ..written[0].clone()
            })
            .await,
        Err(StoreError::NotFound)
    ));
}

pub async fn api_keys_are_named_listed_touched_and_revoked(
    store: &(impl ConsoleStore + TenantStore + ?Sized),
) {
    let a = fixtures::tenant(store, "Lender A").await;
    let b = fixtures::tenant(store, "Lender B").await;
    let named = ApiKeyRecord {
        name: "billing job".into(),
        created_at: at(5),
        ..fixtures::api_key(a.id)
    };
    store.add_api_key(&named).await.unwrap();
    let keys = store.api_keys(a.id).await.unwrap();
    assert_eq!(keys.len(), 2, "the tenant's first key and the new one");
    assert_eq!(keys[1], named);
    assert!(store
        .api_keys(b.id)
        .await
        .unwrap()
        .iter()
        .all(|k| k.tenant_id == b.id));

    store.touch_api_key(named.id, at(60)).await.unwrap();
    store.touch_api_key(named.id, at(30)).await.unwrap();
    let touched = store.api_key(&named.key_id).await.unwrap().unwrap();
    assert_eq!(
        touched.last_used_at,
        Some(at(60)),
        "a late touch never goes back"
    );
    assert!(!touched.use_is_worth_recording(at(100)));
    assert!(touched.use_is_worth_recording(at(60) + Duration::minutes(1)));

    assert!(
        !store.revoke_api_key(b.id, named.id, at(70)).await.unwrap(),
        "another tenant's key is not found"
    );
    assert!(!store
        .revoke_api_key(a.id, ApiKeyId::new(), at(70))
        .await
        .unwrap());
    assert!(store.revoke_api_key(a.id, named.id, at(70)).await.unwrap());
    assert!(
        !store.revoke_api_key(a.id, named.id, at(80)).await.unwrap(),
        "revoked once"
    );
    let revoked = store.api_key(&named.key_id).await.unwrap().unwrap();
    assert_eq!(revoked.revoked_at, Some(at(70)));
    assert_eq!(
        revoked,
        ApiKeyRecord {
            last_used_at: Some(at(60)),
            revoked_at: Some(at(70)),
            ..named
        }
    );
}

pub async fn api_keys_are_paged_in_creation_order(
    store: &(impl ConsoleStore + TenantStore + ?Sized),
) {
    let a = fixtures::tenant(store, "Lender A").await;
    let b = fixtures::tenant(store, "Lender B").await;
    for n in 0..4 {
        let key = ApiKeyRecord {
            name: format!("key {n}"),
            ..fixtures::api_key(a.id)
        };
        store.add_api_key(&key).await.unwrap();
        store.revoke_api_key(a.id, key.id, at(n)).await.unwrap();
    }
    let all = store.api_keys(a.id).await.unwrap();
    assert_eq!(all.len(), 5, "the tenant's first key and four more");
    let first = store
        .api_keys_page(a.id, super::page(None, 2))
        .await
        .unwrap();
    assert_eq!(first, all[..2], "revoked keys included, oldest first");
    let second = store
        .api_keys_page(a.id, super::page(Some(first[1].id), 2))
        .await
        .unwrap();
    assert_eq!(second, all[2..4]);
    let last = store
        .api_keys_page(a.id, super::page(Some(second[1].id), 2))
        .await
        .unwrap();
    assert_eq!(last, all[4..]);
    let theirs = store
        .api_keys_page(b.id, super::page(None, 10))
        .await
        .unwrap();
    assert_eq!(theirs.len(), 1, "another tenant's keys are not listed");
    assert!(store
        .api_keys_page(b.id, super::page(Some(all[0].id), 10))
        .await
        .unwrap()
        .iter()
        .all(|k| k.tenant_id == b.id));
}

pub async fn sign_in_failures_lock_in_the_store_for_every_instance(
    store: &(impl ConsoleStore + TenantStore + ?Sized),
) {
    let a = fixtures::tenant(store, "Lender A").await;
    let u = user(a.id, Role::Admin);
    store.create_user(&u).await.unwrap();
    let lockout = Duration::minutes(15);
    // Nine failures from many callers at once (as from several instances): none is lost.
    let failures =
        join_all((0..9).map(|_| store.record_sign_in_failure(u.id, at(10), 10, lockout))).await;
    assert!(
        failures.iter().all(|f| matches!(f, Ok(None))),
        "{failures:?}"
    );
    let stored = store.user(u.id).await.unwrap().unwrap();
    assert_eq!((stored.failed_sign_ins, stored.locked_until), (9, None));
    // The tenth locks, and the count starts again.
    assert_eq!(
        store
            .record_sign_in_failure(u.id, at(20), 10, lockout)
            .await
            .unwrap(),
        Some(at(20) + lockout)
    );
    let stored = store.user(u.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.failed_sign_ins, stored.locked_until),
        (0, Some(at(20) + lockout))
    );
    // Another failure while locked keeps the lock as it was.
    assert_eq!(
        store
            .record_sign_in_failure(u.id, at(30), 10, lockout)
            .await
            .unwrap(),
        Some(at(20) + lockout)
    );
    store.clear_sign_in_failures(u.id).await.unwrap();
    let stored = store.user(u.id).await.unwrap().unwrap();
    assert_eq!((stored.failed_sign_ins, stored.locked_until), (0, None));
    assert!(matches!(
        store
            .record_sign_in_failure(UserId::new(), at(40), 10, lockout)
            .await,
        Err(StoreError::NotFound)
    ));
}

pub async fn a_totp_step_is_accepted_once_per_user(
    store: &(impl ConsoleStore + TenantStore + ?Sized),
) {
    let a = fixtures::tenant(store, "Lender A").await;
    let u = user(a.id, Role::Viewer);
    let v = user(a.id, Role::Viewer);
    store.create_user(&u).await.unwrap();
    store.create_user(&v).await.unwrap();
    let step = 59_000_000;
    // Racing uses of one code: exactly one is accepted.
    let tries = join_all((0..8).map(|_| store.accept_totp_step(u.id, step))).await;
    assert_eq!(
        tries.iter().filter(|t| matches!(t, Ok(true))).count(),
        1,
        "{tries:?}"
    );
    assert!(tries.iter().all(Result::is_ok));
    assert!(
        !store.accept_totp_step(u.id, step - 1).await.unwrap(),
        "an earlier step's code is refused once a later one was used"
    );
    assert!(
        store.accept_totp_step(v.id, step).await.unwrap(),
        "each user has their own last step"
    );
    assert!(store.accept_totp_step(u.id, step + 1).await.unwrap());
    assert!(!store.accept_totp_step(u.id, step + 1).await.unwrap());
    assert!(matches!(
        store.accept_totp_step(UserId::new(), step).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn a_companys_ledger_positions_are_read_at_once(store: &dyn crate::Store) {
    let w = fixtures::World::new(store, "Lender A").await;
    let other = fixtures::company(store, w.tenant.id, None).await;
    let b = fixtures::World::new(store, "Lender B").await;
    let first = fixtures::consent_write(&w.company, &w.nv, at(1));
    store.record_consent(&first).await.unwrap();
    let theirs = fixtures::consent_write(&other, &w.nv, at(2));
    store.record_consent(&theirs).await.unwrap();
    // A newer consent on the same connection: the first one's end is an event too.
    let again = fixtures::reconsent(&first, at(3));
    store.record_consent(&again).await.unwrap();
    let second = fixtures::consent_write(&w.company, &w.nv, at(4));
    store.record_consent(&second).await.unwrap();
    store
        .record_consent(&fixtures::consent_write(&b.company, &b.nv, at(5)))
        .await
        .unwrap();

    let mut expected = Vec::new();
    for c in [&first, &again, &second] {
        for e in store
            .consent_events(w.tenant.id, c.consent.id)
            .await
            .unwrap()
        {
            expected.push(crate::LedgerPosition {
                consent_id: c.consent.id,
                seq: e.event.seq,
                kind: e.event.body.kind,
                at: e.event.body.at,
            });
        }
    }
    expected.sort_by_key(|p| p.seq);
    assert!(expected.len() >= 3, "{expected:?}");
    let positions = store
        .company_ledger_positions(w.tenant.id, w.company.id)
        .await
        .unwrap();
    assert_eq!(positions, expected, "the company's events, in chain order");
    assert!(positions.iter().all(|p| p.consent_id != theirs.consent.id));
    assert!(store
        .company_ledger_positions(b.tenant.id, w.company.id)
        .await
        .unwrap()
        .is_empty());
}
