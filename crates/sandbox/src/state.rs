//! The sandbox's in-memory state: registered clients, pending sign-in forms, authorization
//! codes, grants and their tokens, pending "remove access" forms of the connected-apps page,
//! and the documents written through the data API.
//!
//! Every operation that must be atomic (consume a code, rotate a refresh token) is one method
//! here, run under the caller's lock. Codes, tokens and CSRF nonces are kept only as SHA-256
//! digests: a memory dump of the sandbox reveals no usable credential.

use std::collections::HashMap;

use time::{Duration, OffsetDateTime};

use crate::crypto::{digest, random_token, verify_pkce_s256, Digest};
use crate::data::{Bill, Invoice};
use crate::scope::{Scope, ScopeSet};
use crate::SandboxClient;

/// A validated authorization request (RFC 6749 §4.1.1 with RFC 7636 §4.3), waiting for the
/// user's decision on the sign-in page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub scopes: ScopeSet,
    pub state: Option<String>,
    pub code_challenge: String,
}

#[derive(Debug)]
struct PendingSignIn {
    request: AuthRequest,
    expires_at: OffsetDateTime,
}

#[derive(Debug)]
struct CodeEntry {
    request: AuthRequest,
    organisation: String,
    expires_at: OffsetDateTime,
    /// Set once the code has been exchanged, kept to detect a replay (RFC 6749 §4.1.2).
    redeemed_grant: Option<u64>,
}

/// One authorization the user approved; every token issued from one code (and from the
/// refresh tokens descending from it) belongs to the same grant, so a replay can revoke the
/// whole family at once.
#[derive(Debug)]
struct Grant {
    client_id: String,
    organisation: String,
    scopes: ScopeSet,
    revoked: bool,
    created_at: OffsetDateTime,
}

/// A "remove access" form of the connected-apps page, waiting to be sent: its single-use CSRF
/// nonce is bound to the organisation and the application it removes.
#[derive(Debug)]
struct PendingRemoval {
    organisation: String,
    client_id: String,
    expires_at: OffsetDateTime,
}

/// An application an organisation has approved, as its connected-apps page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectedApp {
    pub client_id: String,
    /// What its grants allow, together.
    pub scopes: ScopeSet,
    /// When the organisation first approved it (of the grants still live).
    pub since: OffsetDateTime,
}

#[derive(Debug)]
struct AccessEntry {
    grant: u64,
    scopes: ScopeSet,
    expires_at: OffsetDateTime,
}

#[derive(Debug)]
struct RefreshEntry {
    grant: u64,
    /// Already exchanged for a newer refresh token; presenting it again is a reuse.
    rotated: bool,
}

/// Documents created through `POST /api/invoices` and `POST /api/bills`, per organisation.
#[derive(Debug, Default, Clone)]
pub struct Written {
    pub invoices: Vec<Invoice>,
    pub bills: Vec<Bill>,
}

/// What an access token grants at the data API.
#[derive(Debug, Clone)]
pub struct AccessGrant {
    pub organisation: String,
    pub scopes: ScopeSet,
}

/// Tokens just issued by the token endpoint.
#[derive(Debug)]
pub struct Issued {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub scopes: ScopeSet,
    pub expires_in: i64,
}

/// Why a grant could not be exchanged (RFC 6749 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantError {
    InvalidGrant(&'static str),
    InvalidScope(&'static str),
}

/// A token presented for revocation belongs to another client (RFC 7009 §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotYourToken;

#[derive(Debug)]
pub struct Store {
    clients: HashMap<String, SandboxClient>,
    pending: HashMap<Digest, PendingSignIn>,
    removals: HashMap<Digest, PendingRemoval>,
    codes: HashMap<Digest, CodeEntry>,
    grants: HashMap<u64, Grant>,
    access: HashMap<Digest, AccessEntry>,
    refresh: HashMap<Digest, RefreshEntry>,
    written: HashMap<String, Written>,
    next_grant: u64,
    last_prune: Option<OffsetDateTime>,
}

/// How often expired entries are swept; lookups check expiry themselves, so this only bounds
/// memory.
const PRUNE_EVERY: Duration = Duration::minutes(1);

impl Store {
    pub fn new(clients: Vec<SandboxClient>) -> Store {
        let mut store = Store {
            clients: HashMap::new(),
            pending: HashMap::new(),
            removals: HashMap::new(),
            codes: HashMap::new(),
            grants: HashMap::new(),
            access: HashMap::new(),
            refresh: HashMap::new(),
            written: HashMap::new(),
            next_grant: 1,
            last_prune: None,
        };
        for client in clients {
            store.register_client(client);
        }
        store
    }

    pub fn register_client(&mut self, client: SandboxClient) {
        self.clients.insert(client.client_id.clone(), client);
    }

    pub fn client(&self, client_id: &str) -> Option<&SandboxClient> {
        self.clients.get(client_id)
    }

    /// Issues the single-use CSRF nonce of a sign-in form, bound to the request it shows.
    pub fn issue_nonce(&mut self, request: AuthRequest, expires_at: OffsetDateTime) -> String {
        let nonce = random_token("");
        self.pending.insert(
            digest(&nonce),
            PendingSignIn {
                request,
                expires_at,
            },
        );
        nonce
    }

    /// Consumes a nonce: it answers once, and only before it expires.
    pub fn take_nonce(&mut self, nonce: &str, now: OffsetDateTime) -> Option<AuthRequest> {
        self.prune(now);
        let pending = self.pending.remove(&digest(nonce))?;
        (now < pending.expires_at).then_some(pending.request)
    }

    /// Issues an authorization code (RFC 6749 §4.1.2): 256 random bits, single use, bound to the
    /// whole request and the organisation the user signed in as.
    pub fn issue_code(
        &mut self,
        request: AuthRequest,
        organisation: String,
        expires_at: OffsetDateTime,
    ) -> String {
        let code = random_token("");
        self.codes.insert(
            digest(&code),
            CodeEntry {
                request,
                organisation,
                expires_at,
                redeemed_grant: None,
            },
        );
        code
    }

    /// Exchanges a code for tokens (RFC 6749 §4.1.3, RFC 7636 §4.6).
    pub fn redeem_code(
        &mut self,
        code: &str,
        client_id: &str,
        redirect_uri: &str,
        verifier: &str,
        now: OffsetDateTime,
        access_ttl: Duration,
    ) -> Result<Issued, GrantError> {
        self.prune(now);
        let key = digest(code);
        let entry = self
            .codes
            .get(&key)
            .ok_or(GrantError::InvalidGrant("unknown authorization code"))?;
        if entry.request.client_id != client_id {
            return Err(GrantError::InvalidGrant(
                "the authorization code was issued to another client",
            ));
        }
        if let Some(grant) = entry.redeemed_grant {
            // RFC 6749 §4.1.2: a code used twice is refused, and the tokens issued from it
            // are revoked, since one of the two presenters is an attacker.
            self.revoke_grant(grant);
            tracing::warn!(grant, "authorization code replayed; grant revoked");
            return Err(GrantError::InvalidGrant(
                "the authorization code was already used; the tokens issued from it are revoked",
            ));
        }
        // From here on the code is burnt whatever the outcome, so a wrong verifier cannot be
        // retried against it.
        let entry = self.codes.remove(&key).expect("entry checked above");
        if now >= entry.expires_at {
            return Err(GrantError::InvalidGrant(
                "the authorization code has expired",
            ));
        }
        if entry.request.redirect_uri != redirect_uri {
            return Err(GrantError::InvalidGrant(
                "redirect_uri does not match the authorization request",
            ));
        }
        if !verify_pkce_s256(verifier, &entry.request.code_challenge) {
            return Err(GrantError::InvalidGrant(
                "code_verifier does not match the code_challenge",
            ));
        }
        let grant = self.next_grant;
        self.next_grant += 1;
        self.grants.insert(
            grant,
            Grant {
                client_id: client_id.to_owned(),
                organisation: entry.organisation.clone(),
                scopes: entry.request.scopes.clone(),
                revoked: false,
                created_at: now,
            },
        );
        self.codes.insert(
            key,
            CodeEntry {
                redeemed_grant: Some(grant),
                ..entry
            },
        );
        Ok(self.issue_tokens(grant, None, now, access_ttl))
    }

    /// Exchanges a refresh token (RFC 6749 §6) with rotation: the presented token is spent,
    /// and presenting a spent one revokes the whole grant (RFC 9700 §4.14.2).
    pub fn refresh(
        &mut self,
        refresh_token: &str,
        client_id: &str,
        requested: Option<ScopeSet>,
        now: OffsetDateTime,
        access_ttl: Duration,
    ) -> Result<Issued, GrantError> {
        self.prune(now);
        let key = digest(refresh_token);
        let (grant_id, rotated) = self
            .refresh
            .get(&key)
            .map(|r| (r.grant, r.rotated))
            .ok_or(GrantError::InvalidGrant("unknown or revoked refresh token"))?;
        let grant = self
            .grants
            .get(&grant_id)
            .filter(|g| !g.revoked)
            .ok_or(GrantError::InvalidGrant("unknown or revoked refresh token"))?;
        if grant.client_id != client_id {
            return Err(GrantError::InvalidGrant(
                "the refresh token was issued to another client",
            ));
        }
        // RFC 6749 §6: the requested scope must not include any scope not originally granted.
        let scope_ok = requested
            .as_ref()
            .is_none_or(|r| r.is_subset_of(&grant.scopes));
        if rotated {
            self.revoke_grant(grant_id);
            tracing::warn!(grant = grant_id, "refresh token reused; grant revoked");
            return Err(GrantError::InvalidGrant(
                "the refresh token was already used; the grant is revoked",
            ));
        }
        if !scope_ok {
            return Err(GrantError::InvalidScope(
                "the requested scope exceeds the scope originally granted",
            ));
        }
        if let Some(entry) = self.refresh.get_mut(&key) {
            entry.rotated = true;
        }
        Ok(self.issue_tokens(grant_id, requested, now, access_ttl))
    }

    fn issue_tokens(
        &mut self,
        grant_id: u64,
        narrowed: Option<ScopeSet>,
        now: OffsetDateTime,
        access_ttl: Duration,
    ) -> Issued {
        let grant = &self.grants[&grant_id];
        let scopes = narrowed.unwrap_or_else(|| grant.scopes.clone());
        let offline = grant.scopes.contains(Scope::OfflineAccess);
        let access_token = random_token("sbx_at_");
        self.access.insert(
            digest(&access_token),
            AccessEntry {
                grant: grant_id,
                scopes: scopes.clone(),
                expires_at: now + access_ttl,
            },
        );
        // A refresh token only when offline access was granted.
        let refresh_token = offline.then(|| {
            let token = random_token("sbx_rt_");
            self.refresh.insert(
                digest(&token),
                RefreshEntry {
                    grant: grant_id,
                    rotated: false,
                },
            );
            token
        });
        Issued {
            access_token,
            refresh_token,
            scopes,
            expires_in: access_ttl.whole_seconds(),
        }
    }

    /// RFC 7009 §2.1: revoking a refresh token revokes its grant and so every access token of
    /// it; revoking an access token revokes that token. Unknown tokens are not an error.
    pub fn revoke(&mut self, token: &str, client_id: &str) -> Result<(), NotYourToken> {
        let key = digest(token);
        if let Some(entry) = self.access.get(&key) {
            if !self.owned_by(entry.grant, client_id) {
                return Err(NotYourToken);
            }
            self.access.remove(&key);
        } else if let Some(entry) = self.refresh.get(&key) {
            let grant = entry.grant;
            if !self.owned_by(grant, client_id) {
                return Err(NotYourToken);
            }
            self.revoke_grant(grant);
        }
        Ok(())
    }

    fn owned_by(&self, grant: u64, client_id: &str) -> bool {
        self.grants
            .get(&grant)
            .is_some_and(|g| g.client_id == client_id)
    }

    fn revoke_grant(&mut self, grant: u64) {
        if let Some(g) = self.grants.get_mut(&grant) {
            g.revoked = true;
        }
        self.access.retain(|_, a| a.grant != grant);
        self.refresh.retain(|_, r| r.grant != grant);
    }

    /// The applications `organisation` approved whose access still works (a grant not revoked
    /// with a refresh token, or an unexpired access token), by client id.
    pub fn connected_apps(&self, organisation: &str, now: OffsetDateTime) -> Vec<ConnectedApp> {
        let live = |id: &u64| {
            self.refresh.values().any(|r| r.grant == *id && !r.rotated)
                || self
                    .access
                    .values()
                    .any(|a| a.grant == *id && now < a.expires_at)
        };
        let mut apps: Vec<ConnectedApp> = Vec::new();
        let mut grants: Vec<(&u64, &Grant)> = self
            .grants
            .iter()
            .filter(|(id, g)| g.organisation == organisation && !g.revoked && live(id))
            .collect();
        grants.sort_by_key(|(id, _)| **id);
        for (_, g) in grants {
            match apps.iter_mut().find(|a| a.client_id == g.client_id) {
                Some(app) => {
                    app.scopes = app.scopes.union(&g.scopes);
                    app.since = app.since.min(g.created_at);
                }
                None => apps.push(ConnectedApp {
                    client_id: g.client_id.clone(),
                    scopes: g.scopes.clone(),
                    since: g.created_at,
                }),
            }
        }
        apps.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        apps
    }

    /// Issues the single-use CSRF nonce of a "remove access" form, bound to what it removes.
    pub fn issue_removal_nonce(
        &mut self,
        organisation: &str,
        client_id: &str,
        expires_at: OffsetDateTime,
    ) -> String {
        let nonce = random_token("");
        self.removals.insert(
            digest(&nonce),
            PendingRemoval {
                organisation: organisation.to_owned(),
                client_id: client_id.to_owned(),
                expires_at,
            },
        );
        nonce
    }

    /// Consumes a "remove access" nonce: once, before it expires, and only for the
    /// organisation and application it was issued for.
    pub fn take_removal_nonce(
        &mut self,
        nonce: &str,
        organisation: &str,
        client_id: &str,
        now: OffsetDateTime,
    ) -> bool {
        self.prune(now);
        self.removals.remove(&digest(nonce)).is_some_and(|r| {
            now < r.expires_at && r.organisation == organisation && r.client_id == client_id
        })
    }

    /// What a customer does on a platform's "connected apps" page: every grant `organisation`
    /// gave `client_id` is revoked, with all their tokens, so the application's next refresh is
    /// answered `invalid_grant` (RFC 6749 §5.2) and its access tokens `invalid_token`
    /// (RFC 6750 §3.1). Returns how many grants were revoked.
    pub fn remove_access(&mut self, organisation: &str, client_id: &str) -> usize {
        let ids: Vec<u64> = self
            .grants
            .iter()
            .filter(|(_, g)| g.organisation == organisation && g.client_id == client_id)
            .filter(|(_, g)| !g.revoked)
            .map(|(id, _)| *id)
            .collect();
        for id in &ids {
            self.revoke_grant(*id);
        }
        ids.len()
    }

    /// Looks up a bearer token at the data API (RFC 6750).
    pub fn access_grant(&self, token: &str, now: OffsetDateTime) -> Option<AccessGrant> {
        let entry = self.access.get(&digest(token))?;
        if now >= entry.expires_at {
            return None;
        }
        let grant = self.grants.get(&entry.grant).filter(|g| !g.revoked)?;
        Some(AccessGrant {
            organisation: grant.organisation.clone(),
            scopes: entry.scopes.clone(),
        })
    }

    pub fn written(&self, organisation: &str) -> Written {
        self.written.get(organisation).cloned().unwrap_or_default()
    }

    pub fn written_mut(&mut self, organisation: &str) -> &mut Written {
        self.written.entry(organisation.to_owned()).or_default()
    }

    /// Drops what can no longer be used, at most once a minute.
    fn prune(&mut self, now: OffsetDateTime) {
        if self.last_prune.is_some_and(|t| now - t < PRUNE_EVERY) {
            return;
        }
        self.last_prune = Some(now);
        self.pending.retain(|_, p| now < p.expires_at);
        self.removals.retain(|_, r| now < r.expires_at);
        self.access.retain(|_, a| now < a.expires_at);
        // A grant with no token left can do nothing more; forgetting it also forgets the code
        // that produced it (its replay then meets "unknown code", which is refused as well).
        let live: std::collections::HashSet<u64> = self
            .access
            .values()
            .map(|a| a.grant)
            .chain(self.refresh.values().map(|r| r.grant))
            .collect();
        self.grants.retain(|id, g| !g.revoked && live.contains(id));
        let grants = &self.grants;
        self.codes.retain(|_, c| match c.redeemed_grant {
            None => now < c.expires_at,
            Some(grant) => grants.contains_key(&grant),
        });
    }
}

#[cfg(test)]
mod tests;
