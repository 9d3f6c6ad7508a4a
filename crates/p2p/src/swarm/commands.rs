//! Commands from the node's handles: publish, request, respond, admit, ban, dial, look up.

use super::requests::class_of;
use super::*;

impl SwarmTask {
    pub(super) fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Publish { topic, data, reply } => {
                let size = data.len();
                let res = match self
                    .swarm
                    .behaviour_mut()
                    .gossipsub
                    .publish(topic.ident(), data)
                {
                    Ok(_) => {
                        Counters::inc(&self.counters().gossip_out);
                        Ok(())
                    }
                    Err(PublishError::NoPeersSubscribedToTopic) => {
                        Err(P2pError::InsufficientPeers {
                            topic: topic.as_str(),
                        })
                    }
                    Err(PublishError::MessageTooLarge) => Err(P2pError::MessageTooLarge {
                        size,
                        max: self.shared.max_message_bytes,
                    }),
                    Err(e) => Err(P2pError::Publish(e.to_string())),
                };
                let _ = reply.send(res);
            }
            Command::Request {
                to,
                request,
                dial,
                reply,
            } => {
                let peer = match to_peer_id(&to) {
                    Ok(p) => p,
                    Err(e) => {
                        let _ = reply.send(Err(e));
                        return;
                    }
                };
                if self.is_banned(&peer) {
                    let _ = reply.send(Err(P2pError::Banned { peer: to.to_hex() }));
                    return;
                }
                if peer == self.local_peer {
                    let _ = reply.send(Err(P2pError::DialFailure {
                        target: to.to_hex(),
                        reason: "that is this node's own key".into(),
                    }));
                    return;
                }
                if !dial && !self.swarm.is_connected(&peer) {
                    let _ = reply.send(Err(P2pError::ConnectionClosed { peer: to.to_hex() }));
                    return;
                }
                let via = match &request.kind {
                    Some(kind) if class_of(kind) == Class::Light => Via::Light,
                    _ => Via::Node,
                };
                let behaviour = self.swarm.behaviour_mut();
                let id = match via {
                    Via::Node => behaviour.reqres.inner.send_request(&peer, *request),
                    Via::Light => behaviour.light.send_request(&peer, *request),
                };
                Counters::inc(&self.counters().requests_out);
                self.pending_requests.insert((via, id), (to, reply));
            }
            Command::Respond {
                token,
                response,
                reply,
            } => {
                let behaviour = self.swarm.behaviour_mut();
                let res = match token.via {
                    Via::Node => behaviour
                        .reqres
                        .inner
                        .send_response(token.channel, response),
                    Via::Light => behaviour.light.send_response(token.channel, response),
                }
                .map_err(|_| P2pError::ResponseChannelClosed);
                let _ = reply.send(res);
            }
            Command::Report { id, verdict } => self.report(id, verdict),
            Command::Dial { addr, reply } => self.dial(addr, reply),
            Command::Disconnect { peer } => {
                debug!(%peer, "banning and disconnecting peer");
                let behaviour = self.swarm.behaviour_mut();
                behaviour.ban.block_peer(peer);
                behaviour.kad.remove_peer(&peer);
                behaviour.gossipsub.blacklist_peer(&peer);
                self.set_admitted(peer, false);
                self.keep_banned(&peer);
            }
            Command::Close { peer } => {
                debug!(%peer, "closing the connections to a peer (not banned)");
                let _ = self.swarm.disconnect_peer_id(peer);
            }
            Command::Isolate { keep, reply } => {
                let _ = reply.send(self.isolate(keep));
            }
            Command::Rejoin { reply } => {
                let _ = reply.send(self.rejoin());
            }
            Command::Admit { peer } => {
                if self.gate.admit(&peer) {
                    debug!(%peer, "peer admitted to gossip");
                    self.set_admitted(peer, true);
                    self.swarm
                        .behaviour_mut()
                        .gossipsub
                        .set_application_score(&peer, ADMITTED_SCORE);
                }
            }
            Command::Peers { reply } => {
                let peers = self
                    .peers
                    .iter()
                    .filter_map(|(peer, state)| {
                        let key = key_of(peer).ok()?;
                        let addrs = if state.listen.is_empty() {
                            &state.connected_on
                        } else {
                            &state.listen
                        };
                        Some(PeerInfo {
                            key,
                            addrs: addrs.iter().map(|a| a.to_string()).collect(),
                        })
                    })
                    .collect();
                let _ = reply.send(peers);
            }
            Command::FindPeer { peer, reply } => {
                if let Some(state) = self.peers.get(&peer) {
                    let addrs = if state.listen.is_empty() {
                        &state.connected_on
                    } else {
                        &state.listen
                    };
                    let out = addrs
                        .iter()
                        .map(|a| with_peer(a.clone(), peer).to_string())
                        .collect();
                    let _ = reply.send(out);
                } else {
                    let id = self.swarm.behaviour_mut().kad.get_closest_peers(peer);
                    self.pending_finds.insert(id, (peer, reply));
                }
            }
            Command::Shutdown { reply } => self.stop = Some(reply),
        }
    }

    pub(super) fn dial(&mut self, text: String, reply: oneshot::Sender<Result<(), P2pError>>) {
        let addr = match parse_addr(&text) {
            Ok(a) => a,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        let kept = match addr.iter().last() {
            Some(Protocol::P2p(peer)) => self.may_reach(&peer),
            _ => self.isolation.is_none(),
        };
        if !kept {
            let _ = reply.send(Err(P2pError::DialFailure {
                target: text,
                reason: "this node is cut off from its peers (p2p disconnect)".into(),
            }));
            return;
        }
        let opts = match addr.iter().last() {
            Some(Protocol::P2p(peer)) => {
                if self.is_banned(&peer) {
                    let _ = reply.send(Err(P2pError::Banned {
                        peer: hex_of(&peer),
                    }));
                    return;
                }
                if self.swarm.is_connected(&peer) {
                    let _ = reply.send(Ok(()));
                    return;
                }
                DialOpts::peer_id(peer)
                    .addresses(vec![addr])
                    .condition(PeerCondition::Always)
                    .build()
            }
            _ => DialOpts::unknown_peer_id().address(addr).build(),
        };
        let id = opts.connection_id();
        match self.swarm.dial(opts) {
            Ok(()) => {
                self.pending_dials.insert(id, (text, reply));
            }
            Err(e) => {
                let _ = reply.send(Err(dial_error(text, None, &e)));
            }
        }
    }
}

/// Whether a dial failed because the peer is on our ban list.
pub(super) fn is_ban_denial(error: &DialError) -> bool {
    matches!(error, DialError::Denied { cause } if cause.downcast_ref::<allow_block_list::Blocked>().is_some())
}

pub(super) fn dial_error(target: String, peer: Option<PeerId>, error: &DialError) -> P2pError {
    if is_ban_denial(error) {
        return P2pError::Banned {
            peer: peer.map(|p| hex_of(&p)).unwrap_or(target),
        };
    }
    P2pError::DialFailure {
        target,
        reason: error.to_string(),
    }
}
