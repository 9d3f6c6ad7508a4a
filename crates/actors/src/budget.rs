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

/// The certified peers this node does not ping ([`medblock_p2p::Unpinged`]): every node
/// certified in `state` without a consensus role. Pings exist to find a paused peer, and only a
/// hub's pause is waited for (a paused orderer stalls its rounds, a paused endorser its turns,
/// and every voter watches its region's endorser); a paused department or committer stalls
/// nobody. Every node still pings the hubs, and answers every ping. A peer not certified in
/// force (a node added whose certificate is not decided yet, a light node) is pinged.
pub fn unpinged(state: &ConfigState) -> HashSet<PublicKey> {
    state
        .in_force()
        .filter(|c| !is_hub(c))
        .map(|c| c.key)
        .collect()
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
