//! The endorser's access-record rules, applied again by the orderer before it votes (issue 19:
//! "every admission rule the endorser applies"): a Byzantine primary could otherwise pack
//! consent grants or regulator reads by keys that have no relationship with what they touch,
//! which honest endorsers refuse. The facts come from the chain below the proposal as this
//! orderer knows it (its ledger, and decided blocks above it), so an honest endorser's block is
//! judged on what that endorser judged it on, or on more.
//!
//! The endorser's per-key quota is a rate over its own clock and cannot be a ledger rule; the
//! orderer's share of it is a bound per block: at most [`ACCESS_RECORDS_PER_KEY`] access
//! records of one author in one block (what one endorser admits from him in a minute).

use super::chain::Below;
use medblock_core::access::admission::{
    ACCESS_RECORDS_PER_KEY, LedgerRelations, check_relationship,
};
use medblock_core::access::record::{is_access, record_of};
use medblock_core::crumbs::pseudonym;
use medblock_core::keys::PublicKey;
use medblock_core::{EventKey, VerifiedBlock};
use std::collections::HashMap;

impl LedgerRelations for Below<'_> {
    fn knows_patient(&self, patient: &PublicKey) -> Result<bool, String> {
        if self
            .any_pending(|owners| owners.values().any(|p| p == patient))
            .map_err(|e| e.to_string())?
        {
            return Ok(true);
        }
        let ledger = self.ledger().map_err(|e| e.to_string())?;
        ledger
            .crumbs(&pseudonym(patient))
            .map(|c| !c.is_empty())
            .map_err(|e| e.to_string())
    }

    fn record_patient(
        &self,
        hospital: &str,
        department: &str,
        sequence: u64,
    ) -> Result<Option<PublicKey>, String> {
        let key = EventKey::new(hospital, department, sequence);
        let mut found = None;
        self.any_pending(|owners| {
            found = owners.get(&key).copied();
            found.is_some()
        })
        .map_err(|e| e.to_string())?;
        if found.is_some() {
            return Ok(found);
        }
        let ledger = self.ledger().map_err(|e| e.to_string())?;
        let Some((bytes, _, _)) = ledger.committed_event(&key).map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        let event: medblock_core::wire::Event = medblock_core::codec::decode_bounded(
            "event",
            &bytes,
            medblock_core::codec::limits::MAX_EVENT_BYTES,
        )
        .map_err(|e| e.to_string())?;
        let body =
            <medblock_core::wire::EventBody as prost::Message>::decode(event.body.as_slice())
                .map_err(|e| e.to_string())?;
        Ok(PublicKey::from_slice(&body.patient_key).ok())
    }
}

/// Checks every access record of a verified proposal against the chain below it: its author's
/// relationship (core's [`check_relationship`], the endorser's rule) and the per-block bound.
pub(super) fn check_access(
    block: &VerifiedBlock,
    below: &Below<'_>,
    regulator: Option<&PublicKey>,
) -> Result<(), String> {
    let mut per_author: HashMap<PublicKey, u32> = HashMap::new();
    for (index, e) in block.events.iter().enumerate() {
        if !is_access(&e.body) {
            continue;
        }
        let author = e.provider;
        let n = per_author.entry(author).or_insert(0);
        *n += 1;
        if *n > ACCESS_RECORDS_PER_KEY {
            return Err(format!(
                "event #{index}: more than {ACCESS_RECORDS_PER_KEY} access records of one author in one block"
            ));
        }
        let record = record_of(e).map_err(|err| format!("event #{index}: {err}"))?;
        check_relationship(&record, &author, regulator, below)
            .map_err(|err| format!("event #{index}: {err}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block_check::OrdererChain;
    use medblock_core::ParsedEvent;
    use medblock_core::access::record::build_access_event;
    use medblock_core::block::ChainTip;
    use medblock_core::keys::SigningKey;
    use medblock_core::synthetic::World;
    use medblock_core::wire;
    use medblock_storage::{Ledger, OpenCheck};
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use std::collections::BTreeMap;
    use std::sync::Arc;

    fn grant(author: &SigningKey, sequence: u64, records: Vec<wire::GrantedRecord>) -> ParsedEvent {
        let record = wire::AccessRecord {
            kind: Some(wire::access_record::Kind::Grant(wire::ConsentGrant {
                grantee_key: SigningKey::generate(&mut rand::rng())
                    .public()
                    .as_bytes()
                    .to_vec(),
                grantee_name: "doctor".into(),
                records,
            })),
        };
        let event = build_access_event(author, sequence, &record, 5_000);
        ParsedEvent::from_wire(event).expect("access event parses")
    }

    /// The orderer refuses what the endorser refuses: a grant by a key the chain does not
    /// know, a grant of someone else's record, and more than the per-block bound of one author;
    /// it accepts the patient's grant of his own committed record.
    #[test]
    fn access_records_need_a_relationship_the_chain_knows() {
        let dir = tempfile::tempdir().expect("temp dir");
        let ledger =
            Arc::new(Ledger::open(dir.path(), OpenCheck::HashChain, 1_000).expect("ledger"));
        let mut rng = StdRng::seed_from_u64(11);
        let mut world = World::generate(&mut rng, 1, 2);
        let visit = world.event(0, 0, 1_000, &mut rng).expect("visit");
        let patient_key = visit.patient;
        let owner_seq = visit.body.sequence;
        let b1 = world
            .block(&ChainTip::GENESIS, vec![visit], 1_010)
            .expect("block 1");
        ledger.commit(&b1).expect("commit");
        let chain = OrdererChain::new(ledger.clone());
        let tips = BTreeMap::new();
        let below = chain.below(b1.id, &tips);
        let patient = &world.patients[0].signing;
        assert_eq!(patient.public(), patient_key);
        let own = wire::GrantedRecord {
            hospital: b1.events[0].body.hospital.clone(),
            department: b1.events[0].body.department.clone(),
            sequence: owner_seq,
            ..Default::default()
        };
        let judge = |events: Vec<ParsedEvent>| {
            let block = world.block(&b1.tip(), events, 2_000).expect("block 2");
            check_access(&block, &below, None)
        };

        assert!(judge(vec![grant(patient, 1, vec![own.clone()])]).is_ok());
        let stranger = SigningKey::generate(&mut rand::rng());
        let err = judge(vec![grant(&stranger, 2, Vec::new())]).expect_err("stranger");
        assert!(err.contains("event #0"), "{err}");
        let other = &world.patients[1].signing;
        assert!(
            judge(vec![grant(other, 3, vec![own.clone()])]).is_err(),
            "not his record"
        );
        let many: Vec<ParsedEvent> = (0..=ACCESS_RECORDS_PER_KEY as u64)
            .map(|i| grant(patient, 100 + i, vec![own.clone()]))
            .collect();
        let err = judge(many).expect_err("over the per-block bound");
        assert!(err.contains("more than"), "{err}");
    }
}
