pub mod bin;
pub mod cluster;
