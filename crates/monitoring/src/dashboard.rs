//! The Grafana dashboard shipped in `deploy/grafana`: its JSON is embedded here so tests (and
//! `testnet up`, which copies it next to the Prometheus config) use exactly the shipped file.

/// `deploy/grafana/dashboards/medblock.json`.
pub const DASHBOARD_JSON: &str = include_str!("../../../deploy/grafana/dashboards/medblock.json");
/// `deploy/grafana/provisioning/datasources/prometheus.yaml`.
pub const DATASOURCE_YAML: &str =
    include_str!("../../../deploy/grafana/provisioning/datasources/prometheus.yaml");
/// `deploy/grafana/provisioning/dashboards/medblock.yaml`.
pub const DASHBOARDS_YAML: &str =
    include_str!("../../../deploy/grafana/provisioning/dashboards/medblock.yaml");

/// Every PromQL expression of the dashboard's panels (`targets[].expr`).
pub fn expressions(dashboard: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    collect(dashboard, &mut out);
    out
}

fn collect(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                if k == "expr"
                    && let Some(s) = v.as_str()
                {
                    out.push(s.to_owned());
                } else {
                    collect(v, out);
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| collect(v, out)),
        _ => {}
    }
}

/// The metric names a PromQL expression reads: identifiers starting `medblock_`, with the
/// histogram suffixes (`_bucket`, `_sum`, `_count`) kept as exported.
pub fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let bytes: Vec<char> = expr.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let starts = expr[char_offset(expr, i)..].starts_with(crate::metrics::NAMESPACE)
            && (i == 0 || !is_ident(bytes[i - 1]));
        if starts {
            let mut j = i;
            while j < bytes.len() && is_ident(bytes[j]) {
                j += 1;
            }
            names.push(bytes[i..j].iter().collect());
            i = j;
        } else {
            i += 1;
        }
    }
    names.sort();
    names.dedup();
    names
}

fn char_offset(s: &str, chars: usize) -> usize {
    s.char_indices()
        .nth(chars)
        .map(|(o, _)| o)
        .unwrap_or(s.len())
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_out_of_promql() {
        assert_eq!(
            metric_names(
                "histogram_quantile(0.9, sum by (le) (rate(medblock_pbft_phase_seconds_bucket{phase=\"total\"}[1m]))) / max(medblock_height)"
            ),
            vec!["medblock_height", "medblock_pbft_phase_seconds_bucket"]
        );
    }

    #[test]
    fn the_shipped_dashboard_parses_and_queries_medblock_metrics() {
        let d: serde_json::Value = serde_json::from_str(DASHBOARD_JSON).expect("dashboard JSON");
        let exprs = expressions(&d);
        assert!(exprs.len() >= 10, "{exprs:?}");
        for e in exprs {
            assert!(!metric_names(&e).is_empty(), "{e} names no medblock metric");
        }
    }
}
