//! HTTP on a node with a passphrase: over mutual TLS with the cluster's certificate a request
//! is served as it is (the handshake proved the client); over plain TCP it needs the bearer
//! token, and without it the answer is 401 and nothing else.

mod common;

use std::time::Duration;

use common::fast;
use pulsing_actor::prelude::*;
use pulsing_actor::transport::tls;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

const SECRET: &str = "https secret";

/// Send `GET path` (with `extra` header lines) and read the whole answer (the request asks
/// the server to close).
async fn get<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, path: &str, extra: &str) -> String {
    let req = format!("GET {path} HTTP/1.1\r\nHost: node\r\n{extra}Connection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("an answer within 10 s")
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_the_cluster_certificate_is_served_plain_http_needs_the_token() {
    let mut cfg = fast(vec![]);
    cfg.passphrase = Some(SECRET.into());
    let node = ActorSystem::builder().cluster(cfg).build().await.unwrap();
    let addr = node.addr().unwrap().to_string();

    // Mutual TLS with a certificate from the same passphrase, no token: served.
    let ours = tls::setup(SECRET).unwrap();
    let tcp = TcpStream::connect(&addr).await.unwrap();
    let s = ours
        .connector
        .connect(ours.server_name.clone(), tcp)
        .await
        .expect("the handshake with the cluster's certificate");
    let answer = get(s, "/health", "").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.contains(&node.node_id().to_string()),
        "its own health: {answer}"
    );

    // A certificate from another passphrase: no handshake, so no request at all.
    let theirs = tls::setup("another secret").unwrap();
    let tcp = TcpStream::connect(&addr).await.unwrap();
    let refused = match theirs
        .connector
        .connect(theirs.server_name.clone(), tcp)
        .await
    {
        Err(_) => true,
        // TLS 1.3: the client may finish first and learn of the refusal on its first read.
        Ok(s) => get(s, "/health", "").await.is_empty(),
    };
    assert!(refused, "another cluster's certificate is refused");

    // Plain HTTP: 401 without the token, 200 with it.
    let plain = get(TcpStream::connect(&addr).await.unwrap(), "/health", "").await;
    assert!(plain.starts_with("HTTP/1.1 401"), "{plain}");
    assert!(plain.ends_with(r#"{"error":"unauthorized"}"#), "{plain}");
    let token = format!("Authorization: Bearer {}\r\n", tls::http_token(SECRET));
    let with = get(TcpStream::connect(&addr).await.unwrap(), "/health", &token).await;
    assert!(with.starts_with("HTTP/1.1 200"), "{with}");
    node.shutdown().await.unwrap();
}
