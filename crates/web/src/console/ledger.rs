//! The consent ledger: the tree's current size, the checkpoints the sealer signed (newest
//! first), and whether the stored tree still has, at each listed checkpoint's size, the root
//! that checkpoint signed — a root that differs means the stored ledger was changed after it
//! was sealed.

use crate::console::error::ConsoleError;
use crate::console::session::Member;
use crate::console::view::{html, Chrome};
use crate::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::response::Response;
use base64::Engine;

/// Checkpoints listed.
const SHOWN: u32 = 20;

struct CheckpointRow {
    size: i64,
    root: String,
    chain_hash: String,
    sealed: String,
    /// `Some(true)`: the stored tree has this root at this size; `None`: signed before the tree.
    matches: Option<bool>,
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
    for c in ledger
        .recent_ledger_checkpoints(m.tenant.id, None, SHOWN)
        .await?
    {
        let k = c.checkpoint;
        let matches = match &k.root {
            Some(signed) => {
                let size = u64::try_from(k.seq).unwrap_or(0);
                let stored = ledger.tree_root(m.tenant.id, size).await?;
                Some(stored.is_some_and(|r| {
                    base64::engine::general_purpose::STANDARD.encode(r) == *signed
                }))
            }
            None => None,
        };
        rows.push(CheckpointRow {
            size: k.seq,
            root: k.root.as_deref().map(short).unwrap_or_default(),
            chain_hash: short(&k.hash),
            sealed: m.chrome.when(k.sealed_at),
            matches,
        });
    }
    html(&LedgerPage {
        all_match: rows.iter().all(|r| r.matches != Some(false)),
        c: m.chrome,
        size: i64::try_from(head.size).unwrap_or(i64::MAX),
        rows,
        tenant_id: m.tenant.id.to_string(),
    })
}
