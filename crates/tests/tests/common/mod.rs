pub mod api;
pub mod bin;
pub mod cluster;
pub mod enrol;
