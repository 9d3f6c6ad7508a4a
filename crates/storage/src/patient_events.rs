//! A patient's events on the ledger, found two ways: through his bread crumbs (what a serving
//! peer does) and by a full scan of every block (what a node without bread crumbs must do).
//!
//! Both return the same answer in the same order, so one can be checked against the other and
//! the cost of each measured for the same result (`medblock patient bench`).

use crate::error::StorageError;
use crate::ledger::{EventLocation, Ledger};
use medblock_core::crumbs::{DepartmentId, pseudonym};
use medblock_core::keys::PublicKey;
use medblock_core::{Hash32, wire};
use prost::Message;
use std::collections::{BTreeMap, BTreeSet};

/// One of a patient's events as committed: where it sits, and its bytes exactly as stored (the
/// encoded `wire::Event`). Two look-ups agree when they return equal lists of these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientEvent {
    /// Height of its block and its index in the block.
    pub location: EventLocation,
    /// Id of its block.
    pub block_id: Hash32,
    /// The encoded event.
    pub bytes: Vec<u8>,
}

impl Ledger {
    /// A patient's events found through his bread crumbs, oldest first (by height, then index in
    /// the block). The same reads a serving peer does for a `records` query: one range read of
    /// the patient's crumbs, each crumbed block's signature collection matched against his
    /// pseudonym and the crumb's department, then only the matching events read; no other block
    /// or event is touched. An event whose crumb is missing is not found.
    pub fn patient_events(&self, patient: &PublicKey) -> Result<Vec<PatientEvent>, StorageError> {
        let me = pseudonym(patient);
        // A block holding the patient in two departments has two crumbs: it is read once, and
        // only the events of a crumbed department are taken from it.
        let mut blocks: BTreeMap<(u64, Hash32), BTreeSet<DepartmentId>> = BTreeMap::new();
        for c in self.crumbs(&me)? {
            blocks
                .entry((c.height, c.block_id))
                .or_default()
                .insert(c.department);
        }
        let mut out = Vec::new();
        for ((height, id), departments) in blocks {
            let block = self
                .block_skeleton(&id)?
                .ok_or_else(|| self.corrupt(height, format!("crumbed block {id} is missing")))?;
            let collection =
                wire::SignatureCollection::decode(block.signature_collection.as_slice())
                    .map_err(|e| self.corrupt(height, format!("signature collection: {e}")))?;
            for (index, entry) in collection.entries.iter().enumerate() {
                if entry.pseudonym.as_slice() != me.0.as_bytes()
                    || !departments
                        .iter()
                        .any(|d| d.hospital == entry.hospital && d.department == entry.department)
                {
                    continue;
                }
                let index = u32::try_from(index)
                    .map_err(|_| self.corrupt(height, "more events than a u32 counts"))?;
                let bytes = self.event(&id, index)?.ok_or_else(|| {
                    self.corrupt(
                        height,
                        format!("event {index} of the collection is missing"),
                    )
                })?;
                out.push(PatientEvent {
                    location: EventLocation { height, index },
                    block_id: id,
                    bytes,
                });
            }
        }
        Ok(out)
    }

    /// A patient's events found without bread crumbs, oldest first: every block from height 1
    /// to the tip is read, each of its events decoded, and those whose patient key is `patient`
    /// kept. Same answer as [`Ledger::patient_events`] at the cost of the whole ledger; kept as
    /// the baseline the crumbs are measured against and as an independent check of them.
    ///
    /// Events are decoded (event, then body) but not re-verified: no hashes or signatures are
    /// checked, so the cost measured is that of finding the events, not of auditing them.
    pub fn scan_patient_events(
        &self,
        patient: &PublicKey,
    ) -> Result<Vec<PatientEvent>, StorageError> {
        let key = patient.as_bytes();
        let tip = self.tip();
        let mut out = Vec::new();
        for height in 1..=tip.height {
            let id = self
                .block_id_at(height)?
                .ok_or_else(|| self.corrupt(height, "height index has a gap"))?;
            for (index, bytes) in self.block_events(&id)?.into_iter().enumerate() {
                let event = wire::Event::decode(bytes.as_slice())
                    .map_err(|e| self.corrupt(height, format!("event {index}: {e}")))?;
                let body = wire::EventBody::decode(event.body.as_slice())
                    .map_err(|e| self.corrupt(height, format!("event {index} body: {e}")))?;
                if body.patient_key.as_slice() != key.as_slice() {
                    continue;
                }
                let index = u32::try_from(index)
                    .map_err(|_| self.corrupt(height, "more events than a u32 counts"))?;
                out.push(PatientEvent {
                    location: EventLocation { height, index },
                    block_id: id,
                    bytes,
                });
            }
        }
        Ok(out)
    }
}
