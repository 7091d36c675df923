//! A tenant's secrets at rest (platform tokens, client secrets, webhook and TOTP secrets):
//! sealed under the tenant's own data key (envelope encryption), which the store keeps only
//! wrapped by the instance key file. Deleting the tenant's data key makes all of them
//! unreadable at once, wherever copies linger (crypto-shredding, `TenantStore::delete_tenant`).
//!
//! A tenant's first data key is made at its first sealed secret, so tenants from before data
//! keys need no migration step; ciphertexts sealed with the instance key (`v1`) still open.
//! Unwrapped keys are cached in memory for a minute (bounded, zeroized when dropped): a miss
//! reads the store, so several instances on one PostgreSQL database agree on each tenant's key,
//! and a deleted tenant's key leaves every instance's memory within [`CACHE_TTL`].
//!
//! `accord keys rotate` runs beside serving instances: it adds a key to the key file and wraps
//! every data key under it. An instance that meets a data key wrapped under a key it does not
//! know reads the key file again ([`Secrets::with_reload`]), so it goes on without a restart.

use accord_domain::crypto::{CryptoError, DataKey, Keyring, Sealed, WrappedDataKey};
use accord_domain::ids::TenantId;
use accord_store::{StoreError, TenantStore};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

/// How long an unwrapped data key stays in memory before the store is asked again.
pub const CACHE_TTL: Duration = Duration::from_mins(1);
/// At most this many tenants' keys are held; past it, expired ones are dropped, then all.
const CACHE_MAX: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("the tenant has no data key (unknown or deleted tenant)")]
    NoKey,
}

/// For callers that answer with store errors: a deleted or unknown tenant is not found; a key
/// that does not open (a key file that does not match the database) is the backend's fault.
impl From<SecretError> for StoreError {
    fn from(e: SecretError) -> Self {
        match e {
            SecretError::Store(e) => e,
            SecretError::NoKey => StoreError::NotFound,
            SecretError::Crypto(e) => StoreError::Backend(Box::new(e)),
        }
    }
}

/// Seals and opens tenants' secrets. Cheap to share (`Arc`).
pub struct Secrets {
    keyring: RwLock<Arc<Keyring>>,
    /// Reads the key file again (after `accord keys rotate`); `None` when it cannot.
    reload: Option<Reload>,
    store: Arc<dyn TenantStore>,
    cache: Mutex<Cache>,
}

type Reload = Box<dyn Fn() -> Option<Keyring> + Send + Sync>;

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secrets").finish_non_exhaustive()
    }
}

/// Unwrapped data keys by tenant, with when they were read; the first is the one in use.
/// (Hand-written rather than an LRU crate: entries are few, and expiry matters more than
/// recency here.)
#[derive(Default)]
struct Cache(HashMap<TenantId, (Instant, Vec<Arc<DataKey>>)>);

impl Cache {
    fn get(&self, tenant: TenantId) -> Option<&[Arc<DataKey>]> {
        self.0
            .get(&tenant)
            .filter(|(read, _)| read.elapsed() < CACHE_TTL)
            .map(|(_, keys)| keys.as_slice())
    }

    fn put(&mut self, tenant: TenantId, keys: Vec<Arc<DataKey>>) {
        if self.0.len() >= CACHE_MAX {
            self.0.retain(|_, (read, _)| read.elapsed() < CACHE_TTL);
            if self.0.len() >= CACHE_MAX {
                self.0.clear();
            }
        }
        self.0.insert(tenant, (Instant::now(), keys));
    }
}

impl Secrets {
    pub fn new(keyring: Arc<Keyring>, store: Arc<dyn TenantStore>) -> Self {
        Self {
            keyring: RwLock::new(keyring),
            reload: None,
            store,
            cache: Mutex::new(Cache::default()),
        }
    }

    /// Reads the keyring again with `reload` when a data key is wrapped under a key this
    /// instance does not know (a rotation since it started).
    #[must_use]
    pub fn with_reload(
        mut self,
        reload: impl Fn() -> Option<Keyring> + Send + Sync + 'static,
    ) -> Self {
        self.reload = Some(Box::new(reload));
        self
    }

    /// The instance keyring as last read (for wrapping, and `v1` ciphertexts).
    pub fn keyring(&self) -> Arc<Keyring> {
        self.keyring
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Unwraps the tenant's stored keys, reading the key file again once if one is wrapped
    /// under a key it lacks.
    fn unwrap_all(
        &self,
        tenant: TenantId,
        stored: &[WrappedDataKey],
    ) -> Result<Vec<Arc<DataKey>>, CryptoError> {
        let unwrap = |ring: &Keyring| {
            stored
                .iter()
                .map(|k| ring.unwrap(&tenant, &k.key_id, &k.wrapped).map(Arc::new))
                .collect::<Result<Vec<_>, _>>()
        };
        match unwrap(&self.keyring()) {
            Err(CryptoError::UnknownKey(kid)) => {
                let Some(ring) = self.reload.as_ref().and_then(|reload| reload()) else {
                    return Err(CryptoError::UnknownKey(kid));
                };
                let keys = unwrap(&ring)?;
                *self.keyring.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(ring);
                Ok(keys)
            }
            other => other,
        }
    }

    /// Encrypts `plaintext` under the tenant's data key in use (made now if the tenant has
    /// none yet), bound to `aad` (see `accord_domain::crypto::aad`).
    pub async fn seal(
        &self,
        tenant: TenantId,
        plaintext: &[u8],
        aad: &[u8],
    ) -> Result<String, SecretError> {
        Ok(self.current_key(tenant).await?.encrypt(plaintext, aad))
    }

    /// Decrypts a ciphertext of the tenant: `v2` under one of its data keys, `v1` under the
    /// instance keyring (secrets sealed before data keys).
    pub async fn open(
        &self,
        tenant: TenantId,
        ciphertext: &str,
        aad: &[u8],
    ) -> Result<Vec<u8>, SecretError> {
        match Sealed::of(ciphertext) {
            Some(Sealed::DataKey(id)) => {
                let keys = self.keys(tenant, false).await?;
                let key = match keys.iter().find(|k| k.id() == id) {
                    Some(key) => key.clone(),
                    // A key made by another instance since this one last read the store.
                    None => self
                        .keys(tenant, true)
                        .await?
                        .into_iter()
                        .find(|k| k.id() == id)
                        .ok_or(SecretError::NoKey)?,
                };
                Ok(key.decrypt(ciphertext, aad)?)
            }
            _ => Ok(self.keyring().decrypt(ciphertext, aad)?),
        }
    }

    /// The tenant's data key in use, made and stored if it has none.
    pub async fn current_key(&self, tenant: TenantId) -> Result<Arc<DataKey>, SecretError> {
        if let Some(key) = self.keys(tenant, false).await?.into_iter().next() {
            return Ok(key);
        }
        let key = DataKey::generate();
        let wrapped = WrappedDataKey {
            tenant_id: tenant,
            key_id: key.id().to_owned(),
            wrapped: self.keyring().wrap(&tenant, &key),
            created_at: time::OffsetDateTime::now_utc(),
        };
        // Refused when another caller stored the tenant's first key meanwhile (theirs is read
        // back below) or when the tenant is unknown or deleted (no key then: `NoKey`).
        self.store.add_tenant_data_key(&wrapped).await?;
        self.keys(tenant, true)
            .await?
            .into_iter()
            .next()
            .ok_or(SecretError::NoKey)
    }

    /// The tenant's data keys, in use first: from the cache unless `fresh` or expired.
    async fn keys(&self, tenant: TenantId, fresh: bool) -> Result<Vec<Arc<DataKey>>, SecretError> {
        if !fresh {
            let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(keys) = cache.get(tenant) {
                return Ok(keys.to_vec());
            }
        }
        let stored = self.store.tenant_data_keys(tenant).await?;
        let keys = self.unwrap_all(tenant, &stored)?;
        if !keys.is_empty() {
            self.cache
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .put(tenant, keys.clone());
        }
        Ok(keys)
    }

    /// Drops the tenant's keys from this instance's memory (after the tenant is deleted).
    pub fn forget(&self, tenant: TenantId) {
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .remove(&tenant);
    }
}
