//! The summary that goes, sealed, on the ledger: diagnosis from Conditions, examination results
//! from Observations and DiagnosticReports, treatment plan from Procedures, MedicationRequests
//! and CarePlans. Short human text, deduplicated and bounded so it always fits an event.

use crate::bundle::Bundle;
use serde_json::Value;

/// Longest text of one summary field; the node refuses summaries over 64 KiB in all.
pub const MAX_FIELD_BYTES: usize = 16 * 1024;

/// The three summary fields of an encounter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SummaryText {
    /// Diagnoses, `; `-separated.
    pub diagnosis: String,
    /// Examination results, `; `-separated.
    pub examination_results: String,
    /// Treatment plan, `; `-separated.
    pub treatment_plan: String,
}

/// The display text of a CodeableConcept: `text`, else the first coding's display, else its code.
pub fn concept_text(concept: &Value) -> Option<String> {
    if let Some(t) = concept.get("text").and_then(Value::as_str)
        && !t.is_empty()
    {
        return Some(t.to_owned());
    }
    let codings = concept.get("coding").and_then(Value::as_array)?;
    codings.iter().find_map(|c| {
        c.get("display")
            .or_else(|| c.get("code"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    })
}

fn number(v: &Value) -> Option<String> {
    let n = v.as_f64()?;
    // Round to 2 decimals for a short, stable text.
    let r = (n * 100.0).round() / 100.0;
    Some(format!("{r}"))
}

/// An observation value (`value[x]`) as text.
fn value_text(holder: &Value) -> Option<String> {
    if let Some(q) = holder.get("valueQuantity") {
        let value = q.get("value").and_then(number)?;
        let unit = q
            .get("unit")
            .or_else(|| q.get("code"))
            .and_then(Value::as_str)
            .unwrap_or("");
        return Some(if unit.is_empty() {
            value
        } else {
            format!("{value} {unit}")
        });
    }
    if let Some(c) = holder.get("valueCodeableConcept") {
        return concept_text(c);
    }
    for key in [
        "valueString",
        "valueBoolean",
        "valueInteger",
        "valueDateTime",
    ] {
        if let Some(v) = holder.get(key) {
            return Some(match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
        }
    }
    None
}

fn observation_text(obs: &Value) -> Option<String> {
    let name = obs.get("code").and_then(concept_text)?;
    if let Some(v) = value_text(obs) {
        return Some(format!("{name}: {v}"));
    }
    let parts: Vec<String> = obs
        .get("component")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter_map(|c| {
                    let n = c.get("code").and_then(concept_text)?;
                    let v = value_text(c)?;
                    Some(format!("{n} {v}"))
                })
                .collect()
        })
        .unwrap_or_default();
    Some(if parts.is_empty() {
        name
    } else {
        format!("{name}: {}", parts.join(", "))
    })
}

fn medication_text(bundle: &Bundle, req: &Value) -> Option<String> {
    if let Some(c) = req.get("medicationCodeableConcept") {
        return concept_text(c);
    }
    let r = req.pointer("/medicationReference/reference")?.as_str()?;
    let med = bundle.get(bundle.resolve(r)?)?;
    med.resource.get("code").and_then(concept_text)
}

fn careplan_text(plan: &Value) -> Option<String> {
    let mut parts: Vec<String> = plan
        .get("category")
        .and_then(Value::as_array)
        .map(|cs| cs.iter().filter_map(concept_text).collect())
        .unwrap_or_default();
    if let Some(acts) = plan.get("activity").and_then(Value::as_array) {
        parts.extend(
            acts.iter()
                .filter_map(|a| a.pointer("/detail/code").and_then(concept_text)),
        );
    }
    (!parts.is_empty()).then(|| format!("care plan: {}", parts.join(", ")))
}

/// Joins items, dropping duplicates (first kept) and stopping at [`MAX_FIELD_BYTES`] with a
/// count of what was left out.
fn join_bounded(items: Vec<String>) -> String {
    let mut seen = std::collections::HashSet::new();
    let unique: Vec<String> = items
        .into_iter()
        .filter(|i| seen.insert(i.clone()))
        .collect();
    let mut out = String::new();
    for (i, item) in unique.iter().enumerate() {
        let more = unique.len() - i;
        if out.len() + item.len() + 2 + 32 > MAX_FIELD_BYTES {
            out.push_str(&format!("; … {more} more"));
            break;
        }
        if !out.is_empty() {
            out.push_str("; ");
        }
        out.push_str(item);
    }
    out
}

/// The summary of an encounter from its resources (entry indices into `bundle`).
pub fn summarize(bundle: &Bundle, resources: &[usize]) -> SummaryText {
    let (mut dx, mut exam, mut plan) = (Vec::new(), Vec::new(), Vec::new());
    for e in resources.iter().filter_map(|i| bundle.get(*i)) {
        let r = &e.resource;
        match e.resource_type.as_str() {
            "Condition" => dx.extend(r.get("code").and_then(concept_text)),
            "Observation" => exam.extend(observation_text(r)),
            "DiagnosticReport" => exam.extend(
                r.get("code")
                    .and_then(concept_text)
                    .map(|t| format!("report: {t}")),
            ),
            "Procedure" => plan.extend(
                r.get("code")
                    .and_then(concept_text)
                    .map(|t| format!("procedure: {t}")),
            ),
            "MedicationRequest" => {
                plan.extend(medication_text(bundle, r).map(|t| format!("medication: {t}")))
            }
            "CarePlan" => plan.extend(careplan_text(r)),
            _ => {}
        }
    }
    SummaryText {
        diagnosis: join_bounded(dx),
        examination_results: join_bounded(exam),
        treatment_plan: join_bounded(plan),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn observation_with_quantity_and_components() {
        let o = json!({"code": {"text": "Body Height"}, "valueQuantity": {"value": 170.25, "unit": "cm"}});
        assert_eq!(
            observation_text(&o).as_deref(),
            Some("Body Height: 170.25 cm")
        );
        let bp = json!({"code": {"coding": [{"display": "Blood pressure panel"}]},
            "component": [
                {"code": {"text": "Systolic"}, "valueQuantity": {"value": 120, "unit": "mm[Hg]"}},
                {"code": {"text": "Diastolic"}, "valueQuantity": {"value": 80, "unit": "mm[Hg]"}}]});
        assert_eq!(
            observation_text(&bp).as_deref(),
            Some("Blood pressure panel: Systolic 120 mm[Hg], Diastolic 80 mm[Hg]")
        );
    }

    #[test]
    fn long_lists_are_cut_with_a_count() {
        let items: Vec<String> = (0..5000).map(|i| format!("item number {i}")).collect();
        let s = join_bounded(items);
        assert!(s.len() <= MAX_FIELD_BYTES + 40, "{}", s.len());
        assert!(s.ends_with("more"));
        assert_eq!(
            join_bounded(vec!["a".into(), "b".into(), "a".into()]),
            "a; b"
        );
    }
}
