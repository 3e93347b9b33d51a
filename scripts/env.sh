#!/usr/bin/env bash
# The build environment `make` uses: a project virtualenv and a Rust toolchain new enough for the crate.
# Usage: scripts/env.sh [python|rust|all]   (default all)
#   python: make sure $VENV (default: the active $VIRTUAL_ENV, else ./.venv) is a working virtualenv with
#           pip, created from $BASE_PYTHON (default python3: pyenv's, or the system one). Its pip is the
#           only pip ever run: the base interpreter may be an externally-managed (PEP 668) system Python.
#           When `python3 -m venv` fails on Debian (no ensurepip), installs python3-venv (python3.X-venv).
#   rust:   make sure `cargo` and `rustc` are at least the crate's rust-version (Cargo.toml); when either is
#           missing or older, installs Debian's rustc-web and cargo-web (Debian 12 ships 1.9x as these;
#           its plain rustc is 1.63).
# Says in one line what it installed; installs nothing when all is there.
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"
VENV="${VENV:-${VIRTUAL_ENV:-$PWD/.venv}}"
BASE_PYTHON="${BASE_PYTHON:-python3}"

say() { echo "env: $*"; }
die() {
  echo "env: $*" >&2
  exit 1
}

# apt-get install, with no service started in the root namespace (as scripts/sysdeps.sh does)
apt_install() {
  command -v apt-get >/dev/null 2>&1 || die "cannot install $* here (no apt-get): install them and run make again"
  [ "$(id -u)" = 0 ] || die "installing $* needs root (apt-get): run make as root, or install them first"
  export DEBIAN_FRONTEND=noninteractive
  if [ -z "${ENV_APT_UPDATED:-}" ]; then
    apt-get update -qq
    ENV_APT_UPDATED=1
  fi
  local rc_policy="" policy="${ENV_POLICY_RC_D:-/usr/sbin/policy-rc.d}"
  if [ ! -e "$policy" ] && [ -w "$(dirname "$policy")" ]; then
    rc_policy="$policy"
    printf '#!/bin/sh\nexit 101\n' >"$rc_policy" && chmod 755 "$rc_policy"
  fi
  local rc=0
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null || rc=$?
  [ -n "$rc_policy" ] && rm -f "$rc_policy"
  return $rc
}

# version_ge A B: A >= B for dotted versions (1.88.0 >= 1.88)
version_ge() {
  [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]
}

venv_ok() { [ -x "$1/bin/python" ] && "$1/bin/python" -c 'import sys; assert sys.prefix != sys.base_prefix' 2>/dev/null &&
  "$1/bin/python" -m pip --version >/dev/null 2>&1; }

ensure_python() {
  if venv_ok "$VENV"; then
    return 0
  fi
  if [ -n "${VIRTUAL_ENV:-}" ] && [ "$VENV" = "$VIRTUAL_ENV" ]; then
    # the user's own virtualenv: never removed or recreated here
    [ -x "$VENV/bin/python" ] || die "VIRTUAL_ENV=$VENV has no bin/python"
    "$VENV/bin/python" -m pip --version >/dev/null 2>&1 || "$VENV/bin/python" -m ensurepip -q >/dev/null ||
      die "the active virtualenv $VENV has no pip"
    return 0
  fi
  local base
  base="$(command -v "$BASE_PYTHON" || true)"
  if [ -z "$base" ]; then
    command -v apt-get >/dev/null 2>&1 || die "no $BASE_PYTHON on PATH: install Python >= 3.10"
    apt_install python3 python3-venv
    say "installed python3 python3-venv (Debian)"
    base="$(command -v "$BASE_PYTHON")" || die "still no $BASE_PYTHON"
  fi
  "$base" -c 'import sys; sys.exit(sys.version_info < (3, 10))' ||
    die "$base is $("$base" -V 2>&1); portlens needs Python >= 3.10 (set BASE_PYTHON=...)"
  # a half-made .venv (an earlier failed `python3 -m venv`) is made again; only a folder that is a venv
  if [ -e "$VENV" ]; then
    [ -e "$VENV/pyvenv.cfg" ] || die "$VENV exists and is not a virtualenv: remove it or set VENV=..."
    rm -rf "$VENV"
  fi
  local err
  if ! err="$("$base" -m venv "$VENV" 2>&1)"; then
    rm -rf "$VENV"
    # Debian splits venv's ensurepip into python3-venv (python3.X-venv for the versioned interpreters)
    if command -v dpkg-query >/dev/null 2>&1 && [[ "$err" == *ensurepip* || "$err" == *python3*-venv* ]]; then
      local pkg ver exe
      ver="$("$base" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
      exe="$("$base" -c 'import sys; print(sys.executable)')"
      pkg=python3-venv
      # python3-venv is for Debian's default python3; another python3.X has its own package
      [ "$(readlink -f "$exe")" = "$(readlink -f /usr/bin/python3 2>/dev/null)" ] || pkg="python$ver-venv"
      apt_install "$pkg" || die "$base -m venv failed and $pkg could not be installed: $err"
      say "installed $pkg (Debian: $exe -m venv needs it)"
      "$base" -m venv "$VENV" || die "$base -m venv $VENV failed after installing $pkg"
    else
      die "$base -m venv $VENV failed: $err"
    fi
  fi
  venv_ok "$VENV" || die "$VENV was created but has no working pip"
  say "created $VENV ($("$VENV/bin/python" -V 2>&1) from $("$base" -c 'import sys; print(sys.executable)'))"
}

ensure_rust() {
  local need have_cargo have_rustc
  need="$(sed -n 's/^rust-version *= *"\([0-9.]*\)".*/\1/p' Cargo.toml | head -n1)"
  [ -n "$need" ] || die "no rust-version in Cargo.toml"
  have_cargo="$(cargo --version 2>/dev/null | awk '{print $2}' || true)"
  have_rustc="$(rustc --version 2>/dev/null | awk '{print $2}' || true)"
  if [ -n "$have_cargo" ] && [ -n "$have_rustc" ] && version_ge "${have_cargo%%-*}" "$need" &&
    version_ge "${have_rustc%%-*}" "$need"; then
    return 0
  fi
  local why="missing"
  [ -n "$have_cargo$have_rustc" ] && why="cargo ${have_cargo:-missing}, rustc ${have_rustc:-missing}"
  if command -v rustup >/dev/null 2>&1 && [ "$(command -v cargo 2>/dev/null)" != /usr/bin/cargo ]; then
    die "Rust >= $need needed ($why) and rustup manages cargo here: rustup update stable"
  fi
  command -v apt-get >/dev/null 2>&1 || die "Rust >= $need needed ($why): install it (rustup) and run make again"
  apt_install rustc-web cargo-web || die "Rust >= $need needed ($why) and rustc-web/cargo-web could not be installed"
  have_cargo="$(cargo --version 2>/dev/null | awk '{print $2}' || true)"
  version_ge "${have_cargo:-0}" "$need" ||
    die "installed rustc-web/cargo-web, but cargo on PATH is ${have_cargo:-missing} ($(command -v cargo || true)), < $need"
  say "installed rustc-web cargo-web (Debian; Rust $have_cargo, the crate needs >= $need; was: $why)"
}

case "$what" in
python) ensure_python ;;
rust) ensure_rust ;;
all) ensure_python && ensure_rust ;;
*) die "usage: scripts/env.sh [python|rust|all]" ;;
esac
