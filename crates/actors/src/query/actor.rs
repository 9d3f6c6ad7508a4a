//! The query server's implementation (see the module docs in `query/mod.rs`).

use super::ingress::{
    CheckQuery, IssueChallenge, MAX_KEPT_CLAIMS, Prepared, ServeHeaders, SignedTips,
};
use crate::client::ingress::ReadEmr;
use crate::clock::now_ms;
use crate::shared::Ctx;
use actix::prelude::*;
use medblock_core::access::AccessError;
use medblock_core::access::decide::{Scope, decide};
use medblock_core::access::nonce::NonceBook;
use medblock_core::access::proof::{block_head, entries, prove, tree};
use medblock_core::access::query::{VerifiedQuery, verify_query};
use medblock_core::access::record::{
    ACCESS_HOSPITAL, CONSENT_DEPARTMENT, Grants, READ_DEPARTMENT, is_access, record_of,
};
use medblock_core::access::tip::{MAX_SIGNED_TIPS, MAX_TIP_CERTIFICATES, signed_tip};
use medblock_core::crumbs::{DepartmentId, pseudonym};
use medblock_core::keys::{PublicKey, SealingPublic};
use medblock_core::merkle::MerkleTree;
use medblock_core::wire;
use medblock_core::{EventKey, Hash32, ParsedEvent};
use medblock_storage::Ledger;
use std::collections::HashMap;
use std::sync::Arc;

/// How long a challenge nonce stays good.
pub const CHALLENGE_TTL_MS: u64 = 60_000;
/// Most outstanding nonces a peer keeps in all (when full, the oldest of the requesting key
/// holding the most is forgotten).
pub const MAX_NONCES: usize = 10_000;
/// Most outstanding nonces one requesting key holds (its own oldest forgotten first): a key
/// asking for challenges as fast as it can evicts only its own.
pub const MAX_NONCES_PER_KEY: usize = 16;
/// Most block heads one headers request returns.
pub const MAX_HEADS: u32 = 256;

/// Signed tips one records answer carries: the highest claims of this many certified
/// committers (within what a light node accepts).
const ANSWER_TIPS: usize = if MAX_SIGNED_TIPS < 8 {
    MAX_SIGNED_TIPS
} else {
    8
};

/// The query server of one node.
pub struct QueryServer {
    ctx: Ctx,
    ledger: Arc<Ledger>,
    nonces: NonceBook,
    tips: SignedTips,
}

impl QueryServer {
    /// A server over the node's ledger; `tips` are the committers' claims its answers carry.
    pub fn new(ctx: Ctx, ledger: Arc<Ledger>, tips: SignedTips) -> Self {
        Self {
            ctx,
            ledger,
            nonces: NonceBook::new(CHALLENGE_TTL_MS, MAX_NONCES, MAX_NONCES_PER_KEY),
            tips,
        }
    }

    /// The newest claims of committers certified now, as signed tips, with the certificates
    /// of those genesis does not hold.
    fn signed_tips(&self) -> (Vec<wire::SignedTip>, Vec<wire::Certificate>) {
        let now = now_ms();
        let config = self.ctx.config();
        let trust = config.trust();
        let mut tips = Vec::new();
        let mut certs = Vec::new();
        for (signer, claim) in self.tips.newest(MAX_KEPT_CLAIMS) {
            if tips.len() >= ANSWER_TIPS {
                break;
            }
            let Ok(cert) = trust.authorize(&signer, wire::Role::Committer, now) else {
                continue;
            };
            if self.ctx.genesis.trust.get(&signer).is_none() {
                if certs.len() >= MAX_TIP_CERTIFICATES {
                    continue;
                }
                certs.push(cert.raw.clone());
            }
            tips.push(signed_tip(&claim));
        }
        (tips, certs)
    }
}

impl Actor for QueryServer {
    type Context = Context<Self>;
}

impl Handler<IssueChallenge> for QueryServer {
    type Result = MessageResult<IssueChallenge>;

    fn handle(&mut self, msg: IssueChallenge, _: &mut Self::Context) -> Self::Result {
        let nonce: [u8; 32] = rand::random();
        let expires_at_ms = self.nonces.issue(nonce, *msg.0.as_bytes(), now_ms());
        MessageResult(wire::Challenge {
            nonce: nonce.to_vec(),
            peer_key: self.ctx.key().as_bytes().to_vec(),
            expires_at_ms,
        })
    }
}

impl Handler<ServeHeaders> for QueryServer {
    type Result = MessageResult<ServeHeaders>;

    fn handle(&mut self, msg: ServeHeaders, _: &mut Self::Context) -> Self::Result {
        let tip = self.ledger.tip().height;
        let from = msg.0.from_height.max(1);
        let count = u64::from(msg.0.count.min(MAX_HEADS));
        let mut heads = Vec::new();
        if msg.0.configuration {
            // The configuration blocks, each with its changes: light nodes follow membership
            // and revocations with them.
            let heights = self.ledger.config_heights().unwrap_or_default();
            for h in heights
                .into_iter()
                .filter(|h| *h >= from)
                .take(count as usize)
            {
                let Ok(Some(id)) = self.ledger.block_id_at(h) else {
                    break;
                };
                if let Ok(Some(b)) = self.ledger.block_skeleton(&id) {
                    let mut head = block_head(&b);
                    head.config_changes = b.config_changes;
                    heads.push(head);
                }
            }
            return MessageResult(wire::HeadersResponse {
                tip_height: tip,
                heads,
            });
        }
        for h in from..from.saturating_add(count).min(tip + 1) {
            let Ok(Some(id)) = self.ledger.block_id_at(h) else {
                break;
            };
            if let Ok(Some(b)) = self.ledger.block_skeleton(&id) {
                heads.push(block_head(&b));
            }
        }
        MessageResult(wire::HeadersResponse {
            tip_height: tip,
            heads,
        })
    }
}

impl Handler<CheckQuery> for QueryServer {
    type Result = Result<Prepared, AccessError>;

    fn handle(&mut self, msg: CheckQuery, _: &mut Self::Context) -> Self::Result {
        let me = self.ctx.key();
        let query = verify_query(&msg.0, &me, &mut self.nonces, now_ms())?;
        let regulator = self.ctx.genesis.regulator_key;
        match query.kind {
            wire::QueryKind::Emr => self.prepare_emr(query, regulator.as_ref()),
            _ => {
                let mut p = prepare_records(&self.ledger, &me, query, regulator.as_ref())?;
                let (tips, certs) = self.signed_tips();
                p.body.signed_tips = tips;
                p.body.tip_certificates = certs;
                Ok(p)
            }
        }
    }
}

impl QueryServer {
    fn prepare_emr(
        &self,
        query: VerifiedQuery,
        regulator: Option<&PublicKey>,
    ) -> Result<Prepared, AccessError> {
        let b = &query.body;
        // The EMR leaves this node sealed to the key inside the visitor's signed query, so no
        // peer relaying the answer can read it (nor swap in its own key).
        let seal_to = SealingPublic::from_slice(&b.sealing_key).map_err(|e| {
            AccessError::Malformed(format!("an EMR query names the visitor's sealing key: {e}"))
        })?;
        let mine = &self.ctx.certificate.body;
        // A hospital node keeps the EMRs of every department it holds a key for (see
        // `departments`); the client's event links tell which it has.
        if mine.hospital != b.hospital || mine.hospital.is_empty() {
            return Err(AccessError::NoSuchRecord(format!(
                "{} keeps the EMRs of hospital {}, not of {}",
                self.ctx.name, mine.hospital, b.hospital
            )));
        }
        let event = find_event(&self.ledger, &b.hospital, &b.department, b.sequence)?;
        let grants = grants_of(&self.ledger, &event.patient)?;
        let scope = decide(&query.visitor, &event.patient, regulator, &grants)?;
        let allowed = match scope {
            Scope::Patient => true,
            Scope::Grantee(g) => grants
                .find(&g, &b.hospital, &b.department, b.sequence)
                .is_some(),
            Scope::Regulator => false,
        };
        if !allowed {
            return Err(AccessError::NotAuthorized(
                "full EMRs go to the patient and his grantees only".into(),
            ));
        }
        let read = ReadEmr {
            department: b.department.clone(),
            sequence: b.sequence,
            record_id: b.record_id.clone(),
        };
        Ok(Prepared {
            body: wire::QueryResultBody {
                tip_height: self.ledger.tip().height,
                ..Default::default()
            },
            query,
            emr: Some(read),
            read_record: None,
            seal_to: Some(seal_to),
        })
    }
}

fn store(e: impl std::fmt::Display) -> AccessError {
    AccessError::Unavailable(format!("ledger: {e}"))
}

/// The committed event (hospital, department, sequence).
pub fn find_event(
    ledger: &Ledger,
    hospital: &str,
    department: &str,
    sequence: u64,
) -> Result<ParsedEvent, AccessError> {
    let missing = || AccessError::NoSuchRecord(format!("{hospital}/{department}#{sequence}"));
    let loc = ledger
        .event_location(&EventKey::new(hospital, department, sequence))
        .map_err(store)?
        .ok_or_else(missing)?;
    let id = ledger
        .block_id_at(loc.height)
        .map_err(store)?
        .ok_or_else(missing)?;
    let bytes = ledger
        .event(&id, loc.index)
        .map_err(store)?
        .ok_or_else(missing)?;
    Ok(ParsedEvent::parse(&bytes)?)
}

/// A patient's grants, folded from his consent records in ledger order.
pub fn grants_of(ledger: &Ledger, patient: &PublicKey) -> Result<Grants, AccessError> {
    let me = pseudonym(patient);
    let dept = DepartmentId {
        hospital: ACCESS_HOSPITAL.into(),
        department: CONSENT_DEPARTMENT.into(),
    };
    let mut crumbs = ledger.crumbs_in(&me, &dept).map_err(store)?;
    crumbs.reverse(); // oldest block first
    let mut records = Vec::new();
    for c in crumbs {
        let Some(block) = ledger.block_skeleton(&c.block_id).map_err(store)? else {
            continue;
        };
        let entries = entries(&block).map_err(store)?;
        for (i, e) in entries.iter().enumerate() {
            if e.pseudonym.as_slice() != me.0.as_bytes()
                || e.hospital != ACCESS_HOSPITAL
                || e.department != CONSENT_DEPARTMENT
            {
                continue;
            }
            let Some(bytes) = ledger.event(&c.block_id, i as u32).map_err(store)? else {
                continue;
            };
            let parsed = ParsedEvent::parse(&bytes)?;
            records.push(record_of(&parsed)?);
        }
    }
    Ok(Grants::fold(&records))
}

/// The crumbs and record proofs of `patient` a visitor with `scope` may see: one range read of
/// the patient's bread crumbs, then for each crumb the block's signature collection matched
/// against the patient's pseudonym.
pub fn collect_records(
    ledger: &Ledger,
    patient: &PublicKey,
    scope: &Scope,
    grants: &Grants,
) -> Result<(Vec<wire::CrumbEntry>, Vec<wire::RecordProof>), AccessError> {
    let me = pseudonym(patient);
    let mut crumbs_out = Vec::new();
    let mut records = Vec::new();
    type Held = (wire::Block, Vec<wire::SignatureEntry>, Option<MerkleTree>);
    let mut blocks: HashMap<Hash32, Held> = HashMap::new();
    for c in ledger.crumbs(&me).map_err(store)? {
        let held = match blocks.entry(c.block_id) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                let Some(block) = ledger.block_skeleton(&c.block_id).map_err(store)? else {
                    continue;
                };
                let e = entries(&block).map_err(store)?;
                v.insert((block, e, None))
            }
        };
        let mut any = false;
        let (block, entries, merkle) = held;
        for (i, e) in entries.iter().enumerate() {
            if e.pseudonym.as_slice() != me.0.as_bytes()
                || e.hospital != c.department.hospital
                || e.department != c.department.department
                || !scope.allows(grants, &e.hospital, &e.department, e.sequence)
            {
                continue;
            }
            let Some(bytes) = ledger.event(&c.block_id, i as u32).map_err(store)? else {
                continue;
            };
            if let Scope::Grantee(g) = scope
                && e.hospital == ACCESS_HOSPITAL
                && !concerns(&bytes, g)
            {
                // A grantee sees the consent records about him, not other grantees'.
                continue;
            }
            // The block's tree is hashed once, when its first record of the patient is found.
            if merkle.is_none() {
                *merkle = tree(entries);
            }
            if let Some(p) = merkle.as_ref().and_then(|t| prove(block, t, i, bytes)) {
                records.push(p);
                any = true;
            }
        }
        if any {
            crumbs_out.push(wire::CrumbEntry {
                hospital: c.department.hospital.clone(),
                department: c.department.department.clone(),
                height: c.height,
                block_id: c.block_id.0.to_vec(),
            });
        }
    }
    Ok((crumbs_out, records))
}

/// Whether a consent event grants to or revokes `grantee`.
fn concerns(event: &[u8], grantee: &PublicKey) -> bool {
    let Ok(parsed) = ParsedEvent::parse(event) else {
        return false;
    };
    match record_of(&parsed).map(|r| r.kind) {
        Ok(Some(wire::access_record::Kind::Grant(g))) => g.grantee_key == grantee.as_bytes(),
        Ok(Some(wire::access_record::Kind::Revoke(r))) => r.grantee_key == grantee.as_bytes(),
        _ => false,
    }
}

/// Checks a records query's authority and gathers its answer. A regulator's query must carry
/// its read record (signed by the regulator, naming this patient, this peer and this nonce),
/// which goes to an endorser before the answer is sent.
pub fn prepare_records(
    ledger: &Ledger,
    me: &PublicKey,
    query: VerifiedQuery,
    regulator: Option<&PublicKey>,
) -> Result<Prepared, AccessError> {
    let grants = grants_of(ledger, &query.patient)?;
    let scope = decide(&query.visitor, &query.patient, regulator, &grants)?;
    let read_record = if scope == Scope::Regulator {
        Some(check_read_record(&query, me)?)
    } else {
        None
    };
    // The tip is read first: every record up to it is in the answer, whatever commits meanwhile.
    let tip_height = ledger.tip().height;
    let (crumbs, records) = collect_records(ledger, &query.patient, &scope, &grants)?;
    Ok(Prepared {
        body: wire::QueryResultBody {
            tip_height,
            crumbs,
            records,
            ..Default::default()
        },
        query,
        emr: None,
        read_record,
        seal_to: None,
    })
}

fn check_read_record(query: &VerifiedQuery, me: &PublicKey) -> Result<wire::Event, AccessError> {
    let missing =
        || AccessError::NotAuthorized("a regulator read must carry its read record".into());
    let event = query.body.read_record.clone().ok_or_else(missing)?;
    let parsed = ParsedEvent::from_wire(event.clone())?;
    parsed
        .verify_signatures()
        .map_err(|_| AccessError::BadSignature)?;
    if !is_access(&parsed.body)
        || parsed.body.department != READ_DEPARTMENT
        || parsed.provider != query.visitor
    {
        return Err(missing());
    }
    match record_of(&parsed)?.kind {
        Some(wire::access_record::Kind::Read(r))
            if r.patient_key.as_slice() == query.patient.as_bytes()
                && r.nonce == query.body.nonce
                && r.peer_key.as_slice() == me.as_bytes() =>
        {
            Ok(event)
        }
        _ => Err(missing()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medblock_core::keys::SigningKey;
    use prost::Message;

    fn claim(key: &SigningKey, height: u64) -> wire::LedgerClaim {
        medblock_core::access::tip::sign_claim(
            key,
            wire::LedgerClaimBody {
                height,
                ..Default::default()
            },
        )
    }

    #[test]
    fn signed_tips_keep_each_committers_newest_claim_highest_first() {
        let mut rng = rand::rng();
        let (a, b) = (
            SigningKey::generate(&mut rng),
            SigningKey::generate(&mut rng),
        );
        let tips = SignedTips::default();
        tips.record(a.public(), 5, claim(&a, 5));
        tips.record(b.public(), 7, claim(&b, 7));
        // An older claim of `a` arriving late does not replace its newer one.
        tips.record(a.public(), 3, claim(&a, 3));
        tips.record(a.public(), 9, claim(&a, 9));
        let newest = tips.newest(8);
        let heights: Vec<u64> = newest
            .iter()
            .map(|(_, c)| {
                wire::LedgerClaimBody::decode(c.body.as_slice())
                    .map(|b| b.height)
                    .unwrap_or(0)
            })
            .collect();
        assert_eq!(heights, vec![9, 7]);
        assert_eq!(newest.first().map(|(k, _)| *k), Some(a.public()));
        assert_eq!(tips.newest(1).len(), 1);
    }
}
