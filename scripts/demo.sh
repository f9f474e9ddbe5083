#!/usr/bin/env bash
# The main job: start a local five-agency network (court, procuratorate, police, prison,
# justice) with SM2 identities, anchor documents from several agencies, verify them, show that
# a changed document is not anchored, and check every certificate independently with OpenSSL 3.
set -euo pipefail
cd "$(dirname "$0")/.."
SUITE="${SUITE:-sm}"
DIR="${DEMO_DIR:-demo-net}"
KEEP_RUNNING="${KEEP_RUNNING:-0}"

echo "== building custos and custos-node"
cargo build --quiet --bin custos --bin custos-node
TARGET="${CARGO_TARGET_DIR:-target}"
CUSTOS="$TARGET/debug/custos"
export CUSTOS_NODE_BIN="$TARGET/debug/custos-node"

echo "== starting the five-agency network in $DIR (suite $SUITE)"
"$CUSTOS" testnet up --dir "$DIR" --suite "$SUITE" &
UP=$!
cleanup() { kill -TERM "$UP" 2>/dev/null || true; wait "$UP" 2>/dev/null || true; }
trap cleanup EXIT

for i in $(seq 1 60); do
  if "$CUSTOS" --home "$DIR/court" status >/dev/null 2>&1; then break; fi
  sleep 1
done
"$CUSTOS" --home "$DIR/court" status

DOCS="$DIR/documents"
mkdir -p "$DOCS"
echo "刑事判决书 (2026)黑0103刑初17号 — demo content $(date +%s%N)" > "$DOCS/judgment.txt"
echo "调查评估意见书 — demo content $(date +%s%N)" > "$DOCS/assessment.txt"
echo "交付接收记录 — demo content $(date +%s%N)" > "$DOCS/handover.txt"

echo
echo "== the court anchors a judgment to the justice bureau, copied to procuratorate and police"
"$CUSTOS" --home "$DIR/court" anchor "$DOCS/judgment.txt" --case "(2026)黑0103刑初17号" --type JUDGMENT \
  --to justice --copy procuratorate,police
echo
echo "== the justice bureau anchors its assessment opinion to the court, copied to the procuratorate"
"$CUSTOS" --home "$DIR/justice" anchor "$DOCS/assessment.txt" --case "(2026)黑0103刑初17号" --type ASSESS_OPINION \
  --to court --copy procuratorate
echo
echo "== the prison anchors a handover record to the justice bureau"
"$CUSTOS" --home "$DIR/prison" anchor "$DOCS/handover.txt" --case "(2026)黑0103刑初18号" --type HANDOVER \
  --to justice --copy procuratorate

echo
echo "== any agency verifies: the procuratorate checks all three through its own node"
for f in judgment assessment handover; do
  "$CUSTOS" --home "$DIR/procuratorate" verify "$DOCS/$f.txt"
done

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
"$CUSTOS" --home "$DIR/court" status
if [ "$KEEP_RUNNING" = 1 ]; then
  echo "network still running (Ctrl-C to stop); homes are $DIR/<agency>"
  wait "$UP"
fi
echo "demo complete: homes are $DIR/<agency>; restart the network with: $CUSTOS testnet up --dir $DIR"
