//! TLS (`wss://`) for hubs that are not behind a TLS-terminating proxy.
//!
//! Hubs here use private certificate authorities, so a client trusts exactly the root
//! certificates it is given ([`TrustedRoots`]) and nothing else: no operating-system or bundled
//! web roots, which would make any public CA able to impersonate a hub. The hub serves the
//! certificate chain and key of a [`ServerTls`].
//!
//! Both types exist in every build so that callers need no `cfg` of their own; without the
//! `tls` cargo feature their constructors return [`Error::TlsUnavailable`], as does a
//! `wss://` URL. With it, TLS is rustls with the `ring` provider (TLS 1.3 and 1.2, rustls'
//! safe defaults), and certificates and keys are read from PEM.
//!
//! TLS sits below WebSocket: the sync protocol's own authentication (ed25519-signed hellos)
//! runs unchanged inside it, so TLS adds confidentiality and hub authentication on the wire, not
//! a second notion of who a site is.

use std::path::Path;

use crate::error::{Error, Result};

/// The hub's TLS identity: its certificate chain and private key, ready to serve `wss://`.
///
/// Cheap to clone. Its `Debug` output never shows the key.
#[derive(Clone)]
pub struct ServerTls {
    #[cfg(feature = "tls")]
    acceptor: tokio_rustls::TlsAcceptor,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls").finish_non_exhaustive()
    }
}

impl ServerTls {
    /// A TLS identity from PEM text: `cert_chain` holds the hub's certificate first, then any
    /// intermediates; `key` holds its private key (PKCS#8, PKCS#1 RSA or SEC1 EC). The
    /// certificate must name the host clients connect to in its subjectAltName.
    ///
    /// # Errors
    /// [`Error::TlsConfig`] when either holds no certificate or key, is malformed, or the key does
    /// not belong to the certificate; [`Error::TlsUnavailable`] without the `tls` feature.
    pub fn from_pem(cert_chain: &[u8], key: &[u8]) -> Result<ServerTls> {
        imp::server_from_pem(cert_chain, key, "the certificate chain", "the private key")
    }

    /// [`ServerTls::from_pem`] with both read from files (e.g. `cert.pem` and `key.pem`).
    ///
    /// # Errors
    /// As [`ServerTls::from_pem`], and [`Error::TlsConfig`] naming a file that cannot be read.
    pub fn from_pem_files(
        cert_chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<ServerTls> {
        available()?;
        let (cert_chain, key) = (cert_chain.as_ref(), key.as_ref());
        let (chain_pem, key_pem) = (read(cert_chain)?, read(key)?);
        imp::server_from_pem(
            &chain_pem,
            &key_pem,
            &cert_chain.display().to_string(),
            &key.display().to_string(),
        )
    }
}

/// The root certificates a client trusts for `wss://` hubs: typically one private CA.
///
/// Empty by default, and a `wss://` sync with no trusted root is refused before connecting
/// ([`Error::TlsConfig`]), because no hub certificate could be accepted.
///
/// # Example
///
/// ```no_run
/// # fn main() -> dossier_net::Result<()> {
/// let mut config = dossier_net::NetConfig::default();
/// config.tls_roots.add_pem_file("ca.pem")?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedRoots {
    /// DER certificates, each checked to be a usable trust anchor when added.
    der: Vec<Vec<u8>>,
}

impl TrustedRoots {
    /// Adds every certificate in `pem` and returns how many there were.
    ///
    /// # Errors
    /// [`Error::TlsConfig`] when `pem` holds no certificate or a malformed one (nothing is added
    /// then); [`Error::TlsUnavailable`] without the `tls` feature.
    pub fn add_pem(&mut self, pem: &[u8]) -> Result<usize> {
        let certs = imp::root_certs(pem, "the CA certificate")?;
        let n = certs.len();
        self.der.extend(certs);
        Ok(n)
    }

    /// [`TrustedRoots::add_pem`] with the PEM read from a file (e.g. `ca.pem`).
    ///
    /// # Errors
    /// As [`TrustedRoots::add_pem`], and [`Error::TlsConfig`] naming a file that cannot be read.
    pub fn add_pem_file(&mut self, path: impl AsRef<Path>) -> Result<usize> {
        available()?;
        let path = path.as_ref();
        let certs = imp::root_certs(&read(path)?, &path.display().to_string())?;
        let n = certs.len();
        self.der.extend(certs);
        Ok(n)
    }

    /// How many root certificates are trusted.
    pub fn len(&self) -> usize {
        self.der.len()
    }

    /// Whether no root certificate is trusted (then no `wss://` hub can be).
    pub fn is_empty(&self) -> bool {
        self.der.is_empty()
    }
}

/// [`Error::TlsUnavailable`] in a build without the `tls` feature, before any file is read.
fn available() -> Result<()> {
    if cfg!(feature = "tls") {
        Ok(())
    } else {
        Err(Error::TlsUnavailable)
    }
}

/// Reads a PEM file, saying which one could not be read.
fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| Error::TlsConfig(format!("cannot read {}: {e}", path.display())))
}

#[cfg(feature = "tls")]
pub(crate) use imp::{classify_io, connect, connector};

#[cfg(feature = "tls")]
mod imp {
    use std::sync::Arc;

    use rustls::pki_types::pem::{self, PemObject};
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    use rustls::{ClientConfig, RootCertStore, ServerConfig};
    use tokio::net::TcpStream;
    use tokio_rustls::client::TlsStream;
    use tokio_rustls::{TlsAcceptor, TlsConnector};

    use super::{ServerTls, TrustedRoots};
    use crate::error::{Error, Result};

    fn provider() -> Arc<rustls::crypto::CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    /// A PEM error as a sentence naming `what`, without any of the PEM's content.
    fn pem_error(what: &str, kind: &str, e: &pem::Error) -> Error {
        let why = match e {
            pem::Error::NoItemsFound => format!("no {kind} found in {what}"),
            pem::Error::MissingSectionEnd { .. } => {
                format!("{what} has a PEM section with no END line")
            }
            pem::Error::IllegalSectionStart { .. } => {
                format!("{what} has a malformed PEM BEGIN line")
            }
            pem::Error::Base64Decode(_) => {
                format!("{what} has a PEM section that is not valid base64")
            }
            pem::Error::SectionTooLarge => format!("{what} has a PEM section that is too large"),
            other => format!("{what} is not valid PEM ({other})"),
        };
        Error::TlsConfig(why)
    }

    /// Every certificate in `pem`; at least one.
    fn certs(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>> {
        let certs = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| pem_error(what, "certificate", &e))?;
        if certs.is_empty() {
            return Err(pem_error(what, "certificate", &pem::Error::NoItemsFound));
        }
        Ok(certs)
    }

    pub(super) fn server_from_pem(
        chain_pem: &[u8],
        key_pem: &[u8],
        chain_what: &str,
        key_what: &str,
    ) -> Result<ServerTls> {
        let chain = certs(chain_pem, chain_what)?;
        let key = PrivateKeyDer::from_pem_slice(key_pem)
            .map_err(|e| pem_error(key_what, "private key", &e))?;
        let config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::TlsConfig(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| {
                Error::TlsConfig(format!("cannot use {key_what} with {chain_what}: {e}"))
            })?;
        Ok(ServerTls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }

    pub(super) fn root_certs(pem: &[u8], what: &str) -> Result<Vec<Vec<u8>>> {
        let certs = certs(pem, what)?;
        // Parse each as a trust anchor now, so a bad CA file is reported when it is given
        // rather than as a failed handshake later.
        let mut store = RootCertStore::empty();
        for cert in &certs {
            store.add(cert.clone()).map_err(|e| {
                Error::TlsConfig(format!("{what} holds an unusable certificate: {e}"))
            })?;
        }
        Ok(certs.into_iter().map(|c| c.to_vec()).collect())
    }

    impl ServerTls {
        pub(crate) fn acceptor(&self) -> &TlsAcceptor {
            &self.acceptor
        }
    }

    /// A TLS client for `host` that trusts `roots` only. Made before connecting, so a client
    /// with nothing to trust never opens a connection.
    pub(crate) fn connector(
        roots: &TrustedRoots,
        host: &str,
    ) -> Result<(TlsConnector, ServerName<'static>)> {
        if roots.is_empty() {
            return Err(Error::TlsConfig(
                "no trusted CA certificate for wss:// (give the hub's CA, e.g. --ca-cert FILE)"
                    .into(),
            ));
        }
        let mut store = RootCertStore::empty();
        for der in &roots.der {
            store
                .add(CertificateDer::from(der.clone()))
                .map_err(|e| Error::TlsConfig(format!("unusable CA certificate: {e}")))?;
        }
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::TlsConfig(e.to_string()))?
            .with_root_certificates(store)
            .with_no_client_auth();
        let name = ServerName::try_from(host.to_string())
            .map_err(|_| Error::Address(format!("{host} is not a host name TLS can verify")))?;
        Ok((TlsConnector::from(Arc::new(config)), name))
    }

    /// The TLS handshake as a client over `tcp`.
    pub(crate) async fn connect(
        (connector, name): (TlsConnector, ServerName<'static>),
        tcp: TcpStream,
    ) -> Result<TlsStream<TcpStream>> {
        connector.connect(name, tcp).await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                // What a plain `ws://` hub does with a TLS hello: it cannot parse it as HTTP
                // and hangs up. Trying again will not change that.
                Error::Tls(
                    "the hub closed the connection during the TLS handshake; if it serves plain \
                     ws://, use ws://"
                        .into(),
                )
            } else {
                e.into()
            }
        })
    }

    /// A TLS failure carried inside an I/O error (tokio-rustls reports them that way) as its own
    /// variant, so a refused certificate is not retried like a dropped connection.
    pub(crate) fn classify_io(e: std::io::Error) -> Error {
        let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) else {
            return Error::Io(e);
        };
        match tls {
            rustls::Error::InvalidCertificate(why) => Error::UntrustedCertificate(why.to_string()),
            other => Error::Tls(other.to_string()),
        }
    }
}

#[cfg(not(feature = "tls"))]
mod imp {
    use super::ServerTls;
    use crate::error::{Error, Result};

    pub(super) fn server_from_pem(_: &[u8], _: &[u8], _: &str, _: &str) -> Result<ServerTls> {
        Err(Error::TlsUnavailable)
    }

    pub(super) fn root_certs(_: &[u8], _: &str) -> Result<Vec<Vec<u8>>> {
        Err(Error::TlsUnavailable)
    }
}
