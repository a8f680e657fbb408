//! Logging, traces and metrics set-up shared by every binary.
//!
//! Traces (SPEC §21): every request runs in a W3C trace context — the
//! caller's `traceparent`, or a new one — and a job enqueued while it runs
//! carries that context in its envelope, so the job's spans continue the
//! request's trace (its log lines carry the same `trace_id`). When
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set, spans are also exported over OTLP
//! (HTTP/protobuf; the standard `OTEL_*` variables apply).

use std::sync::OnceLock;

use opentelemetry::trace::TracerProvider as _;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::LogFormat;

/// The OTLP exporter, when one is configured (kept to flush it at exit).
static OTLP: OnceLock<opentelemetry_sdk::trace::SdkTracerProvider> = OnceLock::new();

/// Installs the global tracing subscriber: `RUST_LOG` levels (default
/// `info`), text or JSON lines, and the OTLP exporter when
/// `OTEL_EXPORTER_OTLP_ENDPOINT` is set. Safe to call more than once (tests).
pub fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    let otlp = otlp_layer();
    let registry = tracing_subscriber::registry().with(filter).with(otlp);
    // Colours for a terminal only: a file or journald gets plain lines.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let fmt = tracing_subscriber::fmt::layer().with_target(false).with_ansi(ansi);
    let _ = match format {
        LogFormat::Json => registry.with(fmt.json().flatten_event(true)).try_init(),
        LogFormat::Text => registry.with(fmt).try_init(),
    };
}

type OtlpLayer = tracing_opentelemetry::OpenTelemetryLayer<
    tracing_subscriber::layer::Layered<EnvFilter, tracing_subscriber::Registry>,
    opentelemetry_sdk::trace::SdkTracer,
>;

/// The layer that exports spans, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
fn otlp_layer() -> Option<OtlpLayer> {
    std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").filter(|v| !v.is_empty())?;
    if OTLP.get().is_some() {
        return None;
    }
    // The exporter's HTTP client is reqwest on rustls, which needs its provider first.
    rustls::crypto::ring::default_provider().install_default().ok();
    let exporter = match opentelemetry_otlp::SpanExporter::builder().with_http().build() {
        Ok(exporter) => exporter,
        Err(err) => {
            eprintln!("OTEL_EXPORTER_OTLP_ENDPOINT: spans will not be exported: {err}");
            return None;
        }
    };
    let service = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.file_stem().map(|s| format!("dtx-{}", s.to_string_lossy())))
        .unwrap_or_else(|| "dtx".to_owned());
    let mut resource = opentelemetry_sdk::Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name(service);
    }
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build();
    let tracer = provider.tracer("dtx");
    let _ = OTLP.set(provider);
    Some(tracing_opentelemetry::layer().with_tracer(tracer))
}

/// Sends the spans not exported yet (at exit).
pub fn flush_traces() {
    if let Some(provider) = OTLP.get() {
        let _ = provider.force_flush();
    }
}

/// A W3C trace context (`traceparent: 00-<trace id>-<parent span id>-<flags>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    pub trace_id: u128,
    pub span_id: u64,
    pub sampled: bool,
}

impl TraceParent {
    /// Reads a `traceparent` header; `None` for anything malformed (it is
    /// then ignored, as the W3C spec says).
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.trim().split('-');
        let (version, trace, span, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        fn hex(s: &str, len: usize) -> Option<&str> {
            (s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))).then_some(s)
        }
        hex(version, 2).filter(|v| *v != "ff")?;
        if version == "00" && parts.next().is_some() {
            return None;
        }
        let trace_id = u128::from_str_radix(hex(trace, 32)?, 16).ok().filter(|t| *t != 0)?;
        let span_id = u64::from_str_radix(hex(span, 16)?, 16).ok().filter(|s| *s != 0)?;
        let flags = u8::from_str_radix(hex(flags, 2)?, 16).ok()?;
        Some(Self { trace_id, span_id, sampled: flags & 1 == 1 })
    }

    pub fn format(&self) -> String {
        format!("00-{:032x}-{:016x}-{:02x}", self.trace_id, self.span_id, u8::from(self.sampled))
    }

    /// A new trace (the caller sent none).
    pub fn root() -> Self {
        Self { trace_id: rand::random::<u128>().max(1), span_id: rand::random::<u64>().max(1), sampled: true }
    }

    /// The same trace, one span further down.
    pub fn child(&self) -> Self {
        Self { span_id: rand::random::<u64>().max(1), ..*self }
    }

    pub fn trace_id_hex(&self) -> String {
        format!("{:032x}", self.trace_id)
    }
}

tokio::task_local! {
    /// The trace context of the request or job this task works for.
    static TRACE: TraceParent;
}

/// Runs `work` in `trace`: what it enqueues carries that context.
pub async fn in_trace<F: std::future::Future>(trace: TraceParent, work: F) -> F::Output {
    TRACE.scope(trace, work).await
}

/// The trace context to hand to work started now: the current span's when
/// spans are exported (so the job's span is that span's child), else the
/// request's or job's own.
pub fn current_traceparent() -> Option<String> {
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    if OTLP.get().is_some() {
        let context = tracing::Span::current().context();
        let span = context.span();
        let ids = span.span_context();
        if ids.is_valid() {
            let trace_id = u128::from_be_bytes(ids.trace_id().to_bytes());
            let span_id = u64::from_be_bytes(ids.span_id().to_bytes());
            return Some(TraceParent { trace_id, span_id, sampled: ids.is_sampled() }.format());
        }
    }
    TRACE.try_with(|trace| trace.format()).ok()
}

/// Makes `span` continue the trace `parent` in the exported spans.
pub fn continue_trace(span: &tracing::Span, parent: &TraceParent) {
    use opentelemetry::propagation::TextMapPropagator;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    if OTLP.get().is_none() {
        return;
    }
    let carrier = std::collections::HashMap::from([("traceparent".to_owned(), parent.format())]);
    let context = opentelemetry_sdk::propagation::TraceContextPropagator::new().extract(&carrier);
    let _ = span.set_parent(context);
}

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static METRICS: OnceLock<(PrometheusHandle, metrics_process::Collector)> = OnceLock::new();

/// Seconds buckets for latency histograms (HTTP requests, jobs).
const BUCKETS: &[f64] =
    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0];

/// Every series DTX exports and its `# HELP` text (SPEC §22).
pub const DESCRIBED: &[(&str, &str)] = &[
    ("dtx_build_info", "1, labelled with this process' version and kind (api, worker, scheduler)."),
    ("dtx_http_requests_total", "HTTP requests by method (standard ones; else other), route template and status."),
    ("dtx_http_request_duration_seconds", "HTTP request latency by route template."),
    ("dtx_jobs_total", "Job deliveries this process handled, by kind and outcome."),
    ("dtx_job_duration_seconds", "Job run time by kind (runs that ended or will retry)."),
    ("dtx_jobs_undecodable_total", "Tasks no build could read, dead-lettered."),
    ("dtx_queue_depth", "Runs per kind and status (queued, scheduled, running, retrying, dead), from the ledger."),
    ("dtx_queue_oldest_age_seconds", "Age of the oldest queued run of a kind (0 when none waits)."),
    ("dtx_job_last_success_timestamp_seconds", "When a kind last succeeded (Unix seconds)."),
    ("dtx_workers_alive", "Worker processes with a fresh heartbeat."),
    ("dtx_ledger_journal_backlog", "Ledger records in Redis not yet written to the database."),
    ("dtx_ledger_batch_size", "Ledger records per database write."),
    ("dtx_steam_calls_total", "Steam Web API calls by method and status."),
    ("dtx_steam_rate_limited_total", "Steam answers of 429."),
    ("dtx_steam_lookups_refused_total", "Interactive Steam lookups refused while the league sync needed the rate."),
    ("dtx_discord_calls_total", "Discord API calls by status."),
    ("dtx_discord_rate_limited_total", "Discord answers of 429."),
    ("dtx_websocket_connections", "Open WebSockets on this api instance."),
];

/// Installs the Prometheus recorder once per process (`process`: api,
/// worker or scheduler), with every series described, the process metrics
/// (`process_*`) and `dtx_build_info`. Must run inside the tokio runtime.
pub fn install_metrics(process: &'static str) -> anyhow::Result<PrometheusHandle> {
    if let Some((handle, _)) = METRICS.get() {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new().set_buckets(BUCKETS)?.install_recorder()?;
    for (name, help) in DESCRIBED {
        // The recorder keeps one description per name, whatever its type.
        metrics::describe_gauge!(*name, *help);
    }
    let collector = metrics_process::Collector::default();
    collector.describe();
    metrics::gauge!("dtx_build_info", "version" => env!("CARGO_PKG_VERSION"), "process" => process).set(1.0);
    let _ = METRICS.set((handle.clone(), collector));
    Ok(handle)
}

/// The Prometheus text of this process (process metrics read now).
pub fn render_metrics() -> String {
    METRICS
        .get()
        .map(|(handle, collector)| {
            collector.collect();
            handle.run_upkeep();
            handle.render()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparents_round_trip_and_bad_ones_are_ignored() {
        let text = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let parsed = TraceParent::parse(text).unwrap();
        assert_eq!(parsed.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!((parsed.span_id, parsed.sampled), (0x00f0_67aa_0ba9_02b7, true));
        assert_eq!(parsed.format(), text);
        let child = parsed.child();
        assert_eq!(child.trace_id, parsed.trace_id, "a child stays in the trace");
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "nonsense",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad}");
        }
        assert_eq!(
            TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00").map(|t| t.sampled),
            Some(false)
        );
    }
}
