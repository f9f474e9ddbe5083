#!/usr/bin/env bash
# The main job, for now: create a five-agency consortium (court, procuratorate, police,
# prison, justice) with SM2 identities, show who is who, and check every certificate with
# Custos and, independently, with OpenSSL 3 (SM2 with distinguishing ID 1234567812345678).
set -euo pipefail
cd "$(dirname "$0")/.."
SUITE="${SUITE:-sm}"
DIR="${DEMO_DIR:-demo-net}"

cargo build --quiet --bin custos
CUSTOS="${CARGO_TARGET_DIR:-target}/debug/custos"

if [ -e "$DIR" ]; then
  echo "== reusing the consortium in $DIR (remove it to start afresh)"
  "$CUSTOS" testnet show --dir "$DIR"
else
  echo "== creating a five-agency consortium in $DIR (suite $SUITE)"
  "$CUSTOS" testnet init --dir "$DIR" --suite "$SUITE"
fi

echo
echo "== each agency's home checks its identities against the genesis CAs"
for a in court procuratorate police prison justice; do
  "$CUSTOS" --home "$DIR/$a" whoami | head -1
done

echo
echo "== cross-agency checks: the court clerk's certificate against the police CA must fail"
if "$CUSTOS" cert verify "$DIR/court/clerk/clerk.crt.pem" --ca "$DIR/police/ca/ca.crt.pem"; then
  echo "unexpected: accepted"; exit 1
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
echo "demo complete: homes are $DIR/<agency>; try: $CUSTOS --home $DIR/court whoami"
