//! `accord receipt verify FILE [--proof FILE]`: the evidence beside a receipt, checked offline
//! once its signature is (see `accord_domain::receipt::proof` for the documents):
//!
//! - the receipt document (the `.json` download, or one entry of `GET
//!   /v1/consents/{consent_id}/receipt`) carries the event's inclusion in the receipt's
//!   checkpoint: the checkpoint's note signature is checked with the same public keys as the
//!   receipt, its origin must be the receipt's tenant's log, and the audit path must lead from
//!   the event's leaf to the checkpoint's root;
//! - a fresh proof (`--proof`: the `.proof.json` download, or `GET
//!   /v1/consents/{consent_id}/receipt/proof`) carries the event's inclusion in a later
//!   checkpoint and the consistency proof from the receipt's checkpoint to it.
//!
//! A bare `.jws` carries no evidence: it proves Accord's signature only, and says so.

use accord_domain::receipt::proof::{self as evidence, FreshProof, Inclusion, OpenedCheckpoint};
use accord_domain::receipt::Receipt;
use anyhow::{anyhow, Context};
use serde_json::Value;
use std::path::Path;

/// The inclusion evidence in a receipt file: `Ok(None)` for a bare JWS, or a document saved
/// before a checkpoint covered its event (`"proof": null`).
fn inclusion_in(text: &str) -> anyhow::Result<Option<Inclusion>> {
    let text = text.trim();
    if !text.starts_with('{') {
        return Ok(None);
    }
    let doc: Value = serde_json::from_str(text).context("the receipt file is not valid JSON")?;
    match doc.get("proof") {
        None | Some(Value::Null) => Ok(None),
        Some(p) => serde_json::from_value(p.clone())
            .map(Some)
            .context("the receipt file's `proof` is not an inclusion proof"),
    }
}

fn read_fresh(path: &Path) -> anyhow::Result<FreshProof> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--proof {}: cannot read the file", path.display()))?;
    let fresh: FreshProof = serde_json::from_str(&text).with_context(|| {
        format!(
            "--proof {}: not a fresh proof (the `.proof.json` download or GET /v1/consents/{{consent_id}}/receipt/proof)",
            path.display()
        )
    })?;
    if fresh.format != evidence::FRESH_PROOF_FORMAT {
        return Err(anyhow!(
            "--proof {}: the format `{}` is not `{}`",
            path.display(),
            fresh.format,
            evidence::FRESH_PROOF_FORMAT
        ));
    }
    Ok(fresh)
}

fn position(receipt: &Receipt) -> String {
    receipt.ledger["position"].to_string()
}

fn signed_by(c: &OpenedCheckpoint) -> String {
    format!("signed note, key {}", c.kid)
}

/// Checks the evidence in the receipt file `text` and in the fresh proof at `proof`, for a
/// receipt whose signature verified with `jwks`; returns what it proves, one line each. An
/// error says which proof failed and why.
pub fn check(
    text: &str,
    proof: Option<&Path>,
    receipt: &Receipt,
    jwks: &Value,
) -> anyhow::Result<String> {
    let mut out = Vec::new();
    let at = position(receipt);
    let own = if let Some(inclusion) = inclusion_in(text)? {
        let opened = evidence::verify_inclusion(receipt, &inclusion, jwks).map_err(|e| {
            anyhow!("the receipt's signature is valid, but its inclusion proof is not: {e}")
        })?;
        out.push(format!(
            "inclusion:  event {at} is in the log {} of {} entries (checkpoint: {})",
            opened.head.origin,
            opened.head.size,
            signed_by(&opened)
        ));
        Some(opened)
    } else {
        out.push(
            "inclusion:  not in this file (a bare JWS, or saved before a checkpoint covered the event): the signature alone proves what Accord signed, not that its log holds it; download the receipt again (.json) or pass a fresh proof with --proof".to_owned(),
        );
        None
    };
    if let Some(path) = proof {
        let fresh = read_fresh(path)?;
        let outcome = evidence::verify_fresh(receipt, own.as_ref().map(|o| &o.head), &fresh, jwks)
            .map_err(|e| anyhow!("--proof {}: {e}", path.display()))?;
        let latest = &outcome.latest;
        out.push(format!(
            "latest:     event {at} is in the log {} of {} entries (checkpoint: {})",
            latest.head.origin,
            latest.head.size,
            signed_by(latest)
        ));
        out.push(match outcome.extends {
            Some(from) => format!(
                "consistency: the log of {} entries extends the receipt's checkpoint of {from}: nothing the receipt's checkpoint held was changed or removed since",
                latest.head.size
            ),
            None => "consistency: not checked (the receipt file has no checkpoint of its own to start from)".to_owned(),
        });
    }
    Ok(out.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_jws_or_a_pending_document_carries_no_inclusion() {
        assert!(inclusion_in("a.b.c\n").unwrap().is_none());
        assert!(inclusion_in(r#"{"jws":"a.b.c","proof":null}"#)
            .unwrap()
            .is_none());
        assert!(inclusion_in(r#"{"jws":"a.b.c"}"#).unwrap().is_none());
        assert!(inclusion_in(r#"{"jws":"a.b.c","proof":{"tree_size":1}}"#).is_err());
        assert!(inclusion_in("{not json").is_err());
    }
}
