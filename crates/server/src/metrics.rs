//! Prometheus metrics: requests and latency per route and model, online
//! lookups by outcome, and the prediction log's queue depth, drops and writes.

use std::borrow::Cow;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use sluice_featurestore::{LookupStatus, MonitorRun};

use crate::metrics_format::{classic_text, MetricsFormat};

/// A request's labels. The route is (in practice always) a template from
/// the route table and the status a number, so labelling a request
/// allocates nothing but a served model's name.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: Cow<'static, str>,
    model: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    route: Cow<'static, str>,
    model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LookupLabels {
    feature_group: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DriftLabels {
    monitor: String,
    feature: String,
    metric: String,
}

/// The prediction log's own counters, shared with its writer task.
#[derive(Clone, Default)]
pub struct QueueGauges {
    pub depth: Gauge<i64, std::sync::atomic::AtomicI64>,
    pub dropped: Counter<u64, AtomicU64>,
    pub written: Counter<u64, AtomicU64>,
    pub failed: Counter<u64, AtomicU64>,
    /// 1 while the writer logs, 0 while it is down (its last commit failed or it stopped).
    pub writer_up: Gauge<i64, std::sync::atomic::AtomicI64>,
    pub writer_failures: Counter<u64, AtomicU64>,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<LatencyLabels, Histogram>,
    lookups: Family<LookupLabels, Counter>,
    drift: Family<DriftLabels, Gauge<f64, AtomicU64>>,
}

impl Metrics {
    pub fn new(queue: QueueGauges) -> Self {
        let mut registry = Registry::with_prefix("sluice");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route, model and status",
            requests.clone(),
        );
        // 25 µs to ~0.8 s.
        let latency = Family::<LatencyLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.000_025, 2.0, 16))
        });
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route and model",
            latency.clone(),
        );
        let lookups = Family::<LookupLabels, Counter>::default();
        registry.register(
            "online_lookups",
            "Online-store lookups per key and feature group, by outcome (hit, miss, expired)",
            lookups.clone(),
        );
        registry.register(
            "prediction_log_queue_depth",
            "Prediction rows waiting in the log queue",
            queue.depth,
        );
        registry.register(
            "prediction_log_dropped",
            "Prediction rows dropped because the log queue was full",
            queue.dropped,
        );
        registry.register(
            "prediction_log_written",
            "Prediction rows committed to log feature groups",
            queue.written,
        );
        registry.register(
            "prediction_log_failed",
            "Prediction rows whose log commit failed",
            queue.failed,
        );
        registry.register(
            "prediction_log_writer_up",
            "1 while the prediction log writer commits, 0 while it is down (see /health)",
            queue.writer_up,
        );
        registry.register(
            "prediction_log_writer_failures",
            "Prediction log commits that failed or panicked, and writer restarts",
            queue.writer_failures,
        );
        let drift = Family::<DriftLabels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "feature_drift",
            "The latest run of each drift monitor: each metric per feature (sluice monitor run)",
            drift.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            lookups,
            drift,
        }
    }

    /// Sets the drift gauges to the monitors' latest runs.
    pub fn drift(&self, runs: &[MonitorRun]) {
        for run in runs {
            for feature in &run.features {
                for metric in &feature.metrics {
                    let Some(value) = metric.value else { continue };
                    self.drift
                        .get_or_create(&DriftLabels {
                            monitor: run.monitor.clone(),
                            feature: feature.feature.clone(),
                            metric: metric.metric.clone(),
                        })
                        .set(value);
                }
            }
        }
    }

    pub fn observe(&self, route: Cow<'static, str>, model: &str, status: u16, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.clone(),
                model: model.to_string(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&LatencyLabels {
                route,
                model: model.to_string(),
            })
            .observe(elapsed.as_secs_f64());
    }

    pub fn lookups(&self, status: &[(String, Vec<LookupStatus>)]) {
        for (group, outcomes) in status {
            let mut counts = [0u64; 3];
            for outcome in outcomes {
                counts[match outcome {
                    LookupStatus::Present => 0,
                    LookupStatus::Missing => 1,
                    LookupStatus::Expired => 2,
                }] += 1;
            }
            for (outcome, count) in ["hit", "miss", "expired"].into_iter().zip(counts) {
                if count > 0 {
                    self.lookups
                        .get_or_create(&LookupLabels {
                            feature_group: group.clone(),
                            outcome,
                        })
                        .inc_by(count);
                }
            }
        }
    }

    pub fn render(&self, format: MetricsFormat) -> String {
        let mut text = String::new();
        encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        match format {
            MetricsFormat::OpenMetrics => text,
            MetricsFormat::Text => classic_text(&text),
        }
    }
}
