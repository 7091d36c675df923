//! The sandbox's own small cryptographic helpers: random tokens, the SHA-256 digests under
//! which codes and tokens are stored, constant-time secret comparison and the PKCE S256 check
//! (RFC 7636). The sandbox stands in for an independent platform, so none of this is shared
//! with Accord's own code.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::rngs::OsRng;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

/// The SHA-256 digest a code, token or nonce is stored under; the raw value is never kept.
pub type Digest = [u8; 32];

/// A fresh 256-bit random value, base64url without padding (43 characters), with a prefix
/// that tells a human which kind of value it is (as real platforms do).
pub fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

pub fn digest(value: &str) -> Digest {
    Sha256::digest(value.as_bytes()).into()
}

/// Compares two secrets in constant time. Both sides are hashed first so that neither the
/// content nor the length of the expected secret leaks through timing.
pub fn secrets_match(given: &str, expected: &str) -> bool {
    digest(given).ct_eq(&digest(expected)).into()
}

/// RFC 7636 §4.1: `code-verifier = 43*128unreserved`, unreserved = ALPHA / DIGIT / "-" / "." /
/// "_" / "~".
pub fn is_valid_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// An S256 challenge is BASE64URL-NOPAD of a 32-byte digest: exactly 43 characters of the
/// base64url alphabet (RFC 7636 §4.2).
pub fn is_valid_s256_challenge(challenge: &str) -> bool {
    challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

/// RFC 7636 §4.6: `BASE64URL-ENCODE(SHA256(ASCII(code_verifier))) == code_challenge`.
pub fn verify_pkce_s256(verifier: &str, challenge: &str) -> bool {
    if !is_valid_verifier(verifier) {
        return false;
    }
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    computed.as_bytes().ct_eq(challenge.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn pkce_accepts_the_rfc_example() {
        assert!(verify_pkce_s256(VERIFIER, CHALLENGE));
        assert!(is_valid_s256_challenge(CHALLENGE));
    }

    #[test]
    fn pkce_refuses_a_wrong_verifier() {
        let wrong = "eBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(!verify_pkce_s256(wrong, CHALLENGE));
    }

    #[test]
    fn pkce_refuses_verifiers_outside_the_rfc_alphabet_or_length() {
        assert!(!is_valid_verifier(&"a".repeat(42)));
        assert!(is_valid_verifier(&"a".repeat(43)));
        assert!(is_valid_verifier(&"a".repeat(128)));
        assert!(!is_valid_verifier(&"a".repeat(129)));
        assert!(!is_valid_verifier(&format!("{}+", "a".repeat(43))));
        assert!(is_valid_verifier(&format!("{}-._~", "a".repeat(43))));
        // A challenge used as its own verifier (the "plain" method) does not pass S256.
        assert!(!verify_pkce_s256(CHALLENGE, CHALLENGE));
    }

    #[test]
    fn random_tokens_are_long_and_distinct() {
        let a = random_token("x_");
        let b = random_token("x_");
        assert_ne!(a, b);
        assert_eq!(a.len(), 2 + 43);
    }

    #[test]
    fn secrets_compare_by_content() {
        assert!(secrets_match("s3cret", "s3cret"));
        assert!(!secrets_match("s3cret", "s3cret2"));
        assert!(!secrets_match("", "s3cret"));
    }
}
