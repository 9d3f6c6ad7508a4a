//! Real nodes on 127.0.0.1 sockets: discovery, gossip, request/response, limits and bans.
//! Every wait polls against a deadline (no fixed sleeps), so slow machines only slow them down.

use medblock_core::wire::{ErrorReply, Hello, NetResponse, error_reply, net_request, net_response};
use medblock_p2p::{NetworkEvent, NetworkEvents, P2pConfig, P2pError, Topic, Verdict, spawn};
use std::time::Duration;
use tokio::time::Instant;

mod common;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_discover_each_other_and_gossip_reaches_all() {
    let mut a = start(config(1, vec![])).await;
    let mut b = start(config(2, vec![a.addr()])).await;
    let mut c = start(config(3, vec![a.addr()])).await;
    let (ka, kb, kc) = (a.key(), b.key(), c.key());

    // B and C only know A: they must find each other through Kademlia/identify.
    wait_until("all three nodes are connected", || async {
        connected_to(&a.net, &[kb, kc]).await
            && connected_to(&b.net, &[ka, kc]).await
            && connected_to(&c.net, &[ka, kb]).await
    })
    .await;
    // Certified peers only gossip with each other once admitted.
    admit_all(&[&a.net, &b.net, &c.net]).await;
    // Peer listings carry the listen addresses (from identify) eventually.
    wait_until("B's listen address is known to C", || async {
        c.net
            .peers()
            .await
            .iter()
            .any(|p| p.key == kb && p.addrs.iter().any(|a| b.addr().starts_with(a.as_str())))
    })
    .await;

    // Consensus gossip from B reaches A and C on the consensus channel, author = B.
    publish_when_ready(&b.net, Topic::Consensus, b"turn 1".to_vec()).await;
    for node in [&mut a, &mut c] {
        let ev = next_matching(&mut node.events.consensus, "consensus gossip", |e| {
            matches!(e, NetworkEvent::Gossip { .. })
        })
        .await;
        let NetworkEvent::Gossip {
            propagated_by,
            topic,
            id,
            data,
        } = ev
        else {
            unreachable!()
        };
        assert_eq!((topic, data.as_slice()), (Topic::Consensus, &b"turn 1"[..]));
        assert!([ka, kb, kc].contains(&propagated_by));
        node.net.report_gossip(id, Verdict::Accept).await;
    }

    // Ledger gossip from C goes to the `other` channel; A rejects it, B accepts.
    publish_when_ready(&c.net, Topic::Ledger, b"claim".to_vec()).await;
    for (node, verdict) in [(&mut a, Verdict::Reject), (&mut b, Verdict::Accept)] {
        let ev = next_matching(&mut node.events.other, "ledger gossip", |e| {
            matches!(e, NetworkEvent::Gossip { .. })
        })
        .await;
        let NetworkEvent::Gossip {
            propagated_by,
            topic,
            id,
            data,
        } = ev
        else {
            unreachable!()
        };
        assert_eq!((topic, data.as_slice()), (Topic::Ledger, &b"claim"[..]));
        assert!([ka, kb, kc].contains(&propagated_by));
        node.net.report_gossip(id, verdict).await;
    }
    wait_until("A counted its rejection", || async {
        a.net.stats().gossip_rejected >= 1
    })
    .await;
    assert!(b.net.stats().gossip_out >= 1 && c.net.stats().gossip_out >= 1);
    // A is still alive after rejecting.
    assert!(connected_to(&a.net, &[kb, kc]).await);
    for n in [&a, &b, &c] {
        n.net.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_request_gets_its_reply() {
    let mut a = start(config(11, vec![])).await;
    let b = start(config(12, vec![a.addr()])).await;
    let kb = b.key();

    let requester = b.net.clone();
    let ka = a.key();
    let pending = tokio::spawn(async move { requester.request(ka, hello(5)).await });

    let ev = next_matching(&mut a.events.consensus, "hello request", is_request).await;
    let NetworkEvent::Request {
        from,
        request,
        token,
    } = ev
    else {
        unreachable!()
    };
    assert_eq!(from, kb);
    assert_eq!(*request, hello(5));
    let reply = NetResponse {
        kind: Some(net_response::Kind::Hello(Hello {
            genesis_hash: vec![9; 32],
            certificate: None,
            height: 7,
            http_address: String::new(),
        })),
    };
    a.net
        .respond(token, reply.clone())
        .await
        .unwrap_or_else(|e| panic!("respond: {e}"));
    let got = pending
        .await
        .unwrap_or_else(|e| panic!("join: {e}"))
        .unwrap_or_else(|e| panic!("request: {e}"));
    assert_eq!(got, reply);
    assert_eq!(b.net.stats().requests_out, 1);
    assert_eq!(a.net.stats().requests_in, 1);

    // Uploads go to the `other` channel.
    let requester = b.net.clone();
    let pending = tokio::spawn(async move { requester.request(ka, upload()).await });
    let ev = next_matching(&mut a.events.other, "upload request", is_request).await;
    let NetworkEvent::Request { token, .. } = ev else {
        unreachable!()
    };
    let ack = NetResponse {
        kind: Some(net_response::Kind::Ack(true)),
    };
    a.net
        .respond(token, ack.clone())
        .await
        .unwrap_or_else(|e| panic!("respond: {e}"));
    let got = pending.await.unwrap_or_else(|e| panic!("join: {e}"));
    assert_eq!(got, Ok(ack));
    a.net.shutdown().await;
    b.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_other_channel_answers_busy() {
    let mut cfg = config(21, vec![]);
    cfg.event_capacity = 1;
    let a = start(cfg).await;
    let b = start(config(22, vec![a.addr()])).await;
    let ka = a.key();
    // The consensus channel (also capacity 1) must be drained, or back-pressure stalls A.
    let NetworkEvents {
        mut consensus,
        other: _undrained,
        ..
    } = a.events;
    let drain = tokio::spawn(async move { while consensus.recv().await.is_some() {} });

    // Nobody drains A's `other` channel: the first upload fills it, the second is refused.
    let requester = b.net.clone();
    let first = tokio::spawn(async move { requester.request(ka, upload()).await });
    wait_until("A queued the first upload", || async {
        a.net.stats().requests_in >= 1
    })
    .await;
    let second = b.net.request(ka, upload()).await;
    let busy = error_reply::Code::Busy as i32;
    assert!(
        matches!(&second, Ok(NetResponse { kind: Some(net_response::Kind::Error(ErrorReply { code, .. })) }) if *code == busy),
        "expected BUSY, got {second:?}"
    );
    assert_eq!(a.net.stats().dropped_requests_other, 1);
    first.abort();
    drain.abort();
    a.net.shutdown().await;
    b.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_consensus_channel_waits_instead_of_dropping() {
    let mut cfg = config(25, vec![]);
    cfg.event_capacity = 1;
    let mut a = start(cfg).await;
    let b = start(config(26, vec![a.addr()])).await;
    let ka = a.key();

    // A's consensus channel fills with connection events nobody reads yet; the hello waits.
    let requester = b.net.clone();
    let pending = tokio::spawn(async move { requester.request(ka, hello(3)).await });
    wait_until(
        "A's swarm task is waiting on the consensus channel",
        || async { a.net.stats().consensus_backpressure >= 1 },
    )
    .await;
    // While it waits it still serves commands.
    assert!(!a.net.peers().await.is_empty());

    // Once drained, nothing was lost: the hello arrives and can be answered.
    let ev = next_matching(&mut a.events.consensus, "held-back hello", is_request).await;
    let NetworkEvent::Request { request, token, .. } = ev else {
        unreachable!()
    };
    assert_eq!(*request, hello(3));
    let ack = NetResponse {
        kind: Some(net_response::Kind::Ack(true)),
    };
    a.net
        .respond(token, ack.clone())
        .await
        .unwrap_or_else(|e| panic!("respond: {e}"));
    assert_eq!(
        pending.await.unwrap_or_else(|e| panic!("join: {e}")),
        Ok(ack)
    );
    assert_eq!(a.net.stats().dropped_closed_channel, 0);
    a.net.shutdown().await;
    b.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_to_unknown_or_gone_peers_fail_with_typed_errors() {
    let a = start(config(31, vec![])).await;
    let b = start(config(32, vec![a.addr()])).await;
    let kb = b.key();

    // A key nobody has announced: no address to dial.
    let stranger = signing(99).public();
    let err = a.net.request(stranger, hello(1)).await;
    assert!(matches!(err, Err(P2pError::DialFailure { .. })), "{err:?}");

    // B goes away: A knows its address but cannot reach it any more.
    wait_until("A sees B", || async { connected_to(&a.net, &[kb]).await }).await;
    b.net.shutdown().await;
    wait_until("A notices B left", || async {
        !connected_to(&a.net, &[kb]).await
    })
    .await;
    let err = a.net.request(kb, hello(1)).await;
    assert!(
        matches!(
            err,
            Err(P2pError::DialFailure { .. } | P2pError::ConnectionClosed { .. })
        ),
        "{err:?}"
    );
    assert!(a.net.stats().requests_failed >= 2);

    // After shutdown every call says so.
    a.net.shutdown().await;
    assert_eq!(a.net.request(kb, hello(1)).await, Err(P2pError::Shutdown));
    assert_eq!(
        a.net.publish(Topic::Blocks, vec![1]).await,
        Err(P2pError::Shutdown)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_frame_is_refused_without_harm() {
    let mut cfg = config(41, vec![]);
    cfg.max_message_bytes = 1024;
    let mut a = start(cfg).await;
    let b = start(config(42, vec![a.addr()])).await;
    let ka = a.key();

    // B's limit is larger, so it sends a 10 KB frame that A must refuse.
    let mut big = hello(1);
    if let Some(net_request::Kind::Hello(h)) = &mut big.kind {
        h.http_address = "x".repeat(10_000);
    }
    let err = b.net.request(ka, big).await;
    assert!(
        matches!(
            err,
            Err(P2pError::Io { .. } | P2pError::ConnectionClosed { .. })
        ),
        "{err:?}"
    );
    wait_until("A counted the rejected frame", || async {
        a.net.stats().rejected_frames >= 1
    })
    .await;

    // A still serves normal requests.
    let requester = b.net.clone();
    let pending = tokio::spawn(async move { requester.request(ka, hello(2)).await });
    let ev = next_matching(&mut a.events.consensus, "small request", is_request).await;
    let NetworkEvent::Request { token, .. } = ev else {
        unreachable!()
    };
    let ack = NetResponse {
        kind: Some(net_response::Kind::Ack(true)),
    };
    a.net
        .respond(token, ack.clone())
        .await
        .unwrap_or_else(|e| panic!("respond: {e}"));
    assert_eq!(
        pending.await.unwrap_or_else(|e| panic!("join: {e}")),
        Ok(ack)
    );

    // Oversized gossip is refused locally.
    let err = a.net.publish(Topic::Blocks, vec![0; 2048]).await;
    assert_eq!(
        err,
        Err(P2pError::MessageTooLarge {
            size: 2048,
            max: 1024
        })
    );
    a.net.shutdown().await;
    b.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn banned_peer_cannot_reconnect() {
    let a = start(config(51, vec![])).await;
    let b = start(config(52, vec![a.addr()])).await;
    let (ka, kb) = (a.key(), b.key());
    wait_until("A and B connected", || async {
        connected_to(&a.net, &[kb]).await && connected_to(&b.net, &[ka]).await
    })
    .await;

    a.net.disconnect(kb).await;
    wait_until("the connection is gone on both sides", || async {
        !connected_to(&a.net, &[kb]).await && !connected_to(&b.net, &[ka]).await
    })
    .await;

    // B tries to come back: A refuses the connection (B's dial may briefly succeed at the
    // transport level before A drops it).
    let refused_before = a.net.stats().refused_connections;
    let _ = b.net.dial(a.addr()).await;
    wait_until("A refused B's reconnection", || async {
        a.net.stats().refused_connections > refused_before
    })
    .await;
    assert!(!connected_to(&a.net, &[kb]).await);

    // A will not dial or query B either.
    let err = a.net.dial(b.addr()).await;
    assert!(matches!(err, Err(P2pError::Banned { .. })), "{err:?}");
    let err = a.net.request(kb, hello(1)).await;
    assert!(matches!(err, Err(P2pError::Banned { .. })), "{err:?}");
    a.net.shutdown().await;
    b.net.shutdown().await;
}

#[tokio::test]
async fn publish_without_peers_and_bad_config_are_typed_errors() {
    let a = start(config(61, vec![])).await;
    assert_eq!(
        a.net.publish(Topic::Config, vec![1]).await,
        Err(P2pError::InsufficientPeers {
            topic: "medblock/config/1"
        })
    );
    assert!(a.addr().contains("/p2p/"));
    a.net.shutdown().await;

    let bad = spawn(P2pConfig::new(signing(62), "not a multiaddr")).await;
    assert!(matches!(bad, Err(P2pError::InvalidAddress { .. })));
    let mut cfg = config(63, vec![]);
    cfg.event_capacity = 0;
    assert!(matches!(spawn(cfg).await, Err(P2pError::InvalidConfig(_))));
}

/// A node that does not dial what Kademlia tells it (target of one peer) finds another node's
/// address by a DHT lookup, and can then send it a request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn find_peer_returns_a_node_address_from_the_dht() {
    let a = start(config(41, vec![])).await;
    let c = start(config(43, vec![a.addr()])).await;
    let mut cfg = config(42, vec![a.addr()]);
    cfg.target_peers = 1;
    let b = start(cfg).await;
    let kc = c.key();
    wait_until("C joined A", || async { connected_to(&a.net, &[kc]).await }).await;
    let deadline = Instant::now() + DEADLINE;
    let found = loop {
        let found = b.net.find_peer(kc).await.unwrap_or_default();
        if !found.is_empty() {
            break found;
        }
        assert!(Instant::now() < deadline, "B never found C through the DHT");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let c_port = c.addr().split('/').nth(4).map(str::to_owned);
    assert!(
        found
            .iter()
            .any(|f| f.split('/').nth(4).map(str::to_owned) == c_port
                && f.ends_with(&medblock_p2p::peer_id_string(&kc))),
        "{found:?} does not hold {}",
        c.addr()
    );
    // An unknown key finds nothing (the walk ends without it).
    let nobody = signing(99).public();
    let none = tokio::time::timeout(DEADLINE, b.net.find_peer(nobody))
        .await
        .unwrap_or_else(|_| panic!("the lookup never ended"))
        .unwrap_or_else(|e| panic!("lookup failed: {e}"));
    assert!(none.is_empty(), "{none:?}");
}
