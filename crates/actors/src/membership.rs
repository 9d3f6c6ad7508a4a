//! Who takes part in consensus, read from genesis so every node computes the same sets:
//! each region's voters (its nodes) and endorser candidates, and the eligible orderers.
//!
//! Membership is fixed by genesis: a node certified later can upload, query and commit, but
//! joins the election or the orderer pool only in a new genesis. Candidates are ordered by
//! certificate serial, which is the order the CA issued them: the first is the region's
//! preferred endorser, the next takes over when it is declared crashed.

use medblock_core::genesis::VerifiedGenesis;
use medblock_core::keys::PublicKey;
use medblock_core::wire::Role;

/// One region's electorate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionMembers {
    /// Region name.
    pub name: String,
    /// Nodes that vote (endorsers, orderers and committers of the region).
    pub voters: Vec<PublicKey>,
    /// Endorser candidates, in preference order.
    pub candidates: Vec<PublicKey>,
}

/// The consensus membership of a network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// Every region named in genesis, in genesis order.
    pub regions: Vec<RegionMembers>,
    /// Orderers the beacon draws committees from, in serial order.
    pub orderers: Vec<PublicKey>,
}

impl Membership {
    /// Reads the membership from a verified genesis.
    pub fn from_genesis(genesis: &VerifiedGenesis) -> Self {
        let mut certs: Vec<_> = genesis.trust.certificates().collect();
        certs.sort_by_key(|c| c.body.serial);
        let node_roles = [Role::Endorser, Role::Orderer, Role::Committer];
        let regions = genesis
            .body
            .regions
            .iter()
            .map(|name| RegionMembers {
                name: name.clone(),
                voters: certs
                    .iter()
                    .filter(|c| &c.body.region == name && node_roles.iter().any(|r| c.has_role(*r)))
                    .map(|c| c.key)
                    .collect(),
                candidates: certs
                    .iter()
                    .filter(|c| &c.body.region == name && c.has_role(Role::Endorser))
                    .map(|c| c.key)
                    .collect(),
            })
            .collect();
        let orderers = certs
            .iter()
            .filter(|c| c.has_role(Role::Orderer))
            .map(|c| c.key)
            .collect();
        Self { regions, orderers }
    }

    /// Every key that takes part in consensus (voter, candidate or orderer).
    pub fn participants(&self) -> Vec<PublicKey> {
        let mut all: Vec<PublicKey> = self
            .regions
            .iter()
            .flat_map(|r| r.voters.iter().chain(r.candidates.iter()).copied())
            .chain(self.orderers.iter().copied())
            .collect();
        all.sort();
        all.dedup();
        all
    }

    /// The region whose candidates include `key`.
    pub fn region_of_candidate(&self, key: &PublicKey) -> Option<&RegionMembers> {
        self.regions.iter().find(|r| r.candidates.contains(key))
    }

    /// A region by name.
    pub fn region(&self, name: &str) -> Option<&RegionMembers> {
        self.regions.iter().find(|r| r.name == name)
    }
}
