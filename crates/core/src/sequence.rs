//! The upload rule on sequence numbers: a (hospital, department, sequence) names one event for
//! good. An upload that reuses a taken number is the same event (a client's retry, answered as
//! before) only when its body is byte for byte the one already pending or committed; anything
//! else is a conflict, refused, and the existing record stays as it is.
//!
//! The body is compared, not only the event hash it carries: the hash covers the sealed
//! summary alone, so a department could keep the summary and change the patient, provider or
//! time, and have that other event acknowledged and dropped just the same.

use crate::hash::{Hash32, tagged_hash};

/// What identifies an event's content for the rule: a tagged hash of its signed body (which
/// holds the event hash, so two bodies that agree agree on the summary too).
pub fn content_id(body: &[u8]) -> Hash32 {
    tagged_hash("medblock/event-content/v1", &[body])
}

/// An upload that reuses a taken (hospital, department, sequence) for another event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "sequence conflict: {hospital}/{department}#{sequence} is already {state} with event hash \
     {existing}; this upload carries another event (event hash {incoming})"
)]
pub struct SequenceConflict {
    /// The hospital.
    pub hospital: String,
    /// The department.
    pub department: String,
    /// The sequence number reused.
    pub sequence: u64,
    /// "committed" or "pending".
    pub state: &'static str,
    /// Event hash of the event that holds the number.
    pub existing: Hash32,
    /// Event hash of the refused upload.
    pub incoming: Hash32,
}

impl SequenceConflict {
    /// The refusal code the uploader reads.
    pub const CODE: crate::wire::error_reply::Code = crate::wire::error_reply::Code::Conflict;
}

/// The event already holding a number, as the endorser found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holder {
    /// Whether it is on the ledger (else in the pending queue).
    pub committed: bool,
    /// Its [`content_id`].
    pub content: Hash32,
    /// Its event hash (for the refusal's message).
    pub event_hash: Hash32,
}

/// The upload being judged.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    /// Hospital.
    pub hospital: &'a str,
    /// Department.
    pub department: &'a str,
    /// Sequence number.
    pub sequence: u64,
    /// Its body's [`content_id`].
    pub content: Hash32,
    /// Its event hash.
    pub event_hash: Hash32,
}

/// Judges an upload against the event holding its number, if any: `Ok(None)` for a new
/// number, `Ok(Some(holder))` for a retry of the very same event (idempotent: answer as the
/// holder stands), a [`SequenceConflict`] for another event (boxed: the common answers stay
/// small).
pub fn check_sequence(
    incoming: &Incoming<'_>,
    holder: Option<Holder>,
) -> Result<Option<Holder>, Box<SequenceConflict>> {
    match holder {
        None => Ok(None),
        Some(h) if h.content == incoming.content => Ok(Some(h)),
        Some(h) => Err(Box::new(SequenceConflict {
            hospital: incoming.hospital.to_owned(),
            department: incoming.department.to_owned(),
            sequence: incoming.sequence,
            state: if h.committed { "committed" } else { "pending" },
            existing: h.event_hash,
            incoming: incoming.event_hash,
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::sha256;

    fn incoming(body: &[u8]) -> Incoming<'static> {
        Incoming {
            hospital: "h1",
            department: "cardiology",
            sequence: 7,
            content: content_id(body),
            event_hash: sha256(body),
        }
    }

    fn holder(body: &[u8], committed: bool) -> Holder {
        Holder {
            committed,
            content: content_id(body),
            event_hash: sha256(body),
        }
    }

    #[test]
    fn a_new_number_is_free() {
        assert_eq!(check_sequence(&incoming(b"a"), None), Ok(None));
    }

    #[test]
    fn the_same_event_again_is_a_retry_committed_or_pending() {
        for committed in [true, false] {
            let h = holder(b"a", committed);
            assert_eq!(check_sequence(&incoming(b"a"), Some(h)), Ok(Some(h)));
        }
    }

    #[test]
    fn another_event_under_a_taken_number_is_a_conflict_naming_both() {
        for (committed, state) in [(true, "committed"), (false, "pending")] {
            let err = check_sequence(&incoming(b"b"), Some(holder(b"a", committed)))
                .expect_err("a conflict");
            assert_eq!(err.state, state);
            assert_eq!(err.existing, sha256(b"a"));
            assert_eq!(err.incoming, sha256(b"b"));
            assert!(err.to_string().contains("h1/cardiology#7"), "{err}");
        }
    }
}
