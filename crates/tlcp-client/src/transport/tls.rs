//! TLS with rustls (ring provider): trust roots, the explicitly dangerous "accept any
//! certificate" verifier, SNI and ALPN `http/1.1`.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::net::StampedTcp;
use super::{TlsConfig, TransportError};

/// Builds the rustls client configuration once, from the user's settings.
pub(crate) fn client_config(cfg: &TlsConfig) -> Result<Arc<ClientConfig>, TransportError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TransportError::InvalidConfig(format!("TLS: {e}")))?;
    let mut config = if cfg.danger_accept_invalid_certs {
        tracing::warn!(
            "TLS certificate verification is DISABLED (danger_accept_invalid_certs): \
             connections are encrypted but the server is not authenticated"
        );
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert {
                algorithms: provider.signature_verification_algorithms,
            }))
            .with_no_client_auth()
    } else {
        builder
            .with_root_certificates(root_store(cfg)?)
            .with_no_client_auth()
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.enable_sni = cfg.sni;
    Ok(Arc::new(config))
}

fn root_store(cfg: &TlsConfig) -> Result<RootCertStore, TransportError> {
    let mut roots = RootCertStore::empty();
    if cfg.webpki_roots {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    if cfg.native_roots {
        add_native_roots(&mut roots)?;
    }
    for ca in cfg.custom_cas() {
        roots
            .add(ca.clone())
            .map_err(|e| TransportError::InvalidConfig(format!("CA certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(TransportError::InvalidConfig(
            "TLS: no trusted root certificate (webpki roots off, no native roots, no custom CA)"
                .to_owned(),
        ));
    }
    Ok(roots)
}

#[cfg(feature = "native-roots")]
fn add_native_roots(roots: &mut RootCertStore) -> Result<(), TransportError> {
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        tracing::warn!(error = %e, "error loading a native root certificate");
    }
    let (added, ignored) = roots.add_parsable_certificates(found.certs);
    tracing::debug!(added, ignored, "native root certificates loaded");
    if added == 0 {
        return Err(TransportError::InvalidConfig(
            "TLS: no usable certificate in the system store".to_owned(),
        ));
    }
    Ok(())
}

#[cfg(not(feature = "native-roots"))]
fn add_native_roots(_: &mut RootCertStore) -> Result<(), TransportError> {
    Err(TransportError::InvalidConfig(
        "TLS: native_roots needs the `native-roots` feature of tlcp-client".to_owned(),
    ))
}

/// Runs the TLS handshake over `tcp` for `host`.
pub(crate) async fn handshake(
    config: &Arc<ClientConfig>,
    host: &str,
    tcp: StampedTcp,
) -> Result<TlsStream<StampedTcp>, TransportError> {
    let name = ServerName::try_from(host.to_owned()).map_err(|_| {
        TransportError::InvalidAddress(format!("{host:?} is not a valid TLS server name"))
    })?;
    let stream = TlsConnector::from(config.clone())
        .connect(name, tcp)
        .await
        .map_err(|source| TransportError::Tls {
            host: host.to_owned(),
            source,
        })?;
    tracing::debug!(
        host,
        alpn = ?stream.get_ref().1.alpn_protocol().map(String::from_utf8_lossy),
        version = ?stream.get_ref().1.protocol_version(),
        "TLS established"
    );
    Ok(stream)
}

/// Accepts any certificate, but still checks the handshake signatures (so the peer holds
/// the key of the certificate it showed; it just is not known to be the server).
#[derive(Debug)]
struct AcceptAnyCert {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
