//! A department's test-only misbehaviour (see [`crate::byzantine`]): what a certified insider
//! could send its endorser through the ordinary upload path. Never on unless the node was
//! started in Byzantine test mode.

use super::{Client, Outgoing};
use crate::clock::now_ms;
use actix::prelude::*;
use medblock_core::EventKey;
use medblock_core::access::record::{ACCESS_HOSPITAL, CONSENT_DEPARTMENT, build_access_event};
use medblock_core::keys::SigningKey;
use medblock_core::wire;
use std::time::Duration;

/// How often the flood sends (its rate is per second, spread over these ticks).
const FLOOD_TICK: Duration = Duration::from_millis(100);

impl Client {
    /// `reuse_sequences`: the number for the next record when the department reuses one
    /// already taken (`last`, its newest), with new content; `None` for the honest next one.
    /// One record in two reuses, so the department also takes fresh numbers for the honest
    /// records whose numbers it then reuses.
    pub(super) fn reused_sequence(&self, last: u64) -> Option<u64> {
        (self.ctx.byzantine.reuse_sequences && last > 0 && rand::random::<bool>()).then_some(last)
    }

    /// `flood_access_per_sec`: starts sending that many access records a second to the
    /// region's endorser, each a consent grant signed by a fresh key no ledger knows.
    pub(super) fn start_access_flood(&mut self, ctx: &mut Context<Self>) {
        let per_sec = self.ctx.byzantine.flood_access_per_sec;
        if per_sec == 0 {
            return;
        }
        tracing::warn!(per_sec, "Byzantine test mode: flooding access records");
        let per_tick = per_sec.div_ceil(10).max(1) as usize;
        ctx.run_interval(FLOOD_TICK, move |act, ctx| {
            let Some(endorser) = act.pick_endorser(None) else {
                return;
            };
            let batch = (0..per_tick).map(|_| flood_record()).collect();
            act.send_batch(endorser, batch, ctx);
        });
    }
}

/// One consent grant by a key nobody knows, to another such key.
fn flood_record() -> Outgoing {
    let mut rng = rand::rng();
    let author = SigningKey::generate(&mut rng);
    let grantee = SigningKey::generate(&mut rng).public();
    let sequence = rand::random::<u64>() >> 1;
    let record = wire::AccessRecord {
        kind: Some(wire::access_record::Kind::Grant(wire::ConsentGrant {
            grantee_key: grantee.as_bytes().to_vec(),
            grantee_name: "flood".into(),
            records: Vec::new(),
        })),
    };
    let now = now_ms();
    Outgoing {
        key: EventKey::new(ACCESS_HOSPITAL, CONSENT_DEPARTMENT, sequence),
        event: build_access_event(&author, sequence, &record, now),
        deadline_ms: now,
    }
}
