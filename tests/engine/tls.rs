//! TLS to a `tcp://` engine, against a real one: a private `dockerd
//! --tlsverify` with a throwaway CA, server certificate (for 127.0.0.1) and
//! client certificate made by `openssl`, listening on TCP and on a unix
//! socket of its own.
//!
//! Like the second engine in multi_engine.rs it runs in a network namespace
//! of its own (`unshare --net`): a daemon started with `--bridge=none` in
//! the host's namespace would delete the shared engine's `docker0`. Its
//! TCP port therefore exists only in that namespace, so stackwatch is run
//! there too (`nsenter --net`); the unix socket, a file, is reachable from
//! anywhere and is how the test sets the engine up.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::common::*;

const PORT: u16 = 2376;

fn openssl(args: &[&str], dir: &Path) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("run openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A throwaway PKI: the engine's CA and a second, unrelated one; a server
/// certificate for 127.0.0.1; client certificates from each CA; and
/// certificate directories laid out as the docker CLI expects them.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::Builder::new().prefix("swtls").tempdir().unwrap();
        let d = dir.path();
        let key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
        for ca in ["ca", "otherca"] {
            let (k, crt, subj) = (format!("{ca}-key.pem"), format!("{ca}.pem"), format!("/CN=stackwatch test {ca}"));
            let mut args = vec!["req", "-x509"];
            args.extend(key);
            args.extend(["-keyout", &k, "-out", &crt, "-days", "2", "-subj", &subj]);
            args.extend(["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"]);
            openssl(&args, d);
        }
        let issue = |name: &str, ca: &str, ext: &str| {
            let (k, csr, crt) = (format!("{name}-key.pem"), format!("{name}.csr"), format!("{name}-cert.pem"));
            let mut args = vec!["req", "-new"];
            args.extend(key);
            args.extend(["-keyout", &k, "-out", &csr, "-subj", "/CN=stackwatch test"]);
            openssl(&args, d);
            std::fs::write(d.join(format!("{name}.ext")), ext).unwrap();
            let (ca_pem, ca_key, extfile) = (format!("{ca}.pem"), format!("{ca}-key.pem"), format!("{name}.ext"));
            openssl(
                &[
                    "x509",
                    "-req",
                    "-in",
                    &csr,
                    "-CA",
                    &ca_pem,
                    "-CAkey",
                    &ca_key,
                    "-CAcreateserial",
                    "-out",
                    &crt,
                    "-days",
                    "2",
                    "-extfile",
                    &extfile,
                ],
                d,
            );
        };
        issue("server", "ca", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
        issue("client", "ca", "extendedKeyUsage=clientAuth\n");
        issue("otherclient", "otherca", "extendedKeyUsage=clientAuth\n");
        let lay = |sub: &str, ca: &str, client: &str, with_key: bool| {
            let s = d.join(sub);
            std::fs::create_dir(&s).unwrap();
            std::fs::copy(d.join(format!("{ca}.pem")), s.join("ca.pem")).unwrap();
            std::fs::copy(d.join(format!("{client}-cert.pem")), s.join("cert.pem")).unwrap();
            if with_key {
                std::fs::copy(d.join(format!("{client}-key.pem")), s.join("key.pem")).unwrap();
            }
        };
        lay("good", "ca", "client", true);
        lay("wrongca", "otherca", "client", true);
        lay("strangerclient", "ca", "otherclient", true);
        lay("nokey", "ca", "client", false);
        Pki { dir }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn certs(&self, sub: &str) -> String {
        self.path(sub).to_str().unwrap().to_string()
    }
}

/// The private TLS engine, listening on TCP (`--tlsverify`, the `pki`'s
/// server certificate) in its network namespace, whose loopback is brought
/// up for it, and on its unix socket; stopped (and its mounts removed) on
/// drop, also when the test fails.
fn tls_engine(pki: &Pki) -> PrivateEngine {
    PrivateEngine::builder("TLS", "swtle")
        .own_engine_id()
        .loopback_up()
        .arg(format!("--host=tcp://127.0.0.1:{PORT}"))
        .arg("--tlsverify")
        .arg(format!("--tlscacert={}", pki.path("ca.pem").display()))
        .arg(format!("--tlscert={}", pki.path("server-cert.pem").display()))
        .arg(format!("--tlskey={}", pki.path("server-key.pem").display()))
        .start()
}

/// stackwatch in the engine's network namespace, with none of the caller's
/// Docker variables; `env` sets the ones a case needs.
fn stackwatch(engine: &PrivateEngine, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = engine.in_netns(env!("CARGO_BIN_EXE_stackwatch"));
    cmd.args(args);
    for v in ["DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_CONFIG", "STACKWATCH_CONFIG"] {
        cmd.env_remove(v);
    }
    cmd.envs(env.iter().copied()).output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

fn passes(db: &Path) -> i64 {
    open(db).query_row("SELECT count(*) FROM passes", [], |r| r.get(0)).unwrap()
}

/// A failed run: exit 1, one line on stderr containing every `needle`.
fn fails_with(out: &Output, needles: &[&str]) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    for n in needles {
        assert!(err.contains(n), "missing `{n}` in: {err}");
    }
    err
}

#[test]
fn a_tls_engine_is_collected_over_tls_and_every_tls_mistake_is_one_clear_line() {
    if !engine_available()
        || !tool_available("openssl", &["version"], "openssl")
        || !PrivateEngine::possible(&["nsenter", "ip"])
    {
        return;
    }
    let img = image();
    let pki = Pki::new();
    // Starting it asserts that the shared engine's docker0 is still there.
    let engine = tls_engine(&pki);

    // The test image, without a registry, and a container with a volume
    // holding some bytes, so `system df` (a raw request) has a size to report.
    engine.load(img);
    let project = unique("tls");
    let volume = unique("tlsvol");
    let name = unique("tlsc");
    engine.docker(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        &name,
        "--label",
        &format!("com.docker.compose.project={project}"),
        "--label",
        "com.docker.compose.service=svc",
        "-v",
        &format!("{volume}:/data"),
        img,
        "sh",
        "-c",
        "head -c 300000 /dev/zero > /data/blob && sleep 3600",
    ]);
    let engine_id = engine.id();
    let shared_id = docker(&["info", "--format", "{{.ID}}"]);
    assert_ne!(engine_id, shared_id, "the TLS engine must have its own ID:\n{}", engine.log());
    wait_for("the container to write its volume", Duration::from_secs(20), || {
        let out = engine.docker(&["exec", &name, "sh", "-c", "wc -c < /data/blob"]);
        (out.trim() == "300000").then_some(())
    });

    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("history.db");
    let db_s = db.to_str().unwrap();
    let tcp = format!("tcp://127.0.0.1:{PORT}");
    let good = pki.certs("good");

    // 1. DOCKER_TLS_VERIFY + DOCKER_CERT_PATH, as for the docker CLI; sizes
    // measured now, through the engine's system df over TLS.
    let out = stackwatch(
        &engine,
        &["collect", "--db", db_s, "--docker-host", &tcp, "--sizes"],
        &[("DOCKER_TLS_VERIFY", "1"), ("DOCKER_CERT_PATH", &good)],
    );
    assert!(out.status.success(), "collect over TLS failed: {}\n{}", stderr(&out), engine.log());
    let conn = open(&db);
    let (host_engine, api): (String, String) =
        conn.query_row("SELECT engine_id, api_version FROM pass_log", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    assert_eq!(host_engine, engine_id);
    assert!(api.starts_with("1."), "{api}");
    let row: (String, String) = conn
        .query_row("SELECT stack, engine_id FROM latest_containers WHERE container = ?1", [&name], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(row, (project.clone(), engine_id.clone()));
    let (size, method): (Option<i64>, Option<String>) = conn
        .query_row("SELECT size_bytes, size_method FROM latest_volumes WHERE volume = ?1", [&volume], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(method.as_deref(), Some("engine"), "sizes of a tcp:// engine come from its system df");
    assert!(size.is_some_and(|s| s >= 300_000), "volume size over TLS: {size:?}");
    drop(conn);

    // 2. The config alone: a per-engine table turns TLS on and names the
    // directory, beating a wrong DOCKER_CERT_PATH; https:// is TLS too.
    let cfg = work.path().join("stackwatch.toml");
    std::fs::write(
        &cfg,
        format!(
            "[docker]\nhost = [\"{tcp}\"]\n\n[docker.engines.\"{tcp}\"]\ntls_verify = true\ncert_path = \"{good}\"\n"
        ),
    )
    .unwrap();
    let out = stackwatch(
        &engine,
        &["collect", "--db", db_s, "--config", cfg.to_str().unwrap()],
        &[("DOCKER_CERT_PATH", &pki.certs("wrongca"))],
    );
    assert!(out.status.success(), "collect with the config's TLS settings failed: {}", stderr(&out));
    let out = stackwatch(
        &engine,
        &["collect", "--db", db_s, "--docker-host", &format!("https://127.0.0.1:{PORT}")],
        &[("DOCKER_CERT_PATH", &good)],
    );
    assert!(out.status.success(), "collect over https:// failed: {}", stderr(&out));
    assert_eq!(passes(&db), 3);

    // 3. Each mistake: exit 1, one line naming the engine and the fix, and
    // the history untouched (an existing one keeps its passes, a new one is
    // not created).
    let fresh = work.path().join("fresh.db");
    let fresh_s = fresh.to_str().unwrap();
    for db_arg in [db_s, fresh_s] {
        let out = stackwatch(&engine, &["collect", "--db", db_arg, "--docker-host", &tcp], &[]);
        fails_with(&out, &[&tcp, "it expects TLS", "DOCKER_TLS_VERIFY=1", "tls_verify"]);
    }
    let wrong = pki.certs("wrongca");
    let out = stackwatch(
        &engine,
        &["collect", "--db", fresh_s, "--docker-host", &tcp],
        &[("DOCKER_TLS_VERIFY", "1"), ("DOCKER_CERT_PATH", &wrong)],
    );
    fails_with(
        &out,
        &[&tcp, "certificate verify failed", "unknown issuer", &format!("{wrong}/ca.pem"), "DOCKER_CERT_PATH"],
    );
    let out = stackwatch(
        &engine,
        &["collect", "--db", fresh_s, "--docker-host", &tcp],
        &[("DOCKER_TLS_VERIFY", "1"), ("DOCKER_CERT_PATH", &pki.certs("strangerclient"))],
    );
    fails_with(&out, &[&tcp, "refused our client certificate", "strangerclient/cert.pem"]);
    let nokey = pki.certs("nokey");
    let out = stackwatch(
        &engine,
        &["collect", "--db", fresh_s, "--docker-host", &tcp],
        &[("DOCKER_TLS_VERIFY", "1"), ("DOCKER_CERT_PATH", &nokey)],
    );
    fails_with(&out, &[&tcp, &format!("the client key {nokey}/key.pem does not exist"), "from DOCKER_CERT_PATH"]);
    let out = stackwatch(
        &engine,
        &["collect", "--db", fresh_s, "--docker-host", &format!("tcp://127.0.0.1:{}", PORT + 1)],
        &[("DOCKER_TLS_VERIFY", "1"), ("DOCKER_CERT_PATH", &good)],
    );
    fails_with(&out, &[&format!("tcp://127.0.0.1:{}", PORT + 1), "connection refused"]);
    assert!(!fresh.exists(), "a failed run must not create the database");
    assert_eq!(passes(&db), 3, "a failed run must not touch the history");

    // 4. doctor says TLS is in use, and from where.
    let out = stackwatch(
        &engine,
        &["doctor", "--db", db_s, "--docker-host", &tcp],
        &[("DOCKER_TLS_VERIFY", "1"), ("DOCKER_CERT_PATH", &good)],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let tls_line = text.lines().find(|l| l.contains(" tls: ")).unwrap_or_else(|| panic!("no tls line:\n{text}"));
    assert!(tls_line.starts_with("ok") && tls_line.contains(&format!("{good}/ca.pem")), "{tls_line}");
    assert!(text.lines().any(|l| l.starts_with("ok") && l.contains("answers over TLS")), "{text}");

    drop(engine);
}

/// A TLS client at a port that answers plain HTTP, and client keys that
/// cannot be used (garbage, encrypted, another certificate's, unreadable
/// to this user): each named before anything is written. No engine needed:
/// a stand-in server in this process, on loopback.
#[test]
fn tls_to_a_plain_port_and_unusable_keys_are_named() {
    if !tool_available("openssl", &["version"], "openssl") {
        return;
    }
    let pki = Pki::new();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        // What a plain HTTP server says to a TLS ClientHello.
        if let Ok((mut s, _)) = listener.accept() {
            use std::io::{Read, Write};
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n400 Bad Request");
        }
    });
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("history.db");
    let host = format!("https://127.0.0.1:{port}");
    let out = bin()
        .args(["collect", "--db", db.to_str().unwrap(), "--docker-host", &host])
        .env_remove("DOCKER_TLS_VERIFY")
        .env("DOCKER_CERT_PATH", pki.certs("good"))
        .output()
        .unwrap();
    fails_with(&out, &[&host, "did not answer in TLS", &format!("tcp://127.0.0.1:{port}")]);
    server.join().unwrap();
    assert!(!db.exists());

    // Keys that cannot be used: not a key, encrypted, another certificate's.
    let bad = pki.path("badkey");
    std::fs::create_dir(&bad).unwrap();
    for f in ["ca.pem", "cert.pem"] {
        std::fs::copy(pki.path("good").join(f), bad.join(f)).unwrap();
    }
    let key = bad.join("key.pem");
    let cases: [(&[u8], &str); 3] = [
        (b"not a key\n", "holds no PEM private key"),
        (
            b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n",
            "is encrypted with a passphrase",
        ),
        (&std::fs::read(pki.path("otherclient-key.pem")).unwrap(), "does not belong to the client certificate"),
    ];
    for (content, says) in cases {
        std::fs::write(&key, content).unwrap();
        let out = bin()
            .args(["collect", "--db", db.to_str().unwrap(), "--docker-host", "tcp://127.0.0.1:1"])
            .env("DOCKER_TLS_VERIFY", "1")
            .env("DOCKER_CERT_PATH", &bad)
            .output()
            .unwrap();
        fails_with(&out, &["tcp://127.0.0.1:1", &format!("the client key {}", key.display()), says]);
    }
    assert!(!db.exists());

    if !rustix::process::geteuid().is_root() {
        skipping("the unreadable-key case needs root to run as another user");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    // A database directory of its own: root's lock file from above is not
    // the other user's to open.
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("history.db");
    std::fs::set_permissions(work.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    for p in [pki.dir.path(), &pki.path("good")] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    for f in ["ca.pem", "cert.pem"] {
        std::fs::set_permissions(pki.path("good").join(f), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    std::fs::set_permissions(pki.path("good").join("key.pem"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", env!("CARGO_BIN_EXE_stackwatch")])
        .args(["collect", "--db", db.to_str().unwrap(), "--docker-host", "tcp://127.0.0.1:1"])
        .env("DOCKER_TLS_VERIFY", "1")
        .env("DOCKER_CERT_PATH", pki.certs("good"))
        .output()
        .unwrap();
    let key = pki.path("good").join("key.pem");
    fails_with(&out, &[&format!("cannot read the client key {}: permission denied", key.display())]);
    assert!(!db.exists());
}
