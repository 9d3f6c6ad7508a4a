//! Typed import errors. Every error names the file it came from and, when one entry is at fault,
//! that entry (index and fullUrl), so an operator can find the offending resource in a bundle of
//! thousands.

use std::fmt;

/// Where in a bundle an error lies: the entry's index in `Bundle.entry` and its `fullUrl`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryRef {
    /// Index in `Bundle.entry` (0-based).
    pub index: usize,
    /// The entry's `fullUrl`, when it has one.
    pub full_url: Option<String>,
}

impl fmt::Display for EntryRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.full_url {
            Some(u) => write!(f, "entry {} ({u})", self.index),
            None => write!(f, "entry {}", self.index),
        }
    }
}

/// Why a FHIR bundle cannot be imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FhirError {
    /// The file could not be read at all.
    #[error("{file}: unreadable: {reason}")]
    Unreadable {
        /// The file.
        file: String,
        /// The system's message.
        reason: String,
    },
    /// The bytes look like bzip2 but do not decompress.
    #[error("{file}: not a valid bzip2 stream: {reason}")]
    Decompress {
        /// The file.
        file: String,
        /// The decoder's message.
        reason: String,
    },
    /// The bytes are not JSON.
    #[error("{file}: not JSON: {reason}")]
    NotJson {
        /// The file.
        file: String,
        /// The parser's message (with line and column).
        reason: String,
    },
    /// The top level is not a Bundle, or an entry's resource is not a FHIR resource.
    #[error("{file}: {at}: resourceType is {found:?}, expected {expected}")]
    WrongResourceType {
        /// The file.
        file: String,
        /// "the document" or the entry.
        at: Location,
        /// What was found (empty when missing).
        found: String,
        /// What was expected.
        expected: &'static str,
    },
    /// A structural element is missing or has the wrong JSON type.
    #[error("{file}: {at}: {reason}")]
    Malformed {
        /// The file.
        file: String,
        /// "the document" or the entry.
        at: Location,
        /// What is wrong.
        reason: String,
    },
    /// Two entries share a fullUrl, so references to it are ambiguous.
    #[error("{file}: {at}: fullUrl already used by entry {first}")]
    DuplicateFullUrl {
        /// The file.
        file: String,
        /// The second entry.
        at: Location,
        /// Index of the first entry with that fullUrl.
        first: usize,
    },
    /// A reference points at no entry of the bundle.
    #[error("{file}: {at}: reference {reference:?} (at {path}) resolves to no entry of the bundle")]
    DanglingReference {
        /// The file.
        file: String,
        /// The entry holding the reference.
        at: Location,
        /// The reference.
        reference: String,
        /// JSON path of the reference inside the resource.
        path: String,
    },
    /// The bundle holds no Patient (its records would belong to nobody).
    #[error("{file}: no entry is a Patient")]
    NoPatient {
        /// The file.
        file: String,
    },
    /// The bundle is a directory (Organizations, Locations, Practitioners), not a patient's
    /// history: nothing to import, which an importer may report as skipped.
    #[error(
        "{file}: a directory bundle of {entries} Organization/Location/Practitioner entries, no patient"
    )]
    DirectoryBundle {
        /// The file.
        file: String,
        /// How many entries it holds.
        entries: usize,
    },
    /// The bundle holds more than one Patient (a patient bundle is one person's history).
    #[error("{file}: {at}: a second Patient (the first is entry {first})")]
    SeveralPatients {
        /// The file.
        file: String,
        /// The second Patient's entry.
        at: Location,
        /// Index of the first Patient.
        first: usize,
    },
    /// An Encounter is of someone else than the bundle's Patient.
    #[error("{file}: {at}: the Encounter's subject {subject:?} is not the bundle's Patient")]
    ForeignEncounter {
        /// The file.
        file: String,
        /// The Encounter's entry.
        at: Location,
        /// Its subject reference.
        subject: String,
    },
}

/// Where an error lies: the whole document or one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// The top-level JSON document.
    Document,
    /// One entry.
    Entry(EntryRef),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Document => f.write_str("the document"),
            Location::Entry(e) => e.fmt(f),
        }
    }
}

impl FhirError {
    /// The file the error is about.
    pub fn file(&self) -> &str {
        match self {
            FhirError::Unreadable { file, .. }
            | FhirError::Decompress { file, .. }
            | FhirError::NotJson { file, .. }
            | FhirError::WrongResourceType { file, .. }
            | FhirError::Malformed { file, .. }
            | FhirError::DuplicateFullUrl { file, .. }
            | FhirError::DanglingReference { file, .. }
            | FhirError::NoPatient { file }
            | FhirError::DirectoryBundle { file, .. }
            | FhirError::SeveralPatients { file, .. }
            | FhirError::ForeignEncounter { file, .. } => file,
        }
    }

    /// The entry the error is about, when one is at fault.
    pub fn entry(&self) -> Option<&EntryRef> {
        match self {
            FhirError::WrongResourceType { at, .. }
            | FhirError::Malformed { at, .. }
            | FhirError::DuplicateFullUrl { at, .. }
            | FhirError::DanglingReference { at, .. }
            | FhirError::SeveralPatients { at, .. }
            | FhirError::ForeignEncounter { at, .. } => match at {
                Location::Entry(e) => Some(e),
                Location::Document => None,
            },
            _ => None,
        }
    }
}
