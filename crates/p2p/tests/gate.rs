//! The gate in front of the ledger, on real sockets: unadmitted peers get no gossip and are
//! disconnected at the handshake timeout; light requests have their own protocol, channel and
//! per-peer limits; connections are bounded.

mod common;
use common::*;

use medblock_core::wire::{
    ChallengeRequest, ErrorReply, NetRequest, NetResponse, SignedQuery, error_reply, net_request,
    net_response,
};
use medblock_p2p::{NetworkEvent, P2pError, Topic, Verdict};
use std::time::Duration;
use tokio::time::Instant;

fn challenge() -> NetRequest {
    NetRequest {
        kind: Some(net_request::Kind::Challenge(ChallengeRequest::default())),
    }
}

fn is_busy(r: &Result<NetResponse, P2pError>) -> bool {
    let busy = error_reply::Code::Busy as i32;
    matches!(r, Ok(NetResponse { kind: Some(net_response::Kind::Error(ErrorReply { code, .. })) }) if *code == busy)
}

/// Answers the request in `ev` with an ACK through `net`, and checks that the requester's
/// `pending` call got exactly that answer.
async fn ack_and_check(
    net: &medblock_p2p::NetworkHandle,
    ev: NetworkEvent,
    pending: tokio::task::JoinHandle<Result<NetResponse, P2pError>>,
) {
    let NetworkEvent::Request { token, .. } = ev else {
        panic!("expected a request, got {ev:?}")
    };
    let ack = NetResponse {
        kind: Some(net_response::Kind::Ack(true)),
    };
    net.respond(token, ack.clone())
        .await
        .unwrap_or_else(|e| panic!("respond: {e}"));
    assert_eq!(
        pending.await.unwrap_or_else(|e| panic!("join: {e}")),
        Ok(ack)
    );
}

/// Drains `node`'s gossip on every channel for `window`, accepting each message; returns how
/// many arrived.
async fn gossip_within(node: &mut Node, window: Duration) -> usize {
    let end = Instant::now() + window;
    let mut n = 0;
    loop {
        let ev = tokio::select! {
            ev = node.events.consensus.recv() => ev,
            ev = node.events.other.recv() => ev,
            _ = tokio::time::sleep_until(end) => return n,
        };
        if let Some(NetworkEvent::Gossip { id, .. }) = ev {
            n += 1;
            node.net.report_gossip(id, Verdict::Accept).await;
        }
    }
}

/// Accepts every gossip message `net` receives, until its channels close.
async fn accept_all(net: medblock_p2p::NetworkHandle, mut events: medblock_p2p::NetworkEvents) {
    loop {
        let ev = tokio::select! {
            Some(ev) = events.consensus.recv() => ev,
            Some(ev) = events.other.recv() => ev,
            else => return,
        };
        if let NetworkEvent::Gossip { id, .. } = ev {
            net.report_gossip(id, Verdict::Accept).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unadmitted_peer_gets_no_gossip_until_admitted() {
    let a = start(config(101, vec![])).await;
    let c = start(config(102, vec![a.addr()])).await;
    // B plays the outsider: it subscribes to every topic and takes whatever A sends (it
    // admits A at once), but A has not admitted B.
    let mut b = start(config(103, vec![a.addr()])).await;
    let (ka, kb, kc) = (a.key(), b.key(), c.key());
    wait_until("A is connected to B and C", || async {
        connected_to(&a.net, &[kb, kc]).await && connected_to(&b.net, &[ka]).await
    })
    .await;
    b.net.admit(ka).await;
    admit_all(&[&a.net, &c.net]).await;
    // A takes every message it gets (it forwards only what it accepted).
    let Node { net: a_net, events } = a;
    let a = Node {
        net: a_net.clone(),
        events: medblock_p2p::NetworkEvents {
            consensus: tokio::sync::mpsc::channel(1).1,
            other: tokio::sync::mpsc::channel(1).1,
            light: tokio::sync::mpsc::channel(1).1,
        },
    };
    let accepting = tokio::spawn(accept_all(a_net, events));

    // C publishes through A (its only certified neighbour) for a while: A forwards nothing to B.
    let publisher = c.net.clone();
    let publishing = tokio::spawn(async move {
        for i in 0u32.. {
            let _ = publisher
                .publish(Topic::Blocks, format!("block {i}").into_bytes())
                .await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    assert_eq!(gossip_within(&mut b, Duration::from_secs(3)).await, 0);
    // Nor does anything B publishes count at A.
    let _ = b.net.publish(Topic::Blocks, b"forged".to_vec()).await;

    // Once admitted, B is meshed at A's next heartbeat and gets the blocks.
    a.net.admit(kb).await;
    assert!(gossip_within(&mut b, Duration::from_secs(5)).await > 0);
    publishing.abort();
    accepting.abort();
    for n in [&a, &b, &c] {
        n.net.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unadmitted_connection_is_closed_at_the_handshake_timeout() {
    let mut cfg = config(111, vec![]);
    cfg.handshake_timeout = Some(Duration::from_secs(1));
    let a = start(cfg).await;
    let admitted = start(config(112, vec![a.addr()])).await;
    let outsider = start(config(113, vec![a.addr()])).await;
    let (ki, ko) = (admitted.key(), outsider.key());
    wait_until("both peers connected to A", || async {
        connected_to(&a.net, &[ki, ko]).await
    })
    .await;
    a.net.admit(ki).await;
    let since = Instant::now();
    wait_until("A closed the outsider's connection", || async {
        !connected_to(&a.net, &[ko]).await
    })
    .await;
    assert!(since.elapsed() < Duration::from_secs(3));
    assert!(a.net.stats().handshake_timeouts >= 1);
    // The admitted peer stays well past the timeout.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(connected_to(&a.net, &[ki]).await);
    for n in [&a, &admitted, &outsider] {
        n.net.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn light_requests_have_their_own_channel_protocol_and_per_peer_limit() {
    let mut cfg = config(121, vec![]);
    cfg.light_in_flight_per_peer = 2;
    cfg.max_light_request_bytes = 16 * 1024;
    let mut a = start(cfg).await;
    // B's own limit is larger, so it sends what A must refuse.
    let mut bcfg = config(122, vec![a.addr()]);
    bcfg.max_light_request_bytes = 1024 * 1024;
    let b = start(bcfg).await;
    let other = start(config(123, vec![a.addr()])).await;
    let ka = a.key();

    // Nobody answers A's light channel: B's first two challenges wait, the third is BUSY at
    // once, and the uploads channel saw none of them.
    let mut pending = Vec::new();
    for _ in 0..2 {
        let net = b.net.clone();
        pending.push(tokio::spawn(
            async move { net.request(ka, challenge()).await },
        ));
    }
    // Held, unanswered: dropping one would answer it (the requester sees a closed stream).
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(next_matching(&mut a.events.light, "a light request", is_request).await);
    }
    let third = b.net.request(ka, challenge()).await;
    assert!(is_busy(&third), "third challenge in flight: {third:?}");
    assert_eq!(a.net.stats().over_peer_limit, 1);
    assert!(a.events.other.try_recv().is_err());
    // Another peer is not limited by B's requests.
    let net = other.net.clone();
    let theirs = tokio::spawn(async move { net.request(ka, challenge()).await });
    let ev = next_matching(&mut a.events.light, "the other peer's request", is_request).await;
    ack_and_check(&a.net, ev, theirs).await;

    // A light request over A's light limit is refused by the codec before it is read.
    let rejected = a.net.stats().rejected_frames;
    let big = NetRequest {
        kind: Some(net_request::Kind::Query(SignedQuery {
            body: vec![7; 64 * 1024],
            ..Default::default()
        })),
    };
    let err = b.net.request(ka, big).await;
    assert!(
        matches!(
            err,
            Err(P2pError::Io { .. } | P2pError::ConnectionClosed { .. })
        ),
        "{err:?}"
    );
    assert!(a.net.stats().rejected_frames > rejected);
    drop(held);
    for p in pending {
        p.abort();
    }
    for n in [&a, &b, &other] {
        n.net.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_limit_are_refused() {
    let mut cfg = config(131, vec![]);
    cfg.max_connections = 1;
    let a = start(cfg).await;
    let b = start(config(132, vec![a.addr()])).await;
    let kb = b.key();
    wait_until("B connected", || async {
        connected_to(&a.net, &[kb]).await
    })
    .await;
    let c = start(config(133, vec![])).await;
    let _ = c.net.dial(a.addr()).await;
    // Give A time to refuse: C never shows up among A's peers, B stays.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let peers = a.net.peers().await;
    assert_eq!(
        peers.iter().map(|p| p.key).collect::<Vec<_>>(),
        vec![kb],
        "A's peers"
    );
    for n in [&a, &b, &c] {
        n.net.shutdown().await;
    }
}

/// The limit bounds non-members only: A takes one connection of a non-member, and its two
/// members however many others are connected. With one pool for all (the limit as it was), A
/// refused C, and a hub of a 300-node network left 20 certified nodes without a peer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_are_never_refused_for_the_limit_of_the_others() {
    let (kb, kc) = (signing(152).public(), signing(153).public());
    let mut cfg = config(151, vec![]);
    cfg.max_connections = 1;
    cfg.members = Some(std::sync::Arc::new(std::sync::RwLock::new(
        [kb, kc].into_iter().collect(),
    )));
    let a = start(cfg).await;
    let d = start(config(154, vec![a.addr()])).await;
    let kd = d.key();
    wait_until("the non-member D connected", || async {
        connected_to(&a.net, &[kd]).await
    })
    .await;
    let b = start(config(152, vec![a.addr()])).await;
    let c = start(config(153, vec![a.addr()])).await;
    wait_until("members B and C connected", || async {
        connected_to(&a.net, &[kb, kc, kd]).await
    })
    .await;
    // A second non-member is beyond the limit.
    let e = start(config(155, vec![])).await;
    let _ = e.net.dial(a.addr()).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut peers: Vec<_> = a.net.peers().await.iter().map(|p| p.key).collect();
    peers.sort();
    let mut expected = vec![kb, kc, kd];
    expected.sort();
    assert_eq!(peers, expected, "A's peers");
    for n in [&a, &b, &c, &d, &e] {
        n.net.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_protocol_requests_are_limited_by_the_senders_role() {
    let mut cfg = config(141, vec![]);
    cfg.max_unadmitted_request_bytes = 16 * 1024;
    let mut a = start(cfg).await;
    let b = start(config(142, vec![a.addr()])).await;
    let (ka, kb) = (a.key(), b.key());
    wait_until("A and B connected", || async {
        connected_to(&a.net, &[kb]).await
    })
    .await;
    let big = NetRequest {
        kind: Some(net_request::Kind::Upload(medblock_core::wire::Upload {
            event: Some(medblock_core::wire::Event {
                body: vec![7; 100 * 1024],
                ..Default::default()
            }),
            upload_within_ms: 0,
        })),
    };
    // Before admission, 100 KiB is over what A reads from B: refused before it is read.
    let rejected = a.net.stats().rejected_frames;
    let err = b.net.request(ka, big.clone()).await;
    assert!(
        matches!(
            err,
            Err(P2pError::Io { .. } | P2pError::ConnectionClosed { .. })
        ),
        "{err:?}"
    );
    assert!(a.net.stats().rejected_frames > rejected);
    assert!(a.events.other.try_recv().is_err());

    // Once A admits B, the same request is read and delivered. `admit` only queues the
    // command; a round trip through A's swarm task (which takes commands in order) makes sure
    // it is in force before B sends: under load B's request was once read first and refused.
    a.net.admit(kb).await;
    let _ = a.net.peers().await;
    let net = b.net.clone();
    let pending = tokio::spawn(async move { net.request(ka, big).await });
    let ev = next_matching(
        &mut a.events.other,
        "the admitted peer's upload",
        is_request,
    )
    .await;
    ack_and_check(&a.net, ev, pending).await;
    a.net.shutdown().await;
    b.net.shutdown().await;
}
