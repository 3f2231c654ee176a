#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# run_sim.sh MEMBRANE BACKEND MODE DIR...: every scenario through `membrane sim`; privileged
# backends skip (exit 77; a failure under MEMBRANE_REQUIRE_PRIVILEGED=1) when not root. MODE
# "scenario" keeps each scenario's own routing; "overlay-dir" / "native-dir" run netns with
# --desired-state dir (the agents' watched directories instead of the run's etcd). No DIR at
# all is an error, not a pass.
set -u
membrane=$1 backend=$2 mode=$3
shift 3
if [ $# = 0 ]; then
  echo "FAIL: no scenario directories given (empty corpus glob?)"
  exit 1
fi
. "$(dirname "$0")/../support/privileged.sh"
[ "$backend" = model ] || require_root "the $backend backend needs root"
modeopt=
case $mode in
  scenario) ;;
  *-dir) modeopt="--mode ${mode%-dir} --desired-state dir" ;;
  *) modeopt="--mode $mode" ;;
esac
fail=0 n=0
start=$(date +%s)
for d in "$@"; do
  n=$((n + 1))
  # shellcheck disable=SC2086
  if ! "$membrane" sim --quiet --backend "$backend" $modeopt "$d" >out.$$ 2>&1; then
    cat out.$$
    fail=$((fail + 1))
  else
    tail -n 1 out.$$
  fi
done
rm -f out.$$
echo "$n scenario(s), $fail failed, $(($(date +%s) - start)) s"
[ "$fail" = 0 ]
