//! `NetworkHandle::request_connected`: the certificate handshake's request goes over the
//! connection that prompted it and never dials. A peer that closed that connection is not
//! dialled again by the handshake (a restarted node was reconnected to up to 15 times a
//! second by each peer that kept closing it), while `request` still dials.

mod common;
use common::*;

use medblock_core::wire::{ChallengeRequest, NetRequest, net_request};
use medblock_p2p::P2pError;
use std::time::Duration;

fn challenge() -> NetRequest {
    NetRequest {
        kind: Some(net_request::Kind::Challenge(ChallengeRequest::default())),
    }
}

/// No Kademlia walk during the test: nothing but the requests under test dials.
fn quiet(seed: u8, bootstrap: Vec<String>) -> medblock_p2p::P2pConfig {
    let mut cfg = config(seed, bootstrap);
    cfg.discovery_interval = Duration::from_secs(3600);
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handshake_request_goes_over_an_open_connection_and_never_dials() {
    let a = start(quiet(141, vec![])).await;
    let b = start(quiet(142, vec![a.addr()])).await;
    let (ka, kb) = (a.key(), b.key());
    let a_net = a.net.clone();
    let _a = answer_all(a);
    wait_until("B connected to A", || async {
        connected_to(&b.net, &[ka]).await
    })
    .await;

    // Over the open connection it is an ordinary request.
    let answer = b.net.request_connected(ka, challenge()).await;
    assert!(answer.is_ok(), "over an open connection: {answer:?}");

    // Kademlia's first walk (half a second after its routing table got A) dials A itself: let
    // it finish before the connection is closed.
    tokio::time::sleep(Duration::from_secs(2)).await;
    // A closes the connection (as a node beyond its peer budget does).
    a_net.close(kb).await;
    wait_until("B no longer connected to A", || async {
        !connected_to(&b.net, &[ka]).await
    })
    .await;
    let answer = b.net.request_connected(ka, challenge()).await;
    assert!(
        matches!(answer, Err(P2pError::ConnectionClosed { .. })),
        "without a connection: {answer:?}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !connected_to(&b.net, &[ka]).await && !connected_to(&a_net, &[kb]).await,
        "request_connected dialled"
    );

    // An ordinary request still dials the peer it knows the address of.
    let answer = b.net.request(ka, challenge()).await;
    assert!(answer.is_ok(), "request did not dial: {answer:?}");
    assert!(connected_to(&b.net, &[ka]).await);
}
