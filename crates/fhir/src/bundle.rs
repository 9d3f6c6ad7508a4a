//! Reading and validating a FHIR R4 Bundle as a whole, before anything of it is imported: JSON,
//! resource types, unique fullUrls, one Patient, and every reference resolving inside the bundle.
//! Only a bundle that passes all of this is handed to the encounter extraction, which is what
//! makes an import all-or-nothing per bundle.

use crate::error::{EntryRef, FhirError, Location};
use serde_json::Value;
use std::collections::HashMap;
use std::io::Read;

/// The largest decompressed bundle accepted (the biggest Synthea patient is about 11 MB).
pub const MAX_BUNDLE_BYTES: u64 = 256 << 20;

/// One entry of a validated bundle.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Index in `Bundle.entry`.
    pub index: usize,
    /// The entry's fullUrl (synthesised as `ResourceType/id` when absent).
    pub full_url: String,
    /// `resource.resourceType`.
    pub resource_type: String,
    /// `resource.id` (empty when absent).
    pub id: String,
    /// The resource, exactly as read.
    pub resource: Value,
}

impl Entry {
    /// Where this entry lies, for errors.
    pub fn location(&self) -> Location {
        Location::Entry(EntryRef {
            index: self.index,
            full_url: Some(self.full_url.clone()),
        })
    }
}

/// A bundle that passed validation: one Patient, every reference resolved.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The file (or other source name) it was read from.
    pub file: String,
    /// Its entries, in order.
    pub entries: Vec<Entry>,
    /// Index (in `entries`) of the Patient.
    pub patient: usize,
    by_reference: HashMap<String, usize>,
}

/// A reference found in a resource: the string and the JSON path where it sits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The `reference` string.
    pub reference: String,
    /// Dotted path of the Reference element (e.g. `.encounter`, `.item.encounter`).
    pub path: String,
}

/// Every `reference` string inside `value`, with its path.
pub fn references(value: &Value) -> Vec<Reference> {
    fn walk(v: &Value, path: &mut String, out: &mut Vec<Reference>) {
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    if k == "reference"
                        && let Value::String(s) = child
                    {
                        out.push(Reference {
                            reference: s.clone(),
                            path: if path.is_empty() {
                                ".".into()
                            } else {
                                path.clone()
                            },
                        });
                        continue;
                    }
                    let len = path.len();
                    path.push('.');
                    path.push_str(k);
                    walk(child, path, out);
                    path.truncate(len);
                }
            }
            Value::Array(items) => {
                for item in items {
                    walk(item, path, out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(value, &mut String::new(), &mut out);
    out
}

/// Whether a reference must resolve inside the bundle. Contained (`#id`), conditional
/// (`Type?search`, resolved by the receiving server, as Synthea does for the hospital and
/// practitioner directories) and absolute `http(s)` references to other servers need not.
fn must_resolve(reference: &str) -> bool {
    !(reference.starts_with('#')
        || reference.contains('?')
        || reference.starts_with("http://")
        || reference.starts_with("https://"))
}

/// Decompresses `bytes` when they are bzip2 (by magic), bounded by [`MAX_BUNDLE_BYTES`].
pub fn decompress(file: &str, bytes: &[u8]) -> Result<Vec<u8>, FhirError> {
    if !bytes.starts_with(b"BZh") {
        return Ok(bytes.to_vec());
    }
    let mut out = Vec::new();
    let mut reader = bzip2::read::MultiBzDecoder::new(bytes).take(MAX_BUNDLE_BYTES + 1);
    reader
        .read_to_end(&mut out)
        .map_err(|e| FhirError::Decompress {
            file: file.to_owned(),
            reason: e.to_string(),
        })?;
    if out.len() as u64 > MAX_BUNDLE_BYTES {
        return Err(FhirError::Decompress {
            file: file.to_owned(),
            reason: format!("larger than {MAX_BUNDLE_BYTES} bytes unpacked"),
        });
    }
    Ok(out)
}

impl Bundle {
    /// Reads a bundle from a file's bytes (`.json` or `.json.bz2`) and validates it.
    pub fn from_bytes(file: &str, bytes: &[u8]) -> Result<Self, FhirError> {
        let json = decompress(file, bytes)?;
        let value: Value = serde_json::from_slice(&json).map_err(|e| FhirError::NotJson {
            file: file.to_owned(),
            reason: e.to_string(),
        })?;
        Self::from_value(file, value)
    }

    /// Validates a parsed JSON document as a patient Bundle.
    pub fn from_value(file: &str, mut value: Value) -> Result<Self, FhirError> {
        let err_doc = |reason: &str| FhirError::Malformed {
            file: file.to_owned(),
            at: Location::Document,
            reason: reason.to_owned(),
        };
        let Some(root) = value.as_object_mut() else {
            return Err(err_doc("the top level is not a JSON object"));
        };
        let rt = root
            .get("resourceType")
            .and_then(Value::as_str)
            .unwrap_or("");
        if rt != "Bundle" {
            return Err(FhirError::WrongResourceType {
                file: file.to_owned(),
                at: Location::Document,
                found: rt.to_owned(),
                expected: "Bundle",
            });
        }
        let raw_entries = match root.remove("entry") {
            Some(Value::Array(a)) => a,
            None => Vec::new(),
            Some(_) => return Err(err_doc("Bundle.entry is not an array")),
        };
        let mut entries = Vec::with_capacity(raw_entries.len());
        let mut by_reference: HashMap<String, usize> = HashMap::new();
        let mut patient: Option<usize> = None;
        for (index, raw) in raw_entries.into_iter().enumerate() {
            let entry = Self::entry(file, index, raw)?;
            let at = entry.location();
            if let Some(first) = by_reference.get(&entry.full_url) {
                return Err(FhirError::DuplicateFullUrl {
                    file: file.to_owned(),
                    at,
                    first: *first,
                });
            }
            if entry.resource_type == "Patient" {
                if let Some(first) = patient {
                    return Err(FhirError::SeveralPatients {
                        file: file.to_owned(),
                        at,
                        first,
                    });
                }
                patient = Some(index);
            }
            by_reference.insert(entry.full_url.clone(), index);
            if !entry.id.is_empty() {
                by_reference
                    .entry(format!("{}/{}", entry.resource_type, entry.id))
                    .or_insert(index);
            }
            entries.push(entry);
        }
        let directory = [
            "Organization",
            "Location",
            "Practitioner",
            "PractitionerRole",
        ];
        if patient.is_none()
            && !entries.is_empty()
            && entries
                .iter()
                .all(|e| directory.contains(&e.resource_type.as_str()))
        {
            return Err(FhirError::DirectoryBundle {
                file: file.to_owned(),
                entries: entries.len(),
            });
        }
        let Some(patient) = patient else {
            return Err(FhirError::NoPatient {
                file: file.to_owned(),
            });
        };
        for entry in &entries {
            for r in references(&entry.resource) {
                if must_resolve(&r.reference) && !by_reference.contains_key(&r.reference) {
                    return Err(FhirError::DanglingReference {
                        file: file.to_owned(),
                        at: entry.location(),
                        reference: r.reference,
                        path: r.path,
                    });
                }
            }
        }
        let bundle = Self {
            file: file.to_owned(),
            entries,
            patient,
            by_reference,
        };
        bundle.check_encounter_subjects()?;
        Ok(bundle)
    }

    fn entry(file: &str, index: usize, raw: Value) -> Result<Entry, FhirError> {
        let Value::Object(mut map) = raw else {
            return Err(FhirError::Malformed {
                file: file.to_owned(),
                at: Location::Entry(EntryRef {
                    index,
                    full_url: None,
                }),
                reason: "the entry is not a JSON object".into(),
            });
        };
        let full_url = map
            .get("fullUrl")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let at = Location::Entry(EntryRef {
            index,
            full_url: full_url.clone(),
        });
        let resource = match map.remove("resource") {
            Some(r @ Value::Object(_)) => r,
            _ => {
                return Err(FhirError::Malformed {
                    file: file.to_owned(),
                    at,
                    reason: "the entry has no resource object".into(),
                });
            }
        };
        let resource_type = resource
            .get("resourceType")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        if !is_resource_type(&resource_type) {
            return Err(FhirError::WrongResourceType {
                file: file.to_owned(),
                at,
                found: resource_type,
                expected: "a FHIR resource type (capitalised name)",
            });
        }
        if resource_type == "Bundle" {
            return Err(FhirError::WrongResourceType {
                file: file.to_owned(),
                at,
                found: resource_type,
                expected: "a resource other than a nested Bundle",
            });
        }
        let id = resource
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let full_url = match full_url {
            Some(u) => u,
            None if !id.is_empty() => format!("{resource_type}/{id}"),
            None => {
                return Err(FhirError::Malformed {
                    file: file.to_owned(),
                    at,
                    reason: "the entry has neither fullUrl nor resource.id".into(),
                });
            }
        };
        Ok(Entry {
            index,
            full_url,
            resource_type,
            id,
            resource,
        })
    }

    fn check_encounter_subjects(&self) -> Result<(), FhirError> {
        for e in self
            .entries
            .iter()
            .filter(|e| e.resource_type == "Encounter")
        {
            let subject = e
                .resource
                .pointer("/subject/reference")
                .and_then(Value::as_str)
                .unwrap_or("");
            if self.resolve(subject) != Some(self.patient) {
                return Err(FhirError::ForeignEncounter {
                    file: self.file.clone(),
                    at: e.location(),
                    subject: subject.to_owned(),
                });
            }
        }
        Ok(())
    }

    /// The entry index a reference resolves to inside this bundle.
    pub fn resolve(&self, reference: &str) -> Option<usize> {
        self.by_reference.get(reference).copied()
    }

    /// The entry at `index`.
    pub fn get(&self, index: usize) -> Option<&Entry> {
        self.entries.get(index)
    }

    /// The Patient's entry.
    pub fn patient(&self) -> Option<&Entry> {
        self.entries.get(self.patient)
    }

    /// The Patient's logical id (its `id`, or its fullUrl without a `urn:uuid:` prefix), the key
    /// of the hospital's patient registry.
    pub fn patient_id(&self) -> String {
        match self.patient() {
            Some(p) if !p.id.is_empty() => p.id.clone(),
            Some(p) => p
                .full_url
                .trim_start_matches("urn:uuid:")
                .rsplit('/')
                .next()
                .unwrap_or("")
                .to_owned(),
            None => String::new(),
        }
    }

    /// The id the hospital's patient registry knows the Patient by (his local id, MRN): the
    /// value of the Patient's `identifier` whose `type` has the HL7 v2-0203 code `MR` (medical
    /// record number; the first such one), or, when it has none, [`Bundle::patient_id`].
    /// Synthea writes an MR identifier equal to the resource id.
    pub fn registry_id(&self) -> String {
        self.patient()
            .and_then(|p| mrn(&p.resource))
            .unwrap_or_else(|| self.patient_id())
    }
}

/// The HL7 v2-0203 identifier type of a medical record number.
const MR_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/v2-0203";

/// The value of a Patient resource's first MR identifier (ignoring ones without a value).
fn mrn(patient: &Value) -> Option<String> {
    patient["identifier"]
        .as_array()?
        .iter()
        .find(|id| {
            id["type"]["coding"].as_array().is_some_and(|codings| {
                codings.iter().any(|c| {
                    c["code"].as_str() == Some("MR")
                        && c["system"].as_str().is_none_or(|s| s == MR_SYSTEM)
                })
            }) && id["value"].as_str().is_some_and(|v| !v.is_empty())
        })
        .and_then(|id| id["value"].as_str())
        .map(str::to_owned)
}

/// FHIR resource type names are capitalised ASCII letters (`Patient`, `DiagnosticReport`).
fn is_resource_type(s: &str) -> bool {
    s.len() <= 64
        && s.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && s.chars().all(|c| c.is_ascii_alphabetic())
}
