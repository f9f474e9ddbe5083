//! Generates a local five-agency consortium: per agency a CA, a node identity and a clerk
//! identity (each with an ed25519 TLS transport certificate issued by the CA), a home folder,
//! and the shared genesis.

use std::fs;
use std::path::{Path, PathBuf};

use custos_primitives::crypto::{AnySuite, DEFAULT_SM2_DISTID, Suite, SuiteId};
use custos_primitives::genesis::{Genesis, GenesisAgency, GenesisValidator, ValidatedGenesis};
use custos_primitives::types::{AgencyId, AgencyLevel, AgencyRole, ChainId, MemberRole, NodeId};
use custos_primitives::x509::{self, CertParams, Certificate};
use serde::Serialize;

use crate::TestnetError;
use crate::home::{self, GENESIS_FILE, IdentityPaths, Profile};

/// The node's libp2p transport key inside a home (PKCS#8 ed25519, 0600).
pub const P2P_KEY_FILE: &str = "node/p2p.key.pem";
/// The agency's e-dossier decryption key, relative to its home.
pub const ENCRYPTION_KEY_FILE: &str = "enc/enc.key.pem";

/// File name of a TLS transport certificate inside an identity's folder (`node/`, `clerk/`).
pub const TLS_CERT_FILE: &str = "tls.crt.pem";
/// File name of a TLS transport key (PKCS#8 ed25519, 0600) inside an identity's folder.
pub const TLS_KEY_FILE: &str = "tls.key.pem";

/// The consortium case key inside a home (hex, 0600).
pub const CASE_KEY_FILE: &str = "case.key";

/// The node configuration inside a home.
pub const NODE_CONFIG_FILE: &str = "node.toml";

/// The loopback ports of one local node.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Ports {
    /// libp2p.
    pub p2p: u16,
    /// gRPC.
    pub rpc: u16,
    /// Prometheus.
    pub metrics: u16,
}

impl Ports {
    /// Ports of agency `i` from `base`.
    pub fn of(base: u16, i: usize) -> Self {
        let i = i as u16;
        Ports { p2p: base + i, rpc: base + 100 + i, metrics: base + 200 + i }
    }
}

/// The libp2p PeerId of an ed25519 transport public key.
fn peer_id_of(key: &[u8]) -> Result<String, TestnetError> {
    let pk = libp2p_identity::ed25519::PublicKey::try_from_bytes(key)
        .map_err(|e| TestnetError::Invalid(format!("bad p2p key {}: {e}", hex::encode(key))))?;
    Ok(libp2p_identity::PublicKey::from(pk).to_peer_id().to_string())
}

/// The node configuration of a local node (see `custos-node --help` and docs/operator-guide.md).
fn node_config(ports: &Ports, peers: &[String], dossier_peers: &[(String, u16)]) -> String {
    let dossier_peers =
        dossier_peers.iter().map(|(a, port)| format!("\"{a}\" = \"127.0.0.1:{port}\"")).collect::<Vec<_>>().join(", ");
    let peers = peers.iter().map(|p| format!("  \"{p}\",")).collect::<Vec<_>>().join("\n");
    format!(
        "# custos-node configuration written by `custos testnet init`.\n\
         home = \".\"\n\
         data_dir = \"data\"\n\n\
         [p2p]\n\
         listen = \"/ip4/127.0.0.1/tcp/{p2p}\"\n\
         peers = [\n{peers}\n]\n\n\
         [rpc]\n\
         listen = \"127.0.0.1:{rpc}\"\n\n\
         [metrics]\n\
         listen = \"127.0.0.1:{metrics}\"\n\n\
         [consensus]\n\
         timeout_propose = 2000\n\
         timeout_prevote = 1000\n\
         timeout_precommit = 1000\n\n\
         # The gRPC address of each agency's node, where e-dossiers are pulled from.\n\
         [dossier]\n\
         peers = {{ {dossier_peers} }}\n\n\
         [log]\n\
         format = \"text\"\n\
         level = \"info\"\n",
        p2p = ports.p2p,
        rpc = ports.rpc,
        metrics = ports.metrics,
    )
}

/// One agency of the template consortium.
#[derive(Clone, Copy, Debug)]
pub struct AgencyTemplate {
    /// Registry id and folder name.
    pub id: &'static str,
    /// Kind.
    pub role: AgencyRole,
    /// Display name.
    pub name: &'static str,
    /// Administrative level.
    pub level: AgencyLevel,
    /// GB/T 2260 area code.
    pub area_code: &'static str,
}

/// The five agencies of the local testnet (a fictitious district of Harbin, 黑龙江).
pub const AGENCIES: [AgencyTemplate; 5] = [
    AgencyTemplate {
        id: "court",
        role: AgencyRole::Court,
        name: "哈尔滨市南岗区人民法院",
        level: AgencyLevel::County,
        area_code: "230103",
    },
    AgencyTemplate {
        id: "procuratorate",
        role: AgencyRole::Procuratorate,
        name: "哈尔滨市南岗区人民检察院",
        level: AgencyLevel::County,
        area_code: "230103",
    },
    AgencyTemplate {
        id: "police",
        role: AgencyRole::Police,
        name: "哈尔滨市公安局南岗分局",
        level: AgencyLevel::County,
        area_code: "230103",
    },
    AgencyTemplate {
        id: "prison",
        role: AgencyRole::Prison,
        name: "黑龙江省哈尔滨监狱",
        level: AgencyLevel::Province,
        area_code: "230000",
    },
    AgencyTemplate {
        id: "justice",
        role: AgencyRole::Justice,
        name: "哈尔滨市南岗区司法局（社区矫正机构）",
        level: AgencyLevel::County,
        area_code: "230103",
    },
];

/// Options of [`init`].
#[derive(Clone, Debug)]
pub struct InitOptions {
    /// Crypto suite of the network.
    pub suite: SuiteId,
    /// Network name.
    pub chain_id: ChainId,
    /// SM2 distinguishing ID.
    pub sm2_distid: String,
    /// Now, in Unix seconds: start of certificate validity and genesis time.
    pub now: i64,
    /// Lifetime of the CA certificates, in days.
    pub ca_days: u32,
    /// Lifetime of node and clerk certificates, in days.
    pub member_days: u32,
    /// First port: agency `i` gets p2p `base+i`, gRPC `base+100+i`, metrics `base+200+i`.
    pub base_port: u16,
}

impl InitOptions {
    /// Defaults for `suite` at time `now`.
    pub fn new(suite: SuiteId, now: i64) -> Result<Self, TestnetError> {
        Ok(InitOptions {
            suite,
            chain_id: ChainId::new(&format!("custos-local-{suite}"))
                .map_err(|e| TestnetError::Invalid(e.to_string()))?,
            sm2_distid: DEFAULT_SM2_DISTID.to_string(),
            now,
            ca_days: 3650,
            member_days: 730,
            base_port: 26000,
        })
    }
}

/// One identity in the summary.
#[derive(Clone, Debug, Serialize)]
pub struct IdentitySummary {
    /// Role.
    pub role: MemberRole,
    /// Subject.
    pub subject: String,
    /// Fingerprint (suite hash of the DER certificate).
    pub fingerprint: String,
    /// Expiry (RFC 3339).
    pub not_after: String,
    /// Certificate file.
    pub cert: PathBuf,
    /// TLS transport certificate file (node and clerk), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    /// Fingerprint of the TLS transport certificate, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_fingerprint: Option<String>,
}

/// One agency in the summary.
#[derive(Clone, Debug, Serialize)]
pub struct AgencySummary {
    /// Id.
    pub id: AgencyId,
    /// Kind.
    pub role: AgencyRole,
    /// Display name.
    pub name: String,
    /// Home folder (`--home`).
    pub home: PathBuf,
    /// Validator address (hash of the node key), if it runs a validator.
    pub node_id: Option<NodeId>,
    /// CA, node and clerk identities.
    pub identities: Vec<IdentitySummary>,
}

/// What a consortium folder holds.
#[derive(Clone, Debug, Serialize)]
pub struct ConsortiumSummary {
    /// Folder.
    pub dir: PathBuf,
    /// Network name.
    pub chain_id: ChainId,
    /// Suite.
    pub suite: SuiteId,
    /// Genesis hash.
    pub genesis_hash: String,
    /// Hash of the first validator set.
    pub validator_set_hash: String,
    /// The agencies.
    pub agencies: Vec<AgencySummary>,
}

fn crypto_err(context: &str) -> impl Fn(custos_primitives::crypto::CryptoError) -> TestnetError + '_ {
    move |source| TestnetError::Crypto { context: context.to_string(), source }
}

fn x509_err(context: String) -> impl Fn(x509::X509Error) -> TestnetError {
    move |source| TestnetError::X509 { context: context.clone(), source }
}

/// Creates the consortium in `dir`, which must be absent or empty.
pub fn init(dir: &Path, opts: &InitOptions) -> Result<ConsortiumSummary, TestnetError> {
    if dir.exists() {
        let mut entries = fs::read_dir(dir).map_err(|e| TestnetError::io(dir, e))?;
        if entries.next().is_some() {
            return Err(TestnetError::NotEmpty(dir.to_path_buf()));
        }
    }
    fs::create_dir_all(dir).map_err(|e| TestnetError::io(dir, e))?;
    let suite = AnySuite::new(opts.suite, &opts.sm2_distid).map_err(crypto_err("suite"))?;
    let day = 86_400i64;
    let ca_end = opts.now + i64::from(opts.ca_days) * day;
    let member_end = (opts.now + i64::from(opts.member_days) * day).min(ca_end);

    let mut agencies = Vec::new();
    let mut validators = Vec::new();
    let mut peer_ids = Vec::new();
    let mut profiles = Vec::new();
    for t in AGENCIES {
        let id = AgencyId::new(t.id).map_err(|e| TestnetError::Invalid(e.to_string()))?;
        let home_dir = dir.join(t.id);
        let ca_key = home::generate_key(&suite)?;
        let ca_der = x509::issue_ca(&ca_key, &id, &format!("{} CA", t.id), opts.now, ca_end)
            .map_err(x509_err(format!("{} CA", t.id)))?;
        let ca_cert = Certificate::from_der(&ca_der).map_err(x509_err(format!("{} CA", t.id)))?;
        home::write_cert(&home_dir.join("ca/ca.crt.pem"), &ca_der)?;
        home::write_key(&home_dir.join("ca/ca.key.pem"), &ca_key)?;
        let mut identities = vec![IdentityPaths {
            role: MemberRole::Ca,
            cert: "ca/ca.crt.pem".into(),
            key: "ca/ca.key.pem".into(),
            tls_cert: None,
            tls_key: None,
        }];
        for (role, label) in [
            (MemberRole::Node, "node"),
            (MemberRole::Clerk, "clerk"),
            (MemberRole::Admin, "admin"),
            (MemberRole::Adapter, "adapter"),
        ] {
            let key = home::generate_key(&suite)?;
            let cn = format!("{}-{label}-1", t.id);
            let params =
                CertParams { agency: &id, role, common_name: &cn, not_before: opts.now, not_after: member_end };
            let der =
                x509::issue_member(&ca_cert, &ca_key, &key.public_key(), &params).map_err(x509_err(cn.clone()))?;
            let cert_rel = PathBuf::from(format!("{label}/{label}.crt.pem"));
            let key_rel = PathBuf::from(format!("{label}/{label}.key.pem"));
            home::write_cert(&home_dir.join(&cert_rel), &der)?;
            home::write_key(&home_dir.join(&key_rel), &key)?;
            if role == MemberRole::Node {
                // The libp2p transport key is always ed25519 (libp2p has no SM2 identity); it is
                // bound to the node by being listed next to its certificate in genesis.
                let p2p = home::generate_key(&AnySuite::with_defaults(SuiteId::Intl))?;
                home::write_key(&home_dir.join(P2P_KEY_FILE), &p2p)?;
                peer_ids.push(peer_id_of(p2p.public_key().as_bytes())?);
                validators.push(GenesisValidator {
                    agency: id.clone(),
                    node_cert_pem: x509::der_to_pem(&der),
                    power: 1,
                    p2p_key: hex::encode(p2p.public_key().as_bytes()),
                });
            }
            // The TLS transport identity (gRPC API): always ed25519, issued by the agency CA.
            let tls_cert = PathBuf::from(format!("{label}/{TLS_CERT_FILE}"));
            let tls_key = PathBuf::from(format!("{label}/{TLS_KEY_FILE}"));
            let tls_cn = format!("{}-{label}-tls-1", t.id);
            let transport = home::generate_key(&AnySuite::with_defaults(SuiteId::Intl))?;
            let tls_der = x509::issue_transport(
                &ca_cert,
                &ca_key,
                &transport.public_key(),
                &CertParams { common_name: &tls_cn, ..params },
            )
            .map_err(x509_err(tls_cn.clone()))?;
            home::write_cert(&home_dir.join(&tls_cert), &tls_der)?;
            home::write_key(&home_dir.join(&tls_key), &transport)?;
            identities.push(IdentityPaths {
                role,
                cert: cert_rel,
                key: key_rel,
                tls_cert: Some(tls_cert),
                tls_key: Some(tls_key),
            });
        }
        // The agency's e-dossier encryption key (SM2 PKE or X25519): the private half stays in
        // the home, the public half goes into genesis.
        let enc = suite
            .generate_decryption_key()
            .map_err(|e| TestnetError::Crypto { context: "encryption key generation".into(), source: e })?;
        home::write_decryption_key(&home_dir.join(ENCRYPTION_KEY_FILE), &enc)?;
        agencies.push(GenesisAgency {
            encryption_key: Some(enc.public_key().to_text()),
            id: id.clone(),
            role: t.role,
            name: t.name.to_string(),
            level: t.level,
            area_code: t.area_code.to_string(),
            ca_cert_pem: x509::der_to_pem(&ca_der),
        });
        profiles.push((
            home_dir,
            Profile {
                agency: id,
                role: t.role,
                name: t.name.to_string(),
                chain_id: opts.chain_id.clone(),
                suite: opts.suite,
                sm2_distid: opts.sm2_distid.clone(),
                identities,
                encryption_key: Some(PathBuf::from(ENCRYPTION_KEY_FILE)),
            },
        ));
    }
    let genesis = Genesis {
        chain_id: opts.chain_id.clone(),
        suite: opts.suite,
        sm2_distid: opts.sm2_distid.clone(),
        genesis_time: opts.now,
        agencies,
        validators,
    };
    // Validate before writing: a consortium folder never holds a genesis that does not verify.
    genesis.validate().map_err(|e| TestnetError::Genesis { path: dir.join(GENESIS_FILE), source: Box::new(e) })?;
    let json = genesis.to_json();
    home::write_atomic(&dir.join(GENESIS_FILE), json.as_bytes(), 0o644)?;
    let ports: Vec<Ports> = (0..profiles.len()).map(|i| Ports::of(opts.base_port, i)).collect();
    let case_key = hex::encode(
        custos_primitives::crypto::random_bytes::<32>()
            .map_err(|e| TestnetError::Crypto { context: "case key".into(), source: e })?
            .as_ref(),
    );
    let dossier_peers: Vec<(String, u16)> =
        profiles.iter().zip(&ports).map(|((_, profile), p)| (profile.agency.to_string(), p.rpc)).collect();
    for (i, (home_dir, profile)) in profiles.iter().enumerate() {
        home::write_atomic(&home_dir.join(GENESIS_FILE), json.as_bytes(), 0o644)?;
        profile.save(home_dir)?;
        let peers: Vec<String> = (0..profiles.len())
            .filter(|j| *j != i)
            .map(|j| format!("/ip4/127.0.0.1/tcp/{}/p2p/{}", ports[j].p2p, peer_ids[j]))
            .collect();
        home::write_atomic(
            &home_dir.join(NODE_CONFIG_FILE),
            node_config(&ports[i], &peers, &dossier_peers).as_bytes(),
            0o644,
        )?;
        // The consortium case key: case numbers go on the ledger only as HMAC(case key, number).
        home::write_atomic(&home_dir.join(CASE_KEY_FILE), case_key.as_bytes(), 0o600)?;
    }
    summarize(dir, opts.now)
}

/// Loads and validates the genesis of a consortium folder or an agency home.
pub fn load_genesis(path: &Path) -> Result<ValidatedGenesis, TestnetError> {
    let file = if path.is_dir() { path.join(GENESIS_FILE) } else { path.to_path_buf() };
    let text = fs::read_to_string(&file).map_err(|e| TestnetError::io(&file, e))?;
    let g = Genesis::from_json(&text).map_err(|e| TestnetError::Genesis { path: file.clone(), source: Box::new(e) })?;
    g.validate().map_err(|e| TestnetError::Genesis { path: file, source: Box::new(e) })
}

/// Describes an existing consortium folder, checking every home's identities against the
/// genesis CAs at time `at` (Unix seconds).
pub fn summarize(dir: &Path, at: i64) -> Result<ConsortiumSummary, TestnetError> {
    let g = load_genesis(dir)?;
    let mut agencies = Vec::new();
    for a in &g.genesis.agencies {
        let home_dir = dir.join(a.id.as_str());
        let profile = Profile::load(&home_dir)?;
        if profile.agency != a.id || profile.chain_id != g.genesis.chain_id {
            return Err(TestnetError::Invalid(format!(
                "{} holds the profile of agency {} on chain {}, expected {} on {}",
                home_dir.display(),
                profile.agency,
                profile.chain_id,
                a.id,
                g.genesis.chain_id
            )));
        }
        let ca = g.cas.get(&a.id).ok_or_else(|| TestnetError::Invalid(format!("no CA for {}", a.id)))?;
        let mut identities = Vec::new();
        let mut node_id = None;
        for paths in &profile.identities {
            let ident = profile.identity(&home_dir, paths.role)?;
            if paths.role == MemberRole::Ca {
                ident.cert.verify_as_ca(&g.suite, at).map_err(x509_err(format!("{} CA", a.id)))?;
                if ident.cert.der() != ca.der() {
                    return Err(TestnetError::Invalid(format!(
                        "{}: the CA certificate differs from the one in genesis",
                        home_dir.display()
                    )));
                }
            } else {
                let m = x509::verify_member(&g.suite, &ident.cert, ca, at, Some(paths.role))
                    .map_err(x509_err(format!("{} {}", a.id, paths.role)))?;
                if paths.role == MemberRole::Node {
                    let id = NodeId::of_key(&g.suite, &m.public_key).map_err(crypto_err("node id"))?;
                    if g.validators.iter().any(|v| v.node_id == id) {
                        node_id = Some(id);
                    }
                }
            }
            let mut tls_fingerprint = None;
            if paths.tls_cert.is_some() || paths.tls_key.is_some() {
                let t = profile.transport(&home_dir, paths.role)?;
                let context = format!("{} {} TLS certificate", a.id, paths.role);
                let v = x509::verify_transport(&g.suite, &t.cert, ca, at, Some(paths.role))
                    .map_err(x509_err(context.clone()))?;
                if paths.role == MemberRole::Node && !t.cert.ext_key_usage().is_some_and(|u| u.server_auth) {
                    return Err(TestnetError::Invalid(format!("{context}: lacks extendedKeyUsage serverAuth")));
                }
                tls_fingerprint = Some(v.fingerprint.to_string());
            }
            identities.push(IdentitySummary {
                role: paths.role,
                subject: ident.cert.subject().to_string(),
                fingerprint: ident.cert.fingerprint(&g.suite).to_string(),
                not_after: x509::format_unix(ident.cert.not_after()),
                cert: home_dir.join(&paths.cert),
                tls_cert: paths.tls_cert.as_ref().map(|p| home_dir.join(p)),
                tls_fingerprint,
            });
        }
        agencies.push(AgencySummary {
            id: a.id.clone(),
            role: a.role,
            name: a.name.clone(),
            home: home_dir,
            node_id,
            identities,
        });
    }
    Ok(ConsortiumSummary {
        dir: dir.to_path_buf(),
        chain_id: g.genesis.chain_id.clone(),
        suite: g.genesis.suite,
        genesis_hash: g.hash.to_string(),
        validator_set_hash: g.validator_set_hash().to_string(),
        agencies,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    const NOW: i64 = 1_780_000_000; // 2026-05-28

    #[test]
    fn node_and_clerk_get_ed25519_transport_identities() {
        for suite in [SuiteId::Sm, SuiteId::Intl] {
            let tmp = tempfile::tempdir().unwrap();
            let s = init(tmp.path(), &InitOptions::new(suite, NOW).unwrap()).unwrap();
            let g = load_genesis(tmp.path()).unwrap();
            for a in &s.agencies {
                let profile = Profile::load(&a.home).unwrap();
                for role in [MemberRole::Node, MemberRole::Clerk] {
                    let t = profile.transport(&a.home, role).unwrap();
                    assert_eq!(t.key.suite(), SuiteId::Intl);
                    assert_eq!(t.cert.suite(), SuiteId::Intl);
                    let v = x509::verify_transport(&g.suite, &t.cert, &g.cas[&a.id], NOW, Some(role)).unwrap();
                    assert_eq!(v.agency, a.id);
                    assert_eq!(t.cert.ext_key_usage().unwrap().server_auth, role == MemberRole::Node);
                    let label = role.as_str();
                    let mode =
                        fs::metadata(a.home.join(format!("{label}/{TLS_KEY_FILE}"))).unwrap().permissions().mode();
                    assert_eq!(mode & 0o777, 0o600, "{label} TLS key mode {mode:o}");
                    assert!(a.home.join(format!("{label}/{TLS_CERT_FILE}")).is_file());
                    let summary = a.identities.iter().find(|i| i.role == role).unwrap();
                    assert_eq!(summary.tls_fingerprint.as_deref(), Some(v.fingerprint.to_string().as_str()));
                }
                // The CA has no transport identity.
                let err = profile.transport(&a.home, MemberRole::Ca).unwrap_err();
                assert!(err.to_string().contains("no TLS transport certificate"), "{err}");
            }
        }
    }

    #[test]
    fn swapped_transport_key_is_detected() {
        let tmp = tempfile::tempdir().unwrap();
        init(tmp.path(), &InitOptions::new(SuiteId::Sm, NOW).unwrap()).unwrap();
        let court = tmp.path().join("court");
        fs::remove_file(court.join("clerk/tls.key.pem")).unwrap();
        fs::copy(court.join("node/tls.key.pem"), court.join("clerk/tls.key.pem")).unwrap();
        let err = summarize(tmp.path(), NOW).unwrap_err();
        assert!(matches!(err, TestnetError::KeyMismatch { .. }), "{err}");
    }

    #[test]
    fn profiles_without_transport_fields_still_load() {
        let text = r#"
agency = "court"
role = "court"
name = "x"
chain_id = "custos-local-sm"
suite = "sm"
sm2_distid = "1234567812345678"

[[identities]]
role = "clerk"
cert = "clerk/clerk.crt.pem"
key = "clerk/clerk.key.pem"
"#;
        let p: Profile = toml::from_str(text).unwrap();
        assert_eq!(p.identities[0].tls_cert, None);
        let err = p.transport(Path::new("/nonexistent"), MemberRole::Clerk).unwrap_err();
        assert!(matches!(err, TestnetError::Invalid(_)), "{err}");
    }
}
