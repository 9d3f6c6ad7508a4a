//! Issue 17 point 2 and the challenge half of point 4, on a real network: a light node's
//! connections carry a fresh transport key, never the patient's ledger key (so a peer's
//! connection table does not tie his key to his address), while his signed queries still
//! prove the ledger key; and a challenge naming another peer's key than the one dialled is
//! refused with a typed error.

mod common;

use common::enrol::enrol_like_cli;

use common::cluster::{Cluster, block_on};
use medblock_actors::client::Visit;
use medblock_core::keys::{Identity, PublicKey};
use medblock_core::wire::{self, net_request, net_response};
use medblock_node::patient::{LightNode, PatientError};
use medblock_p2p::{NetworkEvent, P2pConfig};
use std::time::Duration;

const T: Duration = Duration::from_secs(5);

/// A peer that hands out challenges naming `named` instead of its own key.
async fn misnaming_peer(identity: Identity, named: PublicKey) -> medblock_p2p::NetworkHandle {
    let (net, mut events) = medblock_p2p::spawn(P2pConfig::new(
        identity.signing.clone(),
        "/ip4/127.0.0.1/tcp/0",
    ))
    .await
    .expect("peer network");
    let handle = net.clone();
    tokio::spawn(async move {
        while let Some(ev) = events.light.recv().await {
            let NetworkEvent::Request { request, token, .. } = ev else {
                continue;
            };
            let kind = match request.kind {
                Some(net_request::Kind::Challenge(_)) => {
                    net_response::Kind::Challenge(wire::Challenge {
                        nonce: rand::random::<[u8; 32]>().to_vec(),
                        peer_key: named.as_bytes().to_vec(),
                        expires_at_ms: u64::MAX,
                    })
                }
                _ => net_response::Kind::Ack(false),
            };
            let _ = handle
                .respond(token, wire::NetResponse { kind: Some(kind) })
                .await;
        }
    });
    net
}

#[test]
fn a_light_node_connects_under_a_fresh_transport_key_and_checks_the_challenge_peer() {
    let c = Cluster::with_regulator();
    let alice = Identity::generate(&mut rand::rng());
    let me = alice.signing.public();
    enrol_like_cli(&c, "h1-cardiology", &alice, "alice");
    let node = c.node(c.index("h1-cardiology")).node.clone();
    let visit = Visit {
        patient: "alice".into(),
        diagnosis: "diagnosis".into(),
        examination_results: "exam".into(),
        treatment_plan: "plan".into(),
        emr: Some("{\"emr\": \"full record\"}".into()),
        upload_within_ms: 0,
    };
    let done = block_on(async move {
        node.submit(vec![visit], true, Duration::from_secs(120))
            .await
    })
    .expect("visit committed");
    let height = done.iter().map(|o| o.height).max().unwrap_or(0);
    let o1 = c.index("orderer-1");
    c.wait_for(
        "orderer-1 to commit the visit",
        Duration::from_secs(60),
        |st| st.iter().any(|(i, s)| *i == o1 && s.height >= height),
    );
    let orderer = c.node(o1).node.ctx.net.clone();
    let orderer_key = c.node(o1).node.ctx.key();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let light = LightNode::start(alice.clone(), &c.genesis, &[c.p2p_addr("orderer-1")], T)
            .await
            .expect("light node");
        let transport = light.transport_key();
        assert_ne!(transport, me, "the transport key is not the ledger key");

        // The records query still proves the ledger key, inside the signed query.
        let answer = light.records_from(orderer_key, &me).await.expect("records");
        assert_eq!(answer.records.len(), 1);
        assert_eq!(answer.peer, orderer_key);

        // The orderer's connection table holds the session's transport key, never Alice's.
        let peers = orderer.peers().await;
        assert!(
            peers.iter().any(|p| p.key == transport),
            "the light node is connected under its transport key: {:?}",
            peers.iter().map(|p| p.key).collect::<Vec<_>>()
        );
        assert!(
            peers.iter().all(|p| p.key != me),
            "no peer of the orderer is known under the patient's key"
        );

        // A second session uses another fresh key.
        let again = LightNode::start(alice.clone(), &c.genesis, &[c.p2p_addr("orderer-1")], T)
            .await
            .expect("second light node");
        assert_ne!(again.transport_key(), transport);
        assert_ne!(again.transport_key(), me);
        again.shutdown().await;

        // A peer whose challenge names another key (here the orderer's, as a relay would) is
        // refused before anything is signed over it.
        let relay_id = Identity::generate(&mut rand::rng());
        let relay_key = relay_id.signing.public();
        let relay = misnaming_peer(relay_id, orderer_key).await;
        let mut light = light;
        light
            .add_peer(relay.listen_addrs().first().expect("relay address"))
            .await
            .expect("dial the relay");
        let e = light.records_from(relay_key, &me).await.unwrap_err();
        match e {
            PatientError::WrongChallengePeer { asked, .. } => assert_eq!(asked, relay_key),
            other => panic!("expected WrongChallengePeer, got {other}"),
        }
        relay.shutdown().await;
        light.shutdown().await;
    });
}
