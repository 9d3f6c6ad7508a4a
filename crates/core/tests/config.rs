//! Configuration on the ledger (issue 18): CA-signed changes checked against the state they
//! apply to, each refusal typed, the state after a block, the membership derived from it, and
//! the block-level rules (the header binds the changes; a membership change ends its turn).

use medblock_core::block::{ChainTip, PackRequest, VerifiedBlock, pack_block_with_config};
use medblock_core::block_rules::{BlockRuleError, check_config};
use medblock_core::cert::CertificateAuthority;
use medblock_core::config::{ConfigError, ConfigState, sign_change};
use medblock_core::error::{BlockError, LedgerError};
use medblock_core::genesis::{GenesisSpec, build_genesis, default_params, verify_genesis};
use medblock_core::keys::{Identity, SigningKey};
use medblock_core::wire::{self, Role, config_change_body::Change};
use prost::Message;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

const NOW: u64 = 1_700_000_000_000;

struct Net {
    rng: ChaCha20Rng,
    ca: CertificateAuthority,
    state: ConfigState,
    /// Serials of the genesis orderers.
    orderers: Vec<u64>,
    endorser: SigningKey,
    next_serial: u64,
}

fn cert_body(
    id: &Identity,
    serial: u64,
    name: &str,
    region: &str,
    roles: &[Role],
) -> wire::CertificateBody {
    wire::CertificateBody {
        serial,
        name: name.into(),
        hospital: String::new(),
        department: String::new(),
        region: region.into(),
        roles: roles.iter().map(|r| *r as i32).collect(),
        public_key: id.signing.public().as_bytes().to_vec(),
        sealing_key: id.sealing.public().0.to_vec(),
        peer_id: Vec::new(),
        not_before_ms: NOW - 1_000,
        not_after_ms: NOW + 86_400_000,
        issuer_key: Vec::new(),
    }
}

impl Net {
    /// Genesis: 4 orderers, one endorser, region "r1".
    fn new(seed: u64) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let ca = CertificateAuthority::new(SigningKey::generate(&mut rng));
        let mut certificates = Vec::new();
        for i in 1..=4 {
            let id = Identity::generate(&mut rng);
            certificates.push(ca.issue(cert_body(
                &id,
                i,
                &format!("orderer-{i}"),
                "r1",
                &[Role::Orderer, Role::Committer],
            )));
        }
        let endorser = Identity::generate(&mut rng);
        certificates.push(ca.issue(cert_body(&endorser, 5, "endorser", "r1", &[Role::Endorser])));
        let genesis = build_genesis(
            &ca,
            &GenesisSpec {
                network: "config-test".into(),
                regions: vec!["r1".into()],
                certificates,
                regulator: None,
                params: default_params(),
                created_at_ms: NOW,
            },
        );
        let genesis = verify_genesis(&genesis.encode_to_vec()).expect("genesis");
        Self {
            rng,
            state: ConfigState::from_genesis(&genesis),
            ca,
            orderers: vec![1, 2, 3, 4],
            endorser: endorser.signing,
            next_serial: 6,
        }
    }

    fn sign(&self, change: Change) -> Vec<u8> {
        sign_change(&self.ca, change, NOW).encode_to_vec()
    }

    /// A change issuing a certificate with `roles` in `region`.
    fn issue(&mut self, name: &str, region: &str, roles: &[Role]) -> Vec<u8> {
        let id = Identity::generate(&mut self.rng);
        let serial = self.next_serial;
        self.next_serial += 1;
        let cert = self.ca.issue(cert_body(&id, serial, name, region, roles));
        self.sign(Change::Issue(cert))
    }

    fn revoke(&self, serial: u64) -> Vec<u8> {
        self.sign(Change::Revoke(wire::Revocation {
            serial,
            reason: "test".into(),
        }))
    }

    /// Applies `changes` as the block at the next height.
    fn apply(&mut self, changes: &[Vec<u8>]) {
        let h = self.state.height() + 1;
        self.state.fold_block(h, changes).expect("changes apply");
    }
}

#[test]
fn issuing_orderers_grows_the_pool_and_revoking_shrinks_it_from_its_height() {
    let mut net = Net::new(1);
    assert_eq!(net.state.membership().orderers.len(), 4);
    let adds: Vec<Vec<u8>> = (5..=7)
        .map(|i| net.issue(&format!("orderer-{i}"), "r1", &[Role::Orderer]))
        .collect();
    net.apply(&adds);
    assert_eq!(net.state.height(), 1);
    assert_eq!(net.state.membership().orderers.len(), 7);
    // New orderers join the pool after the genesis ones (serial order).
    let first = net.state.membership().orderers[0];
    net.apply(&[net.revoke(net.orderers[0])]);
    let m = net.state.membership();
    assert_eq!(m.orderers.len(), 6);
    assert!(
        !m.orderers.contains(&first),
        "the revoked orderer left the pool"
    );
    assert_eq!(net.state.revoked_at(net.orderers[0]), Some(2));
    assert_eq!(net.state.history().len(), 4);
    assert!(
        net.state.history()[3]
            .description
            .contains("revoke certificate 1")
    );
}

#[test]
fn each_bad_change_is_refused_with_its_error() {
    let mut net = Net::new(2);
    let rogue = CertificateAuthority::new(SigningKey::generate(&mut net.rng));
    let stranger = Identity::generate(&mut net.rng);
    type Expect = fn(&ConfigError) -> bool;
    let dup = {
        // Serial 3 belongs to orderer-3 already.
        let cert = net
            .ca
            .issue(cert_body(&stranger, 3, "again", "r1", &[Role::Committer]));
        net.sign(Change::Issue(cert))
    };
    let not_ca = sign_change(&rogue, Change::AddRegion("r9".into()), NOW).encode_to_vec();
    let cert_by_rogue = {
        let cert = rogue.issue(cert_body(&stranger, 99, "forged", "r1", &[Role::Orderer]));
        net.sign(Change::Issue(cert))
    };
    let unknown_region = net.issue("far", "r7", &[Role::Committer]);
    let no_role = net.issue("nobody", "r1", &[]);
    let mut small = default_params();
    small.committee_size = 3;
    let mut big = default_params();
    big.committee_size = 7;
    let mut frame = default_params();
    frame.max_message_bytes *= 2;
    let cases: Vec<(&str, Vec<u8>, Expect)> = vec![
        ("garbage", vec![0xff, 0x01, 0x02], |e| {
            matches!(e, ConfigError::Malformed(_) | ConfigError::NotSignedByCa)
        }),
        ("not signed by the CA", not_ca, |e| {
            *e == ConfigError::NotSignedByCa
        }),
        ("a certificate the CA did not sign", cert_by_rogue, |e| {
            *e == ConfigError::NotSignedByCa
        }),
        ("duplicate serial", dup, |e| {
            matches!(e, ConfigError::DuplicateSerial { serial: 3, .. })
        }),
        ("unknown region", unknown_region, |e| {
            matches!(e, ConfigError::UnknownRegion { .. })
        }),
        ("no role", no_role, |e| {
            matches!(e, ConfigError::NoRole { .. })
        }),
        ("revoke an unknown serial", net.revoke(77), |e| {
            *e == ConfigError::UnknownCertificate { serial: 77 }
        }),
        ("fewer than 4 orderers left", net.revoke(2), |e| {
            matches!(
                e,
                ConfigError::TooFewOrderers {
                    orderers: 3,
                    needed: 4,
                    ..
                }
            )
        }),
        ("the last candidate of a region", net.revoke(5), |e| {
            *e == ConfigError::LastCandidate {
                serial: 5,
                region: "r1".into(),
            }
        }),
        ("committee below 4", net.sign(Change::Params(small)), |e| {
            matches!(e, ConfigError::BadParams(_))
        }),
        (
            "committee above the pool",
            net.sign(Change::Params(big)),
            |e| {
                matches!(
                    e,
                    ConfigError::TooFewOrderers {
                        orderers: 4,
                        needed: 7,
                        ..
                    }
                )
            },
        ),
        (
            "frame size is genesis'",
            net.sign(Change::Params(frame)),
            |e| matches!(e, ConfigError::BadParams(_)),
        ),
        (
            "existing region",
            net.sign(Change::AddRegion("r1".into())),
            |e| *e == ConfigError::DuplicateRegion("r1".into()),
        ),
        (
            "empty change",
            sign_change(&net.ca, Change::AddRegion(String::new()), NOW).encode_to_vec(),
            |e| matches!(e, ConfigError::Malformed(_)),
        ),
    ];
    for (what, bytes, expect) in cases {
        let before = net.state.membership();
        let err = net.state.check(&bytes).expect_err(what);
        assert!(expect(&err), "{what}: {err:?}");
        // A refused block leaves the state as it was.
        assert!(net.state.check_block(1, &[bytes]).is_err(), "{what}");
        assert_eq!(net.state.membership(), before, "{what}");
    }
}

#[test]
fn a_replayed_or_repeated_change_is_refused() {
    let mut net = Net::new(3);
    let region = net.sign(Change::AddRegion("r2".into()));
    net.apply(std::slice::from_ref(&region));
    assert!(matches!(
        net.state.check(&region),
        Err(ConfigError::Replayed { .. })
    ));
    // A second candidate first: the region's last one cannot be revoked.
    let second = net.issue("endorser-2", "r1", &[Role::Endorser]);
    net.apply(&[second]);
    let revoke = net.revoke(5);
    net.apply(std::slice::from_ref(&revoke));
    // The same revocation signed again (new bytes): already revoked, at its height.
    let again = sign_change(
        &net.ca,
        Change::Revoke(wire::Revocation {
            serial: 5,
            reason: "again".into(),
        }),
        NOW + 1,
    )
    .encode_to_vec();
    assert_eq!(
        net.state.check(&again),
        Err(ConfigError::AlreadyRevoked {
            serial: 5,
            height: 3
        })
    );
}

#[test]
fn changes_in_one_block_apply_in_order() {
    let mut net = Net::new(4);
    let region = net.sign(Change::AddRegion("r2".into()));
    let node = net.issue("r2-endorser", "r2", &[Role::Endorser, Role::Committer]);
    // The certificate before its region: refused as a block.
    assert!(matches!(
        net.state.check_block(1, &[node.clone(), region.clone()]),
        Err(ConfigError::UnknownRegion { .. })
    ));
    let (checked, next) = net.state.check_block(1, &[region, node]).expect("in order");
    assert_eq!(checked.len(), 2);
    let m = next.membership();
    assert_eq!(m.regions.len(), 2);
    assert_eq!(m.region("r2").map(|r| r.candidates.len()), Some(1));
    // `check_block` left the state alone.
    assert_eq!(net.state.regions().len(), 1);
}

#[test]
fn an_added_region_takes_turns_from_its_first_candidate_and_keeps_them() {
    let mut net = Net::new(6);
    let region = net.sign(Change::AddRegion("r2".into()));
    net.apply(&[region]);
    // Added but empty: listed, yet not in the rotation.
    assert_eq!(net.state.membership().regions.len(), 2);
    let names = |m: medblock_core::config::Membership| {
        m.regions.into_iter().map(|r| r.name).collect::<Vec<_>>()
    };
    assert_eq!(names(net.state.turn_membership()), ["r1"]);
    // A department alone (no consensus role) does not bring it in.
    let dept = net.issue("h3-cardiology", "r2", &[Role::Client]);
    net.apply(&[dept]);
    assert_eq!(names(net.state.turn_membership()), ["r1"]);
    // Its first endorser candidate does.
    let first = net.issue("r2-endorser", "r2", &[Role::Endorser, Role::Committer]);
    net.apply(&[first]);
    assert_eq!(names(net.state.turn_membership()), ["r1", "r2"]);
    // And it cannot be revoked away from the rotation (turns are by region).
    let serial = net.next_serial - 1;
    assert_eq!(
        net.state.check(&net.revoke(serial)),
        Err(ConfigError::LastCandidate {
            serial,
            region: "r2".into()
        })
    );
    let second = net.issue("r2-endorser-2", "r2", &[Role::Endorser]);
    net.apply(&[second]);
    net.apply(&[net.revoke(serial)]);
    assert_eq!(names(net.state.turn_membership()), ["r1", "r2"]);
}

fn block_with(net: &Net, changes: Vec<Vec<u8>>, last_of_turn: bool) -> wire::Block {
    pack_block_with_config(
        &PackRequest {
            tip: ChainTip::GENESIS,
            endorser: &net.endorser,
            region: "r1",
            policy: wire::AccessPolicy::default(),
            packed_at_ms: NOW,
            last_of_turn,
        },
        Vec::new(),
        changes,
    )
}

#[test]
fn a_block_binds_its_changes_and_a_membership_change_ends_its_turn() {
    let mut net = Net::new(5);
    let add = net.issue("orderer-5", "r1", &[Role::Orderer]);
    let dept = {
        let id = Identity::generate(&mut net.rng);
        let mut body = cert_body(&id, 50, "h9-cardiology", "r1", &[Role::Client]);
        body.hospital = "h9".into();
        body.department = "cardiology".into();
        net.sign(Change::Issue(net.ca.issue(body)))
    };
    // A config-only block (no events) verifies, and its header binds the changes.
    let block = block_with(&net, vec![add.clone()], true);
    let v = VerifiedBlock::verify(block.clone(), 1000).expect("config-only block");
    let next = check_config(&v, Some(&net.state))
        .expect("applies")
        .expect("changes");
    assert_eq!(next.membership().orderers.len(), 5);
    // Swapping the change after signing breaks the header's binding.
    let mut swapped = block.clone();
    swapped.config_changes = vec![dept.clone()];
    assert!(matches!(
        VerifiedBlock::verify(swapped, 1000),
        Err(LedgerError::Block(BlockError::ConfigHashMismatch {
            height: 1
        }))
    ));
    // An orderer added mid-turn would split the turn between two memberships.
    let mid = VerifiedBlock::verify(block_with(&net, vec![add], false), 1000).expect("verifies");
    assert_eq!(
        check_config(&mid, Some(&net.state)).map(|_| ()),
        Err(BlockRuleError::ConfigOutsideTurnEnd)
    );
    // A department certificate changes no membership: any block may carry it.
    let d = VerifiedBlock::verify(block_with(&net, vec![dept], false), 1000).expect("verifies");
    assert!(
        check_config(&d, Some(&net.state))
            .expect("applies")
            .is_some()
    );
    // Without a configuration to check against, a block with changes is refused.
    assert_eq!(
        check_config(&d, None).map(|_| ()),
        Err(BlockRuleError::Config(ConfigError::NoState))
    );
    // An empty block stays refused.
    assert!(matches!(
        VerifiedBlock::verify(block_with(&net, Vec::new(), true), 1000),
        Err(LedgerError::Block(BlockError::Empty))
    ));
}

/// One random configuration step, as an operator might submit it.
#[derive(Debug, Clone)]
enum Step {
    Issue { region: u8, roles: u8 },
    Revoke(u8),
    AddRegion(u8),
    Committee(u8),
}

fn step() -> impl proptest::strategy::Strategy<Value = Step> {
    use proptest::prelude::*;
    prop_oneof![
        (0u8..4, 1u8..32).prop_map(|(region, roles)| Step::Issue { region, roles }),
        (1u8..20).prop_map(Step::Revoke),
        (0u8..4).prop_map(Step::AddRegion),
        (3u8..9).prop_map(Step::Committee),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

    /// The configuration's own rules refuse everything the consensus machine would refuse:
    /// over random sequences of issues, revocations, new regions and committee sizes, the
    /// backstop (`RefusedByConsensus`) never fires, and every state accepted hands the
    /// machine a membership it takes.
    #[test]
    fn every_change_the_configuration_accepts_is_one_the_consensus_takes(
        steps in proptest::collection::vec(step(), 1..40),
    ) {
        let mut net = Net::new(7);
        let roles = [Role::Endorser, Role::Orderer, Role::Committer, Role::Client, Role::Regulator];
        for s in steps {
            let bytes = match s {
                Step::Issue { region, roles: mask } => {
                    let picked: Vec<Role> = roles
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| mask & (1 << i) != 0)
                        .map(|(_, r)| *r)
                        .collect();
                    let name = format!("node-{}", net.next_serial);
                    net.issue(&name, &format!("r{}", region + 1), &picked)
                }
                Step::Revoke(serial) => net.revoke(u64::from(serial)),
                Step::AddRegion(r) => net.sign(Change::AddRegion(format!("r{}", r + 1))),
                Step::Committee(size) => {
                    let mut p = default_params();
                    p.committee_size = u32::from(size);
                    net.sign(Change::Params(p))
                }
            };
            match net.state.check(&bytes) {
                Ok(_) => {
                    net.apply(&[bytes]);
                    let regions: Vec<String> =
                        net.state.turn_membership().regions.into_iter().map(|r| r.name).collect();
                    proptest::prop_assert!(regions.iter().any(|r| r == "r1"));
                }
                Err(ConfigError::RefusedByConsensus(why)) => {
                    proptest::prop_assert!(false, "only the backstop refused it: {}", why);
                }
                Err(_) => {}
            }
        }
    }
}
