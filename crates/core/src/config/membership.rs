//! Who takes part in consensus, derived from the certificates in force: each region's voters
//! (its nodes) and endorser candidates, and the orderers committees are drawn from. Every node
//! derives it from the same [`super::ConfigState`], so all compute the same sets.
//!
//! Candidates and orderers are ordered by certificate serial, the order the CA issued them:
//! a region's first candidate is its preferred endorser, the next takes over when it is
//! declared crashed; a certificate issued later joins at the end.

use crate::cert::VerifiedCertificate;
use crate::keys::PublicKey;
use crate::wire::Role;

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

/// The consensus membership of a network at one height.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// Every region, in the order they were configured (genesis, then added).
    pub regions: Vec<RegionMembers>,
    /// Orderers the beacon draws committees from, in serial order.
    pub orderers: Vec<PublicKey>,
}

impl Membership {
    /// The membership of `regions` given the certificates in force (unrevoked).
    pub fn derive<'a>(
        regions: &[String],
        certs: impl IntoIterator<Item = &'a VerifiedCertificate>,
    ) -> Self {
        let mut certs: Vec<&VerifiedCertificate> = certs.into_iter().collect();
        certs.sort_by_key(|c| c.body.serial);
        let node_roles = [Role::Endorser, Role::Orderer, Role::Committer];
        let regions = regions
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
