//! A committer's check of the beacon evidence in a commit certificate. The certificate's
//! signatures only prove that the committee the beacon selects signed; with more orderers than
//! the committee size, a beacon signed by any key over any chain hash selects any committee
//! its signer likes. So the beacon must be the turn's: signed by the primary that proposed the
//! block, an endorser candidate of the region whose turn it is, over the id of the decided
//! block before the turn's first height.

use crate::membership::Membership;
use medblock_core::keys::PublicKey;
use medblock_core::{Hash32, wire};

/// Why a certificate's beacon was refused (metric reason `beacon`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BeaconCheckError {
    /// A beacon field of the wrong shape.
    #[error("malformed beacon {0}")]
    Malformed(&'static str),
    /// The beacon's signer did not propose the block.
    #[error("beacon signed by {signer}, the block was proposed by {proposer}")]
    NotProposer {
        /// Who signed the beacon.
        signer: String,
        /// Who signed the proposal.
        proposer: String,
    },
    /// The signer is no endorser of the region whose turn it is.
    #[error("beacon signer {signer} is no endorser of turn {turn}'s region {region}")]
    NotTurnsRegion {
        /// Who signed.
        signer: String,
        /// The turn.
        turn: u64,
        /// The region holding it.
        region: String,
    },
    /// The beacon's first height is above the block (a beacon of a later turn).
    #[error("beacon starts at height {start}, after the block at {height}")]
    StartsAfterBlock {
        /// The beacon's first height.
        start: u64,
        /// The block's height.
        height: u64,
    },
    /// The beacon is over another chain than the decided one.
    #[error("beacon chain hash {found} is not the decided block {expected} at height {height}")]
    ChainHash {
        /// Height of the block before the turn.
        height: u64,
        /// The decided block's id there.
        expected: Hash32,
        /// What the beacon names.
        found: Hash32,
    },
    /// The block before the turn is not known here, so the chain hash cannot be checked.
    #[error("block {height} before the turn is unknown here")]
    ChainUnknown {
        /// Its height.
        height: u64,
    },
}

/// The region whose turn `turn` is: regions by name, turn `t` to region `t % n` (the turn
/// machine's fixed order, `consensus::turns`).
fn region_of_turn(membership: &Membership, turn: u64) -> Option<&crate::membership::RegionMembers> {
    let mut regions: Vec<_> = membership.regions.iter().collect();
    regions.sort_by(|a, b| a.name.cmp(&b.name));
    let n = regions.len() as u64;
    let i = usize::try_from(turn.checked_rem(n)?).ok()?;
    regions.get(i).copied()
}

/// Checks `cert`'s beacon (its signature already verified by `certificate::verify`) for a
/// block at `height` proposed by `proposer`: the signer is the proposer and an endorser
/// candidate of the turn's region, and its chain hash is `decided_at(start - 1)`, the decided
/// chain's block before the turn (`Hash32::ZERO` before the first block).
pub fn check_beacon(
    cert: &wire::CommitCertificate,
    height: u64,
    proposer: &PublicKey,
    membership: &Membership,
    decided_at: impl Fn(u64) -> Option<Hash32>,
) -> Result<(), BeaconCheckError> {
    let signer = PublicKey::from_slice(&cert.primary_key)
        .map_err(|_| BeaconCheckError::Malformed("primary key"))?;
    if signer != *proposer {
        return Err(BeaconCheckError::NotProposer {
            signer: signer.to_hex(),
            proposer: proposer.to_hex(),
        });
    }
    let region = region_of_turn(membership, cert.turn)
        .ok_or(BeaconCheckError::Malformed("turn (no regions)"))?;
    if !region.candidates.contains(&signer) {
        return Err(BeaconCheckError::NotTurnsRegion {
            signer: signer.to_hex(),
            turn: cert.turn,
            region: region.name.clone(),
        });
    }
    let start = cert.beacon_start_height;
    if start == 0 || start > height {
        return Err(BeaconCheckError::StartsAfterBlock { start, height });
    }
    let found = Hash32::from_slice(&cert.beacon_chain_hash)
        .ok_or(BeaconCheckError::Malformed("chain hash"))?;
    let before = start - 1;
    let expected = if before == 0 {
        Hash32::ZERO
    } else {
        decided_at(before).ok_or(BeaconCheckError::ChainUnknown { height: before })?
    };
    if found != expected {
        return Err(BeaconCheckError::ChainHash {
            height: before,
            expected,
            found,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::membership::RegionMembers;
    use medblock_core::consensus::beacon::Beacon;
    use medblock_core::consensus::certificate;
    use medblock_core::consensus::committee::select_committee;
    use medblock_core::consensus::statement::{self, VoteKind};
    use medblock_core::keys::SigningKey;

    fn key(i: u8) -> SigningKey {
        SigningKey::from_bytes(&[i; 32]).expect("32 bytes")
    }

    /// Two regions ("east" holds even turns, "west" odd), one candidate each, seven orderers
    /// (more than the committee of four: the beacon chooses among them).
    struct Net {
        east: SigningKey,
        west: SigningKey,
        orderers: Vec<SigningKey>,
        membership: Membership,
    }

    fn net() -> Net {
        let (east, west) = (key(1), key(2));
        let orderers: Vec<SigningKey> = (10..17).map(key).collect();
        let membership = Membership {
            // Genesis order differs from name order on purpose: turns go by name.
            regions: vec![
                RegionMembers {
                    name: "west".into(),
                    voters: vec![west.public()],
                    candidates: vec![west.public()],
                },
                RegionMembers {
                    name: "east".into(),
                    voters: vec![east.public()],
                    candidates: vec![east.public()],
                },
            ],
            orderers: orderers.iter().map(SigningKey::public).collect(),
        };
        Net {
            east,
            west,
            orderers,
            membership,
        }
    }

    /// A certificate for `block` at `height`, its committee chosen by `beacon` and every
    /// member signing the commit: it verifies whoever signed the beacon.
    fn certify(net: &Net, beacon: &Beacon, height: u64, block: Hash32) -> wire::CommitCertificate {
        let eligible = &net.membership.orderers;
        let committee = select_committee(&beacon.seed(), eligible, 4);
        let stmt = statement::vote(beacon.turn, 0, height, &block);
        let commits: Vec<_> = net
            .orderers
            .iter()
            .filter(|k| committee.contains(&k.public()))
            .map(|k| (k.public(), k.sign(VoteKind::Commit.purpose(), &stmt)))
            .collect();
        let cert = certificate::build(beacon.turn, 0, height, block, &commits, Some(beacon));
        certificate::verify(&cert, eligible, 4).expect("the committee signed");
        cert
    }

    const CHAIN: [u8; 32] = [9; 32];

    fn decided(h: u64) -> Option<Hash32> {
        (h == 4).then_some(Hash32(CHAIN))
    }

    #[test]
    fn the_turns_beacon_passes() {
        let n = net();
        // Turn 2 is east's (east < west by name); it starts at height 5, after block 4.
        let beacon = Beacon::sign(&n.east, 2, Hash32(CHAIN), 5);
        let cert = certify(&n, &beacon, 6, Hash32([3; 32]));
        check_beacon(&cert, 6, &n.east.public(), &n.membership, decided).expect("turn's beacon");
    }

    #[test]
    fn a_beacon_signed_by_any_other_key_is_refused() {
        let n = net();
        // An orderer signs a beacon of its own to pick its committee; the certificate verifies.
        let beacon = Beacon::sign(&n.orderers[0], 2, Hash32(CHAIN), 5);
        let cert = certify(&n, &beacon, 6, Hash32([3; 32]));
        let err = check_beacon(&cert, 6, &n.east.public(), &n.membership, decided).unwrap_err();
        assert!(matches!(err, BeaconCheckError::NotProposer { .. }), "{err}");
    }

    #[test]
    fn a_beacon_of_the_other_regions_endorser_is_refused() {
        let n = net();
        // West signs turn 2 (east's) and proposes the block itself.
        let beacon = Beacon::sign(&n.west, 2, Hash32(CHAIN), 5);
        let cert = certify(&n, &beacon, 6, Hash32([3; 32]));
        let err = check_beacon(&cert, 6, &n.west.public(), &n.membership, decided).unwrap_err();
        assert!(
            matches!(&err, BeaconCheckError::NotTurnsRegion { turn: 2, region, .. } if region == "east"),
            "{err}"
        );
    }

    #[test]
    fn a_beacon_over_another_chain_is_refused() {
        let n = net();
        let beacon = Beacon::sign(&n.east, 2, Hash32([8; 32]), 5);
        let cert = certify(&n, &beacon, 6, Hash32([3; 32]));
        let err = check_beacon(&cert, 6, &n.east.public(), &n.membership, decided).unwrap_err();
        assert!(
            matches!(err, BeaconCheckError::ChainHash { height: 4, .. }),
            "{err}"
        );
        // And one whose block before the turn is not known here.
        let beacon = Beacon::sign(&n.east, 2, Hash32(CHAIN), 9);
        let cert = certify(&n, &beacon, 9, Hash32([3; 32]));
        let err = check_beacon(&cert, 9, &n.east.public(), &n.membership, decided).unwrap_err();
        assert_eq!(err, BeaconCheckError::ChainUnknown { height: 8 });
    }

    #[test]
    fn a_beacon_of_a_later_turn_start_is_refused() {
        let n = net();
        let beacon = Beacon::sign(&n.east, 2, Hash32(CHAIN), 7);
        let cert = certify(&n, &beacon, 7, Hash32([3; 32]));
        let err = check_beacon(&cert, 6, &n.east.public(), &n.membership, decided).unwrap_err();
        assert_eq!(
            err,
            BeaconCheckError::StartsAfterBlock {
                start: 7,
                height: 6
            }
        );
    }
}
