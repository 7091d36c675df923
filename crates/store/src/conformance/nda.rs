//! Mutual NDAs: an acceptance is recorded once, with its `nda_accepted` ledger event in the same
//! transaction; it never changes; another tenant never sees it.

use super::fixtures::{at, World};
use crate::{Store, StoreError};
use accord_domain::crypto::sha256_hex;
use accord_domain::ids::{CompanyId, NdaAcceptanceId};
use accord_domain::ledger::{ChainVerifier, EventBody, EventKind};
use accord_domain::locale::Locale;
use accord_domain::nda::{NdaAcceptance, METHOD, PURPOSE};
use accord_domain::tenant::Company;

/// An acceptance by `company`, signed at `at(seconds)`.
pub fn nda_acceptance(company: &Company, seconds: i64) -> NdaAcceptance {
    let text = format!(
        "Mutual NDA between Lender and {} — « confidentiel » {seconds}.",
        company.name
    );
    NdaAcceptance {
        id: NdaAcceptanceId::new(),
        tenant_id: company.tenant_id,
        company_id: company.id,
        locale: Locale::Fr,
        signer_name: "Jeanne Martin".into(),
        signer_title: "Gérante".into(),
        document_sha256: sha256_hex(text.as_bytes()),
        document_text: text,
        accepted_at: at(seconds),
        ledger_seq: 0,
    }
}

/// Its `nda_accepted` event.
pub fn nda_event(nda: &NdaAcceptance) -> EventBody {
    EventBody {
        kind: EventKind::NdaAccepted,
        consent_id: nda.consent_id(),
        company_id: nda.company_id,
        connection_id: None,
        platform_key: None,
        category: None,
        notice_version_id: None,
        notice_version: None,
        text_sha256: nda.document_sha256.clone(),
        locale: nda.locale,
        data_uses: Vec::new(),
        purpose: PURPOSE.into(),
        method: METHOD.into(),
        at: nda.accepted_at,
        initiator: None,
        reason: None,
        controller: None,
    }
}

pub async fn an_nda_is_recorded_once_with_its_event(store: &dyn Store) {
    let w = World::new(store, "Lender A").await;
    // A consent first, so the NDA's event extends an existing chain.
    let linked = super::fixtures::linked(store, &w.company, &w.nv).await;
    let nda = nda_acceptance(&w.company, 100);
    let event = store.record_nda(&nda, nda_event(&nda)).await.unwrap();
    assert_eq!(event.event.seq, 2);
    assert_eq!(event.event.body, nda_event(&nda));
    let stored = store
        .nda(w.tenant.id, nda.id)
        .await
        .unwrap()
        .expect("recorded");
    assert_eq!(
        stored,
        NdaAcceptance {
            ledger_seq: 2,
            ..nda.clone()
        },
        "kept exactly, with its ledger position"
    );
    assert_eq!(store.ndas(w.tenant.id).await.unwrap(), vec![stored.clone()]);
    assert_eq!(
        store.company_ndas(w.tenant.id, w.company.id).await.unwrap(),
        vec![stored.clone()]
    );
    assert!(store
        .company_ndas(w.tenant.id, CompanyId::new())
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .consent_events(w.tenant.id, nda.consent_id())
            .await
            .unwrap(),
        vec![event.clone()]
    );
    let chain = store.ledger_events(w.tenant.id, 0, 100).await.unwrap();
    let mut v = ChainVerifier::default();
    chain.iter().try_for_each(|e| v.push(e)).unwrap();
    assert_eq!(chain[0].event.body.consent_id, linked.consent.id);

    // Recording the same id again (even changed) is refused and changes nothing: no row, no event.
    let mut again = nda.clone();
    again.signer_name = "Someone Else".into();
    assert!(matches!(
        store.record_nda(&again, nda_event(&again)).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.nda(w.tenant.id, nda.id).await.unwrap(), Some(stored));
    assert_eq!(
        store
            .ledger_events(w.tenant.id, 0, 100)
            .await
            .unwrap()
            .len(),
        2,
        "the failed write left no event"
    );

    // A second signature is its own record, listed after the first.
    let second = nda_acceptance(&w.company, 200);
    let e2 = store.record_nda(&second, nda_event(&second)).await.unwrap();
    assert_eq!(e2.event.seq, 3);
    let ids: Vec<_> = store
        .ndas(w.tenant.id)
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.id)
        .collect();
    assert_eq!(ids, [nda.id, second.id]);
}

pub async fn ndas_are_isolated_per_tenant(store: &dyn Store) {
    let a = World::new(store, "Lender A").await;
    let b = World::new(store, "Lender B").await;
    let nda = nda_acceptance(&a.company, 10);
    store.record_nda(&nda, nda_event(&nda)).await.unwrap();
    assert!(store.nda(b.tenant.id, nda.id).await.unwrap().is_none());
    assert!(store.ndas(b.tenant.id).await.unwrap().is_empty());
    assert!(store
        .company_ndas(b.tenant.id, a.company.id)
        .await
        .unwrap()
        .is_empty());
    assert!(
        store
            .ledger_events(b.tenant.id, 0, 10)
            .await
            .unwrap()
            .is_empty(),
        "the event went to A's chain only"
    );
    assert_eq!(
        store.ledger_events(a.tenant.id, 0, 10).await.unwrap().len(),
        1
    );
}
