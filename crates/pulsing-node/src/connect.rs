//! `connect`: a client-mode system (`Connect` in TypeScript) and what only a client has:
//! its gateways.

use std::time::Duration;

use napi::bindgen_prelude::*;
use napi_derive::napi;
use pulsing_actor::connect::{Connect, ConnectOptions};

use crate::convert::{to_wire, JsWireError};
use crate::system::NativeSystem;

/// How a client connects.
#[napi(object)]
pub struct JsConnectConfig {
    /// Gateway addresses (`host:port`), tried in order.
    pub gateways: Vec<String>,
    /// The cluster's passphrase (mutual TLS).
    pub passphrase: Option<String>,
    /// How long connecting may take, all gateways together.
    pub connect_timeout_ms: Option<u32>,
    /// Timeout of the core's own calls through this client.
    pub default_timeout_ms: Option<u32>,
}

/// Connect to the first gateway that answers. Resolves to a client-mode system, or to the
/// typed error that prevented it.
#[napi]
pub async fn connect(config: JsConnectConfig) -> Either<NativeSystem, JsWireError> {
    let d = ConnectOptions::default();
    let ms = |v: Option<u32>, d: Duration| v.map(|v| Duration::from_millis(v.into())).unwrap_or(d);
    let opts = ConnectOptions {
        passphrase: config.passphrase,
        connect_timeout: ms(config.connect_timeout_ms, d.connect_timeout),
        call_timeout: ms(config.default_timeout_ms, d.call_timeout),
    };
    match Connect::with_options(config.gateways, opts).await {
        Ok(c) => Either::A(NativeSystem {
            inner: c.into_system(),
        }),
        Err(e) => Either::B(to_wire(&e)),
    }
}

#[napi]
impl NativeSystem {
    /// A client's gateway in use (`null` between a failure and the next call, or for a node).
    #[napi]
    pub fn gateway(&self) -> Option<String> {
        self.inner.cluster()?.gateway().map(|(_, addr)| addr)
    }

    /// A client's gateway addresses, in the order they are tried.
    #[napi]
    pub fn gateways(&self) -> Vec<String> {
        self.inner
            .cluster()
            .map(|n| n.gateways())
            .unwrap_or_default()
    }

    /// Replace a client's gateways with the cluster's live members; resolves to the new
    /// list, or to the typed error.
    #[napi]
    pub async fn refresh_gateways(&self, timeout_ms: u32) -> Either<Vec<String>, JsWireError> {
        let node = match self.node() {
            Ok(n) => n.clone(),
            Err(e) => {
                return Either::B(to_wire(&pulsing_actor::error::PulsingError::runtime(
                    pulsing_actor::error::RuntimeErrorKind::Config,
                    e.reason.clone(),
                )))
            }
        };
        match node
            .refresh_gateways(Duration::from_millis(timeout_ms.into()))
            .await
        {
            Ok(list) => Either::A(list),
            Err(e) => Either::B(to_wire(&e)),
        }
    }
}
