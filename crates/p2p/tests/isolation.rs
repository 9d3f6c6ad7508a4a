//! `NetworkHandle::isolate` / `rejoin` (fault injection): a node cut off from every peer
//! loses its connections and refuses new ones both ways (a peer's redial, its own dial, a
//! brand-new peer); rejoining reconnects it to the peers it knew, and a peer banned for cause
//! while it was cut off stays banned.

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

    let closed = a.net.isolate().await.expect("isolate");
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
    let isolating_again = a.net.isolate().await.expect("isolate twice");
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

fn hello_request() -> medblock_core::wire::NetRequest {
    hello(0)
}
