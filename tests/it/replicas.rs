//! Several bluelight replicas on one Redis: three `bluelight serve` processes, contacts sent to
//! them in turn, one SIGKILLed mid-flood. A contact whose replica dies is retried, with its id,
//! on the next; afterwards every acknowledged contact has exactly one incident.

use std::process::{Child, Command, Stdio};

use bluelight::proto as p;
use redis::AsyncCommands;

struct Procs(Vec<Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

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
    let mut references = std::collections::HashMap::new();
    let mut retries = 0;
    for n in 0..300usize {
        if n == 100 {
            procs.0[0].kill().unwrap();
            procs.0[0].wait().unwrap();
        }
        let id = format!("flood-{n}");
        let mut replica = n % 3;
        let reference = loop {
            let r = clients[replica]
                .submit_contact(p::SubmitContactRequest {
                    contact: Some(crate::harness::call(
                        &id,
                        "a man has collapsed in the street",
                    )),
                })
                .await;
            match r {
                Ok(r) => break crate::harness::reference(&r.into_inner()),
                Err(_) => {
                    retries += 1;
                    assert!(retries < 1000, "retries never end");
                    replica = (replica + 1) % 3;
                }
            }
        };
        references.insert(id, reference);
    }
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
