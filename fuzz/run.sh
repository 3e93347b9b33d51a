#!/usr/bin/env bash
# A short libFuzzer run of every target, without cargo-fuzz: the same instrumentation flags, built by
# the nightly toolchain (rustup toolchain install nightly; a C++ compiler builds libFuzzer).
# Usage: fuzz/run.sh [SECONDS_PER_TARGET]   (default 20; corpora and crashes under fuzz/corpus, fuzz/artifacts)
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-20}"
triple="$(rustc -vV | sed -n 's/^host: //p')"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Zsanitizer=address -Cdebug-assertions"
cargo +nightly build --release --target "$triple" --bins
mkdir -p artifacts
for target in all_parsers tls x509 http smb_rdp binary; do
  mkdir -p "corpus/$target"
  echo "fuzz: $target, ${seconds} s"
  timeout $((seconds * 3 + 60)) "$CARGO_TARGET_DIR/$triple/release/$target" -max_total_time="$seconds" \
    -rss_limit_mb=2048 -artifact_prefix="artifacts/$target-" "corpus/$target" 2>&1 | grep -E "^(Done|==|SUMMARY)" || true
  if compgen -G "artifacts/$target-*" >/dev/null; then
    echo "fuzz: $target found a crash: $(ls artifacts/"$target"-*)" >&2
    exit 1
  fi
done
