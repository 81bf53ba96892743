#!/usr/bin/env bash
# Counts the distinct hostile inputs covered by tests (issue #20; docs/security.md, "Findings
# and the tests that cover them"). Run from the repository root: bash tests/hostile-inputs.sh
# A lower bound: a test that tries several inputs (forged tokens, bad bodies) counts once.
set -euo pipefail
policy=$(sed -n '/^fn changes_follow_the_policy/,/^    \];/p' shared/tests/check.rs)
refused=$(( $(grep -c '^        ("' <<<"$policy") - $(grep -cE '"ok"\),[[:space:]]*$' <<<"$policy") ))
forbidden=$(sed -n '/^async fn who_may_call_what/,/^    \];/p' tests/tests/office_api.rs | grep -o 'S403' | wc -l)
tests=$( { awk '/#\[(tokio::)?test/ {t=1; next} t && /fn / {match($0, /fn [a-z0-9_]+/); print substr($0, RSTART+3, RLENGTH-3); t=0}' tests/tests/hostile.rs; grep -rhoE 'fn issue_20_[a-z0-9_]+' --include=*.rs server shared tests | sed 's/^fn //'; } | sort -u | wc -l)
echo "refused changes in the policy table: $refused"
echo "forbidden (role, endpoint) calls in who_may_call_what: $forbidden"
echo "hostile tests (tests/tests/hostile.rs and every issue_20_ test), each counted once: $tests"
echo "total: $(( refused + forbidden + tests ))"
