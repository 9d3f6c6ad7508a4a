//! Log set-up for the `medblock` binary: `RUST_LOG` filtering, text or JSON lines on stderr,
//! and every line naming its node. One process runs one node, so the name is process-wide:
//! it comes from [`set_node`] (once the node's certificate is read) or from the
//! `MEDBLOCK_NODE` environment variable (set by `testnet` for the processes it starts), so
//! lines logged on any actor thread carry it, not only those inside a span.

use std::fmt;
use std::io::IsTerminal;
use std::sync::OnceLock;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{Format, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

static NODE: OnceLock<String> = OnceLock::new();

/// Environment variable naming the node in log lines before [`set_node`] runs.
pub const NODE_ENV: &str = "MEDBLOCK_NODE";

/// Names this process's node in every later log line (first call wins).
pub fn set_node(name: &str) {
    let _ = NODE.set(name.to_owned());
}

/// The node name log lines carry (`-` when none is known).
pub fn node_name() -> String {
    NODE.get()
        .cloned()
        .or_else(|| std::env::var(NODE_ENV).ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "-".into())
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line (`timestamp`, `level`, `target`, `node`, `message`, fields).
    Json,
}

/// Environment variable choosing the log format when `--log-format` is not given.
pub const FORMAT_ENV: &str = "MEDBLOCK_LOG_FORMAT";

impl LogFormat {
    /// The format named by `MEDBLOCK_LOG_FORMAT` (text when unset or unknown).
    pub fn from_env() -> Self {
        std::env::var(FORMAT_ENV)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_default()
    }
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!("log format {other:?} is neither text nor json")),
        }
    }
}

/// The filter when `RUST_LOG` is unset. Gossip ids are content hashes, so every committee
/// replica that decides a block another replica already gossiped is told by gossipsub, at
/// WARN, that the message "has already been published": expected, and not worth a line.
pub const DEFAULT_FILTER: &str = "info,libp2p_gossipsub::behaviour=error";

/// Installs the global subscriber: `RUST_LOG` (default [`DEFAULT_FILTER`]), lines to stderr.
/// Returns false if a subscriber was already installed.
pub fn init(format: LogFormat) -> bool {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .event_format(NodeText(
                Format::default().with_ansi(std::io::stderr().is_terminal()),
            ))
            .try_init()
            .is_ok(),
        LogFormat::Json => builder.event_format(NodeJson).try_init().is_ok(),
    }
}

/// The default text format with `node=NAME` after the timestamp's line prefix.
struct NodeText(Format);

impl<S, N> FormatEvent<S, N> for NodeText
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        write!(writer, "[{}] ", node_name())?;
        self.0.format_event(ctx, writer, event)
    }
}

/// One JSON object per line.
struct NodeJson;

#[derive(Default)]
struct JsonFields(serde_json::Map<String, serde_json::Value>);

impl Visit for JsonFields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(
            field.name().to_owned(),
            serde_json::Value::String(format!("{value:?}")),
        );
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), value.into());
    }
}

impl<S, N> FormatEvent<S, N> for NodeJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut time = String::new();
        SystemTime.format_time(&mut Writer::new(&mut time))?;
        let mut fields = JsonFields::default();
        event.record(&mut fields);
        let mut line = serde_json::Map::new();
        line.insert("timestamp".into(), time.into());
        line.insert("level".into(), event.metadata().level().as_str().into());
        line.insert("target".into(), event.metadata().target().into());
        line.insert("node".into(), node_name().into());
        if let Some(message) = fields.0.remove("message") {
            line.insert("message".into(), message);
        }
        if !fields.0.is_empty() {
            line.insert("fields".into(), serde_json::Value::Object(fields.0));
        }
        if let Some(scope) = ctx.event_scope() {
            let spans: Vec<serde_json::Value> =
                scope.from_root().map(|s| s.name().into()).collect();
            line.insert("spans".into(), spans.into());
        }
        writeln!(writer, "{}", serde_json::Value::Object(line))
    }
}
