//! Redis trouble: UNAVAILABLE, nothing half-written, and a safe retry.

use tonic::Code;

use crate::harness::{TestApp, call, reference};

#[tokio::test]
async fn with_redis_down_submit_is_unavailable_and_a_retry_after_restart_succeeds_once() {
    let mut t = TestApp::spawn().await;
    let before = t
        .submit(call("before-kill", "my neighbours garage is on fire"))
        .await
        .unwrap();

    t.redis.kill().await;
    let err = t
        .submit(call(
            "during-outage",
            "a man is smashing car windows on my road",
        ))
        .await
        .expect_err("redis is down");
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert!(err.message().contains("retry"), "{}", err.message());

    t.redis.restart().await.expect("redis restarts");
    // Everything answered OK before the kill is still there (AOF).
    let got = t
        .intake
        .get_incident(bluelight::proto::GetIncidentRequest {
            reference: reference(&before),
        })
        .await
        .expect("the incident survived");
    assert_eq!(
        got.into_inner().incident.unwrap().reference,
        reference(&before)
    );

    let mut retried = None;
    for _ in 0..50 {
        match t
            .submit(call(
                "during-outage",
                "a man is smashing car windows on my road",
            ))
            .await
        {
            Ok(r) => {
                retried = Some(r);
                break;
            }
            Err(e) if e.code() == Code::Unavailable => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    let retried = retried.expect("the retry succeeds once Redis is back");
    assert!(!retried.replayed, "nothing was written during the outage");
    let again = t
        .submit(call(
            "during-outage",
            "a man is smashing car windows on my road",
        ))
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!(reference(&again), reference(&retried));
    assert_eq!(
        t.queue("police-west").await.depth,
        1,
        "exactly one incident for the contact"
    );
}
