//! Access to Redis: the managed redis-server listens on loopback only, wants the password
//! bluelight generated, keeps it off command lines, and keeps its data folder to its owner.

use std::os::unix::fs::PermissionsExt;

use bluelight::store::{MANAGED_CONFIG_FILE, ManagedRedis, Supervise};

#[tokio::test]
async fn the_managed_redis_wants_its_password_and_keeps_its_folder_to_its_owner() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("redis");
    let redis = ManagedRedis::start(&data, Supervise::No).await.unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700, "the data folder is its owner's alone");
    assert_eq!(mode(&data.join(MANAGED_CONFIG_FILE)), 0o600);

    // Without the password: refused.
    let bare = format!("redis://127.0.0.1:{}/", redis.port());
    let mut c = redis::Client::open(bare)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let refused: redis::RedisResult<String> = redis::cmd("PING").query_async(&mut c).await;
    let e = refused.expect_err("a client without the password is refused");
    assert!(e.to_string().contains("NOAUTH"), "{e}");

    // With the URL bluelight uses: served, and the password is on no command line.
    let mut c = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query_async(&mut c)
        .await
        .unwrap();
    let pid = info
        .lines()
        .find_map(|l| l.strip_prefix("process_id:"))
        .unwrap()
        .trim()
        .to_owned();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let password = redis.url();
    let password = password
        .strip_prefix("redis://:")
        .and_then(|rest| rest.split('@').next())
        .unwrap();
    assert!(password.len() >= 32, "a long generated password");
    assert!(
        !String::from_utf8_lossy(&cmdline).contains(password),
        "the password is on the command line"
    );
    let config: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("bind")
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(config[1], "127.0.0.1", "loopback only");
}
