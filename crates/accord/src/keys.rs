//! Tenants' data keys from the command line: `accord tenant delete` (crypto-shredding: the
//! tenant's data keys go first, so every ciphertext sealed under them is unreadable from then
//! on) and the online part of `accord keys rotate` (every tenant's data key wrapped under the
//! new instance key, every secret still sealed with an instance key re-encrypted under its
//! tenant's data key), run while Accord serves on the same database.

use accord_domain::catalog::Catalog;
use accord_domain::crypto::{aad, Sealed};
use accord_domain::ids::{ConnectionId, TenantId, WebhookEndpointId};
use accord_store::{SecretKind, StoredSecret};
use accord_web::AppState;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal as _;
use std::time::Duration;

/// Secrets read and replaced per store call.
const BATCH: u32 = 200;

/// Deletes the tenant (`TenantStore::delete_tenant`: data keys first) and drops its keys from
/// this process's memory. `false`: no such live tenant.
pub async fn delete_tenant(state: &AppState, tenant: TenantId) -> anyhow::Result<bool> {
    let deleted = state
        .tenants()
        .delete_tenant(tenant, state.clock.now())
        .await?;
    state.secrets().forget(tenant);
    state.snapshots.forget(tenant);
    Ok(deleted)
}

/// What happened to one kind of stored value during a rotation.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Re-encrypted (or re-wrapped) under the new key.
    pub done: u64,
    /// Skipped: the row changed between the read and the write (a refresh, a new secret, a
    /// deletion); whatever replaced it was sealed under the tenant's data key already.
    pub changed: u64,
    /// Could not be opened (wrong associated data, a key missing from the key file): left as is.
    pub failed: u64,
}

/// What `accord keys rotate` did online.
#[derive(Debug, Default)]
pub struct Rotation {
    pub data_keys: Counts,
    pub secrets: Vec<(SecretKind, Counts)>,
}

/// Wraps every live tenant's data keys under the current instance key (`state` was built from
/// the rotated key file), making a data key for tenants without one, then re-encrypts every
/// secret still sealed with an instance key (`v1`) under its tenant's data key. Each row is
/// replaced only if it still holds what was read (compare-and-swap), so a token refreshed
/// meanwhile by a serving instance is never overwritten.
pub async fn rotate(state: &AppState, quiet: bool) -> anyhow::Result<Rotation> {
    let mut report = Rotation::default();
    let tenants = state.tenants().tenants().await?;
    let bar = progress("data keys", quiet, Some(tenants.len() as u64));
    for tenant in &tenants {
        rewrap(state, tenant.id, &mut report.data_keys).await?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    plain_line(quiet, "data keys", report.data_keys);
    for kind in SecretKind::ALL {
        let counts = reencrypt(state, kind, quiet).await?;
        plain_line(quiet, kind.name(), counts);
        report.secrets.push((kind, counts));
    }
    Ok(report)
}

/// The tenant's data keys wrapped under the current instance key.
async fn rewrap(state: &AppState, tenant: TenantId, counts: &mut Counts) -> anyhow::Result<()> {
    let secrets = state.secrets();
    let ring = secrets.keyring();
    // Made (under the current key) if the tenant has none yet.
    secrets.current_key(tenant).await?;
    for stored in state.tenants().tenant_data_keys(tenant).await? {
        if Sealed::of(&stored.wrapped) == Some(Sealed::Instance(ring.current_key_id())) {
            continue;
        }
        let Ok(key) = ring.unwrap(&tenant, &stored.key_id, &stored.wrapped) else {
            counts.failed += 1;
            continue;
        };
        let to = ring.wrap(&tenant, &key);
        if state
            .tenants()
            .rewrap_tenant_data_key(tenant, &stored.key_id, &stored.wrapped, &to)
            .await?
        {
            counts.done += 1;
        } else {
            counts.changed += 1;
        }
    }
    Ok(())
}

/// Every `v1` secret of `kind` re-encrypted under its tenant's data key, a batch at a time.
async fn reencrypt(state: &AppState, kind: SecretKind, quiet: bool) -> anyhow::Result<Counts> {
    let mut counts = Counts::default();
    let bar = progress(kind.name(), quiet, None);
    let mut after = None;
    loop {
        let page = state
            .tenants()
            .secrets_page(kind, "v1.", after.clone(), BATCH)
            .await?;
        let Some(last) = page.last() else { break };
        after = Some((last.tenant_id, last.row.clone()));
        for secret in &page {
            match reseal(state, secret).await {
                Ok(Some(to)) if state.tenants().replace_secret(secret, &to).await? => {
                    counts.done += 1;
                }
                // Changed meanwhile, or the tenant was deleted meanwhile (its secret is
                // destroyed, not re-encrypted).
                Ok(Some(_) | None) => counts.changed += 1,
                Err(()) => counts.failed += 1,
            }
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    Ok(counts)
}

/// The secret sealed under its tenant's data key; `Ok(None)` if the tenant has none any more;
/// `Err` if it does not open.
async fn reseal(state: &AppState, secret: &StoredSecret) -> Result<Option<String>, ()> {
    let tenant = secret.tenant_id;
    let aad = aad_of(&state.catalog, secret).ok_or(())?;
    let plain = state
        .secrets()
        .open(tenant, &secret.ciphertext, &aad)
        .await
        .map_err(|e| tracing::warn!(kind = secret.kind.name(), row = %secret.row, error = %e, "a stored secret did not open; left as it is"))?;
    match state.secrets().seal(tenant, &plain, &aad).await {
        Ok(ct) => Ok(Some(ct)),
        Err(accord_platform::secrets::SecretError::NoKey) => Ok(None),
        Err(e) => {
            tracing::warn!(error = %e, "a secret could not be sealed");
            Err(())
        }
    }
}

/// The associated data the secret was sealed with (as its writer made it); `None` if its
/// object is malformed or its platform is no longer in the catalog.
pub fn aad_of(catalog: &Catalog, s: &StoredSecret) -> Option<Vec<u8>> {
    let tenant = s.tenant_id;
    Some(match s.kind {
        SecretKind::ConnectionTokens | SecretKind::RevokePayload => {
            accord_platform::tokens_aad(tenant, s.object.parse::<ConnectionId>().ok()?)
        }
        SecretKind::ClientSecret => {
            accord_platform::client_secret_aad(tenant, catalog.find(&s.object)?)
        }
        SecretKind::WebhookSecret | SecretKind::WebhookPreviousSecret => {
            accord_domain::outbox::secret_aad(tenant, s.object.parse::<WebhookEndpointId>().ok()?)
        }
        // As `accord_domain::console::totp_aad` makes it from the user's tenant and id.
        SecretKind::TotpSecret => aad(&tenant, &s.object, "console-totp"),
    })
}

/// A progress bar on a terminal (hidden otherwise, or with `quiet`).
fn progress(what: &str, quiet: bool, len: Option<u64>) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(len, ProgressDrawTarget::stderr());
    let template = if len.is_some() {
        format!("{{spinner}} {what} {{bar:30}} {{pos}}/{{len}}")
    } else {
        format!("{{spinner}} {what}: {{pos}}")
    };
    bar.set_style(ProgressStyle::with_template(&template).expect("the progress template is valid"));
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// One plain line per kind on standard error when no bar is drawn (not a terminal).
fn plain_line(quiet: bool, what: &str, c: Counts) {
    if !quiet && !std::io::stderr().is_terminal() {
        eprintln!(
            "{what}: {} done, {} changed meanwhile, {} failed",
            c.done, c.changed, c.failed
        );
    }
}
