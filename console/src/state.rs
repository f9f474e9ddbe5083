//! What the console holds: the agency's profile, the connections to its node (one per member
//! role, opened on first use), the sessions and the spent sign-in nonces.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};

use custos_cli::ledger::{Session, connect};
use custos_primitives::crypto::AnySuite;
use custos_primitives::types::{AgencyId, CertFingerprint, MemberRole};
use custos_testnet::home::Profile;

use crate::audit::AuditLog;

/// How the console was started.
#[derive(Debug)]
pub struct Options {
    /// Agency home.
    pub home: PathBuf,
    /// Node address (`None`: the home's node.toml).
    pub node: Option<String>,
    /// This console's URL, the audience of sign-in tokens.
    pub audience: String,
    /// Session lifetime.
    pub session_ttl: Duration,
    /// How often an open session's member is re-checked on the ledger.
    pub recheck: Duration,
    /// Largest upload, bytes.
    pub max_upload: usize,
    /// The audit log.
    pub audit: AuditLog,
}

/// A signed-in member.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// Its certificate.
    pub member: CertFingerprint,
    /// Its role.
    pub role: MemberRole,
    /// The certificate's common name.
    pub name: String,
    /// When the session ends.
    pub expires: Instant,
    /// When the member's standing on the ledger was last checked.
    pub checked: Instant,
}

/// The console's state.
#[derive(Debug)]
pub struct AppState {
    /// Agency home.
    pub home: PathBuf,
    /// Node address.
    pub node: Option<String>,
    /// The home's profile.
    pub profile: Profile,
    /// This console's agency.
    pub agency: AgencyId,
    /// The network's suite.
    pub suite: AnySuite,
    /// Sign-in audience.
    pub audience: String,
    /// Session lifetime.
    pub session_ttl: Duration,
    /// How often an open session's member is re-checked on the ledger.
    pub recheck: Duration,
    /// Largest upload, bytes.
    pub max_upload: usize,
    /// Audit log.
    pub audit: AuditLog,
    /// Open sessions by id.
    pub sessions: Mutex<BTreeMap<String, SignedIn>>,
    /// Spent sign-in nonces with their token's expiry (ms), until then.
    pub nonces: Mutex<BTreeMap<[u8; 16], u64>>,
    /// Node connections by role (opened on first use; tonic reconnects them).
    conns: tokio::sync::Mutex<BTreeMap<u8, Session>>,
}

fn role_key(r: MemberRole) -> u8 {
    MemberRole::ALL.iter().position(|x| *x == r).map_or(u8::MAX, |i| i as u8)
}

impl AppState {
    /// Reads the home; the node is contacted on first use.
    pub fn load(o: Options) -> Result<Self> {
        let profile = Profile::load(&o.home).with_context(|| format!("{} is not an agency home", o.home.display()))?;
        let case_key = o.home.join("case.key");
        if !case_key.is_file() {
            return Err(anyhow!(
                "{} is missing: the console needs the consortium case key to look up case numbers",
                case_key.display()
            ));
        }
        let suite = profile.suite().with_context(|| format!("the suite of {}", o.home.display()))?;
        Ok(AppState {
            agency: profile.agency.clone(),
            suite,
            profile,
            home: o.home,
            node: o.node,
            audience: o.audience,
            session_ttl: o.session_ttl,
            recheck: o.recheck,
            max_upload: o.max_upload,
            audit: o.audit,
            sessions: Mutex::new(BTreeMap::new()),
            nonces: Mutex::new(BTreeMap::new()),
            conns: tokio::sync::Mutex::new(BTreeMap::new()),
        })
    }

    /// A connection to the node with the transport identity of `role` of this agency.
    pub async fn session(&self, role: MemberRole) -> Result<Session> {
        let mut conns = self.conns.lock().await;
        if let Some(s) = conns.get(&role_key(role)) {
            return Ok(s.clone());
        }
        let s = connect(&self.home, self.node.as_deref(), role).await?;
        conns.insert(role_key(role), s.clone());
        Ok(s)
    }
}
