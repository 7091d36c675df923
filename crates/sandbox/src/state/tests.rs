use super::*;
use secrecy::SecretString;

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const TTL: Duration = Duration::hours(1);
const REDIRECT: &str = "http://127.0.0.1/cb";

fn store() -> Store {
    Store::new(vec![SandboxClient {
        client_id: "c".into(),
        client_secret: SecretString::from("s"),
        redirect_uris: vec![REDIRECT.into()],
    }])
}

fn request(scope: &str) -> AuthRequest {
    AuthRequest {
        client_id: "c".into(),
        redirect_uri: REDIRECT.into(),
        scopes: ScopeSet::parse(scope).unwrap(),
        state: None,
        code_challenge: CHALLENGE.into(),
    }
}

#[test]
fn nothing_raw_is_stored() {
    let mut s = store();
    let now = OffsetDateTime::UNIX_EPOCH;
    let code = s.issue_code(
        request("invoices:read offline_access"),
        "Org".into(),
        now + TTL,
    );
    let nonce = s.issue_nonce(request("invoices:read"), now + TTL);
    let issued = s
        .redeem_code(&code, "c", REDIRECT, VERIFIER, now, TTL)
        .unwrap();
    let dump = format!("{s:?}");
    assert!(!dump.contains(&code));
    assert!(!dump.contains(&nonce));
    assert!(!dump.contains(&issued.access_token));
    assert!(!dump.contains(issued.refresh_token.as_deref().unwrap()));
}

#[test]
fn nonce_answers_once() {
    let mut s = store();
    let now = OffsetDateTime::UNIX_EPOCH;
    let nonce = s.issue_nonce(request("invoices:read"), now + TTL);
    assert!(s.take_nonce(&nonce, now).is_some());
    assert!(s.take_nonce(&nonce, now).is_none());
    let late = s.issue_nonce(request("invoices:read"), now + Duration::seconds(1));
    assert!(s.take_nonce(&late, now + Duration::seconds(1)).is_none());
}

#[test]
fn no_refresh_token_without_offline_access() {
    let mut s = store();
    let now = OffsetDateTime::UNIX_EPOCH;
    let code = s.issue_code(request("invoices:read"), "Org".into(), now + TTL);
    let issued = s
        .redeem_code(&code, "c", REDIRECT, VERIFIER, now, TTL)
        .unwrap();
    assert!(issued.refresh_token.is_none());
    assert!(s.access_grant(&issued.access_token, now).is_some());
    assert!(s.access_grant(&issued.access_token, now + TTL).is_none());
}

#[test]
fn refresh_scope_cannot_grow() {
    let mut s = store();
    let now = OffsetDateTime::UNIX_EPOCH;
    let code = s.issue_code(
        request("invoices:read offline_access"),
        "Org".into(),
        now + TTL,
    );
    let issued = s
        .redeem_code(&code, "c", REDIRECT, VERIFIER, now, TTL)
        .unwrap();
    let wider = ScopeSet::parse("bills:read").ok();
    let err = s
        .refresh(
            issued.refresh_token.as_deref().unwrap(),
            "c",
            wider,
            now,
            TTL,
        )
        .unwrap_err();
    assert!(matches!(err, GrantError::InvalidScope(_)));
}

#[test]
fn pruning_forgets_spent_grants_but_keeps_live_ones() {
    let mut s = store();
    let now = OffsetDateTime::UNIX_EPOCH;
    let code = s.issue_code(
        request("invoices:read offline_access"),
        "Org".into(),
        now + TTL,
    );
    let issued = s
        .redeem_code(&code, "c", REDIRECT, VERIFIER, now, TTL)
        .unwrap();
    let unused = s.issue_code(request("invoices:read"), "Org".into(), now + TTL);
    // Two hours on: the access token and the unused code are gone, the refresh token lives.
    let later = now + TTL * 2;
    s.prune(later);
    assert_eq!(s.access.len(), 0);
    assert_eq!(
        s.codes.len(),
        1,
        "the redeemed code stays while its grant lives"
    );
    assert!(s
        .redeem_code(&unused, "c", REDIRECT, VERIFIER, later, TTL)
        .is_err());
    let refreshed = s
        .refresh(
            issued.refresh_token.as_deref().unwrap(),
            "c",
            None,
            later,
            TTL,
        )
        .unwrap();
    assert!(s.access_grant(&refreshed.access_token, later).is_some());
}
