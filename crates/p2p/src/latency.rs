//! Emulated latency between hosts, for tests and benchmarks only: these machines' kernel has no
//! `netem`, so a node told to (`[p2p] emulated_latency_ms` with the addresses of the hosts it
//! applies to) holds every byte it receives from those hosts for that long before its
//! connection reads it. Both ends do the same, so each direction is delayed once: a one-way
//! delay, in order, with the bandwidth untouched. Off (and the transport unwrapped) unless set.

use futures::{AsyncRead, AsyncWrite};
use libp2p::Multiaddr;
use libp2p::core::ConnectedPoint;
use libp2p::multiaddr::Protocol;
use std::collections::VecDeque;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// Bytes read ahead of the reader, at most: a slow reader slows its sender, as a socket would.
const READ_AHEAD: usize = 4 << 20;

/// Which connections are delayed, and by how much.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Latency {
    /// One-way delay.
    pub delay: Duration,
    /// Remote addresses it applies to (the hosts of other regions).
    pub peers: Vec<IpAddr>,
}

impl Latency {
    /// The delay for a connection to or from `endpoint`'s remote address (zero if not listed).
    pub fn for_endpoint(&self, endpoint: &ConnectedPoint) -> Duration {
        let addr = match endpoint {
            ConnectedPoint::Dialer { address, .. } => address,
            ConnectedPoint::Listener { send_back_addr, .. } => send_back_addr,
        };
        if remote_ip(addr).is_some_and(|ip| self.peers.contains(&ip)) {
            self.delay
        } else {
            Duration::ZERO
        }
    }
}

fn remote_ip(addr: &Multiaddr) -> Option<IpAddr> {
    addr.iter().find_map(|p| match p {
        Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
        Protocol::Ip6(ip) => Some(IpAddr::V6(ip)),
        _ => None,
    })
}

/// A stream whose reads see each received chunk `delay` after it arrived.
pub struct Delayed<S> {
    inner: S,
    delay: Duration,
    queue: VecDeque<(Instant, Vec<u8>)>,
    queued: usize,
    head_read: usize,
    sleep: Option<Pin<Box<Sleep>>>,
    eof: bool,
}

impl<S> Delayed<S> {
    /// Wraps `inner`; with a zero delay reads pass straight through.
    pub fn new(inner: S, delay: Duration) -> Self {
        Self {
            inner,
            delay,
            queue: VecDeque::new(),
            queued: 0,
            head_read: 0,
            sleep: None,
            eof: false,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Delayed<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.delay.is_zero() {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        // Take in whatever has arrived (this also registers for more), stamped with its time.
        while !this.eof && this.queued < READ_AHEAD {
            let mut chunk = vec![0u8; 64 * 1024];
            match Pin::new(&mut this.inner).poll_read(cx, &mut chunk) {
                Poll::Ready(Ok(0)) => this.eof = true,
                Poll::Ready(Ok(n)) => {
                    chunk.truncate(n);
                    this.queued += n;
                    this.queue.push_back((Instant::now() + this.delay, chunk));
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => break,
            }
        }
        loop {
            let Some((due, chunk)) = this.queue.front() else {
                return if this.eof {
                    Poll::Ready(Ok(0))
                } else {
                    Poll::Pending
                };
            };
            if Instant::now() >= *due {
                let rest = chunk.get(this.head_read..).unwrap_or_default();
                let n = rest.len().min(buf.len());
                if let (Some(dst), Some(src)) = (buf.get_mut(..n), rest.get(..n)) {
                    dst.copy_from_slice(src);
                }
                this.head_read += n;
                if this.head_read >= chunk.len() {
                    this.queued -= chunk.len();
                    this.queue.pop_front();
                    this.head_read = 0;
                }
                this.sleep = None;
                return Poll::Ready(Ok(n));
            }
            let due = *due;
            let sleep = this
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
            if sleep.deadline() != due {
                sleep.as_mut().reset(due);
            }
            match sleep.as_mut().poll(cx) {
                Poll::Ready(()) => continue,
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Delayed<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::AsyncReadExt;

    #[tokio::test(start_paused = true)]
    async fn reads_see_the_bytes_one_delay_after_they_arrived_in_order() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let mut d = Delayed::new(
            futures::io::Cursor::new(data.clone()),
            Duration::from_millis(20),
        );
        let start = Instant::now();
        let mut out = Vec::new();
        d.read_to_end(&mut out).await.expect("read");
        assert_eq!(out, data);
        assert_eq!(start.elapsed(), Duration::from_millis(20));
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_delay_reads_pass_straight_through() {
        let mut d = Delayed::new(futures::io::Cursor::new(vec![7u8; 10]), Duration::ZERO);
        let start = Instant::now();
        let mut out = Vec::new();
        d.read_to_end(&mut out).await.expect("read");
        assert_eq!(out, [7u8; 10]);
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[test]
    fn applies_to_listed_remote_addresses_only() {
        let l = Latency {
            delay: Duration::from_millis(20),
            peers: vec!["10.1.2.11".parse().expect("ip")],
        };
        let dial = |a: &str| ConnectedPoint::Dialer {
            address: a.parse().expect("multiaddr"),
            role_override: libp2p::core::Endpoint::Dialer,
            port_use: libp2p::core::transport::PortUse::Reuse,
        };
        assert_eq!(l.for_endpoint(&dial("/ip4/10.1.2.11/tcp/7000")), l.delay);
        assert_eq!(
            l.for_endpoint(&dial("/ip4/10.1.2.12/tcp/7000")),
            Duration::ZERO
        );
        let inbound = ConnectedPoint::Listener {
            local_addr: "/ip4/10.1.2.10/tcp/7000".parse().expect("multiaddr"),
            send_back_addr: "/ip4/10.1.2.11/tcp/40000".parse().expect("multiaddr"),
        };
        assert_eq!(l.for_endpoint(&inbound), l.delay);
    }
}
