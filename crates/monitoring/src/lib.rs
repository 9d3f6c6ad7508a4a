//! Prometheus metrics per node, tracing set-up and the Grafana dashboard.
