//! `TestApp::spawn()`: a private redis-server (never 6379), the real server on port 0, and
//! connected gRPC clients. Everything stops when the TestApp is dropped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bluelight::app::{App, LeasePolicy, Sources};
use bluelight::proto as p;
use bluelight::proto::dispatch_client::DispatchClient;
use bluelight::proto::intake_client::IntakeClient;
use bluelight::proto::operations_client::OperationsClient;
use bluelight::store::{ManagedRedis, Store, StoreConfig, Supervise};
use tonic::transport::Channel;

pub struct TestApp {
    pub redis: ManagedRedis,
    pub addr: SocketAddr,
    pub app: Arc<App>,
    pub intake: IntakeClient<Channel>,
    pub dispatch: DispatchClient<Channel>,
    pub ops: OperationsClient<Channel>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(StoreConfig::default(), Sources::default()).await
    }

    pub async fn spawn_with(store_config: StoreConfig, sources: Sources) -> TestApp {
        Self::spawn_configured(store_config, sources, |app| app).await
    }

    /// As [`TestApp::spawn_with`], the app set up by `configure` before it serves.
    pub async fn spawn_configured(
        store_config: StoreConfig,
        sources: Sources,
        configure: impl FnOnce(App) -> App,
    ) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let redis = ManagedRedis::start(&dir.path().join("redis"), Supervise::No)
            .await
            .expect("redis-server starts (install it with: apt-get install redis-server)");
        assert_ne!(redis.port(), 6379, "tests never use the default Redis port");
        let store = Store::connect(&redis.url(), store_config)
            .await
            .expect("connect to redis");
        let app = Arc::new(
            App::new(
                store,
                sources,
                LeasePolicy {
                    default: Duration::from_secs(60),
                    max: Duration::from_secs(3600),
                },
            )
            .map(configure)
            .expect("configuration loads"),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(bluelight::server::serve(
            app.clone(),
            listener,
            None,
            Arc::new(bluelight::access::Access::open(app.limits().clone())),
            &[],
            async move {
                let _ = stopped.await;
            },
            Duration::from_secs(1),
        ));
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .expect("endpoint")
            .connect()
            .await
            .expect("connect to the server");
        TestApp {
            redis,
            addr,
            intake: IntakeClient::new(channel.clone()),
            dispatch: DispatchClient::new(channel.clone()),
            ops: OperationsClient::new(channel),
            app,
            stop: Some(stop),
            _dir: dir,
        }
    }

    /// A direct connection to the test's Redis, to look at what was (not) written.
    pub async fn redis(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.redis.url())
            .expect("url")
            .get_multiplexed_async_connection()
            .await
            .expect("redis connection")
    }

    /// Number of keys in the test's Redis.
    pub async fn key_count(&self) -> u64 {
        let mut c = self.redis().await;
        redis::cmd("DBSIZE")
            .query_async(&mut c)
            .await
            .expect("dbsize")
    }

    pub async fn submit(
        &mut self,
        contact: p::Contact,
    ) -> Result<p::SubmitContactResponse, tonic::Status> {
        self.intake
            .submit_contact(p::SubmitContactRequest {
                contact: Some(contact),
            })
            .await
            .map(|r| r.into_inner())
    }

    /// The incident `reference`, which must exist.
    pub async fn incident(&mut self, reference: &str) -> p::Incident {
        self.intake
            .get_incident(p::GetIncidentRequest {
                reference: reference.into(),
            })
            .await
            .expect("get incident")
            .into_inner()
            .incident
            .expect("an incident")
    }

    pub async fn claim(&mut self, desk: &str, who: &str) -> p::ClaimNextResponse {
        self.dispatch
            .claim_next(p::ClaimNextRequest {
                desk: desk.into(),
                dispatcher: who.into(),
                lease_seconds: 0,
                whole_incident: false,
                wait_seconds: 0,
            })
            .await
            .expect("claim")
            .into_inner()
    }

    /// Starts the server's graceful shutdown, as a SIGTERM would.
    pub fn begin_shutdown(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }

    pub async fn queue(&mut self, desk: &str) -> p::ListQueueResponse {
        self.dispatch
            .list_queue(p::ListQueueRequest {
                desk: desk.into(),
                limit: 0,
            })
            .await
            .expect("list queue")
            .into_inner()
    }

    /// One desk's depth, oldest wait and status, as the operations room sees them.
    pub async fn desk_stats(&mut self, desk: &str) -> p::DeskStats {
        self.ops
            .get_queue_stats(p::GetQueueStatsRequest {})
            .await
            .expect("queue stats")
            .into_inner()
            .desks
            .into_iter()
            .find(|d| d.desk == desk)
            .expect("the desk is configured")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// A caller number of its own for each contact id, so tests link contacts only on purpose.
pub fn phone_for(id: &str) -> String {
    let n = id
        .bytes()
        .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    format!("07700{:06}", n % 1_000_000)
}

/// A 999 call with a narrative, in Chelmsford, from a caller of its own.
pub fn call(id: &str, narrative: &str) -> p::Contact {
    p::Contact {
        contact_id: id.into(),
        channel: p::Channel::Phone999 as i32,
        narrative: narrative.into(),
        location: Some(p::Location {
            postcode: "CM1 1AA".into(),
            ..Default::default()
        }),
        caller: Some(p::Caller {
            name: "Test Caller".into(),
            phone: phone_for(id),
        }),
        ..Default::default()
    }
}

pub fn grade(r: &p::SubmitContactResponse) -> i32 {
    r.incident
        .as_ref()
        .and_then(|i| i.triage.as_ref())
        .map(|t| t.grade)
        .unwrap_or(0)
}

pub fn desks(r: &p::SubmitContactResponse) -> Vec<String> {
    r.incident
        .as_ref()
        .and_then(|i| i.route.as_ref())
        .map(|r| r.desks.clone())
        .unwrap_or_default()
}

pub fn reference(r: &p::SubmitContactResponse) -> String {
    r.incident
        .as_ref()
        .map(|i| i.reference.clone())
        .unwrap_or_default()
}

/// A free loopback port (for a server process a test starts).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The gRPC channel to a server process on `port`, once it answers.
pub async fn connect(port: u16) -> Channel {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let ep =
            tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}")).unwrap();
        if let Ok(c) = ep.connect().await {
            return c;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the server did not come up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// GET `path` from a plain HTTP server (the metrics endpoint): the whole response, or empty if
/// nothing answers yet.
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else {
        return String::new();
    };
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let _ = s.write_all(request.as_bytes()).await;
    let mut body = String::new();
    let _ = s.read_to_string(&mut body).await;
    body
}

/// Processes killed when dropped: a failing test leaves none behind.
pub struct Procs(pub Vec<std::process::Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// One command to the Redis on `port` of this machine.
pub async fn query<T: redis::FromRedisValue>(port: u16, cmd: &redis::Cmd) -> redis::RedisResult<T> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/"))?;
    let mut c = client.get_multiplexed_async_connection().await?;
    cmd.query_async(&mut c).await
}
