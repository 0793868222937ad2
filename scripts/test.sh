#!/usr/bin/env bash
# The whole test suite on real services: installs what is missing, starts MariaDB, Redis and the
# MongoDB-wire server on loopback, runs go vet, the gofmt and go.mod checks, go test -race and the
# mini program's node tests, then stops the services (APPLET_TEST_KEEP=1 leaves them up for the next run).
# With CI=true a test that cannot reach a service fails instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
command -v go >/dev/null || { echo "Go is required: https://go.dev/dl/" >&2; exit 1; }

step "services"
eval "$(scripts/services.sh start)"
if [ "${APPLET_TEST_KEEP:-}" != 1 ]; then trap 'scripts/services.sh stop' EXIT; fi

step "go vet"
go vet ./...
(cd tools/ferretdb && go vet ./...)

step "gofmt"
unformatted=$(gofmt -l $(find . -name '*.go' -not -path './node_modules/*' -not -path './miniprogram/*'))
if [ -n "$unformatted" ]; then echo "gofmt would change:"; echo "$unformatted"; exit 1; fi
echo "ok"

step "go mod tidy"
go mod tidy -diff
echo "ok"

step "go test -race"
log=$(mktemp)
status=0
go test -race -count=1 -timeout 15m -v ./... >"$log" 2>&1 || status=$?
# Show results and test output, not the RUN/PAUSE/CONT bookkeeping.
grep -v -E '^\s*=== (RUN|PAUSE|CONT|NAME)' "$log" || true
passed=$(grep -c -E '^\s*--- PASS' "$log" || true)
failed=$(grep -c -E '^\s*--- FAIL' "$log" || true)
skipped=$(grep -c -E '^\s*--- SKIP' "$log" || true)
if [ "$skipped" -gt 0 ]; then
  echo; echo "skipped:"; grep -A1 -E '^\s*--- SKIP' "$log" | grep -v -E '^--$' || true
fi
rm -f "$log"
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi  # a build failure or panic counts

node_status=0
if [ -f miniprogram/package.json ]; then
  step "mini program tests (node)"
  if command -v node >/dev/null && command -v npm >/dev/null; then
    # The pages run against a real `applet serve all` started by the tests from this binary.
    APPLET_BIN=$(mktemp -d)/applet
    go build -o "$APPLET_BIN" ./cmd/applet
    export APPLET_BIN
    (cd miniprogram && npm ci --no-audit --no-fund && npm test) || node_status=$?
  else
    echo "node and npm are needed for the mini program tests: apt-get install -y nodejs npm"
    node_status=1
  fi
fi

echo
echo "go test: $passed passed, $failed failed, $skipped skipped"
[ "$status" -eq 0 ] && [ "$node_status" -eq 0 ]
