//! Routing as the service runs it: allocation-free, and reloaded while contacts are routed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bluelight::domain::{Agency, Contact, Location};
use bluelight::routing::{Load, Table};
use bluelight::triage::Engine;

use crate::alloc::allocations_during;
use crate::harness::TestApp;

#[test]
fn route_does_not_allocate() {
    let (_, counted) = allocations_during(|| Vec::<u8>::with_capacity(8));
    assert_eq!(counted, 1, "the counting allocator is in place");
    let engine = Engine::default_rules();
    let table = Table::default_desks();
    let n = table.desks().len();
    let load = Load {
        closed: (0..n).map(|i| i % 3 == 0).collect(),
        depth: vec![0; n],
        oldest_wait_ms: vec![0; n],
    };
    let cases = [
        (
            "a man with a knife is attacking people outside the shop",
            "CM1 1AA",
        ),
        ("my kitchen is on fire", "SS14 3AB"),
        (
            "car crashed and on fire on the A12, driver trapped",
            "CO15 1XY",
        ),
        ("man waving a gun around in the street", "RM17 6DD"),
        ("person in the river struggling", ""),
        ("lost my wallet", "ZZ9 9ZZ"),
    ];
    for (narrative, postcode) in cases {
        let contact = Contact {
            narrative: narrative.into(),
            location: Location {
                postcode: postcode.into(),
                lat: Some(51.7),
                lon: Some(0.5),
                accuracy_m: Some(50),
                ..Default::default()
            },
            ..Default::default()
        };
        let triage = engine.classify(&contact);
        let (decision, allocations) =
            allocations_during(|| table.route(&triage, &contact.location, &load));
        assert_eq!(allocations, 0, "route allocated for {narrative:?}");
        assert!(!decision.desks.is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloading_desks_while_routing_gives_each_contact_one_whole_table() {
    let dir = tempfile::tempdir().unwrap();
    let desks = dir.path().join("desks.toml");
    let a = bluelight::routing::DEFAULT_DESKS.to_string();
    let b = a.replace("police-west", "police-centre");
    std::fs::write(&desks, &a).unwrap();
    let t = TestApp::spawn_with(
        Default::default(),
        bluelight::app::Sources {
            rules: None,
            desks: Some(desks.clone()),
        },
    )
    .await;
    let app = t.app.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let routers: Vec<_> = (0..3)
        .map(|_| {
            let app = app.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let contact = Contact {
                    narrative: "someone set fire to the car outside my house".into(),
                    location: Location {
                        postcode: "CM1 1AA".into(),
                        ..Default::default()
                    },
                    ..Default::default()
                };
                let mut seen = [0u32; 2];
                while !stop.load(Ordering::Relaxed) {
                    let d = app.decide(&contact);
                    assert_eq!(d.triage.agency, Agency::Joint);
                    match d.route.desks[0].as_str() {
                        "police-west" => seen[0] += 1,
                        "police-centre" => seen[1] += 1,
                        other => panic!("a desk of neither table: {other}"),
                    }
                }
                seen
            })
        })
        .collect();
    for i in 0..40 {
        std::fs::write(&desks, if i % 2 == 0 { &b } else { &a }).unwrap();
        app.reload().expect("reload");
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut total = [0u32; 2];
    for r in routers {
        let seen = r.join().expect("no router panicked");
        total[0] += seen[0];
        total[1] += seen[1];
    }
    assert!(
        total[0] > 0 && total[1] > 0,
        "both tables were in force at some point: {total:?}"
    );
}
