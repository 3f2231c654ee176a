#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# missing_corpus.sh SOURCE_DIR: configuring without the oracle corpus, or with a corpus that
# holds no case, is a configuration error naming the path and MEMBRANE_CORPUS_DIR, never a
# quietly smaller suite.
set -u
src=$1
dir=$(mktemp -d /tmp/membrane-corpus-XXXXXX)
trap 'rm -rf "$dir"' EXIT
fail() {
  cat "$dir/out"
  echo "FAIL: $1"
  exit 1
}
cmake -S "$src" -B "$dir/b1" -G Ninja -DMEMBRANE_CORPUS_DIR="$dir/none" >"$dir/out" 2>&1 &&
  fail "configured without a corpus"
grep -q "oracle corpus not found: $dir/none/FORMAT.md" "$dir/out" || fail "path not named"
grep -q "MEMBRANE_CORPUS_DIR" "$dir/out" || fail "cache variable not named"

mkdir -p "$dir/empty/cilium-connectivity" && touch "$dir/empty/FORMAT.md"
cmake -S "$src" -B "$dir/b2" -G Ninja -DMEMBRANE_CORPUS_DIR="$dir/empty" >"$dir/out" 2>&1 &&
  fail "configured with an empty corpus"
grep -Eq "no (cilium-connectivity cases|npguard cases|npguard diffs) found" "$dir/out" ||
  fail "empty corpus not reported"
echo "PASS: a missing or empty corpus stops the configuration"
