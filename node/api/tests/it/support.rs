//! A generated consortium (`custos_testnet::consortium::init`) and TLS handshakes over an
//! in-memory duplex pipe.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use custos_api::tls::{TrustedCas, peer_identity};
use custos_primitives::crypto::{AnySuite, SigningKey, Suite, SuiteId, pem_rfc7468_decode};
use custos_primitives::genesis::ValidatedGenesis;
use custos_primitives::types::{AgencyId, MemberRole};
use custos_primitives::x509::{self, CertParams, Certificate};
use custos_testnet::consortium::{self, InitOptions};
use custos_testnet::home::{Identity, Profile};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Wall-clock now (the TLS verifiers judge certificates at the current time).
pub fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// A consortium in a temporary folder.
pub struct Net {
    _tmp: tempfile::TempDir,
    pub dir: PathBuf,
    pub genesis: ValidatedGenesis,
    pub trust: Arc<TrustedCas>,
}

impl Net {
    /// Generates the five-agency consortium for `suite`, valid from a minute ago.
    pub fn new(suite: SuiteId) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("net");
        consortium::init(&dir, &InitOptions::new(suite, now() - 60).unwrap()).unwrap();
        let genesis = consortium::load_genesis(&dir).unwrap();
        let trust = Arc::new(TrustedCas::from_genesis(&genesis));
        Net { _tmp: tmp, dir, genesis, trust }
    }

    pub fn suite(&self) -> &AnySuite {
        &self.genesis.suite
    }

    pub fn home(&self, agency: &str) -> PathBuf {
        self.dir.join(agency)
    }

    fn profile(&self, agency: &str) -> Profile {
        Profile::load(&self.home(agency)).unwrap()
    }

    /// The CA certificate genesis lists for `agency`.
    pub fn ca(&self, agency: &str) -> &Certificate {
        &self.genesis.cas[&AgencyId::new(agency).unwrap()]
    }

    /// The transport identity (`tls.crt.pem`, `tls.key.pem`) of `role` in `agency`'s home.
    pub fn transport(&self, agency: &str, role: MemberRole) -> Identity {
        self.profile(agency).transport(&self.home(agency), role).unwrap()
    }

    /// The member identity (`clerk.crt.pem`, …) of `role` in `agency`'s home.
    pub fn member(&self, agency: &str, role: MemberRole) -> Identity {
        self.profile(agency).identity(&self.home(agency), role).unwrap()
    }

    /// `[cert, agency CA]` and the PKCS#8 DER key of `ident`.
    pub fn chain_and_key(&self, agency: &str, ident: &Identity) -> (Vec<Vec<u8>>, Vec<u8>) {
        (vec![ident.cert.der().to_vec(), self.ca(agency).der().to_vec()], pkcs8_der(&ident.key))
    }

    /// The agency's node server configuration.
    pub fn node_server(&self, agency: &str) -> rustls::ServerConfig {
        let (chain, key) = self.chain_and_key(agency, &self.transport(agency, MemberRole::Node));
        custos_api::tls::server_config(self.trust.clone(), chain, key).unwrap()
    }

    /// A client configuration with `agency`'s `role` transport identity.
    pub fn client(&self, agency: &str, role: MemberRole) -> rustls::ClientConfig {
        let (chain, key) = self.chain_and_key(agency, &self.transport(agency, role));
        custos_api::tls::client_config(self.trust.clone(), chain, key).unwrap()
    }
}

/// PKCS#8 DER of a key.
pub fn pkcs8_der(key: &SigningKey) -> Vec<u8> {
    let (label, der) = pem_rfc7468_decode(&key.to_pkcs8_pem().unwrap()).unwrap();
    assert_eq!(label, "PRIVATE KEY");
    der.to_vec()
}

/// A fresh ed25519 key.
pub fn ed25519_key() -> SigningKey {
    AnySuite::with_defaults(SuiteId::Intl).generate_signing_key().unwrap()
}

/// A transport certificate for `key` from the CA in `home` (its `ca/` identity).
pub fn issue_transport_from(
    home: &Path,
    key: &SigningKey,
    role: MemberRole,
    not_before: i64,
    not_after: i64,
) -> Vec<u8> {
    let profile = Profile::load(home).unwrap();
    let ca = profile.identity(home, MemberRole::Ca).unwrap();
    let params = CertParams { agency: &profile.agency, role, common_name: "test-tls", not_before, not_after };
    x509::issue_transport(&ca.cert, &ca.key, &key.public_key(), &params).unwrap()
}

/// The outcome of one handshake.
pub struct Outcome {
    pub server: Result<tokio_rustls::server::TlsStream<tokio::io::DuplexStream>, std::io::Error>,
    pub client: Result<tokio_rustls::client::TlsStream<tokio::io::DuplexStream>, std::io::Error>,
}

/// Runs a TLS handshake between `server` and `client` over an in-memory pipe. The client
/// connects by IP address: the server name is ignored.
pub async fn handshake(server: rustls::ServerConfig, client: rustls::ClientConfig) -> Outcome {
    let (c, s) = tokio::io::duplex(64 * 1024);
    let acceptor = TlsAcceptor::from(Arc::new(server));
    let connector = TlsConnector::from(Arc::new(client));
    let name = ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into());
    let (server, client) = tokio::join!(acceptor.accept(s), connector.connect(name, c));
    Outcome { server, client }
}

impl Outcome {
    /// Both sides completed; data flows; returns the identities each side sees.
    pub async fn established(
        self,
        trust: &TrustedCas,
    ) -> (custos_api::tls::PeerIdentity, custos_api::tls::PeerIdentity) {
        let mut server = self.server.unwrap();
        let mut client = self.client.unwrap();
        assert_eq!(server.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        server.write_all(b"ping").await.unwrap();
        server.flush().await.unwrap();
        let mut buf = [0u8; 4];
        client.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        let seen_by_server = server.get_ref().1.peer_certificates().unwrap()[0].clone();
        let seen_by_client = client.get_ref().1.peer_certificates().unwrap()[0].clone();
        (peer_identity(trust, seen_by_server.as_ref()).unwrap(), peer_identity(trust, seen_by_client.as_ref()).unwrap())
    }

    /// The server refused the client; returns the server's error message. In TLS 1.3 the
    /// client may finish its side first; it then sees the server's alert (or end of stream)
    /// on its first read.
    pub async fn refused_by_server(self) -> String {
        let err = match self.server {
            Ok(_) => panic!("the server accepted the client"),
            Err(e) => e.to_string(),
        };
        eprintln!("server refused the client: {err}");
        if let Ok(mut client) = self.client {
            let mut buf = [0u8; 1];
            match client.read(&mut buf).await {
                Ok(0) | Err(_) => {}
                Ok(_) => panic!("the client received data from a server that refused it"),
            }
        }
        err
    }

    /// The client refused the server; returns the client's error message.
    pub fn refused_by_client(self) -> String {
        assert!(self.server.is_err(), "the server completed a handshake the client refused");
        let err = match self.client {
            Ok(_) => panic!("the client accepted the server"),
            Err(e) => e.to_string(),
        };
        eprintln!("client refused the server: {err}");
        err
    }
}
