//! Emulated latency on real sockets (`P2pConfig::latency`, tests and benchmarks only): a node
//! told to delay what it receives from a host sees every answer from that host at least the
//! delay later.

mod common;
use common::*;

use medblock_core::wire::{ChallengeRequest, NetRequest, net_request};
use medblock_p2p::latency::Latency;
use std::time::Duration;
use tokio::time::Instant;

const DELAY: Duration = Duration::from_millis(300);

async fn round_trip(from: &Node, to: medblock_core::keys::PublicKey) -> Duration {
    let challenge = NetRequest {
        kind: Some(net_request::Kind::Challenge(ChallengeRequest::default())),
    };
    let start = Instant::now();
    let answer = from.net.request(to, challenge).await;
    assert!(answer.is_ok(), "{answer:?}");
    start.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_from_a_delayed_host_arrive_a_delay_later() {
    let a = start(config(131, vec![])).await;
    let (ka, addr) = (a.key(), a.addr());
    let _server = answer_all(a);
    let mut cfg = config(132, vec![addr.clone()]);
    cfg.latency = Some(Latency {
        delay: DELAY,
        peers: vec!["127.0.0.1".parse().expect("ip")],
    });
    let slow = start(cfg).await;
    // The first request also waits for the connection (its handshake is delayed too).
    round_trip(&slow, ka).await;
    for _ in 0..3 {
        let rtt = round_trip(&slow, ka).await;
        assert!(rtt >= DELAY, "answer after {rtt:?}, delay {DELAY:?}");
    }
    // Which hosts a rule covers is latency.rs's unit test (no upper bound on time here).
}
