//! The libp2p node: one task owns the Swarm; the rest of the node talks to it through typed messages.
//!
//! [`spawn`] starts the network (TCP + noise + yamux; gossipsub, Kademlia, identify and a
//! protobuf request-response protocol in one behaviour) and returns a [`NetworkHandle`] for
//! commands and [`NetworkEvents`] for what arrives. No libp2p type crosses this crate's API:
//! peers are named by their MedBlock [`PublicKey`](medblock_core::keys::PublicKey), which is
//! also their libp2p identity (the node's ed25519 signing key is its libp2p key).
#![deny(missing_docs)]

mod admission;
mod bound;
mod codec;
mod config;
mod error;
mod handle;
mod identity;
pub mod latency;
mod stats;
mod swarm;
mod topic;

pub use config::P2pConfig;
pub use error::P2pError;
pub use handle::{
    GossipId, NetworkEvent, NetworkEvents, NetworkHandle, PeerInfo, ResponseToken, Verdict,
};
pub use identity::{
    peer_id_bytes, peer_id_string, peer_key_from_addr, peer_key_from_peer_id,
    peer_key_from_peer_id_text,
};
pub use stats::P2pStats;
pub use swarm::{Members, Unpinged, spawn};
pub use topic::Topic;
