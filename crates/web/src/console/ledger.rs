//! The consent ledger: the tree's current size, the checkpoints the sealer signed (newest
//! first), and whether the stored chain still has, at each listed checkpoint's position, the
//! hash that checkpoint signed — a hash that differs means the stored ledger was changed after
//! it was sealed.

use crate::console::error::ConsoleError;
use crate::console::session::Member;
use crate::console::view::{html, Chrome};
use crate::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::response::Response;

/// Checkpoints listed.
const SHOWN: usize = 20;

struct CheckpointRow {
    size: i64,
    chain_hash: String,
    sealed: String,
    /// Whether the stored chain has the signed hash at this position.
    matches: bool,
}

#[derive(Template)]
#[template(path = "console/ledger.html")]
struct LedgerPage {
    c: Chrome,
    size: i64,
    rows: Vec<CheckpointRow>,
    all_match: bool,
    tenant_id: String,
}

fn short(s: &str) -> String {
    s.chars().take(16).collect()
}

pub async fn show(State(state): State<AppState>, m: Member) -> Result<Response, ConsoleError> {
    let ledger = state.ledger();
    let head = ledger.tree_head(m.tenant.id).await?;
    let mut rows = Vec::new();
    let checkpoints = ledger.ledger_checkpoints(m.tenant.id).await?;
    for c in checkpoints.into_iter().rev().take(SHOWN) {
        let k = c.checkpoint;
        let stored = ledger.ledger_events(m.tenant.id, k.seq - 1, 1).await?;
        let matches = stored
            .first()
            .is_some_and(|e| e.event.seq == k.seq && e.hash == k.hash);
        rows.push(CheckpointRow {
            size: k.seq,
            chain_hash: short(&k.hash),
            sealed: m.chrome.when(k.sealed_at),
            matches,
        });
    }
    html(&LedgerPage {
        all_match: rows.iter().all(|r| r.matches),
        c: m.chrome,
        size: i64::try_from(head.size).unwrap_or(i64::MAX),
        rows,
        tenant_id: m.tenant.id.to_string(),
    })
}
