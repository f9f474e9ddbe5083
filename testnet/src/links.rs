//! Links between local nodes that a test can cut and heal: one TCP proxy per direction of each
//! pair of nodes, for partition tests.
//!
//! [`Links::route`] rewrites each node's `[p2p] peers` so that node *i* reaches node *j* only
//! through the proxy of (*i*, *j*), which forwards to *j*'s p2p port. Nodes dial nothing else
//! (`persistent_peers_only`, discovery off), so cutting both proxies of a pair separates the two
//! nodes completely: open connections are closed at once, new ones are accepted and dropped
//! (to the dialer it looks like a peer that hangs up, as after a cable is pulled and the
//! remote end resets).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::TestnetError;
use crate::consortium::{AGENCIES, NODE_CONFIG_FILE, Ports};

/// The proxy port of the link from node `from` to node `to` (`from != to`): `base + 250 +
/// 5·from + to`, between the metrics ports (`base + 200…`) and the next network's range
/// (`base + 300`).
pub fn proxy_port(base: u16, from: usize, to: usize) -> u16 {
    base + 250 + (5 * from + to) as u16
}

/// One direction of a link: a TCP proxy that forwards while the link is up.
#[derive(Debug)]
struct Proxy {
    up: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Proxy {
    async fn start(listen: SocketAddr, target: SocketAddr) -> Result<Proxy, TestnetError> {
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|e| TestnetError::Invalid(format!("link proxy cannot listen on {listen}: {e}")))?;
        let (up, watch) = watch::channel(true);
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                if !*watch.borrow() {
                    drop(inbound);
                    continue;
                }
                let mut down = watch.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else { return };
                    let mut inbound = inbound;
                    let _ = inbound.set_nodelay(true);
                    let _ = outbound.set_nodelay(true);
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = down.wait_for(|up| !*up) => {}
                    }
                    // Dropping both sockets closes the connection on both nodes.
                });
            }
        });
        Ok(Proxy { up, task })
    }

    fn set(&self, up: bool) {
        self.up.send_replace(up);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.set(false);
        self.task.abort();
    }
}

/// The links of a five-node local network.
#[derive(Debug)]
pub struct Links {
    proxies: BTreeMap<(usize, usize), Proxy>,
    cut: BTreeSet<(usize, usize)>,
}

impl Links {
    /// Rewrites the `[p2p] peers` of every node of the consortium in `dir` (created with
    /// `base_port`, not yet started) to go through the proxies. Call [`Links::start`] before
    /// starting the nodes.
    pub fn route(dir: &Path, base_port: u16) -> Result<(), TestnetError> {
        for (i, a) in AGENCIES.iter().enumerate() {
            let path = dir.join(a.id).join(NODE_CONFIG_FILE);
            let mut text = std::fs::read_to_string(&path).map_err(|e| TestnetError::io(&path, e))?;
            for j in (0..AGENCIES.len()).filter(|&j| j != i) {
                let direct = format!("/tcp/{}/p2p/", Ports::of(base_port, j).p2p);
                if !text.contains(&direct) {
                    return Err(TestnetError::Invalid(format!(
                        "{}: no peer entry {direct} to route through a proxy",
                        path.display()
                    )));
                }
                text = text.replace(&direct, &format!("/tcp/{}/p2p/", proxy_port(base_port, i, j)));
            }
            std::fs::write(&path, text).map_err(|e| TestnetError::io(&path, e))?;
        }
        Ok(())
    }

    /// Starts the twenty proxies (every ordered pair of nodes), all links up.
    pub async fn start(base_port: u16) -> Result<Links, TestnetError> {
        let mut proxies = BTreeMap::new();
        let n = AGENCIES.len();
        for from in 0..n {
            for to in (0..n).filter(|&to| to != from) {
                let listen = SocketAddr::from(([127, 0, 0, 1], proxy_port(base_port, from, to)));
                let target = SocketAddr::from(([127, 0, 0, 1], Ports::of(base_port, to).p2p));
                proxies.insert((from, to), Proxy::start(listen, target).await?);
            }
        }
        Ok(Links { proxies, cut: BTreeSet::new() })
    }

    fn set(&mut self, a: usize, b: usize, up: bool) {
        for key in [(a, b), (b, a)] {
            if let Some(p) = self.proxies.get(&key) {
                p.set(up);
                if up {
                    self.cut.remove(&key);
                } else {
                    self.cut.insert(key);
                }
            }
        }
    }

    /// Cuts the link between nodes `a` and `b`, both ways; open connections close at once.
    pub fn cut(&mut self, a: usize, b: usize) {
        self.set(a, b, false);
    }

    /// Restores the link between nodes `a` and `b`.
    pub fn heal(&mut self, a: usize, b: usize) {
        self.set(a, b, true);
    }

    /// Cuts every link between a node of `side` and a node outside it (a partition).
    pub fn partition(&mut self, side: &[usize]) {
        for a in side.iter().copied() {
            for b in (0..AGENCIES.len()).filter(|b| !side.contains(b)) {
                self.cut(a, b);
            }
        }
    }

    /// Restores every link.
    pub fn heal_all(&mut self) {
        let keys: Vec<(usize, usize)> = self.proxies.keys().copied().collect();
        for (a, b) in keys {
            self.heal(a, b);
        }
    }

    /// Whether the link between `a` and `b` is up.
    pub fn is_up(&self, a: usize, b: usize) -> bool {
        !self.cut.contains(&(a, b))
    }
}
