//! Sign-in: a token from `custos console sign-in`, checked against the member's record read
//! with a state proof from the agency's node; then a server-side session.

use std::time::Instant;

use anyhow::{Result, anyhow, bail};

use custos_cli::cases::read_verified;
use custos_cli::sign_in::SignInToken;
use custos_contracts::registry::{MemberRecord, member_key};
use custos_primitives::codec::decode_exact;
use custos_primitives::types::MemberRole;
use custos_primitives::x509::Certificate;

use crate::audit::now_ms;
use crate::state::{AppState, SignedIn};

/// Roles that may use the console.
pub const CONSOLE_ROLES: [MemberRole; 3] = [MemberRole::Clerk, MemberRole::Auditor, MemberRole::Admin];

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "custos_session";

/// Checks `token` and opens a session; returns its id and who signed in.
pub async fn sign_in(state: &AppState, token: &str) -> Result<(String, SignedIn)> {
    let token = SignInToken::from_text(token)?;
    let c = &token.claims;
    // The member's record, proven against a committed header of the agency's own node.
    let mut s = state.session(MemberRole::Clerk).await?;
    let answer = read_verified(&mut s, member_key(&c.member), None).await?;
    let Some(bytes) = answer.value else {
        bail!("member {} is not registered on the ledger (at height {})", c.member, answer.height);
    };
    let record: MemberRecord = decode_exact("member record", &bytes, 64 * 1024).map_err(|e| anyhow!("{e}"))?;
    if record.agency != state.agency {
        bail!("member {} belongs to {}; this console serves {}", c.member, record.agency, state.agency);
    }
    if !CONSOLE_ROLES.contains(&record.role) {
        bail!("a member of role {} cannot use the console (clerk, auditor or admin)", record.role);
    }
    if let Some(r) = &record.revoked {
        bail!("member {} was revoked at height {}", c.member, r.height);
    }
    let now = now_ms();
    if i64::try_from(now / 1000).unwrap_or(i64::MAX) >= record.not_after {
        bail!("member {}'s certificate expired", c.member);
    }
    token.check(&s.suite, &record.public_key, &state.profile.chain_id, &state.audience, now)?;
    {
        let mut nonces = state.nonces.lock().map_err(|_| anyhow!("nonce lock poisoned"))?;
        nonces.retain(|_, exp| *exp > now);
        if nonces.insert(c.nonce, c.expires_ms).is_some() {
            bail!("this sign-in link was already used: run `custos console sign-in` again");
        }
    }
    let name = Certificate::from_der(&record.certificate)
        .ok()
        .and_then(|cert| cert.common_name().map(str::to_string))
        .unwrap_or_else(|| c.member.to_string());
    let mut id = [0u8; 32];
    rand::fill(&mut id);
    let id = hex::encode(id);
    let who = SignedIn { member: c.member, role: record.role, name, expires: Instant::now() + state.session_ttl };
    let mut sessions = state.sessions.lock().map_err(|_| anyhow!("session lock poisoned"))?;
    let now_i = Instant::now();
    sessions.retain(|_, s| s.expires > now_i);
    sessions.insert(id.clone(), who.clone());
    Ok((id, who))
}

/// The session of `id`, if open.
pub fn session(state: &AppState, id: &str) -> Option<SignedIn> {
    let sessions = state.sessions.lock().ok()?;
    sessions.get(id).filter(|s| s.expires > Instant::now()).cloned()
}

/// Ends the session `id`.
pub fn sign_out(state: &AppState, id: &str) {
    if let Ok(mut sessions) = state.sessions.lock() {
        sessions.remove(id);
    }
}
