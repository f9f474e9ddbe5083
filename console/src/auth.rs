//! Sign-in: a token from `custos console sign-in`, checked against the member's record read
//! with a state proof from the agency's node; then a server-side session.

use std::time::Instant;

use anyhow::{Result, anyhow, bail};

use custos_cli::cases::read_verified;
use custos_cli::sign_in::SignInToken;
use custos_contracts::registry::{MemberRecord, member_key};
use custos_primitives::codec::decode_exact;
use custos_primitives::types::{CertFingerprint, MemberRole};
use custos_primitives::x509::Certificate;

use crate::audit::now_ms;
use crate::state::{AppState, SignedIn};

/// Roles that may use the console.
pub const CONSOLE_ROLES: [MemberRole; 3] = [MemberRole::Clerk, MemberRole::Auditor, MemberRole::Admin];

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "custos_session";

/// The member's record, proven against a committed header of the agency's own node (outer
/// `Err`: it could not be read), and whether the member may use this console now (inner `Err`:
/// why not).
async fn standing(state: &AppState, member: &CertFingerprint) -> Result<Result<MemberRecord, String>> {
    let mut s = state.session(MemberRole::Clerk).await?;
    let answer = read_verified(&mut s, member_key(member), None).await?;
    let Some(bytes) = answer.value else {
        return Ok(Err(format!("member {member} is not registered on the ledger (at height {})", answer.height)));
    };
    let record: MemberRecord = decode_exact("member record", &bytes, 64 * 1024).map_err(|e| anyhow!("{e}"))?;
    let refusal = if record.agency != state.agency {
        Some(format!("member {member} belongs to {}; this console serves {}", record.agency, state.agency))
    } else if !CONSOLE_ROLES.contains(&record.role) {
        Some(format!("a member of role {} cannot use the console (clerk, auditor or admin)", record.role))
    } else if let Some(r) = &record.revoked {
        Some(format!("member {member} was revoked at height {}", r.height))
    } else if i64::try_from(now_ms() / 1000).unwrap_or(i64::MAX) >= record.not_after {
        Some(format!("member {member}'s certificate expired"))
    } else {
        None
    };
    Ok(refusal.map_or(Ok(record), Err))
}

/// Checks `token` and opens a session; returns its id and who signed in.
pub async fn sign_in(state: &AppState, token: &str) -> Result<(String, SignedIn)> {
    let token = SignInToken::from_text(token)?;
    let c = &token.claims;
    let record = standing(state, &c.member).await?.map_err(|why| anyhow!(why))?;
    let now = now_ms();
    token.check(&state.suite, &record.public_key, &state.profile.chain_id, &state.audience, now)?;
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
    let who = SignedIn {
        member: c.member,
        role: record.role,
        name,
        expires: Instant::now() + state.session_ttl,
        checked: Instant::now(),
    };
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

/// The session of `id` if open and its member still in good standing on the ledger (checked at
/// most every [`RECHECK`]); a member revoked or expired since sign-in is signed out here.
pub async fn current(state: &AppState, id: &str) -> Option<SignedIn> {
    let who = session(state, id)?;
    if who.checked.elapsed() < state.recheck {
        return Some(who);
    }
    match standing(state, &who.member).await {
        Ok(Ok(_)) => {
            if let Ok(mut sessions) = state.sessions.lock()
                && let Some(s) = sessions.get_mut(id)
            {
                s.checked = Instant::now();
            }
            Some(who)
        }
        Err(e) => {
            // The record could not be read (node down, busy, a bad answer): keep the session;
            // the page will show the node's error, and the next request checks again.
            tracing::debug!(member = %who.member, error = %format!("{e:#}"), "member standing not checked");
            Some(who)
        }
        Ok(Err(why)) => {
            tracing::info!(member = %who.member, reason = %why, "session ended: member no longer in good standing");
            let _ = state.audit.write(serde_json::json!({
                "op": "console_session_ended", "agency": state.agency.to_string(),
                "member": who.member.to_string(), "member_name": who.name, "reason": why,
            }));
            sign_out(state, id);
            None
        }
    }
}

/// Ends the session `id`.
pub fn sign_out(state: &AppState, id: &str) {
    if let Ok(mut sessions) = state.sessions.lock() {
        sessions.remove(id);
    }
}
