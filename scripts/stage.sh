#!/usr/bin/env bash
# Times the stages of `make test`: `scripts/stage.sh NAME CMD...` runs CMD and prints its wall time;
# `scripts/stage.sh start` begins a run, `scripts/stage.sh summary` prints every stage's time and the total.
# A failing stage prints the summary so far and exits with its status. Times go to $STAGE_TIMES.
set -uo pipefail
times="${STAGE_TIMES:-${TMPDIR:-/tmp}/portlens-stages-$(id -u)-$PPID}"
summary() {
  echo "== stage times"
  [ -f "$times" ] && awk -F'\t' '{t += $2; printf "   %-12s %8.1f s  %s\n", $1, $2, $3} END {printf "   %-12s %8.1f s\n", "total", t}' "$times"
}
case "${1:-}" in
start) : >"$times" && exit 0 ;;
summary) summary && rm -f "$times" && exit 0 ;;
"") echo "usage: scripts/stage.sh start|summary|NAME CMD..." >&2 && exit 2 ;;
esac
name="$1"
shift
echo "== stage $name: $*"
t0=$(date +%s.%N)
"$@"
rc=$?
dt=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
status=ok
[ $rc -eq 0 ] || status="FAILED (exit $rc)"
printf '%s\t%s\t%s\n' "$name" "$dt" "$status" >>"$times"
echo "== stage $name: ${dt} s, $status"
if [ $rc -ne 0 ]; then
  summary
  rm -f "$times"
fi
exit $rc
