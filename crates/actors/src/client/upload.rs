//! Sending recorded events to endorsers: picking the endorser, batching uploads, checking the
//! batch receipts, and resubmitting what gets no receipt or commit in time (to another
//! endorser; the sequence number makes a retry idempotent).

use super::{Attempt, Client, Outgoing};
use crate::clock::now_ms;
use crate::endorser::ingress::UploadBatchIn;
use crate::shared::Counters;
use actix::prelude::*;
use medblock_core::keys::PublicKey;
use medblock_core::wire::error_reply::Code;
use medblock_core::{EventKey, wire};
use prost::Message as _;
use std::collections::HashSet;

/// Uploads a department keeps unanswered at once (see `Client::retry_due`).
const MAX_IN_FLIGHT: usize = 256;

/// Events one upload request carries at most, and its encoded size at most (well under the
/// network's message limit).
const UPLOAD_BATCH_EVENTS: usize = 256;
const UPLOAD_BATCH_BYTES: usize = 1 << 20;

impl Client {
    /// The endorser to use: the elected one of our region, or, after it failed us, the next
    /// candidate of the region; the one that failed us again when the region has no other
    /// (else a region of one candidate never got an event back that it once failed to take:
    /// a department cut off from its peers for a moment kept it in its outbox for good).
    pub(super) fn pick_endorser(&self, avoid: Option<PublicKey>) -> Option<PublicKey> {
        let membership = self.ctx.membership();
        let region = membership.region(self.ctx.region())?;
        if let Some(e) = self.endorser.filter(|e| Some(*e) != avoid) {
            return Some(e);
        }
        let n = region.candidates.len();
        let start = avoid
            .and_then(|a| region.candidates.iter().position(|c| *c == a))
            .map(|i| i + 1)
            .unwrap_or(0);
        (0..n)
            .filter_map(|i| region.candidates.get((start + i) % n).copied())
            .find(|c| Some(*c) != avoid)
            .or(avoid.filter(|a| region.candidates.contains(a)))
    }

    /// Sends events to their endorsers, those for one endorser together in batches of at most
    /// [`UPLOAD_BATCH_EVENTS`] events and [`UPLOAD_BATCH_BYTES`] bytes. An event that was sent
    /// before goes to another endorser than last time.
    pub(super) fn send_many(&mut self, events: Vec<Outgoing>, ctx: &mut Context<Self>) {
        let mut groups: Vec<(PublicKey, Vec<Outgoing>)> = Vec::new();
        for out in events {
            let avoid = self.attempts.get(&out.key).map(|a| a.endorser);
            let Some(endorser) = self.pick_endorser(avoid) else {
                // The rest stays in the outbox for the next retry tick.
                tracing::warn!("no endorser known for our region yet");
                break;
            };
            if avoid.is_some() {
                Counters::inc(&self.ctx.counters.client_retries);
                tracing::debug!(endorser = %endorser, "resubmitting to another endorser");
            }
            self.attempts.insert(
                out.key,
                Attempt {
                    endorser,
                    at_ms: now_ms(),
                    accepted: false,
                    deadline_ms: out.deadline_ms,
                },
            );
            match groups.iter_mut().find(|(e, _)| *e == endorser) {
                Some((_, g)) => g.push(out),
                None => groups.push((endorser, vec![out])),
            }
        }
        for (endorser, group) in groups {
            let mut batch = Vec::new();
            let mut bytes = 0;
            for out in group {
                let len = out.event.encoded_len();
                if !batch.is_empty()
                    && (batch.len() >= UPLOAD_BATCH_EVENTS || bytes + len > UPLOAD_BATCH_BYTES)
                {
                    self.send_batch(endorser, std::mem::take(&mut batch), ctx);
                    bytes = 0;
                }
                bytes += len;
                batch.push(out);
            }
            if !batch.is_empty() {
                self.send_batch(endorser, batch, ctx);
            }
        }
    }

    /// One upload request to `endorser`; each event's attempt is marked accepted when the
    /// signed batch receipt names it, or due for a prompt retry elsewhere when it is refused.
    pub(super) fn send_batch(
        &mut self,
        endorser: PublicKey,
        batch: Vec<Outgoing>,
        ctx: &mut Context<Self>,
    ) {
        let keys: Vec<EventKey> = batch.iter().map(|o| o.key).collect();
        let now = now_ms();
        let uploads = wire::UploadBatch {
            uploads: batch
                .into_iter()
                .map(|o| wire::Upload {
                    event: Some(o.event),
                    // A retry keeps the original deadline: only the time left goes along.
                    upload_within_ms: o.deadline_ms.saturating_sub(now),
                })
                .collect(),
        };
        let local = self
            .local_endorser
            .clone()
            .filter(|_| endorser == self.ctx.key());
        let net = self.ctx.net.clone();
        let fut = async move {
            if let Some(local) = local {
                return match local.upload_batch.send(UploadBatchIn(uploads)).await {
                    Ok(Ok(a)) => Ok(a),
                    Ok(Err(e)) => Err(e.message),
                    Err(e) => Err(e.to_string()),
                };
            }
            let req = wire::NetRequest {
                kind: Some(wire::net_request::Kind::UploadBatch(uploads)),
            };
            match net.request(endorser, req).await {
                Ok(wire::NetResponse {
                    kind: Some(wire::net_response::Kind::BatchAnswer(a)),
                }) => Ok(a),
                Ok(wire::NetResponse {
                    kind: Some(wire::net_response::Kind::Error(e)),
                }) => Err(e.message),
                Ok(_) => Err("unexpected answer".into()),
                Err(e) => Err(e.to_string()),
            }
        };
        ctx.spawn(fut.into_actor(self).map(move |res, act, _| {
            let mut conflicts = HashSet::new();
            let accepted = match res {
                Ok(answer) => {
                    for r in &answer.refused {
                        let reason = r.error.as_ref().map(|e| e.message.as_str()).unwrap_or("");
                        let conflict = r
                            .error
                            .as_ref()
                            .is_some_and(|e| e.code == Code::Conflict as i32);
                        match keys.get(r.index as usize) {
                            Some(key) if conflict => {
                                // Another event holds this number: no endorser will take this
                                // one, so it is not resent at once (only after the receipt
                                // timeout, in case the holder is dropped), and an operator
                                // must hear of it (a counter restored from an old backup).
                                tracing::error!(endorser = %endorser, reason, "upload refused: its sequence number is taken by another event");
                                conflicts.insert(*key);
                            }
                            _ => {
                                tracing::debug!(endorser = %endorser, reason, "upload not accepted")
                            }
                        }
                    }
                    accepted_keys(&answer, &endorser)
                }
                Err(reason) => {
                    tracing::debug!(endorser = %endorser, reason, "upload batch not accepted");
                    HashSet::new()
                }
            };
            for key in keys {
                if let Some(a) = act.attempts.get_mut(&key) {
                    if accepted.contains(&key) {
                        a.accepted = true;
                    } else if !a.accepted && !conflicts.contains(&key) {
                        // Retry promptly with another endorser.
                        a.at_ms = 0;
                    }
                }
            }
        }));
    }

    pub(super) fn retry_due(&mut self, ctx: &mut Context<Self>) {
        let now = now_ms();
        // Uploads sent and not yet answered: keep at most MAX_IN_FLIGHT, the rest wait in the
        // outbox (durable) for the next tick, so a burst of visits never floods the endorser's
        // connection with more streams than it serves.
        let in_flight = self
            .attempts
            .values()
            .filter(|a| !a.accepted && now.saturating_sub(a.at_ms) < self.receipt_timeout_ms)
            .count();
        let room = MAX_IN_FLIGHT.saturating_sub(in_flight);
        if room == 0 {
            return;
        }
        let due = match self.outbox.oldest(room, &|k| {
            self.attempts.get(k).is_some_and(|a| {
                let limit = if a.accepted {
                    self.commit_timeout_ms + a.deadline_ms.saturating_sub(a.at_ms)
                } else {
                    self.receipt_timeout_ms
                };
                now.saturating_sub(a.at_ms) < limit
            })
        }) {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "outbox unreadable");
                return;
            }
        };
        let mut outgoing = Vec::with_capacity(due.len());
        for q in due {
            match wire::Event::decode(q.bytes.as_slice()) {
                Ok(event) => outgoing.push(Outgoing {
                    key: q.key,
                    event,
                    deadline_ms: q.order_ms,
                }),
                Err(e) => {
                    tracing::error!(error = %e, "an outbox entry does not decode; dropped");
                    let _ = self.outbox.remove([&q.key]);
                }
            }
        }
        self.send_many(outgoing, ctx);
    }
}

/// The events a batch answer's receipt acknowledges, when it is signed by `endorser` and names
/// it; an answer whose receipt does not verify acknowledges nothing.
fn accepted_keys(answer: &wire::BatchAnswer, endorser: &PublicKey) -> HashSet<EventKey> {
    let Some(receipt) = &answer.receipt else {
        return HashSet::new();
    };
    let Ok(sig) = medblock_core::keys::Signature::from_slice(&receipt.signature) else {
        return HashSet::new();
    };
    if endorser
        .verify(
            medblock_core::keys::purpose::RECEIPT_BATCH,
            &receipt.body,
            &sig,
        )
        .is_err()
    {
        tracing::warn!(endorser = %endorser, "batch receipt with a bad signature ignored");
        return HashSet::new();
    }
    let Ok(body) = wire::ReceiptBatchBody::decode(receipt.body.as_slice()) else {
        return HashSet::new();
    };
    body.receipts
        .iter()
        .filter(|r| r.endorser_key == endorser.as_bytes())
        .map(|r| EventKey::new(&r.hospital, &r.department, r.sequence))
        .collect()
}
