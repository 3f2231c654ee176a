#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs every command of the README's "Usage" block with the built binary; each must exit 0.
# Usage: readme_commands.sh SOURCE_DIR MEMBRANE_BINARY [CILIUM_CASES_DIR]
# ($C of the README; default ../shared/corpus/cilium-connectivity). Zero commands is a failure.
set -euo pipefail
src=$1
bin=$2
cases=${3:-../shared/corpus/cilium-connectivity}
cd "$src"
block=$(awk '/^## Usage/{u=1} u && /^```sh/{b=1; next} u && b && /^```/{exit} u && b {print}' README.md)
[ -n "$block" ] || { echo "no Usage block in README.md"; exit 1; }
count=0
while IFS= read -r line; do
  case "$line" in ''|'#'*|B=*|C=*) continue ;; esac
  cmd=${line%%#*}
  cmd=${cmd//\$B/$bin}
  cmd=${cmd//\$C/$cases}
  echo "+ $cmd"
  if ! bash -c "$cmd" >/dev/null; then
    echo "FAILED: $cmd"
    exit 1
  fi
  count=$((count + 1))
done <<< "$block"
echo "$count README commands ran"
[ "$count" -gt 0 ] || { echo "FAILED: the Usage block holds no command"; exit 1; }
