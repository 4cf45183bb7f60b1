#!/usr/bin/env bash
# Runs the test suites and prints the closing line CI reads: "N passed, N failed".
#   tests/run.sh DENO [test files or folders...]     (default: every suite under tests/)
# Besides deno's own tests it counts one more check: the host network namespace (routes,
# rules, iptables) must be exactly as it was before the run.
set -uo pipefail
DENO=$1; shift
cd "$(dirname "$0")/.."
mkdir -p build
LOG=build/test.log
targets=("$@"); [ ${#targets[@]} -gt 0 ] || targets=(tests/)

host_state() {
  { ip -4 rule show; ip -6 rule show; ip -4 route show table all; ip -6 route show table all
    iptables-save 2>/dev/null | grep -vE '^#|^:' ; } | grep -v 'linkdown' | sha256sum | cut -c1-16
}
before=$(host_state)

NO_COLOR=1 "$DENO" test -A --no-prompt --cached-only "${targets[@]}" 2>&1 | tee "$LOG"
rc=${PIPESTATUS[0]}

read -r passed failed < <(awk -F'|' '/^(ok|FAILED) \|/ { p = $2 + 0; f = $3 + 0 } END { print p + 0, f + 0 }' "$LOG")
if [ "$rc" != 0 ] && [ "$failed" = 0 ]; then
  echo "deno test exited with $rc before reporting failures (see $LOG)"
  failed=1
fi
after=$(host_state)
if [ "$before" = "$after" ]; then
  passed=$((passed + 1))
else
  echo "FAILED: the host network namespace changed during the tests (routes, rules or iptables)"
  failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
