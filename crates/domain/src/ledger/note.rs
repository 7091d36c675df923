//! Signed tree heads in the formats transparency logs share, so that any witness, monitor or
//! auditor tool can read, check and keep them outside Accord's database:
//!
//! - C2SP `tlog-checkpoint` ([`TreeHead`]): the origin line (the log's name), the tree size in
//!   decimal, the root hash in standard base64, then optional extension lines, each line ending
//!   in a newline;
//! - C2SP `signed-note` ([`NoteSigner`], [`NoteVerifier`], [`open`]): the note text, a blank
//!   line, then one line per signature, `— <key name> <base64(key id || signature)>` (U+2014 em
//!   dash), with Ed25519 signatures (type 0x01) over the text. A key id is the first 4 bytes,
//!   big-endian, of `SHA-256(name || 0x0A || 0x01 || public key)`; a verifier key is written
//!   `<name>+<8 hex digits of the key id>+<base64(0x01 || public key)>`.

use super::merkle::Hash;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use std::fmt;

/// The signature type byte of Ed25519 in C2SP `signed-note`.
const ED25519: u8 = 0x01;

/// What is wrong with a note, a checkpoint or a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("invalid key name (empty, or with a space or '+')")]
    BadKeyName,
    #[error("malformed verifier key")]
    BadVerifierKey,
    #[error("malformed note: {0}")]
    Malformed(&'static str),
    #[error("malformed checkpoint: {0}")]
    BadCheckpoint(&'static str),
    #[error("a signature by a known key does not verify")]
    InvalidSignature,
    #[error("no signature by a known key")]
    UnknownKey,
}

/// A key name: non-empty, no Unicode whitespace and no `+` (C2SP `signed-note`).
fn check_name(name: &str) -> Result<(), NoteError> {
    if name.is_empty() || name.contains('+') || name.chars().any(char::is_whitespace) {
        return Err(NoteError::BadKeyName);
    }
    Ok(())
}

/// The key id of an Ed25519 key: `SHA-256(name || 0x0A || 0x01 || public key)[..4]`,
/// big-endian.
pub fn key_id(name: &str, key: &VerifyingKey) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ED25519]);
    h.update(key.as_bytes());
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// A named Ed25519 key that signs notes.
#[derive(Clone)]
pub struct NoteSigner {
    name: String,
    id: u32,
    key: SigningKey,
}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .field("id", &format_args!("{:08x}", self.id))
            .finish_non_exhaustive()
    }
}

impl NoteSigner {
    pub fn new(name: &str, key: SigningKey) -> Result<Self, NoteError> {
        check_name(name)?;
        Ok(Self {
            name: name.to_owned(),
            id: key_id(name, &key.verifying_key()),
            key,
        })
    }

    /// The signer of the Ed25519 key with this 32-byte seed.
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, NoteError> {
        Self::new(name, SigningKey::from_bytes(seed))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> u32 {
        self.id
    }

    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            id: self.id,
            key: self.key.verifying_key(),
        }
    }

    /// This key's signature line for `text` (without its newline).
    pub fn signature_line(&self, text: &str) -> Result<String, NoteError> {
        check_text(text)?;
        let sig: Signature = self.key.sign(text.as_bytes());
        let mut raw = Vec::with_capacity(68);
        raw.extend_from_slice(&self.id.to_be_bytes());
        raw.extend_from_slice(&sig.to_bytes());
        Ok(format!("\u{2014} {} {}", self.name, B64.encode(raw)))
    }

    /// The signed note: `text`, a blank line, this key's signature line.
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        let line = self.signature_line(text)?;
        Ok(format!("{text}\n{line}\n"))
    }
}

/// A named Ed25519 public key that checks notes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    id: u32,
    key: VerifyingKey,
}

impl NoteVerifier {
    pub fn new(name: &str, key: VerifyingKey) -> Result<Self, NoteError> {
        check_name(name)?;
        Ok(Self {
            name: name.to_owned(),
            id: key_id(name, &key),
            key,
        })
    }

    /// Reads a verifier key, `<name>+<hex key id>+<base64(0x01 || public key)>`, checking that
    /// the id is the key's.
    pub fn parse(vkey: &str) -> Result<Self, NoteError> {
        let bad = || NoteError::BadVerifierKey;
        // Standard base64 has `+` in its alphabet: only the first two `+` separate fields.
        let mut parts = vkey.splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        if id.len() != 8 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let id = u32::from_str_radix(id, 16).map_err(|_| bad())?;
        let raw = B64.decode(key).map_err(|_| bad())?;
        let Some((&ED25519, public)) = raw.split_first() else {
            return Err(bad());
        };
        let public: [u8; 32] = public.try_into().map_err(|_| bad())?;
        let key = VerifyingKey::from_bytes(&public).map_err(|_| bad())?;
        let verifier = Self::new(name, key)?;
        if verifier.id != id {
            return Err(bad());
        }
        Ok(verifier)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> u32 {
        self.id
    }

    pub fn public_key(&self) -> &VerifyingKey {
        &self.key
    }
}

impl fmt::Display for NoteVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut raw = Vec::with_capacity(33);
        raw.push(ED25519);
        raw.extend_from_slice(self.key.as_bytes());
        write!(f, "{}+{:08x}+{}", self.name, self.id, B64.encode(raw))
    }
}

/// A note's text: non-empty, UTF-8, ending in a newline, no control character but newlines.
fn check_text(text: &str) -> Result<(), NoteError> {
    if !text.ends_with('\n') {
        return Err(NoteError::Malformed("the text must end with a newline"));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(NoteError::Malformed("control character in the text"));
    }
    Ok(())
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    pub name: String,
    pub key_id: u32,
    /// The signature bytes after the key id.
    pub signature: Vec<u8>,
}

/// A signed note taken apart, nothing verified yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub text: String,
    pub signatures: Vec<NoteSignature>,
}

/// Splits a signed note into its text (up to and including the newline before the last blank
/// line) and its signature lines.
pub fn parse_note(signed: &str) -> Result<Note, NoteError> {
    let split = signed
        .rfind("\n\n")
        .ok_or(NoteError::Malformed("no blank line before the signatures"))?;
    let (text, sigs) = (&signed[..=split], &signed[split + 2..]);
    check_text(text)?;
    if !sigs.ends_with('\n') {
        return Err(NoteError::Malformed(
            "the signatures must end with a newline",
        ));
    }
    let signatures = sigs
        .lines()
        .map(parse_signature_line)
        .collect::<Result<Vec<_>, _>>()?;
    if signatures.is_empty() {
        return Err(NoteError::Malformed("no signature"));
    }
    Ok(Note {
        text: text.to_owned(),
        signatures,
    })
}

fn parse_signature_line(line: &str) -> Result<NoteSignature, NoteError> {
    let bad = NoteError::Malformed("a signature line is not `— <name> <base64>`");
    let rest = line.strip_prefix("\u{2014} ").ok_or(bad.clone())?;
    let (name, b64) = rest.split_once(' ').ok_or(bad.clone())?;
    check_name(name).map_err(|_| bad.clone())?;
    let raw = B64.decode(b64).map_err(|_| bad.clone())?;
    if raw.len() < 5 {
        return Err(bad);
    }
    Ok(NoteSignature {
        name: name.to_owned(),
        key_id: u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]),
        signature: raw[4..].to_vec(),
    })
}

/// Opens a signed note: every signature by one of `verifiers` (same name and key id) must
/// verify, and at least one must be there. Signatures by other keys are skipped (C2SP
/// `signed-note`: a note may carry witnesses' cosignatures the reader does not know). Returns
/// the text and the verifiers whose signatures were checked.
pub fn open<'v>(
    signed: &str,
    verifiers: &'v [NoteVerifier],
) -> Result<(String, Vec<&'v NoteVerifier>), NoteError> {
    let note = parse_note(signed)?;
    let mut verified = Vec::new();
    for s in &note.signatures {
        let Some(v) = verifiers
            .iter()
            .find(|v| v.name == s.name && v.id == s.key_id)
        else {
            continue;
        };
        let sig = Signature::from_slice(&s.signature).map_err(|_| NoteError::InvalidSignature)?;
        v.key
            .verify_strict(note.text.as_bytes(), &sig)
            .map_err(|_| NoteError::InvalidSignature)?;
        if !verified.contains(&v) {
            verified.push(v);
        }
    }
    if verified.is_empty() {
        return Err(NoteError::UnknownKey);
    }
    Ok((note.text, verified))
}

/// A C2SP `tlog-checkpoint`: a signed tree head's body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeHead {
    /// The log's unique name, e.g. `ledger.example.com/ledger/<tenant id>` (no scheme).
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    /// Optional lines after the root, each non-empty.
    pub extensions: Vec<String>,
}

impl TreeHead {
    /// The note text: origin, size, base64 root, then the extension lines, each ending in a
    /// newline.
    pub fn body(&self) -> String {
        let mut s = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        );
        for e in &self.extensions {
            s.push_str(e);
            s.push('\n');
        }
        s
    }

    /// Reads a checkpoint body (the text of its note).
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let bad = NoteError::BadCheckpoint;
        let body = text.strip_suffix('\n').ok_or(bad("no final newline"))?;
        let mut lines = body.split('\n');
        let origin = lines
            .next()
            .filter(|o| !o.is_empty())
            .ok_or(bad("no origin"))?;
        let size = lines.next().ok_or(bad("no tree size"))?;
        if size.is_empty()
            || !size.bytes().all(|b| b.is_ascii_digit())
            || (size.len() > 1 && size.starts_with('0'))
        {
            return Err(bad("the tree size is not a decimal number"));
        }
        let size = size
            .parse()
            .map_err(|_| bad("the tree size is too large"))?;
        let root = B64
            .decode(lines.next().ok_or(bad("no root hash"))?)
            .map_err(|_| bad("the root hash is not base64"))?
            .try_into()
            .map_err(|_| bad("the root hash is not 32 bytes"))?;
        let extensions: Vec<String> = lines.map(str::to_owned).collect();
        if extensions.iter().any(String::is_empty) {
            return Err(bad("empty extension line"));
        }
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }

    /// Signs the body as a note.
    pub fn sign(&self, signer: &NoteSigner) -> Result<String, NoteError> {
        signer.sign(&self.body())
    }

    /// Opens a signed checkpoint with `verifiers` and reads its body.
    pub fn open(signed: &str, verifiers: &[NoteVerifier]) -> Result<Self, NoteError> {
        let (text, _) = open(signed, verifiers)?;
        Self::parse(&text)
    }
}

#[cfg(test)]
#[path = "note_tests.rs"]
mod tests;
