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

/// A redis-server that speaks only TLS on `port` and wants client certificates from `ca` and
/// `password`; killed when dropped.
struct TlsRedis(std::process::Child);

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn bluelight_reaches_redis_over_tls_with_a_client_certificate_and_a_password() {
    use crate::tls::{Ca, server_files};
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new();
    let (server_cert, server_key) = server_files(&ca, dir.path());
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let (cert, key) = ca.issue(&["bluelight-essex"]);
    let (client_cert, client_key) = (dir.path().join("client.pem"), dir.path().join("client.key"));
    std::fs::write(&client_cert, cert).unwrap();
    std::fs::write(&client_key, key).unwrap();
    let redis_port = crate::harness::free_port();
    assert_ne!(redis_port, 6379);
    let path = |p: &std::path::Path| p.to_str().unwrap().to_owned();
    let _redis = TlsRedis(
        std::process::Command::new("redis-server")
            .args([
                "--port",
                "0",
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(["--tls-port", &redis_port.to_string()])
            .args(["--tls-cert-file", &path(&server_cert)])
            .args(["--tls-key-file", &path(&server_key)])
            .args(["--tls-ca-cert-file", &path(&ca_file)])
            .args(["--tls-auth-clients", "yes", "--requirepass", "s3cret-test"])
            .args(["--dir", &path(dir.path())])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server starts"),
    );
    let url = format!("rediss://:s3cret-test@127.0.0.1:{redis_port}/");
    let serve = |port: u16, with_cert: bool| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_bluelight"));
        cmd.args(["serve", "--redis-url", &url])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--metrics-listen", "127.0.0.1:0"])
            .args(["--redis-ca", &path(&ca_file)])
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        if with_cert {
            cmd.env("BLUELIGHT_REDIS_CERT", &client_cert);
            cmd.env("BLUELIGHT_REDIS_KEY", &client_key);
        }
        cmd.spawn().unwrap()
    };
    // Without a client certificate Redis refuses the handshake, and serve says it cannot reach it.
    let refused = serve(crate::harness::free_port(), false)
        .wait_with_output()
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("redis") && !stderr.contains("s3cret-test"),
        "{stderr}"
    );

    let port = crate::harness::free_port();
    let mut served = crate::tls::Served(serve(port, true), "127.0.0.1:0".parse().unwrap());
    let mut intake =
        bluelight::proto::intake_client::IntakeClient::new(crate::harness::connect(port).await);
    let r = intake
        .submit_contact(bluelight::proto::SubmitContactRequest {
            contact: Some(crate::harness::call(
                "tls-1",
                "someone has set fire to the bins behind the shops",
            )),
        })
        .await;
    let _ = served.0.kill();
    assert!(r.is_ok(), "{r:?}");
}
