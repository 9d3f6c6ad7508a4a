//! The Merkle tree over a block's event hashes, so that a light node can check that one event
//! is in a block from the block header alone.
//!
//! Leaves and inner nodes are hashed under different tags (no second-preimage trick can pass an
//! inner node off as a leaf), and an odd node is carried up unchanged rather than paired with a
//! copy of itself (no two different lists share a root, unlike Bitcoin's duplication).

use crate::hash::{Hash32, tagged_hash};

fn leaf(h: &Hash32) -> Hash32 {
    tagged_hash("medblock/merkle-leaf/v1", &[h.as_bytes()])
}

fn node(l: &Hash32, r: &Hash32) -> Hash32 {
    tagged_hash("medblock/merkle-node/v1", &[l.as_bytes(), r.as_bytes()])
}

/// One level up: pairs are hashed together, an odd last node is carried up unchanged.
fn parent_level(level: &[Hash32]) -> Vec<Hash32> {
    level
        .chunks(2)
        .map(|pair| match pair {
            [l, r] => node(l, r),
            [one] => *one,
            _ => Hash32::ZERO,
        })
        .collect()
}

/// The root over `hashes` in order; the zero hash for no hashes.
pub fn merkle_root(hashes: &[Hash32]) -> Hash32 {
    if hashes.is_empty() {
        return Hash32::ZERO;
    }
    let mut level: Vec<Hash32> = hashes.iter().map(leaf).collect();
    while level.len() > 1 {
        level = parent_level(&level);
    }
    level.first().copied().unwrap_or(Hash32::ZERO)
}

/// One step of an inclusion proof: the sibling's hash and on which side it stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProofStep {
    /// The sibling node.
    pub sibling: Hash32,
    /// True when the sibling is the left child.
    pub sibling_on_left: bool,
}

/// The path from one leaf to the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerkleProof {
    /// Index of the leaf.
    pub index: usize,
    /// Siblings from the leaf up.
    pub steps: Vec<ProofStep>,
}

/// The inclusion proof of `hashes[index]`; `None` when `index` is out of range.
pub fn merkle_proof(hashes: &[Hash32], index: usize) -> Option<MerkleProof> {
    if index >= hashes.len() {
        return None;
    }
    let mut level: Vec<Hash32> = hashes.iter().map(leaf).collect();
    let mut pos = index;
    let mut steps = Vec::new();
    while level.len() > 1 {
        let sibling = pos ^ 1;
        if let Some(s) = level.get(sibling) {
            steps.push(ProofStep {
                sibling: *s,
                sibling_on_left: sibling < pos,
            });
        }
        level = parent_level(&level);
        pos /= 2;
    }
    Some(MerkleProof { index, steps })
}

/// Every level of the tree over a block's hashes, built once, so that a peer proving several
/// events of one block (a patient's visits) hashes the tree once rather than once per proof.
#[derive(Debug, Clone)]
pub struct MerkleTree {
    levels: Vec<Vec<Hash32>>,
}

impl MerkleTree {
    /// The tree over `hashes` in order.
    pub fn new(hashes: &[Hash32]) -> Self {
        let mut levels = vec![hashes.iter().map(leaf).collect::<Vec<_>>()];
        while levels.last().is_some_and(|l| l.len() > 1) {
            let next = parent_level(levels.last().map(Vec::as_slice).unwrap_or_default());
            levels.push(next);
        }
        Self { levels }
    }

    /// The inclusion proof of leaf `index` (same as [`merkle_proof`]); `None` when out of range.
    pub fn proof(&self, index: usize) -> Option<MerkleProof> {
        if index >= self.levels.first().map_or(0, Vec::len) {
            return None;
        }
        let mut pos = index;
        let mut steps = Vec::new();
        for level in self.levels.iter().take(self.levels.len().saturating_sub(1)) {
            let sibling = pos ^ 1;
            if let Some(s) = level.get(sibling) {
                steps.push(ProofStep {
                    sibling: *s,
                    sibling_on_left: sibling < pos,
                });
            }
            pos /= 2;
        }
        Some(MerkleProof { index, steps })
    }
}

/// Whether `event_hash` is leaf `proof.index` of the `leaf_count`-leaf tree under `root`.
///
/// `root` and `leaf_count` come from the block header (`merkle_root`, `event_count`), never from
/// the proof: the sides of the siblings and the levels where a node is carried up without one
/// follow from the index and the tree size, so a proof checks against both and is refused for
/// any other position or size.
pub fn verify_proof(
    root: &Hash32,
    leaf_count: usize,
    event_hash: &Hash32,
    proof: &MerkleProof,
) -> bool {
    if proof.index >= leaf_count {
        return false;
    }
    let mut acc = leaf(event_hash);
    let mut steps = proof.steps.iter();
    let (mut pos, mut width) = (proof.index, leaf_count);
    while width > 1 {
        let sibling = pos ^ 1;
        if sibling < width {
            let Some(step) = steps.next() else {
                return false;
            };
            if step.sibling_on_left != (sibling < pos) {
                return false;
            }
            acc = if step.sibling_on_left {
                node(&step.sibling, &acc)
            } else {
                node(&acc, &step.sibling)
            };
        }
        pos /= 2;
        width = width.div_ceil(2);
    }
    steps.next().is_none() && acc == *root
}
