//! wss:// to a server with `--tls-cert`/`--tls-key`: a self-signed certificate works once the
//! client trusts it (`Config::ca_cert`, the client's `--ca-cert`), and anything else is
//! refused with a message that says what to do.

use std::path::Path;
use std::time::Duration;

use mesh::harness::wait_for;
use mesh::{Config, Event, Mesh};

const TIMEOUT: Duration = Duration::from_secs(20);

/// A self-signed certificate for 127.0.0.1 / localhost, written as PEM files into `dir`;
/// returns (cert path, key path).
fn self_signed(dir: &Path, tag: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .expect("rcgen");
    let cert = dir.join(format!("{tag}-cert.pem"));
    let key = dir.join(format!("{tag}-key.pem"));
    std::fs::write(&cert, certified.cert.pem()).expect("write cert");
    std::fs::write(&key, certified.signing_key.serialize_pem()).expect("write key");
    (cert, key)
}

async fn tls_server(cert: &Path, key: &Path) -> server::RunningServer {
    let mut cfg = server::Config::ephemeral();
    cfg.tls_cert = Some(cert.to_owned());
    cfg.tls_key = Some(key.to_owned());
    server::spawn(cfg).await.expect("TLS server starts")
}

/// What happens when a mesh connects to `url` trusting `ca`: the `Welcome`'s peer id, or
/// the disconnect reason.
async fn connect(url: &str, ca: Option<&Path>) -> Result<u32, String> {
    let mut config = Config::new(url, "tls");
    config.ca_cert = ca.map(Path::to_owned);
    let mut mesh = Mesh::start_on(&tokio::runtime::Handle::current(), config).map_err(|e| e.to_string())?;
    let outcome = wait_for(&mut mesh, TIMEOUT, "Welcome", |e| match e {
        Event::Welcome { peer_id, .. } => Some(Ok(*peer_id)),
        Event::Disconnected { reason } => Some(Err(reason.clone())),
        _ => None,
    })
    .await
    .map_err(|e| e.to_string())?;
    mesh.send(mesh::Command::Shutdown);
    outcome
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_self_signed_certificate_trusted_with_ca_cert() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (cert, key) = self_signed(dir.path(), "server");
    let server = tls_server(&cert, &key).await;
    let url = server.ws_url();
    assert!(url.starts_with("wss://"), "{url}");
    let id = connect(&url, Some(&cert)).await.expect("a trusted self-signed certificate works");
    assert!(id > 0);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_wrong_certificate_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (cert, key) = self_signed(dir.path(), "server");
    let (other, _) = self_signed(dir.path(), "other");
    let server = tls_server(&cert, &key).await;
    let url = server.ws_url();

    // Trusting another certificate: refused.
    let reason = connect(&url, Some(&other)).await.expect_err("a certificate nobody trusts must be refused");
    eprintln!("refused: {reason}");
    assert!(reason.contains("certificate") && reason.contains("--ca-cert"), "unclear message: {reason}");
    // Trusting nothing extra (system roots only): refused the same way.
    let reason = connect(&url, None).await.expect_err("a self-signed certificate is not in the system roots");
    assert!(reason.contains("certificate") && reason.contains("--ca-cert"), "unclear message: {reason}");
    // A CA file that is not PEM: a message naming the file.
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate").expect("write");
    let reason = connect(&url, Some(&junk)).await.expect_err("junk CA file");
    assert!(reason.contains("junk.pem"), "unclear message: {reason}");
    // The server still serves plain-text clients nothing: ws:// to the TLS port fails.
    let plain = url.replacen("wss://", "ws://", 1);
    assert!(connect(&plain, None).await.is_err());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_bad_key_file_stops_the_server_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (cert, _) = self_signed(dir.path(), "server");
    let missing = dir.path().join("missing-key.pem");
    let mut cfg = server::Config::ephemeral();
    cfg.tls_cert = Some(cert);
    cfg.tls_key = Some(missing);
    let err = server::spawn(cfg).await.expect_err("a missing key must stop the server");
    let text = err.to_string();
    assert!(text.contains("missing-key.pem"), "{text}");
}
