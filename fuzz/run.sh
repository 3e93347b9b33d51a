#!/usr/bin/env bash
# A short libFuzzer run of every target, without cargo-fuzz: the same instrumentation flags (a C++
# compiler builds libFuzzer). With a nightly toolchain the targets also get AddressSanitizer; the
# stable one (CI's only toolchain) builds them without it, which still catches every panic, overflow
# check and abort in the parsers (they are safe Rust).
# Usage: fuzz/run.sh [SECONDS_PER_TARGET]   (default 20; corpora and crashes under fuzz/corpus, fuzz/artifacts)
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-20}"
triple="$(rustc -vV | sed -n 's/^host: //p')"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
flags="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions"
if cargo +nightly --version >/dev/null 2>&1; then
  toolchain=(+nightly) flags="$flags -Zsanitizer=address"
else
  toolchain=() && echo "fuzz: no nightly toolchain, building without AddressSanitizer"
fi
export RUSTFLAGS="$flags"
# --locked: fuzz/Cargo.lock pins the same crate versions as ../Cargo.lock, plus libfuzzer-sys's own
if ! cargo "${toolchain[@]}" build --locked --release --target "$triple" --bins; then
  echo "fuzz: build failed; if portlens's dependencies changed, renew fuzz/Cargo.lock from ../Cargo.lock:" >&2
  echo "  cp Cargo.lock fuzz/ && (cd fuzz && cargo metadata --format-version 1 >/dev/null)   # then commit it" >&2
  exit 1
fi
mkdir -p artifacts
for target in all_parsers tls x509 http smb_rdp binary target_spec port_spec syn_replies; do
  mkdir -p "corpus/$target"
  echo "fuzz: $target, ${seconds} s"
  bin="$CARGO_TARGET_DIR/$triple/release/$target"
  [ -x "$bin" ] || { echo "fuzz: $bin was not built" >&2; exit 1; }
  timeout $((seconds * 3 + 60)) "$bin" -max_total_time="$seconds" \
    -rss_limit_mb=2048 -artifact_prefix="artifacts/$target-" "corpus/$target" 2>&1 | grep -E "^(Done|==|SUMMARY)" || true
  if compgen -G "artifacts/$target-*" >/dev/null; then
    echo "fuzz: $target found a crash: $(ls artifacts/"$target"-*)" >&2
    exit 1
  fi
done
