//! Rust-side local ask and tell through a mailbox (no JS, no network).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pulsing_actor::prelude::*;

struct Echo;

#[async_trait]
impl Actor for Echo {
    async fn receive(&mut self, msg: Message, _ctx: &mut ActorContext) -> anyhow::Result<Message> {
        Ok(msg)
    }
}

fn local(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (system, echo) = rt.block_on(async {
        let system = ActorSystem::builder().build().await.unwrap();
        let echo = system.spawn_named("bench/echo", Echo).await.unwrap();
        (system, echo)
    });
    let mut g = c.benchmark_group("local");
    g.throughput(Throughput::Elements(1));
    g.bench_function("ask_u64", |b| {
        b.to_async(&rt)
            .iter(|| async { echo.ask::<u64, u64>(7).await.unwrap() })
    });
    g.bench_function("tell_u64", |b| {
        b.to_async(&rt)
            .iter(|| async { echo.tell(7u64).await.unwrap() })
    });
    g.bench_function("pack_unpack_u64", |b| {
        b.iter(|| Message::pack(&7u64).unwrap().unpack::<u64>().unwrap())
    });
    g.finish();
    rt.block_on(system.shutdown()).unwrap();
}

criterion_group!(benches, local);
criterion_main!(benches);
