//! The store's connection to Redis: the Redis of one URL; or the primary the sentinels name,
//! followed through failovers (a connection error or a `READONLY` answer, the node demoted,
//! makes it ask the sentinels again and, when they name another primary, move to it; the
//! request that failed answers `UNAVAILABLE`, and its retry goes to the new primary); or a Redis
//! Cluster, whose client follows `MOVED` and `ASK` itself.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};

use super::RedisTls;
use crate::error::{Error, Result};

/// How the primary is found.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// One Redis URL (`redis://`, `rediss://`).
    Url(String),
    /// Sentinels (`host:port`) that watch the primary named `master`; `url` is the URL of a
    /// data node with its host and port left out (`redis://:password@`), for the scheme and
    /// credentials.
    Sentinels {
        sentinels: Vec<String>,
        master: String,
        url: String,
    },
    /// Some nodes (`host:port`) of a Redis Cluster; `url` as for sentinels.
    Cluster { nodes: Vec<String>, url: String },
}

/// A connection to the current primary, or to the cluster. Cheap to clone: clones share it.
#[derive(Clone)]
pub struct Conn(Kind);

#[derive(Clone)]
enum Kind {
    Node(Arc<Shared>, Lane),
    /// The client (for connections of their own) and the shared connection.
    Cluster(Arc<(ClusterClient, ClusterConnection)>),
}

/// A connection of its own, for a blocking read that must not hold up the shared one.
pub enum Own {
    Node(redis::aio::MultiplexedConnection),
    Cluster(ClusterConnection),
}

/// Which of the node's two connections a request goes on.
#[derive(Clone, Copy, PartialEq)]
enum Lane {
    /// Everything but submits that wait for replicas.
    Shared,
    /// Submits followed by `WAIT`: a `WAIT` holds up the connection it is sent on until the
    /// replicas answer, so it never holds up dispatch.
    Replicated,
}

struct Shared {
    node: ArcSwap<Node>,
    /// The TLS files of `rediss://` nodes.
    tls: RedisTls,
    sentinel: Option<(Vec<String>, String, String)>,
    /// Whether submits wait for replicas, on a connection of their own.
    waits: bool,
    /// One asks the sentinels at a time; the others go on with the node they have.
    asking: tokio::sync::Mutex<()>,
}

struct Node {
    /// The node's URL (with its password): never logged, see `redacted`.
    url: String,
    client: redis::Client,
    manager: ConnectionManager,
    /// The connection of submits that wait for replicas, when they do.
    replicated: Option<ConnectionManager>,
}

impl Conn {
    /// Connects to the target's primary (with a second connection for submits that wait for
    /// replicas, when `waits`). Fails with `Unavailable` if it cannot be reached.
    pub async fn connect(target: &Target, tls: RedisTls, waits: bool) -> Result<Conn> {
        let (url, sentinel) = match target {
            Target::Cluster { nodes, url } => {
                let mut builder =
                    ClusterClient::builder(nodes.iter().map(|n| format!("{url}{n}/")))
                        .connection_timeout(Duration::from_millis(1000))
                        .response_timeout(Duration::from_millis(2000))
                        .retries(2);
                if tls != RedisTls::default() {
                    builder = builder.certs(super::certificates(&tls)?);
                }
                let client = builder
                    .build()
                    .map_err(|e| Error::Config(format!("redis cluster: {e}")))?;
                let conn = client.get_async_connection().await?;
                return Ok(Conn(Kind::Cluster(Arc::new((client, conn)))));
            }
            Target::Url(url) => (url.clone(), None),
            Target::Sentinels {
                sentinels,
                master,
                url,
            } => {
                let addr = primary_of(sentinels, master).await?;
                (
                    format!("{url}{addr}/"),
                    Some((sentinels.clone(), master.clone(), url.clone())),
                )
            }
        };
        let node = node(&tls, url, waits, sentinel.is_some()).await?;
        Ok(Conn(Kind::Node(
            Arc::new(Shared {
                node: ArcSwap::from_pointee(node),
                tls,
                sentinel,
                waits,
                asking: tokio::sync::Mutex::new(()),
            }),
            Lane::Shared,
        )))
    }

    /// The same primary on the connection kept for writes that wait for replicas.
    pub fn replicated(&self) -> Conn {
        match &self.0 {
            Kind::Node(shared, _) => Conn(Kind::Node(shared.clone(), Lane::Replicated)),
            Kind::Cluster(..) => self.clone(),
        }
    }

    /// A new connection of its own, whose answers may take up to `wait` (a blocking read).
    pub async fn own(&self, wait: Duration) -> Result<Own> {
        let connect = Duration::from_secs(1);
        Ok(match &self.0 {
            Kind::Node(shared, _) => Own::Node(
                shared
                    .node
                    .load()
                    .client
                    .get_multiplexed_async_connection_with_config(
                        &redis::AsyncConnectionConfig::new()
                            .set_connection_timeout(Some(connect))
                            .set_response_timeout(Some(wait)),
                    )
                    .await?,
            ),
            Kind::Cluster(cluster) => Own::Cluster(
                cluster
                    .0
                    .get_async_connection_with_config(
                        redis::cluster::ClusterConfig::new()
                            .set_connection_timeout(connect)
                            .set_response_timeout(wait),
                    )
                    .await?,
            ),
        })
    }
}

impl Shared {
    fn manager(&self, lane: Lane) -> ConnectionManager {
        let node = self.node.load();
        match lane {
            Lane::Shared => node.manager.clone(),
            Lane::Replicated => node.replicated.as_ref().unwrap_or(&node.manager).clone(),
        }
    }

    /// After an error that may mean a failover: asks the sentinels where the primary is, and
    /// moves there if it moved.
    async fn follow(&self, e: &redis::RedisError) {
        let Some((sentinels, master, url)) = &self.sentinel else {
            return;
        };
        let failover = e.is_io_error()
            || e.is_connection_dropped()
            || e.is_connection_refusal()
            || e.is_timeout()
            || matches!(
                e.kind(),
                redis::ErrorKind::Server(
                    redis::ServerErrorKind::ReadOnly | redis::ServerErrorKind::MasterDown
                )
            );
        if !failover {
            return;
        }
        let Ok(_asking) = self.asking.try_lock() else {
            return;
        };
        let Ok(addr) = primary_of(sentinels, master).await else {
            return;
        };
        let url = format!("{url}{addr}/");
        if url == self.node.load().url {
            return;
        }
        match node(&self.tls, url, self.waits, true).await {
            Ok(n) => {
                tracing::warn!(primary = %addr, "redis primary moved: following the sentinels");
                self.node.store(Arc::new(n));
            }
            Err(e) => {
                tracing::warn!(primary = %addr, error = %e, "cannot reach the new redis primary yet")
            }
        }
    }
}

/// Connections to the node of `url`; when `primary`, only if it is one (a sentinel's answer may
/// be out of date).
async fn node(tls: &RedisTls, url: String, waits: bool, primary: bool) -> Result<Node> {
    let client = super::client(&url, tls)?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_millis(1000)))
        .set_response_timeout(Some(Duration::from_millis(2000)))
        .set_number_of_retries(2)
        .set_max_delay(Duration::from_millis(200));
    let mut manager = ConnectionManager::new_with_config(client.clone(), config.clone()).await?;
    if primary {
        let role: Vec<Value> = redis::cmd("ROLE").query_async(&mut manager).await?;
        if !matches!(role.first(), Some(Value::BulkString(r)) if r == b"master") {
            return Err(Error::Unavailable(
                "the node the sentinels name is not a primary (yet)".into(),
            ));
        }
    }
    let replicated = if waits {
        Some(ConnectionManager::new_with_config(client.clone(), config).await?)
    } else {
        None
    };
    Ok(Node {
        url,
        client,
        manager,
        replicated,
    })
}

/// `host:port` of the primary named `master`, from the first sentinel that answers.
async fn primary_of(sentinels: &[String], master: &str) -> Result<String> {
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_millis(500)))
        .set_response_timeout(Some(Duration::from_millis(500)));
    let mut last = String::from("no sentinels given");
    for s in sentinels {
        let asked = async {
            let client = redis::Client::open(format!("redis://{s}/"))?;
            let mut c = client
                .get_multiplexed_async_connection_with_config(&config)
                .await?;
            redis::cmd("SENTINEL")
                .arg("get-master-addr-by-name")
                .arg(master)
                .query_async::<Option<(String, u16)>>(&mut c)
                .await
        };
        match asked.await {
            Ok(Some((host, port))) => return Ok(format!("{host}:{port}")),
            Ok(None) => last = format!("sentinel {s} knows no primary named {master:?}"),
            Err(e) => last = format!("sentinel {s}: {e}"),
        }
    }
    Err(Error::Unavailable(format!(
        "no sentinel names the primary {master:?}: {last}"
    )))
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match &mut self.0 {
            Kind::Cluster(cluster) => {
                let mut c = cluster.1.clone();
                Box::pin(async move { c.req_packed_command(cmd).await })
            }
            Kind::Node(shared, lane) => Box::pin(async move {
                let answer = shared.manager(*lane).req_packed_command(cmd).await;
                if let Err(e) = &answer {
                    shared.follow(e).await;
                }
                answer
            }),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match &mut self.0 {
            Kind::Cluster(cluster) => {
                let mut c = cluster.1.clone();
                Box::pin(async move { c.req_packed_commands(pipeline, offset, count).await })
            }
            Kind::Node(shared, lane) => Box::pin(async move {
                let answer = shared
                    .manager(*lane)
                    .req_packed_commands(pipeline, offset, count)
                    .await;
                if let Err(e) = &answer {
                    shared.follow(e).await;
                }
                answer
            }),
        }
    }

    fn get_db(&self) -> i64 {
        match &self.0 {
            Kind::Cluster(cluster) => cluster.1.get_db(),
            Kind::Node(shared, lane) => shared.manager(*lane).get_db(),
        }
    }
}

impl ConnectionLike for Own {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Own::Node(c) => c.req_packed_command(cmd),
            Own::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Own::Node(c) => c.req_packed_commands(pipeline, offset, count),
            Own::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Own::Node(c) => c.get_db(),
            Own::Cluster(c) => c.get_db(),
        }
    }
}
