//! An outsider: a raw libp2p peer with a fresh key and no certificate that speaks MedBlock's
//! transport (TCP, noise, yamux), identify and gossipsub, subscribes to every MedBlock topic,
//! takes every message it is sent, and redials whenever it is disconnected. It is what an
//! attacker who learned one node's address would run, and measures what such a peer collects.

use futures::StreamExt;
use libp2p::gossipsub::{self, MessageAuthenticity, ValidationMode};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, identify, noise, tcp, yamux};
use std::time::Duration;
use tokio::time::Instant;

/// What the outsider saw during its watch.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// Gossip messages received, on any topic.
    pub gossip_messages: usize,
    /// Their payload bytes.
    pub gossip_bytes: usize,
    /// Connections the node let it open.
    pub connections: usize,
    /// How long each closed connection lasted.
    pub closed_after: Vec<Duration>,
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    gossipsub: gossipsub::Behaviour,
    identify: identify::Behaviour,
}

/// Dials `addr` and watches for `window`, redialling after every disconnection.
pub async fn watch(addr: &str, window: Duration) -> Seen {
    let addr: Multiaddr = addr.parse().expect("node address");
    let key = libp2p::identity::Keypair::generate_ed25519();
    // MedBlock gossip is anonymous (no source, no sequence number), so libp2p's default id
    // would give every message the same id and count one; ids are content hashes, as the
    // nodes' are.
    let cfg = gossipsub::ConfigBuilder::default()
        .validation_mode(ValidationMode::Anonymous)
        .message_id_fn(|m: &gossipsub::Message| {
            let id = medblock_core::hash::tagged_hash(
                "medblock/gossip-id/v1",
                &[m.topic.as_str().as_bytes(), &m.data],
            );
            gossipsub::MessageId::new(id.as_bytes())
        })
        .max_transmit_size(8 * 1024 * 1024)
        .build()
        .expect("gossipsub config");
    let mut gossipsub =
        gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, cfg).expect("gossipsub");
    for topic in medblock_p2p::Topic::ALL {
        gossipsub
            .subscribe(&gossipsub::IdentTopic::new(topic.as_str()))
            .expect("subscribe");
    }
    let identify =
        identify::Behaviour::new(identify::Config::new("/medblock/1".into(), key.public()));
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .expect("transport")
        .with_behaviour(|_| Behaviour {
            gossipsub,
            identify,
        })
        .expect("behaviour")
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
        .build();
    swarm.dial(addr.clone()).expect("dial");
    let end = Instant::now() + window;
    let mut seen = Seen::default();
    let mut opened: Option<Instant> = None;
    let mut redial = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(end) => return seen,
            _ = redial.tick() => {
                if opened.is_none() && !swarm.is_connected(&peer_of(&addr)) {
                    let _ = swarm.dial(addr.clone());
                }
            }
            ev = swarm.select_next_some() => match ev {
                SwarmEvent::ConnectionEstablished { .. } => {
                    seen.connections += 1;
                    opened = Some(Instant::now());
                }
                SwarmEvent::ConnectionClosed { num_established: 0, .. } => {
                    if let Some(t) = opened.take() {
                        seen.closed_after.push(t.elapsed());
                    }
                }
                SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                    message, ..
                })) => {
                    seen.gossip_messages += 1;
                    seen.gossip_bytes += message.data.len();
                }
                _ => {}
            },
        }
    }
}

fn peer_of(addr: &Multiaddr) -> libp2p::PeerId {
    match addr.iter().last() {
        Some(libp2p::multiaddr::Protocol::P2p(p)) => p,
        _ => panic!("the node address must end in /p2p/<peer id>"),
    }
}
