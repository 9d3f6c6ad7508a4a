//! Which nodes a testnet of N peers has: orderers first (PBFT needs them), then one endorser
//! candidate per region (elections need one), then one hospital department per region
//! (traffic needs one), then second endorser candidates (so a region survives losing its
//! endorser), then committers. Names say what a node is.

use crate::error::{Result, TestnetError};
use medblock_core::synthetic::{DEPARTMENTS, HOSPITALS};
use serde::{Deserialize, Serialize};

/// One node to certify and start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeSpec {
    /// Certificate name (also the node's directory name).
    pub name: String,
    /// Region.
    pub region: String,
    /// Roles.
    pub roles: Vec<String>,
    /// Hospital (departments).
    pub hospital: String,
    /// Department (departments).
    pub department: String,
}

impl NodeSpec {
    /// A node with roles and no hospital.
    pub fn node(name: String, region: &str, roles: &[&str]) -> Self {
        Self {
            name,
            region: region.to_owned(),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            hospital: String::new(),
            department: String::new(),
        }
    }

    /// Whether the node is a hospital department.
    pub fn is_department(&self) -> bool {
        self.roles.iter().any(|r| r == "client")
    }
}

/// Region names `region-1..=R`.
pub fn regions(count: usize) -> Vec<String> {
    (1..=count).map(|i| format!("region-{i}")).collect()
}

/// The hospital of region index `i` (the synthetic hospitals' names, then `hospital-N`).
pub fn hospital(i: usize) -> String {
    HOSPITALS
        .get(i)
        .map(|h| (*h).to_owned())
        .unwrap_or_else(|| format!("hospital-{}", i + 1))
}

/// The department of region index `i`.
pub fn department(i: usize) -> String {
    DEPARTMENTS
        .get(i % DEPARTMENTS.len())
        .copied()
        .unwrap_or("general")
        .to_owned()
}

/// The founding nodes of a network of `nodes` peers over `regions` regions with `orderers`
/// orderers.
pub fn plan(nodes: usize, regions_n: usize, orderers: usize) -> Result<Vec<NodeSpec>> {
    if regions_n == 0 || orderers == 0 {
        return Err(TestnetError::Invalid(
            "a network needs at least one region and one orderer".into(),
        ));
    }
    if nodes < orderers + regions_n {
        return Err(TestnetError::Invalid(format!(
            "{nodes} nodes cannot hold {orderers} orderers and one endorser for each of {regions_n} regions"
        )));
    }
    let regions = regions(regions_n);
    let region = |i: usize| regions[i % regions.len()].as_str();
    let mut out = Vec::with_capacity(nodes);
    for i in 0..orderers {
        out.push(NodeSpec::node(
            format!("orderer-{}", i + 1),
            region(i),
            &["orderer", "committer"],
        ));
    }
    for (i, r) in regions.iter().enumerate() {
        out.push(NodeSpec::node(
            format!("r{}-endorser-a", i + 1),
            r,
            &["endorser", "committer"],
        ));
    }
    for (i, r) in regions.iter().enumerate() {
        if out.len() == nodes {
            break;
        }
        let (h, d) = (hospital(i), department(i));
        out.push(NodeSpec {
            name: format!("{h}-{d}"),
            region: r.clone(),
            roles: vec!["client".into()],
            hospital: h,
            department: d,
        });
    }
    for (i, r) in regions.iter().enumerate() {
        if out.len() == nodes {
            break;
        }
        out.push(NodeSpec::node(
            format!("r{}-endorser-b", i + 1),
            r,
            &["endorser", "committer"],
        ));
    }
    let mut k = 0;
    while out.len() < nodes {
        out.push(NodeSpec::node(
            format!("committer-{}", k + 1),
            region(k),
            &["committer"],
        ));
        k += 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seven_nodes_over_two_regions() {
        let p = plan(7, 2, 4).expect("plan");
        let names: Vec<&str> = p.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "orderer-1",
                "orderer-2",
                "orderer-3",
                "orderer-4",
                "r1-endorser-a",
                "r2-endorser-a",
                "st-mary-cardiology"
            ]
        );
        assert!(p[6].is_department());
    }

    #[test]
    fn a_hundred_nodes_are_mostly_committers_with_unique_names() {
        let p = plan(100, 2, 4).expect("plan");
        assert_eq!(p.len(), 100);
        let mut names: Vec<&str> = p.iter().map(|n| n.name.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 100);
        assert_eq!(p.iter().filter(|n| n.is_department()).count(), 2);
        assert_eq!(
            p.iter()
                .filter(|n| n.roles.contains(&"endorser".to_owned()))
                .count(),
            4
        );
    }

    #[test]
    fn too_few_nodes_is_a_clear_error() {
        assert!(matches!(plan(4, 2, 4), Err(TestnetError::Invalid(_))));
        assert!(matches!(plan(4, 0, 4), Err(TestnetError::Invalid(_))));
    }
}
