//! Several bluelight replicas on one Redis: three `bluelight serve` processes, thirty callers
//! sending contacts to them in turn, one replica SIGKILLed mid-flood with requests in flight. A contact whose replica dies is retried, with its id,
//! on the next; afterwards every acknowledged contact has exactly one incident.

use std::process::{Command, Stdio};

use bluelight::proto as p;

use crate::harness::Procs;
use redis::AsyncCommands;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_mid_flood_costs_only_retries() {
    let t = crate::harness::TestApp::spawn().await;
    let ports: Vec<u16> = (0..3).map(|_| crate::harness::free_port()).collect();
    let mut procs = Procs(
        ports
            .iter()
            .map(|port| {
                Command::new(env!("CARGO_BIN_EXE_bluelight"))
                    .args(["serve", "--redis-url", &t.redis.url()])
                    .args(["--listen", &format!("127.0.0.1:{port}")])
                    .args(["--metrics-listen", "127.0.0.1:0"])
                    .env("RUST_LOG", "warn")
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect(),
    );
    let mut clients = Vec::new();
    for &port in &ports {
        clients.push(p::intake_client::IntakeClient::new(
            crate::harness::connect(port).await,
        ));
    }
    // Thirty callers at once, ten contacts each, each contact tried on the replicas in turn;
    // the first replica is killed once a hundred are in, with requests in flight.
    let clients = std::sync::Arc::new(clients);
    let acked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let tries = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let callers: Vec<_> = (0..30usize)
        .map(|w| {
            let (clients, acked, tries) = (clients.clone(), acked.clone(), tries.clone());
            tokio::spawn(async move {
                let mut made = Vec::new();
                for n in (0..10).map(|k| w * 10 + k) {
                    let id = format!("flood-{n}");
                    let mut replica = n % 3;
                    loop {
                        let r = clients[replica]
                            .clone()
                            .submit_contact(p::SubmitContactRequest {
                                contact: Some(crate::harness::call(
                                    &id,
                                    "a man has collapsed in the street",
                                )),
                            })
                            .await;
                        match r {
                            Ok(r) => {
                                made.push((id, crate::harness::reference(&r.into_inner())));
                                acked.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                break;
                            }
                            Err(_) => {
                                let n = tries.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                assert!(n < 10_000, "retries never end");
                                replica = (replica + 1) % 3;
                            }
                        }
                    }
                }
                made
            })
        })
        .collect();
    while acked.load(std::sync::atomic::Ordering::Relaxed) < 100 {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    procs.0[0].kill().unwrap();
    procs.0[0].wait().unwrap();
    let mut references = std::collections::HashMap::new();
    for caller in callers {
        references.extend(caller.await.unwrap());
    }
    let retries = tries.load(std::sync::atomic::Ordering::Relaxed);
    assert!(retries > 0, "the killed replica was never met");
    // One incident a contact: retries on another replica replayed, never duplicated.
    let mut redis = t.redis().await;
    let keys: Vec<String> = redis.keys("bl:{essex}:inc:*").await.unwrap();
    assert_eq!(keys.len(), 300);
    let mut distinct: Vec<&String> = references.values().collect();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 300);
}
