//! Each tenant's configuration as the hosted flow's pages read it — the tenant with its link
//! settings, its logo's hash, the platforms it enabled, the notice in force per category and
//! language — kept in memory, so a page view reads none of it from the store.
//!
//! A copy is dropped, never patched:
//! - by every write through this instance that changes any part of it, right after the write
//!   commits ([`Snapshots::forget`]), so the next page view of this instance reads it anew;
//! - by a change made through another instance, when the store reports one
//!   ([`accord_store::TenantStore::watch_config`]: PostgreSQL's LISTEN/NOTIFY). While the
//!   store's watch is not connected, nothing is kept; when it connects again, everything is
//!   dropped, since a change made meanwhile went unreported;
//! - after [`MAX_AGE`] in any case, which bounds what nothing reports (a change made by another
//!   process on the same SQLite file, such as a command-line `accord tenant delete`; a watch
//!   whose connection died without telling).
//!
//! A copy read from the store while a write committed could hold what the write replaced: a
//! copy is kept only if nothing was dropped between the start of its reads and its keeping
//! (`epoch`), so such a copy serves its own request and no other.
//!
//! What must be exact reads the store itself: the consent post reads the notice in force
//! afresh before recording a consent to it, and the console's pages read what they edit.

use accord_domain::catalog::{Category, PlatformKey};
use accord_domain::ids::TenantId;
use accord_domain::locale::Locale;
use accord_domain::notice::NoticeVersion;
use accord_domain::tenant::Tenant;
use accord_store::{ConfigChange, Store, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// The longest a copy is used; what no write of this instance and no store watch reports is
/// seen after this at the latest.
pub const MAX_AGE: Duration = Duration::from_secs(5);

/// The notice in force (or none) per category and language.
type NoticesInForce = HashMap<(Category, Locale), Option<Arc<NoticeVersion>>>;

/// One tenant's configuration, as read at one moment.
pub struct TenantSnapshot {
    pub tenant: Arc<Tenant>,
    /// The SHA-256 of the tenant's logo, if it has one (its URL on the pages).
    pub logo_sha256: Option<String>,
    /// The platforms the tenant enabled.
    enabled: Vec<PlatformKey>,
    /// The notice in force per category and language, read when first asked for.
    notices: Mutex<NoticesInForce>,
    loaded: Instant,
}

impl TenantSnapshot {
    async fn load(store: &dyn Store, id: TenantId) -> Result<Option<Self>, StoreError> {
        let (tenant, logo, platforms) = tokio::try_join!(
            store.tenant(id),
            store.logo_sha256(id),
            store.tenant_platforms(id)
        )?;
        let Some(tenant) = tenant else {
            return Ok(None);
        };
        Ok(Some(Self {
            tenant: Arc::new(tenant),
            logo_sha256: logo,
            enabled: platforms
                .into_iter()
                .filter(|p| p.enabled)
                .map(|p| p.platform_key)
                .collect(),
            notices: Mutex::new(HashMap::new()),
            loaded: Instant::now(),
        }))
    }

    /// Whether the tenant enabled this platform.
    pub fn enabled(&self, key: &PlatformKey) -> bool {
        self.enabled.contains(key)
    }

    /// The notice in force for `category` in `locale`, if the tenant has one.
    pub async fn notice(
        &self,
        store: &dyn Store,
        category: Category,
        locale: Locale,
    ) -> Result<Option<Arc<NoticeVersion>>, StoreError> {
        if let Some(found) = lock(&self.notices).get(&(category, locale)) {
            return Ok(found.clone());
        }
        let version = store
            .current_notice_version(self.tenant.id, category, locale)
            .await?
            .map(Arc::new);
        // Kept in this copy only: a notice published meanwhile dropped the whole copy from
        // [`Snapshots`] after its commit, so what is kept here is never served after that.
        lock(&self.notices).insert((category, locale), version.clone());
        Ok(version)
    }
}

/// The copies of this instance, by tenant.
pub struct Snapshots {
    inner: Mutex<Inner>,
}

struct Inner {
    tenants: HashMap<TenantId, Arc<TenantSnapshot>>,
    /// Counts the drops: a copy whose reads began before one is not kept.
    epoch: u64,
    /// Whether every change another instance makes is reported (always, when the store
    /// reports none because none can happen).
    watched: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while the lock was held left the map whole (no call in it can panic halfway).
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Snapshots {
    /// Copies dropped only by this instance's writes (and [`MAX_AGE`]).
    pub fn new() -> Self {
        Self {
            inner: Mutex::new(Inner {
                tenants: HashMap::new(),
                epoch: 0,
                watched: true,
            }),
        }
    }

    /// Copies also dropped by the changes `store` reports from other instances. Call it from
    /// inside the runtime.
    pub fn watching(store: &dyn Store) -> Arc<Self> {
        let this = Arc::new(Self::new());
        // Nothing is kept until the watch reports that it listens.
        lock(&this.inner).watched = false;
        let weak = Arc::downgrade(&this);
        let watched = store.watch_config(Arc::new(move |change| {
            weak.upgrade().map(|s| s.changed(change)).is_some()
        }));
        if !watched {
            lock(&this.inner).watched = true;
        }
        this
    }

    /// The tenant's configuration (`None`: no such live tenant).
    pub async fn tenant(
        &self,
        store: &dyn Store,
        id: TenantId,
    ) -> Result<Option<Arc<TenantSnapshot>>, StoreError> {
        let epoch = {
            let inner = lock(&self.inner);
            if let Some(s) = inner.tenants.get(&id) {
                if s.loaded.elapsed() < MAX_AGE {
                    return Ok(Some(s.clone()));
                }
            }
            inner.epoch
        };
        let Some(snapshot) = TenantSnapshot::load(store, id).await? else {
            return Ok(None);
        };
        let snapshot = Arc::new(snapshot);
        let mut inner = lock(&self.inner);
        if inner.watched && inner.epoch == epoch {
            inner.tenants.insert(id, snapshot.clone());
        }
        Ok(Some(snapshot))
    }

    /// Drops the tenant's copy: call after each write that changes its configuration commits.
    pub fn forget(&self, id: TenantId) {
        let mut inner = lock(&self.inner);
        inner.tenants.remove(&id);
        inner.epoch += 1;
    }

    /// What the store's watch reported.
    fn changed(&self, change: ConfigChange) {
        let mut inner = lock(&self.inner);
        inner.epoch += 1;
        match change {
            ConfigChange::Tenant(id) => {
                inner.tenants.remove(&id);
            }
            ConfigChange::Watching => {
                inner.tenants.clear();
                inner.watched = true;
            }
            ConfigChange::Blind => {
                inner.tenants.clear();
                inner.watched = false;
            }
        }
    }

    /// How many copies are kept (for tests and metrics).
    pub fn len(&self) -> usize {
        lock(&self.inner).tenants.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for Snapshots {
    fn default() -> Self {
        Self::new()
    }
}
