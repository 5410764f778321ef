//! Identities and roles on the real `bluelight serve` over TLS: bearer tokens signed by a test
//! identity provider (an ES256 key made for each run, published as a JWKS file) and client
//! certificates named in an access file. Every refusal is checked for its code and for saying
//! what would be allowed; who acted is the authenticated name.

use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bluelight::proto as p;
use rcgen::KeyPair;
use serde_json::json;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic::{Code, Request};
use tonic_types::StatusExt;

use crate::tls::{Ca, Served, eventually, serve, server_files};

pub(crate) const ISSUER: &str = "https://idp.essex.test";
pub(crate) const AUDIENCE: &str = "bluelight";

/// The centre's identity provider: a P-256 key, its JWKS, and tokens it signs.
pub(crate) struct Idp(KeyPair);

impl Idp {
    pub(crate) fn new() -> Idp {
        Idp(KeyPair::generate().unwrap())
    }

    pub(crate) fn jwks(&self) -> String {
        // The uncompressed point: 0x04, then x and y.
        let raw = self.0.public_key_raw();
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        json!({"keys": [{
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": "essex-1",
            "x": b64(&raw[1..33]), "y": b64(&raw[33..65]),
        }]})
        .to_string()
    }

    /// A token for `sub` with `roles`, valid for ten minutes, with `extra` claims over these.
    pub(crate) fn token(&self, sub: &str, roles: &[&str], extra: serde_json::Value) -> String {
        let mut claims = json!({
            "iss": ISSUER, "aud": AUDIENCE, "sub": sub, "roles": roles,
            "iat": now(), "exp": now() + 600,
        });
        for (k, v) in extra.as_object().unwrap() {
            claims[k] = v.clone();
        }
        let key =
            jsonwebtoken::EncodingKey::from_ec_pem(self.0.serialize_pem().as_bytes()).unwrap();
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some("essex-1".into());
        jsonwebtoken::encode(&header, &claims, &key).unwrap()
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A `bluelight serve` with TLS, tokens from `idp`, and the access file `access`.
struct Secured {
    served: Served,
    port: u16,
    ca: String,
    clients: Ca,
    access: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Secured {
    async fn start(redis_url: &str, idp: &Idp, access: &str) -> Secured {
        let dir = tempfile::tempdir().unwrap();
        let (ca, clients) = (Ca::new(), Ca::new());
        let (cert, key) = server_files(&ca, dir.path());
        let path = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let client_ca = path("clients.pem", &clients.pem());
        let jwks = path("jwks.json", &idp.jwks());
        let access_file = path("access.toml", access);
        let port = crate::harness::free_port();
        let s = |p: &std::path::Path| p.to_str().unwrap().to_owned();
        let args = [
            "--tls-cert".into(),
            s(&cert),
            "--tls-key".into(),
            s(&key),
            "--client-ca".into(),
            s(&client_ca),
            "--jwks".into(),
            s(&jwks),
            "--jwt-issuer".into(),
            ISSUER.into(),
            "--jwt-audience".into(),
            AUDIENCE.into(),
            "--access".into(),
            s(&access_file),
        ];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let served = serve(redis_url, port, &args, &[]);
        let secured = Secured {
            served,
            port,
            ca: ca.pem(),
            clients,
            access: access_file,
            _dir: dir,
        };
        // Health needs no identity: it says when the server is up.
        eventually("the secured server answers health checks", || async {
            let Some(c) = secured.channel(None).await else {
                return false;
            };
            tonic_health::pb::health_client::HealthClient::new(c)
                .check(tonic_health::pb::HealthCheckRequest::default())
                .await
                .is_ok()
        })
        .await;
        secured
    }

    /// A TLS channel, presenting the client certificate for `name` (from the client CA) if given.
    async fn channel(&self, name: Option<&str>) -> Option<Channel> {
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.ca))
            .domain_name("localhost");
        if let Some(name) = name {
            let (cert, key) = self.clients.issue(&[name]);
            tls = tls.identity(Identity::from_pem(cert, key));
        }
        Endpoint::from_shared(format!("https://127.0.0.1:{}", self.port))
            .unwrap()
            .timeout(Duration::from_secs(10))
            .tls_config(tls)
            .unwrap()
            .connect()
            .await
            .ok()
    }

    async fn intake(&self) -> p::intake_client::IntakeClient<Channel> {
        p::intake_client::IntakeClient::new(self.channel(None).await.unwrap())
    }

    async fn dispatch(&self) -> p::dispatch_client::DispatchClient<Channel> {
        p::dispatch_client::DispatchClient::new(self.channel(None).await.unwrap())
    }
}

/// `msg` with a bearer token.
fn bearer<T>(msg: T, token: &str) -> Request<T> {
    let mut r = Request::new(msg);
    r.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    r
}

fn submit(id: &str, narrative: &str) -> p::SubmitContactRequest {
    p::SubmitContactRequest {
        contact: Some(crate::harness::call(id, narrative)),
    }
}

/// An online report with contact id `id` from the caller of phone `phone`.
fn online(id: &str, phone: &str, narrative: &str) -> p::SubmitContactRequest {
    let mut contact = crate::harness::call(id, narrative);
    contact.channel = p::Channel::OnlineForm as i32;
    contact.caller.as_mut().unwrap().phone = crate::harness::phone_for(phone);
    p::SubmitContactRequest {
        contact: Some(contact),
    }
}

fn preview() -> p::PreviewTriageRequest {
    p::PreviewTriageRequest {
        contact: Some(crate::harness::call("", "smoke from the flat upstairs")),
    }
}

#[track_caller]
fn refused<T: std::fmt::Debug>(r: Result<T, tonic::Status>, code: Code, says: &str) {
    match r {
        Err(s) => assert!(
            s.code() == code && s.message().contains(says),
            "expected {code:?} saying {says:?}, got {:?}: {}",
            s.code(),
            s.message()
        ),
        Ok(v) => panic!("expected {code:?}, got an answer: {v:?}"),
    }
}

#[tokio::test]
async fn bearer_tokens_prove_who_calls_and_roles_decide_every_method() {
    let t = crate::harness::TestApp::spawn().await;
    let idp = Idp::new();
    let s = Secured::start(&t.redis.url(), &idp, "").await;
    let mut intake = s.intake().await;
    let mut dispatch = s.dispatch().await;
    let portal = idp.token("portal-essex", &["portal"], json!({}));

    // No credentials, and every kind of bad token: UNAUTHENTICATED.
    refused(
        intake.preview_triage(preview()).await,
        Code::Unauthenticated,
        "no credentials",
    );
    let stranger = Idp::new().token("portal-essex", &["portal"], json!({}));
    for (token, why) in [
        (
            idp.token("h", &["handler"], json!({"exp": now() - 3600})),
            "expired",
        ),
        (
            idp.token("h", &["handler"], json!({"nbf": now() + 3600})),
            "not yet valid",
        ),
        (
            idp.token("h", &["handler"], json!({"iss": "https://other.test"})),
            "wrong issuer",
        ),
        (
            idp.token("h", &["handler"], json!({"aud": "another-service"})),
            "wrong audience",
        ),
        (stranger, "signed by another key"),
        (
            // The key id of the real key, but HS256 with a guessable secret: never taken.
            jsonwebtoken::encode(
                &jsonwebtoken::Header {
                    kid: Some("essex-1".into()),
                    ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256)
                },
                &json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "h", "roles": ["handler"], "exp": now() + 600}),
                &jsonwebtoken::EncodingKey::from_secret(b"essex-1").unwrap(),
            )
            .unwrap(),
            "HS256 instead of the key's ES256",
        ),
        ("not-a-token".to_owned(), "not a token"),
    ] {
        let r = intake.preview_triage(bearer(preview(), &token)).await;
        assert_eq!(
            r.as_ref().map_err(|s| s.code()).err(),
            Some(Code::Unauthenticated),
            "{why}: {r:?}"
        );
    }

    // A portal submits and reads what it made, and nothing else.
    refused(
        intake
            .submit_contact(bearer(submit("web-0", "help, fire"), &portal))
            .await,
        Code::PermissionDenied,
        "a portal sends ONLINE_FORM or WEBCHAT",
    );
    let made = intake
        .submit_contact(bearer(
            online(
                "web-1",
                "alice",
                "my bike was stolen from outside the station",
            ),
            &portal,
        ))
        .await
        .unwrap()
        .into_inner();
    let reference = crate::harness::reference(&made);
    let get = |token: &str| {
        bearer(
            p::GetIncidentRequest {
                reference: reference.clone(),
            },
            token,
        )
    };
    intake.get_incident(get(&portal)).await.unwrap();
    refused(
        intake.preview_triage(bearer(preview(), &portal)).await,
        Code::PermissionDenied,
        "role handler may",
    );
    let other_portal = idp.token("portal-kent", &["portal"], json!({}));
    refused(
        intake.get_incident(get(&other_portal)).await,
        Code::PermissionDenied,
        "only incidents its own contacts made",
    );
    // Contact ids are each portal's own: the same id from another portal is not a replay.
    let again = intake
        .submit_contact(bearer(
            online(
                "web-1",
                "bob",
                "someone keyed my car in the supermarket car park",
            ),
            &other_portal,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!again.replayed && !again.linked, "{again:?}");
    assert_ne!(crate::harness::reference(&again), reference);
    // A contact that joins another portal's incident (the same caller) learns its reference
    // and nothing else, and does not make it readable.
    let joined = intake
        .submit_contact(bearer(
            online(
                "web-2",
                "alice",
                "my bike was stolen, I reported it earlier",
            ),
            &other_portal,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(joined.linked, "{joined:?}");
    let shown = joined.incident.unwrap();
    assert_eq!(shown.reference, reference);
    assert!(
        shown.caller.is_none() && shown.location.is_none() && shown.contact_ids.is_empty(),
        "{shown:?}"
    );
    refused(
        intake.get_incident(get(&other_portal)).await,
        Code::PermissionDenied,
        "only incidents its own contacts made",
    );

    // A dispatcher works its own desks under its own name.
    let desk = crate::harness::desks(&made)[0].clone();
    let dispatcher = idp.token("disp-0042", &["dispatcher"], json!({"desks": [desk]}));
    let claim = |desk: &str, who: &str, token: &str| {
        bearer(
            p::ClaimNextRequest {
                desk: desk.into(),
                dispatcher: who.into(),
                lease_seconds: 0,
                whole_incident: false,
                wait_seconds: 0,
            },
            token,
        )
    };
    refused(
        dispatch
            .claim_next(claim(&desk, "someone-else", &dispatcher))
            .await,
        Code::PermissionDenied,
        "is not the caller",
    );
    refused(
        dispatch
            .claim_next(claim("supervisor", "", &dispatcher))
            .await,
        Code::PermissionDenied,
        "role supervisor may work every desk",
    );
    let lease = dispatch
        .claim_next(claim(&desk, "", &dispatcher))
        .await
        .unwrap()
        .into_inner()
        .lease
        .expect("the incident is on the desk");
    assert_eq!(lease.dispatcher, "disp-0042");
    let regrade = |reason: &str, token: &str| {
        bearer(
            p::RegradeRequest {
                reference: reference.clone(),
                grade: 2,
                by: String::new(),
                reason: reason.into(),
            },
            token,
        )
    };
    refused(
        dispatch
            .regrade(regrade("caller rang back", &dispatcher))
            .await,
        Code::PermissionDenied,
        "role supervisor may",
    );

    // Another dispatcher on the desk cannot act on a colleague's lease, token or not.
    let colleague = idp.token("disp-0043", &["dispatcher"], json!({"desks": [desk]}));
    refused(
        dispatch
            .complete(bearer(
                p::CompleteRequest {
                    reference: reference.clone(),
                    desk: desk.clone(),
                    token: lease.token,
                    outcome: "not mine".into(),
                },
                &colleague,
            ))
            .await,
        Code::PermissionDenied,
        "is held by disp-0042",
    );

    // A supervisor regrades; the audit names the token's subject, not a typed name.
    let supervisor = idp.token("sup-0007", &["supervisor"], json!({}));
    dispatch
        .regrade(regrade(
            "caller rang back: the thief is still there",
            &supervisor,
        ))
        .await
        .unwrap();
    dispatch
        .complete(bearer(
            p::CompleteRequest {
                reference: reference.clone(),
                desk: desk.clone(),
                token: lease.token,
                outcome: "officer attended".into(),
            },
            &dispatcher,
        ))
        .await
        .unwrap();
    let mut redis = t.redis().await;
    let audit: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg("bl:{essex}:audit")
        .arg("-")
        .arg("+")
        .query_async(&mut redis)
        .await
        .unwrap();
    let who = |action: &str| {
        audit
            .iter()
            .map(|(_, f)| f)
            .find(|f| f.iter().any(|(k, v)| k == "action" && v == action))
            .and_then(|f| f.iter().find(|(k, _)| k == "who").map(|(_, v)| v.clone()))
    };
    assert_eq!(who("submitted").as_deref(), Some("portal-essex"));
    assert_eq!(who("claimed").as_deref(), Some("disp-0042"));
    assert_eq!(who("regraded").as_deref(), Some("sup-0007"));
    assert_eq!(who("completed").as_deref(), Some("disp-0042"));

    // A token's rate: a burst of two, then RESOURCE_EXHAUSTED with when to retry.
    let limited = idp.token(
        "portal-small",
        &["portal"],
        json!({"rate": {"per_second": 1, "burst": 2}}),
    );
    let mut answers = Vec::new();
    for i in 0..3 {
        answers.push(
            intake
                .submit_contact(bearer(
                    online(
                        &format!("small-{i}"),
                        &format!("small-{i}"),
                        "lost my purse in the high street",
                    ),
                    &limited,
                ))
                .await,
        );
    }
    let last = answers.pop().unwrap().unwrap_err();
    assert!(answers.iter().all(Result::is_ok), "{answers:?}");
    assert_eq!(last.code(), Code::ResourceExhausted, "{last:?}");
    let retry = last.get_details_retry_info().expect("RetryInfo");
    assert!(retry.retry_delay.is_some_and(|d| d > Duration::ZERO));

    // The client commands send a token with --token (or BLUELIGHT_TOKEN).
    let ca_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(ca_file.path(), &s.ca).unwrap();
    let cli = |token: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_bluelight"));
        cmd.args([
            "submit",
            "--server",
            &format!("http://127.0.0.1:{}", s.port),
        ])
        .args([
            "--narrative",
            "someone has set fire to the bins behind the shops",
        ])
        .env("BLUELIGHT_TLS_CA", ca_file.path());
        if let Some(token) = token {
            cmd.env("BLUELIGHT_TOKEN", token);
        }
        cmd.output().unwrap()
    };
    let handler = idp.token("handler-0099", &["handler"], json!({}));
    let out = cli(Some(&handler));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(None);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no credentials"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Nor does the CLI send a token in clear off this machine.
    let out = Command::new(env!("CARGO_BIN_EXE_bluelight"))
        .args([
            "submit",
            "--server",
            "http://192.0.2.1:50051",
            "--narrative",
            "x",
        ])
        .env("BLUELIGHT_TOKEN", &handler)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("in clear; give --tls-ca"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let metrics = crate::harness::http_get(s.served.1, "/metrics").await;
    for reason in ["unauthenticated", "permission_denied", "rate_limited"] {
        assert!(
            metrics.contains(&format!(
                "bluelight_requests_refused_total{{reason=\"{reason}\"}}"
            )),
            "{reason} not counted"
        );
    }
}

#[tokio::test]
async fn client_certificates_take_their_roles_from_the_access_file_reloaded_on_sighup() {
    let t = crate::harness::TestApp::spawn().await;
    let idp = Idp::new();
    let s = Secured::start(
        &t.redis.url(),
        &idp,
        "[identity.\"handler-desktop-07\"]\nroles = [\"handler\"]\n",
    )
    .await;
    let intake = |name: &'static str| {
        let s = &s;
        async move { p::intake_client::IntakeClient::new(s.channel(Some(name)).await.unwrap()) }
    };
    intake("handler-desktop-07")
        .await
        .preview_triage(preview())
        .await
        .unwrap();
    refused(
        intake("handler-desktop-07")
            .await
            .submit_contact(submit("", "x"))
            .await
            .map(|_| ()),
        Code::InvalidArgument,
        "contact_id",
    );
    refused(
        intake("monitor-wall-2")
            .await
            .preview_triage(preview())
            .await,
        Code::PermissionDenied,
        "not in the access file",
    );
    // The operations room's wall is added; SIGHUP reads the file again.
    std::fs::write(
        &s.access,
        "[identity.\"handler-desktop-07\"]\nroles = [\"handler\"]\n\n\
         [identity.\"monitor-wall-2\"]\nroles = [\"monitor\"]\n",
    )
    .unwrap();
    let hup = Command::new("kill")
        .args(["-HUP", &s.served.0.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    eventually("the new access file gives the wall its role", || async {
        let c = s.channel(Some("monitor-wall-2")).await.unwrap();
        p::operations_client::OperationsClient::new(c)
            .get_queue_stats(p::GetQueueStatsRequest {})
            .await
            .is_ok()
    })
    .await;
    // A monitor reads; it does not change anything.
    let c = s.channel(Some("monitor-wall-2")).await.unwrap();
    refused(
        p::operations_client::OperationsClient::new(c)
            .set_desk_status(p::SetDeskStatusRequest {
                desk: "supervisor".into(),
                open: false,
                reason: "x".into(),
            })
            .await,
        Code::PermissionDenied,
        "role supervisor may",
    );
}
