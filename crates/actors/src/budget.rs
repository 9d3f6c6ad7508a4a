//! How many peers a node keeps. Every connection costs both ends all the time, idle or not
//! (gossipsub's heartbeat and control messages, pings, yamux and noise frames, buffers of a few
//! hundred kilobytes), and gossipsub keeps every connection it ever had open, so a network of
//! N nodes became a full mesh of N(N-1)/2 connections within a minute of Kademlia's walks: 100
//! idle peers used 0.95 of a core and 52 MB each, 20 idle peers 0.09 and 43 MB.
//!
//! The nodes with a consensus role (orderers and endorsers: the hubs) keep every peer: every
//! consensus message and every upload goes to them directly, and every node dials them (the
//! bootstrap list of a testnet names them all). Any other node (a committer, a department)
//! keeps its links to the hubs, which carry the blocks and the consensus messages it follows,
//! and at most [`OTHER_PEERS`] links to other such nodes, enough for gossip to reach everyone
//! if the hubs are slow; a connection beyond that is closed as soon as it is reported (before
//! the certificate handshake), without a ban. A peer that holds no certificate in force (a
//! light node, a node not certified yet) is never turned away here: its handshake decides.
//! The budget counts every connected peer, admitted or still in its handshake: counting the
//! admitted ones only let the connections that arrive together at start all pass (a node of a
//! 40-node testnet kept 6-18 others).

use crate::shared::Shared;
use medblock_core::cert::VerifiedCertificate;
use medblock_core::config::ConfigState;
use medblock_core::keys::PublicKey;
use medblock_core::wire::Role;
use std::collections::HashSet;
use std::time::Duration;

/// Most links a node without a consensus role keeps to other nodes without one.
pub const OTHER_PEERS: usize = 8;

/// How many peers a node without a consensus role dials on its own
/// (`P2pConfig::target_peers`): the hubs of a network of a few regions plus its
/// [`OTHER_PEERS`].
pub const DIAL_TARGET: usize = 2 * OTHER_PEERS;

/// How often a node without a consensus role walks Kademlia (`P2pConfig::discovery_interval`;
/// hubs keep the minute). Each walk dials the peers it asks, and a node that already keeps its
/// [`OTHER_PEERS`] closes those links at once: with a walk a minute, 100 idle peers opened and
/// closed 5-8 connections a second (a noise handshake each), a third of their CPU. A newcomer
/// still walks at start, and the hubs, which every node dials, carry gossip meanwhile.
pub const DISCOVERY_INTERVAL: Duration = Duration::from_secs(30 * 60);

/// Whether the certificate's holder is a hub: an orderer or an endorser.
pub fn is_hub(certificate: &VerifiedCertificate) -> bool {
    certificate.has_role(Role::Orderer) || certificate.has_role(Role::Endorser)
}

/// The certified peers this node does not ping ([`medblock_p2p::Unpinged`]). Pings exist to
/// find a paused peer, and a node pings only the peers whose pause it acts on:
/// * a hub pings the other hubs: a paused orderer stalls its rounds (its replicas change the
///   view), a paused endorser its turns (the other endorsers skip it, the committee ends it);
/// * any other node (a committer, a department) pings the endorser candidates of its own
///   region: as a voter it watches its region's endorser and votes a paused one out, and a
///   department uploads through it. Nothing it does waits on an orderer or on another
///   region's endorser: on a 100-peer idle network each such node pinged all 8 hubs, each ping
///   cost it about six wakeups, and each hub answered 46 pings a second.
///
/// Every node still answers every ping. A peer not certified in force (a node added whose
/// certificate is not decided yet, a light node) is pinged.
pub fn unpinged(state: &ConfigState, me: &VerifiedCertificate) -> HashSet<PublicKey> {
    let hub = is_hub(me);
    state
        .in_force()
        .filter(|c| {
            if hub {
                !is_hub(c)
            } else {
                !(c.has_role(Role::Endorser) && c.body.region == me.body.region)
            }
        })
        .map(|c| c.key)
        .collect()
}

/// The network's members for the p2p layer's connection limits ([`medblock_p2p::Members`]):
/// every node certified in the configuration in force. Their connections are never refused
/// for the total (`P2pConfig::max_connections` bounds the others'), so a hub keeps every member
/// of a network of any size; a revocation moves its holder back among the others (its
/// connections are closed then anyway).
pub fn members(state: &ConfigState) -> HashSet<PublicKey> {
    state.in_force().map(|c| c.key).collect()
}

/// Whether the connection just reported with `key` goes beyond this node's budget and is to be
/// closed: this node is not a hub, `key` is a node certified in the configuration in force
/// that is not a hub either, and this node is already connected to [`OTHER_PEERS`] such peers.
pub async fn beyond(ctx: &Shared, key: &PublicKey) -> bool {
    if is_hub(&ctx.certificate) {
        return false;
    }
    let config = ctx.config();
    let ordinary: HashSet<PublicKey> = config
        .state
        .in_force()
        .filter(|c| !is_hub(c))
        .map(|c| c.key)
        .collect();
    if !ordinary.contains(key) {
        return false;
    }
    let kept = ctx
        .net
        .peers()
        .await
        .into_iter()
        .filter(|p| p.key != *key && ordinary.contains(&p.key))
        .count();
    kept >= OTHER_PEERS
}

#[cfg(test)]
mod tests {
    use super::*;
    use medblock_core::cert::CertificateAuthority;
    use medblock_core::genesis::{GenesisSpec, build_genesis, default_params, verify_genesis};
    use medblock_core::keys::SigningKey;
    use medblock_core::wire;
    use prost::Message;

    /// A two-region network: per region two endorser candidates and a committer, and two
    /// orderers in region-1.
    fn network() -> ConfigState {
        let ca = CertificateAuthority::new(SigningKey::from_bytes(&[1; 32]).expect("ca key"));
        let nodes = [
            ("r1-endorser-a", "region-1", Role::Endorser),
            ("r1-endorser-b", "region-1", Role::Endorser),
            ("r2-endorser-a", "region-2", Role::Endorser),
            ("r2-endorser-b", "region-2", Role::Endorser),
            ("orderer-1", "region-1", Role::Orderer),
            ("orderer-2", "region-1", Role::Orderer),
            ("committer-1", "region-1", Role::Committer),
            ("committer-2", "region-2", Role::Committer),
        ];
        let certificates = nodes
            .iter()
            .enumerate()
            .map(|(i, (name, region, role))| {
                let key = SigningKey::from_bytes(&[10 + i as u8; 32]).expect("key");
                ca.issue(wire::CertificateBody {
                    serial: 1 + i as u64,
                    name: (*name).into(),
                    hospital: "st-mary".into(),
                    region: (*region).into(),
                    roles: vec![*role as i32],
                    public_key: key.public().as_bytes().to_vec(),
                    not_before_ms: 0,
                    not_after_ms: u64::MAX / 2,
                    ..Default::default()
                })
            })
            .collect();
        let genesis = build_genesis(
            &ca,
            &GenesisSpec {
                network: "budget".into(),
                regions: vec!["region-1".into(), "region-2".into()],
                certificates,
                regulator: None,
                params: default_params(),
                created_at_ms: 0,
            },
        );
        ConfigState::from_genesis(&verify_genesis(&genesis.encode_to_vec()).expect("genesis"))
    }

    fn pinged_by(state: &ConfigState, name: &str) -> Vec<String> {
        let me = state
            .in_force()
            .find(|c| c.body.name == name)
            .expect("certified")
            .clone();
        let unpinged = unpinged(state, &me);
        let mut names: Vec<String> = state
            .in_force()
            .filter(|c| c.key != me.key && !unpinged.contains(&c.key))
            .map(|c| c.body.name.clone())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_hub_pings_the_hubs_and_any_other_node_its_regions_endorsers() {
        let state = network();
        // An orderer watches every orderer (its replicas' leaders) and every endorser (the
        // turns' primaries); never a committer.
        assert_eq!(
            pinged_by(&state, "orderer-1"),
            [
                "orderer-2",
                "r1-endorser-a",
                "r1-endorser-b",
                "r2-endorser-a",
                "r2-endorser-b"
            ]
        );
        assert_eq!(
            pinged_by(&state, "r2-endorser-a"),
            [
                "orderer-1",
                "orderer-2",
                "r1-endorser-a",
                "r1-endorser-b",
                "r2-endorser-b"
            ]
        );
        // A committer votes in its region's elections: it watches that region's endorser
        // candidates only, not the orderers nor the other region.
        assert_eq!(
            pinged_by(&state, "committer-1"),
            ["r1-endorser-a", "r1-endorser-b"]
        );
        assert_eq!(
            pinged_by(&state, "committer-2"),
            ["r2-endorser-a", "r2-endorser-b"]
        );
    }
}
