//! Each tenant's ledger as a public transparency log (RFC 9162 Merkle tree, C2SP signed notes):
//! the latest signed tree head, the key that signs it, and inclusion and consistency proofs.
//! Open to anyone without a key because they carry hashes and signatures only, never consent
//! data: a customer holding a receipt, or an auditor keeping checkpoints outside Accord, checks
//! them with any RFC 9162 / C2SP implementation.

use crate::api::extract::{ApiPath, ApiQuery, Auth};
use crate::error::{ApiError, Problem, Resource};
use crate::state::AppState;
use accord_domain::ids::TenantId;
use accord_domain::ledger::merkle::Hash;
use accord_domain::ledger::SignedCheckpoint;
use accord_domain::validate::Invalid;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A proof for a given size never changes (the tree is append-only), so caches may keep it.
const PROOF_CACHE: &str = "public, max-age=31536000, immutable";

/// The note key name: the origin's host, so a verifier key says whose log it signs (the sealer
/// signs under the same name).
fn key_name(state: &AppState) -> &str {
    SignedCheckpoint::note_key_name(&state.config.urls.public_url)
}

/// An unknown tenant id is a 404 for its ledger (an empty ledger of a real tenant is not).
async fn known_tenant(state: &AppState, id: Uuid) -> Result<TenantId, ApiError> {
    let tenant = TenantId(id);
    state
        .tenants()
        .tenant(tenant)
        .await?
        .map(|_| tenant)
        .ok_or(ApiError::NotFound(Resource::Ledger))
}

fn b64(h: &Hash) -> String {
    B64.encode(h)
}

/// A query value that parses but names no proof: a 422 like a malformed one (the field in
/// `errors`, `query.<field>` in `detail`).
fn invalid(field: &str, message: String) -> ApiError {
    ApiError::InvalidShape {
        detail: format!("query.{field}: {message}"),
        fields: Invalid::one(field, message),
    }
}

/// A tenant without a signed checkpoint yet (no events, or the sealer's first round still to
/// come): a 404 problem like the API's others (`resource: checkpoint`).
fn no_checkpoint_yet() -> Response {
    let body = Problem {
        kind: "https://accord.dev/problems/not-found".to_owned(),
        title: "Not found".to_owned(),
        status: 404,
        detail: Some(
            "no checkpoint signed for this ledger yet: the sealer signs the tree within a round of its events"
                .to_owned(),
        ),
        errors: Vec::new(),
        correlation_id: None,
        platform_status: None,
        retry_after: None,
        resource: Some("checkpoint"),
    };
    (
        StatusCode::NOT_FOUND,
        [
            (header::CONTENT_TYPE, "application/problem+json"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Json(body),
    )
        .into_response()
}

/// The latest tree head of the tenant's ledger the sealer signed, as a C2SP `tlog-checkpoint`
/// signed note: only the sealer signs, after proving the tree extends the one it signed before,
/// so this endpoint never puts the key on a tree it did not check.
#[utoipa::path(get, path = "/ledger/{tenant_id}/checkpoint", operation_id = "get_ledger_checkpoint", tag = "ledger",
    security(()),
    params(("tenant_id" = Uuid, Path)),
    responses(
        (status = 200, description = "The signed checkpoint: origin, tree size, base64 root hash, a blank line, then `— <key name> <base64 signature>`", content_type = "text/plain; charset=utf-8", body = String),
        (status = 404, description = "An unknown tenant (`resource: ledger`), or no checkpoint signed yet (`resource: checkpoint`)", body = Problem)))]
pub async fn checkpoint(
    State(state): State<AppState>,
    ApiPath(tenant_id): ApiPath<Uuid>,
) -> Result<Response, ApiError> {
    let tenant = known_tenant(&state, tenant_id).await?;
    let latest = state
        .ledger()
        .recent_ledger_checkpoints(tenant, None, 1)
        .await?;
    // Checkpoints signed before the tree was have no note: none to serve until the next.
    let Some(note) = latest.into_iter().next().and_then(|c| c.note) else {
        return Ok(no_checkpoint_yet());
    };
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            // The head moves with every consent: always ask again.
            (header::CACHE_CONTROL, "no-cache"),
        ],
        note,
    )
        .into_response())
}

/// The C2SP verifier keys of the ledger's checkpoints, one per line: the current key first,
/// then keys retired by a rotation (for checkpoints kept from before it).
#[utoipa::path(get, path = "/ledger/{tenant_id}/key", operation_id = "get_ledger_key", tag = "ledger",
    security(()),
    params(("tenant_id" = Uuid, Path)),
    responses(
        (status = 200, description = "`<name>+<hex key id>+<base64(0x01 ‖ Ed25519 public key)>` lines; the same Ed25519 keys as `/.well-known/jwks.json`", content_type = "text/plain; charset=utf-8", body = String),
        (status = 404, body = Problem)))]
pub async fn key(
    State(state): State<AppState>,
    ApiPath(tenant_id): ApiPath<Uuid>,
) -> Result<Response, ApiError> {
    known_tenant(&state, tenant_id).await?;
    let verifiers = state
        .keyring
        .signing_keys()
        .note_verifiers(key_name(&state))
        .map_err(|e| ApiError::Internal(format!("ledger note key: {e}")))?;
    let mut body = String::new();
    for v in &verifiers {
        body.push_str(&v.to_string());
        body.push('\n');
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InclusionQuery {
    /// The leaf's index: the event's ledger position minus one.
    pub index: u64,
    /// The tree size the proof is for (at most the current size; usually a checkpoint's).
    pub size: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InclusionProof {
    pub index: u64,
    pub size: u64,
    /// SHA-256(0x00 ‖ the event's 32-byte chain hash), base64.
    pub leaf_hash: String,
    /// The root of the tree of `size` leaves, base64.
    pub root: String,
    /// The audit path (RFC 9162 §2.1.3), base64 hashes.
    pub proof: Vec<String>,
}

/// The proof that the event at `index` (its ledger position minus one) is in the tree of
/// `size` leaves (RFC 9162 inclusion proof).
#[utoipa::path(get, path = "/ledger/{tenant_id}/proofs/inclusion", operation_id = "get_ledger_inclusion_proof", tag = "ledger",
    security(()),
    params(("tenant_id" = Uuid, Path), InclusionQuery),
    responses((status = 200, body = InclusionProof), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn inclusion(
    State(state): State<AppState>,
    ApiPath(tenant_id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<InclusionQuery>,
) -> Result<Response, ApiError> {
    let tenant = known_tenant(&state, tenant_id).await?;
    // The size, the path, the root and the leaf in one store read, at one snapshot.
    let evidence = state
        .ledger()
        .inclusion_evidence(tenant, q.index, q.size)
        .await?;
    let current = evidence.current_size;
    if q.size == 0 || q.size > current {
        return Err(invalid(
            "size",
            format!("must be between 1 and the tree's current size, {current}"),
        ));
    }
    if q.index >= q.size {
        return Err(invalid("index", "must be less than size".to_owned()));
    }
    let proof = evidence.proof.ok_or_else(|| {
        ApiError::Internal(format!(
            "no inclusion proof of leaf {} in a tree of {} of {current} leaves",
            q.index, q.size
        ))
    })?;
    let body = InclusionProof {
        index: q.index,
        size: q.size,
        leaf_hash: b64(&proof.leaf),
        root: b64(&proof.root),
        proof: proof.path.iter().map(b64).collect(),
    };
    Ok(([(header::CACHE_CONTROL, PROOF_CACHE)], Json(body)).into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyQuery {
    /// The older tree size (a checkpoint you kept).
    pub from: u64,
    /// The newer tree size (at most the current size).
    pub to: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConsistencyProof {
    pub from: u64,
    pub to: u64,
    /// The root of the tree of `from` leaves, base64.
    pub old_root: String,
    /// The root of the tree of `to` leaves, base64.
    pub new_root: String,
    /// The consistency proof (RFC 9162 §2.1.4), base64 hashes; empty when `from` is 0 or
    /// equals `to`.
    pub proof: Vec<String>,
}

/// The proof that the tree of `to` leaves extends the tree of `from` leaves: nothing the older
/// tree held was changed or removed (RFC 9162 consistency proof).
#[utoipa::path(get, path = "/ledger/{tenant_id}/proofs/consistency", operation_id = "get_ledger_consistency_proof", tag = "ledger",
    security(()),
    params(("tenant_id" = Uuid, Path), ConsistencyQuery),
    responses((status = 200, body = ConsistencyProof), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn consistency(
    State(state): State<AppState>,
    ApiPath(tenant_id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<ConsistencyQuery>,
) -> Result<Response, ApiError> {
    let tenant = known_tenant(&state, tenant_id).await?;
    let current = state.ledger().tree_head(tenant).await?.size;
    if q.to > current {
        return Err(invalid(
            "to",
            format!("must be at most the tree's current size, {current}"),
        ));
    }
    if q.from > q.to {
        return Err(invalid("from", "must be at most to".to_owned()));
    }
    let proof = state
        .ledger()
        .consistency_proof(tenant, q.from, q.to)
        .await?;
    let old_root = state.ledger().tree_root(tenant, q.from).await?;
    let new_root = state.ledger().tree_root(tenant, q.to).await?;
    let (Some(proof), Some(old_root), Some(new_root)) = (proof, old_root, new_root) else {
        return Err(invalid(
            "to",
            format!("is beyond the tree's size, {current}"),
        ));
    };
    let body = ConsistencyProof {
        from: q.from,
        to: q.to,
        old_root: b64(&old_root),
        new_root: b64(&new_root),
        proof: proof.iter().map(b64).collect(),
    };
    Ok(([(header::CACHE_CONTROL, PROOF_CACHE)], Json(body)).into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CheckpointListQuery {
    /// Return checkpoints older than this tree size (the previous page's `next_cursor`).
    #[param(minimum = 1)]
    pub after: Option<i64>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// A checkpoint the sealer signed: the tree head and chain head it vouches for, with both
/// signatures. Keep them outside Accord: any later tree is checked against them.
#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerCheckpoint {
    /// The tree size: the number of events the checkpoint covers (the last one's position).
    pub size: i64,
    /// The Merkle tree's root at `size`, base64; `null` for checkpoints signed before the tree
    /// was.
    pub root: Option<String>,
    /// The hash of the event at position `size` (hex): the chain's head.
    pub chain_hash: String,
    /// The C2SP `tlog-checkpoint` signed note of the tree (what
    /// `/ledger/{tenant_id}/checkpoint` serves while it is the latest); `null` for checkpoints
    /// signed before the tree was.
    pub note: Option<String>,
    /// The compact JWS (`typ: accord-ledger-checkpoint+jws`, signed with the keys of
    /// `/.well-known/jwks.json`) over tenant, position, chain hash, root and time.
    pub jws: String,
    #[serde(with = "time::serde::rfc3339")]
    pub sealed_at: time::OffsetDateTime,
}

impl From<SignedCheckpoint> for LedgerCheckpoint {
    fn from(c: SignedCheckpoint) -> Self {
        let k = c.checkpoint;
        Self {
            size: k.seq,
            root: k.root,
            chain_hash: k.hash,
            note: c.note,
            jws: c.jws,
            sealed_at: k.sealed_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerCheckpointList {
    pub data: Vec<LedgerCheckpoint>,
    /// Pass as `after` for the next page; `null` on the last page.
    pub next_cursor: Option<i64>,
}

/// List the checkpoints the sealer signed of your ledger, newest first.
#[utoipa::path(get, path = "/v1/ledger/checkpoints", operation_id = "list_ledger_checkpoints", tag = "ledger",
    params(CheckpointListQuery),
    responses((status = 200, body = LedgerCheckpointList), (status = 422, body = Problem)))]
pub async fn list_checkpoints(
    State(state): State<AppState>,
    Auth(tenant): Auth,
    ApiQuery(q): ApiQuery<CheckpointListQuery>,
) -> Result<Json<LedgerCheckpointList>, ApiError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be between 1 and 200"));
    }
    if q.after.is_some_and(|a| a < 1) {
        return Err(ApiError::invalid(
            "after",
            "must be a tree size of 1 or more",
        ));
    }
    let page = state
        .ledger()
        .recent_ledger_checkpoints(tenant.id, q.after, limit)
        .await?;
    let next_cursor = (page.len() == limit as usize)
        .then(|| page.last().map(|c| c.checkpoint.seq))
        .flatten();
    Ok(Json(LedgerCheckpointList {
        data: page.into_iter().map(Into::into).collect(),
        next_cursor,
    }))
}
