//! Serving the API over mutual TLS: TCP accept, TLS handshake (the client must present a
//! transport certificate of a genesis agency), then tonic on the authenticated stream.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::Connected;
use tracing::{info, warn};

use custos_api::tls::{PeerIdentity, TrustedCas, peer_identity};
use custos_primitives::types::CertFingerprint;
use tonic::{Request, Status};

/// Tells whether a transport certificate has been revoked on the ledger, and at which height
/// (a `revoke_certificate` call). Checked at the handshake and again on every call, so a
/// connection opened before the revocation cannot go on being used.
#[derive(Clone)]
pub struct Revocations(Arc<RevokedAt>);

/// The height at which a certificate was revoked, if it was.
type RevokedAt = dyn Fn(&CertFingerprint) -> Option<u64> + Send + Sync;

impl std::fmt::Debug for Revocations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Revocations")
    }
}

impl Revocations {
    /// Revocations as `revoked_at` reports them.
    pub fn new(revoked_at: impl Fn(&CertFingerprint) -> Option<u64> + Send + Sync + 'static) -> Self {
        Revocations(Arc::new(revoked_at))
    }

    /// The height at which `fp` was revoked, if it was.
    pub fn revoked_at(&self, fp: &CertFingerprint) -> Option<u64> {
        (self.0)(fp)
    }

    /// A tonic interceptor refusing (`PERMISSION_DENIED`) every call made on a connection
    /// whose certificate is revoked.
    pub fn interceptor(&self) -> impl FnMut(Request<()>) -> Result<Request<()>, Status> + Clone + use<> {
        let this = self.clone();
        move |req: Request<()>| {
            if let Some(caller) = req.extensions().get::<Caller>()
                && let Some(height) = this.revoked_at(&caller.identity.fingerprint)
            {
                warn!(remote = %caller.remote, cert = %caller.identity.fingerprint, height, "API call refused: certificate revoked");
                return Err(Status::permission_denied(format!(
                    "the client's transport certificate {} was revoked at height {height}",
                    caller.identity.fingerprint
                )));
            }
            Ok(req)
        }
    }
}

/// What the API knows about the caller of a request: `request.extensions().get::<Caller>()`.
#[derive(Clone, Debug)]
pub struct Caller {
    /// Remote address.
    pub remote: SocketAddr,
    /// The authenticated member.
    pub identity: PeerIdentity,
}

/// An authenticated TLS connection. It holds one of the listener's connection slots until it
/// is closed.
#[derive(Debug)]
pub struct AuthedConn {
    inner: TlsStream<TcpStream>,
    caller: Caller,
    _slot: OwnedSemaphorePermit,
}

/// Limits of the API listener.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Connections open at once, in their handshake or authenticated; more are closed at once.
    pub max_connections: usize,
    /// Time a client has to complete the TLS handshake.
    pub handshake_timeout: Duration,
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
///
/// At most `limits.max_connections` are open at once: a connection over the limit is closed
/// as soon as it is accepted (logged at most once a second, with the count), so a flood of
/// idle or half-open connections cannot take the node's file descriptors; a handshake not
/// completed within `limits.handshake_timeout` is closed and frees its slot.
pub fn incoming(
    listener: TcpListener,
    tls: rustls::ServerConfig,
    trust: Arc<TrustedCas>,
    limits: Limits,
    revocations: Revocations,
) -> ReceiverStream<Result<AuthedConn, std::io::Error>> {
    let acceptor = TlsAcceptor::from(Arc::new(tls));
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    tokio::spawn(async move {
        let mut over_limit = 0u64;
        let mut last_warning: Option<Instant> = None;
        loop {
            let (tcp, remote) = match listener.accept().await {
                Ok(x) => x,
                Err(e) => {
                    warn!(error = %e, "API accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                drop(tcp);
                over_limit += 1;
                if last_warning.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                    warn!(
                        %remote,
                        max_connections = limits.max_connections,
                        refused_so_far = over_limit,
                        "API connection refused: too many connections open"
                    );
                    last_warning = Some(Instant::now());
                }
                continue;
            };
            let acceptor = acceptor.clone();
            let trust = trust.clone();
            let revocations = revocations.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let _ = tcp.set_nodelay(true);
                let tls = match tokio::time::timeout(limits.handshake_timeout, acceptor.accept(tcp)).await {
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
                    Some(Ok(identity)) if let Some(height) = revocations.revoked_at(&identity.fingerprint) => {
                        warn!(%remote, agency = %identity.agency, cert = %identity.fingerprint, height, "API connection refused: certificate revoked");
                    }
                    Some(Ok(identity)) => {
                        info!(%remote, agency = %identity.agency, role = %identity.role, "API client connected");
                        let conn = AuthedConn { inner: tls, caller: Caller { remote, identity }, _slot: slot };
                        let _ = tx.send(Ok(conn)).await;
                    }
                    Some(Err(e)) => warn!(%remote, error = %e, "API connection refused"),
                    None => warn!(%remote, "API connection refused: no client certificate"),
                }
            });
        }
    });
    ReceiverStream::new(rx)
}
