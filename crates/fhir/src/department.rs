//! Which department of the hospital an Encounter belongs to. An event's department must be one
//! the hospital holds a certificate for, so the mapping goes to a fixed list ([`DEPARTMENTS`])
//! from the Encounter's class, service type and type; the first rule that matches wins.

use serde_json::Value;

/// Every department an imported encounter can be filed under. A hospital that imports FHIR
/// certifies a department key for each (see the README's FHIR section).
pub const DEPARTMENTS: [&str; 6] = [
    "emergency",
    "inpatient",
    "obstetrics",
    "pediatrics",
    "urgent-care",
    "primary-care",
];

/// Texts of a CodeableConcept: its `text` and every coding's `display`, lower-cased.
fn concept_texts(concept: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(t) = concept.get("text").and_then(Value::as_str) {
        out.push(t.to_lowercase());
    }
    if let Some(codings) = concept.get("coding").and_then(Value::as_array) {
        for c in codings {
            if let Some(d) = c.get("display").and_then(Value::as_str) {
                out.push(d.to_lowercase());
            }
        }
    }
    out
}

/// The department of an Encounter resource.
pub fn department_of(encounter: &Value) -> &'static str {
    let class = encounter
        .pointer("/class/code")
        .and_then(Value::as_str)
        .unwrap_or("");
    match class {
        "EMER" => return "emergency",
        "IMP" | "ACUTE" | "NONAC" | "PRENC" | "SS" => return "inpatient",
        _ => {}
    }
    let mut texts = Vec::new();
    if let Some(st) = encounter.get("serviceType") {
        texts.extend(concept_texts(st));
    }
    if let Some(types) = encounter.get("type").and_then(Value::as_array) {
        for t in types {
            texts.extend(concept_texts(t));
        }
    }
    let has = |words: &[&str]| texts.iter().any(|t| words.iter().any(|w| t.contains(w)));
    if has(&["emergency"]) {
        "emergency"
    } else if has(&["prenatal", "postnatal", "obstetric", "gynecolog", "pregnan"]) {
        "obstetrics"
    } else if has(&["well child", "pediatric", "paediatric"]) {
        "pediatrics"
    } else if has(&["urgent care"]) {
        "urgent-care"
    } else if has(&["inpatient", "hospital admission"]) {
        "inpatient"
    } else {
        "primary-care"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn enc(class: &str, display: &str) -> Value {
        json!({"resourceType": "Encounter", "class": {"code": class},
               "type": [{"coding": [{"display": display}], "text": display}]})
    }

    #[test]
    fn class_and_type_pick_the_department() {
        assert_eq!(department_of(&enc("EMER", "Stroke")), "emergency");
        assert_eq!(
            department_of(&enc("IMP", "Encounter for problem")),
            "inpatient"
        );
        assert_eq!(department_of(&enc("AMB", "Prenatal visit")), "obstetrics");
        assert_eq!(
            department_of(&enc("AMB", "Well child visit (procedure)")),
            "pediatrics"
        );
        assert_eq!(
            department_of(&enc("AMB", "Urgent care clinic (procedure)")),
            "urgent-care"
        );
        assert_eq!(
            department_of(&enc("AMB", "General examination of patient (procedure)")),
            "primary-care"
        );
        assert_eq!(department_of(&json!({})), "primary-care");
    }

    #[test]
    fn service_type_counts_like_type() {
        let e = json!({"class": {"code": "AMB"}, "serviceType": {"text": "Obstetrics service"}});
        assert_eq!(department_of(&e), "obstetrics");
    }

    #[test]
    fn every_mapped_department_is_listed() {
        for (c, d) in [
            ("EMER", ""),
            ("IMP", ""),
            ("AMB", "prenatal"),
            ("AMB", "well child"),
            ("AMB", "urgent care"),
            ("AMB", "x"),
        ] {
            assert!(DEPARTMENTS.contains(&department_of(&enc(c, d))));
        }
    }
}
