pub mod api;
pub mod bin;
pub mod byzantine;
pub mod cluster;
pub mod enrol;
pub mod load;
pub mod testnet_cli;
pub mod uploads;
