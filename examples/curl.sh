#!/usr/bin/env bash
# Switchboard from the shell: send an OTP (safely retryable), replay it,
# look it up, ask where a message would go, send a batch, and check a
# status callback's signature with openssl. Needs bash, curl and openssl.
#
#   make run              # in another terminal
#   ./examples/curl.sh
#
# Environment: SWITCHBOARD_URL (default http://127.0.0.1:8080),
# SWITCHBOARD_API_KEY (default the example config's send key),
# SWITCHBOARD_CALLBACK_SECRET (the secret callbacks are signed with).
set -euo pipefail

BASE=${SWITCHBOARD_URL:-http://127.0.0.1:8080}
KEY=${SWITCHBOARD_API_KEY:-dev-send-key-0123456789}
SECRET=${SWITCHBOARD_CALLBACK_SECRET:-whsec-example-secret}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# sb METHOD PATH [BODY] [extra curl args...]: prints the body; headers go to $TMP/headers.
sb() {
  local method=$1 path=$2 body=${3:-}
  shift 3 || shift $#
  local args=(-sS -X "$method" -D "$TMP/headers" -o "$TMP/body" -w '%{http_code}'
    -H "Authorization: Bearer $KEY" -H 'Accept: application/json'
    --retry 3 --retry-all-errors)  # safe: sends carry an Idempotency-Key
  if [ -n "$body" ]; then args+=(-H 'Content-Type: application/json' --data-binary "$body"); fi
  local code
  code=$(curl "${args[@]}" "$@" "$BASE$path")
  cat "$TMP/body"; echo
  case $code in 2??) ;; *) echo "error: $method $path answered $code" >&2; return 1 ;; esac
}

# json_field NAME: the first "NAME":"value" of the JSON on stdin (use jq if you have it).
json_field() { grep -o '"'"$1"'":"[^"]*"' | head -n 1 | sed -E 's/.*:"(.*)"/\1/'; }

# 1. Send an OTP. The Idempotency-Key makes retries (curl --retry, or yours) safe.
IDEM=$(openssl rand -hex 16)
OTP=$(printf '{"to":{"whatsapp":"+15551234567","phone":"+15551234567"},"body":"Your code is %06d","tags":["otp"],"ttl":"10m"}' $((RANDOM % 1000000)))
SENT=$(sb POST /v1/messages "$OTP" -H "Idempotency-Key: $IDEM")
ID=$(printf '%s' "$SENT" | json_field id)
echo "accepted $ID"

# 2. The same key and body again: the original answer, nothing sent twice.
sb POST /v1/messages "$OTP" -H "Idempotency-Key: $IDEM" >/dev/null
grep -qi '^Idempotent-Replay: true' "$TMP/headers" && echo "replayed $ID (Idempotent-Replay: true)"

# 3. Where is it? (status, channel, attempts)
sb GET "/v1/messages/$ID" '' >/dev/null
echo "status $(json_field status <"$TMP/body")"

# 4. Where would a message go right now, and why?
sb POST /v1/routes/explain "$OTP" >/dev/null
echo "explain: would go to $(json_field channel <"$TMP/body")"

# 5. A batch: each item is accepted or refused on its own.
sb POST /v1/messages/batch '{"messages":[{"to":{"phone":"+15551234567"},"body":"Order 42 shipped","policy":"otp"},{"to":{"phone":"12"},"body":"bad number"}]}' \
  -H "Idempotency-Key: $(openssl rand -hex 16)" >/dev/null
echo "batch: $(grep -o '"accepted":[0-9]*' "$TMP/body"), $(grep -o '"rejected":[0-9]*' "$TMP/body")"

# 6. Verify a status callback's Switchboard-Signature: t=<unix>,v1=<hex
# HMAC-SHA256 of "<t>.<raw body>">. (A real receiver compares in constant
# time and rejects an old t; see the Go, Python and Node examples.)
NOW=$(date +%s)
PAYLOAD=$(printf '{"id":"%s","status":"delivered","channel":"whatsapp","attempt":1,"is_fallback":false,"duplicate":false,"timestamp":"%s"}' "$ID" "$(date -u +%Y-%m-%dT%H:%M:%SZ)")
mac() { printf '%s.%s' "$2" "$3" | openssl dgst -sha256 -hmac "$1" | sed 's/^.*= //'; } # mac SECRET T BODY
HEADER="t=$NOW,v1=$(mac "$SECRET" "$NOW" "$PAYLOAD")"
verify() { # verify HEADER BODY: any v1= may match (a rotation sends one per secret)
  local t sig want
  t=$(printf '%s' "$1" | sed -E 's/^t=([0-9]+),.*/\1/')
  want=$(mac "$SECRET" "$t" "$2")
  [ $(( $(date +%s) - t )) -le 300 ] || return 1
  for sig in $(printf '%s' "$1" | tr ',' '\n' | sed -n 's/^v1=//p'); do
    [ "$sig" = "$want" ] && return 0
  done
  return 1
}
verify "$HEADER" "$PAYLOAD" && echo "callback signature verified"
verify "$HEADER" "${PAYLOAD/delivered/failed}" || echo "tampered callback rejected"
# During a rotation (callback_secrets: [new, old]) the header carries one
# v1= per secret; a receiver holding either one accepts it.
ROTATING="t=$NOW,v1=$(mac "whsec-the-new-one" "$NOW" "$PAYLOAD"),v1=$(mac "$SECRET" "$NOW" "$PAYLOAD")"
verify "$ROTATING" "$PAYLOAD" && echo "callback signed during a rotation verified"
