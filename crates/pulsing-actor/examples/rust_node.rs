//! A Rust node in a cluster with TypeScript nodes.
//!
//! It hosts `services/calc`, which TypeScript calls like any actor (`await calc.mul(6, 7)`),
//! and it calls a TypeScript actor back. Usage:
//! `rust_node <seed host:port> [<name of a TS actor to greet>]`. Prints one line of JSON
//! when ready and one per result.

use std::time::Duration;

use pulsing_actor::prelude::*;

/// What TypeScript sees as a plain object `{ name, version, tags }`.
#[derive(Serialize, Deserialize)]
struct Info {
    name: String,
    version: u32,
    tags: Vec<String>,
}

struct Calc;

#[async_trait]
impl Actor for Calc {
    async fn receive(&mut self, msg: Message, _ctx: &mut ActorContext) -> anyhow::Result<Message> {
        // TypeScript proxies send `[method, args]`: read the method, then the arguments
        // with the types that method takes.
        let (method, _): (String, serde::de::IgnoredAny) = msg.unpack()?;
        match method.as_str() {
            "mul" => {
                let (_, (a, b)): (String, (i64, i64)) = msg.unpack()?;
                Message::msgpack(&(a * b))
            }
            "info" => Message::msgpack(&Info {
                name: "calc".into(),
                version: 1,
                tags: vec!["rust".into(), "serde".into()],
            }),
            "sum" => {
                let (_, (xs,)): (String, (Vec<i64>,)) = msg.unpack()?;
                Message::msgpack(&xs.iter().sum::<i64>())
            }
            other => Err(PulsingError::Unsupported {
                operation: format!("services/calc has no method {other}()"),
            }
            .into()),
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut argv = std::env::args().skip(1);
    let seed = argv
        .next()
        .expect("usage: rust_node <seed> [ts actor name]");
    let greet = argv.next();
    let system = ActorSystem::builder()
        .addr("127.0.0.1:0")
        .seeds([seed])
        .build()
        .await?;
    system.spawn_named("services/calc", Calc).await?;
    println!(
        r#"{{"addr":"{}","nodeId":"{}"}}"#,
        system.addr().unwrap_or(""),
        system.node_id()
    );
    if let Some(name) = greet {
        // Wait for the TS actor's name to arrive by gossip, then call it.
        let target = loop {
            match system.resolve(&name).await {
                Ok(r) => break r,
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        let reply: String = target.call("greet", ("rust",)).await?;
        let count: i64 = target.call("count", ()).await?; // `()` = no arguments
        println!(r#"{{"greeted":{reply:?},"count":{count}}}"#);
    }
    // Serve until killed.
    futures::future::pending::<()>().await;
    Ok(())
}
