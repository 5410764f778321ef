//! Telemetry: tracing set-up, and every metric of the service as a named event in one place.
//!
//! Metric names follow Prometheus conventions (`_total` counters, `_seconds` histograms with
//! explicit buckets). Label values are bounded: channels, agencies, grades, type families, desk
//! ids from configuration, outcomes. Never a contact id, name or phone number.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::domain::{Channel, Triage};
use crate::error::{Error, Result};

pub const CONTACTS_RECEIVED: &str = "bluelight_contacts_received_total";
pub const TRIAGE_DECISIONS: &str = "bluelight_triage_decisions_total";
pub const SUBMIT_DURATION: &str = "bluelight_submit_duration_seconds";
pub const TRIAGE_DURATION: &str = "bluelight_triage_duration_seconds";
pub const QUEUE_DEPTH: &str = "bluelight_queue_depth";
pub const QUEUE_OLDEST_WAIT: &str = "bluelight_queue_oldest_wait_seconds";
pub const DESK_OPEN: &str = "bluelight_desk_open";
pub const DISPATCH_ACTIONS: &str = "bluelight_dispatch_actions_total";
pub const LEASES_EXPIRED: &str = "bluelight_leases_expired_total";
pub const ESCALATIONS: &str = "bluelight_escalations_total";
pub const REPEAT_LINKS: &str = "bluelight_repeat_links_total";
pub const REDIS_ERRORS: &str = "bluelight_redis_errors_total";
pub const CONFIG_RELOADS: &str = "bluelight_config_reloads_total";
pub const REFUSED: &str = "bluelight_requests_refused_total";
pub const REDIS_UP: &str = "bluelight_redis_up";
pub const OVERDUE_TASKS: &str = "bluelight_overdue_tasks";
pub const CLAIMS_WAITING: &str = "bluelight_claims_waiting";

/// Buckets of the latency histograms, seconds: 50 µs to 5 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the Prometheus recorder (once per process) and describes every metric.
pub fn metrics_handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .expect("buckets are not empty")
                .install_recorder()
                .expect("no other metrics recorder is installed");
            describe();
            handle
        })
        .clone()
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        CONTACTS_RECEIVED,
        "Contacts received, by channel and outcome (new_incident, linked, replayed, referral, rejected, shed, unavailable)."
    );
    describe_counter!(
        TRIAGE_DECISIONS,
        "Triage decisions of submitted contacts, by agency, grade and incident type family (P, F, J, X)."
    );
    describe_histogram!(
        SUBMIT_DURATION,
        Unit::Seconds,
        "SubmitContact latency inside the server, decode to reply."
    );
    describe_histogram!(
        TRIAGE_DURATION,
        Unit::Seconds,
        "Time to triage and route one contact."
    );
    describe_gauge!(QUEUE_DEPTH, "Incidents waiting in each desk's queue.");
    describe_gauge!(
        QUEUE_OLDEST_WAIT,
        Unit::Seconds,
        "How long the oldest incident in each desk's queue has waited."
    );
    describe_gauge!(DESK_OPEN, "1 when the desk is open, 0 when closed.");
    describe_gauge!(
        CLAIMS_WAITING,
        "Claims waiting for work on each desk: dispatchers ready for the next incident."
    );
    describe_counter!(
        DISPATCH_ACTIONS,
        "Dispatch actions, by action (claim, complete, release) and result."
    );
    describe_counter!(
        LEASES_EXPIRED,
        "Leases that expired and were returned to their queue."
    );
    describe_counter!(
        REDIS_ERRORS,
        "Redis operations that failed, by kind (unavailable, internal)."
    );
    describe_counter!(
        REFUSED,
        "Requests refused before they were served, by reason (unauthenticated, permission_denied, rate_limited, shed_in_flight, shed_redis_slow)."
    );
    describe_counter!(
        CONFIG_RELOADS,
        "Rules and desks reloads, by result (ok, rejected)."
    );
}

/// Serves `/metrics` on `listener` until `shutdown` completes.
pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    tls: Option<std::sync::Arc<crate::tls::Tls>>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let handle = metrics_handle();
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let h = handle.clone();
            async move {
                h.run_upkeep();
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4",
                    )],
                    h.render(),
                )
            }
        }),
    );
    match tls {
        None => {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
        }
        Some(tls) => {
            axum::serve(crate::tls::TlsListener::new(listener, tls)?, app)
                .with_graceful_shutdown(shutdown)
                .await
        }
    }
}

/// Binds the metrics listener, saying clearly what went wrong.
pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Error::Config(format!("cannot listen on {addr}: {e}")))
}

/// A contact was received and what became of it.
pub fn contact_received(channel: Channel, outcome: &'static str) {
    counter!(CONTACTS_RECEIVED, "channel" => channel.as_str(), "outcome" => outcome).increment(1);
}

/// A contact was triaged and recorded.
pub fn triage_decided(t: &Triage, took: Duration) {
    let family = match t.incident_type.as_bytes().first() {
        Some(b'P') => "P",
        Some(b'F') => "F",
        Some(b'J') => "J",
        _ => "X",
    };
    counter!(TRIAGE_DECISIONS, "agency" => t.agency.as_str(), "grade" => t.grade.as_str(), "family" => family)
        .increment(1);
    histogram!(TRIAGE_DURATION).record(took.as_secs_f64());
}

pub fn submit_finished(took: Duration) {
    histogram!(SUBMIT_DURATION).record(took.as_secs_f64());
}

pub fn dispatch_action(action: &'static str, result: &'static str) {
    counter!(DISPATCH_ACTIONS, "action" => action, "result" => result).increment(1);
}

/// A desk task passed its queue-wait target and was escalated.
pub fn escalated(action: &str) {
    let action = match action {
        "raised" => "raised",
        "overflow" => "overflow",
        "supervisor" => "supervisor",
        _ => "reminder",
    };
    counter!(ESCALATIONS, "action" => action).increment(1);
}

/// A contact was linked to an existing incident.
pub fn repeat_linked(t: &Triage) {
    counter!(REPEAT_LINKS, "family" => t.lead_agency.as_str()).increment(1);
}

pub fn leases_expired(n: u64) {
    if n > 0 {
        counter!(LEASES_EXPIRED).increment(n);
    }
}

/// A failed Redis operation, counted by kind.
pub fn redis_error(e: &Error) {
    let kind = match e {
        Error::Unavailable(_) => "unavailable",
        Error::Internal(_) => "internal",
        _ => return,
    };
    counter!(REDIS_ERRORS, "kind" => kind).increment(1);
}

/// The result of this replica's periodic Redis check.
pub fn redis_up(up: bool) {
    gauge!(REDIS_UP).set(if up { 1.0 } else { 0.0 });
}

pub fn overdue_tasks(n: u64) {
    gauge!(OVERDUE_TASKS).set(n as f64);
}

/// A claim starts (`+1`) or stops (`-1`) waiting for work on `desk`.
pub fn claims_waiting(desk: &str, change: f64) {
    gauge!(CLAIMS_WAITING, "desk" => desk.to_owned()).increment(change);
}

/// A request refused before it was served: `unauthenticated`, `permission_denied`,
/// `rate_limited`, `shed_in_flight` or `shed_redis_slow`.
pub fn refused(reason: &'static str) {
    counter!(REFUSED, "reason" => reason).increment(1);
}

pub fn config_reloaded(ok: bool) {
    counter!(CONFIG_RELOADS, "result" => if ok { "ok" } else { "rejected" }).increment(1);
}

/// The queue gauges of one desk. `desk` is a configured desk id, so the label is bounded.
pub fn desk_gauges(desk: &str, open: bool, depth: u64, oldest_wait_ms: i64) {
    let desk = desk.to_owned();
    gauge!(QUEUE_DEPTH, "desk" => desk.clone()).set(depth as f64);
    gauge!(QUEUE_OLDEST_WAIT, "desk" => desk.clone()).set(oldest_wait_ms as f64 / 1000.0);
    gauge!(DESK_OPEN, "desk" => desk).set(if open { 1.0 } else { 0.0 });
}

/// Log format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Sets up logging to stderr: human-readable or JSON, filtered by `RUST_LOG` (default `info`).
pub fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
