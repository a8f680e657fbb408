//! Logging set-up shared by every binary.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global tracing subscriber: `RUST_LOG` levels (default
/// `info`), text or JSON lines. Safe to call more than once (tests).
pub fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

use std::net::SocketAddr;
use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static METRICS: OnceLock<PrometheusHandle> = OnceLock::new();

/// Seconds buckets for latency histograms (HTTP requests, jobs).
const BUCKETS: &[f64] =
    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0];

/// Installs the Prometheus recorder once per process and returns its handle;
/// with `listen`, also serves `GET /metrics` there (the worker and scheduler
/// have no HTTP server of their own). Must run inside the tokio runtime.
pub fn install_metrics(listen: Option<SocketAddr>) -> anyhow::Result<PrometheusHandle> {
    if let Some(handle) = METRICS.get() {
        return Ok(handle.clone());
    }
    let builder = PrometheusBuilder::new().set_buckets(BUCKETS)?;
    let handle = match listen {
        Some(addr) => {
            let (recorder, exporter) = builder.with_http_listener(addr).build()?;
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).map_err(|e| anyhow::anyhow!("metrics recorder: {e}"))?;
            tokio::spawn(async move {
                if let Err(err) = exporter.await {
                    tracing::error!(error = ?err, "metrics listener stopped");
                }
            });
            tracing::info!(%addr, "metrics at /metrics");
            handle
        }
        None => builder.install_recorder()?,
    };
    let _ = METRICS.set(handle.clone());
    Ok(handle)
}

/// The Prometheus text of this process.
pub fn render_metrics() -> String {
    METRICS
        .get()
        .map(|h| {
            h.run_upkeep();
            h.render()
        })
        .unwrap_or_default()
}
