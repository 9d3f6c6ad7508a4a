//! A closed network (issue 17): a peer without a certificate that dials a node of a running
//! network gets no gossip while blocks commit, is disconnected at the handshake timeout, and
//! through the query protocol gets block headers and nothing else of the ledger.

mod common;
mod outsider;

use common::cluster::{Cluster, block_on, standard, test_params};
use common::enrol::enrol_visits_in_process;
use medblock_core::keys::SigningKey;
use medblock_core::wire::{self, error_reply::Code, net_request, net_response};
use medblock_p2p::P2pConfig;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How long the outsider watches (the figure).
const WATCH: Duration = Duration::from_secs(60);
/// The nodes' handshake timeout (P2pConfig's default) and the slack allowed on top of it.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
const SLACK: Duration = Duration::from_secs(3);

/// A fresh-keyed light peer (no certificate, no gossip) to ask a node questions with.
async fn visitor() -> medblock_p2p::NetworkHandle {
    let mut cfg = P2pConfig::new(
        SigningKey::generate(&mut rand::rng()),
        "/ip4/127.0.0.1/tcp/0",
    );
    cfg.gossip = false;
    cfg.handshake_timeout = None;
    cfg.kademlia_server = false;
    let (net, _events) = medblock_p2p::spawn(cfg).await.expect("visitor network");
    net
}

fn error_code(r: &Result<wire::NetResponse, medblock_p2p::P2pError>) -> Option<i32> {
    match r {
        Ok(wire::NetResponse {
            kind: Some(net_response::Kind::Error(e)),
        }) => Some(e.code),
        _ => None,
    }
}

#[test]
fn an_outsider_gets_no_gossip_is_disconnected_and_sees_only_headers() {
    let mut c = Cluster::create(standard(), test_params());
    c.start_all();
    c.wait_ready(Duration::from_secs(40));
    let dept = c.index("h1-cardiology");
    let target = c.index("orderer-1");
    let addr = c.p2p_addr("orderer-1");
    let start_height = c.status(target).height;

    // Blocks keep committing while the outsider watches: a department records visits in
    // batches until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = {
        let node = c.node(dept).node.clone();
        let stop = stop.clone();
        let visits = common::cluster::visits("closed", 400, 20);
        enrol_visits_in_process(&node, &visits);
        std::thread::spawn(move || {
            for batch in visits.chunks(20) {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let node = node.clone();
                let batch = batch.to_vec();
                block_on(async move { node.submit(batch, true, Duration::from_secs(60)).await })
                    .expect("visits committed");
                std::thread::sleep(Duration::from_secs(1));
            }
        })
    };

    let seen = block_on(outsider::watch(&addr, WATCH));
    stop.store(true, Ordering::Relaxed);
    traffic.join().expect("traffic thread");
    let end_height = c.status(target).height;

    assert!(
        end_height > start_height + 5,
        "blocks committed while the outsider watched: {start_height} -> {end_height}"
    );
    assert_eq!(
        (seen.gossip_messages, seen.gossip_bytes),
        (0, 0),
        "gossip an uncertified peer received in {WATCH:?}"
    );
    assert!(seen.connections >= 1, "the outsider never connected");
    assert!(
        !seen.closed_after.is_empty(),
        "the outsider's connection was never closed"
    );
    for d in &seen.closed_after {
        assert!(
            *d <= HANDSHAKE_TIMEOUT + SLACK,
            "an unadmitted connection lasted {d:?}"
        );
    }
    assert!(c.node(target).node.ctx.net.stats().handshake_timeouts >= 1);

    // Through the query protocol a visitor gets headers, which the paper lets anyone see...
    let key = c.node(target).node.ctx.key();
    block_on(async {
        let net = visitor().await;
        net.dial(addr.clone()).await.expect("dial");
        let headers = net
            .request(
                key,
                wire::NetRequest {
                    kind: Some(net_request::Kind::Headers(wire::HeadersRequest {
                        from_height: 0,
                        count: 8,
                        configuration: false,
                    })),
                },
            )
            .await;
        let Ok(wire::NetResponse {
            kind: Some(net_response::Kind::Headers(h)),
        }) = headers
        else {
            panic!("headers refused to a visitor: {headers:?}");
        };
        assert!(!h.heads.is_empty() && h.tip_height >= end_height);
        // ...and no block bodies: catch-up (whole blocks) and uploads are refused.
        let catch_up = net
            .request(
                key,
                wire::NetRequest {
                    kind: Some(net_request::Kind::CatchUp(wire::CatchUpRequest {
                        from_height: 0,
                        ..Default::default()
                    })),
                },
            )
            .await;
        assert_eq!(
            error_code(&catch_up),
            Some(Code::Unauthorized as i32),
            "{catch_up:?}"
        );
        net.shutdown().await;
    });
}
