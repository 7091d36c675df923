//! Secrets: random tokens, their storage hashes, API keys, and the AEAD keyring that encrypts
//! platform tokens and tenant client secrets at rest, so a copy of the database alone yields no
//! usable secret.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;
use std::fmt::Write as _;
use subtle::ConstantTimeEq;
use thiserror::Error;
use zeroize::Zeroize;

/// `n` random bytes from the OS, base64url without padding.
pub fn random_token(n: usize) -> String {
    let mut buf = vec![0u8; n];
    OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// The SHA-256 of a high-entropy token, hex-encoded: how link-session tokens, browser sessions
/// and OAuth `state` are stored. (A fast hash is right here: the inputs are ≥128-bit random.)
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TokenHash(pub String);

impl TokenHash {
    pub fn of(token: &str) -> Self {
        Self(hex::encode(Sha256::digest(token.as_bytes())))
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({}…)", &self.0[..8.min(self.0.len())])
    }
}

/// SHA-256 of a text, hex: e.g. the exact rendered notice text agreed to.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Whether `data`'s SHA-256 is `hex_digest`, as [`sha256_hex`] writes it (64 lowercase hex
/// digits): the comparison `sha256_hex(data) == hex_digest` without a `String`, for
/// `accord ledger verify`'s millions of events.
pub fn sha256_hex_is(data: &[u8], hex_digest: &str) -> bool {
    let mut hex = [0u8; 64];
    hex::encode_to_slice(Sha256::digest(data), &mut hex).expect("64 digits for 32 bytes");
    hex == hex_digest.as_bytes()
}

/// Constant-time equality of two byte strings (length may leak; contents do not).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// A tenant API key: `acc_<16 hex key id>_<48 hex secret>` (192-bit secret). The id finds the
/// row; the secret's SHA-256 is compared in constant time; the raw key is shown once.
pub struct ApiKey {
    pub key_id: String,
    pub secret_hash: String,
    pub full: SecretString,
}

impl ApiKey {
    pub const PREFIX: &'static str = "acc_";

    pub fn generate() -> Self {
        let mut id = [0u8; 8];
        let mut secret = [0u8; 24];
        OsRng.fill_bytes(&mut id);
        OsRng.fill_bytes(&mut secret);
        let key_id = hex::encode(id);
        let secret = hex::encode(secret);
        Self {
            secret_hash: sha256_hex(secret.as_bytes()),
            full: SecretString::from(format!("{}{key_id}_{secret}", Self::PREFIX)),
            key_id,
        }
    }

    /// Splits a presented key into (key id, secret hash); `None` if it is not shaped like a key.
    pub fn parse(presented: &str) -> Option<(String, String)> {
        let rest = presented.strip_prefix(Self::PREFIX)?;
        let (id, secret) = rest.split_once('_')?;
        let hex_ok = |s: &str, n: usize| {
            s.len() == n
                && s.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        };
        if hex_ok(id, 16) && hex_ok(secret, 48) {
            Some((id.to_owned(), sha256_hex(secret.as_bytes())))
        } else {
            None
        }
    }

    /// Checks a presented secret's hash against the stored one, in constant time.
    pub fn verify(presented_hash: &str, stored_hash: &str) -> bool {
        ct_eq(presented_hash.as_bytes(), stored_hash.as_bytes())
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("the key file is invalid: {0}")]
    KeyFile(String),
    #[error("ciphertext is malformed")]
    Malformed,
    #[error("no key with id `{0}` in the keyring")]
    UnknownKey(String),
    #[error("decryption failed (wrong key or associated data, or tampered)")]
    Decrypt,
}

/// The token-encryption keyring: 256-bit keys by id, one current. Ciphertexts name their key id
/// (`v1.<kid>.<base64(nonce ‖ ciphertext)>`) so keys can rotate without re-encrypting at once.
/// XChaCha20-Poly1305: a 192-bit random nonce is safe for any number of messages per key.
pub struct Keyring {
    current: String,
    keys: BTreeMap<String, SecretBox<[u8; 32]>>,
    mac_key: SecretBox<[u8; 32]>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current)
            .field("keys", &self.keys.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Keyring {
    /// A new key file's text: one fresh random key, current.
    pub fn generate_file() -> String {
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        let kid = format!("k{}", &hex::encode(&key[..2]));
        format!(
            "# Accord token-encryption keys. Keep this file secret (mode 0600) and backed up:\n\
             # without it, stored platform tokens and client secrets cannot be decrypted.\n\
             current = \"{kid}\"\n\n[keys]\n{kid} = \"{}\"\n",
            STANDARD.encode(key)
        )
    }

    /// Parses a key file (`current = "kid"` and a `[keys]` table of base64 32-byte keys).
    /// Refuses short, all-equal-byte or missing keys: Accord will not start with a weak key.
    pub fn from_file_text(text: &str) -> Result<Self, CryptoError> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct File {
            current: String,
            keys: BTreeMap<String, String>,
        }
        let file: File = toml::from_str(text).map_err(|e| CryptoError::KeyFile(e.to_string()))?;
        let mut keys = BTreeMap::new();
        for (kid, b64) in file.keys {
            if kid.is_empty() || kid.len() > 16 || !kid.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(CryptoError::KeyFile(format!(
                    "key id `{kid}` must be 1 to 16 letters or digits"
                )));
            }
            let bytes = STANDARD
                .decode(b64.trim())
                .map_err(|_| CryptoError::KeyFile(format!("key `{kid}` is not base64")))?;
            let key: [u8; 32] = bytes.try_into().map_err(|_| {
                CryptoError::KeyFile(format!("key `{kid}` must be exactly 32 bytes"))
            })?;
            if key.iter().all(|b| *b == key[0]) {
                return Err(CryptoError::KeyFile(format!(
                    "key `{kid}` is weak (all bytes equal)"
                )));
            }
            keys.insert(kid, SecretBox::new(Box::new(key)));
        }
        let current_key = keys.get(&file.current).ok_or_else(|| {
            CryptoError::KeyFile(format!("current key `{}` is not in [keys]", file.current))
        })?;
        // A separate MAC key for CSRF tokens and the like, derived so the AEAD key is used for one purpose only.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(current_key.expose_secret())
            .expect("any key length");
        mac.update(b"accord/v1/mac-key");
        let mac_key: [u8; 32] = mac.finalize().into_bytes().into();
        Ok(Self {
            current: file.current,
            keys,
            mac_key: SecretBox::new(Box::new(mac_key)),
        })
    }

    pub fn current_key_id(&self) -> &str {
        &self.current
    }

    /// Encrypts with the current key. `aad` binds the ciphertext to its owner (tenant + object id).
    pub fn encrypt(&self, plaintext: &[u8], aad: &[u8]) -> String {
        let key = self
            .keys
            .get(&self.current)
            .expect("current key exists (checked at load)");
        seal("v1", &self.current, key.expose_secret(), plaintext, aad)
    }

    pub fn decrypt(&self, ciphertext: &str, aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let (kid, body) = split("v1", ciphertext)?;
        let key = self
            .keys
            .get(kid)
            .ok_or_else(|| CryptoError::UnknownKey(kid.to_owned()))?;
        open(key.expose_secret(), body, aad)
    }

    /// A tenant's data key wrapped (encrypted) under the current instance key, bound to the
    /// tenant and the data key's id: the only form in which a data key is stored.
    pub fn wrap(&self, tenant: &crate::ids::TenantId, key: &DataKey) -> String {
        self.encrypt(key.key.expose_secret(), &wrap_aad(tenant, &key.id))
    }

    /// The data key `id` of `tenant` from its wrapped form.
    pub fn unwrap(
        &self,
        tenant: &crate::ids::TenantId,
        id: &str,
        wrapped: &str,
    ) -> Result<DataKey, CryptoError> {
        let mut plain = self.decrypt(wrapped, &wrap_aad(tenant, id))?;
        let key: Result<[u8; 32], _> = plain.as_slice().try_into();
        plain.zeroize();
        let key = key.map_err(|_| CryptoError::Malformed)?;
        Ok(DataKey {
            id: id.to_owned(),
            key: SecretBox::new(Box::new(key)),
        })
    }

    /// The receipt-signing keys: one Ed25519 key derived from each key of the file (so rotating
    /// the key file rotates the signing key, and retired keys stay published for verification).
    /// Key ids are `sig-<kid>`.
    pub fn signing_keys(&self) -> crate::receipt::SigningKeys {
        let seeds = self
            .keys
            .iter()
            .map(|(kid, key)| {
                let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.expose_secret())
                    .expect("any key length");
                mac.update(b"accord/v1/ed25519-receipt-signing-seed");
                let seed: [u8; 32] = mac.finalize().into_bytes().into();
                (format!("sig-{kid}"), seed)
            })
            .collect();
        crate::receipt::SigningKeys::new(&format!("sig-{}", self.current), seeds)
            .expect("current key is in the keyring")
    }

    /// A new key file text: this file's keys kept (for decryption and receipt verification)
    /// plus a fresh current key (`accord keys rotate`).
    pub fn rotated_file(&self) -> String {
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        let mut kid = format!("k{}", &hex::encode(&key[..3]));
        while self.keys.contains_key(&kid) {
            kid.push('x');
        }
        let mut out = format!(
            "# Accord token-encryption keys. Keep this file secret (mode 0600) and backed up:\n\
             # without it, stored platform tokens and client secrets cannot be decrypted.\n\
             current = \"{kid}\"\n\n[keys]\n"
        );
        for (k, v) in &self.keys {
            let _ = writeln!(out, "{k} = \"{}\"", STANDARD.encode(v.expose_secret()));
        }
        let _ = writeln!(out, "{kid} = \"{}\"", STANDARD.encode(key));
        out
    }

    /// HMAC-SHA256 under the derived MAC key, base64url: for CSRF tokens bound to a session.
    pub fn mac(&self, purpose: &str, data: &[u8]) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.mac_key.expose_secret())
            .expect("any key length");
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(data);
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }
}

fn wrap_aad(tenant: &crate::ids::TenantId, id: &str) -> Vec<u8> {
    aad(tenant, &id, "data-key")
}

/// `<version>.<key id>.<base64url(nonce ‖ ciphertext)>` under `key`, with a fresh random
/// 192-bit nonce (XChaCha20-Poly1305).
fn seal(version: &str, kid: &str, key: &[u8; 32], plaintext: &[u8], aad: &[u8]) -> String {
    let cipher = XChaCha20Poly1305::new(Key::from_slice(key));
    let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
    let ct = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .expect("XChaCha20-Poly1305 encryption cannot fail for in-memory buffers");
    let mut out = nonce.to_vec();
    out.extend_from_slice(&ct);
    format!("{version}.{kid}.{}", URL_SAFE_NO_PAD.encode(out))
}

/// The key id and body of a ciphertext of `version`.
fn split<'a>(version: &str, ciphertext: &'a str) -> Result<(&'a str, &'a str), CryptoError> {
    let mut parts = ciphertext.splitn(3, '.');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(v), Some(kid), Some(body)) if v == version => Ok((kid, body)),
        _ => Err(CryptoError::Malformed),
    }
}

fn open(key: &[u8; 32], body: &str, aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let raw = URL_SAFE_NO_PAD
        .decode(body)
        .map_err(|_| CryptoError::Malformed)?;
    if raw.len() < 24 + 16 {
        return Err(CryptoError::Malformed);
    }
    let (nonce, ct) = raw.split_at(24);
    XChaCha20Poly1305::new(Key::from_slice(key))
        .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad })
        .map_err(|_| CryptoError::Decrypt)
}

/// Who can open a stored ciphertext: the instance keyring (`v1.<instance key id>.…`, secrets
/// sealed before tenants had data keys, and values that belong to no tenant) or one of a
/// tenant's data keys (`v2.<data key id>.…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sealed<'a> {
    Instance(&'a str),
    DataKey(&'a str),
}

impl<'a> Sealed<'a> {
    /// The kind and key id of a ciphertext; `None` if it is neither.
    pub fn of(ciphertext: &'a str) -> Option<Self> {
        split("v1", ciphertext)
            .map(|(kid, _)| Self::Instance(kid))
            .or_else(|_| split("v2", ciphertext).map(|(kid, _)| Self::DataKey(kid)))
            .ok()
    }
}

/// A tenant's data key (envelope encryption): 256 random bits that encrypt the tenant's
/// secrets (`v2.<id>.…`). Stored only wrapped by the instance keyring ([`Keyring::wrap`]);
/// destroying the wrapped copy makes every ciphertext under it unreadable (crypto-shredding).
/// The key bytes are zeroized when dropped.
pub struct DataKey {
    id: String,
    key: SecretBox<[u8; 32]>,
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl DataKey {
    /// A fresh random key with a random id (`d` and 12 hex digits).
    pub fn generate() -> Self {
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        let mut id = [0u8; 6];
        OsRng.fill_bytes(&mut id);
        let data_key = Self {
            id: format!("d{}", hex::encode(id)),
            key: SecretBox::new(Box::new(key)),
        };
        key.zeroize();
        data_key
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Encrypts under this data key: `v2.<id>.…`, bound to `aad` as [`Keyring::encrypt`] is.
    pub fn encrypt(&self, plaintext: &[u8], aad: &[u8]) -> String {
        seal("v2", &self.id, self.key.expose_secret(), plaintext, aad)
    }

    pub fn decrypt(&self, ciphertext: &str, aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let (kid, body) = split("v2", ciphertext)?;
        if kid != self.id {
            return Err(CryptoError::UnknownKey(kid.to_owned()));
        }
        open(self.key.expose_secret(), body, aad)
    }
}

/// A tenant's data key as stored: wrapped under an instance key ([`Keyring::wrap`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedDataKey {
    pub tenant_id: crate::ids::TenantId,
    /// The data key's id, as named in its ciphertexts (`v2.<id>.…`).
    pub key_id: String,
    /// `v1.<instance key id>.…`, AAD = tenant + data key id.
    pub wrapped: String,
    pub created_at: time::OffsetDateTime,
}

/// The associated data binding a ciphertext to its tenant and object (AAD = tenant + object id),
/// so a ciphertext copied onto another tenant's or another object's row fails to decrypt.
pub fn aad(tenant: &crate::ids::TenantId, object: &dyn fmt::Display, purpose: &str) -> Vec<u8> {
    format!("accord/v1/{purpose}/{tenant}/{object}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digest_is_compared_as_sha256_hex_writes_it() {
        let hex = sha256_hex(b"consent");
        assert!(sha256_hex_is(b"consent", &hex));
        assert!(!sha256_hex_is(b"consent!", &hex));
        assert!(
            !sha256_hex_is(b"consent", &hex.to_uppercase()),
            "lowercase only"
        );
        assert!(!sha256_hex_is(b"consent", &hex[..63]), "all 64 digits");
        assert!(!sha256_hex_is(b"consent", &format!("{hex}0")));
        assert!(!sha256_hex_is(b"consent", ""));
    }

    #[test]
    fn api_keys_round_trip_and_verify() {
        let key = ApiKey::generate();
        let full = key.full.expose_secret();
        assert!(full.starts_with("acc_"));
        let (id, hash) = ApiKey::parse(full).unwrap();
        assert_eq!(id, key.key_id);
        assert!(ApiKey::verify(&hash, &key.secret_hash));
        assert!(ApiKey::parse("acc_short").is_none());
        assert!(ApiKey::parse(&full.replace("acc_", "sk_")).is_none());
        let other = ApiKey::generate();
        assert!(!ApiKey::verify(&hash, &other.secret_hash));
    }

    #[test]
    fn tokens_are_long_and_distinct() {
        let a = random_token(32);
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token(32));
    }

    #[test]
    fn aead_binds_aad_and_names_the_key() {
        let ring = Keyring::from_file_text(&Keyring::generate_file()).unwrap();
        let ct = ring.encrypt(b"refresh-token", b"tenant-a/conn-1");
        assert!(ct.starts_with(&format!("v1.{}.", ring.current_key_id())));
        assert!(!ct.contains("refresh-token"));
        assert_eq!(
            ring.decrypt(&ct, b"tenant-a/conn-1").unwrap(),
            b"refresh-token"
        );
        assert_eq!(
            ring.decrypt(&ct, b"tenant-b/conn-1"),
            Err(CryptoError::Decrypt)
        );
        let mut tampered = ct.clone();
        tampered.pop();
        tampered.push(if ct.ends_with('A') { 'B' } else { 'A' });
        assert!(ring.decrypt(&tampered, b"tenant-a/conn-1").is_err());
    }

    #[test]
    fn weak_or_missing_keys_are_refused() {
        let zero = format!(
            "current = \"k1\"\n[keys]\nk1 = \"{}\"\n",
            STANDARD.encode([0u8; 32])
        );
        assert!(matches!(
            Keyring::from_file_text(&zero),
            Err(CryptoError::KeyFile(_))
        ));
        let short = format!(
            "current = \"k1\"\n[keys]\nk1 = \"{}\"\n",
            STANDARD.encode([7u8; 16])
        );
        assert!(Keyring::from_file_text(&short).is_err());
        assert!(Keyring::from_file_text("current = \"k2\"\n[keys]\n").is_err());
    }

    #[test]
    fn old_keys_still_decrypt_after_rotation() {
        let old = Keyring::from_file_text(&Keyring::generate_file()).unwrap();
        let ct = old.encrypt(b"x", b"a");
        // A rotated file keeps the old key under its id and adds a new current one.
        let new_key = STANDARD.encode([
            9u8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,
            24, 25, 26, 27, 28, 29, 30, 31,
        ]);
        let old_b64 = STANDARD.encode(old.keys[old.current_key_id()].expose_secret());
        let rotated = format!(
            "current = \"k2new\"\n[keys]\n{} = \"{old_b64}\"\nk2new = \"{new_key}\"\n",
            old.current_key_id()
        );
        let ring = Keyring::from_file_text(&rotated).unwrap();
        assert_eq!(ring.decrypt(&ct, b"a").unwrap(), b"x");
        assert!(ring.encrypt(b"y", b"a").starts_with("v1.k2new."));
    }
}

#[cfg(test)]
mod data_key_tests {
    use super::*;
    use crate::ids::TenantId;

    #[test]
    fn data_keys_wrap_per_tenant_and_seal_v2() {
        let ring = Keyring::from_file_text(&Keyring::generate_file()).unwrap();
        let (tenant, other) = (TenantId::new(), TenantId::new());
        let key = DataKey::generate();
        let wrapped = ring.wrap(&tenant, &key);
        assert_eq!(
            Sealed::of(&wrapped),
            Some(Sealed::Instance(ring.current_key_id()))
        );
        assert!(ring.unwrap(&other, key.id(), &wrapped).is_err());
        assert!(ring.unwrap(&tenant, "dother", &wrapped).is_err());
        let unwrapped = ring.unwrap(&tenant, key.id(), &wrapped).unwrap();
        let ct = key.encrypt(b"secret", b"aad");
        assert_eq!(Sealed::of(&ct), Some(Sealed::DataKey(key.id())));
        assert_eq!(unwrapped.decrypt(&ct, b"aad").unwrap(), b"secret");
        assert_eq!(unwrapped.decrypt(&ct, b"other"), Err(CryptoError::Decrypt));
        assert!(
            ring.decrypt(&ct, b"aad").is_err(),
            "the instance key alone opens no v2"
        );
        assert!(DataKey::generate().decrypt(&ct, b"aad").is_err());
        assert_eq!(Sealed::of("v3.x.y"), None);
    }
}

#[cfg(test)]
mod rotation_tests {
    use super::*;

    #[test]
    fn rotation_keeps_old_keys_and_publishes_both_signing_keys() {
        let ring = Keyring::from_file_text(&Keyring::generate_file()).unwrap();
        let ct = ring.encrypt(b"t", b"a");
        let jws = ring
            .signing_keys()
            .sign_compact(&serde_json::json!({"x": 1}), "t");
        let rotated = Keyring::from_file_text(&ring.rotated_file()).unwrap();
        assert_ne!(rotated.current_key_id(), ring.current_key_id());
        assert_eq!(rotated.decrypt(&ct, b"a").unwrap(), b"t");
        let key_set = rotated.signing_keys().jwks();
        assert_eq!(key_set["keys"].as_array().unwrap().len(), 2);
        assert!(
            crate::receipt::verify_compact(&jws, &key_set).is_ok(),
            "old receipts still verify"
        );
    }
}
