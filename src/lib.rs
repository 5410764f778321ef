//! bluelight: triage, routing and dispatch queues for a joint police and fire contact centre.
//!
//! Module map, from the pure core outwards (arrows point down only):
//!
//! - [`domain`]: plain data: contacts, answers, triage and route decisions, incidents, leases.
//! - [`triage`]: rules file -> compiled engine; `classify(&Contact) -> Triage`. Pure.
//! - [`routing`]: desks and areas file -> routing table; `route(..) -> Decision`. Pure, no allocation.
//! - [`store`]: Redis: one Lua script per state change, the managed local `redis-server`.
//! - [`app`]: the use cases (submit, preview, claim, ...) over the cores and the store.
//! - [`api`]: tonic services: proto <-> domain conversion, the one error -> `Status` mapping.
//! - [`telemetry`]: tracing set-up, metric names and descriptions.
//! - [`config`]: typed configuration: flags, then `BLUELIGHT_*` environment, then a TOML file.
//! - [`server`]: assembles the services; `serve(listener, tls, shutdown)`.
//! - [`tls`]: the gRPC listener's TLS and mutual TLS, reloaded on SIGHUP.
//! - [`access`]: who may do what: identities (tokens, client certificates), roles, rate limits
//!   and load shedding, in one layer before every method.
//! - [`web`]: the browser's way in: gRPC-Web, CORS, and the `/report` and `/console` pages.
//! - [`cli`]: the `bluelight` command line's subcommands.
//! - [`load`]: the load generator behind `bluelight load`.
//! - [`error`]: the one error type of the service.

pub mod access;
pub mod api;
pub mod app;
pub mod cli;
pub mod config;
pub mod domain;
pub mod error;
pub mod load;
pub mod routing;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod triage;
pub mod web;

/// Generated gRPC types and services of `bluelight.v1`.
pub mod proto {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("bluelight.v1");

    /// The file descriptor set, for server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("bluelight_descriptor");
}
