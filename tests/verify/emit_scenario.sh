#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# emit_scenario.sh MEMBRANE BACKEND DIR: a counterexample is a regression test.
# `membrane verify --emit-scenario` on DIR/manifests.yaml and DIR/invariants-fail.yaml
# writes one scenario per violated invariant; `membrane sim --backend BACKEND` must fail on
# each with the mismatched cell; with DIR/manifests-fixed.yaml in place of the manifests the
# same scenarios pass, and verify proves the invariants. Privileged backends skip (77) when
# not root, unless MEMBRANE_REQUIRE_PRIVILEGED=1 (then not being root fails). The netns
# backend's namespaces are membrane sim's own (msim<pid>-*), removed by it when it exits.
set -u
membrane=$1 backend=$2 dir=$3
. "$(dirname "$0")/../support/privileged.sh"
[ "$backend" = model ] || require_root "the $backend backend needs root"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$membrane" verify "$dir/manifests.yaml" --invariants "$dir/invariants-fail.yaml" \
  --emit-scenario "$out/emitted" >"$out/verify.txt" 2>&1
rc=$?
[ $rc -eq 1 ] || { cat "$out/verify.txt"; fail "verify exited $rc, expected 1"; }
n=$(grep -c '^FAIL ' "$out/verify.txt")
emitted=$(ls "$out/emitted" | wc -l)
[ "$n" -gt 0 ] && [ "$emitted" -eq "$n" ] ||
  { cat "$out/verify.txt"; fail "$n violated invariants but $emitted scenarios"; }

for s in "$out"/emitted/*; do
  name=$(basename "$s")
  "$membrane" sim --quiet --backend "$backend" "$s" >"$out/sim.txt" 2>&1
  rc=$?
  cat "$out/sim.txt"
  [ $rc -eq 1 ] || fail "$name: sim exited $rc before the fix, expected 1"
  grep -q "^MISMATCH \[witness\]" "$out/sim.txt" || fail "$name: no mismatched witness cell"
  # The invariant's demand is the expected cell; the policy's verdict is the observed one.
  cp "$dir/manifests-fixed.yaml" "$s/manifests.yaml"
  "$membrane" sim --quiet --backend "$backend" "$s" >"$out/sim.txt" 2>&1
  rc=$?
  cat "$out/sim.txt"
  [ $rc -eq 0 ] || fail "$name: sim exited $rc after the fix, expected 0"
done
"$membrane" verify "$dir/manifests-fixed.yaml" --invariants "$dir/invariants-fail.yaml" ||
  fail "the fixed manifests do not satisfy the invariants"
echo "ok: $emitted scenario(s) fail before and pass after the fix ($backend)"
