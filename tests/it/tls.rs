//! TLS and mutual TLS on the gRPC listener of the real `bluelight serve`, with certificates made
//! by rcgen for each test: clients that trust the centre's CA are served, plaintext and
//! untrusted clients are not, and SIGHUP reloads the certificate files.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bluelight::proto as p;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

/// A certificate authority and its certificate in PEM.
pub struct Ca(CertifiedIssuer<'static, KeyPair>);

impl Ca {
    pub fn new() -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        Ca(CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap())
    }

    pub fn pem(&self) -> String {
        self.0.pem()
    }

    /// A certificate for `names` (the first is also its common name) signed by this CA, and its
    /// key, in PEM.
    pub fn issue(&self, names: &[&str]) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        // The first name is the subject's common name too: client identities are named by it.
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, names[0]);
        let cert = params.signed_by(&key, &self.0).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// Writes a server certificate from `ca` for localhost to `dir`: (cert file, key file).
pub fn server_files(ca: &Ca, dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = ca.issue(&["localhost", "127.0.0.1"]);
    let (c, k) = (dir.join("server.pem"), dir.join("server.key"));
    std::fs::write(&c, cert).unwrap();
    std::fs::write(&k, key).unwrap();
    (c, k)
}

/// A `bluelight serve` process and its metrics address, killed when dropped (a failing test
/// leaves none behind).
pub struct Served(pub Child, pub std::net::SocketAddr);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `bluelight serve` on a free port against the test's Redis, with `args` and `env`.
pub fn serve(redis_url: &str, port: u16, args: &[&str], env: &[(&str, &Path)]) -> Served {
    let metrics = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bluelight"));
    cmd.args(["serve", "--redis-url", redis_url])
        .args(["--metrics-listen", &metrics.to_string()])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(args)
        .env("RUST_LOG", "warn")
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    Served(cmd.spawn().unwrap(), metrics)
}

/// Whether a preview over TLS succeeds for a client trusting `ca`, presenting `identity`.
async fn preview_over_tls(port: u16, ca: &str, identity: Option<&(String, String)>) -> bool {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca))
        .domain_name("localhost");
    if let Some((cert, key)) = identity {
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    let Ok(endpoint) = Endpoint::from_shared(format!("https://127.0.0.1:{port}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(5))
        .tls_config(tls)
    else {
        return false;
    };
    let Ok(channel) = endpoint.connect().await else {
        return false;
    };
    preview(channel).await
}

async fn preview(channel: tonic::transport::Channel) -> bool {
    let request = p::PreviewTriageRequest {
        contact: Some(crate::harness::call(
            "",
            "smoke coming from the flat upstairs",
        )),
    };
    p::intake_client::IntakeClient::new(channel)
        .preview_triage(request)
        .await
        .is_ok()
}

/// GET /metrics over TLS from `addr`, trusting `ca`: the response, or None.
async fn metrics_over_tls(addr: std::net::SocketAddr, ca: &str) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
    use tokio_rustls::rustls::{ClientConfig, RootCertStore};
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = std::sync::Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.ok()?;
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.ok()?;
    tls.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .ok()?;
    let mut out = String::new();
    tls.read_to_string(&mut out).await.ok()?;
    Some(out)
}

/// Waits until `check` holds, for at most ten seconds.
pub async fn eventually<F: std::future::Future<Output = bool>>(what: &str, check: impl Fn() -> F) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn tls_serves_clients_that_trust_the_centre_ca_and_refuses_plaintext() {
    let t = crate::harness::TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new();
    let (cert, key) = server_files(&ca, dir.path());
    let port = crate::harness::free_port();
    // Set through the environment, as a deployment would; the metrics endpoint takes TLS too.
    let served = serve(
        &t.redis.url(),
        port,
        &["--metrics-tls"],
        &[("BLUELIGHT_TLS_CERT", &cert), ("BLUELIGHT_TLS_KEY", &key)],
    );
    let ca_pem = ca.pem();
    eventually("a client trusting the CA is served over TLS", || {
        preview_over_tls(port, &ca_pem, None)
    })
    .await;
    // A client that trusts another CA does not get past the handshake.
    assert!(!preview_over_tls(port, &Ca::new().pem(), None).await);
    // Nor does a plaintext one.
    let plain = Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .timeout(Duration::from_secs(5))
        .connect()
        .await;
    assert!(
        match plain {
            Ok(channel) => !preview(channel).await,
            Err(_) => true,
        },
        "plaintext was served on a TLS listener"
    );
    let scraped = metrics_over_tls(served.1, &ca_pem)
        .await
        .unwrap_or_default();
    assert!(
        scraped.starts_with("HTTP/1.1 200") && scraped.contains("version=0.0.4"),
        "{scraped}"
    );
    assert!(
        metrics_over_tls(served.1, &Ca::new().pem()).await.is_none(),
        "metrics served to a client that trusts another CA"
    );
}

#[tokio::test]
async fn mutual_tls_serves_only_clients_with_a_certificate_from_the_client_ca() {
    let t = crate::harness::TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let (ca, clients) = (Ca::new(), Ca::new());
    let (cert, key) = server_files(&ca, dir.path());
    let client_ca = dir.path().join("clients.pem");
    std::fs::write(&client_ca, clients.pem()).unwrap();
    let port = crate::harness::free_port();
    let args = [
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
        "--client-ca",
        client_ca.to_str().unwrap(),
    ];
    let _served = serve(&t.redis.url(), port, &args, &[]);
    let handler = clients.issue(&["handler-0042"]);
    let ca_pem = ca.pem();
    eventually(
        "a client with a certificate from the client CA is served",
        || preview_over_tls(port, &ca_pem, Some(&handler)),
    )
    .await;
    assert!(
        !preview_over_tls(port, &ca_pem, None).await,
        "a client without a certificate was served"
    );
    let stranger = Ca::new().issue(&["handler-0042"]);
    assert!(
        !preview_over_tls(port, &ca_pem, Some(&stranger)).await,
        "a client certificate from another CA was accepted"
    );
    // The client commands take the same files: CA, then this client's certificate and key.
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca_pem).unwrap();
    let (id_cert, id_key) = (dir.path().join("me.pem"), dir.path().join("me.key"));
    std::fs::write(&id_cert, &handler.0).unwrap();
    std::fs::write(&id_key, &handler.1).unwrap();
    let submit = |identity: bool| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_bluelight"));
        cmd.args(["submit", "--server", &format!("http://127.0.0.1:{port}")])
            .args([
                "--narrative",
                "someone has set fire to the bins behind the shops",
            ])
            .env("BLUELIGHT_TLS_CA", &ca_file);
        if identity {
            cmd.arg("--identity-cert").arg(&id_cert);
            cmd.arg("--identity-key").arg(&id_key);
        }
        cmd.output().unwrap()
    };
    let out = submit(true);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !submit(false).status.success(),
        "submitted without a certificate"
    );
}

#[tokio::test]
async fn sighup_reloads_the_tls_files_and_a_bad_file_keeps_the_old_ones() {
    let t = crate::harness::TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (Ca::new(), Ca::new());
    let (cert, key) = server_files(&old, dir.path());
    // Set in the TOML file, as for every other setting.
    let config = dir.path().join("bluelight.toml");
    std::fs::write(&config, format!("tls_cert = {cert:?}\ntls_key = {key:?}\n")).unwrap();
    let port = crate::harness::free_port();
    let served = serve(
        &t.redis.url(),
        port,
        &["--config", config.to_str().unwrap()],
        &[],
    );
    let (old_pem, new_pem) = (old.pem(), new.pem());
    eventually("served with the first certificate", || {
        preview_over_tls(port, &old_pem, None)
    })
    .await;
    let hup = |served: &Served| {
        let ok = Command::new("kill")
            .args(["-HUP", &served.0.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    };
    server_files(&new, dir.path());
    hup(&served);
    eventually("SIGHUP loads the new certificate", || {
        preview_over_tls(port, &new_pem, None)
    })
    .await;
    assert!(!preview_over_tls(port, &old_pem, None).await);
    // A key file that is not a key: the reload fails and the certificate in use stays.
    std::fs::write(&key, "not a key").unwrap();
    hup(&served);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        preview_over_tls(port, &new_pem, None).await,
        "a bad key file replaced the certificate in use"
    );
}
