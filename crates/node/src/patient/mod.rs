//! `medblock patient`: the patient's light node. It keeps no ledger: it dials any peer by
//! address (and finds more through Kademlia), proves its key over each peer's fresh challenge,
//! and checks every answer against genesis (Merkle paths, commit certificates, the peer's
//! signature), asking a second peer when one fails or to catch one that leaves records out.
//!
//! The same commands serve a grantee (`--patient` names whose records) and the regulator genesis
//! names (each of its reads is put on the ledger by the serving peer before it answers).

pub mod authz;
pub mod bench;
pub mod commands;
mod consent;
pub mod enrol;
pub mod error;
pub mod keys;
pub mod logs;
mod reading;
pub mod session;
pub mod time;
pub mod view;

pub use commands::{PatientCommand, run};
pub use error::PatientError;
pub use session::{Answer, LightNode};
