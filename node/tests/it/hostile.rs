//! Hostile clients of the gRPC API (issue 10, point 5), on five real `custos-node` processes:
//! each is refused cleanly, the node stays up, and honest clients keep being served.
//!
//! Covered: no client certificate, a revoked transport certificate (open connection and new
//! one), a clerk calling node and admin methods, oversized messages, thousands of idle
//! connections, a small connection limit. Covered elsewhere: a client certificate of another
//! consortium (`network::d_…`), malformed, badly signed, replayed and over-long transactions
//! (`network::e_…`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use custos_api::pb::{ForwardTxsRequest, StatusRequest, SubmitTxRequest};
use custos_contracts::call::{Call, RegisterMemberCall, RevokeCertificateCall, RevokeMemberCall};
use custos_primitives::crypto::SuiteId;
use custos_primitives::types::MemberRole;
use custos_testnet::consortium;
use custos_testnet::home::Profile;
use custos_testnet::net;

use super::network::{Clerk, Net, anchor_call, client_for, eventually, height, register_all, run_call, wait_height};

/// A client that trusts our nodes but presents no certificate at all.
async fn client_without_certificate(home: &std::path::Path, addr: &str) -> Result<(), String> {
    let g = consortium::load_genesis(home).map_err(|e| e.to_string())?;
    let trust = Arc::new(custos_api::tls::TrustedCas::new(g.suite.clone(), g.cas.clone()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(custos_api::tls::ServerVerifier::new(trust)))
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"h2".to_vec()];
    let mut c = custos_api::client::connect(addr, tls).await.map_err(|e| e.to_string())?;
    c.status(StatusRequest {}).await.map_err(|e| e.to_string())?;
    Ok(())
}

/// Opens `n` TCP connections to `addr` that never send a byte.
async fn idle_connections(addr: &str, n: usize) -> Vec<TcpStream> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        match TcpStream::connect(addr).await {
            Ok(s) => out.push(s),
            Err(e) => panic!("opening idle connection {} of {n}: {e}", out.len() + 1),
        }
    }
    out
}

/// Whether the server closed `s` (end of stream or reset) within `limit`.
async fn closed_by_server(s: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 64];
    loop {
        match tokio::time::timeout(limit, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_clients_are_refused_and_honest_ones_served() {
    // The test process itself holds thousands of sockets.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let mut net = Net::start(SuiteId::Sm, 22600);
    let mut clients = net.clients().await;
    wait_height(&mut clients[0], 2, Duration::from_secs(60)).await;
    let addr = net.nodes[0].rpc.clone();
    let log0 = net.nodes[0].log.clone();
    let logged = |needle: &'static str| {
        let log0 = log0.clone();
        move || std::fs::read_to_string(&log0).unwrap_or_default().contains(needle)
    };

    // No client certificate: the handshake fails, the refusal is logged.
    let r = client_without_certificate(&net.home(0), &addr).await;
    assert!(r.is_err(), "a client without a certificate must be refused");
    assert!(eventually(logged("API connection refused: TLS handshake failed")).await, "the refusal is logged");

    // A clerk calling what only nodes and admins may do: the node-to-node ForwardTxs is refused
    // at the API; a clerk-signed revocation is refused by the contracts, and the member stays.
    let s = clients[0].forward_txs(ForwardTxsRequest { txs: vec![vec![0; 10]] }).await.unwrap_err();
    assert_eq!(s.code(), tonic::Code::PermissionDenied, "{s:?}");
    let mut clerks: Vec<Clerk> = (0..5).map(|i| Clerk::load(&net.home(i), &net.suite)).collect();
    register_all(&net, &mut clerks, &mut clients).await;
    // The police clerk tries to revoke itself (same agency, so only the role stands in the way).
    let victim = clerks[2].signer;
    let revoke = Call::RevokeMember(RevokeMemberCall { member: victim });
    let err = run_call(&net, &mut clients, &mut clerks, 2, revoke).await.unwrap_err();
    assert!(err.contains("admin"), "a clerk's revocation must fail for want of the admin role: {err}");
    let (_, anchor) = anchor_call(&net.suite, 77);
    run_call(&net, &mut clients, &mut clerks, 2, anchor).await.expect("the clerk is still an active member");

    // A revoked transport certificate: the prison's admin revokes the TLS certificate of its
    // clerk on the ledger. The clerk's open connection is refused from then on, a new one is
    // refused at the handshake, and the prison's other certificates keep working.
    let prison = 3;
    let mut admin = vec![Clerk::load_role(&net.home(prison), &net.suite, MemberRole::Admin)];
    let register =
        Call::RegisterMember(RegisterMemberCall { certificate: admin[0].cert_der.clone().try_into().unwrap() });
    run_call(&net, &mut clients[0..1], &mut admin, 0, register).await.expect("the prison admin registers");
    let home = net.home(prison);
    let tls = Profile::load(&home).unwrap().transport(&home, MemberRole::Clerk).unwrap().cert.der().to_vec();
    let revoke = Call::RevokeCertificate(RevokeCertificateCall { certificate: tls.try_into().unwrap() });
    run_call(&net, &mut clients[0..1], &mut admin, 0, revoke)
        .await
        .expect("the admin revokes its clerk's TLS certificate");
    let deadline = Instant::now() + Duration::from_secs(20);
    let refused = loop {
        match clients[prison].status(StatusRequest {}).await {
            Err(s) => break s,
            Ok(_) => {
                assert!(Instant::now() < deadline, "the revoked certificate's open connection is still served");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{refused:?}");
    assert!(refused.message().contains("revoked at height"), "{refused:?}");
    let r = super::network::try_client(&home, &addr, MemberRole::Clerk).await;
    assert!(r.is_err(), "a new connection with a revoked certificate must be refused");
    assert!(eventually(logged("API connection refused: certificate revoked")).await, "the refusal is logged");
    let mut prison_admin = super::network::try_client(&home, &net.nodes[prison].rpc, MemberRole::Admin)
        .await
        .expect("the prison admin's own transport certificate still works");
    assert!(height(&mut prison_admin).await > 0);

    // Oversized messages: refused by the size limit of the API, not read into memory whole.
    let s = clients[0].submit_tx(SubmitTxRequest { tx: vec![0; 3 << 20] }).await.unwrap_err();
    assert!(
        matches!(s.code(), tonic::Code::OutOfRange | tonic::Code::ResourceExhausted),
        "a 3 MiB request must be refused by size: {s:?}"
    );
    let s = clients[0].forward_txs(ForwardTxsRequest { txs: vec![vec![0; 1 << 20]; 3] }).await.unwrap_err();
    assert!(matches!(s.code(), tonic::Code::OutOfRange | tonic::Code::ResourceExhausted), "{s:?}");
    assert!(height(&mut clients[0]).await > 0, "the node still answers after oversized requests");

    // Thousands of idle connections that never start TLS: honest clients are still served
    // while they are open, and each is closed by the node after the handshake timeout.
    let mut idle = idle_connections(&addr, 3000).await;
    let started = Instant::now();
    let mut honest = client_for(&net.home(0), &addr).await;
    let h = height(&mut honest).await;
    assert!(h > 0, "an honest client is served with 3,000 idle connections open");
    eprintln!("honest client served in {:?} with 3,000 idle connections open", started.elapsed());
    assert!(closed_by_server(&mut idle[0], Duration::from_secs(20)).await, "an idle connection is closed");
    assert!(closed_by_server(&mut idle[2999], Duration::from_secs(20)).await);
    assert!(eventually(logged("TLS handshake timed out")).await);
    drop(idle);

    // A node with a small connection limit closes the connections over it at once, and frees
    // the slots of idle ones after the handshake timeout.
    net::stop(&mut net.nodes[1]);
    let cfg = net.home(1).join("node.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, text.replace("[rpc]\n", "[rpc]\nmax_connections = 64\n")).unwrap();
    net.restart(1);
    let addr1 = net.nodes[1].rpc.clone();
    let mut police = client_for(&net.home(1), &addr1).await; // one slot
    let mut idle = idle_connections(&addr1, 200).await;
    let mut over = idle.split_off(100);
    for s in over.iter_mut().take(20) {
        assert!(closed_by_server(s, Duration::from_secs(2)).await, "a connection over the limit is closed at once");
    }
    let log1 = net.nodes[1].log.clone();
    let over_logged = move || std::fs::read_to_string(&log1).unwrap_or_default().contains("too many connections open");
    assert!(eventually(over_logged).await, "the refusals over the limit are logged");
    // The connection that was already up keeps working.
    assert!(height(&mut police).await > 0);
    // Once the idle ones time out, new honest clients get in.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut fresh = loop {
        match super::network::try_client(&net.home(1), &addr1, MemberRole::Clerk).await {
            Ok(c) => break c,
            Err(e) => {
                assert!(Instant::now() < deadline, "no honest client got in after the idle ones timed out: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    };
    assert!(height(&mut fresh).await > 0);
    drop((idle, over));

    // Through all of it the network kept committing.
    let now = height(&mut clients[0]).await;
    wait_height(&mut clients[0], now + 3, Duration::from_secs(60)).await;
    wait_height(&mut fresh, now + 3, Duration::from_secs(60)).await;
}
