//! TLS from a passphrase: every node derives the same certificate authority from the
//! passphrase with a slow KDF, issues itself a certificate, and requires one from its peers.
//! No passphrase, or another one, means no handshake: such a peer cannot call an actor or
//! learn a member, and plaintext is never accepted by a node that has a passphrase.
//!
//! The CA key is Ed25519 with its 32-byte seed = PBKDF2-HMAC-SHA256(passphrase, fixed salt,
//! 200 000 iterations). Only the CA's subject and key matter to verification, so the CA
//! certificate each node builds for itself is as good as any other's. rustls with the `ring`
//! provider, TLS 1.3 only.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ED25519,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::error::{PulsingError, RuntimeErrorKind};

/// The name every node's certificate carries and every client checks.
pub const SERVER_NAME: &str = "pulsing.cluster";
/// PBKDF2 iterations: slow enough to make guessing a passphrase expensive.
pub const KDF_ITERATIONS: u32 = 200_000;
const SALT: &[u8] = b"pulsing/cluster-ca/v1";
/// PKCS#8 v1 header of an Ed25519 private key; the 32-byte seed follows.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// Both ends of TLS for one node.
#[derive(Clone)]
pub struct TlsSetup {
    /// Accepts peers (client certificates required).
    pub acceptor: TlsAcceptor,
    /// Dials peers.
    pub connector: TlsConnector,
    /// The name every node's certificate carries.
    pub server_name: ServerName<'static>,
}

fn tls_err(what: &str, e: impl std::fmt::Display) -> PulsingError {
    PulsingError::runtime(RuntimeErrorKind::Tls, format!("{what}: {e}"))
}

/// The CA seed of a passphrase. Derived once per passphrase per process (the KDF is slow on
/// purpose; tests start many nodes in one process).
pub fn ca_seed(passphrase: &str) -> [u8; 32] {
    static CACHE: OnceLock<Mutex<HashMap<String, [u8; 32]>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(s) = cache.lock().get(passphrase) {
        return *s;
    }
    let mut seed = [0u8; 32];
    ring::pbkdf2::derive(
        ring::pbkdf2::PBKDF2_HMAC_SHA256,
        NonZeroU32::new(KDF_ITERATIONS).expect("non-zero"),
        SALT,
        passphrase.as_bytes(),
        &mut seed,
    );
    cache.lock().insert(passphrase.to_string(), seed);
    seed
}

/// The bearer token that opens a node's HTTP surface to a client without the cluster's
/// certificate: HMAC-SHA256 of a fixed label keyed by the passphrase's CA seed, in hex. Anyone
/// with the passphrase can compute it (`pulsing` CLI, `httpToken`); nobody can go back from it
/// to the passphrase or the CA key.
pub fn http_token(passphrase: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &ca_seed(passphrase));
    let tag = ring::hmac::sign(&key, b"pulsing http bearer token v1");
    tag.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Build the CA from the passphrase, issue this node a certificate, and configure both sides.
pub fn setup(passphrase: &str) -> Result<TlsSetup, PulsingError> {
    if passphrase.is_empty() {
        return Err(PulsingError::runtime(
            RuntimeErrorKind::Config,
            "passphrase must not be empty",
        ));
    }
    let mut pkcs8 = ED25519_PKCS8_PREFIX.to_vec();
    pkcs8.extend_from_slice(&ca_seed(passphrase));
    let ca_key =
        KeyPair::from_pkcs8_der_and_sign_algo(&PrivatePkcs8KeyDer::from(pkcs8), &PKCS_ED25519)
            .map_err(|e| tls_err("cluster CA key", e))?;
    let mut ca =
        CertificateParams::new(Vec::<String>::new()).map_err(|e| tls_err("CA params", e))?;
    ca.distinguished_name
        .push(DnType::CommonName, "pulsing cluster CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca
        .self_signed(&ca_key)
        .map_err(|e| tls_err("CA certificate", e))?;

    let node_key = KeyPair::generate_for(&PKCS_ED25519).map_err(|e| tls_err("node key", e))?;
    let mut node = CertificateParams::new(vec![SERVER_NAME.to_string()])
        .map_err(|e| tls_err("node params", e))?;
    node.distinguished_name
        .push(DnType::CommonName, "pulsing node");
    node.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let issuer = Issuer::new(ca, ca_key);
    let node_cert = node
        .signed_by(&node_key, &issuer)
        .map_err(|e| tls_err("node certificate", e))?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    roots
        .add(ca_cert.der().clone())
        .map_err(|e| tls_err("trust anchor", e))?;
    let roots = Arc::new(roots);
    let chain: Vec<CertificateDer<'static>> = vec![node_cert.der().clone()];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(node_key.serialize_der()));

    let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
        .build()
        .map_err(|e| tls_err("client verifier", e))?;
    let server = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| tls_err("server config", e))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain.clone(), key.clone_key())
        .map_err(|e| tls_err("server certificate", e))?;
    let client = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| tls_err("client config", e))?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| tls_err("client certificate", e))?;
    Ok(TlsSetup {
        acceptor: TlsAcceptor::from(Arc::new(server)),
        connector: TlsConnector::from(Arc::new(client)),
        server_name: ServerName::try_from(SERVER_NAME).map_err(|e| tls_err("server name", e))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// Known answers, computed outside this code (Python's `hashlib.pbkdf2_hmac("sha256",
    /// passphrase, b"pulsing/cluster-ca/v1", 200_000)`, and `hmac` over the token label).
    /// Every node of a cluster must derive the same CA: a change of the KDF, its iterations
    /// or its salt would split a cluster whose nodes run two versions.
    #[test]
    fn the_kdf_and_the_http_token_match_known_answers() {
        assert_eq!(
            hex(&ca_seed("kat: s3cret")),
            "c6d6dd213eca5085d4685c687646a1c32543fe9c1a7a057aaafbd1e0c4a2ed55"
        );
        assert_eq!(
            http_token("kat: s3cret"),
            "b7270382d275b82f6c442000fdf2b8a45b0015dc48d30dc77addc3339d1542d2"
        );
    }

    #[test]
    fn the_same_passphrase_gives_the_same_ca_and_another_does_not() {
        assert_eq!(ca_seed("s3cret"), ca_seed("s3cret"));
        assert_ne!(ca_seed("s3cret"), ca_seed("s3cret!"));
        assert!(setup("s3cret").is_ok());
        assert_eq!(
            setup("").err().and_then(|e| e.kind()),
            Some(RuntimeErrorKind::Config)
        );
    }
}
