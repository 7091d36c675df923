// A signer and what it signed read best side by side.
#![allow(clippy::similar_names)]

use super::*;

/// The key and note of the Go reference implementation's tests (`golang.org/x/mod/sumdb/note`):
/// Ed25519 is deterministic, so signing its text with its key must give its signature byte for
/// byte.
const GO_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const GO_SKEY_B64: &str = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const GO_TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                       then you don't know what your problem is.\n";
const GO_SIG: &str = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=";

fn go_signer() -> NoteSigner {
    let raw = B64.decode(GO_SKEY_B64).unwrap();
    assert_eq!(raw[0], 0x01);
    NoteSigner::from_seed("PeterNeumann", &raw[1..].try_into().unwrap()).unwrap()
}

#[test]
fn the_reference_note_is_reproduced_and_verifies() {
    let signer = go_signer();
    assert_eq!(signer.key_id(), 0xc74f_20a3);
    assert_eq!(signer.verifier().to_string(), GO_VKEY);
    let signed = signer.sign(GO_TEXT).unwrap();
    assert_eq!(signed, format!("{GO_TEXT}\n{GO_SIG}\n"));
    let v = NoteVerifier::parse(GO_VKEY).unwrap();
    let (text, by) = open(&signed, std::slice::from_ref(&v)).unwrap();
    assert_eq!((text.as_str(), by), (GO_TEXT, vec![&v]));
}

/// A fixed vector of ours: a checkpoint signed by the key of seed [7; 32].
#[test]
fn a_fixed_checkpoint_vector() {
    let signer = NoteSigner::from_seed("accord.example/ledger", &[7; 32]).unwrap();
    let head = TreeHead {
        origin: "accord.example/ledger/01a2026a-6e44-75ac-8921-fbeaa5a8c73d".into(),
        size: 8,
        root: [0x5d; 32],
        extensions: Vec::new(),
    };
    let signed = head.sign(&signer).unwrap();
    assert_eq!(signed, FIXED_CHECKPOINT, "{signed}");
    assert_eq!(signer.verifier().to_string(), FIXED_VKEY);
    let v = NoteVerifier::parse(FIXED_VKEY).unwrap();
    assert_eq!(TreeHead::open(&signed, &[v]).unwrap(), head);
}

const FIXED_VKEY: &str =
    "accord.example/ledger+81a5aad4+AepKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs";
const FIXED_CHECKPOINT: &str = "accord.example/ledger/01a2026a-6e44-75ac-8921-fbeaa5a8c73d\n8\nXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV0=\n\n\u{2014} accord.example/ledger gaWq1Ot8DZ3umKD90kkYJS59jWO/plnnuJlp+pjAIRl9KYn00mdshGyzwrRu0WbYgLgHkRz9rKEFyK9k7T2m42QDtAc=\n";

#[test]
fn tampered_notes_wrong_keys_and_unknown_names_are_refused() {
    let signer = NoteSigner::from_seed("log-a", &[1; 32]).unwrap();
    let other = NoteSigner::from_seed("log-a", &[2; 32]).unwrap();
    let renamed = NoteSigner::from_seed("log-b", &[1; 32]).unwrap();
    let head = TreeHead {
        origin: "example.com/log".into(),
        size: 42,
        root: [9; 32],
        extensions: vec!["ext one".into()],
    };
    let signed = head.sign(&signer).unwrap();
    let v = [signer.verifier()];
    assert_eq!(TreeHead::open(&signed, &v).unwrap(), head);

    let tampered = signed.replacen("\n42\n", "\n41\n", 1);
    assert_eq!(
        TreeHead::open(&tampered, &v),
        Err(NoteError::InvalidSignature)
    );
    // Same name, another key: its id differs, so the signature is not by a known key.
    assert_eq!(
        TreeHead::open(&signed, &[other.verifier()]),
        Err(NoteError::UnknownKey)
    );
    assert_eq!(
        TreeHead::open(&signed, &[renamed.verifier()]),
        Err(NoteError::UnknownKey)
    );
    // A forged signature line claiming the known name and id.
    let forged = other.sign(&head.body()).unwrap().replace(
        &other.signature_line(&head.body()).unwrap()[..],
        &{
            let line = other.signature_line(&head.body()).unwrap();
            let b64 = line.rsplit(' ').next().unwrap();
            let mut raw = B64.decode(b64).unwrap();
            raw[..4].copy_from_slice(&signer.key_id().to_be_bytes());
            format!("\u{2014} log-a {}", B64.encode(raw))
        },
    );
    assert_eq!(
        TreeHead::open(&forged, &v),
        Err(NoteError::InvalidSignature)
    );
    // Cosigned by an unknown witness: still opens with the log's key.
    let line = renamed.signature_line(&head.body()).unwrap();
    let cosigned = format!("{signed}{line}\n");
    assert_eq!(TreeHead::open(&cosigned, &v).unwrap(), head);
    assert!(parse_note("no blank line\n").is_err());
    assert!(parse_note(&signed.replace('\u{2014}', "-")).is_err());
}

#[test]
fn checkpoint_bodies_and_keys_are_strict() {
    let root = B64.encode([1u8; 32]);
    let ok = format!("o\n1\n{root}\n");
    assert!(TreeHead::parse(&ok).is_ok());
    for bad in [
        format!("o\n01\n{root}\n"),
        format!("o\n-1\n{root}\n"),
        format!("\n1\n{root}\n"),
        format!("o\n1\n{root}"),
        "o\n1\nAAAA\n".to_owned(),
        format!("o\n1\n{root}\n\n"),
    ] {
        assert!(TreeHead::parse(&bad).is_err(), "{bad:?}");
    }
    assert!(NoteSigner::from_seed("a b", &[1; 32]).is_err());
    assert!(NoteSigner::from_seed("a+b", &[1; 32]).is_err());
    assert!(NoteSigner::from_seed("", &[1; 32]).is_err());
    let vkey = go_signer().verifier().to_string();
    assert!(NoteVerifier::parse(&vkey.replace("c74f20a3", "c74f20a4")).is_err());
    assert!(NoteVerifier::parse(&format!("{vkey}+x")).is_err());
    assert!(NoteVerifier::parse("PeterNeumann+c74f20a3+AAAA").is_err());
}

#[test]
fn a_verifier_key_with_plus_signs_in_its_base64_parses() {
    // About one random key in three has a `+` in its standard base64: find one.
    let signer = (0u8..=255)
        .map(|b| NoteSigner::from_seed("log.example", &[b; 32]).unwrap())
        .find(|s| s.verifier().to_string().matches('+').count() > 2)
        .unwrap();
    let vkey = signer.verifier().to_string();
    assert_eq!(NoteVerifier::parse(&vkey).unwrap(), signer.verifier());
}
