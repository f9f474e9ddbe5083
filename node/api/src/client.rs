//! A client of the node API over mutual TLS.

use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tonic::transport::{Channel, Endpoint, Uri};

use crate::pb::dossier_client::DossierClient;
use crate::pb::ledger_client::LedgerClient;

/// Why a connection failed; the message names the address and the likely fix.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// Bad address.
    #[error("invalid node address {addr:?}: {reason}")]
    Address {
        /// The address.
        addr: String,
        /// Why.
        reason: String,
    },
    /// TCP or TLS failed.
    #[error("cannot reach the node at {addr}: {reason}")]
    Connect {
        /// The address.
        addr: String,
        /// Why.
        reason: String,
    },
}

/// Connects to `addr` (`host:port`) with a mutual-TLS client configuration
/// (see [`crate::tls::client_config`]).
pub async fn connect(addr: &str, tls: rustls::ClientConfig) -> Result<LedgerClient<Channel>, ConnectError> {
    Ok(LedgerClient::new(channel(addr, tls).await?).max_decoding_message_size(64 * 1024 * 1024))
}

/// HTTP/2 flow-control window of the node's connections, both ways (bytes).
pub const WINDOW: u32 = 4 * 1024 * 1024;

/// Largest e-dossier message (a chunk of up to 4 MiB with its tag and framing).
pub const DOSSIER_MAX_MESSAGE: usize = 4 * 1024 * 1024 + 64 * 1024;

/// A client of the e-dossier service over an existing channel (see [`channel`]).
pub fn dossier_client(channel: Channel) -> DossierClient<Channel> {
    DossierClient::new(channel)
        .max_decoding_message_size(DOSSIER_MAX_MESSAGE)
        .max_encoding_message_size(DOSSIER_MAX_MESSAGE)
}

/// A mutual-TLS channel to `addr` (`host:port`), for any of the node's services.
pub async fn channel(addr: &str, tls: rustls::ClientConfig) -> Result<Channel, ConnectError> {
    let uri: Uri = format!("http://{addr}").parse().map_err(|e: tonic::codegen::http::uri::InvalidUri| {
        ConnectError::Address { addr: addr.into(), reason: e.to_string() }
    })?;
    let connector = TlsConnector::from(Arc::new(tls));
    let target = addr.to_string();
    // Windows large enough for a whole e-dossier chunk: with HTTP/2's 64 KiB default a 1 MiB
    // chunk waits for 16 window updates.
    let endpoint = Endpoint::from(uri)
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .initial_stream_window_size(Some(WINDOW))
        .initial_connection_window_size(Some(WINDOW));
    let channel = endpoint
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let connector = connector.clone();
            let target = target.clone();
            async move {
                let tcp = TcpStream::connect(&target).await?;
                tcp.set_nodelay(true)?;
                // Nodes are identified by certificate, not DNS name: the verifier ignores it.
                let name = rustls::pki_types::ServerName::try_from("custos-node")
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
                let tls = connector.connect(name, tcp).await?;
                Ok::<_, std::io::Error>(TokioIo::new(tls))
            }
        }))
        .await
        .map_err(|e| ConnectError::Connect { addr: addr.into(), reason: describe(&e) })?;
    Ok(channel)
}

fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        out.push_str(": ");
        out.push_str(&s.to_string());
        src = s.source();
    }
    out
}
