//! Serving the API over mutual TLS: TCP accept, TLS handshake (the client must present a
//! transport certificate of a genesis agency), then tonic on the authenticated stream.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::Connected;
use tracing::{info, warn};

use custos_api::tls::{PeerIdentity, TrustedCas, peer_identity};

/// What the API knows about the caller of a request: `request.extensions().get::<Caller>()`.
#[derive(Clone, Debug)]
pub struct Caller {
    /// Remote address.
    pub remote: SocketAddr,
    /// The authenticated member.
    pub identity: PeerIdentity,
}

/// An authenticated TLS connection.
#[derive(Debug)]
pub struct AuthedConn {
    inner: TlsStream<TcpStream>,
    caller: Caller,
}

impl Connected for AuthedConn {
    type ConnectInfo = Caller;
    fn connect_info(&self) -> Caller {
        self.caller.clone()
    }
}

impl AsyncRead for AuthedConn {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for AuthedConn {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Accepts TCP connections on `listener`, completes mutual TLS, and yields the authenticated
/// connections. Refused handshakes are logged with the remote address and the reason.
pub fn incoming(
    listener: TcpListener,
    tls: rustls::ServerConfig,
    trust: Arc<TrustedCas>,
) -> ReceiverStream<Result<AuthedConn, std::io::Error>> {
    let acceptor = TlsAcceptor::from(Arc::new(tls));
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            let (tcp, remote) = match listener.accept().await {
                Ok(x) => x,
                Err(e) => {
                    warn!(error = %e, "API accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let acceptor = acceptor.clone();
            let trust = trust.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let _ = tcp.set_nodelay(true);
                let tls = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        warn!(%remote, error = %e, "API connection refused: TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        warn!(%remote, "API connection refused: TLS handshake timed out");
                        return;
                    }
                };
                let identity = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .map(|c| peer_identity(&trust, c.as_ref()));
                match identity {
                    Some(Ok(identity)) => {
                        info!(%remote, agency = %identity.agency, role = %identity.role, "API client connected");
                        let _ = tx.send(Ok(AuthedConn { inner: tls, caller: Caller { remote, identity } })).await;
                    }
                    Some(Err(e)) => warn!(%remote, error = %e, "API connection refused"),
                    None => warn!(%remote, "API connection refused: no client certificate"),
                }
            });
        }
    });
    ReceiverStream::new(rx)
}
