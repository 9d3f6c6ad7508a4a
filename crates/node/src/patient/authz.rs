//! The patient's recording authorizations as his verified records show them: each one the
//! hospitals recorded under (hospital, serial, departments, window), whether he revoked it and
//! at which height, and which of his records sit under one he had revoked before their block
//! (no honest node decides those: they are flagged, never shown as valid).

use super::error::PatientError;
use super::time::local_datetime;
use medblock_core::access::proof::CheckedRecord;
use medblock_core::authorization::{AuthorizationId, RevokedAuthorizations, revocation_of};
use medblock_core::wire;
use serde::Serialize;
use std::collections::BTreeMap;

/// The access record that revokes the patient's authorization `serial` at `hospital`.
pub fn revoke_record(hospital: &str, serial: u64) -> wire::AccessRecord {
    wire::AccessRecord {
        kind: Some(wire::access_record::Kind::RevokeAuthorization(
            wire::AuthorizationRevoke {
                hospital: hospital.to_owned(),
                serial,
            },
        )),
    }
}

/// The revocations among `records` (his access records on the ledger), each at the height of
/// its block.
pub fn revocations(records: &[CheckedRecord]) -> RevokedAuthorizations {
    let mut revoked = RevokedAuthorizations::default();
    for r in records {
        if let Some(id) = revocation_of(&r.event) {
            revoked.insert(id, r.height);
        }
    }
    revoked
}

/// Why a record may not count, if it may not: it is under an authorization the patient had
/// revoked in an earlier block (the rule every node applies, [`RevokedAuthorizations::check`]).
pub fn problem(record: &CheckedRecord, revoked: &RevokedAuthorizations) -> Option<PatientError> {
    let auth = record.event.authorization.as_ref()?;
    let id = auth.id();
    let at = revoked.revoked_at(&id)?;
    revoked.check(&id, record.height).err()?;
    let b = &record.event.body;
    Some(PatientError::RevokedAuthorization {
        record: format!("{}/{}#{}", b.hospital, b.department, b.sequence),
        height: record.height,
        hospital: id.hospital,
        serial: id.serial,
        revoked_at: at,
    })
}

/// The first record among `records` under an authorization he had revoked, as an error.
pub fn check_not_revoked(records: &[CheckedRecord]) -> Result<(), PatientError> {
    let revoked = revocations(records);
    match records.iter().find_map(|r| problem(r, &revoked)) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// One authorization, as `authorization list` shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AuthorizationView {
    /// The hospital.
    pub hospital: String,
    /// Its serial.
    pub serial: u64,
    /// Departments covered; empty for all (unknown when only the revocation is on the ledger).
    pub departments: Vec<String>,
    /// Start of the window (ms since the epoch; 0 when unknown).
    pub not_before_ms: u64,
    /// End of the window (ms since the epoch; 0 when unknown).
    pub not_after_ms: u64,
    /// Start of the window, local ISO date-time (empty when unknown).
    pub not_before: String,
    /// End of the window, local ISO date-time (empty when unknown).
    pub not_after: String,
    /// Records on the ledger under it.
    pub records: usize,
    /// Height of the block holding his revocation, if he revoked it.
    pub revoked_at_height: Option<u64>,
    /// Records under it the ledger holds above that height (none on an honest ledger).
    pub refused_records: usize,
}

/// The authorizations his `records` were made under, and those he revoked, by hospital then
/// serial.
pub fn list(records: &[CheckedRecord]) -> Vec<AuthorizationView> {
    let revoked = revocations(records);
    let mut out: BTreeMap<(String, u64), AuthorizationView> = BTreeMap::new();
    let blank = |hospital: &str, serial: u64| AuthorizationView {
        hospital: hospital.to_owned(),
        serial,
        departments: Vec::new(),
        not_before_ms: 0,
        not_after_ms: 0,
        not_before: String::new(),
        not_after: String::new(),
        records: 0,
        revoked_at_height: None,
        refused_records: 0,
    };
    for r in records {
        if let Some(id) = revocation_of(&r.event) {
            let v = out
                .entry((id.hospital.clone(), id.serial))
                .or_insert_with(|| blank(&id.hospital, id.serial));
            v.revoked_at_height = revoked.revoked_at(&id);
            continue;
        }
        let Some(auth) = &r.event.authorization else {
            continue;
        };
        let AuthorizationId {
            hospital, serial, ..
        } = auth.id();
        let v = out
            .entry((hospital.clone(), serial))
            .or_insert_with(|| blank(&hospital, serial));
        v.departments = auth.body.departments.clone();
        v.not_before_ms = auth.body.not_before_ms;
        v.not_after_ms = auth.body.not_after_ms;
        v.not_before = local_datetime(auth.body.not_before_ms);
        v.not_after = local_datetime(auth.body.not_after_ms);
        v.records += 1;
        v.revoked_at_height = revoked.revoked_at(&auth.id());
        if problem(r, &revoked).is_some() {
            v.refused_records += 1;
        }
    }
    out.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use medblock_core::access::record::build_access_event;
    use medblock_core::authorization::{AuthorizationTerms, VerifiedAuthorization};
    use medblock_core::event::{NewAuthorizedEvent, ParsedEvent, build_authorized_event};
    use medblock_core::hash::Hash32;
    use medblock_core::keys::Identity;

    fn checked(event: wire::Event, height: u64) -> CheckedRecord {
        CheckedRecord {
            height,
            block_id: Hash32::default(),
            index: 0,
            event: ParsedEvent::from_wire(event).expect("event parses"),
        }
    }

    /// A record above his revocation's block is flagged; one below (or in it) is valid, and
    /// `list` reports the authorization, its window and its revocation.
    #[test]
    fn records_after_the_revocation_are_flagged() {
        let rng = &mut rand::rng();
        let patient = Identity::generate(rng);
        let department = Identity::generate(rng);
        let terms = AuthorizationTerms {
            hospital: "h1".into(),
            departments: vec!["cardiology".into()],
            serial: 7,
            not_before_ms: 1_000,
            not_after_ms: 10_000_000,
        };
        let signed = medblock_core::authorization::sign_authorization(
            &patient.signing,
            &patient.sealing.public(),
            &terms,
        );
        let auth = VerifiedAuthorization::from_signed(signed).expect("authorization");
        let visit = |sequence: u64, height: u64| {
            let summary = wire::Summary {
                diagnosis: format!("visit {sequence}"),
                ..Default::default()
            };
            checked(
                build_authorized_event(
                    &NewAuthorizedEvent {
                        summary: &summary,
                        sequence,
                        hospital: "h1",
                        department: "cardiology",
                        authorization: &auth,
                        provider: &department.signing,
                        regulator: None,
                        created_at_ms: 5_000,
                    },
                    &mut rand::rng(),
                ),
                height,
            )
        };
        let revocation = checked(
            build_access_event(&patient.signing, 1, &revoke_record("h1", 7), 6_000),
            10,
        );
        let records = vec![visit(1, 5), visit(2, 10), revocation, visit(3, 11)];
        let revoked = revocations(&records);
        assert!(problem(&records[0], &revoked).is_none());
        assert!(problem(&records[1], &revoked).is_none(), "same block");
        let e = problem(&records[3], &revoked).expect("flagged");
        assert!(matches!(
            e,
            PatientError::RevokedAuthorization {
                serial: 7,
                revoked_at: 10,
                height: 11,
                ..
            }
        ));
        assert!(check_not_revoked(&records).is_err());
        assert!(check_not_revoked(&records[..3]).is_ok());
        let list = list(&records);
        assert_eq!(list.len(), 1);
        let a = &list[0];
        assert_eq!((a.hospital.as_str(), a.serial), ("h1", 7));
        assert_eq!(a.departments, vec!["cardiology"]);
        assert_eq!((a.not_before_ms, a.not_after_ms), (1_000, 10_000_000));
        assert_eq!((a.records, a.refused_records), (3, 1));
        assert_eq!(a.revoked_at_height, Some(10));
        let views = super::super::view::visits(&records);
        assert_eq!(views.iter().filter(|v| v.refused.is_some()).count(), 1);
    }
}
