//! Which nodes a testnet of N peers has, for any N from 4 up.
//!
//! What a layout must hold (checked by the tests below):
//! - at least [`MIN_ORDERERS`] orderers, each its own node (PBFT needs 3f + 1 with f >= 1);
//! - in every region an endorser candidate and voters: the region's endorser, orderer and
//!   committer nodes vote, a strict majority elects, and no block is ordered until every
//!   region has elected (`medblock_core::consensus::election`);
//! - at least one hospital department (client role), through which the first block's visit
//!   is submitted.
//!
//! With room for it (more than `orderers + regions` nodes) every node has its own role, as the
//! paper's network: orderers first (PBFT needs them), then one endorser candidate per region
//! (elections need one), then one hospital department per region (traffic needs one), then
//! second endorser candidates (so a region survives losing its endorser), then committers.
//! Smaller networks share roles (a node certificate lists several and the node starts an
//! actor for each): the first two orderers of each region are also its endorser candidates, a
//! region with no orderer gets an endorser node of its own, and each region's hospital
//! department gets its own node while nodes remain, else runs on the region's last node.
//! Names say what a node is (an orderer that is also a candidate or a department keeps its
//! orderer name; [`describe`] prints all its roles).

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

/// PBFT's smallest committee: 3f + 1 orderers with f = 1.
pub const MIN_ORDERERS: usize = 4;
/// `testnet up` without flags: nodes.
pub const DEFAULT_NODES: usize = 10;
/// `testnet up` without flags: orderers.
pub const DEFAULT_ORDERERS: usize = MIN_ORDERERS;

/// The size of a network: what [`plan`] lays out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Peers (node processes).
    pub nodes: usize,
    /// Regions.
    pub regions: usize,
    /// Orderers.
    pub orderers: usize,
}

/// The smallest number of nodes that holds `regions` regions and `orderers` orderers: every
/// orderer is its own node, a region with no orderer needs an endorser node of its own, and
/// the endorser candidates and hospital departments share those nodes.
pub fn min_nodes(regions: usize, orderers: usize) -> usize {
    orderers.max(regions).max(MIN_ORDERERS)
}

/// Regions for `nodes` peers and `orderers` orderers when the user names none: two (the
/// default network's) when every node can have its own role with an endorser candidate and a
/// hospital department in each, else one.
pub fn default_regions(nodes: usize, orderers: usize) -> usize {
    if nodes >= orderers + 2 * 2 { 2 } else { 1 }
}

fn check_orderers(orderers: usize) -> Result<()> {
    if orderers < MIN_ORDERERS {
        return Err(TestnetError::Invalid(format!(
            "{orderers} orderers cannot order blocks: PBFT needs at least {MIN_ORDERERS} \
             (3f + 1 with f = 1); use --orderers {MIN_ORDERERS} or more"
        )));
    }
    Ok(())
}

/// Fills in what `testnet up` was not told: 10 nodes (or as many as the flags need),
/// [`DEFAULT_ORDERERS`] orderers, [`default_regions`]. Refuses flags that cannot work, naming
/// the smallest `--nodes` that would.
pub fn choose(
    nodes: Option<usize>,
    regions: Option<usize>,
    orderers: Option<usize>,
) -> Result<Shape> {
    let orderers_n = orderers.unwrap_or(DEFAULT_ORDERERS);
    check_orderers(orderers_n)?;
    if regions == Some(0) {
        return Err(TestnetError::Invalid(
            "a network needs at least one region (--regions 1 or more)".into(),
        ));
    }
    let nodes_n =
        nodes.unwrap_or_else(|| DEFAULT_NODES.max(min_nodes(regions.unwrap_or(1), orderers_n)));
    let regions_n = regions.unwrap_or_else(|| default_regions(nodes_n, orderers_n));
    let min = min_nodes(regions_n, orderers_n);
    if nodes_n < min {
        let mut flags = Vec::new();
        if let Some(r) = regions {
            flags.push(format!("--regions {r}"));
        }
        if let Some(o) = orderers {
            flags.push(format!("--orderers {o}"));
        }
        let why = if flags.is_empty() {
            format!(
                "a testnet needs at least {min} nodes ({orderers_n} orderers: PBFT needs 3f + 1, \
                 each its own node; endorser candidates and a hospital department share them)"
            )
        } else {
            format!(
                "{} {} at least {min} nodes (every orderer is its own node, and so is the \
                 endorser of a region without an orderer; candidates and departments share them)",
                flags.join(" "),
                if flags.len() > 1 { "need" } else { "needs" }
            )
        };
        return Err(TestnetError::Invalid(format!(
            "--nodes {nodes_n} is too few: {why}; the smallest network that works is --nodes {min}"
        )));
    }
    Ok(Shape {
        nodes: nodes_n,
        regions: regions_n,
        orderers: orderers_n,
    })
}

/// The founding nodes of a network of `nodes` peers over `regions` regions with `orderers`
/// orderers.
pub fn plan(nodes: usize, regions_n: usize, orderers: usize) -> Result<Vec<NodeSpec>> {
    if regions_n == 0 {
        return Err(TestnetError::Invalid(
            "a network needs at least one region".into(),
        ));
    }
    check_orderers(orderers)?;
    let min = min_nodes(regions_n, orderers);
    if nodes < min {
        return Err(TestnetError::Invalid(format!(
            "{nodes} nodes cannot hold {orderers} orderers and an endorser for each of \
             {regions_n} regions: the smallest such network has {min} nodes"
        )));
    }
    if nodes <= orderers + regions_n {
        return Ok(shared(nodes, regions_n, orderers));
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
        out.push(department_node(i, r));
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

/// The hospital department of region index `i`, on a node of its own.
fn department_node(i: usize, region: &str) -> NodeSpec {
    let (h, d) = (hospital(i), department(i));
    NodeSpec {
        name: format!("{h}-{d}"),
        region: region.to_owned(),
        roles: vec!["client".into()],
        hospital: h,
        department: d,
    }
}

/// A network with no room for a node per role (`nodes <= orderers + regions`, at least
/// [`min_nodes`]): orderers spread over the regions, the first two of each region also its
/// endorser candidates; an endorser node for each region without an orderer; then each
/// region's hospital department on a node of its own while nodes remain, else on the
/// region's last node.
fn shared(nodes: usize, regions_n: usize, orderers: usize) -> Vec<NodeSpec> {
    let regions = regions(regions_n);
    let mut out: Vec<NodeSpec> = (0..orderers)
        .map(|i| {
            NodeSpec::node(
                format!("orderer-{}", i + 1),
                &regions[i % regions_n],
                &["orderer", "committer"],
            )
        })
        .collect();
    for r in 0..regions_n.min(orderers) {
        for i in (r..orderers).step_by(regions_n).take(2) {
            out[i].roles.insert(1, "endorser".into());
        }
    }
    for (i, r) in regions.iter().enumerate().skip(orderers) {
        out.push(NodeSpec::node(
            format!("r{}-endorser-a", i + 1),
            r,
            &["endorser", "committer"],
        ));
    }
    for (i, r) in regions.iter().enumerate() {
        if out.len() < nodes {
            out.push(department_node(i, r));
        } else if let Some(host) = out
            .iter_mut()
            .rev()
            .find(|n| &n.region == r && !n.is_department())
        {
            host.roles.push("client".into());
            host.hospital = hospital(i);
            host.department = department(i);
        }
    }
    out
}

/// One line per node: name, roles, region, and the hospital department it serves.
pub fn describe(plan: &[NodeSpec]) -> Vec<String> {
    let width = plan.iter().map(|n| n.name.len()).max().unwrap_or(0);
    plan.iter()
        .map(|n| {
            let mut line = format!(
                "{:<width$}  {:<33}  {}",
                n.name,
                n.roles.join(","),
                n.region
            );
            if n.is_department() {
                line.push_str(&format!("  ({} {})", n.hospital, n.department));
            }
            line.trim_end().to_owned()
        })
        .collect()
}

/// One line about a layout: how many nodes, regions, orderers, candidates and departments,
/// and whether roles are shared.
pub fn summary(plan: &[NodeSpec]) -> String {
    let count = |role: &str| {
        plan.iter()
            .filter(|n| n.roles.iter().any(|r| r == role))
            .count()
    };
    let mut regions: Vec<&str> = plan.iter().map(|n| n.region.as_str()).collect();
    regions.sort_unstable();
    regions.dedup();
    let shared = plan.iter().filter(|n| n.roles.len() > 2).count();
    format!(
        "layout: {} nodes, {} region(s), {} orderers, {} endorser candidates, {} hospital department(s){}",
        plan.len(),
        regions.len(),
        count("orderer"),
        count("endorser"),
        count("client"),
        if shared > 0 {
            format!("; {shared} nodes share roles")
        } else {
            String::new()
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has(n: &NodeSpec, role: &str) -> bool {
        n.roles.iter().any(|r| r == role)
    }

    /// The layout's invariants; returns the fewest voters of any region.
    fn check(p: &[NodeSpec], shape: Shape) -> usize {
        let what = format!("{shape:?}: {p:#?}");
        assert_eq!(p.len(), shape.nodes, "{what}");
        let orderers = p.iter().filter(|n| has(n, "orderer")).count();
        assert_eq!(orderers, shape.orderers, "{what}");
        assert!(orderers >= MIN_ORDERERS, "{what}");
        let mut names: Vec<&str> = p.iter().map(|n| n.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), p.len(), "names not unique: {what}");
        let departments: Vec<&NodeSpec> = p.iter().filter(|n| n.is_department()).collect();
        assert!(!departments.is_empty(), "no department: {what}");
        for d in &departments {
            assert!(!d.hospital.is_empty() && !d.department.is_empty(), "{what}");
        }
        let mut served: Vec<(&str, &str)> = departments
            .iter()
            .map(|d| (d.hospital.as_str(), d.department.as_str()))
            .collect();
        served.sort_unstable();
        served.dedup();
        assert_eq!(
            served.len(),
            departments.len(),
            "a department twice: {what}"
        );
        for n in p {
            assert!(!n.roles.is_empty(), "{what}");
            let known = ["orderer", "endorser", "committer", "client"];
            assert!(
                n.roles.iter().all(|r| known.contains(&r.as_str())),
                "{what}"
            );
            if has(n, "orderer") || has(n, "endorser") {
                assert!(has(n, "committer"), "{what}");
            }
        }
        let mut fewest = usize::MAX;
        for r in regions(shape.regions) {
            let in_region = || p.iter().filter(|n| n.region == r);
            let candidates = in_region().filter(|n| has(n, "endorser")).count();
            let voters = in_region()
                .filter(|n| has(n, "endorser") || has(n, "orderer") || has(n, "committer"))
                .count();
            assert!(candidates >= 1, "{r} has no endorser candidate: {what}");
            assert!(voters >= candidates, "{what}");
            // A strict majority of the region's voters elects: reachable with all of them up.
            assert!(medblock_core::consensus::election::majority(voters) <= voters);
            fewest = fewest.min(voters);
        }
        assert!(p.iter().all(|n| regions(shape.regions).contains(&n.region)));
        fewest
    }

    #[test]
    fn every_size_without_flags_gets_a_working_layout() {
        let sizes = (4..=12).chain([20, 50, 100, 300]);
        for n in sizes {
            let shape = choose(Some(n), None, None).expect("a layout");
            assert_eq!(shape.nodes, n);
            assert_eq!(shape.orderers, 4);
            assert_eq!(shape.regions, if n >= 8 { 2 } else { 1 }, "N={n}");
            let p = plan(shape.nodes, shape.regions, shape.orderers).expect("plan");
            let fewest = check(&p, shape);
            // Every region keeps a majority of voters with one of them down.
            assert!(fewest >= 3, "N={n}: a region with {fewest} voters");
            // Every region has a hospital department, bar none.
            for r in regions(shape.regions) {
                assert!(
                    p.iter().any(|x| x.region == r && x.is_department()),
                    "N={n}: no department in {r}"
                );
            }
        }
    }

    #[test]
    fn the_default_network_is_unchanged() {
        assert_eq!(
            choose(None, None, None).expect("default"),
            Shape {
                nodes: 10,
                regions: 2,
                orderers: 4
            }
        );
        let p = plan(10, 2, 4).expect("plan");
        let got: Vec<(&str, String, &str, &str, &str)> = p
            .iter()
            .map(|n| {
                (
                    n.name.as_str(),
                    n.roles.join(","),
                    n.region.as_str(),
                    n.hospital.as_str(),
                    n.department.as_str(),
                )
            })
            .collect();
        let want = [
            ("orderer-1", "orderer,committer", "region-1", "", ""),
            ("orderer-2", "orderer,committer", "region-2", "", ""),
            ("orderer-3", "orderer,committer", "region-1", "", ""),
            ("orderer-4", "orderer,committer", "region-2", "", ""),
            ("r1-endorser-a", "endorser,committer", "region-1", "", ""),
            ("r2-endorser-a", "endorser,committer", "region-2", "", ""),
            (
                "st-mary-cardiology",
                "client",
                "region-1",
                "st-mary",
                "cardiology",
            ),
            (
                "riverside-radiology",
                "client",
                "region-2",
                "riverside",
                "radiology",
            ),
            ("r1-endorser-b", "endorser,committer", "region-1", "", ""),
            ("r2-endorser-b", "endorser,committer", "region-2", "", ""),
        ];
        let want: Vec<(&str, String, &str, &str, &str)> = want
            .iter()
            .map(|(a, b, c, d, e)| (*a, (*b).to_owned(), *c, *d, *e))
            .collect();
        assert_eq!(got, want);
    }

    /// `plan` before small networks shared roles: every layout it made with a department is
    /// made the same, byte for byte.
    fn dedicated_only(nodes: usize, regions_n: usize, orderers: usize) -> Vec<NodeSpec> {
        let regions = regions(regions_n);
        let region = |i: usize| regions[i % regions.len()].as_str();
        let mut out = Vec::new();
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
        out
    }

    #[test]
    fn networks_with_room_for_every_role_are_laid_out_as_before() {
        for regions_n in 1..=5 {
            for orderers in 4..=7 {
                for nodes in (orderers + regions_n + 1)..=(orderers + 3 * regions_n + 4) {
                    assert_eq!(
                        plan(nodes, regions_n, orderers).expect("plan"),
                        dedicated_only(nodes, regions_n, orderers),
                        "{nodes} nodes, {regions_n} regions, {orderers} orderers"
                    );
                }
            }
        }
        assert_eq!(plan(100, 2, 4).expect("plan"), dedicated_only(100, 2, 4));
    }

    #[test]
    fn every_shape_from_its_smallest_size_works() {
        for regions_n in 1..=8 {
            for orderers in 4..=9 {
                let min = min_nodes(regions_n, orderers);
                for nodes in min..=(orderers + 2 * regions_n + 3) {
                    let shape =
                        choose(Some(nodes), Some(regions_n), Some(orderers)).expect("a layout");
                    let p = plan(nodes, regions_n, orderers).expect("plan");
                    check(&p, shape);
                }
                let err = plan(min - 1, regions_n, orderers).expect_err("too small");
                assert!(err.to_string().contains(&format!("{min} nodes")), "{err}");
                let err =
                    choose(Some(min - 1), Some(regions_n), Some(orderers)).expect_err("too small");
                assert!(err.to_string().contains(&format!("--nodes {min}")), "{err}");
            }
        }
    }

    #[test]
    fn four_nodes_are_the_classic_bft_network_with_shared_roles() {
        let shape = choose(Some(4), None, None).expect("4 nodes");
        let p = plan(shape.nodes, shape.regions, shape.orderers).expect("plan");
        let got: Vec<(&str, String, &str)> = p
            .iter()
            .map(|n| (n.name.as_str(), n.roles.join(","), n.region.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("orderer-1", "orderer,endorser,committer".into(), "region-1"),
                ("orderer-2", "orderer,endorser,committer".into(), "region-1"),
                ("orderer-3", "orderer,committer".into(), "region-1"),
                ("orderer-4", "orderer,committer,client".into(), "region-1"),
            ]
        );
        assert_eq!(
            (p[3].hospital.as_str(), p[3].department.as_str()),
            ("st-mary", "cardiology")
        );
        let five = plan(5, 1, 4).expect("plan");
        assert_eq!(five[4].name, "st-mary-cardiology");
        assert_eq!(five[4].roles, ["client"]);
        assert_eq!(five[3].roles, ["orderer", "committer"]);
    }

    #[test]
    fn four_nodes_over_two_regions_share_every_role() {
        let p = plan(4, 2, 4).expect("plan");
        let got: Vec<(&str, String, &str)> = p
            .iter()
            .map(|n| (n.name.as_str(), n.roles.join(","), n.region.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("orderer-1", "orderer,endorser,committer".into(), "region-1"),
                ("orderer-2", "orderer,endorser,committer".into(), "region-2"),
                (
                    "orderer-3",
                    "orderer,endorser,committer,client".into(),
                    "region-1"
                ),
                (
                    "orderer-4",
                    "orderer,endorser,committer,client".into(),
                    "region-2"
                ),
            ]
        );
    }

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
        let msg = |r: Result<Shape>| r.expect_err("refused").to_string();
        let e = msg(choose(Some(3), None, None));
        assert!(e.contains("--nodes 4"), "{e}");
        let e = msg(choose(Some(5), Some(6), None));
        assert!(e.contains("--regions 6") && e.contains("--nodes 6"), "{e}");
        let e = msg(choose(Some(6), Some(2), Some(7)));
        assert!(e.contains("--orderers 7") && e.contains("--nodes 7"), "{e}");
        let e = msg(choose(None, None, Some(3)));
        assert!(e.contains("PBFT") && e.contains("--orderers 4"), "{e}");
        assert!(msg(choose(None, Some(0), None)).contains("region"));
        // Flags that need more than the default 10 nodes get them when --nodes is not given.
        assert_eq!(choose(None, Some(12), None).expect("shape").nodes, 12);
        assert!(matches!(plan(3, 1, 4), Err(TestnetError::Invalid(_))));
        assert!(matches!(plan(4, 0, 4), Err(TestnetError::Invalid(_))));
        assert!(matches!(plan(10, 2, 3), Err(TestnetError::Invalid(_))));
    }

    #[test]
    fn the_printed_layout_has_a_line_per_node() {
        let p = plan(4, 1, 4).expect("plan");
        let lines = describe(&p);
        assert_eq!(lines.len(), 4);
        assert!(lines[0].starts_with("orderer-1  orderer,endorser,committer"));
        assert!(lines[3].contains("orderer,committer,client") && lines[3].contains("region-1"));
        assert!(lines[3].ends_with("(st-mary cardiology)"), "{}", lines[3]);
        assert!(summary(&p).contains("4 nodes, 1 region(s), 4 orderers"));
    }
}
