#!/usr/bin/env bash
# Issue 15 item 3: export a model larger than the memory the process may use.
#
#   eval "$(./dev env)"; ./dev build; bench/lazy_cgroup.sh [MODEL.pt [LIMIT_BYTES]]
#
# Exports the ~3.1 GB traced GPT-2-large (models/make_scale.py makes it on first use, into
# $TORCH2AIR_CACHE/scale/) inside a cgroup whose memory is limited to LIMIT_BYTES (default 1.5 GB;
# needs root and the cgroup v1 or v2 memory controller), with --weights auto: torch2air sees the
# cgroup's limit and chooses --weights lazy (it says so on stderr). Then exports it again outside
# the cgroup with --weights memory, and checks that every file of the two exports is byte-identical.
# Prints wall time and peak RSS of both (GNU time's maximum resident set size), the lazy peak as a
# share of the weights' bytes (the issue asks <= 25%), and the cgroup's own peak (page cache
# included). Set VERIFY=1 to also run `verify --weights lazy` outside the cgroup.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${TORCH2AIR_CACHE:-$HOME/.cache/torch2air}"
BIN="${TORCH2AIR_BIN:-${CARGO_TARGET_DIR:-$CACHE/target}/debug/torch2air}"
MODEL="${1:-$CACHE/scale/gpt2_large.pt}"
LIMIT="${2:-1500000000}"
IDS="${MODEL%.pt}_ids.npy"
if [ ! -f "$MODEL" ]; then
  "${TORCH2AIR_VENV:-$CACHE/venv}/bin/python" models/make_scale.py "$(dirname "$MODEL")" large
fi
[ -x "$BIN" ] || { echo "no torch2air binary at $BIN; run ./dev build (or set TORCH2AIR_BIN)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "needs GNU time at /usr/bin/time" >&2; exit 2; }
INPUT=()
[ -f "$IDS" ] && INPUT=(--input "$IDS")
WORK="$(mktemp -d "${TMPDIR:-/tmp}/torch2air-lazy.XXXXXX")"
CG=""
cleanup() {
  [ -n "$CG" ] && [ -d "$CG" ] && rmdir "$CG" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# A cgroup of our own with the limit.
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  CG=/sys/fs/cgroup/torch2air-lazy-$$
  mkdir "$CG"
  echo "$LIMIT" > "$CG/memory.max"
  echo 0 > "$CG/memory.swap.max" 2>/dev/null || true
  PEAK_FILE=memory.peak
else
  CG=/sys/fs/cgroup/memory/torch2air-lazy-$$
  mkdir "$CG"
  echo "$LIMIT" > "$CG/memory.limit_in_bytes"
  PEAK_FILE=memory.max_usage_in_bytes
fi

WEIGHTS=$(python3 - "$MODEL" <<'PY'
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
print(sum(i.file_size for i in z.infolist() if "/data/" in i.filename))
PY
)

run() { # dir, label, in-cgroup(0/1), args...
  local dir="$1" label="$2" incg="$3"; shift 3
  mkdir -p "$dir"
  local t0 t1
  t0=$(date +%s.%N)
  if [ "$incg" = 1 ]; then
    (cd "$dir" && sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$CG" \
      /usr/bin/time -f "%M" -o "$dir/rss" "$BIN" "$@" > "$dir/stdout" 2> "$dir/stderr") || {
      echo "$label failed:"; cat "$dir/stderr"; exit 1; }
  else
    (cd "$dir" && /usr/bin/time -f "%M" -o "$dir/rss" "$BIN" "$@" > "$dir/stdout" 2> "$dir/stderr") || {
      echo "$label failed:"; cat "$dir/stderr"; exit 1; }
  fi
  t1=$(date +%s.%N)
  local rss_kb
  rss_kb=$(tail -n 1 "$dir/rss")
  python3 -c "import sys; t=float(sys.argv[2])-float(sys.argv[1]); r=int(sys.argv[3])*1024; w=int(sys.argv[4]); print(f'{sys.argv[5]:<44} {t:6.1f} s   peak RSS {r/1e9:5.2f} GB = {100*r/w:5.1f}% of the weights')" \
    "$t0" "$t1" "$rss_kb" "$WEIGHTS" "$label"
}

echo "model: $MODEL ($(python3 -c "print(f'{$WEIGHTS/1e9:.2f}')") GB of weights); cgroup limit: $LIMIT bytes ($CG)"
run "$WORK/lazy" "export, cgroup ${LIMIT} B, --weights auto" 1 \
  export "$MODEL" "${INPUT[@]}" --export-path out --weights auto
grep -h "torch2air:" "$WORK/lazy/stderr" || { echo "auto did not choose lazy"; exit 1; }
echo "cgroup peak (RSS + page cache): $(cat "$CG/$PEAK_FILE") bytes"
run "$WORK/memory" "export, no limit, --weights memory" 0 \
  export "$MODEL" "${INPUT[@]}" --export-path out --weights memory
n=0
for f in "$WORK/memory/out"/*; do
  cmp -s "$f" "$WORK/lazy/out/$(basename "$f")" || { echo "DIFFER: $(basename "$f")"; exit 1; }
  n=$((n + 1))
done
[ "$(ls "$WORK/lazy/out" | wc -l)" = "$n" ] || { echo "DIFFER: the file lists"; exit 1; }
echo "byte-identical: all $n files"
if [ "${VERIFY:-0}" = 1 ]; then
  run "$WORK/verify" "verify --weights lazy (no limit)" 0 \
    verify "$MODEL" "${INPUT[@]}" --export-path out --weights lazy
  tail -n 3 "$WORK/verify/stdout"
fi
