//! RFC 6962/9162 reference vectors (the eight leaves Certificate Transparency implementations
//! share, with their roots and proofs), then every tree size up to 64 and every (m, n) pair
//! against a brute-force implementation written straight from the RFC's recursive definitions.

// The brute force keeps RFC 9162's own names (m, n, k, D[n]) so it reads against the text; the
// sizes are at most 64, so the casts cannot truncate.
#![allow(clippy::many_single_char_names, clippy::cast_possible_truncation)]

use super::*;
use std::collections::HashMap;

fn h(s: &str) -> Hash {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).unwrap();
    out
}

/// The reference leaves' data.
const LEAVES: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

/// The root of the first n reference leaves, n = 0..=8.
const ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

fn reference_leaves() -> Vec<Hash> {
    LEAVES
        .iter()
        .map(|d| leaf_hash(&hex::decode(d).unwrap()))
        .collect()
}

/// A tree held in memory the way a store holds it: every completed node by its id.
#[derive(Default)]
struct MemTree {
    range: CompactRange,
    nodes: HashMap<NodeId, Hash>,
}

impl MemTree {
    fn of(leaves: &[Hash]) -> Self {
        let mut t = Self::default();
        let mut done = Vec::new();
        for l in leaves {
            t.range.append(*l, &mut done);
        }
        t.nodes.extend(done);
        t
    }
}

impl NodeReader for MemTree {
    fn read_nodes(&self, ids: &[NodeId]) -> Vec<Option<Hash>> {
        ids.iter().map(|id| self.nodes.get(id).copied()).collect()
    }
}

// Brute force, straight from RFC 9162 §2.1.1, §2.1.3.1 and §2.1.4.1.
fn mth(d: &[Hash]) -> Hash {
    match d.len() {
        0 => empty_root(),
        1 => d[0],
        n => {
            let k = split(n as u64) as usize;
            node_hash(&mth(&d[..k]), &mth(&d[k..]))
        }
    }
}

fn path(m: usize, d: &[Hash]) -> Vec<Hash> {
    if d.len() <= 1 {
        return Vec::new();
    }
    let k = split(d.len() as u64) as usize;
    if m < k {
        let mut p = path(m, &d[..k]);
        p.push(mth(&d[k..]));
        p
    } else {
        let mut p = path(m - k, &d[k..]);
        p.push(mth(&d[..k]));
        p
    }
}

fn subproof(m: usize, d: &[Hash], whole: bool) -> Vec<Hash> {
    let n = d.len();
    if m == n {
        return if whole { Vec::new() } else { vec![mth(d)] };
    }
    let k = split(n as u64) as usize;
    if m <= k {
        let mut p = subproof(m, &d[..k], whole);
        p.push(mth(&d[k..]));
        p
    } else {
        let mut p = subproof(m - k, &d[k..], false);
        p.push(mth(&d[..k]));
        p
    }
}

#[test]
fn reference_roots() {
    let leaves = reference_leaves();
    for (n, root) in ROOTS.iter().enumerate() {
        let t = MemTree::of(&leaves[..n]);
        assert_eq!(t.range.root(), h(root), "size {n}");
        assert_eq!(
            root_from(&t, n as u64).unwrap(),
            h(root),
            "size {n} from nodes"
        );
    }
    // A smaller size of the full tree, from the nodes stored.
    let t = MemTree::of(&leaves);
    for (n, root) in ROOTS.iter().enumerate() {
        assert_eq!(root_from(&t, n as u64).unwrap(), h(root), "size {n} of 8");
    }
}

#[test]
fn reference_inclusion_proofs() {
    let t = MemTree::of(&reference_leaves());
    let cases: [(u64, u64, &[&str]); 4] = [
        (
            0,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            8,
            &[
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            3,
            &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
        ),
        (
            1,
            5,
            &[
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];
    let leaves = reference_leaves();
    for (index, size, want) in cases {
        let proof = prove(&t, &ProofPlan::inclusion(index, size).unwrap()).unwrap();
        let want: Vec<Hash> = want.iter().map(|s| h(s)).collect();
        assert_eq!(proof, want, "leaf {index} of {size}");
        let root = h(ROOTS[size as usize]);
        verify_inclusion(&leaves[index as usize], index, size, &proof, &root).unwrap();
    }
}

#[test]
fn reference_consistency_proofs() {
    let t = MemTree::of(&reference_leaves());
    let cases: [(u64, u64, &[&str]); 4] = [
        (1, 1, &[]),
        (
            1,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            5,
            &[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];
    for (from, to, want) in cases {
        let proof = prove(&t, &ProofPlan::consistency(from, to).unwrap()).unwrap();
        let want: Vec<Hash> = want.iter().map(|s| h(s)).collect();
        assert_eq!(proof, want, "{from} -> {to}");
        let (old, new) = (h(ROOTS[from as usize]), h(ROOTS[to as usize]));
        verify_consistency(from, to, &proof, &old, &new).unwrap();
    }
}

/// Leaves that differ from each other: the hashes of their own indexes.
fn synthetic(n: usize) -> Vec<Hash> {
    (0..n as u32).map(|i| leaf_hash(&i.to_be_bytes())).collect()
}

#[test]
fn every_size_and_every_proof_up_to_64_matches_the_definitions() {
    let leaves = synthetic(64);
    let t = MemTree::of(&leaves);
    for n in 0..=64usize {
        let root = mth(&leaves[..n]);
        assert_eq!(
            MemTree::of(&leaves[..n]).range.root(),
            root,
            "append to {n}"
        );
        assert_eq!(
            root_from(&t, n as u64).unwrap(),
            root,
            "root of {n} from nodes"
        );
        for m in 0..n {
            let plan = ProofPlan::inclusion(m as u64, n as u64).unwrap();
            let proof = prove(&t, &plan).unwrap();
            assert_eq!(proof, path(m, &leaves[..n]), "path {m} of {n}");
            assert!(plan.nodes().len() <= 2 * 7, "O(log n) nodes for {m} of {n}");
            verify_inclusion(&leaves[m], m as u64, n as u64, &proof, &root).unwrap();
            // Another leaf, another index, another size or a changed hash: refused.
            let other = leaves[(m + 1) % n];
            if n > 1 {
                assert!(verify_inclusion(&other, m as u64, n as u64, &proof, &root).is_err());
                let moved = (m as u64 + 1) % n as u64;
                assert!(verify_inclusion(&leaves[m], moved, n as u64, &proof, &root).is_err());
            }
            if let Some(first) = proof.first() {
                let mut bad = proof.clone();
                bad[0] = node_hash(first, first);
                assert!(verify_inclusion(&leaves[m], m as u64, n as u64, &bad, &root).is_err());
                assert!(
                    verify_inclusion(&leaves[m], m as u64, n as u64, &proof[1..], &root).is_err()
                );
            }
        }
        for m in 0..=n {
            let old = mth(&leaves[..m]);
            let plan = ProofPlan::consistency(m as u64, n as u64).unwrap();
            let proof = prove(&t, &plan).unwrap();
            let want = if m == 0 {
                Vec::new()
            } else {
                subproof(m, &leaves[..n], true)
            };
            assert_eq!(proof, want, "consistency {m} -> {n}");
            verify_consistency(m as u64, n as u64, &proof, &old, &root).unwrap();
            if m > 0 && m < n {
                // A rewritten old tree, or a proof for other sizes: refused.
                let forged = node_hash(&old, &old);
                assert!(verify_consistency(m as u64, n as u64, &proof, &forged, &root).is_err());
                assert!(verify_consistency(m as u64, n as u64, &proof, &old, &forged).is_err());
                if m + 1 < n {
                    let next = mth(&leaves[..=m]);
                    assert!(
                        verify_consistency(m as u64 + 1, n as u64, &proof, &next, &root).is_err()
                    );
                }
            }
        }
    }
}

#[test]
fn appending_emits_each_completed_node_once() {
    let mut range = CompactRange::new();
    let mut done = Vec::new();
    for l in synthetic(100) {
        range.append(l, &mut done);
    }
    // A tree of n leaves has one complete subtree per leaf plus one per merge: 2n - popcount(n).
    assert_eq!(done.len(), 2 * 100 - 100u64.count_ones() as usize);
    let mut ids: Vec<NodeId> = done.iter().map(|(id, _)| *id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), done.len());
    let again = CompactRange::from_peaks(
        100,
        root_nodes(100)
            .iter()
            .map(|id| done.iter().find(|(d, _)| d == id).unwrap().1)
            .collect(),
    )
    .unwrap();
    assert_eq!(again, range);
    assert!(CompactRange::from_peaks(100, Vec::new()).is_err());
}

#[test]
fn proofs_outside_the_tree_are_refused() {
    assert!(ProofPlan::inclusion(3, 3).is_err());
    assert!(ProofPlan::consistency(4, 3).is_err());
    let t = MemTree::of(&synthetic(3));
    assert!(matches!(
        prove(&t, &ProofPlan::inclusion(0, 9).unwrap()),
        Err(MerkleError::MissingNode { .. })
    ));
    assert!(event_leaf("zz").is_err());
    assert_eq!(event_leaf(&"00".repeat(32)).unwrap(), leaf_hash(&[0; 32]));
}
