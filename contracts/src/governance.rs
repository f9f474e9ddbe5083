//! Governance: k-of-n agency approval of changes to the consortium and its parameters.
//!
//! An agency admin opens a proposal ([`crate::call::ProposeCall`]); the proposer's agency
//! counts as its first approval. Admins of other agencies vote once per agency. When the
//! approvals reach the threshold (default: a majority of the active agencies) the action is
//! carried out in the same transaction; when enough agencies reject that the threshold can no
//! longer be reached, the proposal is rejected. A proposal not decided within
//! [`ChainParams::proposal_ttl`] blocks expires.
//!
//! Storage:
//! - `gov/next` → next proposal id (u64)
//! - `gov/proposal/<id, 8 bytes big-endian>` → [`Proposal`]
//! - `param/chain` → [`ChainParams`], `param/deadlines` → [`DeadlineParams`],
//!   `param/holidays/<year, 2 bytes big-endian>` → [`HolidayYear`], `param/case_key_version` → u32

use parity_scale_codec::{Decode, DecodeWithMemTracking, Encode};
use serde::Serialize;

use custos_primitives::codec::{BoundedVec, ConstU32};
use custos_primitives::types::{AgencyId, AgencyLevel, AgencyRole, NodeId};

use crate::calendar::Period;
use crate::call::{Date, MAX_CERT_DER};

/// Most holidays (or adjusted working days) listed for one year.
pub const MAX_CALENDAR_DAYS: u32 = 64;

/// What an approved proposal does. Indices are stable.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking)]
pub enum GovAction {
    /// Admit an agency with its CA certificate.
    #[codec(index = 0)]
    AddAgency {
        /// Registry id (the `O` of its certificates).
        id: AgencyId,
        /// Kind of agency.
        role: AgencyRole,
        /// Administrative level.
        level: AgencyLevel,
        /// GB/T 2260 area code, six ASCII digits.
        area_code: [u8; 6],
        /// The agency CA certificate (DER).
        ca_cert: BoundedVec<u8, ConstU32<MAX_CERT_DER>>,
    },
    /// Remove an agency: its members can no longer transact. It must run no validator.
    #[codec(index = 1)]
    RemoveAgency {
        /// The agency.
        id: AgencyId,
    },
    /// Admit a node (validator when `power > 0`, else observer).
    #[codec(index = 2)]
    AddNode {
        /// The node certificate (DER), issued by its agency's CA with role `node`.
        certificate: BoundedVec<u8, ConstU32<MAX_CERT_DER>>,
        /// Its libp2p transport key (ed25519).
        p2p_key: [u8; 32],
        /// Voting power (0: observer).
        power: u64,
    },
    /// Remove a node (and its vote, if a validator).
    #[codec(index = 3)]
    RemoveNode {
        /// The node.
        node: NodeId,
    },
    /// Change a node's voting power (0 makes it an observer).
    #[codec(index = 4)]
    SetValidatorPower {
        /// The node.
        node: NodeId,
        /// New power.
        power: u64,
    },
    /// Replace a node's key and certificate, keeping its power.
    #[codec(index = 5)]
    RotateNodeKey {
        /// The node being replaced.
        node: NodeId,
        /// The new node certificate (DER).
        certificate: BoundedVec<u8, ConstU32<MAX_CERT_DER>>,
        /// The new libp2p transport key.
        p2p_key: [u8; 32],
    },
    /// Replace the statutory deadline table.
    #[codec(index = 6)]
    SetDeadlines(DeadlineParams),
    /// Set one year's holiday calendar.
    #[codec(index = 7)]
    SetHolidays(HolidayYear),
    /// Change the case-reference key version (after a key rotation off chain).
    #[codec(index = 8)]
    SetCaseKeyVersion(u32),
    /// Replace the chain parameters.
    #[codec(index = 9)]
    SetChainParams(ChainParams),
}

impl GovAction {
    /// Short name.
    pub fn name(&self) -> &'static str {
        match self {
            GovAction::AddAgency { .. } => "add_agency",
            GovAction::RemoveAgency { .. } => "remove_agency",
            GovAction::AddNode { .. } => "add_node",
            GovAction::RemoveNode { .. } => "remove_node",
            GovAction::SetValidatorPower { .. } => "set_validator_power",
            GovAction::RotateNodeKey { .. } => "rotate_node_key",
            GovAction::SetDeadlines(_) => "set_deadlines",
            GovAction::SetHolidays(_) => "set_holidays",
            GovAction::SetCaseKeyVersion(_) => "set_case_key_version",
            GovAction::SetChainParams(_) => "set_chain_params",
        }
    }
}

/// How many agencies must approve a proposal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Threshold {
    /// More than half of the active agencies.
    #[codec(index = 0)]
    Majority,
    /// At least this many agencies (capped at the number of active agencies).
    #[codec(index = 1)]
    AtLeast(u32),
}

impl Threshold {
    /// Approvals needed among `active` agencies.
    pub fn required(self, active: u32) -> u32 {
        match self {
            Threshold::Majority => active / 2 + 1,
            Threshold::AtLeast(k) => k.clamp(1, active.max(1)),
        }
    }
}

/// Chain parameters.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainParams {
    /// Approvals a proposal needs.
    pub threshold: Threshold,
    /// Blocks a proposal stays open.
    pub proposal_ttl: u64,
    /// How many days a past-fact date (effective, received) may lie after the block's date.
    pub future_tolerance_days: u32,
    /// How many days a date may lie before the block's date.
    pub max_backdate_days: u32,
    /// Longest correction period accepted (days from its start to its end).
    pub max_period_days: u32,
}

impl Default for ChainParams {
    fn default() -> Self {
        ChainParams {
            threshold: Threshold::Majority,
            proposal_ttl: 7 * 24 * 3600,
            future_tolerance_days: 1,
            max_backdate_days: 366 * 3,
            max_period_days: 366 * 11,
        }
    }
}

/// The deadline table of domain.md §4, each deadline a [`Period`]: amount, unit (calendar days,
/// working days, months, hours), whether the start day is excluded and whether a period ending
/// on a rest day extends to the next working day — all governance parameters. Values marked [K]
/// in domain.md are unverified and kept here, not in code; the supervision rules say which of
/// their findings rest on a statutory period and which on a configurable one.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadlineParams {
    /// NOTIFY_CCA: notice to the CCA after the decision takes effect (Law Art.20).
    pub notify_cca: Period,
    /// DELIVER_DOCS: legal documents delivered to the CCA (Law Art.20).
    pub deliver_docs: Period,
    /// RECEIPT_BACK: the recipient's receipt after the documents were sent [K].
    pub receipt_back: Period,
    /// SUBJECT_REPORT: subject reports after the judgment or ruling takes effect (Law Art.21).
    pub subject_report: Period,
    /// TEMP_OUT_TRANSFER: custodial body transfers a 暂外 subject (Law Art.21).
    pub temp_out_transfer: Period,
    /// ASSESSMENT: investigation assessment [K].
    pub assessment: Period,
    /// ASSESSMENT under the fast-track procedure [K].
    pub assessment_fast_track: Period,
    /// ARREST_DECISION (Law Art.47).
    pub arrest_decision: Period,
    /// REVOKE_RULING (Law Art.48).
    pub revoke_ruling: Period,
    /// COMMIT_DECISION (Law Art.49).
    pub commit_decision: Period,
    /// REDUCTION_RULING (Law Art.33).
    pub reduction_ruling: Period,
    /// COMMIT_PHYSICAL: "立即/及时" made a number (config).
    pub commit_physical: Period,
    /// RELEASE_LAG: release after the end date (config).
    pub release_lag: Period,
    /// DETENTION_NOTICE [K].
    pub detention_notice: Period,
    /// ETAG_MAX per approval (Law Art.29).
    pub etag_max: Period,
    /// MEDICAL_REVIEW_INTERVAL [K].
    pub medical_review: Period,
    /// XFER_FILES: files sent to the new CCA after a transfer decision [K].
    pub transfer_files: Period,
    /// XFER_SUBJECT_REPORT: the subject reports at the new CCA [K].
    pub transfer_report: Period,
    /// The supervised body answers a correction opinion (provincial rule) [P].
    pub correction_reply: Period,
    /// WARNING_LOST_DAYS: a subject out of contact longer than this is warned [P].
    pub lost_contact_warning: Period,
    /// REVOKE_LOST_DAYS: a 缓刑/假释 subject out of contact longer than this is proposed for
    /// revocation [P/K].
    pub lost_contact_revoke: Period,
    /// A revocation or commitment proposed after the last warning the ladder allows ("及时",
    /// config).
    pub sanction_proposal: Period,
    /// LEAVE_PER_APPROVAL_MAX, days [K].
    pub leave_max_days: u32,
    /// LEAVE_2MONTH_CUM_MAX: days of leave in any window of [`Self::leave_window_days`] [K].
    pub leave_window_max_days: u32,
    /// The window of the cumulative leave limit, days (two months) [K].
    pub leave_window_days: u32,
    /// WARNINGS_BEFORE_REVOKE [P/K].
    pub warnings_before_revoke: u32,
}

impl Default for DeadlineParams {
    fn default() -> Self {
        DeadlineParams {
            notify_cca: Period::calendar_days(5),
            deliver_docs: Period::calendar_days(10),
            receipt_back: Period::calendar_days(5),
            subject_report: Period::calendar_days(10),
            temp_out_transfer: Period::calendar_days(10),
            assessment: Period::working_days(10),
            assessment_fast_track: Period::working_days(5),
            arrest_decision: Period::hours(48),
            revoke_ruling: Period::calendar_days(30),
            commit_decision: Period::calendar_days(30),
            reduction_ruling: Period::calendar_days(30),
            commit_physical: Period::calendar_days(3),
            release_lag: Period::calendar_days(0),
            detention_notice: Period::calendar_days(3),
            etag_max: Period::months(3),
            medical_review: Period::months(3),
            transfer_files: Period::calendar_days(5),
            transfer_report: Period::calendar_days(7),
            correction_reply: Period::calendar_days(7),
            sanction_proposal: Period::calendar_days(7),
            lost_contact_warning: Period::calendar_days(10),
            lost_contact_revoke: Period::months(1),
            leave_max_days: 30,
            leave_window_max_days: 30,
            leave_window_days: 61,
            warnings_before_revoke: 2,
        }
    }
}

/// One year's calendar: public holidays falling on weekdays, and weekend days that are
/// working days (调休).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking)]
pub struct HolidayYear {
    /// The year.
    pub year: u16,
    /// Non-working weekdays.
    pub holidays: BoundedVec<Date, ConstU32<MAX_CALENDAR_DAYS>>,
    /// Working weekend days.
    pub workdays: BoundedVec<Date, ConstU32<MAX_CALENDAR_DAYS>>,
}

/// Status of a proposal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, Serialize)]
pub enum ProposalStatus {
    /// Collecting votes.
    #[codec(index = 0)]
    Open,
    /// Approved and carried out at this height.
    #[codec(index = 1)]
    Approved(u64),
    /// Rejected at this height.
    #[codec(index = 2)]
    Rejected(u64),
}

/// A governance proposal.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking)]
pub struct Proposal {
    /// Id.
    pub id: u64,
    /// What it does.
    pub action: GovAction,
    /// Proposing agency.
    pub proposer: AgencyId,
    /// Height it was opened at.
    pub opened_at: u64,
    /// Last height votes are accepted.
    pub expires_at: u64,
    /// Approving agencies, sorted.
    pub approvals: Vec<AgencyId>,
    /// Rejecting agencies, sorted.
    pub rejections: Vec<AgencyId>,
    /// Status.
    pub status: ProposalStatus,
}

/// Why a governance call failed.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, thiserror::Error)]
pub enum GovernanceError {
    /// No such proposal.
    #[codec(index = 0)]
    #[error("no proposal {0}")]
    UnknownProposal(u64),
    /// The proposal is decided.
    #[codec(index = 1)]
    #[error("proposal {id} is already decided ({status:?})")]
    Decided {
        /// Proposal.
        id: u64,
        /// Its status.
        status: ProposalStatus,
    },
    /// Voting closed.
    #[codec(index = 2)]
    #[error("proposal {id} expired at height {expires_at}")]
    Expired {
        /// Proposal.
        id: u64,
        /// Last height votes were accepted.
        expires_at: u64,
    },
    /// The agency has voted already.
    #[codec(index = 3)]
    #[error("agency {agency} already voted on proposal {id}")]
    AlreadyVoted {
        /// Proposal.
        id: u64,
        /// Agency.
        agency: AgencyId,
    },
    /// The action cannot be carried out on the current state.
    #[codec(index = 4)]
    #[error("{action} cannot be carried out: {reason}")]
    Invalid {
        /// Action name.
        action: String,
        /// Why.
        reason: String,
    },
}

/// Key of the next proposal id.
pub const NEXT_PROPOSAL_KEY: &[u8] = b"gov/next";
/// Key of the chain parameters.
pub const CHAIN_PARAMS_KEY: &[u8] = b"param/chain";
/// Key of the deadline table.
pub const DEADLINES_KEY: &[u8] = b"param/deadlines";
/// Key of the case-reference key version.
pub const CASE_KEY_VERSION_KEY: &[u8] = b"param/case_key_version";

/// State key of a proposal.
pub fn proposal_key(id: u64) -> Vec<u8> {
    [b"gov/proposal/".as_slice(), &id.to_be_bytes()].concat()
}

/// State key of a year's calendar.
pub fn holidays_key(year: u16) -> Vec<u8> {
    [b"param/holidays/".as_slice(), &year.to_be_bytes()].concat()
}

/// Records a vote and decides the proposal once the votes of the `active` agencies (sorted)
/// reach the threshold or make it unreachable. Votes of agencies removed since they voted are
/// kept on record but no longer count.
pub fn tally(
    p: &mut Proposal,
    agency: &AgencyId,
    approve: bool,
    active: &[AgencyId],
    threshold: Threshold,
    height: u64,
) {
    let list = if approve { &mut p.approvals } else { &mut p.rejections };
    if let Err(pos) = list.binary_search(agency) {
        list.insert(pos, agency.clone());
    }
    let counted = |votes: &[AgencyId]| votes.iter().filter(|a| active.binary_search(a).is_ok()).count() as u32;
    let total = active.len() as u32;
    let required = threshold.required(total);
    let approvals = counted(&p.approvals);
    let rejections = counted(&p.rejections);
    if approvals >= required {
        p.status = ProposalStatus::Approved(height);
    } else if total.saturating_sub(rejections) < required {
        p.status = ProposalStatus::Rejected(height);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn agency(s: &str) -> AgencyId {
        AgencyId::new(s).unwrap()
    }

    fn proposal() -> Proposal {
        Proposal {
            id: 0,
            action: GovAction::SetCaseKeyVersion(2),
            proposer: agency("court"),
            opened_at: 1,
            expires_at: 100,
            approvals: vec![],
            rejections: vec![],
            status: ProposalStatus::Open,
        }
    }

    fn five() -> Vec<AgencyId> {
        let mut v: Vec<AgencyId> = ["court", "procuratorate", "police", "prison", "justice"].map(agency).to_vec();
        v.sort();
        v
    }

    #[test]
    fn votes_of_removed_agencies_no_longer_count() {
        let mut p = proposal();
        tally(&mut p, &agency("court"), true, &five(), Threshold::Majority, 2);
        tally(&mut p, &agency("police"), true, &five(), Threshold::Majority, 3);
        // The police are removed: four agencies remain, three approvals are needed.
        let four: Vec<AgencyId> = five().into_iter().filter(|a| a.as_str() != "police").collect();
        tally(&mut p, &agency("prison"), true, &four, Threshold::Majority, 4);
        assert_eq!(p.status, ProposalStatus::Open, "court and prison count; the removed police do not");
        tally(&mut p, &agency("justice"), true, &four, Threshold::Majority, 5);
        assert_eq!(p.status, ProposalStatus::Approved(5));
    }

    #[test]
    fn majority_of_five_needs_three() {
        assert_eq!(Threshold::Majority.required(5), 3);
        assert_eq!(Threshold::Majority.required(4), 3);
        assert_eq!(Threshold::AtLeast(9).required(5), 5);
        assert_eq!(Threshold::AtLeast(0).required(5), 1);
        let mut p = proposal();
        tally(&mut p, &agency("court"), true, &five(), Threshold::Majority, 2);
        tally(&mut p, &agency("police"), true, &five(), Threshold::Majority, 3);
        assert_eq!(p.status, ProposalStatus::Open);
        tally(&mut p, &agency("prison"), true, &five(), Threshold::Majority, 4);
        assert_eq!(p.status, ProposalStatus::Approved(4));
    }

    #[test]
    fn rejected_once_threshold_is_out_of_reach() {
        let mut p = proposal();
        tally(&mut p, &agency("court"), true, &five(), Threshold::Majority, 2);
        tally(&mut p, &agency("police"), false, &five(), Threshold::Majority, 3);
        tally(&mut p, &agency("prison"), false, &five(), Threshold::Majority, 3);
        assert_eq!(p.status, ProposalStatus::Open, "three of five may still approve");
        tally(&mut p, &agency("justice"), false, &five(), Threshold::Majority, 4);
        assert_eq!(p.status, ProposalStatus::Rejected(4));
        assert_eq!(p.approvals, vec![agency("court")]);
        assert_eq!(p.rejections.len(), 3);
    }

    #[test]
    fn an_agency_voting_twice_is_counted_once() {
        let mut p = proposal();
        tally(&mut p, &agency("court"), true, &five(), Threshold::Majority, 2);
        tally(&mut p, &agency("court"), true, &five(), Threshold::Majority, 3);
        tally(&mut p, &agency("police"), true, &five(), Threshold::Majority, 3);
        assert_eq!(p.approvals, vec![agency("court"), agency("police")]);
        assert_eq!(p.status, ProposalStatus::Open);
    }

    #[test]
    fn unanimity_is_lost_with_the_first_rejection() {
        let mut p = proposal();
        tally(&mut p, &agency("court"), true, &five(), Threshold::AtLeast(5), 2);
        assert_eq!(p.status, ProposalStatus::Open);
        tally(&mut p, &agency("prison"), false, &five(), Threshold::AtLeast(5), 3);
        assert_eq!(p.status, ProposalStatus::Rejected(3));
    }

    #[test]
    fn a_single_agency_threshold_is_met_by_the_proposer() {
        let mut p = proposal();
        tally(&mut p, &agency("court"), true, &five(), Threshold::AtLeast(1), 2);
        assert_eq!(p.status, ProposalStatus::Approved(2));
    }

    /// The statutory values of domain.md §4 ([L] rows), the defaults until governance changes them.
    #[test]
    fn default_deadlines_are_the_laws() {
        let d = DeadlineParams::default();
        let days = Period::calendar_days;
        assert_eq!((d.notify_cca, d.deliver_docs), (days(5), days(10)), "Law Art.20");
        assert_eq!((d.subject_report, d.temp_out_transfer), (days(10), days(10)), "Law Art.21");
        assert_eq!(d.arrest_decision, Period::hours(48), "Law Art.47");
        assert_eq!((d.revoke_ruling, d.commit_decision, d.reduction_ruling), (days(30), days(30), days(30)));
        assert_eq!(d.etag_max, Period::months(3), "Law Art.29");
        assert_eq!(d.receipt_back, days(5), "实施办法, not the repealed 2012 rule's 3 working days");
        assert_eq!(d.assessment, Period::working_days(10), "实施办法: working days");
        assert!(d.notify_cca.start_excluded && d.notify_cca.extend_past_rest_days, "刑诉法 / 民法典 counting");
    }
}
