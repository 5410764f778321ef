//! Who may do what. One tower layer in front of every gRPC method decides, from one table,
//! whether the caller may call it: it finds the caller's identity (a bearer token, or a client
//! certificate the access file knows), checks its roles and its rate, and hands the identity to
//! the method in the request's extensions. The methods then check what depends on the request:
//! a dispatcher's own desks, a portal's own incidents, and who acted. Health checks stay open.
//!
//! Without `--jwks` and `--access` the service runs open, as a single trusted desktop would
//! use it, and `config` refuses to face the network that way unless told `--insecure`.

mod identity;
mod limits;

use std::sync::Arc;
use std::task::{Context, Poll};

use arc_swap::ArcSwap;
use tonic::body::Body;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};

pub use identity::{AccessFiles, Identities, Identity, JwtFiles, Rate, Role};
pub use limits::{Limits, Shedding};

use crate::domain::Incident;
use crate::error::{Error, Result};
use crate::telemetry;

/// What a role may do with a method: all of it, or only its own desks or its own incidents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    All,
    /// A dispatcher: only the desks its identity names.
    OwnDesks,
    /// A portal: only incidents its own contacts made, and only the online channels.
    OwnContacts,
}

use Role::{Dispatcher, Handler, Monitor, Portal, Supervisor};
use Scope::{All, OwnContacts, OwnDesks};

const INTAKE: &str = "/bluelight.v1.Intake/";
const DISPATCH: &str = "/bluelight.v1.Dispatch/";
const OPERATIONS: &str = "/bluelight.v1.Operations/";
const HEALTH: &str = "/grpc.health.v1.Health/";
const REFLECTION: &str = "/grpc.reflection.v1.ServerReflection/";

type Grants = &'static [(Role, Scope)];
const WORK_DESK: Grants = &[(Supervisor, All), (Dispatcher, OwnDesks)];
const READ_DESK: Grants = &[(Supervisor, All), (Monitor, All), (Dispatcher, OwnDesks)];

/// Every method, and the roles that may call it. A method missing here is refused to everyone
/// (a unit test checks that every method of the API is here).
const METHODS: &[(&str, &str, Grants)] = &[
    // A portal submits as the public's portal: online channels, and a view of its own.
    (
        INTAKE,
        "SubmitContact",
        &[(Handler, All), (Portal, OwnContacts)],
    ),
    (INTAKE, "PreviewTriage", &[(Handler, All)]),
    (
        INTAKE,
        "GetIncident",
        &[
            (Handler, All),
            (Supervisor, All),
            (Monitor, All),
            (Portal, OwnContacts),
        ],
    ),
    (DISPATCH, "ClaimNext", WORK_DESK),
    (DISPATCH, "Claim", WORK_DESK),
    (DISPATCH, "RenewLease", WORK_DESK),
    (DISPATCH, "Complete", WORK_DESK),
    (DISPATCH, "CompleteAndClaimNext", WORK_DESK),
    (DISPATCH, "Release", WORK_DESK),
    (DISPATCH, "Transfer", WORK_DESK),
    (DISPATCH, "Regrade", &[(Supervisor, All)]),
    (DISPATCH, "ListQueue", READ_DESK),
    (DISPATCH, "WatchDesk", READ_DESK),
    (OPERATIONS, "SetDeskStatus", &[(Supervisor, All)]),
    (
        OPERATIONS,
        "GetQueueStats",
        &[(Supervisor, All), (Monitor, All)],
    ),
    (OPERATIONS, "ReloadConfig", &[(Supervisor, All)]),
];

fn grants(path: &str) -> Option<Grants> {
    METHODS
        .iter()
        .find(|(service, method, _)| {
            path.strip_prefix(service)
                .is_some_and(|rest| rest == *method)
        })
        .map(|(_, _, grants)| *grants)
}

/// The access decisions of one running service: its identity files (swapped whole on reload),
/// its limits, and whether reflection is served.
pub struct Access {
    files: AccessFiles,
    identities: ArcSwap<Identities>,
    limits: Arc<Limits>,
    reflection: bool,
}

impl Access {
    /// Reads the identity files; a problem is a configuration error naming the file.
    /// `limits` are the service's (see [`crate::app::App::limits`]).
    pub fn load(files: AccessFiles, limits: Arc<Limits>, reflection: bool) -> Result<Access> {
        let identities = Identities::load(&files)?;
        Ok(Access {
            files,
            identities: ArcSwap::from_pointee(identities),
            limits,
            reflection,
        })
    }

    /// No identities: every caller may do everything (a desktop on loopback, the tests).
    pub fn open(limits: Arc<Limits>) -> Access {
        Access::load(AccessFiles::default(), limits, true).expect("no files to read")
    }

    /// Reads the identity files again; on an error the ones in use stay.
    pub fn reload(&self) -> Result<()> {
        self.identities
            .store(Arc::new(Identities::load(&self.files)?));
        Ok(())
    }

    /// True while no identities are configured: every caller may do everything.
    pub fn is_open(&self) -> bool {
        !self.identities.load().enabled()
    }

    pub fn reflection(&self) -> bool {
        self.reflection
    }

    /// Decides a request by its path, its `authorization` header and its client certificate:
    /// the caller to hand to the method, `None` when the service runs open or the method needs
    /// no identity.
    fn decide<B>(&self, req: &http::Request<B>) -> Result<Option<Caller>> {
        let path = req.uri().path();
        if path.starts_with(HEALTH) {
            return Ok(None);
        }
        let identities = self.identities.load();
        if !identities.enabled() {
            return Ok(None);
        }
        let identity = identify(&identities, req)?;
        self.limits.take(&identity)?;
        if path.starts_with(REFLECTION) {
            // Any identity may list the API; --reflection false turns it off.
            return Ok(Some(Caller {
                identity: Arc::new(identity),
                scope: All,
            }));
        }
        let Some(grants) = grants(path) else {
            return Err(Error::PermissionDenied(format!("no role may call {path}")));
        };
        // The widest scope any of its roles gives.
        let scope = grants
            .iter()
            .filter(|(role, _)| identity.roles.contains(role))
            .map(|(_, scope)| *scope)
            .min_by_key(|s| match s {
                All => 0,
                OwnDesks | OwnContacts => 1,
            });
        match scope {
            Some(scope) => Ok(Some(Caller {
                identity: Arc::new(identity),
                scope,
            })),
            None => Err(Error::PermissionDenied(format!(
                "{} (roles: {}) may not call {path}; role {} may",
                identity.sub,
                listed(identity.roles.iter().map(|r| r.as_str())),
                listed(grants.iter().map(|(r, _)| r.as_str())).replace(", ", " or ")
            ))),
        }
    }
}

/// "a, b, c", or "none".
fn listed<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<&str> = items.collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// The identity of a request: its bearer token if it has one, else its client certificate.
fn identify<B>(identities: &Identities, req: &http::Request<B>) -> Result<Identity> {
    if let Some(value) = req.headers().get(http::header::AUTHORIZATION) {
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .ok_or_else(|| {
                Error::Unauthenticated("the authorization header must be \"Bearer <token>\"".into())
            })?;
        return identities.from_token(token.trim());
    }
    let certs = req
        .extensions()
        .get::<TlsConnectInfo<TcpConnectInfo>>()
        .and_then(TlsConnectInfo::peer_certs);
    if let Some(cert) = certs.as_ref().and_then(|c| c.first()) {
        let name = identity::common_name(cert).ok_or_else(|| {
            Error::Unauthenticated("the client certificate has no subject common name".into())
        })?;
        return identities.from_certificate(&name).cloned().ok_or_else(|| {
            Error::PermissionDenied(format!(
                "client certificate {name:?} is not in the access file: it has no roles"
            ))
        });
    }
    Err(Error::Unauthenticated(
        "no credentials: send \"authorization: Bearer <token>\" or a client certificate".into(),
    ))
}

/// The caller of a method, as the access layer found it.
#[derive(Clone, Debug)]
pub struct Caller {
    pub identity: Arc<Identity>,
    pub scope: Scope,
}

/// What a method knows of its caller: `None` when the service runs open.
#[derive(Clone, Debug, Default)]
pub struct Acting(pub Option<Caller>);

impl Acting {
    /// The caller of `req`.
    pub fn of<T>(req: &tonic::Request<T>) -> Acting {
        Acting(req.extensions().get::<Caller>().cloned())
    }

    /// The authenticated name, if any.
    pub fn sub(&self) -> Option<&str> {
        self.0.as_ref().map(|c| c.identity.sub.as_str())
    }

    /// Who acted: the authenticated name; when the service runs open, what the client typed in
    /// `field`. A typed name that is not the caller's is refused.
    pub fn name(&self, field: &str, typed: &str) -> Result<String> {
        match self.sub() {
            None => Ok(typed.to_owned()),
            Some(sub) if typed.is_empty() || typed == sub => Ok(sub.to_owned()),
            Some(sub) => Err(Error::PermissionDenied(format!(
                "{field} {typed:?} is not the caller, {sub:?}: leave it empty or give your own name"
            ))),
        }
    }

    /// Who acts on a leased task: the caller, who must hold the lease unless its role may work
    /// every desk; when the service runs open, the lease holder.
    pub fn actor(&self) -> crate::store::Actor<'_> {
        crate::store::Actor {
            name: self.sub().unwrap_or(""),
            must_hold: self.0.as_ref().is_some_and(|c| c.scope == OwnDesks),
        }
    }

    /// Refuses a desk outside a dispatcher's own.
    pub fn desk(&self, desk: &str) -> Result<()> {
        match &self.0 {
            Some(c) if c.scope == OwnDesks && !c.identity.desks.iter().any(|d| d == desk) => {
                Err(Error::PermissionDenied(format!(
                    "{} works desks {}, not {desk}; role supervisor may work every desk",
                    c.identity.sub,
                    listed(c.identity.desks.iter().map(String::as_str))
                )))
            }
            _ => Ok(()),
        }
    }

    /// Whether the caller may read only incidents its own contacts made (a portal): a contact
    /// it sends that joins someone else's incident learns only the reference.
    pub fn own_contacts_only(&self) -> bool {
        self.0.as_ref().is_some_and(|c| c.scope == OwnContacts)
    }

    /// Refuses a channel a portal does not carry: it sends online forms and webchat, so it
    /// cannot claim a 999 call's place when submits are shed.
    pub fn channel(&self, channel: crate::domain::Channel) -> Result<()> {
        use crate::domain::Channel::{OnlineForm, Webchat};
        if self.own_contacts_only() && !matches!(channel, OnlineForm | Webchat) {
            return Err(Error::PermissionDenied(format!(
                "a portal sends ONLINE_FORM or WEBCHAT contacts, not {}; role handler may send any",
                channel.as_str()
            )));
        }
        Ok(())
    }

    /// Refuses an incident a portal's own contacts did not make.
    pub fn incident(&self, incident: &Incident) -> Result<()> {
        match &self.0 {
            Some(c)
                if c.scope == OwnContacts && !incident.submitted_by.contains(&c.identity.sub) =>
            {
                Err(Error::PermissionDenied(format!(
                    "{} may read only incidents its own contacts made; role handler or monitor may read any",
                    c.identity.sub
                )))
            }
            _ => Ok(()),
        }
    }
}

/// The tower layer that puts [`Access`] in front of every method.
#[derive(Clone)]
pub struct AccessLayer(pub Arc<Access>);

impl<S> tower::Layer<S> for AccessLayer {
    type Service = Guarded<S>;

    fn layer(&self, inner: S) -> Guarded<S> {
        Guarded {
            access: self.0.clone(),
            inner,
        }
    }
}

#[derive(Clone)]
pub struct Guarded<S> {
    access: Arc<Access>,
    inner: S,
}

pub(crate) type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

impl<S> tower::Service<http::Request<Body>> for Guarded<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<std::result::Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<std::result::Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<Body>) -> Self::Future {
        match self.access.decide(&req) {
            Ok(caller) => {
                // Counted once let in: a caller without credentials cannot fill the count.
                let in_flight = self.access.limits.enter();
                if let Some(caller) = caller {
                    req.extensions_mut().insert(caller);
                }
                let answer = self.inner.call(req);
                Box::pin(async move {
                    let answer = answer.await;
                    drop(in_flight);
                    answer
                })
            }
            Err(e) => {
                // Rate limits count themselves where they are decided.
                let reason = match &e {
                    Error::Unauthenticated(_) => Some("unauthenticated"),
                    Error::PermissionDenied(_) => Some("permission_denied"),
                    _ => None,
                };
                if let Some(reason) = reason {
                    telemetry::refused(reason);
                    tracing::info!(path = req.uri().path(), reason, why = %e, "request refused");
                }
                let status = tonic::Status::from(e);
                Box::pin(async move { Ok(status.into_http()) })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every method of the API has a row in the table: a new method cannot slip through.
    #[test]
    fn every_method_of_the_api_is_in_the_table() {
        use prost::Message;
        let set = prost_types::FileDescriptorSet::decode(crate::proto::FILE_DESCRIPTOR_SET)
            .expect("descriptor set");
        let mut n = 0;
        for file in &set.file {
            for service in &file.service {
                for method in &service.method {
                    let path = format!("/{}.{}/{}", file.package(), service.name(), method.name());
                    assert!(grants(&path).is_some(), "{path} has no row in METHODS");
                    n += 1;
                }
            }
        }
        assert_eq!(n, METHODS.len());
    }
}
