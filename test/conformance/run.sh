#!/usr/bin/env bash
# Conformance run: an independent Python client (tessera_client.py, written from docs/protocol.md
# alone) against a real KDC and a real service using the service SDK, plus the test vectors; and an
# independent Python service verifier (tessera_verifier.py, from docs/protocol.md alone) called by
# the real TypeScript client SDK (client.mjs), by the Python client, and compared request for
# request with the service SDK (verifier_checks.py).
#
#   bash test/conformance/run.sh
#
# Environment:
#   TESSERA_DIST  the built dist/ to run (default: this repository's dist/, after `npm run build`)
#   PYTHON        the Python 3 to run (default: /usr/bin/python3 if it exists, else python3 on PATH).
#                 Only the standard library is needed: XChaCha20-Poly1305 comes from PyNaCl
#                 (Debian: python3-nacl) when it is importable, else from the pure-Python
#                 xchacha.py (slow, not constant-time; test use only). The run prints which.
#   TESSERA_CONFORMANCE_AEAD=pure  use xchacha.py even where PyNaCl is installed
#   TESSERA_CONFORMANCE_SEED       replay the random AEAD self-check of check_vectors.py
#   TESSERA_CONFORMANCE_TIMEOUT  bound on the whole run in seconds (default 120)
#
# Prints one line per check (PASS/FAIL; NOTE for a behaviour the spec leaves open or a known
# divergence, which does not fail the run); exits 0 only when all pass, 1 on a failure, 2 when a
# prerequisite is missing. Loopback only; the whole run is bounded to 120 s, and the KDC and both services are
# stopped at the end whatever happens.
set -u -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

# Bound the whole run in time: re-run this script under timeout(1) once.
if [ -z "${TESSERA_CONFORMANCE_INNER:-}" ]; then
  TESSERA_CONFORMANCE_INNER=1 exec timeout -k 5 "${TESSERA_CONFORMANCE_TIMEOUT:-120}" bash "${BASH_SOURCE[0]}" "$@"
fi

DIST=${TESSERA_DIST:-$ROOT/dist}
if [ -n "${PYTHON:-}" ]; then
  PY=$PYTHON
elif [ -x /usr/bin/python3 ]; then
  PY=/usr/bin/python3
else
  PY=python3
fi
export PYTHONDONTWRITEBYTECODE=1 # keep __pycache__ out of the work tree
START=$(date +%s)

# A Python 3 is the one prerequisite; PyNaCl is optional. Say which AEAD the client will use
# (a client that does not even import is reported here and then fails its checks below).
if ! PYVER=$("$PY" -c 'import sys; assert sys.version_info[0] == 3; print("Python %d.%d.%d (%s)" % (*sys.version_info[:3], sys.executable))' 2>/dev/null); then
  echo "conformance: '$PY' is not a runnable Python 3 (set PYTHON to one)" >&2
  exit 2
fi
AEAD=$(cd "$HERE" && "$PY" -c 'import tessera_client as t; print(t.AEAD_IMPL)' 2>&1 | tail -n 1)
echo "conformance: $PYVER, AEAD: $AEAD"
if [ ! -f "$DIST/kdc/server/main.js" ] || [ ! -f "$DIST/service-sdk/index.js" ]; then
  echo "conformance: no built dist/ at $DIST (run \`npm run build\`, or set TESSERA_DIST)" >&2
  exit 2
fi

TMP=$(mktemp -d)
chmod 700 "$TMP"
LOG="$TMP/checks.log"
: >"$LOG"
KDC_PID=""
SVC_PID=""
PYSVC_PID=""
FAILED=0

stop() { # stop PID: TERM, then KILL after 3 s
  local pid=$1
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
}
cleanup() {
  stop "$PYSVC_PID"
  stop "$SVC_PID"
  stop "$KDC_PID"
  if [ "$FAILED" != 0 ] && [ -n "${KEEP_LOGS:-}" ]; then echo "logs kept in $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
# fd 3 keeps the real stdout: a trap runs inside whatever redirection was active when it fired
exec 3>&1
trap '{ fail "conformance run interrupted or timed out (limit ${TESSERA_CONFORMANCE_TIMEOUT:-120} s)"; summary; } >&3 2>&1; exit 1' TERM INT

pass() { echo "PASS $*" | tee -a "$LOG"; }
fail() { echo "FAIL $*" | tee -a "$LOG"; FAILED=1; }
summary() { # the closing line: "conformance: N passed, M failed[, K notes]"
  local p f n
  p=$(grep -c '^PASS' "$LOG" 2>/dev/null)
  f=$(grep -c '^FAIL' "$LOG" 2>/dev/null)
  n=$(grep -c '^NOTE' "$LOG" 2>/dev/null) # behaviour the spec leaves open, or a known divergence
  [ "$FAILED" = 0 ] || [ "${f:-0}" != 0 ] || f=1 # a step that failed without a FAIL line
  echo "(took $(($(date +%s) - START)) s)"
  echo "conformance: ${p:-0} passed, ${f:-0} failed$([ "${n:-0}" = 0 ] || echo ", $n notes (NOTE lines: not failures)")"
}
die() {
  fail "$*"
  for f in kdc.err svc.err pysvc.err; do [ -s "$TMP/$f" ] && { echo "--- $f"; tail -n 20 "$TMP/$f"; }; done
  summary
  exit 1
}

# wait_line FILE REGEX SECONDS PID: print the first matching line once it appears; fail early
# when PID has exited
wait_line() {
  local i
  for i in $(seq $(($3 * 10))); do
    if grep -m1 -E "$2" "$1" 2>/dev/null; then return 0; fi
    kill -0 "$4" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# 1. Test vectors (§11)
if timeout 60 "$PY" "$HERE/check_vectors.py" "$ROOT" | tee -a "$LOG"; then :; else FAILED=1; fi
# ... and the Python verifier against them and against §5.5-§6.4 on a fake clock
if timeout 60 "$PY" "$HERE/verifier_checks.py" offline "$ROOT" | tee -a "$LOG"; then :; else FAILED=1; fi

# 2. A real KDC on a free loopback port, in a fresh realm
mkdir -m 700 "$TMP/kdc" "$TMP/keys"
node "$DIST/kdc/server/main.js" start --data "$TMP/kdc" --listen 127.0.0.1:0 >"$TMP/kdc.out" 2>"$TMP/kdc.err" 3>&- &
KDC_PID=$!
LINE=$(wait_line "$TMP/kdc.out" '^tessera-kdc listening on ws://' 30 "$KDC_PID") || die "KDC did not start"
KDC_URL=${LINE#tessera-kdc listening on }
pass "setup: KDC started at $KDC_URL"

admin() { timeout 30 node "$DIST/kdc/admin/cli.js" --kdc "$KDC_URL" --keytab "$TMP/kdc/admin.keytab" "$@"; }
for p in payments orders billing inventory; do
  admin principal add "$p" --out "$TMP/keys/$p.keytab" >"$TMP/admin.out" 2>&1 || { cat "$TMP/admin.out"; die "tessera-admin principal add $p"; }
done
pass "setup: registered payments, orders, billing, inventory and wrote their keytabs"

cat >"$TMP/policy.yaml" <<'EOF'
rules:
  - id: payments-reads-orders
    caller: payments
    target: orders
    scopes: [orders:read]
    maxLifetime: 15m
  - id: payments-reads-inventory
    caller: payments
    target: inventory
    scopes: [inventory:read]
    maxLifetime: 15m
EOF
admin policy apply "$TMP/policy.yaml" >"$TMP/admin.out" 2>&1 || { cat "$TMP/admin.out"; die "tessera-admin policy apply"; }
pass "setup: policy applied ($(tr -d '\n' <"$TMP/admin.out"))"

# 3. A service verifying with the real service SDK
node "$HERE/service.mjs" "$DIST" "$TMP/keys/orders.keytab" >"$TMP/svc.out" 2>"$TMP/svc.err" 3>&- &
SVC_PID=$!
LINE=$(wait_line "$TMP/svc.out" '^listening [0-9]+$' 30 "$SVC_PID") || die "service did not start"
SVC_URL="http://127.0.0.1:${LINE#listening }"
pass "setup: service 'orders' listening at $SVC_URL"

# 4. The Python client end to end
if timeout 60 "$PY" "$HERE/e2e.py" --kdc "$KDC_URL" --keytab "$TMP/keys/payments.keytab" \
  --service "$SVC_URL" --target orders --outside billing --scope orders:read | tee -a "$LOG"; then :; else FAILED=1; fi

# 5. The Python verifier as a service for 'orders' (same keytab as the node one)
"$PY" "$HERE/tessera_verifier.py" serve --keytab "$TMP/keys/orders.keytab" --test-hooks \
  >"$TMP/pysvc.out" 2>"$TMP/pysvc.err" 3>&- &
PYSVC_PID=$!
LINE=$(wait_line "$TMP/pysvc.out" '^listening [0-9]+$' 30 "$PYSVC_PID") || die "Python service did not start"
PYSVC_URL="http://127.0.0.1:${LINE#listening }"
pass "setup: Python verifier service 'orders' listening at $PYSVC_URL"

# 6. The real TypeScript client SDK against the Python service
if timeout 60 node "$HERE/client.mjs" "$DIST" "$KDC_URL" "$TMP/keys/payments.keytab" "$PYSVC_URL" inventory 3>&- |
  tee -a "$LOG"; then :; else FAILED=1; fi

# 7. The Python client against the Python service, and the same crafted requests to both services
if timeout 60 "$PY" "$HERE/verifier_checks.py" online --kdc "$KDC_URL" --keytab "$TMP/keys/payments.keytab" \
  --service "$PYSVC_URL" --node-service "$SVC_URL" --service-keytab "$TMP/keys/orders.keytab" \
  --target orders --scope orders:read | tee -a "$LOG"; then :; else FAILED=1; fi
if ! kill -0 "$PYSVC_PID" 2>/dev/null; then fail "the Python service exited during the run"; fi
if [ -s "$TMP/pysvc.err" ]; then echo "--- pysvc.err"; tail -n 20 "$TMP/pysvc.err"; fi

summary
exit "$FAILED"
