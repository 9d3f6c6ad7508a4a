//! The configuration in force at one height: genesis plus every configuration change decided
//! up to it, folded in block order.

use super::change::{ConfigChangeKind, SignedChange};
use super::{ConfigError, MAX_CHANGES_PER_BLOCK, MIN_ORDERERS, Membership};
use crate::cert::{TrustStore, VerifiedCertificate};
use crate::consensus::node::RegionSetup;
use crate::consensus::{ConsensusConfig, Reconfiguration};
use crate::genesis::VerifiedGenesis;
use crate::hash::Hash32;
use crate::keys::PublicKey;
use crate::wire::{self, Role};
use std::collections::{BTreeMap, BTreeSet};

/// One applied change, for `status` pages and audits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedChange {
    /// The height of the block that holds it.
    pub height: u64,
    /// Its id.
    pub id: Hash32,
    /// What it did.
    pub description: String,
}

/// Trust store, regions and parameters as of [`ConfigState::height`].
#[derive(Debug, Clone)]
pub struct ConfigState {
    trust: TrustStore,
    /// Serial -> height of the block that revoked it.
    revoked_at: BTreeMap<u64, u64>,
    /// Serial -> height of the block that issued it (0: genesis).
    issued_at: BTreeMap<u64, u64>,
    regions: Vec<String>,
    params: wire::ConsensusParams,
    applied: BTreeSet<Hash32>,
    history: Vec<AppliedChange>,
    height: u64,
}

impl ConfigState {
    /// The configuration genesis sets (height 0).
    pub fn from_genesis(genesis: &VerifiedGenesis) -> Self {
        Self::new(
            genesis.trust.clone(),
            genesis.body.regions.clone(),
            genesis.params,
        )
    }

    /// A configuration at height 0 of `trust`'s certificates (all in force), `regions` and
    /// `params`: what a genesis holding them sets.
    pub fn new(trust: TrustStore, regions: Vec<String>, params: wire::ConsensusParams) -> Self {
        let issued_at = trust.certificates().map(|c| (c.body.serial, 0)).collect();
        Self {
            trust,
            revoked_at: BTreeMap::new(),
            issued_at,
            regions,
            params,
            applied: BTreeSet::new(),
            history: Vec::new(),
            height: 0,
        }
    }

    /// The last height folded in.
    pub fn height(&self) -> u64 {
        self.height
    }

    /// Certificates and revocations in force.
    pub fn trust(&self) -> &TrustStore {
        &self.trust
    }

    /// The regions, genesis' first.
    pub fn regions(&self) -> &[String] {
        &self.regions
    }

    /// The consensus parameters in force.
    pub fn params(&self) -> &wire::ConsensusParams {
        &self.params
    }

    /// Every change applied, in order.
    pub fn history(&self) -> &[AppliedChange] {
        &self.history
    }

    /// The consensus membership in force: unrevoked certificates only.
    pub fn membership(&self) -> Membership {
        Membership::derive(&self.regions, self.in_force())
    }

    /// The consensus membership restricted to the regions that take turns: those with an
    /// endorser candidate in force. A region added on the ledger joins the rotation with its
    /// first candidate, and never leaves it (its last candidate cannot be revoked,
    /// [`ConfigError::LastCandidate`]), so the rotation only grows, as the consensus machine
    /// requires. Genesis regions always have a candidate.
    pub fn turn_membership(&self) -> Membership {
        let mut m = self.membership();
        m.regions.retain(|r| !r.candidates.is_empty());
        m
    }

    /// Unrevoked certificates.
    pub fn in_force(&self) -> impl Iterator<Item = &VerifiedCertificate> {
        self.trust
            .certificates()
            .filter(|c| !self.revoked_at.contains_key(&c.body.serial))
    }

    /// The height whose block revoked `serial`, if any. Signatures by the certificate's key
    /// count in blocks up to that height and in none after it.
    pub fn revoked_at(&self, serial: u64) -> Option<u64> {
        self.revoked_at.get(&serial).copied()
    }

    /// The height whose block issued `serial` (0 for genesis), if any.
    pub fn issued_at(&self, serial: u64) -> Option<u64> {
        self.issued_at.get(&serial).copied()
    }

    /// The certificate in force for `key`, if any.
    pub fn certificate(&self, key: &PublicKey) -> Option<&VerifiedCertificate> {
        self.trust
            .get(key)
            .filter(|c| !self.revoked_at.contains_key(&c.body.serial))
    }

    fn by_serial(&self, serial: u64) -> Option<&VerifiedCertificate> {
        self.trust.certificates().find(|c| c.body.serial == serial)
    }

    fn orderers_in_force(&self) -> usize {
        self.in_force()
            .filter(|c| c.has_role(Role::Orderer))
            .count()
    }

    fn orderers_needed(params: &wire::ConsensusParams) -> (usize, usize) {
        let committee = ConsensusConfig::from(params).committee_size;
        (committee.max(MIN_ORDERERS), committee)
    }

    /// Checks encoded `bytes` against this state: the CA's signature, then whether the change
    /// may apply here. Nothing is applied.
    pub fn check(&self, bytes: &[u8]) -> Result<SignedChange, ConfigError> {
        let change = SignedChange::decode(self.trust.ca(), bytes)?;
        self.check_signed(&change)?;
        Ok(change)
    }

    /// [`ConfigState::check`] for a change whose signature was checked already.
    pub fn check_signed(&self, change: &SignedChange) -> Result<(), ConfigError> {
        self.check_rules(change)?;
        if change.changes_consensus() {
            // The consensus machine's own check of the membership it would be handed, run
            // here too: a change it would refuse is refused before it reaches a pool or a
            // block, instead of being proposed again every turn and never decided.
            let mut next = self.clone();
            next.apply(self.height.saturating_add(1), change);
            let regions = self.turn_membership().regions;
            if let Some(why) = next
                .reconfiguration()
                .problem(regions.iter().map(|r| &r.name))
            {
                return Err(ConfigError::RefusedByConsensus(why.to_string()));
            }
        }
        Ok(())
    }

    /// The membership the consensus machine is handed after a block that leaves this state:
    /// the orderer pool, the parameters and the regions that take turns.
    pub fn reconfiguration(&self) -> Reconfiguration {
        let m = self.turn_membership();
        Reconfiguration {
            orderers: m.orderers,
            cfg: ConsensusConfig::from(self.params()),
            regions: m
                .regions
                .into_iter()
                .map(|r| RegionSetup {
                    name: r.name,
                    voters: r.voters,
                    candidates: r.candidates,
                })
                .collect(),
        }
    }

    /// The configuration's own rules for `change`.
    fn check_rules(&self, change: &SignedChange) -> Result<(), ConfigError> {
        if self.applied.contains(&change.id) {
            return Err(ConfigError::Replayed {
                id: change.id.to_hex(),
            });
        }
        match &change.kind {
            ConfigChangeKind::Issue(cert) => self.check_issue(cert),
            ConfigChangeKind::Revoke { serial, .. } => self.check_revoke(*serial),
            ConfigChangeKind::AddRegion(name) => {
                if self.regions.contains(name) {
                    return Err(ConfigError::DuplicateRegion(name.clone()));
                }
                Ok(())
            }
            ConfigChangeKind::Params(p) => self.check_params(p),
        }
    }

    fn check_issue(&self, cert: &VerifiedCertificate) -> Result<(), ConfigError> {
        let serial = cert.body.serial;
        if let Some(held) = self.by_serial(serial) {
            return Err(ConfigError::DuplicateSerial {
                serial,
                name: held.body.name.clone(),
            });
        }
        if let Some(held) = self.certificate(&cert.key) {
            return Err(ConfigError::KeyAlreadyCertified {
                name: held.body.name.clone(),
                serial: held.body.serial,
            });
        }
        if cert.roles().is_empty() {
            return Err(ConfigError::NoRole { serial });
        }
        let node = [Role::Endorser, Role::Orderer, Role::Committer]
            .into_iter()
            .any(|r| cert.has_role(r));
        let region = &cert.body.region;
        if (node || !region.is_empty()) && !self.regions.contains(region) {
            return Err(ConfigError::UnknownRegion {
                serial,
                region: region.clone(),
            });
        }
        Ok(())
    }

    fn check_revoke(&self, serial: u64) -> Result<(), ConfigError> {
        if let Some(height) = self.revoked_at(serial) {
            return Err(ConfigError::AlreadyRevoked { serial, height });
        }
        let cert = self
            .by_serial(serial)
            .ok_or(ConfigError::UnknownCertificate { serial })?;
        if cert.has_role(Role::Endorser) {
            let region = &cert.body.region;
            let others = self
                .in_force()
                .filter(|c| {
                    c.has_role(Role::Endorser)
                        && &c.body.region == region
                        && c.body.serial != serial
                })
                .count();
            if others == 0 {
                return Err(ConfigError::LastCandidate {
                    serial,
                    region: region.clone(),
                });
            }
        }
        if cert.has_role(Role::Orderer) {
            let orderers = self.orderers_in_force().saturating_sub(1);
            let (needed, committee_size) = Self::orderers_needed(&self.params);
            if orderers < needed {
                return Err(ConfigError::TooFewOrderers {
                    orderers,
                    needed,
                    committee_size,
                });
            }
        }
        Ok(())
    }

    fn check_params(&self, p: &wire::ConsensusParams) -> Result<(), ConfigError> {
        let bad = |why: &str| Err(ConfigError::BadParams(why.to_string()));
        if p.committee_size < MIN_ORDERERS as u32 {
            return bad("committee size must be at least 4 (3f+1 with f >= 1)");
        }
        if p.max_block_events != self.params.max_block_events {
            // Every running ledger checks blocks against genesis' event limit.
            return bad("max_block_events is fixed by genesis (every ledger checks blocks by it)");
        }
        if p.view_change_timeout_ms < 100 || p.turn_timeout_ms < p.view_change_timeout_ms {
            return bad(
                "view-change timeout must be >= 100 ms and the turn timeout at least as long",
            );
        }
        if p.block_interval_ms == 0 || p.block_interval_ms > p.turn_timeout_ms {
            return bad("block interval must be above 0 and within the turn timeout");
        }
        if p.max_message_bytes != self.params.max_message_bytes {
            // Every running node sized its transport from genesis' frame limit.
            return bad("max_message_bytes is fixed by genesis (the transport's frame size)");
        }
        let orderers = self.orderers_in_force();
        let (needed, committee_size) = Self::orderers_needed(p);
        if orderers < needed {
            return Err(ConfigError::TooFewOrderers {
                orderers,
                needed,
                committee_size,
            });
        }
        Ok(())
    }

    /// Applies a change [`ConfigState::check_signed`] accepted, as decided at `height`.
    fn apply(&mut self, height: u64, change: &SignedChange) {
        match &change.kind {
            ConfigChangeKind::Issue(cert) => {
                self.issued_at.insert(cert.body.serial, height);
                // Checked against this CA already; `add` cannot fail on it.
                let _ = self.trust.add(&cert.raw);
            }
            ConfigChangeKind::Revoke { serial, .. } => {
                self.revoked_at.insert(*serial, height);
                self.trust.revoke(*serial);
            }
            ConfigChangeKind::AddRegion(name) => self.regions.push(name.clone()),
            ConfigChangeKind::Params(p) => self.params = *p,
        }
        self.applied.insert(change.id);
        self.history.push(AppliedChange {
            height,
            id: change.id,
            description: change.describe(),
        });
    }

    /// Checks a block's changes in order, each against the state the earlier ones leave, and
    /// returns them with the state after the block at `height`. `self` is untouched.
    pub fn check_block(
        &self,
        height: u64,
        changes: &[Vec<u8>],
    ) -> Result<(Vec<SignedChange>, ConfigState), ConfigError> {
        if changes.len() > MAX_CHANGES_PER_BLOCK {
            return Err(ConfigError::TooManyChanges {
                count: changes.len(),
                max: MAX_CHANGES_PER_BLOCK,
            });
        }
        let mut next = self.clone();
        let mut checked = Vec::with_capacity(changes.len());
        for bytes in changes {
            let change = next.check(bytes)?;
            next.apply(height, &change);
            checked.push(change);
        }
        next.height = height.max(next.height);
        Ok((checked, next))
    }

    /// Folds the block at `height` carrying `changes` into this state.
    pub fn fold_block(
        &mut self,
        height: u64,
        changes: &[Vec<u8>],
    ) -> Result<Vec<SignedChange>, ConfigError> {
        let (checked, next) = self.check_block(height, changes)?;
        *self = next;
        Ok(checked)
    }

    /// Moves the state's height to `height` for a block without changes.
    pub fn pass(&mut self, height: u64) {
        self.height = self.height.max(height);
    }
}
