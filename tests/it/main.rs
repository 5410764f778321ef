//! Integration tests: the real gRPC server on a loopback port, talking to a private
//! `redis-server` that the harness starts on a free port, through the generated clients.

mod access;
mod alloc;
mod browser;
mod cli;
mod cluster;
mod dispatch;
mod harness;
mod intake;
mod lifecycle;
mod operations;
mod redis_access;
mod redis_failure;
mod reliability;
mod replicas;
mod routing;
mod sentinel;
mod shedding;
mod tls;
mod triage_corpus;
mod triage_props;

#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;
