//! The upper nodes of each tenant's Merkle tree, and the roots of the sizes asked for, kept in
//! memory for the proof reads ([`crate::ledger`]).
//!
//! Neither can ever be wrong, so nothing invalidates them: a stored node is the hash of a
//! complete subtree, written once in the transaction that completed it and never changed (the
//! table's triggers refuse updates and deletes), and the root of the tree of `size` leaves is a
//! fold of such nodes. Only nodes at [`CACHED_LEVEL`] and above are kept: they are few (one per
//! 2^`CACHED_LEVEL` leaves) and on every proof's path, where each one not kept is a read of a
//! page of its own in a table of millions of rows, most of which a read connection's page cache
//! does not hold. Both maps are bounded; one that fills is emptied and filled again by the reads
//! that follow.

use accord_domain::ids::TenantId;
use accord_domain::ledger::merkle::{Hash, NodeId};
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// The lowest level kept: a node per 256 leaves, about 4,000 per million events (128 KB).
pub(crate) const CACHED_LEVEL: u8 = 8;

/// Nodes kept at most, all tenants together (about 5 MB).
const MAX_NODES: usize = 1 << 16;

/// Roots kept at most: the sizes proofs are asked for are those of signed checkpoints.
const MAX_ROOTS: usize = 4096;

#[derive(Debug, Default)]
pub(crate) struct TreeCache {
    nodes: Mutex<HashMap<(TenantId, NodeId), Hash>>,
    roots: Mutex<HashMap<(TenantId, u64), Hash>>,
}

/// A map in which no entry is ever half-written, so a panic elsewhere while its lock was held
/// leaves it usable.
fn lock<K, V>(map: &Mutex<HashMap<K, V>>) -> MutexGuard<'_, HashMap<K, V>> {
    map.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Inserts into a bounded map, emptying it first when full.
fn keep<K: std::hash::Hash + Eq, V>(map: &mut HashMap<K, V>, max: usize, key: K, value: V) {
    if map.len() >= max && !map.contains_key(&key) {
        map.clear();
    }
    map.insert(key, value);
}

impl TreeCache {
    /// Whether a node is one this cache keeps.
    pub(crate) fn keeps(id: NodeId) -> bool {
        id.level >= CACHED_LEVEL
    }

    /// The kept nodes among `ids`, `None` for the others (in `ids`' order).
    pub(crate) fn nodes(&self, tenant: TenantId, ids: &[NodeId]) -> Vec<Option<Hash>> {
        let nodes = lock(&self.nodes);
        ids.iter()
            .map(|id| nodes.get(&(tenant, *id)).copied())
            .collect()
    }

    /// Keeps the nodes read from the store that are at [`CACHED_LEVEL`] or above.
    pub(crate) fn keep_nodes(&self, tenant: TenantId, read: &[(NodeId, Hash)]) {
        if !read.iter().any(|(id, _)| Self::keeps(*id)) {
            return;
        }
        let mut nodes = lock(&self.nodes);
        for (id, hash) in read.iter().filter(|(id, _)| Self::keeps(*id)) {
            keep(&mut nodes, MAX_NODES, (tenant, *id), *hash);
        }
    }

    /// The root of the tenant's tree of `size` leaves, if kept.
    pub(crate) fn root(&self, tenant: TenantId, size: u64) -> Option<Hash> {
        lock(&self.roots).get(&(tenant, size)).copied()
    }

    pub(crate) fn keep_root(&self, tenant: TenantId, size: u64, root: Hash) {
        keep(&mut lock(&self.roots), MAX_ROOTS, (tenant, size), root);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_upper_nodes_are_kept_and_a_full_map_starts_over() {
        let cache = TreeCache::default();
        let t = TenantId(uuid::Uuid::nil());
        let (low, high) = (
            NodeId::new(CACHED_LEVEL - 1, 3),
            NodeId::new(CACHED_LEVEL, 3),
        );
        cache.keep_nodes(t, &[(low, [1; 32]), (high, [2; 32])]);
        assert_eq!(cache.nodes(t, &[low, high]), vec![None, Some([2; 32])]);

        for size in 0..MAX_ROOTS as u64 {
            cache.keep_root(t, size, [3; 32]);
        }
        assert_eq!(cache.root(t, 0), Some([3; 32]));
        cache.keep_root(t, u64::MAX, [4; 32]);
        assert_eq!(cache.root(t, 0), None);
        assert_eq!(cache.root(t, u64::MAX), Some([4; 32]));
    }
}
