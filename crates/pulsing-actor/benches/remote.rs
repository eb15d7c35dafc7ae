//! Remote ask round trip between two nodes on loopback (two systems in one process, real
//! sockets): plain TCP and mutual TLS, next to a raw tokio TCP echo of the same size measured
//! in the same run (the baseline the remote path is held to).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pulsing_actor::prelude::*;

struct Echo;

#[async_trait]
impl Actor for Echo {
    async fn receive(&mut self, msg: Message, _ctx: &mut ActorContext) -> anyhow::Result<Message> {
        Ok(msg)
    }
}

async fn pair(passphrase: Option<&str>) -> (ActorSystem, ActorSystem, ActorRef) {
    let mut cfg = ClusterConfig::new("127.0.0.1:0");
    cfg.passphrase = passphrase.map(str::to_string);
    let a = ActorSystem::builder()
        .cluster(cfg.clone())
        .build()
        .await
        .unwrap();
    cfg.seeds = vec![a.addr().unwrap().to_string()];
    let b = ActorSystem::builder().cluster(cfg).build().await.unwrap();
    b.spawn_named("echo", Echo).await.unwrap();
    let r = loop {
        if let Ok(r) = a.resolve("echo").await {
            break r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    (a, b, r)
}

/// A raw tokio echo on loopback: a task echoing 16-byte messages, and a client that sends
/// one and reads it back.
async fn raw_echo() -> tokio::net::TcpStream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        s.set_nodelay(true).unwrap();
        let mut buf = [0u8; 16];
        while s.read_exact(&mut buf).await.is_ok() {
            if s.write_all(&buf).await.is_err() {
                break;
            }
        }
    });
    let s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.set_nodelay(true).unwrap();
    s
}

fn remote(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("remote");
    g.throughput(Throughput::Elements(1));
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let sock = tokio::sync::Mutex::new(rt.block_on(raw_echo()));
        g.bench_function("raw_tokio_echo", |bench| {
            bench.to_async(&rt).iter(|| async {
                let mut s = sock.lock().await;
                s.write_all(&[7u8; 16]).await.unwrap();
                let mut back = [0u8; 16];
                s.read_exact(&mut back).await.unwrap();
                back
            })
        });
    }
    for (label, pass) in [("ask_plain", None), ("ask_tls", Some("bench"))] {
        let (a, b, r) = rt.block_on(pair(pass));
        g.bench_function(label, |bench| {
            bench
                .to_async(&rt)
                .iter(|| async { r.ask::<u64, u64>(7).await.unwrap() })
        });
        rt.block_on(async {
            a.shutdown().await.unwrap();
            b.shutdown().await.unwrap();
        });
    }
    g.finish();
}

criterion_group!(benches, remote);
criterion_main!(benches);
