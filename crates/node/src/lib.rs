//! The `medblock` binary's commands, as a library so that tests drive exactly what people run.
#![deny(missing_docs)]

pub mod api_token;
pub mod bench;
pub mod bulk;
pub mod ca;
pub mod ca_submit;
pub mod cli;
pub mod config;
pub mod config_api;
pub mod demo;
pub mod enrol;
pub mod health;
pub mod http;
pub mod import;
pub mod ledger_api;
pub mod localnet;
pub mod patient;
pub mod run;
pub mod tokens;
