//! Load shedding on the real server and Redis: while Redis answers slowly, new submits from
//! channels that do not bring grade-1 emergencies are refused with RESOURCE_EXHAUSTED and when
//! to retry, nothing written; 999 calls still go through.

use std::time::Duration;

use bluelight::proto as p;
use tonic::Code;
use tonic_types::StatusExt;

#[tokio::test]
async fn slow_redis_sheds_online_reports_and_never_999_calls() {
    let mut t = crate::harness::TestApp::spawn().await;
    // Redis holds every write for 600 ms: the next submit waits that long.
    let mut redis = t.redis().await;
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(600)
        .arg("WRITE")
        .query_async(&mut redis)
        .await
        .unwrap();
    t.submit(crate::harness::call(
        "slow-999",
        "there's a fire in the kitchen",
    ))
    .await
    .unwrap();

    let before = t.key_count().await;
    let mut online = crate::harness::call("web-77", "my bike was stolen last week");
    online.channel = p::Channel::OnlineForm as i32;
    let shed = t.submit(online.clone()).await.unwrap_err();
    assert_eq!(shed.code(), Code::ResourceExhausted, "{shed:?}");
    assert!(shed.message().contains("Redis answers in"), "{shed:?}");
    let retry = shed.get_details_retry_info().expect("RetryInfo");
    assert!(retry.retry_delay.is_some_and(|d| d > Duration::ZERO));
    assert_eq!(t.key_count().await, before, "a shed submit wrote something");

    // A 999 call is not shed for a slow Redis.
    t.submit(crate::harness::call(
        "fast-999",
        "a man has collapsed in the street",
    ))
    .await
    .unwrap();
    // Once Redis has been quick for a while, the online report goes through on retry.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let r = t.submit(online).await.unwrap();
    assert!(!r.replayed);
}
