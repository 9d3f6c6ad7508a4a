//! A peer that stops running without closing its connections (SIGSTOP, a wedged process) is
//! reported `PeerUnresponsive` by the default ping settings, and `PeerResponsive` once it runs
//! again; its connection is never closed meanwhile. The frozen peer runs on its own
//! single-threaded runtime in its own thread, so blocking that thread freezes its swarm and
//! every connection task, as a stopped process is frozen.

use medblock_core::keys::PublicKey;
use medblock_p2p::{NetworkEvent, NetworkHandle, P2pConfig};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout_at};

mod common;
use common::*;

/// How long the peer is frozen: past the default detection time.
const FROZEN: Duration = Duration::from_secs(7);

/// The frozen peer: its handle, its address, its runtime (to freeze it) and the events it
/// reported about its own peers.
struct Remote {
    net: NetworkHandle,
    addr: String,
    runtime: tokio::runtime::Handle,
    events: mpsc::UnboundedReceiver<NetworkEvent>,
    _stop: std::sync::mpsc::Sender<()>,
}

fn remote(seed: u8) -> Remote {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let node = start(config(seed, vec![])).await;
            let (tx, rx) = mpsc::unbounded_channel();
            let _ = ready_tx.send((
                node.net.clone(),
                node.addr(),
                tokio::runtime::Handle::current(),
                rx,
            ));
            let mut consensus = node.events.consensus;
            // Keep the node and forward what it reports, until the test is over.
            while stop_rx.try_recv() == Err(std::sync::mpsc::TryRecvError::Empty) {
                if let Ok(Some(ev)) =
                    tokio::time::timeout(Duration::from_millis(100), consensus.recv()).await
                {
                    let _ = tx.send(ev);
                }
            }
        });
    });
    let (net, addr, runtime, events) = ready_rx.recv().expect("remote node started");
    Remote {
        net,
        addr,
        runtime,
        events,
        _stop: stop_tx,
    }
}

fn is_about(ev: &NetworkEvent, key: PublicKey) -> Option<&'static str> {
    match ev {
        NetworkEvent::PeerUnresponsive { key: k } if *k == key => Some("unresponsive"),
        NetworkEvent::PeerResponsive { key: k } if *k == key => Some("responsive"),
        NetworkEvent::PeerDisconnected { key: k } if *k == key => Some("disconnected"),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_peer_is_reported_unresponsive_then_responsive_and_stays_connected() {
    let mut b = remote(42);
    let mut a = start(config(41, vec![b.addr.clone()])).await;
    let (ka, kb) = (a.key(), b.net.local_key());
    wait_until("A and B connected", || async {
        connected_to(&a.net, &[kb]).await
    })
    .await;
    // A few pongs each way, so each knows the other runs the ping protocol.
    tokio::time::sleep(P2pConfig::PING_INTERVAL * 3).await;

    // Freeze B's only thread.
    let frozen_at = Instant::now();
    b.runtime.spawn(async { std::thread::sleep(FROZEN) });

    // A reports B unresponsive within the detection time (generous for a loaded machine),
    // and not at once; the connection stays.
    let reported = loop {
        let ev = timeout_at(frozen_at + FROZEN, a.events.consensus.recv())
            .await
            .expect("B reported unresponsive while frozen")
            .expect("events open");
        match is_about(&ev, kb) {
            Some("unresponsive") => break frozen_at.elapsed(),
            Some(other) => panic!("B {other} before it was reported unresponsive"),
            None => {}
        }
    };
    eprintln!("frozen peer reported unresponsive after {reported:?}");
    assert!(
        reported >= P2pConfig::UNRESPONSIVE_AFTER - P2pConfig::PING_INTERVAL
            && reported <= P2pConfig::UNRESPONSIVE_AFTER + Duration::from_millis(1500),
        "reported after {reported:?}"
    );
    assert_eq!(a.net.stats().unresponsive_peers, 1);
    assert!(connected_to(&a.net, &[kb]).await, "B's connection closed");

    // Thawed: B answers again, on the same connection.
    let back = loop {
        let ev = timeout_at(frozen_at + FROZEN + DEADLINE, a.events.consensus.recv())
            .await
            .expect("B reported responsive once thawed")
            .expect("events open");
        match is_about(&ev, kb) {
            Some("responsive") => break frozen_at.elapsed(),
            Some(other) => panic!("B {other} instead of responsive again"),
            None => {}
        }
    };
    eprintln!("thawed peer responsive again after {back:?}");
    assert!(back >= FROZEN, "responsive while still frozen: {back:?}");
    assert!(connected_to(&a.net, &[kb]).await, "B's connection closed");

    // B, the one that was frozen, blamed itself, not A: it never reported A.
    tokio::time::sleep(P2pConfig::UNRESPONSIVE_AFTER * 2).await;
    while let Ok(ev) = b.events.try_recv() {
        assert!(is_about(&ev, ka).is_none(), "B reported A: {ev:?}");
    }
    assert_eq!(b.net.stats().unresponsive_peers, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_answers_the_pings_of_a_peer_it_does_not_ping_and_never_judges_it() {
    let mut b = remote(44);
    let kb = b.net.local_key();
    // A does not ping B (a department, say, pinged by its endorser A): it only answers.
    let mut cfg = config(43, vec![b.addr.clone()]);
    cfg.unpinged = Some(std::sync::Arc::new(std::sync::RwLock::new(
        std::iter::once(kb).collect(),
    )));
    let mut a = start(cfg).await;
    let ka = a.key();
    wait_until("A and B connected", || async {
        connected_to(&a.net, &[kb]).await
    })
    .await;

    // B pings A all along and gets its pongs: it never finds A unresponsive.
    tokio::time::sleep(P2pConfig::UNRESPONSIVE_AFTER * 2).await;
    while let Ok(ev) = b.events.try_recv() {
        assert!(is_about(&ev, ka).is_none(), "B reported A: {ev:?}");
    }
    assert_eq!(b.net.stats().unresponsive_peers, 0, "A's pongs reached B");

    // Frozen, B answers nothing; A, which does not ping it, does not judge it.
    let frozen_at = Instant::now();
    b.runtime.spawn(async { std::thread::sleep(FROZEN) });
    while let Ok(Some(ev)) = timeout_at(frozen_at + FROZEN, a.events.consensus.recv()).await {
        assert!(is_about(&ev, kb).is_none(), "A reported B: {ev:?}");
    }
    assert_eq!(a.net.stats().unresponsive_peers, 0);
    assert!(connected_to(&a.net, &[kb]).await, "B's connection closed");
}
