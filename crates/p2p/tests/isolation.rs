//! `NetworkHandle::isolate` / `rejoin` (fault injection): a node cut off from every peer
//! loses its connections and refuses new ones both ways (a peer's redial, its own dial, a
//! brand-new peer); rejoining reconnects it to the peers it knew, and a peer banned for cause
//! while it was cut off stays banned. Cut off from all but a kept peer (its side of a
//! partition), it keeps that peer, refuses the others both ways, and may dial the kept one.

use medblock_p2p::P2pError;
use std::time::Duration;

mod common;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_node_refuses_every_connection_until_it_rejoins() {
    let a = start(config(31, vec![])).await;
    let b = start(config(32, vec![a.addr()])).await;
    let c = start(config(33, vec![a.addr()])).await;
    let (ka, kb, kc) = (a.key(), b.key(), c.key());
    wait_until("all three connected", || async {
        connected_to(&a.net, &[kb, kc]).await
            && connected_to(&b.net, &[ka, kc]).await
            && connected_to(&c.net, &[ka, kb]).await
    })
    .await;
    assert!(!a.net.is_isolated());

    let closed = a.net.isolate(&[]).await.expect("isolate");
    assert_eq!(closed, 2);
    assert!(a.net.is_isolated());
    wait_until("A has no peer and nobody has A", || async {
        a.net.peers().await.is_empty()
            && !b.net.peers().await.iter().any(|p| p.key == ka)
            && !c.net.peers().await.iter().any(|p| p.key == ka)
    })
    .await;
    // B and C still see each other.
    assert!(connected_to(&b.net, &[kc]).await);

    // B dialling A is refused; A dialling B is refused; a new peer D is refused too.
    let _ = b.net.dial(a.addr()).await;
    assert!(
        matches!(
            a.net.dial(b.addr()).await,
            Err(P2pError::DialFailure { .. })
        ),
        "an isolated node dials out"
    );
    let d = start(config(34, vec![a.addr()])).await;
    let request = a.net.request(kb, hello_request()).await;
    assert!(
        request.is_err(),
        "an isolated node reached a peer: {request:?}"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(a.net.peers().await.is_empty(), "A accepted a connection");
    assert!(!b.net.peers().await.iter().any(|p| p.key == ka));
    assert!(!d.net.peers().await.iter().any(|p| p.key == ka));

    // Banned for cause while cut off: stays banned after rejoining.
    a.net.disconnect(kc).await;
    let isolating_again = a.net.isolate(&[]).await.expect("isolate twice");
    assert_eq!(isolating_again, 0);

    let dialled = a.net.rejoin().await.expect("rejoin");
    assert!(dialled >= 1, "nothing redialled");
    assert!(!a.net.is_isolated());
    wait_until("A reconnected to B", || async {
        connected_to(&a.net, &[kb]).await && connected_to(&b.net, &[ka]).await
    })
    .await;
    assert!(
        matches!(
            a.net.request(kc, hello_request()).await,
            Err(P2pError::Banned { .. })
        ),
        "a peer banned for cause was let back by rejoin"
    );
    // Rejoining twice is harmless.
    assert_eq!(a.net.rejoin().await.expect("rejoin twice"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_on_one_side_of_a_partition_keeps_its_side_and_refuses_the_other() {
    let a = start(config(41, vec![])).await;
    let b = start(config(42, vec![a.addr()])).await;
    let c = start(config(43, vec![a.addr()])).await;
    let (ka, kb, kc) = (a.key(), b.key(), c.key());
    // B answers requests (an ack to each); its handle and address stay usable.
    let (b_net, b_addr) = (b.net.clone(), b.addr());
    let _answers = answer_all(b);
    wait_until("all three connected", || async {
        connected_to(&a.net, &[kb, kc]).await
            && connected_to(&b_net, &[ka, kc]).await
            && connected_to(&c.net, &[ka, kb]).await
    })
    .await;

    // A keeps B: only C is cut off.
    let closed = a.net.isolate(&[kb]).await.expect("partition");
    assert_eq!(closed, 1, "only the peer outside A's side is cut off");
    assert!(
        !a.net.is_isolated(),
        "a partitioned node is not cut off from everyone"
    );
    assert!(a.net.is_cut_off());
    wait_until("C is gone from A and A from C", || async {
        !a.net.peers().await.iter().any(|p| p.key == kc)
            && !c.net.peers().await.iter().any(|p| p.key == ka)
    })
    .await;
    assert!(
        connected_to(&a.net, &[kb]).await,
        "A lost the peer it keeps"
    );
    let kept = a.net.request(kb, hello_request()).await;
    assert!(kept.is_ok(), "A cannot reach the peer it keeps: {kept:?}");
    // C cannot come back; A cannot reach C.
    let _ = c.net.dial(a.addr()).await;
    assert!(
        a.net.request(kc, hello_request()).await.is_err(),
        "A reached a peer on the other side"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !a.net.peers().await.iter().any(|p| p.key == kc),
        "A let C in"
    );

    // A may dial the peer it keeps, not the others.
    assert!(
        a.net.dial(b_addr.clone()).await.is_ok(),
        "A may not dial the peer it keeps"
    );
    assert!(
        matches!(
            a.net.dial(c.addr()).await,
            Err(P2pError::DialFailure { .. })
        ),
        "A dialled a peer on the other side"
    );

    // Healed: C is back.
    assert!(a.net.rejoin().await.expect("rejoin") >= 1);
    assert!(!a.net.is_cut_off());
    wait_until("A reconnected to C", || async {
        connected_to(&a.net, &[kc]).await && connected_to(&c.net, &[ka]).await
    })
    .await;
}

fn hello_request() -> medblock_core::wire::NetRequest {
    hello(0)
}
