//! Prometheus metrics per node, tracing set-up and the Grafana dashboard.
//!
//! * [`metrics::Metrics`]: one registry per node, the series the dashboard draws.
//! * [`logging`]: `RUST_LOG` filtering, text or JSON lines, each naming its node.
//! * [`dashboard`]: the metric names the Grafana dashboard queries, for its test.
#![deny(missing_docs)]

pub mod dashboard;
pub mod logging;
pub mod metrics;
pub mod phases;

pub use metrics::Metrics;
