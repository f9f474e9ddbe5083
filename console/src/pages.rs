//! Routes and pages: server-rendered HTML (maud), no script, every asset served from the binary.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::{Context, anyhow};
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Form, Multipart, Path as UrlPath, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;

use custos_cli::cases::{self, CaseView, DocView, PartyView};
use custos_cli::ledger::{AnchorSpec, NodeRefusal, StatusView};
use custos_cli::supervise::{self, FindingView, MissingView, View as SuperviseView};
use custos_cli::{dossier, evidence};
use custos_contracts::call::{BusinessDates, Date, SubjectKind};
use custos_contracts::supervision::RULES;
use custos_contracts::workflow::DOC_TYPES;
use custos_primitives::crypto::Hash;
use custos_primitives::types::{DocHash, MemberRole};

use crate::auth::{self, SESSION_COOKIE};
use crate::i18n::Lang;
use crate::state::{AppState, SignedIn};

const CSS: &str = include_str!("../assets/console.css");

type St = State<Arc<AppState>>;

/// The console's routes.
pub fn router(state: Arc<AppState>) -> Router {
    let max_upload = state.max_upload;
    Router::new()
        .route("/", get(home))
        .route("/sign-in", get(sign_in_link).post(sign_in_form))
        .route("/sign-out", post(sign_out))
        .route("/lang/{code}", get(set_lang))
        .route("/status", get(status))
        .route("/case", get(case))
        .route("/doc/{hash}", get(doc))
        .route("/doc/{hash}/bundle", get(doc_bundle))
        .route("/doc/{hash}/absent/{agency}", get(absence_bundle))
        .route("/supervision", get(supervision))
        .route("/supervision.csv", get(supervision_csv))
        .route("/upload", get(upload_form).post(upload).layer(DefaultBodyLimit::max(max_upload + (1 << 20))))
        .route("/assets/console.css", get(css))
        .layer(middleware::from_fn_with_state(state.clone(), audit_and_headers))
        .with_state(state)
}

// ---------------------------------------------------------------------------------------------
// Requests: cookies, sessions, the audit line, headers.

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn lang(headers: &HeaderMap) -> Lang {
    Lang::from_cookie(cookie(headers, "lang"))
}

fn who(state: &AppState, headers: &HeaderMap) -> Option<SignedIn> {
    cookie(headers, SESSION_COOKIE).and_then(|id| auth::session(state, id))
}

/// Writes the audit line of every request (before it is served; no line, no answer) and sets
/// the security headers of every answer.
async fn audit_and_headers(State(state): St, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    // The sign-in token is single-use and short-lived, but it still stays out of the log.
    let query = if path == "/sign-in" { None } else { req.uri().query().map(str::to_string) };
    if path != "/assets/console.css" {
        let person = who(&state, req.headers());
        let line = serde_json::json!({
            "op": "console_request",
            "agency": state.agency.to_string(),
            "method": req.method().as_str(),
            "path": path,
            "query": query,
            "member": person.as_ref().map(|p| p.member.to_string()),
            "member_name": person.as_ref().map(|p| p.name.clone()),
            "role": person.as_ref().map(|p| p.role.to_string()),
        });
        if let Err(e) = state.audit.write(line) {
            tracing::error!(error = %e, "audit log write failed; request refused");
            return (StatusCode::INTERNAL_SERVER_ERROR, "the audit log cannot be written").into_response();
        }
    }
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if path != "/assets/console.css" {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// The signed-in member (still in good standing), or the answer that sends the browser to the
/// sign-in page.
async fn require(state: &AppState, headers: &HeaderMap) -> Result<(Lang, SignedIn), Redirect> {
    let l = lang(headers);
    let current = match cookie(headers, SESSION_COOKIE) {
        Some(id) => auth::current(state, id).await,
        None => None,
    };
    match current {
        Some(w) => Ok((l, w)),
        None => Err(Redirect::to("/")),
    }
}

fn html_response(code: StatusCode, page: Markup) -> Response {
    (code, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], page.into_string()).into_response()
}

/// An error page; the node's refusals keep their meaning (403 not permitted, 404 not found …).
fn error_page(state: &AppState, l: Lang, w: Option<&SignedIn>, path: &str, e: &anyhow::Error) -> Response {
    let code = match e.downcast_ref::<NodeRefusal>().map(|r| r.code) {
        Some(tonic::Code::PermissionDenied) => StatusCode::FORBIDDEN,
        Some(tonic::Code::NotFound) => StatusCode::NOT_FOUND,
        Some(tonic::Code::InvalidArgument) => StatusCode::BAD_REQUEST,
        Some(tonic::Code::Unavailable) => StatusCode::BAD_GATEWAY,
        Some(_) => StatusCode::INTERNAL_SERVER_ERROR,
        None => StatusCode::BAD_REQUEST,
    };
    let title = match code {
        StatusCode::FORBIDDEN => l.t("无权查看", "Not permitted"),
        StatusCode::NOT_FOUND => l.t("未找到", "Not found"),
        StatusCode::BAD_GATEWAY => l.t("节点不可用", "Node unavailable"),
        _ => l.t("无法完成", "Could not complete the request"),
    };
    let explain = match code {
        StatusCode::FORBIDDEN => l.t(
            "本机构不是该案件的当事机构。只有案件当事机构、检察机关和审计人员可以查看。",
            "Your agency is not a party to this case. Only its parties, the procuratorate and auditors may see it.",
        ),
        _ => "",
    };
    tracing::info!(path, status = code.as_u16(), error = %format!("{e:#}"), "request refused");
    let body = html! {
        div.error id="error" data-status=(code.as_u16()) {
            h2 { (title) }
            @if !explain.is_empty() { p { (explain) } }
            pre { (format!("{e:#}")) }
        }
    };
    html_response(code, layout(state, l, w, path, title, body))
}

fn layout(state: &AppState, l: Lang, w: Option<&SignedIn>, path: &str, title: &str, body: Markup) -> Markup {
    let (other, other_name) = l.other();
    html! {
        (DOCTYPE)
        html lang=(l.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Custos " (state.profile.name) }
                link rel="stylesheet" href="/assets/console.css";
            }
            body {
                header {
                    span.brand { "Custos · " (state.profile.name) " (" (state.agency) ")" }
                    @if w.is_some() {
                        nav {
                            a href="/status" { (l.t("网络状态", "Network")) }
                            a href="/case" { (l.t("案件", "Cases")) }
                            a href="/supervision" { (l.t("法律监督", "Supervision")) }
                            a href="/upload" { (l.t("发送电子卷宗", "Send e-dossier")) }
                        }
                    }
                    span.right {
                        a id="lang-switch" href=(format!("/lang/{other}?back={}", url_encode(path))) { (other_name) }
                        @if let Some(w) = w {
                            span.who id="who" { (w.name) " · " (w.role) }
                            form.inline method="post" action="/sign-out" {
                                button type="submit" id="sign-out" { (l.t("退出", "Sign out")) }
                            }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
                footer {
                    (l.t("所有数据均由本机构节点读取，并以状态证明对照区块头验证。", "Everything shown is read from this agency's node and checked with state proofs against the block header."))
                }
            }
        }
    }
}

/// Percent-encodes a query value.
fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn time_ms(ms: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

fn short(h: &str) -> &str {
    h.get(..16).unwrap_or(h)
}

// ---------------------------------------------------------------------------------------------
// Sign-in, sign-out, language.

async fn home(State(state): St, headers: HeaderMap) -> Response {
    let l = lang(&headers);
    if who(&state, &headers).is_some() {
        return Redirect::to("/status").into_response();
    }
    html_response(StatusCode::OK, sign_in_page(&state, l, None))
}

fn sign_in_page(state: &AppState, l: Lang, error: Option<&str>) -> Markup {
    let cmd = format!("custos --home HOME console sign-in --url {}", state.audience);
    let body = html! {
        @if let Some(e) = error { div.error id="error" { p { (e) } } }
        p { (l.t("请在本机用您的成员证书签发一次性登录链接，然后在浏览器中打开该链接：", "Sign a one-time sign-in link with your member certificate on your own machine, then open it in this browser:")) }
        pre id="sign-in-command" { (cmd) }
        p { (l.t("或将链接中的令牌粘贴到下面：", "Or paste the token from the link here:")) }
        form method="post" action="/sign-in" {
            input type="text" name="token" id="token" size="80" autocomplete="off";
            button type="submit" { (l.t("登录", "Sign in")) }
        }
        p.note { (l.t("令牌最长有效5分钟，只能使用一次；控制台不接收密码或私钥。", "A token is valid for at most 5 minutes and works once; the console never receives a password or a private key.")) }
    };
    layout(state, l, None, "/", l.t("登录", "Sign in"), body)
}

#[derive(Deserialize)]
struct TokenParam {
    token: Option<String>,
}

async fn sign_in_link(State(state): St, headers: HeaderMap, Query(q): Query<TokenParam>) -> Response {
    do_sign_in(&state, &headers, q.token.as_deref().unwrap_or("")).await
}

async fn sign_in_form(State(state): St, headers: HeaderMap, Form(q): Form<TokenParam>) -> Response {
    do_sign_in(&state, &headers, q.token.as_deref().unwrap_or("")).await
}

async fn do_sign_in(state: &AppState, headers: &HeaderMap, token: &str) -> Response {
    let l = lang(headers);
    match auth::sign_in(state, token).await {
        Ok((id, w)) => {
            let line = serde_json::json!({
                "op": "console_sign_in", "agency": state.agency.to_string(), "ok": true,
                "member": w.member.to_string(), "member_name": w.name, "role": w.role.to_string(),
            });
            if let Err(e) = state.audit.write(line) {
                auth::sign_out(state, &id);
                return error_page(state, l, None, "/sign-in", &e);
            }
            tracing::info!(member = %w.member, name = %w.name, role = %w.role, "signed in");
            let cookie = format!(
                "{SESSION_COOKIE}={id}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age={}",
                state.session_ttl.as_secs()
            );
            (StatusCode::SEE_OTHER, [(header::LOCATION, "/status".to_string()), (header::SET_COOKIE, cookie)])
                .into_response()
        }
        Err(e) => {
            let msg = format!("{e:#}");
            let _ = state.audit.write(serde_json::json!({
                "op": "console_sign_in", "agency": state.agency.to_string(), "ok": false, "reason": msg,
            }));
            tracing::info!(reason = %msg, "sign-in refused");
            html_response(StatusCode::UNAUTHORIZED, sign_in_page(state, l, Some(&msg)))
        }
    }
}

async fn sign_out(State(state): St, headers: HeaderMap) -> Response {
    if let Some(id) = cookie(&headers, SESSION_COOKIE) {
        auth::sign_out(&state, id);
    }
    let clear = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0");
    (StatusCode::SEE_OTHER, [(header::LOCATION, "/".to_string()), (header::SET_COOKIE, clear)]).into_response()
}

#[derive(Deserialize)]
struct Back {
    back: Option<String>,
}

async fn set_lang(UrlPath(code): UrlPath<String>, Query(b): Query<Back>) -> Response {
    let value = if code == "en" { "en" } else { "zh" };
    // Only a path on this console: never an open redirect.
    let back = b.back.filter(|p| p.starts_with('/') && !p.starts_with("//") && !p.contains('\\'));
    let cookie = format!("lang={value}; Path=/; Secure; SameSite=Strict; Max-Age=31536000");
    (StatusCode::SEE_OTHER, [(header::LOCATION, back.unwrap_or_else(|| "/".into())), (header::SET_COOKIE, cookie)])
        .into_response()
}

async fn css() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "max-age=3600")], CSS).into_response()
}

// ---------------------------------------------------------------------------------------------
// Network status.

async fn status(State(state): St, headers: HeaderMap) -> Response {
    let (l, w) = match require(&state, &headers).await {
        Ok(x) => x,
        Err(r) => return r.into_response(),
    };
    let view = async {
        let mut s = state.session(w.role).await?;
        custos_cli::ledger::status_view(&mut s).await
    }
    .await;
    match view {
        Ok(v) => html_response(
            StatusCode::OK,
            layout(&state, l, Some(&w), "/status", l.t("网络状态", "Network status"), status_body(l, &v)),
        ),
        Err(e) => error_page(&state, l, Some(&w), "/status", &e),
    }
}

fn status_body(l: Lang, v: &StatusView) -> Markup {
    html! {
        table.kv id="status" {
            tr { th { (l.t("链", "Chain")) } td { (v.chain_id) " (" (v.suite) ")" } }
            tr { th { (l.t("本机构节点", "This agency's node")) } td { (v.node) " (" (v.agency) ")" } }
            tr { th { (l.t("区块高度", "Height")) } td id="height" { (v.height) } }
            tr { th { (l.t("共识轮次", "Round")) } td { (v.round) } }
            tr { th { (l.t("最新区块", "Last block")) } td.mono { (v.last_block) } }
            tr { th { (l.t("最新提交时间", "Last commit")) } td { (time_ms(v.last_block_time_ms)) } }
            tr { th { (l.t("连接的节点", "Peers")) } td id="peers" { (v.peers) } }
            tr { th { (l.t("待打包交易", "Mempool")) } td { (v.mempool_txs) } }
            tr { th { (l.t("记录的作恶证据", "Misbehaviour recorded")) } td { (v.misbehaviour_total) } }
        }
        h2 { (l.t("验证节点", "Validators")) " (" (v.validators.len()) ")" }
        table.list id="validators" {
            tr { th { (l.t("机构", "Agency")) } th { (l.t("节点标识", "Node id")) } }
            @for (agency, id) in &v.validators {
                tr { td { (agency) } td.mono { (id) } }
            }
        }
        @if !v.misbehaviour.is_empty() {
            h2 { (l.t("作恶证据", "Misbehaviour")) }
            table.list {
                tr { th { (l.t("高度", "Height")) } th { (l.t("轮次", "Round")) } th { (l.t("机构", "Agency")) } th { (l.t("类型", "Kind")) } }
                @for m in &v.misbehaviour {
                    tr { td { (m.height) } td { (m.round) } td { (if m.agency.is_empty() { &m.validator } else { &m.agency }) } td { (m.kind) } }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Cases and documents.

#[derive(Deserialize, Default)]
struct CaseParam {
    case: Option<String>,
}

async fn case(State(state): St, headers: HeaderMap, Query(q): Query<CaseParam>) -> Response {
    let (l, w) = match require(&state, &headers).await {
        Ok(x) => x,
        Err(r) => return r.into_response(),
    };
    let asked = q.case.as_deref().map(str::trim).filter(|c| !c.is_empty());
    let path = format!("/case?case={}", url_encode(asked.unwrap_or("")));
    let form = html! {
        form.filters method="get" action="/case" {
            label { (l.t("案号或案件引用", "Case number or reference")) " "
                input type="text" name="case" id="case-input" size="40" value=(asked.unwrap_or("")); }
            button type="submit" id="case-open" { (l.t("查看", "Open")) }
        }
    };
    let Some(asked) = asked else {
        return html_response(StatusCode::OK, layout(&state, l, Some(&w), "/case", l.t("案件", "Case"), form));
    };
    let result = async {
        let mut s = state.session(w.role).await?;
        let r = cases::case_ref_arg(&s, asked)?;
        let view = cases::case_view(&mut s, &r, None).await?;
        let findings = if view.found {
            let args = supervise::Args { case: Some(r.to_string()), ..Default::default() };
            Some(supervise::query(&mut s, &args).await?)
        } else {
            None
        };
        Ok::<_, anyhow::Error>((view, findings))
    }
    .await;
    match result {
        Ok((view, findings)) => {
            let body = html! { (form) (case_body(l, asked, &view, findings.as_ref())) };
            let code = if view.found { StatusCode::OK } else { StatusCode::NOT_FOUND };
            html_response(code, layout(&state, l, Some(&w), &path, l.t("案件", "Case"), body))
        }
        Err(e) => error_page(&state, l, Some(&w), &path, &e),
    }
}

fn parties(l: Lang, doc: &str, ps: &[PartyView]) -> Markup {
    html! {
        @for p in ps {
            span.party {
                (p.agency) " "
                @match p.receipt_height {
                    Some(h) => span.ok title=(format!("{} {}{}", l.t("已签收，交易", "receipt, transaction"), p.receipt_tx.as_deref().unwrap_or(""), p.receipt_time_ms.map(|t| format!(", {}", time_ms(t))).unwrap_or_default())) { "✓ h" (h) },
                    None => {
                        span.missing title=(l.t("未签收（已证明不存在）", "no receipt (proven absent)")) { "✗" }
                        " " a.small href=(format!("/doc/{doc}/absent/{}", p.agency)) { (l.t("证据", "evidence")) }
                    }
                }
            }
        }
    }
}

fn case_body(l: Lang, asked: &str, v: &CaseView, findings: Option<&SuperviseView>) -> Markup {
    html! {
        p.note { (l.t("读取高度", "Read at height")) " " (v.height) ", "
            (l.t("状态根", "state root")) " " span.mono { (v.state_root) } " — " (l.t("证明已验证", "proofs verified")) }
        p { (l.t("案件引用（案号的带密钥哈希，案号本身不上链）", "Case reference (keyed hash of the number; the number itself is not on the ledger)")) ": "
            span.mono id="case-ref" { (v.case_ref) } }
        @match &v.case {
            None => div.error id="error" data-status="404" { p { (asked) ": " (l.t("该高度下不存在此案件（已证明不存在）", "no such case at this height (proven absent)")) } },
            Some(c) => {
                table.kv id="case" {
                    tr { th { (l.t("矫正类别", "Kind")) } td { (c.kind.map(|k| k.to_string()).unwrap_or_else(|| "—".into())) } }
                    tr { th { (l.t("状态", "State")) } td id="case-state" { (c.state) } }
                    tr { th { (l.t("社区矫正机构", "CCA")) } td { (c.cca.as_ref().map(|a| a.to_string()).unwrap_or_else(|| "—".into())) } }
                    tr { th { (l.t("决定机关", "Deciding body")) } td { (c.deciding_body.as_ref().map(|a| a.to_string()).unwrap_or_else(|| "—".into())) } }
                    @if let Some(d) = c.decision_effective { tr { th { (l.t("决定生效", "Decision effective")) } td { (d) } } }
                    @if let Some(e) = c.correction_end { tr { th { (l.t("矫正期满", "Correction ends")) } td { (e) } } }
                }
                h2 { (l.t("时间线", "Timeline")) }
                table.list id="timeline" {
                    tr {
                        th { "#" } th { (l.t("高度", "Height")) } th { (l.t("文书类型", "Document type")) }
                        th { (l.t("发文机构", "Issuer")) } th { (l.t("交易", "Transaction")) } th { (l.t("状态变化", "State change")) }
                        th { (l.t("日期", "Dates")) } th { (l.t("送达（签收）", "To (receipt)")) } th { (l.t("抄送（签收）", "Copy (receipt)")) }
                        th { (l.t("文书", "Document")) }
                    }
                    @for st in &v.history {
                        tr {
                            td { (st.n + 1) } td { (st.height) } td { (st.doc_type) } td { (st.issuer) }
                            td.mono title=(st.tx_id) { (short(&st.tx_id)) "…" }
                            td { (st.from) " → " (st.to) }
                            td {
                                @if let Some(e) = &st.effective { (l.t("生效 ", "effective ")) (e) br; }
                                @if let Some(r) = &st.received { (l.t("收到 ", "received ")) (r) }
                            }
                            td { (parties(l, &st.doc_hash, &st.recipients)) }
                            td { (parties(l, &st.doc_hash, &st.copies)) }
                            td { a.mono href=(format!("/doc/{}", st.doc_hash)) { (short(&st.doc_hash)) "…" } }
                        }
                    }
                }
                @if let Some(f) = findings {
                    h2 { (l.t("监督发现", "Supervision findings")) " (" (f.findings.len()) ")" }
                    @if f.findings.is_empty() {
                        p id="no-findings" { (l.t("无（本机构可见范围内）", "None (within what your agency may see)")) }
                    } @else {
                        (findings_table(l, &f.findings))
                    }
                }
            }
        }
    }
}

fn findings_table(l: Lang, findings: &[FindingView]) -> Markup {
    html! {
        table.list id="findings" {
            tr {
                th { (l.t("规则", "Rule")) } th { (l.t("机构", "Agency")) } th { (l.t("案件", "Case")) }
                th { (l.t("义务", "Duty")) } th { (l.t("期限", "Deadline")) } th { (l.t("超期天数", "Days overdue")) }
                th { (l.t("依据的交易", "Proven by")) } th { (l.t("缺失", "Missing")) } th { (l.t("证据", "Evidence")) }
            }
            @for f in findings {
                tr.finding data-rule=(f.rule) {
                    td { b { (f.rule) } br; (f.title) br; span.small { (f.basis) } }
                    td { (f.agency) }
                    td { a.mono href=(format!("/case?case={}", f.case_ref)) { (short(&f.case_ref)) "…" } }
                    td { (f.duty) }
                    td { (f.deadline) br; span.small { (l.t("起算 ", "from ")) (f.start) @if let Some(d) = &f.done { br; (l.t("完成 ", "done ")) (d) } } }
                    td.num { (f.days_overdue) }
                    td { @for p in &f.proofs { span.small { "h" (p.height) " " (p.what) " " } a.mono href=(format!("/doc/{}", p.doc)) { (short(&p.doc)) "…" } br; } }
                    td {
                        @match &f.missing {
                            Some(MissingView::Receipt { doc, agency }) => { (agency) (l.t(" 的签收回执", "'s receipt")) " (" a.mono href=(format!("/doc/{doc}")) { (short(doc)) "…" } ")" }
                            Some(MissingView::Document { types, from }) => { (types.join(" / ")) (l.t("，应由 ", " from ")) (from) }
                            Some(MissingView::Addressee { doc, role }) => { (role) (l.t(" 未列为收件或抄送 ", " not a recipient or copy of ")) a.mono href=(format!("/doc/{doc}")) { (short(doc)) "…" } }
                            None => "—",
                        }
                    }
                    td {
                        @match &f.missing {
                            Some(MissingView::Receipt { doc, agency }) => {
                                a.evidence href=(format!("/doc/{doc}/absent/{agency}")) { (l.t("缺失回执证据包", "absence bundle")) } br;
                            }
                            _ => {}
                        }
                        @for doc in f.proofs.iter().map(|p| p.doc.as_str()).collect::<std::collections::BTreeSet<_>>() {
                            a.evidence href=(format!("/doc/{doc}/bundle")) { (l.t("文书证据包", "document bundle")) " " (short(doc)) } br;
                        }
                    }
                }
            }
        }
    }
}

fn doc_hash(s: &str) -> anyhow::Result<DocHash> {
    Hash::from_hex(s.trim()).map(DocHash).map_err(|e| anyhow!("{s:?} is not a document hash (64 hex digits): {e}"))
}

async fn doc(State(state): St, headers: HeaderMap, UrlPath(hash): UrlPath<String>) -> Response {
    let (l, w) = match require(&state, &headers).await {
        Ok(x) => x,
        Err(r) => return r.into_response(),
    };
    let path = format!("/doc/{}", url_encode(&hash));
    let result = async {
        let d = doc_hash(&hash)?;
        let mut s = state.session(w.role).await?;
        let view = cases::doc_view(&mut s, &d, None).await?;
        // The document's whole history, from its evidence bundle verified against genesis
        // (commit certificates, proofs): what `custos history --doc` prints.
        let history = if view.found {
            let req = custos_api::pb::ExportEvidenceRequest {
                doc_hash: d.0.0.to_vec(),
                height: None,
                absent_receipt_from: None,
            };
            let bundle = evidence::fetch_bundle(&mut s, req).await?;
            Some(evidence::check_export(&s, &bundle)?)
        } else {
            None
        };
        Ok::<_, anyhow::Error>((view, history))
    }
    .await;
    match result {
        Ok((v, history)) => {
            let code = if v.found { StatusCode::OK } else { StatusCode::NOT_FOUND };
            let body = html! { (doc_body(l, &v)) @if let Some(h) = &history { (history_table(l, h)) } };
            html_response(code, layout(&state, l, Some(&w), &path, l.t("文书", "Document"), body))
        }
        Err(e) => error_page(&state, l, Some(&w), &path, &e),
    }
}

fn doc_body(l: Lang, v: &DocView) -> Markup {
    html! {
        p.note { (l.t("读取高度", "Read at height")) " " (v.height) ", " (l.t("状态根", "state root")) " " span.mono { (v.state_root) } }
        @if !v.found {
            div.error id="error" data-status="404" { p { (l.t("该高度下未存证（已证明不存在）", "Not anchored at this height (proven absent)")) } }
        } @else {
            table.kv id="document" {
                tr { th { (l.t("文书哈希", "Document hash")) } td.mono { (v.doc_hash) } }
                tr { th { (l.t("文书类型", "Type")) } td { (v.doc_type.as_deref().unwrap_or("—")) } }
                tr { th { (l.t("发文机构", "Issuer")) } td { (v.issuer.as_deref().unwrap_or("—")) } }
                tr { th { (l.t("签名成员证书", "Signing member")) } td.mono { (v.signer.as_deref().unwrap_or("—")) } }
                tr { th { (l.t("存证高度", "Anchored at")) } td { (v.anchored_at.map(|h| h.to_string()).unwrap_or_default()) } }
                tr { th { (l.t("交易", "Transaction")) } td.mono { (v.tx_id.as_deref().unwrap_or("—")) } }
                tr { th { (l.t("案件", "Case")) } td {
                    @if let Some(c) = &v.case_ref { a.mono href=(format!("/case?case={c}")) { (c) } }
                    " → " (v.case_state_after.as_deref().unwrap_or("—")) } }
                @if let Some(k) = &v.subject_kind { tr { th { (l.t("矫正类别", "Kind")) } td { (k) } } }
                @if let Some(d) = &v.dates {
                    @if let Some(x) = d.effective { tr { th { (l.t("生效日期", "Effective")) } td { (x) } } }
                    @if let Some(x) = d.received { tr { th { (l.t("收到日期", "Received")) } td { (x) } } }
                    @if let Some(x) = d.period_start { tr { th { (l.t("期间起", "Period from")) } td { (x) } } }
                    @if let Some(x) = d.period_end { tr { th { (l.t("期间止", "Period to")) } td { (x) } } }
                }
                tr { th { (l.t("送达", "To")) } td id="recipients" { (parties(l, &v.doc_hash, &v.recipients)) } }
                tr { th { (l.t("抄送", "Copy")) } td id="copies" { (parties(l, &v.doc_hash, &v.copies)) } }
            }
            p {
                a.button id="bundle" href=(format!("/doc/{}/bundle", v.doc_hash)) { (l.t("下载证据包", "Download the evidence bundle")) }
            }
            p.note { (l.t("证据包包含文书的完整历史及其证明，可离线验证：", "The bundle holds the document's whole history with its proofs and verifies offline:"))
                " " code { "custos verify --bundle FILE --genesis genesis.json" } }
        }
    }
}

fn history_table(l: Lang, v: &custos_contracts::evidence::Verified) -> Markup {
    html! {
        h2 { (l.t("经验证的历史", "Verified history")) }
        p.note { (l.t("每条记录均经提交证书和状态证明验证，截至高度 ", "Every entry verified with commit certificates and state proofs, as of height "))
            (v.at_height) " (" (time_ms(v.at_time_ms)) ")" }
        table.list id="history" {
            tr { th { (l.t("高度", "Height")) } th { (l.t("时间", "Time")) } th { (l.t("机构", "Agency")) } th { (l.t("事件", "Event")) } th { (l.t("交易", "Transaction")) } }
            @for e in &v.timeline {
                tr {
                    td { (e.height) }
                    td { (e.time_ms.map(time_ms).unwrap_or_default()) }
                    td { (e.agency) }
                    td { (e.what) }
                    td.mono { (e.tx_id.as_deref().unwrap_or("—")) }
                }
            }
        }
        @if !v.not_received.is_empty() {
            p id="not-received" { (l.t("尚未签收（已证明不存在）：", "No receipt yet (proven absent): ")) (v.not_received.join(", ")) }
        }
    }
}

async fn bundle_response(
    state: &AppState,
    w: &SignedIn,
    doc: &str,
    absent: Option<String>,
) -> anyhow::Result<Response> {
    let d = doc_hash(doc)?;
    if let Some(a) = &absent {
        custos_primitives::types::AgencyId::new(a).map_err(|e| anyhow!("agency {a:?}: {e}"))?;
    }
    let mut s = state.session(w.role).await?;
    let name = match &absent {
        Some(a) => format!("absent-{d}-{a}.bundle"),
        None => format!("doc-{d}.bundle"),
    };
    let req = custos_api::pb::ExportEvidenceRequest {
        doc_hash: d.0.0.to_vec(),
        height: None,
        absent_receipt_from: absent.clone(),
    };
    let bundle = evidence::fetch_bundle(&mut s, req).await?;
    // Checked against the home's genesis before it is handed out, as `custos evidence export` does.
    evidence::check_export(&s, &bundle)?;
    let bytes = bundle.to_bytes();
    state.audit.write(serde_json::json!({
        "op": "console_evidence", "agency": state.agency.to_string(), "member": w.member.to_string(),
        "member_name": w.name, "doc": d.to_string(), "absent_receipt_from": absent, "bytes": bytes.len(),
    }))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        Body::from(bytes),
    )
        .into_response())
}

async fn doc_bundle(State(state): St, headers: HeaderMap, UrlPath(hash): UrlPath<String>) -> Response {
    let (l, w) = match require(&state, &headers).await {
        Ok(x) => x,
        Err(r) => return r.into_response(),
    };
    match bundle_response(&state, &w, &hash, None).await {
        Ok(r) => r,
        Err(e) => error_page(&state, l, Some(&w), &format!("/doc/{}", url_encode(&hash)), &e),
    }
}

async fn absence_bundle(
    State(state): St,
    headers: HeaderMap,
    UrlPath((hash, agency)): UrlPath<(String, String)>,
) -> Response {
    let (l, w) = match require(&state, &headers).await {
        Ok(x) => x,
        Err(r) => return r.into_response(),
    };
    match bundle_response(&state, &w, &hash, Some(agency)).await {
        Ok(r) => r,
        Err(e) => error_page(&state, l, Some(&w), &format!("/doc/{}", url_encode(&hash)), &e),
    }
}

// ---------------------------------------------------------------------------------------------
// Supervision.

#[derive(Deserialize, Default, Clone)]
struct Filters {
    rule: Option<String>,
    agency: Option<String>,
    case: Option<String>,
    as_of: Option<String>,
}

impl Filters {
    fn args(&self) -> supervise::Args {
        let keep = |v: &Option<String>| v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
        supervise::Args {
            rule: keep(&self.rule),
            agency: keep(&self.agency),
            case: keep(&self.case),
            as_of: keep(&self.as_of),
            ..Default::default()
        }
    }

    fn query(&self) -> String {
        let a = self.args();
        [("rule", a.rule), ("agency", a.agency), ("case", a.case), ("as_of", a.as_of)]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| format!("{k}={}", url_encode(&v))))
            .collect::<Vec<_>>()
            .join("&")
    }
}

async fn run_supervision(state: &AppState, w: &SignedIn, f: &Filters) -> anyhow::Result<SuperviseView> {
    let args = f.args();
    if let Some(d) = &args.as_of {
        Date::parse(d).map_err(|e| anyhow!("date {d:?}: {e}"))?;
    }
    let mut s = state.session(w.role).await?;
    supervise::query(&mut s, &args).await
}

async fn supervision(State(state): St, headers: HeaderMap, Query(f): Query<Filters>) -> Response {
    let (l, w) = match require(&state, &headers).await {
        Ok(x) => x,
        Err(r) => return r.into_response(),
    };
    let q = f.query();
    let path = format!("/supervision?{q}");
    let a = f.args();
    let form = html! {
        form.filters method="get" action="/supervision" id="filters" {
            label { (l.t("规则", "Rule")) " "
                select name="rule" id="rule" {
                    option value="" { (l.t("全部", "all")) }
                    @for (id, title) in RULES {
                        option value=(id) selected[a.rule.as_deref() == Some(*id)] { (id) " " (title) }
                    }
                }
            }
            label { (l.t("机构", "Agency")) " " input type="text" name="agency" id="agency" size="12" value=(a.agency.as_deref().unwrap_or("")); }
            label { (l.t("案件", "Case")) " " input type="text" name="case" id="case" size="24" value=(a.case.as_deref().unwrap_or("")); }
            label { (l.t("截至日期", "As of")) " " input type="date" name="as_of" id="as_of" value=(a.as_of.as_deref().unwrap_or("")); }
            button type="submit" id="filter" { (l.t("筛选", "Filter")) }
            " " a.button id="csv" href=(format!("/supervision.csv?{q}")) { (l.t("导出CSV", "Export CSV")) }
        }
    };
    match run_supervision(&state, &w, &f).await {
        Ok(v) => {
            let scope = if v.cross_agency {
                l.t("可见范围：所有机构", "Visible to you: every agency")
            } else {
                l.t("可见范围：仅本机构", "Visible to you: your agency only")
            };
            let body = html! {
                (form)
                p.note id="scope" { (l.t("截至 ", "As of ")) (v.as_of) ", " (l.t("高度 ", "height ")) (v.height) ". " (scope) ". "
                    (v.matched) (l.t(" 条匹配", " matched")) @if v.truncated { (l.t("（已截断）", " (truncated)")) } }
                (findings_table(l, &v.findings))
            };
            html_response(
                StatusCode::OK,
                layout(&state, l, Some(&w), &path, l.t("法律监督", "Legal supervision"), body),
            )
        }
        Err(e) => error_page(&state, l, Some(&w), &path, &e),
    }
}

/// One CSV field (RFC 4180), with a leading quote against formula injection in spreadsheets.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) { format!("'{s}") } else { s.to_string() };
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s }
}

fn csv(v: &SuperviseView) -> String {
    let mut out = String::from(
        "rule,title,basis,agency,case_ref,duty,start,deadline,done,days_overdue,proof_docs,proof_txs,missing,height,as_of\r\n",
    );
    for f in &v.findings {
        let missing = match &f.missing {
            Some(MissingView::Receipt { doc, agency }) => format!("receipt of {agency} for {doc}"),
            Some(MissingView::Document { types, from }) => format!("{} from {from}", types.join(" or ")),
            Some(MissingView::Addressee { doc, role }) => format!("{role} as recipient or copy of {doc}"),
            None => String::new(),
        };
        let docs: Vec<&str> = f.proofs.iter().map(|p| p.doc.as_str()).collect();
        let txs: Vec<&str> = f.proofs.iter().map(|p| p.tx_id.as_str()).collect();
        let row = [
            f.rule.clone(),
            f.title.clone(),
            f.basis.clone(),
            f.agency.clone(),
            f.case_ref.clone(),
            f.duty.clone(),
            f.start.clone(),
            f.deadline.clone(),
            f.done.clone().unwrap_or_default(),
            f.days_overdue.to_string(),
            docs.join(" "),
            txs.join(" "),
            missing,
            v.height.to_string(),
            v.as_of.clone(),
        ];
        out.push_str(&row.iter().map(|c| csv_field(c)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    out
}

async fn supervision_csv(State(state): St, headers: HeaderMap, Query(f): Query<Filters>) -> Response {
    let (l, w) = match require(&state, &headers).await {
        Ok(x) => x,
        Err(r) => return r.into_response(),
    };
    match run_supervision(&state, &w, &f).await {
        Ok(v) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (header::CONTENT_DISPOSITION, format!("attachment; filename=\"supervision-{}.csv\"", v.as_of)),
            ],
            // A byte-order mark so that spreadsheet programs read the Chinese text as UTF-8.
            format!("\u{feff}{}", csv(&v)),
        )
            .into_response(),
        Err(e) => error_page(&state, l, Some(&w), "/supervision", &e),
    }
}

// ---------------------------------------------------------------------------------------------
// Upload (e-dossier send).

fn upload_page(state: &AppState, l: Lang, w: &SignedIn, notice: Option<Markup>) -> Markup {
    let body = html! {
        @if let Some(n) = notice { (n) }
        p.note { (l.t(
            "文件在控制台加密给收件、抄送机构和本机构，分块上传到本机构节点，并以本机构控制台的适配器证书存证；审计日志记录您的姓名。",
            "The file is encrypted on the console to its recipients, copies and your agency, uploaded in chunks to this agency's node and anchored under the console's adapter certificate; the audit log records your name."
        )) }
        form.upload method="post" action="/upload" enctype="multipart/form-data" {
            label { (l.t("文件", "File")) input type="file" name="file" id="file" required; }
            label { (l.t("案号", "Case number")) input type="text" name="case" id="up-case" required; }
            label { (l.t("文书类型", "Document type"))
                select name="doc_type" id="doc-type" { @for t in DOC_TYPES { option value=(t) { (t) } } } }
            label { (l.t("送达机构（逗号分隔）", "To (agencies, comma-separated)")) input type="text" name="to" id="to" required; }
            label { (l.t("抄送机构（逗号分隔）", "Copy (agencies, comma-separated)")) input type="text" name="copy" id="copy"; }
            label { (l.t("矫正类别", "Kind"))
                select name="kind" id="kind" { option value="" { "—" } @for k in SubjectKind::ALL { option value=(k.as_str()) { (k.as_str()) } } } }
            label { (l.t("生效日期", "Effective")) input type="date" name="effective"; }
            label { (l.t("收到日期", "Received")) input type="date" name="received"; }
            label { (l.t("期间起", "Period from")) input type="date" name="period_start"; }
            label { (l.t("期间止", "Period to")) input type="date" name="period_end"; }
            button type="submit" id="send" { (l.t("加密发送并存证", "Encrypt, send and anchor")) }
        }
    };
    layout(state, l, Some(w), "/upload", l.t("发送电子卷宗", "Send an e-dossier"), body)
}

async fn upload_form(State(state): St, headers: HeaderMap) -> Response {
    let (l, w) = match require(&state, &headers).await {
        Ok(x) => x,
        Err(r) => return r.into_response(),
    };
    html_response(StatusCode::OK, upload_page(&state, l, &w, None))
}

fn opt_date(fields: &std::collections::BTreeMap<String, String>, k: &str) -> anyhow::Result<Option<Date>> {
    match fields.get(k).map(|s| s.trim()).filter(|s| !s.is_empty()) {
        Some(d) => Date::parse(d).map(Some).map_err(|e| anyhow!("{k} {d:?}: {e}")),
        None => Ok(None),
    }
}

async fn upload(State(state): St, headers: HeaderMap, mut form: Multipart) -> Response {
    let (l, w) = match require(&state, &headers).await {
        Ok(x) => x,
        Err(r) => return r.into_response(),
    };
    if w.role != MemberRole::Clerk {
        let e = anyhow!("only a clerk may send e-dossiers from the console; you are signed in as {}", w.role);
        return error_page(&state, l, Some(&w), "/upload", &e);
    }
    let result = async {
        let mut fields = std::collections::BTreeMap::new();
        let mut file: Option<(String, Vec<u8>)> = None;
        while let Some(field) = form.next_field().await.context("the upload form")? {
            let name = field.name().unwrap_or("").to_string();
            if name == "file" {
                let fname = field.file_name().unwrap_or("document").to_string();
                let bytes = field.bytes().await.context("the uploaded file")?;
                if bytes.len() > state.max_upload {
                    return Err(anyhow!("the file is larger than {} MiB", state.max_upload >> 20));
                }
                file = Some((fname, bytes.to_vec()));
            } else {
                fields.insert(name, field.text().await.context("a form field")?);
            }
        }
        let (fname, bytes) = file.ok_or_else(|| anyhow!("no file was chosen"))?;
        if bytes.is_empty() {
            return Err(anyhow!("the file {fname:?} is empty"));
        }
        let list = |k: &str| -> Vec<String> {
            fields
                .get(k)
                .map(|v| {
                    v.split([',', '，', ' ']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
                })
                .unwrap_or_default()
        };
        let kind = match fields.get("kind").map(|s| s.trim()).filter(|s| !s.is_empty()) {
            Some(k) => Some(k.parse::<SubjectKind>().map_err(|e| anyhow!(e))?),
            None => None,
        };
        let spec = AnchorSpec {
            case: fields
                .get("case")
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .ok_or_else(|| anyhow!("the case number is missing"))?,
            doc_type: fields.get("doc_type").map(|s| s.trim().to_string()).unwrap_or_default(),
            to: list("to"),
            copy: list("copy"),
            dates: BusinessDates {
                effective: opt_date(&fields, "effective")?,
                received: opt_date(&fields, "received")?,
                period_start: opt_date(&fields, "period_start")?,
                period_end: opt_date(&fields, "period_end")?,
            },
            kind,
            eseal: None,
        };
        // The file goes to a private scratch folder of the home, named by the browser's file name
        // (only its last component, so the media type follows its extension).
        let safe: String = std::path::Path::new(&fname)
            .file_name()
            .map(|n| n.to_string_lossy().chars().filter(|c| !matches!(c, '/' | '\\' | '\0')).collect())
            .unwrap_or_else(|| "document".into());
        let dir = tempfile_dir(&state)?;
        let path = dir.join(if safe.is_empty() { "document".to_string() } else { safe });
        std::fs::write(&path, &bytes).with_context(|| format!("cannot write {}", path.display()))?;
        let mut s = state.session(MemberRole::Adapter).await?;
        let sent = dossier::send_file(&mut s, MemberRole::Adapter, &path, &spec).await;
        let _ = std::fs::remove_dir_all(&dir);
        let (view, receipt) = sent?;
        state.audit.write(serde_json::json!({
            "op": "console_upload", "agency": state.agency.to_string(), "member": w.member.to_string(),
            "member_name": w.name, "file_name": fname, "bytes": bytes.len(), "doc_id": view.doc_id,
            "tx_id": view.tx_id, "height": view.height, "doc_type": receipt.doc_type, "salt": receipt.salt,
        }))?;
        Ok::<_, anyhow::Error>((view, receipt))
    }
    .await;
    match result {
        Ok((view, receipt)) => {
            let notice = html! {
                div.ok id="sent" {
                    p { (l.t("已发送并存证", "Sent and anchored")) ": " a.mono href=(format!("/doc/{}", view.doc_id)) { (view.doc_id) } }
                    p { (l.t("高度 ", "Height ")) (view.height) ", " (l.t("交易 ", "transaction ")) span.mono { (view.tx_id) } }
                    p { (l.t("可读机构", "Readable by")) ": " (view.recipients.join(", ")) }
                    p { (l.t("盐值（与文件一起保存，用于复算哈希）", "Salt (keep it with the file to recompute the hash)")) ": " span.mono id="salt" { (receipt.salt) } }
                }
            };
            html_response(StatusCode::OK, upload_page(&state, l, &w, Some(notice)))
        }
        Err(e) => error_page(&state, l, Some(&w), "/upload", &e),
    }
}

/// A fresh private folder for one upload under HOME/.console-upload.
fn tempfile_dir(state: &AppState) -> anyhow::Result<std::path::PathBuf> {
    let mut r = [0u8; 8];
    rand::fill(&mut r);
    let dir = state.home.join(".console-upload").join(hex::encode(r));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot restrict {}", dir.display()))?;
    }
    Ok(dir)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"x\""), "\"say \"\"x\"\"\"");
        assert_eq!(csv_field("=cmd()"), "'=cmd()");
        assert_eq!(csv_field("line\nbreak"), "\"line\nbreak\"");
    }

    #[test]
    fn what_the_user_typed_is_escaped_in_the_page() {
        let v = CaseView {
            case_ref: "ab".repeat(32),
            height: 7,
            state_root: "00".repeat(32),
            found: false,
            case: None,
            history: vec![],
        };
        let html = case_body(Lang::En, "<script>alert(1)</script>", &v, None).into_string();
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{html}");
        assert!(!html.contains("<script>"));
        assert!(html.contains("proven absent"));
    }

    #[tokio::test]
    async fn the_language_switch_only_returns_to_this_console() {
        for (back, to) in [
            (Some("/case?case=1"), "/case?case=1"),
            (Some("//evil.example/x"), "/"),
            (Some("https://evil.example/"), "/"),
            (Some("/\\evil.example"), "/"),
            (None, "/"),
        ] {
            let r = set_lang(UrlPath("en".into()), Query(Back { back: back.map(str::to_string) })).await;
            assert_eq!(r.status(), StatusCode::SEE_OTHER);
            assert_eq!(r.headers()[header::LOCATION], to, "{back:?}");
            assert!(r.headers()[header::SET_COOKIE].to_str().unwrap().starts_with("lang=en;"));
        }
    }

    #[test]
    fn findings_export_as_csv_with_one_row_each() {
        let v = SuperviseView {
            node: "n".into(),
            height: 9,
            as_of: "2026-11-30".into(),
            cross_agency: true,
            matched: 1,
            truncated: false,
            findings: vec![FindingView {
                rule: "S02".into(),
                title: "late delivery of legal documents (法律文书送达超期)".into(),
                basis: "statutory".into(),
                case_ref: "ab".repeat(32),
                agency: "court".into(),
                duty: "deliver the JUDGMENT, RULING to the CCA".into(),
                start: "2026-11-10".into(),
                deadline: "2026-11-20".into(),
                done: None,
                days_overdue: 10,
                proofs: vec![],
                missing: Some(MissingView::Receipt { doc: "cd".repeat(32), agency: "justice".into() }),
            }],
            evidence: vec![],
        };
        let text = csv(&v);
        let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[1].starts_with("S02,late delivery of legal documents (法律文书送达超期),statutory,court,"));
        assert!(lines[1].contains(",\"deliver the JUDGMENT, RULING to the CCA\","));
        assert!(lines[1].contains(",10,"));
        assert!(lines[1].ends_with(",9,2026-11-30"));
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(url_encode("(2026)黑0103刑初18号"), "%282026%29%E9%BB%910103%E5%88%91%E5%88%9D18%E5%8F%B7");
        assert_eq!(url_encode("/case?x"), "/case%3Fx");
    }
}
