//! TLS to `tcp://` engines, the docker CLI's way: one directory holding
//! `ca.pem` (the CA that signed the engine's certificate) and `cert.pem` +
//! `key.pem` (the client certificate an engine started with `--tlsverify`
//! demands), chosen by `DOCKER_TLS_VERIFY` / `DOCKER_CERT_PATH` or the
//! config.
//!
//! Only `ca.pem` is trusted for the engine, never the system's roots (the
//! docker CLI does the same): an engine's certificate comes from its own
//! CA, and a public CA vouching for a name proves nothing about who runs
//! the engine behind it.
//!
//! Everything is loaded up front, so a missing or unreadable file is named
//! before any connection is tried, instead of surfacing as an anonymous
//! handshake failure.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Result, anyhow, bail};
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{AlertDescription, CertificateError, ClientConfig, RootCertStore};

use crate::config::DockerConfig;

pub const CA: &str = "ca.pem";
pub const CERT: &str = "cert.pem";
pub const KEY: &str = "key.pem";

/// Which setting chose the certificate directory: error messages name the
/// knob to turn, which differs by where the value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `[docker.engines."<address>"] cert_path`.
    Engine(String),
    /// `DOCKER_CERT_PATH`.
    Env,
    /// `[docker] cert_path`.
    Config,
    /// The docker CLI's default: `$DOCKER_CONFIG`, else `~/.docker`.
    Default,
}

impl Source {
    /// What chose the directory, for "directory X (...)".
    fn origin(&self) -> String {
        match self {
            Source::Engine(a) => format!("from [docker.engines.\"{a}\"] cert_path"),
            Source::Env => "from DOCKER_CERT_PATH".into(),
            Source::Config => "from [docker] cert_path".into(),
            Source::Default => "the docker CLI's default, as neither DOCKER_CERT_PATH nor cert_path is set".into(),
        }
    }

    /// Where to point at another directory.
    fn knob(&self) -> String {
        match self {
            Source::Engine(a) => format!("[docker.engines.\"{a}\"] cert_path"),
            Source::Env => "DOCKER_CERT_PATH".into(),
            Source::Config => "[docker] cert_path (or DOCKER_CERT_PATH)".into(),
            Source::Default => "DOCKER_CERT_PATH or [docker] cert_path".into(),
        }
    }
}

/// The certificate directory for one engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertDir {
    pub dir: PathBuf,
    pub from: Source,
}

impl CertDir {
    pub fn ca(&self) -> PathBuf {
        self.dir.join(CA)
    }
    pub fn cert(&self) -> PathBuf {
        self.dir.join(CERT)
    }
    pub fn key(&self) -> PathBuf {
        self.dir.join(KEY)
    }

    /// "directory /x (from DOCKER_CERT_PATH)".
    pub fn describe(&self) -> String {
        format!("{} ({})", self.dir.display(), self.from.origin())
    }
}

/// Looks up an environment variable, empty counting as unset (the docker
/// CLI's reading). A parameter so tests can supply their own environment.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment, empty values dropped.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Whether `host` is spoken to over TLS, and with which certificates.
/// `None`: plain (a unix socket, `http://`, or a `tcp://` engine nothing
/// asked TLS for).
///
/// For a `tcp://` engine, TLS is on when its `[docker.engines."<address>"]
/// tls_verify` says so (true or false: the most specific setting wins),
/// else when `DOCKER_TLS_VERIFY` is set to anything (like the docker CLI,
/// even `0`), else when `[docker] tls_verify` is true. `https://` is always
/// TLS. The directory: the engine's `cert_path`, else `DOCKER_CERT_PATH`,
/// else `[docker] cert_path`, else `$DOCKER_CONFIG`, else `~/.docker`.
pub fn for_engine(host: &str, docker: &DockerConfig, env: Env) -> Result<Option<CertDir>> {
    let own = docker.engines.get(host).or_else(|| {
        let trimmed = host.trim_end_matches('/');
        docker.engines.iter().find(|(k, _)| k.trim_end_matches('/') == trimmed).map(|(_, v)| v)
    });
    let wanted = if host.starts_with("https://") {
        true
    } else if host.starts_with("tcp://") {
        match own.and_then(|o| o.tls_verify) {
            Some(v) => v,
            None => env("DOCKER_TLS_VERIFY").is_some() || docker.tls_verify,
        }
    } else {
        false
    };
    if !wanted {
        return Ok(None);
    }
    let dir = if let Some(p) = own.and_then(|o| o.cert_path.clone()) {
        CertDir { dir: p, from: Source::Engine(host.to_string()) }
    } else if let Some(p) = env("DOCKER_CERT_PATH") {
        CertDir { dir: p.into(), from: Source::Env }
    } else if let Some(p) = docker.cert_path.clone() {
        CertDir { dir: p, from: Source::Config }
    } else if let Some(p) = env("DOCKER_CONFIG") {
        CertDir { dir: p.into(), from: Source::Default }
    } else if let Some(home) = env("HOME") {
        CertDir { dir: Path::new(&home).join(".docker"), from: Source::Default }
    } else {
        bail!(
            "cannot use TLS for the Docker engine at {host}: no certificate directory (HOME is not set); \
             set DOCKER_CERT_PATH or [docker] cert_path to the directory holding {CA}, {CERT} and {KEY}"
        );
    };
    Ok(Some(dir))
}

/// A ready TLS client for one engine: what to trust, what to present, and
/// the name its certificate must carry.
#[derive(Clone)]
pub struct Client {
    pub config: Arc<ClientConfig>,
    pub server_name: ServerName<'static>,
    pub dir: CertDir,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("server_name", &self.server_name).field("dir", &self.dir).finish()
    }
}

/// Reads the three files and builds the client. `addr` is `host:port`,
/// whose host part the engine's certificate must name (an IP address or a
/// DNS name, as with the docker CLI).
pub fn load(host: &str, addr: &str, dir: &CertDir) -> Result<Client> {
    let fail = |what: String| anyhow!("cannot use TLS for the Docker engine at {host}: {what}");
    let fix = format!(
        "put {CA}, {CERT} and {KEY} in {}, or point {} at the directory that has them",
        dir.describe(),
        dir.from.knob()
    );
    let no_dir = |what: &str| {
        fail(format!(
            "certificate directory {} {what}; make it a directory holding {CA}, {CERT} and {KEY}, or point {} \
             at the directory that has them",
            dir.describe(),
            dir.from.knob()
        ))
    };
    match std::fs::metadata(&dir.dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(no_dir("is not a directory")),
        Err(e) if e.kind() == ErrorKind::NotFound => return Err(no_dir("does not exist")),
        Err(e) => return Err(fail(format!("cannot open certificate directory {}: {}", dir.describe(), io_text(&e)))),
    }
    let read = |path: PathBuf, role: &str| -> Result<Vec<u8>> {
        std::fs::read(&path).map_err(|e| match e.kind() {
            ErrorKind::NotFound => fail(format!("{role} {} does not exist; {fix}", path.display())),
            ErrorKind::PermissionDenied => fail(format!(
                "cannot read {role} {}: permission denied; run as its owner (or root), or make it readable \
                 to this user",
                path.display()
            )),
            _ => fail(format!("cannot read {role} {}: {}", path.display(), io_text(&e))),
        })
    };

    let ca_path = dir.ca();
    let ca_pem = read(ca_path.clone(), "the CA certificate")?;
    let cas: Vec<CertificateDer<'static>> = certificates(&ca_pem)
        .map_err(|e| fail(format!("the CA certificate {} is not valid PEM: {e}", ca_path.display())))?;
    if cas.is_empty() {
        return Err(fail(format!("the CA certificate {} holds no PEM certificate", ca_path.display())));
    }
    let mut roots = RootCertStore::empty();
    let (_, refused) = roots.add_parsable_certificates(cas);
    if roots.is_empty() {
        return Err(fail(format!(
            "the CA certificate {} holds no usable certificate ({refused} refused)",
            ca_path.display()
        )));
    }

    let cert_path = dir.cert();
    let cert_pem = read(cert_path.clone(), "the client certificate")?;
    let chain = certificates(&cert_pem)
        .map_err(|e| fail(format!("the client certificate {} is not valid PEM: {e}", cert_path.display())))?;
    if chain.is_empty() {
        return Err(fail(format!("the client certificate {} holds no PEM certificate", cert_path.display())));
    }

    let key_path = dir.key();
    let key_pem = read(key_path.clone(), "the client key")?;
    if String::from_utf8_lossy(&key_pem).contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        return Err(fail(format!(
            "the client key {} is encrypted with a passphrase, which stackwatch cannot ask for; store it \
             decrypted, readable only to this user (`openssl pkey -in key.pem -out key.pem`)",
            key_path.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        let why = match e {
            pem::Error::NoItemsFound => "holds no PEM private key (PKCS#8, PKCS#1 RSA or SEC1 EC)".to_string(),
            e => format!("is not a valid PEM private key: {e}"),
        };
        fail(format!("the client key {} {why}", key_path.display()))
    })?;

    let (hostname, _) = split_port(addr);
    let server_name = ServerName::try_from(hostname.trim_start_matches('[').trim_end_matches(']').to_string())
        .map_err(|_| fail(format!("`{hostname}` is neither an IP address nor a DNS name a certificate can carry")))?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| fail(format!("no TLS protocol version available: {e}")))?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => fail(format!(
                "the client key {} does not belong to the client certificate {}; use the key made \
                 with that certificate",
                key_path.display(),
                cert_path.display()
            )),
            e => {
                fail(format!("the client key {} cannot be used with {}: {e}", key_path.display(), cert_path.display()))
            }
        })?;
    Ok(Client { config: Arc::new(config), server_name, dir: dir.clone() })
}

fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, pem::Error> {
    CertificateDer::pem_slice_iter(pem).collect()
}

/// `host:port` into its parts; a bracketed IPv6 address keeps its brackets.
pub fn split_port(addr: &str) -> (&str, Option<&str>) {
    match addr.rsplit_once(':') {
        Some((h, p)) if !p.contains(']') && (h.starts_with('[') || !h.contains(':')) => (h, Some(p)),
        _ => (addr, None),
    }
}

fn io_text(e: &std::io::Error) -> String {
    match e.kind() {
        ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// The rustls error somewhere in `chain`, if a TLS failure is what broke
/// the exchange. rustls errors travel inside `io::Error`s, whose `source()`
/// skips the payload, so each is opened with `get_ref`.
pub fn rustls_error<'a>(
    chain: impl IntoIterator<Item = &'a (dyn std::error::Error + 'static)>,
) -> Option<&'a rustls::Error> {
    chain.into_iter().find_map(|e| {
        e.downcast_ref::<rustls::Error>().or_else(|| {
            e.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|i| i.downcast_ref::<rustls::Error>())
        })
    })
}

/// Why the TLS exchange with an engine failed, and what to change. `dir`
/// names the files when known.
pub fn reason(err: &rustls::Error, host: &str, dir: Option<&CertDir>) -> String {
    let ca = dir.map(|d| format!(" in {}", d.ca().display())).unwrap_or_default();
    let cert = dir.map(|d| format!(" {}", d.cert().display())).unwrap_or_default();
    let other_dir = dir.map(|d| d.from.knob()).unwrap_or_else(|| "DOCKER_CERT_PATH".into());
    match err {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => format!(
            "certificate verify failed: the engine's certificate is not signed by the CA{ca} (unknown issuer); \
             point {other_dir} at the certificates made for this engine"
        ),
        rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext { expected, presented }) => {
            format!(
                "certificate verify failed: the engine's certificate is not valid for {} (it names {}); \
                 address the engine by a name its certificate carries, or reissue it with this one in its \
                 subjectAltName",
                expected.to_str(),
                if presented.is_empty() {
                    "no name".to_string()
                } else {
                    presented.iter().map(|p| bare_name(p)).collect::<Vec<_>>().join(", ")
                }
            )
        }
        rustls::Error::InvalidCertificate(CertificateError::NotValidForName) => {
            "certificate verify failed: the engine's certificate is not valid for this address; address the \
             engine by a name its certificate carries, or reissue it with this one in its subjectAltName"
                .into()
        }
        rustls::Error::InvalidCertificate(CertificateError::Expired | CertificateError::ExpiredContext { .. }) => {
            "certificate verify failed: the engine's certificate has expired; renew it (and check this \
              machine's clock)"
                .into()
        }
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. },
        ) => "certificate verify failed: the engine's certificate is not valid yet; check both machines' clocks".into(),
        rustls::Error::InvalidCertificate(e) => {
            format!("certificate verify failed: the engine's certificate was refused ({e})")
        }
        rustls::Error::AlertReceived(
            alert @ (AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateRequired
            | AlertDescription::CertificateUnknown
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateRevoked
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::AccessDenied),
        ) => format!(
            "the engine refused our client certificate{cert} (TLS alert: {alert:?}); it must be signed by the \
             CA the engine trusts (its --tlscacert) and be valid now; point {other_dir} at the certificates \
             made for this engine"
        ),
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            let off = match host.strip_prefix("https://") {
                Some(rest) => format!("address it as tcp://{rest} with TLS off"),
                None => format!(
                    "turn TLS off for it (unset DOCKER_TLS_VERIFY and [docker] tls_verify, or set \
                     [docker.engines.\"{host}\"] tls_verify = false)"
                ),
            };
            format!(
                "the engine did not answer in TLS (plain HTTP on this port?); use the engine's TLS port \
                 (2376), or if it really listens without TLS, {off}"
            )
        }
        e => format!("TLS with the engine failed: {e}"),
    }
}

/// `127.0.0.1` from rustls's `IpAddress(127.0.0.1)`, `h` from `DnsName("h")`.
fn bare_name(presented: &str) -> &str {
    match presented.split_once('(') {
        Some((_, rest)) => rest.trim_end_matches(')').trim_matches('"'),
        None => presented,
    }
}

/// The answer a Go TLS server (dockerd) gives to plain HTTP.
pub fn is_plain_http_refusal(text: &str) -> bool {
    text.contains("Client sent an HTTP request to an HTTPS server")
}

/// What to say when a plain `tcp://` request met a TLS engine.
pub fn needs_tls(host: &str) -> String {
    format!(
        "cannot reach the Docker engine at {host}: it expects TLS (it answered \"Client sent an HTTP request \
         to an HTTPS server\"); {}",
        needs_tls_fix(host)
    )
}

/// How to turn TLS on, for all engines or this one.
pub fn needs_tls_fix(host: &str) -> String {
    format!(
        "set DOCKER_TLS_VERIFY=1 or [docker] tls_verify = true (for this engine alone: \
         [docker.engines.\"{host}\"] tls_verify = true), and DOCKER_CERT_PATH or cert_path to the directory \
         holding {CA}, {CERT} and {KEY}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EngineConfig;
    use std::collections::HashMap;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| m.get(k).filter(|v| !v.is_empty()).cloned()
    }

    fn docker() -> DockerConfig {
        DockerConfig::default()
    }

    #[test]
    fn plain_unless_something_asks_for_tls() {
        let e = env(&[("HOME", "/root")]);
        assert_eq!(for_engine("tcp://h:2375", &docker(), &e).unwrap(), None);
        assert_eq!(for_engine("unix:///var/run/docker.sock", &docker(), &e).unwrap(), None);
        // TLS settings never apply to a socket or an explicit http://.
        let e = env(&[("HOME", "/root"), ("DOCKER_TLS_VERIFY", "1")]);
        assert_eq!(for_engine("unix:///var/run/docker.sock", &docker(), &e).unwrap(), None);
        assert_eq!(for_engine("http://h:2375", &docker(), &e).unwrap(), None);
    }

    #[test]
    fn docker_tls_verify_turns_tls_on_like_the_docker_cli() {
        let d = for_engine("tcp://h:2376", &docker(), &env(&[("HOME", "/root"), ("DOCKER_TLS_VERIFY", "1")]));
        assert_eq!(d.unwrap(), Some(CertDir { dir: "/root/.docker".into(), from: Source::Default }));
        // Any non-empty value, as with the docker CLI; empty is unset.
        let on = for_engine("tcp://h:2376", &docker(), &env(&[("HOME", "/r"), ("DOCKER_TLS_VERIFY", "0")]));
        assert!(on.unwrap().is_some());
        let off = for_engine("tcp://h:2376", &docker(), &env(&[("HOME", "/r"), ("DOCKER_TLS_VERIFY", "")]));
        assert!(off.unwrap().is_none());
        // $DOCKER_CONFIG before ~/.docker, as the CLI's config directory.
        let d = for_engine(
            "tcp://h:2376",
            &docker(),
            &env(&[("HOME", "/r"), ("DOCKER_TLS_VERIFY", "1"), ("DOCKER_CONFIG", "/cfg")]),
        );
        assert_eq!(d.unwrap().unwrap().dir, PathBuf::from("/cfg"));
    }

    #[test]
    fn https_is_always_tls() {
        let d = for_engine("https://h:2376", &docker(), &env(&[("HOME", "/root")])).unwrap().unwrap();
        assert_eq!(d.dir, PathBuf::from("/root/.docker"));
    }

    #[test]
    fn cert_path_precedence_engine_then_env_then_config_then_default() {
        let mut d = docker();
        d.tls_verify = true;
        d.cert_path = Some("/conf".into());
        let e = env(&[("HOME", "/root")]);
        assert_eq!(
            for_engine("tcp://h:2376", &d, &e).unwrap().unwrap(),
            CertDir { dir: "/conf".into(), from: Source::Config }
        );
        let e = env(&[("HOME", "/root"), ("DOCKER_CERT_PATH", "/envdir")]);
        assert_eq!(
            for_engine("tcp://h:2376", &d, &e).unwrap().unwrap(),
            CertDir { dir: "/envdir".into(), from: Source::Env }
        );
        d.engines.insert("tcp://h:2376".into(), EngineConfig { tls_verify: None, cert_path: Some("/own".into()) });
        assert_eq!(
            for_engine("tcp://h:2376", &d, &e).unwrap().unwrap(),
            CertDir { dir: "/own".into(), from: Source::Engine("tcp://h:2376".into()) }
        );
        // Another engine keeps the general setting.
        assert_eq!(for_engine("tcp://other:2376", &d, &e).unwrap().unwrap().from, Source::Env);
    }

    #[test]
    fn a_per_engine_tls_verify_beats_the_environment_both_ways() {
        let mut d = docker();
        d.engines.insert("tcp://plain:2375".into(), EngineConfig { tls_verify: Some(false), cert_path: None });
        d.engines.insert("tcp://tls:2376/".into(), EngineConfig { tls_verify: Some(true), cert_path: None });
        let e = env(&[("HOME", "/root"), ("DOCKER_TLS_VERIFY", "1")]);
        assert_eq!(for_engine("tcp://plain:2375", &d, &e).unwrap(), None);
        assert!(for_engine("tcp://other:2376", &d, &e).unwrap().is_some());
        let e = env(&[("HOME", "/root")]);
        // A trailing slash on either side still matches.
        assert!(for_engine("tcp://tls:2376", &d, &e).unwrap().is_some());
        assert_eq!(for_engine("tcp://other:2376", &d, &e).unwrap(), None);
    }

    #[test]
    fn without_home_the_fix_is_named() {
        let err = for_engine("tcp://h:2376", &docker(), &env(&[("DOCKER_TLS_VERIFY", "1")])).unwrap_err().to_string();
        assert!(err.contains("tcp://h:2376") && err.contains("DOCKER_CERT_PATH"), "{err}");
    }

    #[test]
    fn missing_directory_and_files_are_named_with_the_knob_to_turn() {
        let tmp = tempfile::tempdir().unwrap();
        let gone = CertDir { dir: tmp.path().join("nope"), from: Source::Env };
        let err = load("tcp://h:2376", "h:2376", &gone).unwrap_err().to_string();
        assert!(err.contains("tcp://h:2376") && err.contains("nope") && err.contains("does not exist"), "{err}");
        assert!(err.contains("from DOCKER_CERT_PATH") && err.contains("point DOCKER_CERT_PATH"), "{err}");

        let dir = CertDir { dir: tmp.path().to_path_buf(), from: Source::Engine("tcp://h:2376".into()) };
        let err = load("tcp://h:2376", "h:2376", &dir).unwrap_err().to_string();
        assert!(err.contains(&format!("the CA certificate {}", dir.ca().display())), "{err}");
        assert!(err.contains("[docker.engines.\"tcp://h:2376\"] cert_path"), "{err}");
        std::fs::write(dir.ca(), "junk").unwrap();
        let err = load("tcp://h:2376", "h:2376", &dir).unwrap_err().to_string();
        assert!(err.contains("holds no PEM certificate"), "{err}");
    }

    #[test]
    fn ports_split_off_names_and_addresses() {
        assert_eq!(split_port("h:2376"), ("h", Some("2376")));
        assert_eq!(split_port("[::1]:2376"), ("[::1]", Some("2376")));
        assert_eq!(split_port("[::1]"), ("[::1]", None));
        assert_eq!(split_port("h"), ("h", None));
    }

    #[test]
    fn tls_failures_read_as_their_fix() {
        let dir = CertDir { dir: "/c".into(), from: Source::Env };
        let unknown = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        let msg = reason(&unknown, "tcp://h:2376", Some(&dir));
        assert!(msg.contains("certificate verify failed") && msg.contains("/c/ca.pem"), "{msg}");
        let alert = rustls::Error::AlertReceived(AlertDescription::BadCertificate);
        assert!(reason(&alert, "tcp://h:2376", Some(&dir)).contains("refused our client certificate /c/cert.pem"));
        // Found inside the io::Error that carries it.
        let io = std::io::Error::new(ErrorKind::InvalidData, unknown);
        let chain: Vec<&(dyn std::error::Error + 'static)> = vec![&io];
        assert!(matches!(rustls_error(chain), Some(rustls::Error::InvalidCertificate(_))));
    }
}
