//! Who is calling: a bearer token signed by the centre's identity provider (verified against
//! the public keys of a JWKS file), or a client certificate whose common name the access file
//! knows. Both files are read at start and again on SIGHUP; a bad file keeps the ones in use.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::error::{Error, Result};

/// What an identity may do; see the table in [`super`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// An online reporting portal: submits contacts, reads the incidents they made.
    Portal,
    /// A call handler: submits, previews, reads incidents.
    Handler,
    /// A dispatcher: works the queues of its own desks.
    Dispatcher,
    /// A supervisor: all of dispatch on every desk, regrades, operations.
    Supervisor,
    /// The operations room's screens: reads queues, stats and incidents.
    Monitor,
}

impl Role {
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Portal => "portal",
            Role::Handler => "handler",
            Role::Dispatcher => "dispatcher",
            Role::Supervisor => "supervisor",
            Role::Monitor => "monitor",
        }
    }

    fn parse(name: &str) -> Option<Role> {
        [
            Role::Portal,
            Role::Handler,
            Role::Dispatcher,
            Role::Supervisor,
            Role::Monitor,
        ]
        .into_iter()
        .find(|r| r.as_str() == name)
    }
}

/// A token bucket: `per_second` requests a second on average, bursts of up to `burst`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    pub per_second: u32,
    pub burst: u32,
}

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq)]
pub struct Identity {
    /// The token's `sub`, or the certificate's common name: who acted, in every audit entry.
    pub sub: String,
    pub roles: Vec<Role>,
    /// The desks a dispatcher works.
    pub desks: Vec<String>,
    /// Its own rate limit, if it has one.
    pub rate: Option<Rate>,
}

/// Where the identity files are and what a token must say.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AccessFiles {
    /// The identity provider's public keys (JWKS), with the issuer and audience tokens must name.
    pub jwks: Option<JwtFiles>,
    /// Client certificate common name -> roles, desks and rate (TOML).
    pub access: Option<PathBuf>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct JwtFiles {
    pub jwks: PathBuf,
    pub issuer: String,
    pub audience: String,
}

/// The identity files, read.
pub struct Identities {
    tokens: Option<Tokens>,
    certificates: Option<HashMap<String, Identity>>,
}

struct Tokens {
    keys: Vec<(Option<String>, Algorithm, DecodingKey)>,
    issuer: String,
    audience: String,
}

/// The claims bluelight reads from a token; the library checks `exp`, `nbf`, `iss` and `aud`.
#[derive(Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    desks: Vec<String>,
    #[serde(default)]
    rate: Option<Rate>,
}

/// How long after `exp` (and before `nbf`) a token is still taken, for clocks that differ.
const LEEWAY_S: u64 = 30;

impl Identities {
    /// Reads the files; any problem is a configuration error naming the file.
    pub fn load(files: &AccessFiles) -> Result<Identities> {
        Ok(Identities {
            tokens: files.jwks.as_ref().map(read_jwks).transpose()?,
            certificates: files.access.as_deref().map(read_access).transpose()?,
        })
    }

    /// The identity a bearer token proves, or why it proves none.
    pub fn from_token(&self, token: &str) -> Result<Identity> {
        let refused = |why: String| Error::Unauthenticated(format!("bearer token refused: {why}"));
        let Some(t) = &self.tokens else {
            return Err(refused(
                "this service takes no bearer tokens (no --jwks)".into(),
            ));
        };
        let header = jsonwebtoken::decode_header(token).map_err(|e| refused(e.to_string()))?;
        // The key its `kid` names; without one, each key of its algorithm in turn (a provider
        // rotating keys publishes two).
        let candidates: Vec<_> = t
            .keys
            .iter()
            .filter(|(kid, alg, _)| {
                *alg == header.alg
                    && (header.kid.is_none() || kid.as_deref() == header.kid.as_deref())
            })
            .collect();
        if candidates.is_empty() {
            return Err(refused(format!(
                "no key for algorithm {:?} and key id {:?}",
                header.alg,
                header.kid.as_deref().unwrap_or("")
            )));
        }
        let mut result = Err(refused("no key verifies it".into()));
        for (_, alg, key) in candidates {
            let mut v = Validation::new(*alg);
            v.leeway = LEEWAY_S;
            v.validate_nbf = true;
            v.set_issuer(&[&t.issuer]);
            v.set_audience(&[&t.audience]);
            v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
            result = jsonwebtoken::decode::<Claims>(token, key, &v)
                .map(|data| data.claims)
                .map_err(|e| refused(e.to_string()));
            if result.is_ok() {
                break;
            }
        }
        let claims = result?;
        if claims.sub.is_empty() {
            return Err(refused("its sub is empty".into()));
        }
        Ok(Identity {
            sub: claims.sub,
            // Roles of other systems may share the token; only bluelight's count.
            roles: claims.roles.iter().filter_map(|r| Role::parse(r)).collect(),
            desks: claims.desks,
            rate: claims.rate,
        })
    }

    /// The identity of a client certificate's common name, if the access file lists it.
    pub fn from_certificate(&self, common_name: &str) -> Option<&Identity> {
        self.certificates.as_ref()?.get(common_name)
    }

    /// Whether any way to prove an identity is configured: if not, the service runs open.
    pub fn enabled(&self) -> bool {
        self.tokens.is_some() || self.certificates.is_some()
    }
}

fn read_jwks(files: &JwtFiles) -> Result<Tokens> {
    let path = &files.jwks;
    let bad = |e: &dyn std::fmt::Display| {
        Error::Config(format!(
            "{} (JWKS, the identity provider's keys): {e}",
            path.display()
        ))
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(&e))?;
    let set: JwkSet = serde_json::from_str(&text).map_err(|e| bad(&e))?;
    let mut keys = Vec::new();
    for jwk in &set.keys {
        let alg = algorithm(jwk).map_err(|e| bad(&e))?;
        let key = DecodingKey::from_jwk(jwk).map_err(|e| bad(&e))?;
        keys.push((jwk.common.key_id.clone(), alg, key));
    }
    if keys.is_empty() {
        return Err(bad(&"no keys in it"));
    }
    Ok(Tokens {
        keys,
        issuer: files.issuer.clone(),
        audience: files.audience.clone(),
    })
}

/// The one algorithm a key verifies: ES256 for a P-256 key, RS256 for an RSA key. Nothing
/// else is taken, so a token cannot choose a weaker one.
fn algorithm(jwk: &Jwk) -> std::result::Result<Algorithm, String> {
    use jsonwebtoken::jwk::{AlgorithmParameters as P, EllipticCurve};
    let alg = match &jwk.algorithm {
        P::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => Algorithm::ES256,
        P::RSA(_) => Algorithm::RS256,
        _ => return Err("only ES256 (P-256) and RS256 (RSA) keys are taken".into()),
    };
    match jwk.common.key_algorithm {
        None | Some(KeyAlgorithm::ES256) if alg == Algorithm::ES256 => Ok(alg),
        None | Some(KeyAlgorithm::RS256) if alg == Algorithm::RS256 => Ok(alg),
        Some(other) => Err(format!("key algorithm {other:?} does not fit its key")),
        None => Ok(alg),
    }
}

/// The access file: `[identity."common name"]` with `roles`, and `desks` and `rate` if any.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessFile {
    #[serde(default)]
    identity: HashMap<String, AccessEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessEntry {
    roles: Vec<String>,
    #[serde(default)]
    desks: Vec<String>,
    rate: Option<Rate>,
}

fn read_access(path: &Path) -> Result<HashMap<String, Identity>> {
    let bad =
        |e: &dyn std::fmt::Display| Error::Config(format!("{} (access file): {e}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| bad(&e))?;
    let file: AccessFile = toml::from_str(&text).map_err(|e| bad(&e.message()))?;
    let mut out = HashMap::with_capacity(file.identity.len());
    for (name, entry) in file.identity {
        let roles = entry
            .roles
            .iter()
            .map(|r| {
                Role::parse(r).ok_or_else(|| {
                    bad(&format!(
                        "identity {name:?}: unknown role {r:?}; roles are portal, handler, \
                         dispatcher, supervisor and monitor"
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        if roles.is_empty() {
            return Err(bad(&format!("identity {name:?} has no roles")));
        }
        if entry
            .rate
            .is_some_and(|r| r.per_second == 0 || r.burst == 0)
        {
            return Err(bad(&format!(
                "identity {name:?}: rate per_second and burst must be at least 1"
            )));
        }
        out.insert(
            name.clone(),
            Identity {
                sub: name,
                roles,
                desks: entry.desks,
                rate: entry.rate,
            },
        );
    }
    Ok(out)
}

/// The common name of a DER certificate's subject.
pub fn common_name(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let cn = cert.subject().iter_common_name().next()?.as_str().ok()?;
    Some(cn.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_access_file_names_roles_and_says_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.toml");
        std::fs::write(
            &path,
            "[identity.\"dispatch-north-1\"]\nroles = [\"dispatcher\"]\ndesks = [\"police-north\"]\n\
             rate = { per_second = 5, burst = 10 }\n",
        )
        .unwrap();
        let ids = Identities::load(&AccessFiles {
            jwks: None,
            access: Some(path.clone()),
        })
        .unwrap();
        let id = ids.from_certificate("dispatch-north-1").unwrap();
        assert_eq!(id.roles, vec![Role::Dispatcher]);
        assert_eq!(id.desks, vec!["police-north".to_owned()]);
        assert_eq!(
            id.rate,
            Some(Rate {
                per_second: 5,
                burst: 10
            })
        );
        assert!(ids.from_certificate("someone-else").is_none());

        std::fs::write(&path, "[identity.x]\nroles = [\"admin\"]\n").unwrap();
        let e = Identities::load(&AccessFiles {
            jwks: None,
            access: Some(path),
        })
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("unknown role \"admin\""), "{e}");
    }
}
