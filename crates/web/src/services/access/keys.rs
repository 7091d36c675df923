//! API keys and their tenants as the tenant API authenticates them: kept for a second in a
//! bounded cache of this process, so a busy key costs no store read per call.
//!
//! What stays exact:
//! - the presented secret's hash is compared with the stored one, in constant time, on every
//!   call (the cache holds the stored hash, never a verdict);
//! - a key revoked, or a tenant's settings saved, through this instance is forgotten before the
//!   change is answered, and a read that started before the change is not cached after it (a
//!   generation counter), so the next call reads the store;
//! - through another instance sharing the store (PostgreSQL), the change is seen within
//!   [`FRESH_FOR`]: every entry is read again from the store once it is that old.
//!
//! Revoked and unknown keys are never cached: each such call reads the store.
//!
//! Hand-written rather than a caching crate: it is one map behind a mutex, and what matters here
//! is the generation check that keeps a read racing an invalidation out of the cache.

use accord_domain::ids::TenantId;
use accord_domain::tenant::{ApiKeyRecord, Tenant};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// How long a cached key and tenant are used before the store is read again: the bound on how
/// late a revocation or settings change made through another instance takes effect here.
pub const FRESH_FOR: Duration = Duration::from_secs(1);
/// The most keys kept; past it, entries older than [`FRESH_FOR`] are dropped, then all.
const CAPACITY: usize = 4096;

/// A key as last read, with its tenant.
pub struct Authenticated {
    pub record: ApiKeyRecord,
    pub tenant: Tenant,
}

struct Entry {
    found: Arc<Authenticated>,
    read_at: Instant,
    /// The key's last use as this instance last wrote or read it (the record's own copy is
    /// not updated in place).
    last_used_at: Option<OffsetDateTime>,
}

/// This process's cache of live API keys and their tenants (see the module's documentation).
#[derive(Default)]
pub struct ApiKeyCache {
    entries: Mutex<HashMap<String, Entry>>,
    /// Bumped by every invalidation: a store read begun under an older generation is not cached.
    generation: AtomicU64,
}

impl ApiKeyCache {
    pub fn new() -> Self {
        Self::default()
    }

    fn entries(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        // A poisoned map only means a holder panicked between two plain map operations.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The generation to hand to [`ApiKeyCache::insert`]; take it before reading the store.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// The key with public id `key_id` and its tenant, if read less than [`FRESH_FOR`] ago.
    pub fn get(&self, key_id: &str) -> Option<Arc<Authenticated>> {
        let entries = self.entries();
        let entry = entries.get(key_id)?;
        (entry.read_at.elapsed() < FRESH_FOR).then(|| entry.found.clone())
    }

    /// Keeps a live key and its tenant as read from the store, unless an invalidation happened
    /// since `generation` was taken.
    pub fn insert(&self, generation: u64, found: Arc<Authenticated>) {
        let mut entries = self.entries();
        if self.generation.load(Ordering::SeqCst) != generation {
            return;
        }
        if entries.len() >= CAPACITY {
            entries.retain(|_, e| e.read_at.elapsed() < FRESH_FOR);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        let last_used_at = found.record.last_used_at;
        entries.insert(
            found.record.key_id.clone(),
            Entry {
                found,
                read_at: Instant::now(),
                last_used_at,
            },
        );
    }

    /// Forgets every key of `tenant`: after a revocation or a change to the tenant's settings,
    /// before it is answered.
    pub fn forget_tenant(&self, tenant: TenantId) {
        let mut entries = self.entries();
        self.generation.fetch_add(1, Ordering::SeqCst);
        entries.retain(|_, e| e.found.tenant.id != tenant);
    }

    /// Whether this call should write the key's last use (at most once a minute per key,
    /// [`ApiKeyRecord::use_is_worth_recording`]): `true` for one caller only, which the cache
    /// then counts as having written it.
    pub fn claim_use(&self, record: &ApiKeyRecord, now: OffsetDateTime) -> bool {
        let mut entries = self.entries();
        let Some(entry) = entries.get_mut(&record.key_id) else {
            return record.use_is_worth_recording(now);
        };
        let worth = entry
            .last_used_at
            .is_none_or(|at| now - at >= ApiKeyRecord::LAST_USED_GRANULARITY);
        if worth {
            entry.last_used_at = Some(now);
        }
        worth
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use accord_domain::ids::ApiKeyId;
    use accord_domain::settings::LinkSettings;

    fn found(tenant: TenantId, key_id: &str) -> Arc<Authenticated> {
        let now = OffsetDateTime::now_utc();
        Arc::new(Authenticated {
            record: ApiKeyRecord {
                id: ApiKeyId::new(),
                tenant_id: tenant,
                name: "default".into(),
                key_id: key_id.into(),
                secret_hash: "ab".repeat(32),
                created_at: now,
                last_used_at: None,
                revoked_at: None,
            },
            tenant: Tenant {
                id: tenant,
                name: "Tenant".into(),
                settings: LinkSettings::default(),
                created_at: now,
            },
        })
    }

    #[test]
    fn a_read_racing_an_invalidation_is_not_kept() {
        let cache = ApiKeyCache::new();
        let (a, b) = (TenantId::new(), TenantId::new());
        let before = cache.generation();
        cache.insert(before, found(a, "k1"));
        cache.insert(before, found(b, "k2"));
        assert!(cache.get("k1").is_some() && cache.get("k2").is_some());

        // A store read that began before `a` was forgotten comes back after: not kept.
        let racing = cache.generation();
        cache.forget_tenant(a);
        assert!(cache.get("k1").is_none(), "forgotten at once");
        assert!(cache.get("k2").is_some(), "another tenant's key stays");
        cache.insert(racing, found(a, "k1"));
        assert!(cache.get("k1").is_none(), "the stale read is not cached");
        cache.insert(cache.generation(), found(a, "k1"));
        assert!(cache.get("k1").is_some());
    }

    #[test]
    fn entries_expire_and_the_map_stays_bounded() {
        let cache = ApiKeyCache::new();
        let t = TenantId::new();
        for i in 0..=CAPACITY {
            cache.insert(cache.generation(), found(t, &format!("k{i}")));
        }
        assert!(cache.entries().len() <= CAPACITY);
        assert!(
            cache.get(&format!("k{CAPACITY}")).is_some(),
            "the newest is kept"
        );
        if let Some(e) = cache.entries().get_mut(&format!("k{CAPACITY}")) {
            e.read_at = e
                .read_at
                .checked_sub(FRESH_FOR)
                .expect("an uptime over a second");
        }
        assert!(
            cache.get(&format!("k{CAPACITY}")).is_none(),
            "read again once stale"
        );
    }

    #[test]
    fn one_caller_a_minute_writes_the_last_use() {
        let cache = ApiKeyCache::new();
        let f = found(TenantId::new(), "k1");
        let record = f.record.clone();
        cache.insert(cache.generation(), f);
        let now = OffsetDateTime::now_utc();
        assert!(cache.claim_use(&record, now));
        assert!(!cache.claim_use(&record, now), "claimed once");
        assert!(!cache.claim_use(&record, now + time::Duration::seconds(59)));
        assert!(cache.claim_use(&record, now + time::Duration::seconds(60)));
    }
}
