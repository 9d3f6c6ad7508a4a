//! Helpers shared by the p2p crate's network tests: real nodes on 127.0.0.1 sockets, and
//! waits that poll against a deadline (no fixed sleeps).
#![allow(dead_code)]

use medblock_core::keys::{PublicKey, SigningKey};
use medblock_core::wire::{Event, Hello, NetRequest, Upload, net_request};
use medblock_p2p::{NetworkEvent, NetworkEvents, NetworkHandle, P2pConfig, P2pError, Topic, spawn};
use std::future::Future;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout_at};

pub const DEADLINE: Duration = Duration::from_secs(15);

pub struct Node {
    pub net: NetworkHandle,
    pub events: NetworkEvents,
}

impl Node {
    pub fn key(&self) -> PublicKey {
        self.net.local_key()
    }

    pub fn addr(&self) -> String {
        self.net
            .listen_addrs()
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("node has no listen address"))
    }
}

pub fn signing(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32]).unwrap_or_else(|e| panic!("test key: {e}"))
}

pub fn config(seed: u8, bootstrap: Vec<String>) -> P2pConfig {
    let mut cfg = P2pConfig::new(signing(seed), "/ip4/127.0.0.1/tcp/0");
    cfg.bootstrap = bootstrap;
    cfg.request_timeout = Duration::from_secs(5);
    cfg.discovery_interval = Duration::from_secs(1);
    // Most tests run no certificate handshake; those about the gate turn the timer on.
    cfg.handshake_timeout = None;
    cfg
}

/// Each node admits every other one (what the node's certificate handshake does), so they
/// gossip with each other.
pub async fn admit_all(nodes: &[&NetworkHandle]) {
    for a in nodes {
        for b in nodes {
            if a.local_key() != b.local_key() {
                a.admit(b.local_key()).await;
            }
        }
    }
}

pub async fn start(cfg: P2pConfig) -> Node {
    let (net, events) = spawn(cfg)
        .await
        .unwrap_or_else(|e| panic!("spawn failed: {e}"));
    Node { net, events }
}

/// Polls `check` until it returns true, or fails the test with `what` at the deadline.
pub async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let end = Instant::now() + DEADLINE;
    loop {
        if check().await {
            return;
        }
        assert!(Instant::now() < end, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Receives from `rx` until an event satisfies `pred` (others are discarded).
pub async fn next_matching(
    rx: &mut mpsc::Receiver<NetworkEvent>,
    what: &str,
    mut pred: impl FnMut(&NetworkEvent) -> bool,
) -> NetworkEvent {
    let end = Instant::now() + DEADLINE;
    loop {
        match timeout_at(end, rx.recv()).await {
            Ok(Some(ev)) if pred(&ev) => return ev,
            Ok(Some(_)) => {}
            Ok(None) => panic!("event channel closed while waiting for {what}"),
            Err(_) => panic!("timed out waiting for {what}"),
        }
    }
}

pub async fn connected_to(node: &NetworkHandle, keys: &[PublicKey]) -> bool {
    let peers = node.peers().await;
    keys.iter().all(|k| peers.iter().any(|p| p.key == *k))
}

/// Publishes, retrying while the subscription has not propagated yet.
pub async fn publish_when_ready(node: &NetworkHandle, topic: Topic, data: Vec<u8>) {
    let end = Instant::now() + DEADLINE;
    loop {
        match node.publish(topic, data.clone()).await {
            Ok(()) => return,
            Err(P2pError::InsufficientPeers { .. }) if Instant::now() < end => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("publish failed: {e}"),
        }
    }
}

pub fn hello(height: u64) -> NetRequest {
    NetRequest {
        kind: Some(net_request::Kind::Hello(Hello {
            genesis_hash: vec![9; 32],
            certificate: None,
            height,
            http_address: "http://127.0.0.1:1".into(),
        })),
    }
}

pub fn upload() -> NetRequest {
    NetRequest {
        kind: Some(net_request::Kind::Upload(Upload {
            event: Some(Event::default()),
            upload_within_ms: 0,
        })),
    }
}

pub fn is_request(ev: &NetworkEvent) -> bool {
    matches!(ev, NetworkEvent::Request { .. })
}

/// `node` answers every request (light, consensus or other) with an ACK, forever.
pub fn answer_all(node: Node) -> tokio::task::JoinHandle<()> {
    let Node { net, mut events } = node;
    tokio::spawn(async move {
        loop {
            let ev = tokio::select! {
                Some(ev) = events.light.recv() => ev,
                Some(ev) = events.consensus.recv() => ev,
                Some(ev) = events.other.recv() => ev,
                else => return,
            };
            if let NetworkEvent::Request { token, .. } = ev {
                let ack = medblock_core::wire::NetResponse {
                    kind: Some(medblock_core::wire::net_response::Kind::Ack(true)),
                };
                let _ = net.respond(token, ack).await;
            }
        }
    })
}
