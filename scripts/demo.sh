#!/usr/bin/env bash
# The main job: start a local five-agency network (court, procuratorate, police, prison,
# justice) with SM2 identities, run one probation (缓刑) case end to end — assessment
# commission, opinion, judgment and execution notice sent as encrypted e-dossiers with copies,
# fetched by the justice bureau (delivery receipts), intake, announcement, release —
# each step anchored by the right agency's clerk, show that an illegal step is refused, print the
# case history (read with state proofs), verify a document, show that a changed document is not
# anchored, check every certificate independently with OpenSSL 3, export the judgment's evidence
# bundle (and the proof that the police never acknowledged it), stop the network and verify both
# bundles offline; a bundle with one byte changed fails. A second case is delivered late and
# without the police's copy: `custos supervise` shows both findings with their evidence, the
# procuratorate anchors a correction opinion and the court replies. The prison's case system sends
# a letter through its watched-folder adapter; the justice bureau's adapter receives it.
#
# With KEEP_RUNNING=1 the network stays up and the procuratorate's web console is started on
# https://127.0.0.1:8443 (a self-signed certificate made for the demo) with a sign-in link printed.
#
# Environment: SUITE (sm|intl), DEMO_DIR, KEEP_RUNNING=1, DEMO_CONSOLE_PORT, CUSTOS_BIN, CUSTOS_NODE_BIN,
# CUSTOS_ADAPTER_BIN and CUSTOS_CONSOLE_BIN (use these binaries instead of building), DEMO_CASE / DEMO_SUBJECT / DEMO_ID (the demo's personal
# data, which must never reach the ledger).
set -euo pipefail
cd "$(dirname "$0")/.."
SUITE="${SUITE:-sm}"
DIR="${DEMO_DIR:-demo-net}"
KEEP_RUNNING="${KEEP_RUNNING:-0}"

TARGET="${CARGO_TARGET_DIR:-target}"
if [ -z "${CUSTOS_BIN:-}" ]; then
  echo "== building custos, custos-node, custos-adapter and custos-console"
  cargo build --quiet --bin custos --bin custos-node --bin custos-adapter --bin custos-console
  CUSTOS_BIN="$TARGET/debug/custos"
  export CUSTOS_NODE_BIN="$TARGET/debug/custos-node"
fi
CUSTOS="$CUSTOS_BIN"
ADAPTER="${CUSTOS_ADAPTER_BIN:-$(dirname "$CUSTOS_BIN")/custos-adapter}"
if [ ! -x "$ADAPTER" ]; then
  echo "$ADAPTER is missing: build it (cargo build --bin custos-adapter) or set CUSTOS_ADAPTER_BIN" >&2
  exit 2
fi

echo "== starting the five-agency network in $DIR (suite $SUITE)"
"$CUSTOS" testnet up --dir "$DIR" --suite "$SUITE" --base-port "${DEMO_BASE_PORT:-26000}" &
UP=$!
ADAPTERS=()
cleanup() {
  for p in "${ADAPTERS[@]}" ${CONSOLE_PID:-}; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  kill -TERM "$UP" 2>/dev/null || true; wait "$UP" 2>/dev/null || true
}
trap cleanup EXIT

for i in $(seq 1 60); do
  if "$CUSTOS" --home "$DIR/court" status >/dev/null 2>&1; then break; fi
  sleep 1
done
"$CUSTOS" --home "$DIR/court" status

# One probation (缓刑) case, end to end. The subject, the ID number and the case number appear
# in the documents and on the command line, never on the ledger (checked by the privacy test).
CASE="${DEMO_CASE:-(2026)黑0103刑初17号}"
SUBJECT="${DEMO_SUBJECT:-张某某}"
ID_NO="${DEMO_ID:-230103199001011234}"
day() { date -u -d "$1" +%F; }
DOCS="$DIR/documents"
mkdir -p "$DOCS"
doc() { printf '%s\n案号 %s\n社区矫正对象 %s 身份证号 %s\n(demo %s)\n' "$2" "$CASE" "$SUBJECT" "$ID_NO" "$(date +%s%N)" > "$DOCS/$1.txt"; }
doc assess-req   "调查评估委托函"
doc assess-op    "调查评估意见书"
doc judgment     "刑事判决书：宣告缓刑"
doc exec-notice  "执行通知书"
doc intake       "社区矫正接收登记表"
doc announce     "入矫宣告书"
doc release      "解除社区矫正证明书"
anchor() { local home=$1 file=$2; shift 2; "$CUSTOS" --home "$DIR/$home" anchor "$DOCS/$file.txt" --case "$CASE" "$@"; }

echo
echo "== 1. the court commissions an investigation assessment (调查评估委托) from the justice bureau"
anchor court assess-req --type ASSESS_REQ --to justice --copy procuratorate --effective "$(day '-420 days')"
echo
echo "== 2. the justice bureau submits its opinion (调查评估意见书), copied to the procuratorate"
anchor justice assess-op --type ASSESS_OPINION --to court --copy procuratorate --effective "$(day '-410 days')"
echo
echo "== 3. the court's probation judgment (判决书, 缓刑) takes effect: sent as an e-dossier (encrypted to the"
echo "      justice bureau, copies to procuratorate and police), its document id anchored"
"$CUSTOS" --home "$DIR/court" dossier send "$DOCS/judgment.txt" --case "$CASE" --type JUDGMENT --kind probation \
  --to justice --copy procuratorate,police \
  --effective "$(day '-400 days')" --period-start "$(day '-400 days')" --period-end "$(day '-35 days')"
echo
echo "== 4. the court delivers the execution notice (执行通知书), as an e-dossier too"
"$CUSTOS" --home "$DIR/court" dossier send "$DOCS/exec-notice.txt" --case "$CASE" --type EXEC_NOTICE \
  --to justice --copy procuratorate,police --effective "$(day '-399 days')"
echo
echo "== 5. the justice bureau fetches both (its node pulls them from the court's node; decrypted and"
echo "      verified against the ledger), which posts its delivery receipts (送达回执); the procuratorate"
echo "      fetches the judgment; the prison, not addressed, is refused"
doc_id() { sed -n 's/.*"doc_hash": *"\([0-9a-f]*\)".*/\1/p' "$1.anchor.json"; }
mkdir -p "$DIR/received/justice" "$DIR/received/procuratorate" "$DIR/received/prison"
"$CUSTOS" --home "$DIR/justice" dossier fetch "$(doc_id "$DOCS/judgment.txt")" -o "$DIR/received/justice/judgment.txt"
"$CUSTOS" --home "$DIR/justice" dossier fetch "$(doc_id "$DOCS/exec-notice.txt")" -o "$DIR/received/justice/exec-notice.txt"
"$CUSTOS" --home "$DIR/procuratorate" dossier fetch "$(doc_id "$DOCS/judgment.txt")" -o "$DIR/received/procuratorate/judgment.txt"
cmp "$DOCS/judgment.txt" "$DIR/received/justice/judgment.txt" && cmp "$DOCS/exec-notice.txt" "$DIR/received/justice/exec-notice.txt" \
  && echo "received copies are byte-identical"
if "$CUSTOS" --home "$DIR/prison" dossier fetch "$(doc_id "$DOCS/judgment.txt")" -o "$DIR/received/prison/judgment.txt"; then
  echo "unexpected: the prison fetched a document not addressed to it"; exit 1
fi
echo
echo "== 6. the subject reports; the CCA registers the intake (接收登记)"
anchor justice intake --type INTAKE --to court --copy procuratorate --received "$(day '-393 days')"
echo
echo "== 7. the CCA announces the start of community correction (入矫宣告)"
anchor justice announce --type ANNOUNCE --to procuratorate --copy police --effective "$(day '-392 days')"
echo
echo "== 8. the period ends; the CCA releases (解除社区矫正), notifying court, procuratorate and police"
anchor justice release --type RELEASE_CERT --to court --copy procuratorate,police --effective "$(day '-34 days')"
echo
echo "== an illegal step is refused: the police may not issue a judgment (exit 2 expected)"
doc bogus "伪造的判决书"
if "$CUSTOS" --home "$DIR/police" anchor "$DOCS/bogus.txt" --case "${CASE}-bogus" --type JUDGMENT --kind probation \
  --to justice --effective "$(day '-1 days')" --period-start "$(day '-1 days')" --period-end "$(day '+365 days')"; then
  echo "unexpected: the police anchored a judgment"; exit 1
fi
echo
echo "== the case history, read by the procuratorate with state proofs"
"$CUSTOS" --home "$DIR/procuratorate" case show --case "$CASE"
echo
echo "== one document's history, read by the police: the judgment, its copies and receipts"
"$CUSTOS" --home "$DIR/police" doc show "$DOCS/judgment.txt"

echo
echo "== any agency verifies a document: the police check the judgment through their own node"
"$CUSTOS" --home "$DIR/police" verify "$DOCS/judgment.txt"

echo
echo "== a changed document is not anchored (exit 1 expected)"
cp "$DOCS/judgment.txt" "$DOCS/judgment-altered.txt"
echo "one more line" >> "$DOCS/judgment-altered.txt"
if "$CUSTOS" --home "$DIR/police" verify "$DOCS/judgment-altered.txt" --receipt "$DOCS/judgment.txt.anchor.json"; then
  echo "unexpected: an altered document verified"; exit 1
fi

echo
echo "== OpenSSL verifies every certificate independently"
distid=$(grep '^sm2_distid' "$DIR/court/profile.toml" | cut -d'"' -f2)
for a in court procuratorate police prison justice; do
  if [ "$SUITE" = sm ]; then
    openssl verify -vfyopt "distid:$distid" -CAfile "$DIR/$a/ca/ca.crt.pem" "$DIR/$a/node/node.crt.pem" "$DIR/$a/clerk/clerk.crt.pem"
  else
    openssl verify -CAfile "$DIR/$a/ca/ca.crt.pem" "$DIR/$a/node/node.crt.pem" "$DIR/$a/clerk/clerk.crt.pem"
  fi
done

echo
echo "== a second case, delivered badly: the court's probation judgment took effect 20 days ago but is"
echo "      sent only now, copied to the procuratorate and not to the police; the execution notice follows"
CASE2="${DEMO_CASE2:-(2026)黑0103刑初18号}"
printf '%s\n案号 %s\n社区矫正对象 %s 身份证号 %s\n(demo %s)\n' "刑事判决书：宣告缓刑" "$CASE2" "$SUBJECT" "$ID_NO" "$(date +%s%N)" > "$DOCS/judgment-2.txt"
printf '%s\n案号 %s\n(demo %s)\n' "执行通知书" "$CASE2" "$(date +%s%N)" > "$DOCS/exec-notice-2.txt"
"$CUSTOS" --home "$DIR/court" anchor "$DOCS/judgment-2.txt" --case "$CASE2" --type JUDGMENT --kind probation \
  --to justice --copy procuratorate \
  --effective "$(day '-20 days')" --period-start "$(day '-20 days')" --period-end "$(day '+345 days')"
"$CUSTOS" --home "$DIR/court" anchor "$DOCS/exec-notice-2.txt" --case "$CASE2" --type EXEC_NOTICE \
  --to justice --copy procuratorate
echo
echo "== legal supervision (检察监督): the procuratorate's findings on the second case, with their evidence"
"$CUSTOS" --home "$DIR/procuratorate" supervise --case "$CASE2"
rm -rf "$DIR/supervision-evidence"
"$CUSTOS" --home "$DIR/procuratorate" supervise --case "$CASE2" --rule S03 --evidence "$DIR/supervision-evidence" >/dev/null
echo "evidence bundles of the S03 finding: $(ls "$DIR/supervision-evidence" | tr '\n' ' ')"
echo
echo "== the procuratorate anchors its findings as a correction opinion (纠正意见) to the court; the court replies"
"$CUSTOS" --home "$DIR/procuratorate" supervise --case "$CASE2" --json > "$DOCS/correction-opinion-2.json"
"$CUSTOS" --home "$DIR/procuratorate" anchor "$DOCS/correction-opinion-2.json" --case "$CASE2" \
  --type CORRECTION_OPINION --to court
printf '%s\n(demo %s)\n' "关于纠正意见的回复：已补送公安机关" "$(date +%s%N)" > "$DOCS/correction-reply-2.txt"
"$CUSTOS" --home "$DIR/court" anchor "$DOCS/correction-reply-2.txt" --case "$CASE2" --type CORRECTION_REPLY \
  --to procuratorate
echo
echo "== the police, asking about the court, see nothing (findings are for the procuratorate and the agency concerned)"
"$CUSTOS" --home "$DIR/police" supervise --agency court
echo
echo "== the case's verified history (every entry checked against commit certificates), read by the police"
"$CUSTOS" --home "$DIR/police" history --case "$CASE"

echo
echo "== agency systems through adapters (custos-adapter): the prison's case system drops a letter to the"
echo "      justice bureau into its exchange folder; the prison's adapter sends it as an e-dossier, and the"
echo "      justice bureau's adapter fetches it, acknowledges it and writes it into the bureau's inbox folder"
XCH="$DIR/exchange"
rm -rf "$XCH"
mkdir -p "$XCH"
from=$(( $("$CUSTOS" --home "$DIR/justice" status --json | sed -n 's/.*"height": \([0-9]*\).*/\1/p') + 1 ))
for a in prison justice; do
  cat > "$XCH/$a.toml" <<TOML
home = "../$a"
state_dir = "$a-adapter"
[outbound]
poll_ms = 200
[inbound]
poll_ms = 300
start_height = $from
findings_every_s = 0
[folder]
root = "$a"
settle_ms = 300
TOML
  "$ADAPTER" run --config "$XCH/$a.toml" 2>>"$XCH/$a-adapter.log" &
  ADAPTERS+=($!)
done
for i in $(seq 1 50); do [ -d "$XCH/prison/outbox" ] && break; sleep 0.2; done
printf '%s\n(demo %s)\n' "监狱关于社区矫正衔接工作的函" "$(date +%s%N)" > "$XCH/prison/outbox/letter-7.txt"
cat > "$XCH/prison/outbox/letter-7.json" <<JSON
{"source_id": "JY-2026-007", "doc_type": "LETTER", "case_number": "$CASE", "recipients": ["justice"],
 "document": "letter-7.txt"}
JSON
for i in $(seq 1 150); do
  [ -f "$XCH/prison/done/letter-7.result.json" ] && ls "$XCH/justice/inbox/"*document*.json >/dev/null 2>&1 && break
  sleep 0.2
done
echo "prison's adapter: $(tr -d '\n ' < "$XCH/prison/done/letter-7.result.json")"
echo "justice's inbox:  $(ls "$XCH/justice/inbox/"*document*.json) ->"
cat "$XCH/justice/inbox/documents/"*
for p in "${ADAPTERS[@]}"; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
ADAPTERS=()

echo
echo "== evidence: the procuratorate exports the judgment's evidence bundle, and the proof that the"
echo "      police never acknowledged it"
rm -f "$DIR/judgment.evidence" "$DIR/judgment-police-absent.evidence" "$DIR/judgment-tampered.evidence"
"$CUSTOS" --home "$DIR/procuratorate" evidence export "$DOCS/judgment.txt" -o "$DIR/judgment.evidence"
"$CUSTOS" --home "$DIR/procuratorate" evidence absent --doc "$DOCS/judgment.txt" --receipt-from police \
  -o "$DIR/judgment-police-absent.evidence"

echo
"$CUSTOS" --home "$DIR/court" status
if [ "$KEEP_RUNNING" != 1 ]; then
  echo
  echo "== stopping the network: what follows uses no node and no network"
  cleanup
  trap - EXIT
fi
echo
echo "== an auditor verifies the judgment offline: the bundle against the consortium's genesis"
"$CUSTOS" verify "$DOCS/judgment.txt" --bundle "$DIR/judgment.evidence" --genesis "$DIR/court/genesis.json"
echo
echo "== and the police's missing receipt, offline"
"$CUSTOS" verify --bundle "$DIR/judgment-police-absent.evidence" --genesis "$DIR/court/genesis.json"
echo
echo "== one byte of the bundle changed: verification fails naming what failed (exit 1 expected)"
cp "$DIR/judgment.evidence" "$DIR/judgment-tampered.evidence"
size=$(stat -c %s "$DIR/judgment-tampered.evidence")
orig=$(od -An -tu1 -j $((size - 100)) -N1 "$DIR/judgment-tampered.evidence" | tr -d ' ')
printf "$(printf '\\%03o' $(( (orig + 1) % 256 )))" | dd of="$DIR/judgment-tampered.evidence" bs=1 seek=$((size - 100)) conv=notrunc status=none
if "$CUSTOS" verify "$DOCS/judgment.txt" --bundle "$DIR/judgment-tampered.evidence" --genesis "$DIR/court/genesis.json"; then
  echo "unexpected: a tampered bundle verified"; exit 1
fi
echo
if [ "$KEEP_RUNNING" = 1 ]; then
  CONSOLE="${CUSTOS_CONSOLE_BIN:-$(dirname "$CUSTOS_BIN")/custos-console}"
  PORT="${DEMO_CONSOLE_PORT:-8443}"
  echo "== the procuratorate's web console on https://127.0.0.1:$PORT (self-signed certificate: the browser will warn)"
  if [ ! -f "$DIR/console.crt.pem" ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 -subj /CN=127.0.0.1 \
      -addext subjectAltName=IP:127.0.0.1 -keyout "$DIR/console.key.pem" -out "$DIR/console.crt.pem" 2>/dev/null
  fi
  "$CONSOLE" --home "$DIR/procuratorate" --listen "127.0.0.1:$PORT" \
    --tls-cert "$DIR/console.crt.pem" --tls-key "$DIR/console.key.pem" 2>"$DIR/console.log" &
  CONSOLE_PID=$!
  sleep 1
  echo "sign in as the procuratorate's clerk (valid 5 minutes, once; for another link run the same command):"
  "$CUSTOS" --home "$DIR/procuratorate" console sign-in --url "https://127.0.0.1:$PORT" --ttl 5m
  echo "then open the case $CASE2 (the late delivery) under 案件 / Cases"
  echo "network still running (Ctrl-C to stop); homes are $DIR/<agency>"
  wait "$UP"
fi
echo "demo complete: homes are $DIR/<agency>; restart the network with: $CUSTOS testnet up --dir $DIR"
