//! Operations: desk status and overflow, queue statistics, reloads, health and reflection.

use bluelight::proto as p;
use tonic::Code;

use crate::harness::{TestApp, call, desks};

#[tokio::test]
async fn a_closed_desk_overflows_and_statistics_show_it() {
    let mut t = TestApp::spawn().await;
    t.ops
        .set_desk_status(p::SetDeskStatusRequest {
            desk: "police-west".into(),
            open: false,
            reason: "training".into(),
        })
        .await
        .expect("close desk");
    let r = t
        .submit(call(
            "ov-1",
            "my car was broken into overnight and my laptop taken",
        ))
        .await
        .unwrap();
    assert_eq!(desks(&r), vec!["police-overflow"]);
    let route = r.incident.unwrap().route.unwrap();
    assert!(
        route.reasons.iter().any(|x| x.contains("closed")),
        "{:?}",
        route.reasons
    );

    let west = t.desk_stats("police-west").await;
    let overflow = t.desk_stats("police-overflow").await;
    assert!(!west.open);
    assert_eq!(overflow.depth, 1);
}

#[tokio::test]
async fn a_reload_with_the_shipped_configuration_reports_what_is_in_force() {
    let mut t = TestApp::spawn().await;
    let r = t
        .ops
        .reload_config(p::ReloadConfigRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(r.incident_types >= 69, "{}", r.incident_types);
    assert!(r.desks >= 10);
}

#[tokio::test]
async fn a_bad_rules_file_on_reload_is_refused_and_the_old_rules_stay() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.toml");
    std::fs::write(&rules, bluelight::triage::DEFAULT_RULES).unwrap();
    let mut t = TestApp::spawn_with(
        Default::default(),
        bluelight::app::Sources {
            rules: Some(rules.clone()),
            desks: None,
        },
    )
    .await;
    std::fs::write(&rules, "[[type]]\ncode = \"Q1\"\n").unwrap();
    let err = t
        .ops
        .reload_config(p::ReloadConfigRequest {})
        .await
        .expect_err("bad file");
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("rules.toml"), "{}", err.message());
    let r = t
        .submit(call("after-bad-reload", "my house is on fire"))
        .await
        .unwrap();
    assert_eq!(r.incident.unwrap().triage.unwrap().incident_type, "F01");
}

#[tokio::test]
async fn health_reports_serving_and_reflection_lists_the_services() {
    let t = TestApp::spawn().await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", t.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "bluelight.v1.Intake".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        status.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );

    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let mut reflection = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = reflection
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    let reply = stream.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = reply.message_response else {
        panic!("no service list");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for s in [
        "bluelight.v1.Intake",
        "bluelight.v1.Dispatch",
        "bluelight.v1.Operations",
    ] {
        assert!(names.contains(&s.to_string()), "{names:?}");
    }
}

#[tokio::test]
async fn the_metrics_endpoint_shows_contacts_and_queue_depth_without_caller_data() {
    let mut t = TestApp::spawn().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(bluelight::telemetry::serve_metrics(
        listener,
        None,
        std::future::pending(),
    ));
    t.submit(call("m-1", "my kitchen is on fire"))
        .await
        .unwrap();
    t.app.refresh_load().await.unwrap();
    let body = crate::harness::http_get(addr, "/metrics").await;
    for name in [
        "bluelight_contacts_received_total",
        "bluelight_triage_decisions_total",
        "bluelight_submit_duration_seconds_bucket",
        "bluelight_queue_depth{desk=\"fire-control\"}",
    ] {
        assert!(body.contains(name), "{name} missing from:\n{body}");
    }
    assert!(
        !body.contains("07700900000") && !body.contains("Test Caller") && !body.contains("m-1")
    );

    // A claim waiting for work on a desk is shown while it waits, and no longer after.
    let waiting = "bluelight_claims_waiting{desk=\"police-south\"}";
    let mut d = t.dispatch.clone();
    let claim = tokio::spawn(async move {
        d.claim_next(p::ClaimNextRequest {
            desk: "police-south".into(),
            dispatcher: "ps-1".into(),
            lease_seconds: 0,
            whole_incident: false,
            wait_seconds: 2,
        })
        .await
    });
    let mut seen = false;
    for _ in 0..100 {
        let body = crate::harness::http_get(addr, "/metrics").await;
        if body.contains(&format!("{waiting} 1")) {
            seen = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(seen, "{waiting} never showed the waiting claim");
    let r = claim.await.unwrap().unwrap().into_inner();
    assert!(r.lease.is_none());
    let body = crate::harness::http_get(addr, "/metrics").await;
    assert!(body.contains(&format!("{waiting} 0")), "{body}");
}

#[tokio::test]
async fn another_replica_routes_around_a_closed_desk_as_soon_as_it_is_closed() {
    let mut t = TestApp::spawn().await;
    // A second replica on the same Redis that only follows desk status changes (no upkeep loop,
    // so the once-a-second refresh cannot be what updates it).
    let store = bluelight::store::Store::connect(&t.redis.url(), Default::default())
        .await
        .unwrap();
    let other = std::sync::Arc::new(
        bluelight::app::App::new(
            store,
            Default::default(),
            bluelight::app::LeasePolicy {
                default: std::time::Duration::from_secs(60),
                max: std::time::Duration::from_secs(3600),
            },
        )
        .unwrap(),
    );
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(other.clone().follow_desk_status(stopped));
    let contact = bluelight::domain::Contact {
        narrative: "my car was broken into overnight and my laptop taken".into(),
        location: bluelight::domain::Location {
            postcode: "CM1 1AA".into(),
            ..Default::default()
        },
        ..Default::default()
    };
    assert_eq!(other.decide(&contact).route.desks, vec!["police-west"]);
    // The follower subscribes from "now": close the desk until the follower has seen it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        t.ops
            .set_desk_status(p::SetDeskStatusRequest {
                desk: "police-west".into(),
                open: false,
                reason: "staff briefing".into(),
            })
            .await
            .unwrap();
        if other.decide(&contact).route.desks == vec!["police-overflow"] {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the other replica never saw the desk close"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
