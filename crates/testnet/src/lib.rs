//! Starts and manages many MedBlock node processes on one machine: `medblock testnet up`
//! certifies and starts a network and waits for its first block; `add`, `remove`, `kill`,
//! `restart`, `perturb` (fault injection), `partition` and `heal` (a group cut off from the rest), `chaos` (load and random faults, then what was
//! lost), `cost` (CPU, memory and connections of the running nodes), `status` and `down` manage it afterwards from any shell, through the state file
//! `DIR/testnet.json`.
//!
//! Directory layout: `ca/` (CA key and register), `genesis.pb`, `nodes/<name>/` (key,
//! certificate, `node.toml`, `data/`), `logs/<name>.log`, `patients/<name>.key` (the demo
//! patients' own keys, made on their side and enrolled at every hospital),
//! `prometheus.yml`, `grafana/`, `testnet.json`.
#![deny(missing_docs)]

pub mod chaos;
pub mod cli;
pub mod cost;
pub mod enrol;
pub mod error;
pub mod hosts;
pub mod http;
pub mod layout;
pub mod ops;
pub mod partition;
pub mod patients;
pub mod perturb;
pub mod process;
pub mod prometheus;
pub mod render;
pub mod state;
pub mod status;
pub mod traffic;

pub use error::TestnetError;
