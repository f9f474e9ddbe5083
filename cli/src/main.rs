//! `custos`: the command line of a Custos agency — certificates, consortium generation, and
//! (as later issues land) anchoring, dossiers, evidence and supervision.
//!
//! Exit status: 0 success; 1 a verification was performed and failed; 2 the command could
//! not run (bad input, missing file, …), with the cause and the fix on stderr.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Parser, Subcommand};
use custos_contracts::calendar::parse_holiday_file;
use custos_contracts::call::MAX_CERT_DER;
use custos_contracts::call::{BusinessDates, Date, SubjectKind};
use custos_contracts::governance::{GovAction, HolidayYear};
use custos_contracts::state::StateQuestion;
use custos_primitives::codec::{BoundedVec, ConstU32};
use custos_primitives::crypto::{AnySuite, DEFAULT_SM2_DISTID, Hash, SuiteId};
use custos_primitives::types::{AgencyId, AgencyLevel, AgencyRole, ChainId, DocHash, MemberRole, NodeId};
use custos_primitives::x509::{self, CertParams, Certificate};
use custos_testnet::consortium::{self, ConsortiumSummary, InitOptions};
use custos_testnet::home::{self, Profile};

use custos_cli::{cases, dossier, evidence, ledger, supervise};
use serde::Serialize;

#[derive(Parser, Debug)]
#[command(
    name = "custos",
    version,
    about = "Custos: the inter-agency ledger for community corrections (社区矫正)",
    long_about = "Custos: the inter-agency ledger for community corrections (社区矫正).\n\n\
        Courts, procuratorates, police, prisons and justice bureaus each run a node of a \
        permissioned BFT ledger that anchors document hashes, deliveries and case changes. \
        This command manages identities (agency CAs and member certificates, SM2 or ed25519) \
        and local consortia.\n\n\
        Exit status: 0 success, 1 a verification failed, 2 the command could not run."
)]
struct Cli {
    /// The agency home folder (profile, identities, genesis), e.g. DIR/court from `testnet init`.
    #[arg(long, global = true, env = "CUSTOS_HOME", value_name = "DIR")]
    home: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create agency certificate authorities and issue member certificates.
    #[command(subcommand)]
    Ca(CaCommand),
    /// Inspect and verify certificates.
    #[command(subcommand)]
    Cert(CertCommand),
    /// Create and inspect local multi-agency networks.
    #[command(subcommand)]
    Testnet(TestnetCommand),
    /// Show who the home (--home / CUSTOS_HOME) is, checking its identities against genesis.
    Whoami(WhoamiArgs),
    /// The node's status: height, round, last block, validators, peers, pool.
    Status(NodeArgs),
    /// Anchor a document's salted hash on the ledger as this home's clerk; prints the
    /// transaction id and the height it committed at, and writes FILE.anchor.json (the salt).
    Anchor(AnchorArgs),
    /// E-dossiers: send an encrypted document to other agencies, fetch one, list the node's.
    #[command(subcommand)]
    Dossier(DossierCommand),
    /// Say whether and where a document is anchored (exit 0), or that it is not (exit 1); with
    /// --bundle, verify an evidence bundle offline, with no node and no network.
    #[command(long_about = VERIFY_ABOUT)]
    Verify(VerifyArgs),
    /// Evidence bundles: export a document's whole history, or the proof that an agency had
    /// not acknowledged it at a height, as one file that verifies offline.
    #[command(subcommand)]
    Evidence(EvidenceCommand),
    /// A document's or a case's history — every anchor, receipt, grant and case transition
    /// with its height, time, agency and transaction — verified against commit certificates.
    History(HistoryArgs),
    /// Acknowledge delivery of a document (送达回执) for this home's agency, which must be one
    /// of its recipients or copies. DOC is the document file (its FILE.anchor.json is read) or
    /// the document hash in hex.
    Receipt(ReceiptArgs),
    /// Cases: their state and verified history.
    #[command(subcommand)]
    Case(CaseCommand),
    /// List the document type codes of the case workflow.
    DocTypes,
    /// Documents: a document's history (anchor, recipients, copies, receipts), verified.
    #[command(subcommand)]
    Doc(DocCommand),
    /// Members of this home's agency (as its admin).
    #[command(subcommand)]
    Member(MemberCommand),
    /// Governance: k-of-n agency approval of registry and parameter changes (as the admin).
    #[command(subcommand)]
    Gov(GovCommand),
    /// Prove from the authenticated state that an anchor exists, or that a receipt does not,
    /// at a height: the proof is checked locally against the block header's state root.
    #[command(subcommand, long_about = PROVE_ABOUT)]
    Prove(ProveCommand),
    /// Procuratorial supervision (检察监督): the legal duties missed or done late in every
    /// case — rule, case, agency at fault, duty, deadline, days overdue, basis, the transactions
    /// that prove it and what is missing. The node shows the procuratorate and auditors every
    /// agency's findings, any other agency only its own; every query is in its audit log.
    Supervise(SuperviseArgs),
    /// The agency's web console (custos-console): sign in from a browser.
    #[command(subcommand)]
    Console(ConsoleCommand),
}

#[derive(Subcommand, Debug)]
enum ConsoleCommand {
    /// Print a sign-in link for the web console, signed with this home's member key (never sent
    /// anywhere but in the link). Open it in the browser within --ttl; it works once. The console
    /// checks it against the member's record on the ledger (registered, not revoked, of the
    /// console's agency); the member is registered first if needed.
    SignIn(ConsoleSignInArgs),
}

#[derive(Args, Debug)]
struct ConsoleSignInArgs {
    /// The console's address, e.g. https://console.court.example:8443 (the token is only valid there).
    #[arg(long, value_name = "URL")]
    url: String,
    /// Sign in as this member of the home: clerk, auditor or admin.
    #[arg(long, default_value = "clerk", value_parser = parse_console_role)]
    role: MemberRole,
    /// How long the link stays valid (at most 5 min), e.g. 2m.
    #[arg(long, default_value = "2m", value_parser = humantime::parse_duration)]
    ttl: std::time::Duration,
    #[command(flatten)]
    node: NodeArgs,
}

fn parse_console_role(s: &str) -> Result<MemberRole, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "clerk" => Ok(MemberRole::Clerk),
        "auditor" => Ok(MemberRole::Auditor),
        "admin" => Ok(MemberRole::Admin),
        other => Err(format!("{other:?}: the console signs in a clerk, auditor or admin")),
    }
}

#[derive(Args, Debug)]
struct SuperviseArgs {
    /// Only this rule, e.g. S02 (docs/cli.md lists the rules).
    #[arg(long, value_name = "RULE")]
    rule: Option<String>,
    /// The date to ask about, YYYY-MM-DD (default: today, China Standard Time, by the node's clock).
    #[arg(long, value_name = "DATE")]
    as_of: Option<String>,
    /// Only findings against this agency (registry id).
    #[arg(long, value_name = "AGENCY")]
    agency: Option<String>,
    /// Only this case: its number (hashed with the consortium case key) or reference (64 hex).
    #[arg(long, value_name = "CASE")]
    case: Option<String>,
    /// At most this many findings (node default 1000, at most 10000).
    #[arg(long, value_name = "N")]
    limit: Option<u32>,
    /// Ask as this home's auditor (member role `auditor`) rather than its clerk.
    #[arg(long)]
    auditor: bool,
    /// Write the evidence of every finding into DIR (absence bundles of missing receipts,
    /// otherwise the bundles of the documents its proofs name), each verified against this
    /// home's genesis first.
    #[arg(long, value_name = "DIR")]
    evidence: Option<PathBuf>,
    #[command(flatten)]
    node: NodeArgs,
}

const PROVE_ABOUT: &str = "Prove from the authenticated state (a Jellyfish Merkle tree whose root \
    is in every block header) whether a key is in the ledger state at a height.\n\n\
    The node returns the block header of that height, the key's value if any, and a Merkle \
    proof. This command verifies the proof locally against the header's state root and checks \
    the header is of the height asked for, then prints INCLUDED (the key holds that value) or \
    ABSENT (the key holds nothing: an exclusion proof) with the height and the root. Both are \
    proven answers and exit 0; a proof or header that does not check exits 1; a node that \
    cannot be reached or a height not committed exits 2.\n\n\
    What is NOT checked here: the header's commit certificate (that validators signed that \
    header): the answer is as trustworthy as the header the node sent. For a proof that trusts \
    no node, use `custos evidence absent` / `evidence export` and `custos verify --bundle`, \
    which check the commit certificates and the validator-set chain from genesis, offline.";

#[derive(Subcommand, Debug)]
enum ProveCommand {
    /// Prove that the anchor of DOC_HASH exists (INCLUDED) or does not (ABSENT) at a height.
    #[command(long_about = "Prove that the anchor of DOC_HASH exists (INCLUDED) or does not (ABSENT) at \
        a height, from the state key `doc/<DOC_HASH>`. DOC_HASH is the document's salted hash \
        as printed by `custos anchor` (64 hex digits). Verifies against the header's state root; \
        the header's commit certificate is not checked (see `custos prove --help`).")]
    Anchor(ProveAnchorArgs),
    /// Prove that agency A has (INCLUDED) or has not (ABSENT) given a delivery receipt for
    /// DOC_HASH at a height.
    #[command(long_about = "Prove that agency A has (INCLUDED) or has not (ABSENT) given a delivery \
        receipt (送达回执) for DOC_HASH at a height, from the state key \
        `receipt/<DOC_HASH>/<A>`. ABSENT is an exclusion proof: no receipt from A for this \
        document existed in the state at that height. Verifies against the header's state root; \
        the header's commit certificate is not checked (see `custos prove --help`).")]
    Receipt(ProveReceiptArgs),
}

#[derive(Args, Debug)]
struct ProveAnchorArgs {
    /// The document hash (64 hex digits), as printed by `custos anchor`.
    #[arg(value_name = "DOC_HASH")]
    doc_hash: String,
    /// The height to prove at; default: the node's last committed height.
    #[arg(long, value_name = "H")]
    height: Option<u64>,
    #[command(flatten)]
    node: NodeArgs,
}

#[derive(Args, Debug)]
struct ProveReceiptArgs {
    /// The document hash (64 hex digits), as printed by `custos anchor`.
    #[arg(value_name = "DOC_HASH")]
    doc_hash: String,
    /// The agency whose receipt is asked about, e.g. `justice`.
    #[arg(long, value_name = "A")]
    agency: String,
    /// The height to prove at; default: the node's last committed height.
    #[arg(long, value_name = "H")]
    height: Option<u64>,
    #[command(flatten)]
    node: NodeArgs,
}

#[derive(Args, Debug)]
struct ReceiptArgs {
    /// The document file (with its FILE.anchor.json) or its hash (64 hex digits).
    doc: String,
    #[command(flatten)]
    node: NodeArgs,
}

#[derive(Subcommand, Debug)]
enum CaseCommand {
    /// The case's state and every document of its history with recipients, copies and their
    /// delivery receipts — each read with a state proof checked against the block header
    /// (✗ marks a receipt proven absent). Exit 1 if the case is not on the ledger.
    Show {
        /// The case number (案号); it is hashed with the consortium case key.
        #[arg(long)]
        case: String,
        /// Read at this height (default: the latest).
        #[arg(long)]
        height: Option<u64>,
        #[command(flatten)]
        node: NodeArgs,
    },
}

#[derive(Subcommand, Debug)]
enum DocCommand {
    /// The document's anchor (type, issuer, case, dates, e-seal reference) and, for every agency
    /// it was sent or copied to, its delivery receipt (✓ at height h) or none (✗, proven
    /// absent), all read with state proofs at one height. Exit 1 if it is not anchored.
    Show {
        /// The document file (with its FILE.anchor.json) or its hash (64 hex digits).
        doc: String,
        /// Read at this height (default: the latest).
        #[arg(long)]
        height: Option<u64>,
        #[command(flatten)]
        node: NodeArgs,
    },
}

#[derive(Subcommand, Debug)]
enum MemberCommand {
    /// Revoke a member certificate of this agency: its transactions are refused from then on.
    Revoke {
        /// The member's certificate fingerprint (64 hex digits; `custos cert show` prints it).
        fingerprint: String,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Revoke any certificate this agency's CA issued, given as a PEM or DER file: a TLS
    /// transport certificate (every node then refuses API connections and calls made with it,
    /// including connections already open) or a member certificate (which can then neither
    /// sign nor be registered). As the home's admin.
    RevokeCert {
        /// The certificate file (PEM or DER).
        file: PathBuf,
        #[command(flatten)]
        node: NodeArgs,
    },
}

#[derive(Subcommand, Debug)]
enum GovCommand {
    /// Open a proposal; this agency counts as its first approval.
    #[command(subcommand)]
    Propose(ProposeCommand),
    /// Approve or reject an open proposal for this agency (one vote per agency). When the
    /// approvals reach the threshold (default: a majority of the agencies) it is carried out.
    Vote {
        /// Proposal id.
        id: u64,
        /// Approve.
        #[arg(long, conflicts_with = "reject", required_unless_present = "reject")]
        approve: bool,
        /// Reject.
        #[arg(long)]
        reject: bool,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// The parameters in force (chain parameters and the deadline table), read with proofs,
    /// printed as TOML that `gov propose set-deadlines` / `set-chain-params` accept.
    Params {
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Show a proposal and its votes (verified read).
    Show {
        /// Proposal id.
        id: u64,
        #[command(flatten)]
        node: NodeArgs,
    },
}

#[derive(Subcommand, Debug)]
enum ProposeCommand {
    /// Change a node's voting power (0 makes it an observer); effective the height after approval.
    SetValidatorPower {
        /// Node id (64 hex digits; `custos status` lists them).
        #[arg(long)]
        node_id: String,
        /// New power.
        #[arg(long)]
        power: u64,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Admit a node of an active agency (validator when --power > 0). Its peers must also list
    /// its p2p address in their node.toml (see the operator guide).
    AddNode {
        /// The node certificate (PEM), issued by its agency's CA with role `node`.
        #[arg(long, value_name = "FILE")]
        cert: PathBuf,
        /// Its libp2p transport key: the ed25519 public key, 64 hex digits.
        #[arg(long, value_name = "HEX")]
        p2p_key: String,
        /// Voting power (0: observer).
        #[arg(long, default_value_t = 0)]
        power: u64,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Replace a node's key and certificate, keeping its power.
    RotateNodeKey {
        /// The node being replaced (64 hex digits).
        #[arg(long)]
        node_id: String,
        /// The new node certificate (PEM).
        #[arg(long, value_name = "FILE")]
        cert: PathBuf,
        /// The new libp2p transport key (64 hex digits).
        #[arg(long, value_name = "HEX")]
        p2p_key: String,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Remove a node (and its vote).
    RemoveNode {
        /// Node id (64 hex digits).
        #[arg(long)]
        node_id: String,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Admit an agency with its CA certificate.
    AddAgency {
        /// Registry id (the O of its certificates).
        #[arg(long)]
        id: String,
        /// court, procuratorate, police, prison or justice.
        #[arg(long)]
        role: AgencyRole,
        /// province, city or county.
        #[arg(long, default_value = "county")]
        level: String,
        /// GB/T 2260 area code (six digits).
        #[arg(long)]
        area_code: String,
        /// The agency's CA certificate (PEM).
        #[arg(long, value_name = "FILE")]
        ca_cert: PathBuf,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Remove an agency (it must run no validator).
    RemoveAgency {
        /// Registry id.
        #[arg(long)]
        id: String,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Replace the deadline table (domain.md §4) with the one in a TOML file: every field of
    /// `custos gov params` must be given (e.g. `notify_cca = 5`, `receipt_back = 5`, …).
    SetDeadlines {
        /// TOML file with the whole table.
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Set one year's holiday calendar: public holidays on weekdays, and weekend days that are
    /// working days (调休), given as lists or read from a holiday file (--file).
    SetHolidays {
        /// The year (with --file: optional, checked against the file's year).
        #[arg(long, required_unless_present = "file")]
        year: Option<u16>,
        /// Non-working weekdays, comma-separated YYYY-MM-DD.
        #[arg(long, value_delimiter = ',', value_parser = Date::parse, conflicts_with = "file")]
        holidays: Vec<Date>,
        /// Working weekend days, comma-separated YYYY-MM-DD.
        #[arg(long, value_delimiter = ',', value_parser = Date::parse, conflicts_with = "file")]
        workdays: Vec<Date>,
        /// A holiday file holding exactly one year: lines `YYYY-MM-DD holiday|workday [name]`,
        /// `#` comments (e.g. contracts/calendars/cn-2026.txt).
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Replace the chain parameters (threshold, proposal lifetime, date tolerances) with the ones
    /// in a TOML file; every field must be given.
    SetChainParams {
        /// TOML file with the whole set.
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Raise the case-reference key version after a key rotation off the ledger.
    SetCaseKeyVersion {
        /// New version (greater than the current one).
        #[arg(long)]
        version: u32,
        #[command(flatten)]
        node: NodeArgs,
    },
}

fn parse_node_id(s: &str) -> Result<NodeId> {
    let bytes = hex::decode(s.trim()).map_err(|_| anyhow!("a node id is 64 hex digits"))?;
    let arr: [u8; 32] = bytes.try_into().map_err(|_| anyhow!("a node id is 64 hex digits"))?;
    Ok(NodeId(Hash(arr)))
}

/// A certificate file, PEM or DER.
fn read_certificate(file: &Path) -> Result<Certificate> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let cert = if bytes.starts_with(b"-----BEGIN") {
        let text = String::from_utf8(bytes).map_err(|_| anyhow!("{} is not a PEM file", file.display()))?;
        Certificate::from_pem(&text)
    } else {
        Certificate::from_der(&bytes)
    };
    cert.with_context(|| format!("{} is not a certificate", file.display()))
}

/// A certificate file (PEM or DER) as the bounded DER a call carries.
fn read_cert_der(file: &Path) -> Result<BoundedVec<u8, ConstU32<MAX_CERT_DER>>> {
    let cert = read_certificate(file)?;
    cert.der().to_vec().try_into().map_err(|_| anyhow!("the certificate {} is too large", file.display()))
}

fn parse_p2p_key(s: &str) -> Result<[u8; 32]> {
    let bytes = hex::decode(s.trim()).map_err(|_| anyhow!("--p2p-key: 64 hex digits expected"))?;
    bytes.try_into().map_err(|_| anyhow!("--p2p-key: an ed25519 public key has 32 bytes (64 hex digits)"))
}

fn read_toml<T: serde::de::DeserializeOwned>(file: &Path) -> Result<T> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    toml::from_str(&text).with_context(|| format!("{} is not a valid parameter file", file.display()))
}

/// The one year of a holiday file (`custos_contracts::calendar` format); `year`, if given, must
/// be that year. A file of several years is refused: one proposal per year, voted on alone.
fn read_holiday_file(file: &Path, year: Option<u16>) -> Result<HolidayYear> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let years = parse_holiday_file(&text).with_context(|| format!("{} is not a valid holiday file", file.display()))?;
    let found: Vec<String> = years.iter().map(|y| y.year.to_string()).collect();
    let [one] = <[HolidayYear; 1]>::try_from(years).map_err(|_| match found.len() {
        0 => anyhow!("{} lists no dates", file.display()),
        _ => {
            anyhow!("{} lists dates of {}: one year per file (one proposal per year)", file.display(), found.join(", "))
        }
    })?;
    if let Some(year) = year.filter(|y| *y != one.year) {
        bail!("{} lists dates of {}, not of --year {year}", file.display(), one.year);
    }
    Ok(one)
}

fn proposal_of(p: ProposeCommand) -> Result<(GovAction, NodeArgs)> {
    Ok(match p {
        ProposeCommand::SetValidatorPower { node_id, power, node } => {
            (GovAction::SetValidatorPower { node: parse_node_id(&node_id)?, power }, node)
        }
        ProposeCommand::AddNode { cert, p2p_key, power, node } => {
            let certificate = read_cert_der(&cert)?;
            (GovAction::AddNode { certificate, p2p_key: parse_p2p_key(&p2p_key)?, power }, node)
        }
        ProposeCommand::RotateNodeKey { node_id, cert, p2p_key, node } => {
            let certificate = read_cert_der(&cert)?;
            let p2p_key = parse_p2p_key(&p2p_key)?;
            (GovAction::RotateNodeKey { node: parse_node_id(&node_id)?, certificate, p2p_key }, node)
        }
        ProposeCommand::RemoveNode { node_id, node } => {
            (GovAction::RemoveNode { node: parse_node_id(&node_id)? }, node)
        }
        ProposeCommand::AddAgency { id, role, level, area_code, ca_cert, node } => {
            let level: AgencyLevel = match level.as_str() {
                "province" => AgencyLevel::Province,
                "city" => AgencyLevel::City,
                "county" => AgencyLevel::County,
                other => bail!("unknown level {other:?}: expected province, city or county"),
            };
            let area: [u8; 6] = area_code
                .as_bytes()
                .try_into()
                .ok()
                .filter(|a: &[u8; 6]| a.iter().all(u8::is_ascii_digit))
                .ok_or_else(|| anyhow!("the area code must be six digits (GB/T 2260), got {area_code:?}"))?;
            let pem =
                std::fs::read_to_string(&ca_cert).with_context(|| format!("cannot read {}", ca_cert.display()))?;
            let cert =
                Certificate::from_pem(&pem).with_context(|| format!("{} is not a certificate", ca_cert.display()))?;
            let id = AgencyId::new(&id).map_err(|e| anyhow!("{e}"))?;
            let der = cert.der().to_vec().try_into().map_err(|_| anyhow!("the CA certificate is too large"))?;
            (GovAction::AddAgency { id, role, level, area_code: area, ca_cert: der }, node)
        }
        ProposeCommand::RemoveAgency { id, node } => {
            (GovAction::RemoveAgency { id: AgencyId::new(&id).map_err(|e| anyhow!("{e}"))? }, node)
        }
        ProposeCommand::SetCaseKeyVersion { version, node } => (GovAction::SetCaseKeyVersion(version), node),
        ProposeCommand::SetDeadlines { file, node } => (GovAction::SetDeadlines(read_toml(&file)?), node),
        ProposeCommand::SetChainParams { file, node } => (GovAction::SetChainParams(read_toml(&file)?), node),
        // clap refuses --holidays and --workdays together with --file.
        ProposeCommand::SetHolidays { year, file: Some(file), node, .. } => {
            (GovAction::SetHolidays(read_holiday_file(&file, year)?), node)
        }
        ProposeCommand::SetHolidays { year, holidays, workdays, file: None, node } => {
            let year = year.ok_or_else(|| anyhow!("--year is required without --file"))?;
            let holidays = holidays.try_into().map_err(|_| anyhow!("at most 64 holidays per year"))?;
            let workdays = workdays.try_into().map_err(|_| anyhow!("at most 64 working weekend days per year"))?;
            (GovAction::SetHolidays(HolidayYear { year, holidays, workdays }), node)
        }
    })
}

#[derive(Args, Debug)]
struct NodeArgs {
    /// The node's gRPC address (HOST:PORT); default: [rpc] listen of the home's node.toml.
    #[arg(long, value_name = "HOST:PORT")]
    node: Option<String>,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand, Debug)]
enum DossierCommand {
    /// Encrypt FILE for the recipients (--to, --copy) and this agency, upload it to this
    /// agency's node, and anchor its document id; writes FILE.anchor.json like `anchor`.
    Send(AnchorArgs),
    /// Have this agency's node pull document DOC from the issuer's node, then download,
    /// verify against the ledger, decrypt to OUT, and post this agency's receipt.
    Fetch(FetchArgs),
    /// Let agency A read document DOC, issued by this agency (as its clerk): wraps the
    /// document's content key to A's encryption key, stores the extended manifest on this
    /// agency's node and commits a grant on the ledger. A then fetches it with `dossier fetch`.
    Grant(GrantArgs),
    /// End agency A's grant to document DOC, issued by this agency (as its clerk): this
    /// agency's node refuses A's downloads from then on. A copy A already fetched stays
    /// readable to it.
    RevokeGrant(GrantArgs),
    /// The documents in this agency's node store, with chunks present / total.
    List(NodeArgs),
}

#[derive(Args, Debug)]
struct GrantArgs {
    /// The document id (64 hex digits), or the sent file (its FILE.anchor.json is read).
    doc: String,
    /// The agency given access (or losing it), e.g. prison.
    #[arg(long, value_name = "A")]
    agency: String,
    #[command(flatten)]
    node: NodeArgs,
}

#[derive(Args, Debug)]
struct FetchArgs {
    /// The document id (64 hex digits).
    doc: String,
    /// Where to write the decrypted document (must not exist).
    #[arg(short, long, value_name = "OUT")]
    out: PathBuf,
    #[command(flatten)]
    node: NodeArgs,
}

#[derive(Args, Debug)]
struct AnchorArgs {
    /// The document.
    file: PathBuf,
    /// The court case number (案号); only its keyed hash goes on the ledger.
    #[arg(long)]
    case: String,
    /// Document type code, e.g. JUDGMENT, EXEC_NOTICE, ASSESS_OPINION.
    #[arg(long = "type", value_name = "TYPE")]
    doc_type: String,
    /// Recipient agencies (送达), comma-separated.
    #[arg(long, value_delimiter = ',')]
    to: Vec<String>,
    /// Copy agencies (抄送), comma-separated.
    #[arg(long, value_delimiter = ',')]
    copy: Vec<String>,
    /// Kind of subject, required on a deciding document (JUDGMENT, RULING, TEMPOUT_DECISION,
    /// TEMPOUT_APPROVAL): control, probation, parole, temp_outside_court, temp_outside_prison,
    /// temp_outside_police.
    #[arg(long, value_name = "KIND")]
    kind: Option<SubjectKind>,
    /// The day the document takes effect (生效日), YYYY-MM-DD.
    #[arg(long, value_name = "DATE", value_parser = Date::parse)]
    effective: Option<Date>,
    /// The day something was received (e.g. the subject reported for INTAKE), YYYY-MM-DD.
    #[arg(long, value_name = "DATE", value_parser = Date::parse)]
    received: Option<Date>,
    /// Start of the correction period, YYYY-MM-DD.
    #[arg(long, value_name = "DATE", value_parser = Date::parse)]
    period_start: Option<Date>,
    /// End of the correction period (correction_end), YYYY-MM-DD.
    #[arg(long, value_name = "DATE", value_parser = Date::parse)]
    period_end: Option<Date>,
    /// Hash of the document's e-seal / e-signature value (64 hex digits), not the seal image.
    #[arg(long, value_name = "HEX", value_parser = parse_hash)]
    eseal: Option<Hash>,
    #[command(flatten)]
    node: NodeArgs,
}

fn parse_hash(s: &str) -> Result<Hash, String> {
    let bytes = hex::decode(s).map_err(|e| format!("not hex: {e}"))?;
    let arr: [u8; 32] = bytes.try_into().map_err(|_| "expected 64 hex digits (32 bytes)".to_string())?;
    Ok(Hash(arr))
}

const VERIFY_ABOUT: &str = "Verify a document against the ledger.\n\n\
    Without --bundle: ask this home's node whether FILE's salted hash is anchored (exit 0) or \
    not (exit 1).\n\n\
    With --bundle BUNDLE (from `custos evidence export` or `evidence absent`): verify offline, \
    with no node and no network, against a genesis you trust (--genesis FILE, --genesis-hash \
    HEX, or the genesis of --home). Checked: FILE's salted hash is the bundle's document; every \
    block header's commit certificate holds valid precommit signatures of more than two thirds \
    of the validator set in force at that height; every validator-set change on the way was \
    committed by the previous set; every validator's node certificate and every member's \
    certificate chained to its agency CA and was valid at the block time it signed at (so a \
    bundle keeps verifying after certificates expire); every transaction's Merkle path and \
    every state proof (anchor, receipts or their absence for every agency, grants, the case's \
    events). Prints the history as a timeline (or --json). Exit 0 only when every check \
    holds; otherwise exit 1 and every failed check is named.";

#[derive(Args, Debug)]
struct VerifyArgs {
    /// The document (optional with --bundle: an absence bundle needs none).
    #[arg(required_unless_present = "bundle")]
    file: Option<PathBuf>,
    /// The anchor receipt holding the document's salt; default FILE.anchor.json (with
    /// --bundle: the salt in the bundle, when the exporter had it).
    #[arg(long, value_name = "FILE")]
    receipt: Option<PathBuf>,
    /// Verify this evidence bundle offline (no node, no network).
    #[arg(long, value_name = "BUNDLE")]
    bundle: Option<PathBuf>,
    /// With --bundle: the genesis file to trust (default: the genesis of --home).
    #[arg(long, value_name = "FILE", requires = "bundle")]
    genesis: Option<PathBuf>,
    /// With --bundle: the genesis hash to trust (64 hex digits, as `custos status` prints it).
    #[arg(long, value_name = "HEX", requires = "bundle", conflicts_with = "genesis")]
    genesis_hash: Option<String>,
    #[command(flatten)]
    node: NodeArgs,
}

#[derive(Subcommand, Debug)]
enum EvidenceCommand {
    /// Write the evidence bundle of a document: its anchoring transaction with its Merkle path,
    /// the state proofs of its receipts (or their absence) for every agency, its grants and
    /// every event of its case, the block headers with their commit certificates, and the
    /// validator-set changes from genesis. The bundle is verified against this home's genesis
    /// before it is written.
    Export(EvidenceExportArgs),
    /// Write the proof that AGENCY had given no receipt for a document at a height (an
    /// exclusion proof under a certified header); `custos verify --bundle` checks it offline.
    Absent(EvidenceAbsentArgs),
}

#[derive(Args, Debug)]
struct EvidenceExportArgs {
    /// The document file (its salt is read from FILE.anchor.json or --receipt and put in the
    /// bundle) or its hash (64 hex digits).
    #[arg(value_name = "FILE|DOC_HASH")]
    doc: String,
    /// Where to write the bundle (never overwritten).
    #[arg(short, long, value_name = "BUNDLE")]
    out: PathBuf,
    /// The height to prove the history at (default: the last committed).
    #[arg(long)]
    height: Option<u64>,
    /// The anchor receipt holding the document's salt; default FILE.anchor.json.
    #[arg(long, value_name = "FILE")]
    receipt: Option<PathBuf>,
    #[command(flatten)]
    node: NodeArgs,
}

#[derive(Args, Debug)]
struct EvidenceAbsentArgs {
    /// The document: its file (with FILE.anchor.json) or hash (64 hex digits).
    #[arg(long, value_name = "FILE|DOC_HASH")]
    doc: String,
    /// The agency whose receipt is proven absent.
    #[arg(long, value_name = "AGENCY")]
    receipt_from: String,
    /// The height (default: the last committed).
    #[arg(long, value_name = "H")]
    at_height: Option<u64>,
    /// Where to write the bundle (never overwritten).
    #[arg(short, long, value_name = "BUNDLE")]
    out: PathBuf,
    #[command(flatten)]
    node: NodeArgs,
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("subject").required(true).args(["case", "doc"])))]
struct HistoryArgs {
    /// The case number, e.g. "(2026)黑0102刑初123号" (hashed with the consortium case key).
    #[arg(long)]
    case: Option<String>,
    /// The document: its file (with FILE.anchor.json) or hash (64 hex digits).
    #[arg(long, value_name = "FILE|DOC_HASH")]
    doc: Option<String>,
    #[command(flatten)]
    node: NodeArgs,
}

#[derive(Subcommand, Debug)]
enum CaCommand {
    /// Create a self-signed agency CA: writes OUT/ca.crt.pem and OUT/ca.key.pem (0600).
    Init(CaInitArgs),
    /// Issue a member certificate (node, clerk, adapter, auditor, admin) from an agency CA:
    /// writes OUT/NAME.crt.pem and OUT/NAME.key.pem (0600).
    Issue(CaIssueArgs),
}

#[derive(Args, Debug)]
struct CaInitArgs {
    /// Agency id (a-z, 0-9, '-', '_', '.'), written as the certificate's O.
    #[arg(long)]
    agency: String,
    /// Crypto suite: sm (SM2/SM3) or intl (ed25519/SHA-256).
    #[arg(long, default_value = "sm")]
    suite: SuiteId,
    /// Output folder.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// SM2 distinguishing ID used to sign (sm suite).
    #[arg(long, default_value = DEFAULT_SM2_DISTID)]
    distid: String,
    /// Certificate CN; defaults to "<agency> CA".
    #[arg(long)]
    name: Option<String>,
    /// Lifetime in days.
    #[arg(long, default_value_t = 3650)]
    days: u32,
    /// Start of validity (RFC 3339, YYYY-MM-DD or @UNIX); default now.
    #[arg(long, value_parser = parse_time)]
    not_before: Option<i64>,
}

#[derive(Args, Debug)]
struct CaIssueArgs {
    /// Folder with ca.crt.pem and ca.key.pem.
    #[arg(long, value_name = "DIR")]
    ca: PathBuf,
    /// Role written as the certificate's OU: node, clerk, adapter, auditor or admin.
    #[arg(long)]
    role: MemberRole,
    /// Certificate CN and file name stem, e.g. court-clerk-2.
    #[arg(long)]
    name: String,
    /// Output folder.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// SM2 distinguishing ID used to sign (sm suite).
    #[arg(long, default_value = DEFAULT_SM2_DISTID)]
    distid: String,
    /// Lifetime in days (capped at the CA's expiry).
    #[arg(long, default_value_t = 730)]
    days: u32,
    /// Start of validity (RFC 3339, YYYY-MM-DD or @UNIX); default now.
    #[arg(long, value_parser = parse_time)]
    not_before: Option<i64>,
}

#[derive(Subcommand, Debug)]
enum CertCommand {
    /// Print a certificate's subject, agency, role, validity, key and fingerprint.
    Show(CertShowArgs),
    /// Verify a member certificate against its agency CA at a given time (exit 1 if invalid).
    Verify(CertVerifyArgs),
}

#[derive(Args, Debug)]
struct CertShowArgs {
    /// Certificate file (PEM).
    file: PathBuf,
    /// SM2 distinguishing ID (for the fingerprint's suite; sm suite).
    #[arg(long, default_value = DEFAULT_SM2_DISTID)]
    distid: String,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct CertVerifyArgs {
    /// Member certificate file (PEM).
    file: PathBuf,
    /// The agency CA certificate (PEM).
    #[arg(long, value_name = "FILE")]
    ca: PathBuf,
    /// Require this role.
    #[arg(long)]
    role: Option<MemberRole>,
    /// Judge validity at this time (RFC 3339, YYYY-MM-DD or @UNIX); default now.
    #[arg(long, value_parser = parse_time)]
    at: Option<i64>,
    /// The network's suite; default: the CA key's suite.
    #[arg(long)]
    suite: Option<SuiteId>,
    /// SM2 distinguishing ID (sm suite).
    #[arg(long, default_value = DEFAULT_SM2_DISTID)]
    distid: String,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand, Debug)]
enum TestnetCommand {
    /// Create a five-agency consortium (court, procuratorate, police, prison, justice): per
    /// agency a CA, a node and a clerk identity and a home folder DIR/<agency>, plus DIR/genesis.json.
    Init(TestnetInitArgs),
    /// Describe an existing consortium folder, re-checking every certificate.
    Show(TestnetShowArgs),
    /// Start the five agencies' nodes as processes on loopback (creating the consortium in DIR
    /// if it is empty) and run until interrupted; restarting on the same DIR continues the chain.
    Up(TestnetUpArgs),
}

#[derive(Args, Debug)]
struct TestnetUpArgs {
    /// Consortium folder.
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// Crypto suite, when the consortium is created.
    #[arg(long, default_value = "sm")]
    suite: SuiteId,
    /// First port (p2p base, gRPC base+100, metrics base+200), when the consortium is created.
    #[arg(long, default_value_t = 26000)]
    base_port: u16,
}

#[derive(Args, Debug)]
struct TestnetInitArgs {
    /// Consortium folder (must be absent or empty).
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// Crypto suite of the network.
    #[arg(long, default_value = "sm")]
    suite: SuiteId,
    /// Network name; default custos-local-<suite>.
    #[arg(long)]
    chain_id: Option<String>,
    /// SM2 distinguishing ID (sm suite).
    #[arg(long, default_value = DEFAULT_SM2_DISTID)]
    distid: String,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct TestnetShowArgs {
    /// Consortium folder.
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct WhoamiArgs {
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

/// A failed verification: reported, exit status 1.
#[derive(Debug)]
struct VerificationFailed(String);

impl std::fmt::Display for VerificationFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for VerificationFailed {}

/// `custos … | head` closes stdout early: `println!` then panics with "failed printing to
/// stdout". Exit quietly as a program killed by SIGPIPE would (status 141), like other Unix
/// tools; any other panic keeps the default report.
fn quiet_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.contains("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

fn main() -> ExitCode {
    quiet_broken_pipe();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<VerificationFailed>().is_some() => {
            eprintln!("custos: verification failed: {e}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("custos: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Ca(CaCommand::Init(a)) => ca_init(a),
        Command::Ca(CaCommand::Issue(a)) => ca_issue(a),
        Command::Cert(CertCommand::Show(a)) => cert_show(a),
        Command::Cert(CertCommand::Verify(a)) => cert_verify(a),
        Command::Testnet(TestnetCommand::Init(a)) => testnet_init(a),
        Command::Testnet(TestnetCommand::Show(a)) => testnet_show(a),
        Command::Whoami(a) => whoami(cli.home.as_deref(), a),
        Command::Testnet(TestnetCommand::Up(a)) => runtime()?.block_on(testnet_up(a)),
        Command::Status(a) => {
            let home = need_home(cli.home.as_deref())?;
            runtime()?.block_on(ledger::status(home, a.node.as_deref(), a.json))
        }
        Command::Dossier(DossierCommand::Send(a)) => {
            let home = need_home(cli.home.as_deref())?;
            let spec = anchor_spec(&a);
            runtime()?.block_on(dossier::send(home, a.node.node.as_deref(), &a.file, &spec, a.node.json))
        }
        Command::Dossier(DossierCommand::Fetch(a)) => {
            let home = need_home(cli.home.as_deref())?;
            runtime()?.block_on(dossier::fetch(home, a.node.node.as_deref(), &a.doc, &a.out, a.node.json))
        }
        Command::Dossier(DossierCommand::Grant(a)) => {
            let home = need_home(cli.home.as_deref())?;
            runtime()?.block_on(dossier::grant(home, a.node.node.as_deref(), &a.doc, &a.agency, a.node.json))
        }
        Command::Dossier(DossierCommand::RevokeGrant(a)) => {
            let home = need_home(cli.home.as_deref())?;
            runtime()?.block_on(dossier::revoke_grant(home, a.node.node.as_deref(), &a.doc, &a.agency, a.node.json))
        }
        Command::Dossier(DossierCommand::List(n)) => {
            let home = need_home(cli.home.as_deref())?;
            runtime()?.block_on(dossier::list(home, n.node.as_deref(), n.json))
        }
        Command::Anchor(a) => {
            let home = need_home(cli.home.as_deref())?;
            let spec = anchor_spec(&a);
            runtime()?.block_on(ledger::anchor(home, a.node.node.as_deref(), &a.file, &spec, a.node.json))
        }
        Command::Verify(a) if a.bundle.is_some() => {
            let trust = evidence::TrustArgs { genesis: a.genesis, genesis_hash: a.genesis_hash, home: cli.home };
            let bundle = a.bundle.as_deref().unwrap_or(Path::new(""));
            if evidence::verify_offline(bundle, a.file.as_deref(), a.receipt.as_deref(), &trust, a.node.json)? {
                Ok(())
            } else {
                Err(VerificationFailed(format!("{} does not verify", bundle.display())).into())
            }
        }
        Command::Verify(a) => {
            let home = need_home(cli.home.as_deref())?;
            let file = a.file.ok_or_else(|| anyhow!("FILE is required without --bundle"))?;
            let found = runtime()?.block_on(ledger::verify(
                home,
                a.node.node.as_deref(),
                &file,
                a.receipt.as_deref(),
                a.node.json,
            ))?;
            if found { Ok(()) } else { Err(VerificationFailed(format!("{} is not anchored", file.display())).into()) }
        }
        Command::Evidence(EvidenceCommand::Export(a)) => {
            let home = need_home(cli.home.as_deref())?;
            runtime()?.block_on(evidence::export(
                home,
                a.node.node.as_deref(),
                &a.doc,
                a.height,
                a.receipt.as_deref(),
                &a.out,
                a.node.json,
            ))
        }
        Command::Evidence(EvidenceCommand::Absent(a)) => {
            let home = need_home(cli.home.as_deref())?;
            runtime()?.block_on(evidence::absent(
                home,
                a.node.node.as_deref(),
                &a.doc,
                &a.receipt_from,
                a.at_height,
                &a.out,
                a.node.json,
            ))
        }
        Command::History(a) => {
            let home = need_home(cli.home.as_deref())?;
            match (&a.case, &a.doc) {
                (Some(c), _) => {
                    runtime()?.block_on(evidence::history_case(home, a.node.node.as_deref(), c, a.node.json))
                }
                (None, Some(d)) => {
                    runtime()?.block_on(evidence::history_doc(home, a.node.node.as_deref(), d, a.node.json))
                }
                (None, None) => bail!("pass --case N or --doc D"),
            }
        }
        Command::Prove(p) => {
            let home = need_home(cli.home.as_deref())?;
            let (question, height, node) = match p {
                ProveCommand::Anchor(a) => (StateQuestion::Anchor(parse_doc_hash(&a.doc_hash)?), a.height, a.node),
                ProveCommand::Receipt(a) => {
                    let agency = AgencyId::new(a.agency.trim()).map_err(|e| anyhow!("--agency: {e}"))?;
                    (StateQuestion::Receipt { doc: parse_doc_hash(&a.doc_hash)?, agency }, a.height, a.node)
                }
            };
            if height == Some(0) {
                bail!("--height 0 is the empty state before the first block; heights start at 1");
            }
            match runtime()?.block_on(ledger::prove(home, node.node.as_deref(), &question, height, node.json))? {
                Ok(_) => Ok(()),
                Err(e) => Err(VerificationFailed(format!("the node's answer does not check: {e}")).into()),
            }
        }
        Command::Receipt(a) => {
            let home = need_home(cli.home.as_deref())?;
            runtime()?.block_on(cases::receipt(home, a.node.node.as_deref(), &a.doc, a.node.json))
        }
        Command::Case(CaseCommand::Show { case, height, node }) => {
            let home = need_home(cli.home.as_deref())?;
            let found = runtime()?.block_on(cases::show(home, node.node.as_deref(), &case, height, node.json))?;
            if found { Ok(()) } else { Err(VerificationFailed(format!("case {case} is not on the ledger")).into()) }
        }
        Command::Doc(DocCommand::Show { doc, height, node }) => {
            let home = need_home(cli.home.as_deref())?;
            let found = runtime()?.block_on(cases::doc_show(home, node.node.as_deref(), &doc, height, node.json))?;
            if found { Ok(()) } else { Err(VerificationFailed(format!("{doc} is not anchored")).into()) }
        }
        Command::Supervise(a) => {
            let home = need_home(cli.home.as_deref())?;
            let args = supervise::Args {
                rule: a.rule,
                as_of: a.as_of,
                agency: a.agency,
                case: a.case,
                limit: a.limit,
                auditor: a.auditor,
                evidence: a.evidence,
                node: a.node.node,
                json: a.node.json,
            };
            runtime()?.block_on(supervise::supervise(home, &args))
        }
        Command::Console(ConsoleCommand::SignIn(a)) => {
            let home = need_home(cli.home.as_deref())?;
            let link =
                runtime()?.block_on(cases::console_sign_in(home, a.node.node.as_deref(), &a.url, a.role, a.ttl))?;
            if a.node.json {
                println!("{}", serde_json::json!({ "link": link }));
            } else {
                println!("{link}");
            }
            Ok(())
        }
        Command::DocTypes => {
            cases::doc_types();
            Ok(())
        }
        Command::Member(MemberCommand::Revoke { fingerprint, node }) => {
            let home = need_home(cli.home.as_deref())?;
            runtime()?.block_on(cases::revoke(home, node.node.as_deref(), &fingerprint))
        }
        Command::Member(MemberCommand::RevokeCert { file, node }) => {
            let home = need_home(cli.home.as_deref())?;
            let cert = read_certificate(&file)?;
            runtime()?.block_on(cases::revoke_certificate(home, node.node.as_deref(), &cert))
        }
        Command::Gov(GovCommand::Propose(p)) => {
            let home = need_home(cli.home.as_deref())?;
            let (action, node) = proposal_of(p)?;
            runtime()?.block_on(cases::propose(home, node.node.as_deref(), action))
        }
        Command::Gov(GovCommand::Vote { id, approve, reject: _, node }) => {
            let home = need_home(cli.home.as_deref())?;
            runtime()?.block_on(cases::vote(home, node.node.as_deref(), id, approve))
        }
        Command::Gov(GovCommand::Params { node }) => {
            let home = need_home(cli.home.as_deref())?;
            runtime()?.block_on(cases::params(home, node.node.as_deref()))
        }
        Command::Gov(GovCommand::Show { id, node }) => {
            let home = need_home(cli.home.as_deref())?;
            let found = runtime()?.block_on(cases::show_proposal(home, node.node.as_deref(), id))?;
            if found { Ok(()) } else { Err(VerificationFailed(format!("no proposal {id}")).into()) }
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")
}

fn anchor_spec(a: &AnchorArgs) -> ledger::AnchorSpec {
    ledger::AnchorSpec {
        case: a.case.clone(),
        doc_type: a.doc_type.clone(),
        to: a.to.clone(),
        copy: a.copy.clone(),
        dates: BusinessDates {
            effective: a.effective,
            received: a.received,
            period_start: a.period_start,
            period_end: a.period_end,
        },
        kind: a.kind,
        eseal: a.eseal,
    }
}

fn need_home(home: Option<&Path>) -> Result<&Path> {
    home.ok_or_else(|| {
        anyhow!("no home: pass --home DIR (e.g. DIR/court from `custos testnet init`) or set CUSTOS_HOME")
    })
}

async fn testnet_up(a: TestnetUpArgs) -> Result<()> {
    use custos_testnet::net;
    let empty = !a.dir.exists() || std::fs::read_dir(&a.dir).map(|mut d| d.next().is_none()).unwrap_or(false);
    if empty {
        let mut opts = InitOptions::new(a.suite, now()?)?;
        opts.base_port = a.base_port;
        let summary = consortium::init(&a.dir, &opts)?;
        println!("created consortium {} ({} suite, genesis {})", a.dir.display(), summary.suite, summary.genesis_hash);
    } else {
        let summary = consortium::summarize(&a.dir, now()?)?;
        println!("reusing consortium {} ({} suite, genesis {})", a.dir.display(), summary.suite, summary.genesis_hash);
    }
    let bin = net::node_binary();
    let mut nodes = net::start_all(&a.dir, &bin)?;
    for n in &nodes {
        println!("  {:<14} gRPC {:<16} metrics http://{}/metrics  log {}", n.agency, n.rpc, n.metrics, n.log.display());
    }
    println!("running; try: custos --home {}/court status   (Ctrl-C stops all nodes)", a.dir.display());
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
            _ = tick.tick() => {
                for n in nodes.iter_mut() {
                    if let Ok(Some(status)) = n.child.try_wait() {
                        eprintln!("custos: node {} exited ({status}); see {}", n.agency, n.log.display());
                        net::stop_all(&mut nodes);
                        bail!("a node exited");
                    }
                }
            }
        }
    }
    println!("stopping the nodes...");
    net::stop_all(&mut nodes);
    Ok(())
}

fn now() -> Result<i64> {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).context("system clock is before 1970")?;
    i64::try_from(d.as_secs()).context("system clock out of range")
}

/// Parses RFC 3339 (`2026-11-29T10:00:00Z`), a date (`2026-11-29`, midnight UTC) or `@UNIX`.
fn parse_time(s: &str) -> Result<i64, String> {
    if let Some(rest) = s.strip_prefix('@') {
        return rest.parse::<i64>().map_err(|e| format!("bad Unix time {rest:?}: {e}"));
    }
    let full = if s.len() == 10 { format!("{s}T00:00:00Z") } else { s.to_string() };
    let t = humantime::parse_rfc3339_weak(&full)
        .map_err(|e| format!("bad time {s:?} ({e}): use RFC 3339 (2026-11-29T10:00:00Z), YYYY-MM-DD or @UNIX"))?;
    let secs = t.duration_since(UNIX_EPOCH).map_err(|_| format!("time {s:?} is before 1970"))?.as_secs();
    i64::try_from(secs).map_err(|_| format!("time {s:?} out of range"))
}

fn print_json<T: Serialize>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn ca_init(a: CaInitArgs) -> Result<()> {
    let agency = AgencyId::new(&a.agency)?;
    let suite = AnySuite::new(a.suite, &a.distid)?;
    let start = match a.not_before {
        Some(t) => t,
        None => now()?,
    };
    let end = start + i64::from(a.days) * 86_400;
    let key = home::generate_key(&suite)?;
    let name = a.name.unwrap_or_else(|| format!("{agency} CA"));
    let der = x509::issue_ca(&key, &agency, &name, start, end)?;
    let cert_path = a.out.join("ca.crt.pem");
    let key_path = a.out.join("ca.key.pem");
    home::write_cert(&cert_path, &der)?;
    home::write_key(&key_path, &key)?;
    let cert = Certificate::from_der(&der)?;
    println!("created {} CA for agency {agency}", a.suite);
    println!("  certificate  {}", cert_path.display());
    println!("  private key  {} (mode 0600: keep it offline)", key_path.display());
    println!("  fingerprint  {}", cert.fingerprint(&suite));
    println!("  valid        {} .. {}", x509::format_unix(start), x509::format_unix(end));
    Ok(())
}

fn ca_issue(a: CaIssueArgs) -> Result<()> {
    let ca_cert = home::read_cert(&a.ca.join("ca.crt.pem"))?;
    let suite = AnySuite::new(ca_cert.suite(), &a.distid)?;
    let ca_key = home::read_key(&a.ca.join("ca.key.pem"), &suite)?;
    let agency = ca_cert.agency()?.clone();
    let start = match a.not_before {
        Some(t) => t,
        None => now()?,
    };
    ca_cert
        .verify_as_ca(&suite, start)
        .with_context(|| format!("the CA in {} cannot issue at this time", a.ca.display()))?;
    let end = (start + i64::from(a.days) * 86_400).min(ca_cert.not_after());
    let key = home::generate_key(&suite)?;
    let der = x509::issue_member(
        &ca_cert,
        &ca_key,
        &key.public_key(),
        &CertParams { agency: &agency, role: a.role, common_name: &a.name, not_before: start, not_after: end },
    )?;
    let cert_path = a.out.join(format!("{}.crt.pem", a.name));
    let key_path = a.out.join(format!("{}.key.pem", a.name));
    home::write_cert(&cert_path, &der)?;
    home::write_key(&key_path, &key)?;
    let cert = Certificate::from_der(&der)?;
    println!("issued {} certificate {} for agency {agency}", a.role, a.name);
    println!("  certificate  {}", cert_path.display());
    println!("  private key  {} (mode 0600)", key_path.display());
    println!("  fingerprint  {}", cert.fingerprint(&suite));
    println!("  valid        {} .. {}", x509::format_unix(start), x509::format_unix(end));
    Ok(())
}

#[derive(Serialize)]
struct CertView {
    subject: String,
    issuer: String,
    agency: Option<String>,
    role: Option<String>,
    serial: String,
    suite: SuiteId,
    public_key: String,
    fingerprint: String,
    not_before: String,
    not_after: String,
    is_ca: bool,
}

fn cert_view(cert: &Certificate, distid: &str) -> Result<CertView> {
    let suite = AnySuite::new(cert.suite(), distid)?;
    Ok(CertView {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        agency: cert.agency().ok().map(|a| a.to_string()),
        role: cert.role().ok().map(|r| r.to_string()),
        serial: cert.serial_hex().to_string(),
        suite: cert.suite(),
        public_key: hex::encode(cert.public_key().as_bytes()),
        fingerprint: cert.fingerprint(&suite).to_string(),
        not_before: x509::format_unix(cert.not_before()),
        not_after: x509::format_unix(cert.not_after()),
        is_ca: cert.is_ca(),
    })
}

fn cert_show(a: CertShowArgs) -> Result<()> {
    let cert = home::read_cert(&a.file)?;
    let v = cert_view(&cert, &a.distid)?;
    if a.json {
        return print_json(&v);
    }
    println!("subject      {}", v.subject);
    println!("issuer       {}", v.issuer);
    println!("agency       {}", v.agency.as_deref().unwrap_or("(none)"));
    println!("role         {}", v.role.as_deref().unwrap_or("(none)"));
    println!("CA           {}", if v.is_ca { "yes" } else { "no" });
    println!("suite        {}", v.suite);
    println!("serial       {}", v.serial);
    println!("valid        {} .. {}", v.not_before, v.not_after);
    println!("public key   {}", v.public_key);
    println!("fingerprint  {}", v.fingerprint);
    Ok(())
}

#[derive(Serialize)]
struct VerifyView {
    valid: bool,
    file: PathBuf,
    checked_at: String,
    agency: Option<String>,
    role: Option<String>,
    fingerprint: Option<String>,
    error: Option<String>,
}

fn cert_verify(a: CertVerifyArgs) -> Result<()> {
    let ca = home::read_cert(&a.ca)?;
    let at = match a.at {
        Some(t) => t,
        None => now()?,
    };
    let suite = AnySuite::new(a.suite.unwrap_or(ca.suite()), &a.distid)?;
    // A certificate that does not parse is an input error only if the file cannot be read;
    // a corrupted certificate is a failed verification.
    let text = std::fs::read_to_string(&a.file).with_context(|| format!("cannot read {}", a.file.display()))?;
    let result = Certificate::from_pem(&text).and_then(|m| x509::verify_member(&suite, &m, &ca, at, a.role));
    let view = match &result {
        Ok(m) => VerifyView {
            valid: true,
            file: a.file.clone(),
            checked_at: x509::format_unix(at),
            agency: Some(m.agency.to_string()),
            role: Some(m.role.to_string()),
            fingerprint: Some(m.fingerprint.to_string()),
            error: None,
        },
        Err(e) => VerifyView {
            valid: false,
            file: a.file.clone(),
            checked_at: x509::format_unix(at),
            agency: None,
            role: None,
            fingerprint: None,
            error: Some(e.to_string()),
        },
    };
    if a.json {
        print_json(&view)?;
    } else if let Ok(m) = &result {
        println!(
            "OK: {} is a valid {} certificate of agency {} at {} (fingerprint {})",
            a.file.display(),
            m.role,
            m.agency,
            view.checked_at,
            m.fingerprint
        );
    }
    match result {
        Ok(_) => Ok(()),
        Err(e) => Err(VerificationFailed(format!("{}: {e}", a.file.display())).into()),
    }
}

fn print_summary(s: &ConsortiumSummary) {
    println!("consortium   {}", s.dir.display());
    println!("chain id     {}", s.chain_id);
    println!("suite        {}", s.suite);
    println!("genesis      {}", s.genesis_hash);
    println!(
        "validators   {} (set hash {})",
        s.agencies.iter().filter(|a| a.node_id.is_some()).count(),
        s.validator_set_hash
    );
    for a in &s.agencies {
        println!();
        println!("{:<14} {} [{}]", a.id, a.name, a.role);
        println!("  home       --home {}", a.home.display());
        if let Some(n) = &a.node_id {
            println!("  node id    {n}");
        }
        for i in &a.identities {
            println!("  {:<10} {}  {}  (until {})", i.role.to_string(), i.fingerprint, i.subject, i.not_after);
        }
    }
}

fn testnet_init(a: TestnetInitArgs) -> Result<()> {
    let mut opts = InitOptions::new(a.suite, now()?)?;
    if let Some(c) = a.chain_id {
        opts.chain_id = ChainId::new(&c)?;
    }
    opts.sm2_distid = a.distid;
    let summary = consortium::init(&a.dir, &opts)?;
    if a.json {
        return print_json(&summary);
    }
    print_summary(&summary);
    Ok(())
}

fn testnet_show(a: TestnetShowArgs) -> Result<()> {
    let summary = consortium::summarize(&a.dir, now()?)?;
    if a.json {
        return print_json(&summary);
    }
    print_summary(&summary);
    Ok(())
}

#[derive(Serialize)]
struct WhoamiView {
    home: PathBuf,
    agency: String,
    role: String,
    name: String,
    chain_id: String,
    suite: SuiteId,
    genesis_hash: String,
    identities: Vec<WhoamiIdentity>,
}

#[derive(Serialize)]
struct WhoamiIdentity {
    role: MemberRole,
    subject: String,
    fingerprint: String,
    not_after: String,
}

fn whoami(home_dir: Option<&Path>, a: WhoamiArgs) -> Result<()> {
    let home_dir = home_dir.ok_or_else(|| {
        anyhow!("no home: pass --home DIR (e.g. DIR/court from `custos testnet init`) or set CUSTOS_HOME")
    })?;
    let profile = Profile::load(home_dir)?;
    let g = consortium::load_genesis(home_dir)?;
    if g.genesis.chain_id != profile.chain_id {
        bail!("{}: profile is for chain {}, genesis for {}", home_dir.display(), profile.chain_id, g.genesis.chain_id);
    }
    let ca = g
        .cas
        .get(&profile.agency)
        .ok_or_else(|| anyhow!("agency {} is not in the genesis of {}", profile.agency, home_dir.display()))?;
    let at = now()?;
    let mut identities = Vec::new();
    for p in &profile.identities {
        let ident = profile.identity(home_dir, p.role)?;
        if p.role == MemberRole::Ca {
            ident.cert.verify_as_ca(&g.suite, at)?;
        } else {
            x509::verify_member(&g.suite, &ident.cert, ca, at, Some(p.role))?;
        }
        identities.push(WhoamiIdentity {
            role: p.role,
            subject: ident.cert.subject().to_string(),
            fingerprint: ident.cert.fingerprint(&g.suite).to_string(),
            not_after: x509::format_unix(ident.cert.not_after()),
        });
    }
    let v = WhoamiView {
        home: home_dir.to_path_buf(),
        agency: profile.agency.to_string(),
        role: profile.role.to_string(),
        name: profile.name.clone(),
        chain_id: profile.chain_id.to_string(),
        suite: profile.suite,
        genesis_hash: g.hash.to_string(),
        identities,
    };
    if a.json {
        return print_json(&v);
    }
    println!("{} — {} [{}]", v.agency, v.name, v.role);
    println!("chain {} ({} suite), genesis {}", v.chain_id, v.suite, v.genesis_hash);
    for i in &v.identities {
        println!("  {:<8} {}  {}  (until {})", i.role.to_string(), i.fingerprint, i.subject, i.not_after);
    }
    Ok(())
}

fn parse_doc_hash(s: &str) -> Result<DocHash> {
    Hash::from_hex(s).map(DocHash).map_err(|e| anyhow!("DOC_HASH: {e}"))
}
