//! Each tenant's ledger as a Merkle tree (RFC 9162 §2.1, Certificate Transparency's log): the
//! hash chain shows that nothing inside the ledger changed; the tree adds what a chain cannot
//! give an outsider cheaply: an inclusion proof that one event is in a signed tree head
//! (O(log n) hashes), and a consistency proof that a newer tree head extends an older one (so a
//! truncated or rewritten ledger is caught by anyone who kept an earlier signed head).
//!
//! **The leaf** of event `seq` is at index `seq - 1`, and its data is the 32 bytes of the
//! event's chain hash (the SHA-256 of its RFC 8785 canonical JSON, `hash` in the ledger and in
//! every receipt). A verifier recomputes it from the event alone, and a customer holding only a
//! receipt (which names the position and the hash) can check its inclusion without the event's
//! text; the public proofs then carry hashes only, never consent data. The chain hash already
//! covers every field of the event, so nothing is lost against hashing the JSON again.
//!
//! **Storage**: the hash of every *complete* subtree, addressed by [`NodeId`] (level, index:
//! the subtree over leaves `[index·2^level, (index+1)·2^level)`), written once when its last
//! leaf is appended ([`CompactRange::append`]) and never changed. The Merkle Tree Hash of any
//! size, and every element of an inclusion or consistency proof, is the hash of a range of
//! leaves that RFC 9162's largest-power-of-two split makes, which is a fold of at most log2(n)
//! complete subtrees ([`span_nodes`]); a proof therefore reads O(log n) stored nodes, listed in
//! advance by a [`ProofPlan`] so a store fetches them in one query.

use sha2::{Digest, Sha256};

/// A SHA-256 value: a leaf hash, a node hash or a tree root.
pub type Hash = [u8; 32];

/// The root of the empty tree: SHA-256 of the empty string (RFC 9162 §2.1.1).
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// `SHA-256(0x00 || data)`: the hash of a leaf (RFC 9162 §2.1.1); the prefix keeps a leaf from
/// ever being taken for an interior node (second-preimage resistance).
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(data);
    h.finalize().into()
}

/// `SHA-256(0x01 || left || right)`: the hash of an interior node (RFC 9162 §2.1.1).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The leaf hash of a ledger event, from its chain hash (64 hex digits): see the module notes.
pub fn event_leaf(event_hash_hex: &str) -> Result<Hash, MerkleError> {
    let mut raw = [0u8; 32];
    hex::decode_to_slice(event_hash_hex, &mut raw).map_err(|_| MerkleError::BadHash)?;
    Ok(leaf_hash(&raw))
}

/// Why a proof could not be made or did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MerkleError {
    #[error("leaf index {index} is not in a tree of {size} leaves")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("a consistency proof needs from <= to (from {from}, to {to})")]
    SizesOutOfOrder { from: u64, to: u64 },
    #[error("the stored tree has no node at level {level}, index {index}")]
    MissingNode { level: u8, index: u64 },
    #[error("the proof has the wrong number of hashes")]
    WrongLength,
    #[error("the proof does not lead to the expected root")]
    RootMismatch,
    #[error("a compact range of {size} leaves has one peak per bit of its size")]
    BadCompactRange { size: u64 },
    #[error("not a SHA-256 value in hex")]
    BadHash,
}

/// A complete subtree: leaves `[index·2^level, (index+1)·2^level)`. Level 0 is a leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    pub level: u8,
    pub index: u64,
}

impl NodeId {
    pub fn new(level: u8, index: u64) -> Self {
        Self { level, index }
    }

    /// The index of its first leaf.
    pub fn first_leaf(self) -> u64 {
        self.index << self.level
    }

    /// How many leaves it covers.
    pub fn width(self) -> u64 {
        1 << self.level
    }
}

/// The largest power of two strictly smaller than `n` (`n >= 2`): RFC 9162's split point `k`.
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (n - 1).ilog2()
}

/// The complete subtrees, left to right, whose right fold ([`fold`]) is the Merkle Tree Hash of
/// leaves `[begin, end)` as the RFC 9162 split places them: `begin` must be 0 or a multiple of a
/// power of two at least `end - begin` (true of every range the split makes). One per set bit of
/// `end - begin`, largest first.
pub fn span_nodes(begin: u64, end: u64) -> Vec<NodeId> {
    let mut out = Vec::with_capacity((end - begin).count_ones() as usize);
    let mut at = begin;
    let size = end - begin;
    for level in (0..64u8).rev() {
        if size & (1 << level) != 0 {
            out.push(NodeId::new(level, at >> level));
            at += 1 << level;
        }
    }
    out
}

/// The complete subtrees whose fold is the root of a tree of `size` leaves.
pub fn root_nodes(size: u64) -> Vec<NodeId> {
    span_nodes(0, size)
}

/// The Merkle Tree Hash of consecutive subtrees, largest (leftmost) first: each split of RFC 9162
/// §2.1.1 puts the largest complete subtree on the left, so the hash is folded from the right.
/// The empty list is the empty tree.
pub fn fold(hashes: &[Hash]) -> Hash {
    let Some((last, rest)) = hashes.split_last() else {
        return empty_root();
    };
    rest.iter().rev().fold(*last, |acc, h| node_hash(h, &acc))
}

/// The right edge of a tree: the hashes of the complete subtrees of [`root_nodes`] (its
/// "peaks"), enough to append a leaf in O(log n) and to compute the root. What a writer keeps
/// per chain between appends, or re-reads (popcount(size) rows).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CompactRange {
    size: u64,
    peaks: Vec<Hash>,
}

impl CompactRange {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// The range of a tree of `size` leaves from the hashes of its [`root_nodes`], in order.
    pub fn from_peaks(size: u64, peaks: Vec<Hash>) -> Result<Self, MerkleError> {
        if peaks.len() != size.count_ones() as usize {
            return Err(MerkleError::BadCompactRange { size });
        }
        Ok(Self { size, peaks })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn peaks(&self) -> &[Hash] {
        &self.peaks
    }

    /// The Merkle Tree Hash of the leaves appended so far.
    pub fn root(&self) -> Hash {
        fold(&self.peaks)
    }

    /// Appends the leaf with hash `leaf` (a [`leaf_hash`]) and pushes onto `completed` every
    /// node this completes: the leaf itself (level 0), then each subtree it closes, lowest
    /// first. These are exactly the nodes a store writes for the append; none is ever written
    /// twice.
    pub fn append(&mut self, leaf: Hash, completed: &mut Vec<(NodeId, Hash)>) {
        let index = self.size;
        completed.push((NodeId::new(0, index), leaf));
        let mut hash = leaf;
        // Each trailing one bit of the old size is a peak of the same level as the new subtree
        // on its right: they merge, one level up.
        let mut level = 0u8;
        while index & (1 << level) != 0 {
            let left = self.peaks.pop().expect("one peak per set bit of the size");
            hash = node_hash(&left, &hash);
            level += 1;
            completed.push((NodeId::new(level, index >> level), hash));
        }
        self.peaks.push(hash);
        self.size += 1;
    }
}

/// What a proof is made of, before any node is read: for each proof hash in order, the complete
/// subtrees whose [`fold`] it is. A store reads [`ProofPlan::nodes`] (O(log n) of them, in one
/// query) and [`ProofPlan::assemble`]s the proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofPlan {
    steps: Vec<Vec<NodeId>>,
}

impl ProofPlan {
    /// The audit path of leaf `index` in the tree of `size` leaves (RFC 9162 §2.1.3.1, `PATH`).
    pub fn inclusion(index: u64, size: u64) -> Result<Self, MerkleError> {
        if index >= size {
            return Err(MerkleError::IndexOutOfRange { index, size });
        }
        let (mut begin, mut end) = (0, size);
        let mut steps = Vec::new();
        while end - begin > 1 {
            let k = split(end - begin);
            if index < begin + k {
                steps.push(span_nodes(begin + k, end));
                end = begin + k;
            } else {
                steps.push(span_nodes(begin, begin + k));
                begin += k;
            }
        }
        // The recursion appends each sibling after the path below it: deepest first.
        steps.reverse();
        Ok(Self { steps })
    }

    /// The proof that the tree of `to` leaves extends the tree of `from` leaves (RFC 9162
    /// §2.1.4.1, `PROOF(m, D[n]) = SUBPROOF(m, D[n], true)`). Empty when `from` is 0 or equal to
    /// `to`: the empty tree is a prefix of every tree, and a tree of itself.
    pub fn consistency(from: u64, to: u64) -> Result<Self, MerkleError> {
        if from > to {
            return Err(MerkleError::SizesOutOfOrder { from, to });
        }
        let mut steps = Vec::new();
        if from == 0 || from == to {
            return Ok(Self { steps });
        }
        let (mut begin, mut end, mut m, mut whole) = (0, to, from, true);
        loop {
            let n = end - begin;
            if m == n {
                if !whole {
                    steps.push(span_nodes(begin, end));
                }
                break;
            }
            let k = split(n);
            if m <= k {
                steps.push(span_nodes(begin + k, end));
                end = begin + k;
            } else {
                steps.push(span_nodes(begin, begin + k));
                begin += k;
                m -= k;
                whole = false;
            }
        }
        steps.reverse();
        Ok(Self { steps })
    }

    /// Every node the proof needs, once each, in (level, index) order.
    pub fn nodes(&self) -> Vec<NodeId> {
        let mut all: Vec<NodeId> = self.steps.iter().flatten().copied().collect();
        all.sort_unstable();
        all.dedup();
        all
    }

    /// The proof's hashes, from the nodes `lookup` finds (each asked for once per use).
    pub fn assemble(
        &self,
        mut lookup: impl FnMut(NodeId) -> Option<Hash>,
    ) -> Result<Vec<Hash>, MerkleError> {
        self.steps
            .iter()
            .map(|step| {
                let hashes = step
                    .iter()
                    .map(|&id| {
                        lookup(id).ok_or(MerkleError::MissingNode {
                            level: id.level,
                            index: id.index,
                        })
                    })
                    .collect::<Result<Vec<Hash>, MerkleError>>()?;
                Ok(fold(&hashes))
            })
            .collect()
    }
}

/// Reads stored complete-subtree hashes. A store implements it over its node table (or an
/// in-memory map in tests); a missing node is `None`.
pub trait NodeReader {
    fn read_nodes(&self, ids: &[NodeId]) -> Vec<Option<Hash>>;
}

/// The root of a tree of `size` leaves, from stored nodes.
pub fn root_from(reader: &impl NodeReader, size: u64) -> Result<Hash, MerkleError> {
    let ids = root_nodes(size);
    let found = reader.read_nodes(&ids);
    let hashes = ids
        .iter()
        .zip(found)
        .map(|(id, h)| {
            h.ok_or(MerkleError::MissingNode {
                level: id.level,
                index: id.index,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(fold(&hashes))
}

/// Builds a planned proof from a reader: one read of every node the plan needs.
pub fn prove(reader: &impl NodeReader, plan: &ProofPlan) -> Result<Vec<Hash>, MerkleError> {
    let ids = plan.nodes();
    let found: std::collections::HashMap<NodeId, Hash> = ids
        .iter()
        .zip(reader.read_nodes(&ids))
        .filter_map(|(id, h)| h.map(|h| (*id, h)))
        .collect();
    plan.assemble(|id| found.get(&id).copied())
}

/// The root an inclusion proof leads to (RFC 9162 §2.1.3.2).
pub fn root_from_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
) -> Result<Hash, MerkleError> {
    if index >= size {
        return Err(MerkleError::IndexOutOfRange { index, size });
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return Err(MerkleError::WrongLength);
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(MerkleError::WrongLength);
    }
    Ok(r)
}

/// Checks that the leaf with hash `leaf` is at `index` in the tree of `size` leaves whose root
/// is `root` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), MerkleError> {
    if root_from_inclusion(leaf, index, size, proof)? == *root {
        Ok(())
    } else {
        Err(MerkleError::RootMismatch)
    }
}

/// Checks that the tree of `to` leaves with root `new_root` extends the tree of `from` leaves
/// with root `old_root` (RFC 9162 §2.1.4.2). From the empty tree, the proof must be empty.
pub fn verify_consistency(
    from: u64,
    to: u64,
    proof: &[Hash],
    old_root: &Hash,
    new_root: &Hash,
) -> Result<(), MerkleError> {
    if from > to {
        return Err(MerkleError::SizesOutOfOrder { from, to });
    }
    if from == 0 || from == to {
        if !proof.is_empty() {
            return Err(MerkleError::WrongLength);
        }
        return if from == 0 || old_root == new_root {
            Ok(())
        } else {
            Err(MerkleError::RootMismatch)
        };
    }
    let Some((first, rest)) = proof.split_first() else {
        return Err(MerkleError::WrongLength);
    };
    // A power-of-two old tree is itself a node of the new one: its root starts the path.
    let (seed, path) = if from.is_power_of_two() {
        (old_root, proof)
    } else {
        (first, rest)
    };
    let (mut fnode, mut snode) = (from - 1, to - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (*seed, *seed);
    for c in path {
        if snode == 0 {
            return Err(MerkleError::WrongLength);
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(MerkleError::WrongLength);
    }
    if fr == *old_root && sr == *new_root {
        Ok(())
    } else {
        Err(MerkleError::RootMismatch)
    }
}

#[cfg(test)]
#[path = "merkle_tests.rs"]
mod tests;
