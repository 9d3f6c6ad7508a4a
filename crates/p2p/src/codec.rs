//! Request-response codec: one protobuf message per stream, behind a 4-byte big-endian length.
//!
//! Two protocols share the codec with different limits: the node protocol (certified peers:
//! consensus, catch-up, uploads) and the light protocol (anyone: challenges, queries, headers),
//! whose requests are small. The length is checked against the protocol's maximum *before*
//! anything is read, and the buffer grows only as bytes actually arrive (never sized from the
//! announced length), so a peer announcing a huge frame costs nothing and one that sends it
//! slowly costs only what it sent; oversized or undecodable frames become `io::Error`s (libp2p
//! then fails that one exchange), never panics.

use crate::stats::Counters;
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::request_response;
use libp2p::{PeerId, StreamProtocol};
use medblock_core::wire::{NetRequest, NetResponse};
use prost::Message;
use std::collections::HashSet;
use std::io;
use std::sync::{Arc, Mutex, RwLock};

/// The node protocol's name (certified peers); versioned so an incompatible change gets a new
/// name.
pub(crate) const PROTOCOL: StreamProtocol = StreamProtocol::new("/medblock/req/1");
/// The light protocol's name (light nodes and anyone else: challenges, queries, headers).
pub(crate) const LIGHT_PROTOCOL: StreamProtocol = StreamProtocol::new("/medblock/light/1");

/// The most a frame's buffer is given before its bytes arrive.
const FIRST_CHUNK: usize = 16 * 1024;

/// Length-prefixed prost codec for `NetRequest` / `NetResponse`.
#[derive(Debug)]
pub(crate) struct ProstCodec {
    max_request: usize,
    max_response: usize,
    counters: Arc<Counters>,
    /// The role-dependent request limit, when this codec serves the node protocol.
    roles: Option<Roles>,
    /// The peer this copy reads from (see [`crate::bound`]); `None` until bound.
    peer: Option<PeerId>,
}

/// What a node-protocol codec needs to pick a request limit by the sender's role.
#[derive(Debug, Clone)]
pub(crate) struct Roles {
    /// Peers the node admitted (kept by the swarm task).
    pub admitted: Arc<RwLock<HashSet<PeerId>>>,
    /// Largest request from a peer not admitted (a Hello with its certificate).
    pub unadmitted_max: usize,
    /// Set by [`crate::bound::PeerBound`] while libp2p builds a connection's handler: the
    /// copy of the codec made for that handler takes the peer from here.
    pub binding: Arc<Mutex<Option<PeerId>>>,
}

impl Clone for ProstCodec {
    /// libp2p copies the codec once for each connection's handler (while
    /// [`crate::bound::PeerBound`] holds the binding) and then once per stream from that copy:
    /// the first copy takes its connection's peer, and later copies keep it.
    fn clone(&self) -> Self {
        let peer = self.peer.or_else(|| {
            self.roles
                .as_ref()
                .and_then(|r| *r.binding.lock().unwrap_or_else(|e| e.into_inner()))
        });
        Self {
            max_request: self.max_request,
            max_response: self.max_response,
            counters: self.counters.clone(),
            roles: self.roles.clone(),
            peer,
        }
    }
}

impl ProstCodec {
    /// A codec whose requests and responses may each be up to `max_bytes`.
    pub(crate) fn new(max_bytes: usize, counters: Arc<Counters>) -> Self {
        Self::with_limits(max_bytes, max_bytes, counters)
    }

    /// A codec with separate limits for requests and responses.
    pub(crate) fn with_limits(
        max_request: usize,
        max_response: usize,
        counters: Arc<Counters>,
    ) -> Self {
        Self {
            max_request,
            max_response,
            counters,
            roles: None,
            peer: None,
        }
    }

    /// A codec whose request limit depends on the sender: `max_request` for admitted peers,
    /// `roles.unadmitted_max` for everyone else (and for a copy not bound to a peer).
    pub(crate) fn with_roles(mut self, roles: Roles) -> Self {
        self.roles = Some(roles);
        self
    }

    /// The largest request this copy reads now.
    fn request_limit(&self) -> usize {
        let Some(roles) = &self.roles else {
            return self.max_request;
        };
        let admitted = self.peer.is_some_and(|p| {
            roles
                .admitted
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .contains(&p)
        });
        if admitted {
            self.max_request
        } else {
            roles.unadmitted_max.min(self.max_request)
        }
    }

    fn reject(&self, kind: io::ErrorKind, msg: String) -> io::Error {
        Counters::inc(&self.counters.rejected_frames);
        io::Error::new(kind, msg)
    }

    async fn read_frame<M, T>(&self, io: &mut T, max: usize) -> io::Result<M>
    where
        M: Message + Default,
        T: AsyncRead + Unpin + Send,
    {
        let mut header = [0u8; 4];
        io.read_exact(&mut header).await?;
        let len = u32::from_be_bytes(header) as usize;
        if len > max {
            return Err(self.reject(
                io::ErrorKind::InvalidData,
                format!("frame of {len} bytes exceeds the maximum of {max}"),
            ));
        }
        // Grown by `read_to_end` as bytes come in, not reserved from the peer's word.
        let mut buf = Vec::with_capacity(len.min(FIRST_CHUNK));
        io.take(len as u64).read_to_end(&mut buf).await?;
        if buf.len() != len {
            return Err(self.reject(
                io::ErrorKind::UnexpectedEof,
                format!("frame truncated: {} of {len} bytes", buf.len()),
            ));
        }
        M::decode(buf.as_slice()).map_err(|e| {
            self.reject(
                io::ErrorKind::InvalidData,
                format!("undecodable frame: {e}"),
            )
        })
    }

    async fn write_frame<M, T>(&self, io: &mut T, msg: &M, max: usize) -> io::Result<()>
    where
        M: Message,
        T: AsyncWrite + Unpin + Send,
    {
        let len = msg.encoded_len();
        let len32 = u32::try_from(len).ok().filter(|_| len <= max);
        let Some(len32) = len32 else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("message of {len} bytes exceeds the maximum of {max}"),
            ));
        };
        let mut buf = Vec::with_capacity(4 + len);
        buf.extend_from_slice(&len32.to_be_bytes());
        msg.encode(&mut buf)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        io.write_all(&buf).await?;
        io.flush().await
    }
}

impl request_response::Codec for ProstCodec {
    type Protocol = StreamProtocol;
    type Request = NetRequest;
    type Response = NetResponse;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<NetRequest>
    where
        T: AsyncRead + Unpin + Send,
    {
        self.read_frame(io, self.request_limit()).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<NetResponse>
    where
        T: AsyncRead + Unpin + Send,
    {
        self.read_frame(io, self.max_response).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: NetRequest,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        self.write_frame(io, &req, self.max_request).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: NetResponse,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        self.write_frame(io, &res, self.max_response).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;
    use futures::io::Cursor;
    use libp2p::request_response::Codec;
    use medblock_core::wire::{ErrorReply, Hello, net_request, net_response};
    use std::sync::atomic::Ordering;

    fn codec(max: usize) -> (ProstCodec, Arc<Counters>) {
        let counters = Arc::new(Counters::default());
        (ProstCodec::new(max, counters.clone()), counters)
    }

    fn hello() -> NetRequest {
        NetRequest {
            kind: Some(net_request::Kind::Hello(Hello {
                genesis_hash: vec![7; 32],
                certificate: None,
                height: 42,
                http_address: "http://127.0.0.1:8080".into(),
            })),
        }
    }

    #[test]
    fn request_and_response_round_trip() {
        block_on(async {
            let (mut c, _) = codec(1024);
            let mut wire = Cursor::new(Vec::new());
            c.write_request(&PROTOCOL, &mut wire, hello()).await?;
            let mut rd = Cursor::new(wire.into_inner());
            assert_eq!(c.read_request(&PROTOCOL, &mut rd).await?, hello());

            let resp = NetResponse {
                kind: Some(net_response::Kind::Error(ErrorReply {
                    code: 4,
                    message: "busy".into(),
                })),
            };
            let mut wire = Cursor::new(Vec::new());
            c.write_response(&PROTOCOL, &mut wire, resp.clone()).await?;
            let mut rd = Cursor::new(wire.into_inner());
            assert_eq!(c.read_response(&PROTOCOL, &mut rd).await?, resp);
            Ok::<_, io::Error>(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn oversized_frame_is_an_error_before_allocation() {
        let (mut c, counters) = codec(64);
        // Announces 4 GiB and sends nothing more.
        let mut rd = Cursor::new(vec![0xff, 0xff, 0xff, 0xff]);
        let err = block_on(c.read_request(&PROTOCOL, &mut rd)).err();
        assert_eq!(err.map(|e| e.kind()), Some(io::ErrorKind::InvalidData));
        assert_eq!(counters.rejected_frames.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn garbage_and_truncated_frames_are_errors() {
        let (mut c, counters) = codec(64);
        // 0xff.. is not a valid protobuf field tag/varint.
        let mut frame = 8u32.to_be_bytes().to_vec();
        frame.extend_from_slice(&[0xff; 8]);
        let err = block_on(c.read_response(&PROTOCOL, &mut Cursor::new(frame))).err();
        assert_eq!(err.map(|e| e.kind()), Some(io::ErrorKind::InvalidData));

        let mut frame = 10u32.to_be_bytes().to_vec();
        frame.extend_from_slice(&[0x08, 0x01]);
        let err = block_on(c.read_request(&PROTOCOL, &mut Cursor::new(frame))).err();
        assert_eq!(err.map(|e| e.kind()), Some(io::ErrorKind::UnexpectedEof));

        let err = block_on(c.read_request(&PROTOCOL, &mut Cursor::new(vec![0, 0]))).err();
        assert_eq!(err.map(|e| e.kind()), Some(io::ErrorKind::UnexpectedEof));
        assert_eq!(counters.rejected_frames.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn requests_and_responses_have_their_own_limits() {
        let counters = Arc::new(Counters::default());
        let mut c = ProstCodec::with_limits(16, 1024, counters);
        let mut wire = Cursor::new(Vec::new());
        // A hello is over 16 bytes: too big as a request, fine as a response.
        let err = block_on(c.write_request(&PROTOCOL, &mut wire, hello())).err();
        assert_eq!(err.map(|e| e.kind()), Some(io::ErrorKind::InvalidInput));
        let mut frame = 100u32.to_be_bytes().to_vec();
        frame.extend_from_slice(&[0; 100]);
        let err = block_on(c.read_request(&PROTOCOL, &mut Cursor::new(frame))).err();
        assert_eq!(err.map(|e| e.kind()), Some(io::ErrorKind::InvalidData));
    }

    #[test]
    fn writing_an_oversized_message_fails() {
        let (mut c, _) = codec(8);
        let mut wire = Cursor::new(Vec::new());
        let err = block_on(c.write_request(&PROTOCOL, &mut wire, hello())).err();
        assert_eq!(err.map(|e| e.kind()), Some(io::ErrorKind::InvalidInput));
        assert!(wire.into_inner().is_empty());
    }
}
