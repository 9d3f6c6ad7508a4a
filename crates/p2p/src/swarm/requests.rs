//! Requests and responses on both protocols: per-peer limits, the channel each kind takes,
//! and the handshake deadline of unadmitted peers.

use super::*;

impl SwarmTask {
    pub(super) async fn on_reqres(
        &mut self,
        event: request_response::Event<NetRequest, NetResponse>,
        via: Via,
    ) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request_id,
                    request,
                    channel,
                } => {
                    self.on_request(peer, request_id, request, ResponseToken { channel, via })
                        .await
                }
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    if let Some((_, reply)) = self.pending_requests.remove(&(via, request_id)) {
                        let _ = reply.send(Ok(response));
                    }
                }
            },
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                debug!(peer = %peer, error = %error, "request failed");
                Counters::inc(&self.counters().requests_failed);
                if let Some((key, reply)) = self.pending_requests.remove(&(via, request_id)) {
                    let peer = key.to_hex();
                    let err = match error {
                        OutboundFailure::DialFailure => P2pError::DialFailure {
                            target: peer,
                            reason: "no reachable address for this peer".into(),
                        },
                        OutboundFailure::Timeout => P2pError::Timeout { peer },
                        OutboundFailure::ConnectionClosed => P2pError::ConnectionClosed { peer },
                        OutboundFailure::UnsupportedProtocols => {
                            P2pError::UnsupportedProtocol { peer }
                        }
                        OutboundFailure::Io(e) => P2pError::Io {
                            peer,
                            reason: e.to_string(),
                        },
                    };
                    let _ = reply.send(Err(err));
                }
            }
            request_response::Event::InboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                debug!(peer = %peer, error = %error, "inbound request failed");
                self.finish_inbound(via, request_id);
            }
            request_response::Event::ResponseSent { request_id, .. } => {
                self.finish_inbound(via, request_id);
            }
        }
    }

    pub(super) fn set_admitted(&self, peer: PeerId, admitted: bool) {
        let mut set = self.admitted.write().unwrap_or_else(|e| e.into_inner());
        if admitted {
            set.insert(peer);
        } else {
            set.remove(&peer);
        }
    }

    pub(super) fn finish_inbound(&mut self, via: Via, id: InboundRequestId) {
        if let Some((peer, class)) = self.inbound.remove(&(via, id)) {
            self.gate.finish(&peer, class);
        }
    }

    pub(super) fn respond_now(
        &mut self,
        token: ResponseToken,
        code: error_reply::Code,
        message: &str,
    ) {
        let resp = error_response(code, message);
        let behaviour = self.swarm.behaviour_mut();
        let _ = match token.via {
            Via::Node => behaviour.reqres.inner.send_response(token.channel, resp),
            Via::Light => behaviour.light.send_response(token.channel, resp),
        };
    }

    /// Disconnects the unadmitted peers whose handshake time is up.
    pub(super) fn close_expired(&mut self) {
        for peer in self.gate.expired(Instant::now()) {
            Counters::inc(&self.counters().handshake_timeouts);
            debug!(%peer, "not admitted within the handshake timeout; disconnecting");
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }

    pub(super) async fn on_request(
        &mut self,
        peer: PeerId,
        request_id: InboundRequestId,
        request: NetRequest,
        token: ResponseToken,
    ) {
        let Ok(from) = key_of(&peer) else {
            self.respond_now(
                token,
                error_reply::Code::Unauthorized,
                "peer id is not an ed25519 key",
            );
            return;
        };
        let Some(kind) = &request.kind else {
            self.respond_now(
                token,
                error_reply::Code::Malformed,
                "request without a kind",
            );
            return;
        };
        let class = class_of(kind);
        // Each protocol carries its own kinds: a light request never rides the node protocol's
        // large frames, and the light protocol never reaches consensus or uploads.
        let expected = if class == Class::Light {
            Via::Light
        } else {
            Via::Node
        };
        if token.via != expected {
            let msg = match expected {
                Via::Light => "light-node requests go on the light protocol",
                Via::Node => "only light-node requests go on the light protocol",
            };
            self.respond_now(token, error_reply::Code::Malformed, msg);
            return;
        }
        if !self.gate.start(&peer, class, Instant::now()) {
            Counters::inc(&self.counters().over_peer_limit);
            self.respond_now(
                token,
                error_reply::Code::Busy,
                "too many requests in flight from this peer, retry later",
            );
            return;
        }
        self.inbound.insert((token.via, request_id), (peer, class));
        let event = NetworkEvent::Request {
            from,
            request: Box::new(request),
            token,
        };
        let (channel, dropped) = match class {
            Class::Consensus => {
                Counters::inc(&self.counters().requests_in);
                self.deliver_consensus(event).await;
                return;
            }
            Class::Upload => (&self.other, &self.shared.counters.dropped_requests_other),
            Class::Light => (&self.light, &self.shared.counters.dropped_requests_light),
        };
        match channel.try_send(event) {
            Ok(()) => Counters::inc(&self.counters().requests_in),
            Err(e) => {
                let event = match e {
                    mpsc::error::TrySendError::Full(ev) => {
                        Counters::inc(dropped);
                        ev
                    }
                    mpsc::error::TrySendError::Closed(ev) => {
                        Counters::inc(&self.shared.counters.dropped_closed_channel);
                        ev
                    }
                };
                if let NetworkEvent::Request { token, .. } = event {
                    self.respond_now(
                        token,
                        error_reply::Code::Busy,
                        "node overloaded, retry later",
                    );
                }
            }
        }
    }
}

/// Which per-peer limit (and which protocol and channel) a request kind belongs to.
pub(super) fn class_of(kind: &net_request::Kind) -> Class {
    use net_request::Kind;
    match kind {
        Kind::Hello(_) | Kind::Consensus(_) | Kind::CatchUp(_) => Class::Consensus,
        Kind::Upload(_) | Kind::UploadBatch(_) | Kind::Receipts(_) => Class::Upload,
        Kind::Challenge(_) | Kind::Query(_) | Kind::Headers(_) | Kind::AccessUpload(_) => {
            Class::Light
        }
    }
}
