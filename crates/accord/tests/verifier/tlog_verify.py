#!/usr/bin/env python3
"""An independent verifier of Accord's public ledger: C2SP signed notes (tlog-checkpoint,
Ed25519 note signatures) and RFC 9162 inclusion and consistency proofs, written from the
specifications with the Python standard library and `cryptography` (for Ed25519 only).

It shares no code with Accord, so a bug in Accord's tree or signature code that Accord's own
verifier mirrors is still caught here.

Usage: tlog_verify.py VERIFIER_KEY < request.json
  request.json: {"checkpoint": NOTE, "inclusion": [{"leaf_hash", "leaf_index", "tree_size",
                 "hashes", "leaf_data"? or "leaf_data_hex"?}...], "consistency": [{"from_note",
                 "to_note"?, "first", "second", "hashes"}...]}
Prints "ok" and exits 0 when everything verifies; prints the first failure and exits 1.
"""

import base64
import hashlib
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


class Invalid(Exception):
    pass


# ---- C2SP signed-note ------------------------------------------------------------------------

def parse_verifier_key(vkey):
    """`<name>+<hex key id>+<base64(0x01 || 32-byte Ed25519 public key)>`."""
    # Only the first two "+" separate fields: the base64 key may contain "+" itself.
    name, key_id_hex, key_b64 = vkey.strip().split("+", 2)
    raw = base64.b64decode(key_b64, validate=True)
    if len(raw) != 33 or raw[0] != 0x01:
        raise Invalid("verifier key is not an Ed25519 note key")
    key_id = hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4]
    if key_id.hex() != key_id_hex.lower():
        raise Invalid("verifier key id does not match its name and key")
    return name, key_id, Ed25519PublicKey.from_public_bytes(raw[1:])


def verify_note(note, vkey):
    """Returns the note's text once a signature by `vkey` over it verifies."""
    name, key_id, public = parse_verifier_key(vkey)
    if "\n\n" not in note:
        raise Invalid("note has no signature block")
    text, sigs = note.split("\n\n", 1)
    text += "\n"
    found = False
    for line in sigs.splitlines():
        if not line:
            continue
        if not line.startswith("\u2014 "):
            raise Invalid("malformed signature line")
        sig_name, sig_b64 = line[2:].rsplit(" ", 1)
        blob = base64.b64decode(sig_b64, validate=True)
        if sig_name != name or blob[:4] != key_id:
            continue
        try:
            public.verify(blob[4:], text.encode())
        except InvalidSignature:
            raise Invalid("note signature does not verify")
        found = True
    if not found:
        raise Invalid("no signature by the verifier key")
    return text


def parse_checkpoint(text):
    """C2SP tlog-checkpoint body: origin, decimal tree size, base64 root hash, extensions."""
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise Invalid("checkpoint body is not origin/size/root lines")
    origin, size, root = lines[0], lines[1], lines[2]
    if not origin or not size.isdigit() or (size != "0" and size.startswith("0")):
        raise Invalid("checkpoint origin or size malformed")
    root_hash = base64.b64decode(root, validate=True)
    if len(root_hash) != 32:
        raise Invalid("checkpoint root hash is not 32 bytes")
    return origin, int(size), root_hash


# ---- RFC 9162 Merkle tree proofs ---------------------------------------------------------------

def leaf_hash(data):
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(leaf, index, size, path, root):
    """RFC 9162 section 2.1.3.2."""
    if index >= size:
        raise Invalid("inclusion: leaf index beyond the tree")
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            raise Invalid("inclusion: proof too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise Invalid("inclusion: proof too short")
    if r != root:
        raise Invalid("inclusion: root does not match")


def verify_consistency(first, second, path, first_root, second_root):
    """RFC 9162 section 2.1.4.2."""
    if first > second:
        raise Invalid("consistency: first tree larger than second")
    if first == second:
        if path or first_root != second_root:
            raise Invalid("consistency: equal sizes, different roots")
        return
    if first == 0:
        if path:
            raise Invalid("consistency: proof from the empty tree must be empty")
        return
    if not path:
        raise Invalid("consistency: empty proof")
    if first & (first - 1) == 0:
        path = [first_root] + list(path)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise Invalid("consistency: proof too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise Invalid("consistency: proof too short")
    if fr != first_root:
        raise Invalid("consistency: first root does not match")
    if sr != second_root:
        raise Invalid("consistency: second root does not match")


def check_leaf(p, leaf):
    """The leaf hash recomputed from the entry itself, not taken on trust: `leaf_data` is the
    entry as text; `leaf_data_hex` its bytes in hex (an Accord ledger event's leaf is the 32
    bytes of the event's chain hash, the `ledger.hash` a receipt signs)."""
    if "leaf_data" in p:
        data = p["leaf_data"].encode()
    elif "leaf_data_hex" in p:
        data = bytes.fromhex(p["leaf_data_hex"])
    else:
        return
    if leaf_hash(data) != leaf:
        raise Invalid("leaf hash is not the hash of the entry")


def b64(s):
    return base64.b64decode(s, validate=True)


def run(vkey, req):
    _, size, root = parse_checkpoint(verify_note(req["checkpoint"], vkey))
    for p in req.get("inclusion", []):
        if p["tree_size"] != size:
            raise Invalid("inclusion proof is for another tree size than the checkpoint")
        leaf = b64(p["leaf_hash"])
        check_leaf(p, leaf)
        verify_inclusion(leaf, p["leaf_index"], size, [b64(h) for h in p["hashes"]], root)
    for c in req.get("consistency", []):
        _, first, first_root = parse_checkpoint(verify_note(c["from_note"], vkey))
        second, second_root = size, root
        if "to_note" in c:
            _, second, second_root = parse_checkpoint(verify_note(c["to_note"], vkey))
        if (c["first"], c["second"]) != (first, second):
            raise Invalid("consistency proof sizes differ from the checkpoints'")
        verify_consistency(first, second, [b64(h) for h in c["hashes"]], first_root, second_root)


def main():
    try:
        run(sys.argv[1], json.load(sys.stdin))
    except (Invalid, ValueError, KeyError) as e:
        print(f"invalid: {e}")
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
