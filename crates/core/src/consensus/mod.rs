//! MedBlock's hybrid consensus as pure state machines: regional endorser election, primary
//! turns, the randomness beacon that picks each turn's orderer committee, and PBFT inside the
//! committee. Each machine takes an input and the current time and returns actions.
//!
//! Nothing here owns a socket, a thread or a clock: the node's actors and the deterministic
//! simulator drive the very same machines, so what the simulator proves is what runs.

pub mod beacon;
pub mod catchup;
pub mod catchup_peers;
pub mod certificate;
pub mod committee;
pub mod config;
pub mod election;
pub mod node;
pub mod pbft;
pub mod proposer;
pub mod reconfiguration;
pub mod statement;
pub mod turns;
pub mod value_check;

pub use beacon::Beacon;
pub use certificate::{CertificateVerifyError, VerifiedCertificate};
pub use committee::{Committee, select_committee};
pub use config::ConsensusConfig;
pub use node::{
    ChainValidator, ConsensusError, ConsensusNode, ConsensusStatus, NodeAction, NodeInput,
    NodeSetup, RegionSetup,
};
pub use proposer::{
    Proposer, ProposerAction, ProposerConfig, ProposerInput, ProposerStatus, ProposerView, Taken,
    Tip,
};
pub use reconfiguration::Reconfiguration;
pub use turns::TurnStart;
pub use value_check::{InvalidProposal, PrimaryCheck, ProposalValidator, ValueCheck};
