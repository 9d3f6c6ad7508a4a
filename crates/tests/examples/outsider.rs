//! Measures what a peer without a certificate collects from a running network: it dials one
//! node, subscribes to every gossip topic and takes what it is sent for a while (redialling
//! whenever it is disconnected), then asks for every block header through the light protocol,
//! which anyone may read. Prints one JSON line.
//!
//! `cargo run -p medblock-tests --example outsider -- <node multiaddr with /p2p/id> [seconds]`

#[path = "../tests/outsider/mod.rs"]
mod outsider;

use medblock_core::keys::{PublicKey, SigningKey};
use medblock_core::wire::{self, net_request, net_response};
use medblock_p2p::P2pConfig;
use prost::Message;
use std::time::Duration;

/// Every header the node serves to a visitor, in bytes (headers, count), or the error.
async fn headers(addr: &str) -> Result<(usize, usize), String> {
    let key = medblock_p2p::peer_key_from_addr(addr).map_err(|e| e.to_string())?;
    let mut cfg = P2pConfig::new(
        SigningKey::generate(&mut rand::rng()),
        "/ip4/127.0.0.1/tcp/0",
    );
    cfg.gossip = false;
    cfg.handshake_timeout = None;
    cfg.kademlia_server = false;
    let (net, _events) = medblock_p2p::spawn(cfg).await.map_err(|e| e.to_string())?;
    net.dial(addr.to_owned()).await.map_err(|e| e.to_string())?;
    let (mut bytes, mut count, mut from) = (0, 0, 0u64);
    loop {
        let answer = ask(&net, key, from).await?;
        if answer.heads.is_empty() {
            break;
        }
        count += answer.heads.len();
        bytes += answer.heads.iter().map(|h| h.encoded_len()).sum::<usize>();
        from += answer.heads.len() as u64;
        if from > answer.tip_height {
            break;
        }
    }
    net.shutdown().await;
    Ok((bytes, count))
}

async fn ask(
    net: &medblock_p2p::NetworkHandle,
    key: PublicKey,
    from: u64,
) -> Result<wire::HeadersResponse, String> {
    let req = wire::NetRequest {
        kind: Some(net_request::Kind::Headers(wire::HeadersRequest {
            from_height: from,
            count: 256,
            configuration: false,
        })),
    };
    match net.request(key, req).await {
        Ok(wire::NetResponse {
            kind: Some(net_response::Kind::Headers(h)),
        }) => Ok(h),
        other => Err(format!("{other:?}")),
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let Some(addr) = args.next() else {
        eprintln!("usage: outsider <node multiaddr ending in /p2p/<id>> [seconds]");
        std::process::exit(2);
    };
    let secs: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(60);
    eprintln!("watching {addr} for {secs} s ...");
    let seen = outsider::watch(&addr, Duration::from_secs(secs)).await;
    let heads = headers(&addr).await;
    let longest = seen.closed_after.iter().max().map(|d| d.as_secs_f64());
    let (header_bytes, header_count, header_error) = match heads {
        Ok((b, n)) => (Some(b), Some(n), None),
        Err(e) => (None, None, Some(e)),
    };
    println!(
        "{}",
        serde_json::json!({
            "seconds": secs,
            "gossip_messages": seen.gossip_messages,
            "gossip_bytes": seen.gossip_bytes,
            "connections": seen.connections,
            "connections_closed": seen.closed_after.len(),
            "longest_closed_connection_s": longest,
            "header_bytes": header_bytes,
            "headers": header_count,
            "headers_error": header_error,
        })
    );
}
