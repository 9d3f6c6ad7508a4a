//! Merkle inclusion proofs over a block's event hashes.

use medblock_core::hash::{Hash32, sha256};
use medblock_core::merkle::{MerkleProof, merkle_proof, merkle_root, verify_proof};
use proptest::prelude::*;

fn hashes(n: usize, salt: u64) -> Vec<Hash32> {
    (0..n as u64)
        .map(|i| sha256(&[salt.to_be_bytes(), i.to_be_bytes()].concat()))
        .collect()
}

#[test]
fn empty_and_single() {
    assert_eq!(merkle_root(&[]), Hash32::ZERO);
    assert_eq!(merkle_proof(&[], 0), None);
    let one = hashes(1, 0);
    let root = merkle_root(&one);
    assert_ne!(root, one[0], "a leaf is hashed under its own tag");
    let proof = merkle_proof(&one, 0).unwrap();
    assert!(proof.steps.is_empty());
    assert!(verify_proof(&root, 1, &one[0], &proof));
    assert!(!verify_proof(&root, 2, &one[0], &proof));
    assert_eq!(merkle_proof(&one, 1), None);
}

#[test]
fn every_proof_of_every_small_tree() {
    for n in 1..=33 {
        let hs = hashes(n, n as u64);
        let root = merkle_root(&hs);
        for i in 0..n {
            let proof = merkle_proof(&hs, i).unwrap();
            assert_eq!(proof.index, i);
            assert!(verify_proof(&root, n, &hs[i], &proof), "n={n} i={i}");
            // The same proof claimed for any other position fails.
            for j in 0..n {
                if j != i {
                    let moved = MerkleProof {
                        index: j,
                        ..proof.clone()
                    };
                    assert!(
                        !verify_proof(&root, n, &hs[i], &moved),
                        "proof of {i} verifies as index {j} (n={n})"
                    );
                }
            }
            // An index past the end fails (the size comes from the header, with the root).
            let past = MerkleProof {
                index: n,
                ..proof.clone()
            };
            assert!(!verify_proof(&root, n, &hs[i], &past));
        }
        assert_eq!(merkle_proof(&hs, n), None);
    }
}

#[test]
fn no_two_lists_share_a_root() {
    // An odd node is carried up, not duplicated: [a, b, c] and [a, b, c, c] differ.
    let hs = hashes(3, 9);
    let mut dup = hs.clone();
    dup.push(hs[2]);
    assert_ne!(merkle_root(&hs), merkle_root(&dup));
    // Order matters.
    let mut swapped = hs.clone();
    swapped.swap(0, 1);
    assert_ne!(merkle_root(&hs), merkle_root(&swapped));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn proofs_verify_and_tampering_fails(
        n in 1usize..=33,
        salt in any::<u64>(),
        i in any::<prop::sample::Index>(),
        j in any::<prop::sample::Index>(),
        flip_byte in 0usize..32,
        flip_bit in 0u8..8,
    ) {
        let hs = hashes(n, salt);
        let root = merkle_root(&hs);
        let i = i.index(n);
        let proof = merkle_proof(&hs, i).unwrap();
        prop_assert!(verify_proof(&root, n, &hs[i], &proof));

        // Wrong event hash.
        let mut wrong = hs[i];
        wrong.0[flip_byte] ^= 1 << flip_bit;
        prop_assert!(!verify_proof(&root, n, &wrong, &proof));

        // Another leaf's hash with this proof.
        let j = j.index(n);
        if hs[j] != hs[i] {
            prop_assert!(!verify_proof(&root, n, &hs[j], &proof));
        }

        // Wrong index.
        if j != i {
            let moved = MerkleProof { index: j, ..proof.clone() };
            prop_assert!(!verify_proof(&root, n, &hs[i], &moved));
        }

        // Wrong root.
        let mut other_root = root;
        other_root.0[flip_byte] ^= 1 << flip_bit;
        prop_assert!(!verify_proof(&other_root, n, &hs[i], &proof));
        let other_tree = hashes(n, salt.wrapping_add(1));
        prop_assert!(!verify_proof(&merkle_root(&other_tree), n, &hs[i], &proof));

        // A tampered sibling, a flipped side, a dropped or an extra step.
        if !proof.steps.is_empty() {
            let k = flip_byte % proof.steps.len();
            let mut t = proof.clone();
            t.steps[k].sibling.0[flip_byte] ^= 1 << flip_bit;
            prop_assert!(!verify_proof(&root, n, &hs[i], &t));
            let mut t = proof.clone();
            t.steps[k].sibling_on_left = !t.steps[k].sibling_on_left;
            prop_assert!(!verify_proof(&root, n, &hs[i], &t));
            let mut t = proof.clone();
            t.steps.pop();
            prop_assert!(!verify_proof(&root, n, &hs[i], &t));
        }
        let mut t = proof.clone();
        t.steps.push(t.steps.first().copied().unwrap_or(medblock_core::merkle::ProofStep {
            sibling: hs[0],
            sibling_on_left: false,
        }));
        prop_assert!(!verify_proof(&root, n, &hs[i], &t));
    }
}
