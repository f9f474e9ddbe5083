//! Mutual TLS with transport certificates, over real rustls handshakes, for both suites.

use std::sync::Arc;

use custos_api::tls::{ServerVerifier, TlsError, client_config, peer_identity, server_config};
use custos_primitives::crypto::{AnySuite, Suite, SuiteId};
use custos_primitives::types::{AgencyId, CertFingerprint, MemberRole};
use custos_primitives::x509::{self, CertParams};
use rustls::SignatureScheme;
use rustls::client::ResolvesClientCert;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;

use crate::support::{Net, ed25519_key, handshake, issue_transport_from, now, pkcs8_der};

const SUITES: [SuiteId; 2] = [SuiteId::Sm, SuiteId::Intl];

#[tokio::test]
async fn clerk_transport_certificate_of_a_genesis_agency_is_accepted() {
    for suite in SUITES {
        let net = Net::new(suite);
        let clerk = net.transport("police", MemberRole::Clerk);
        let out = handshake(net.node_server("court"), net.client("police", MemberRole::Clerk)).await;
        let (client_seen, server_seen) = out.established(&net.trust).await;
        assert_eq!(client_seen.agency.as_str(), "police", "{suite}");
        assert_eq!(client_seen.role, MemberRole::Clerk);
        assert_eq!(client_seen.common_name.as_deref(), Some("police-clerk-tls-1"));
        assert_eq!(client_seen.fingerprint, CertFingerprint::of_der(net.suite(), clerk.cert.der()));
        // And the client knows which node it reached.
        assert_eq!(server_seen.agency.as_str(), "court");
        assert_eq!(server_seen.role, MemberRole::Node);
    }
}

#[tokio::test]
async fn client_without_a_certificate_is_refused() {
    for suite in SUITES {
        let net = Net::new(suite);
        let client = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(ServerVerifier::new(net.trust.clone())))
            .with_no_client_auth();
        let err = handshake(net.node_server("court"), client).await.refused_by_server().await;
        assert!(err.contains("no certificates"), "{suite}: {err}");
    }
}

#[tokio::test]
async fn transport_certificate_from_a_ca_not_in_genesis_is_refused() {
    for suite in SUITES {
        let net = Net::new(suite);
        let any = AnySuite::with_defaults(suite);
        for (agency, expected) in [("court", "does not verify"), ("rogue", "no CA in genesis")] {
            // A CA of the right suite, with a genesis agency's name or a new one, but not in genesis.
            let ca_key = any.generate_signing_key().unwrap();
            let id = AgencyId::new(agency).unwrap();
            let t = now() - 60;
            // Same subject as the genesis CA for "court": only the key differs.
            let ca_der = x509::issue_ca(&ca_key, &id, &format!("{agency} CA"), t, t + 86_400).unwrap();
            let ca = x509::Certificate::from_der(&ca_der).unwrap();
            let key = ed25519_key();
            let params = CertParams {
                agency: &id,
                role: MemberRole::Clerk,
                common_name: "rogue-clerk",
                not_before: t,
                not_after: t + 86_400,
            };
            let der = x509::issue_transport(&ca, &ca_key, &key.public_key(), &params).unwrap();
            let client = client_config(net.trust.clone(), vec![der, ca_der], pkcs8_der(&key)).unwrap();
            let err = handshake(net.node_server("court"), client).await.refused_by_server().await;
            assert!(err.contains(expected), "{suite} {agency}: {err}");
        }
    }
}

/// Presents a given chain, signing with a given key, whatever they are.
#[derive(Debug)]
struct Present(Arc<CertifiedKey>);

impl ResolvesClientCert for Present {
    fn resolve(&self, _root_hints: &[&[u8]], _schemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
    fn has_certs(&self) -> bool {
        true
    }
}

#[tokio::test]
async fn member_certificate_instead_of_the_transport_certificate_is_refused() {
    for suite in SUITES {
        let net = Net::new(suite);
        let member = net.member("court", MemberRole::Clerk);
        let (member_chain, member_key) = net.chain_and_key("court", &member);
        match suite {
            SuiteId::Sm => {
                // rustls cannot use an SM2 key: a clean configuration error, no panic.
                let err = client_config(net.trust.clone(), member_chain.clone(), member_key).unwrap_err();
                assert!(matches!(err, TlsError::NotEd25519 { .. }), "{err}");
                // The SM2 key alone (with the transport certificate) is refused as a key.
                let transport = net.transport("court", MemberRole::Clerk);
                let (chain, _) = net.chain_and_key("court", &transport);
                let (_, sm2_key) = net.chain_and_key("court", &member);
                let err = client_config(net.trust.clone(), chain, sm2_key).unwrap_err();
                assert!(matches!(err, TlsError::Key { .. }), "{err}");
                assert!(err.to_string().contains("SM2 keys cannot be used"), "{err}");

                // A client that presents the SM2 member certificate anyway (signing the
                // handshake with its ed25519 transport key) is refused by the server.
                let provider = rustls::crypto::ring::default_provider();
                let key = provider
                    .key_provider
                    .load_private_key(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pkcs8_der(&transport.key))))
                    .unwrap();
                let chain = member_chain.into_iter().map(CertificateDer::from).collect();
                let client = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
                    .with_protocol_versions(&[&rustls::version::TLS13])
                    .unwrap()
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(ServerVerifier::new(net.trust.clone())))
                    .with_client_cert_resolver(Arc::new(Present(Arc::new(CertifiedKey::new(chain, key)))));
                let err = handshake(net.node_server("court"), client).await.refused_by_server().await;
                assert!(err.contains("its key is SM2"), "{err}");
            }
            SuiteId::Intl => {
                // The ed25519 member key works in rustls, but the member certificate is not a
                // transport certificate.
                let client = client_config(net.trust.clone(), member_chain, member_key).unwrap();
                let err = handshake(net.node_server("court"), client).await.refused_by_server().await;
                assert!(err.contains("not a TLS transport certificate"), "{err}");
            }
        }
    }
}

#[tokio::test]
async fn expired_transport_certificate_is_refused() {
    for suite in SUITES {
        let net = Net::new(suite);
        let key = ed25519_key();
        let t = now();
        // Issued by the genesis court CA, but its validity ended a second ago.
        let der = issue_transport_from(&net.home("court"), &key, MemberRole::Clerk, t - 60, t - 1);
        let chain = vec![der, net.ca("court").der().to_vec()];
        let client = client_config(net.trust.clone(), chain, pkcs8_der(&key)).unwrap();
        let err = handshake(net.node_server("court"), client).await.refused_by_server().await;
        assert!(err.contains("expired"), "{suite}: {err}");
    }
}

#[tokio::test]
async fn client_refuses_a_server_whose_certificate_is_not_a_node() {
    for suite in SUITES {
        let net = Net::new(suite);
        // The court's clerk transport certificate, presented by a server.
        let clerk = net.transport("court", MemberRole::Clerk);
        let (chain, key) = net.chain_and_key("court", &clerk);
        let server = server_config(net.trust.clone(), chain, key).unwrap();
        let err = handshake(server, net.client("police", MemberRole::Clerk)).await.refused_by_client();
        assert!(err.contains("has role clerk, but node is required"), "{suite}: {err}");
    }
}

#[tokio::test]
async fn client_refuses_a_node_certificate_from_a_ca_not_in_genesis() {
    for suite in SUITES {
        let net = Net::new(suite);
        let any = AnySuite::with_defaults(suite);
        let ca_key = any.generate_signing_key().unwrap();
        let id = AgencyId::new("court").unwrap();
        let t = now() - 60;
        let ca_der = x509::issue_ca(&ca_key, &id, "court CA", t, t + 86_400).unwrap();
        let ca = x509::Certificate::from_der(&ca_der).unwrap();
        let key = ed25519_key();
        let params = CertParams {
            agency: &id,
            role: MemberRole::Node,
            common_name: "rogue-node",
            not_before: t,
            not_after: t + 86_400,
        };
        let der = x509::issue_transport(&ca, &ca_key, &key.public_key(), &params).unwrap();
        let server = server_config(net.trust.clone(), vec![der, ca_der], pkcs8_der(&key)).unwrap();
        let err = handshake(server, net.client("police", MemberRole::Clerk)).await.refused_by_client();
        assert!(err.contains("does not verify"), "{suite}: {err}");
    }
}

#[test]
fn configuration_errors_are_clean() {
    let net = Net::new(SuiteId::Intl);
    let node = net.transport("court", MemberRole::Node);
    let (chain, key) = net.chain_and_key("court", &node);
    // Empty chain.
    let err = server_config(net.trust.clone(), Vec::new(), key.clone()).unwrap_err();
    assert!(matches!(err, TlsError::EmptyChain(_)), "{err}");
    // Not a key.
    let err = server_config(net.trust.clone(), chain.clone(), vec![0x30, 0x00]).unwrap_err();
    assert!(matches!(err, TlsError::Key { .. }), "{err}");
    // Another ed25519 key than the certificate's.
    let err = client_config(net.trust.clone(), chain.clone(), pkcs8_der(&ed25519_key())).unwrap_err();
    assert!(matches!(err, TlsError::KeyMismatch { .. }), "{err}");
    // Garbage certificate.
    let err = client_config(net.trust.clone(), vec![vec![1, 2, 3]], key).unwrap_err();
    assert!(matches!(err, TlsError::Certificate { .. }), "{err}");
    // peer_identity refuses what the verifiers would refuse, without a clock.
    let member = net.member("court", MemberRole::Clerk);
    let err = peer_identity(&net.trust, member.cert.der()).unwrap_err();
    assert!(err.to_string().contains("not a TLS transport certificate"), "{err}");
    let ok = peer_identity(&net.trust, &chain[0]).unwrap();
    assert_eq!((ok.agency.as_str(), ok.role), ("court", MemberRole::Node));
}
