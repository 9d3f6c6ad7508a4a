//! Reading an EMR back: a fetched record is a FHIR Bundle; its resources, keyed by fullUrl, can
//! be compared with what was imported. This is how a reader (and the tests) check that the
//! record served is the record that went in, beyond its hash.

use crate::bundle::Bundle;
use crate::encounter::EncounterRecord;
use crate::error::FhirError;
use serde_json::Value;
use std::collections::BTreeMap;

/// Resources of a bundle keyed by fullUrl.
pub type ResourceSet = BTreeMap<String, Value>;

/// Parses a stored or fetched EMR (a FHIR Bundle) into its resources. `name` labels errors.
/// The record bundle need not hold a Patient: only JSON, resource types and fullUrls are
/// checked here.
pub fn emr_resources(name: &str, emr: &[u8]) -> Result<ResourceSet, FhirError> {
    let value: Value = serde_json::from_slice(emr).map_err(|e| FhirError::NotJson {
        file: name.to_owned(),
        reason: e.to_string(),
    })?;
    let rt = value
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or("");
    if rt != "Bundle" {
        return Err(FhirError::WrongResourceType {
            file: name.to_owned(),
            at: crate::Location::Document,
            found: rt.to_owned(),
            expected: "Bundle",
        });
    }
    let mut out = ResourceSet::new();
    for (index, e) in value
        .get("entry")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
        .iter()
        .enumerate()
    {
        let url = e.get("fullUrl").and_then(Value::as_str);
        let (Some(url), Some(res)) = (url, e.get("resource")) else {
            return Err(FhirError::Malformed {
                file: name.to_owned(),
                at: crate::Location::Entry(crate::EntryRef {
                    index,
                    full_url: url.map(str::to_owned),
                }),
                reason: "an EMR entry needs fullUrl and resource".into(),
            });
        };
        out.insert(url.to_owned(), res.clone());
    }
    Ok(out)
}

/// The resources an encounter record was made of, from the source bundle.
pub fn record_resources(bundle: &Bundle, record: &EncounterRecord) -> ResourceSet {
    record
        .resources
        .iter()
        .filter_map(|i| bundle.get(*i))
        .map(|e| (e.full_url.clone(), e.resource.clone()))
        .collect()
}

/// One FHIR R4 `collection` Bundle holding the resources of several EMRs (e.g. every record a
/// patient fetched), each fullUrl once: what `medblock patient fetch` can hand to FHIR tools.
/// `emrs` are `(name, bytes)`; a record that is not a FHIR Bundle is an error naming it.
pub fn merge_emrs<'a>(
    emrs: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Result<Vec<u8>, FhirError> {
    let mut seen = std::collections::HashSet::new();
    let mut entries = Vec::new();
    for (name, bytes) in emrs {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| FhirError::NotJson {
            file: name.to_owned(),
            reason: e.to_string(),
        })?;
        emr_resources(name, bytes)?;
        for e in value
            .get("entry")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(url) = e.get("fullUrl").and_then(Value::as_str)
                && seen.insert(url.to_owned())
            {
                entries.push(serde_json::json!({ "fullUrl": url, "resource": e.get("resource") }));
            }
        }
    }
    let bundle = serde_json::json!({
        "resourceType": "Bundle",
        "type": "collection",
        "entry": entries,
    });
    Ok(serde_json::to_vec(&bundle).unwrap_or_default())
}
