//! Gossip from peers: handed to the node, which reports a verdict gossipsub acts on.

use super::*;

impl SwarmTask {
    pub(super) async fn on_gossipsub(&mut self, event: gossipsub::Event) {
        match event {
            gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            } => {
                let id = GossipId {
                    id: message_id,
                    from: propagation_source,
                };
                let topic = Topic::from_hash(&message.topic);
                let neighbour = key_of(&propagation_source).ok();
                let (Some(topic), Some(propagated_by)) = (topic, neighbour) else {
                    debug!(from = %propagation_source, topic = %message.topic, "rejecting gossip: unknown topic or neighbour");
                    self.report(id, Verdict::Reject);
                    return;
                };
                let event = NetworkEvent::Gossip {
                    propagated_by,
                    topic,
                    id: id.clone(),
                    data: message.data,
                };
                if topic.is_consensus_critical() {
                    Counters::inc(&self.counters().gossip_in);
                    self.deliver_consensus(event).await;
                    return;
                }
                match self.other.try_send(event) {
                    Ok(()) => Counters::inc(&self.counters().gossip_in),
                    Err(e) => {
                        let counter = match e {
                            mpsc::error::TrySendError::Full(_) => {
                                &self.counters().dropped_gossip_other
                            }
                            mpsc::error::TrySendError::Closed(_) => {
                                &self.counters().dropped_closed_channel
                            }
                        };
                        Counters::inc(counter);
                        self.report(id, Verdict::Ignore);
                    }
                }
            }
            gossipsub::Event::Subscribed { peer_id, topic } => {
                if let (Some(topic), Ok(key)) = (Topic::from_hash(&topic), key_of(&peer_id)) {
                    self.deliver_consensus(NetworkEvent::Subscribed { key, topic })
                        .await;
                }
            }
            gossipsub::Event::GossipsubNotSupported { peer_id } => {
                debug!(peer = %peer_id, "peer does not support gossipsub");
            }
            gossipsub::Event::SlowPeer { peer_id, .. } => {
                debug!(peer = %peer_id, "slow gossipsub peer");
            }
            _ => {}
        }
    }

    pub(super) fn report(&mut self, id: GossipId, verdict: Verdict) {
        let acceptance = match verdict {
            Verdict::Accept => MessageAcceptance::Accept,
            Verdict::Reject => {
                Counters::inc(&self.counters().gossip_rejected);
                MessageAcceptance::Reject
            }
            Verdict::Ignore => MessageAcceptance::Ignore,
        };
        self.swarm
            .behaviour_mut()
            .gossipsub
            .report_message_validation_result(&id.id, &id.from, acceptance);
    }
}
