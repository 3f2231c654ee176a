# SPDX-License-Identifier: Apache-2.0
# Sourced by shell tests: require_or_skip REASON exits 77 (ctest's SKIP_RETURN_CODE) with the
# reason, or 1 under MEMBRANE_REQUIRE_PRIVILEGED=1 (ci/test as root), where a skip would hide
# a privileged test that did not run. require_root REASON does so unless running as root.
require_or_skip() {
  if [ "${MEMBRANE_REQUIRE_PRIVILEGED:-}" = 1 ]; then
    echo "FAIL: MEMBRANE_REQUIRE_PRIVILEGED=1 forbids skipping: $1"
    exit 1
  fi
  echo "SKIP: $1"
  exit 77
}

require_root() {
  [ "$(id -u)" = 0 ] || require_or_skip "$1"
}
