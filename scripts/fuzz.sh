#!/usr/bin/env bash
# Fuzz every untrusted-input parser for a bounded time (issue 9).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]     # default 30
#
# Runs from the repository root (the text target loads models/dict relative to it). Installs
# cargo-fuzz on the nightly toolchain if it is missing, builds the targets in fuzz/ (their own
# workspace, with AddressSanitizer) into $CARGO_TARGET_DIR, then runs each target on its corpus
# in fuzz/corpus/<target>/ and prints one line per target: runs, coverage, features, corpus
# size, and whether it crashed. A crashing input is saved under fuzz/artifacts/<target>/;
# reproduce it with `cargo +nightly fuzz run <target> fuzz/artifacts/<target>/crash-...`.
# Exit status: 0 when no target crashed, 1 otherwise. Builds and runs are niced.
#
# Environment: CARGO_TARGET_DIR (default /root/.cache/hotline-triage/fuzz-target),
# FUZZ_TARGETS (space-separated subset), FUZZ_RSS_MB (default 4096).
set -uo pipefail

seconds="${1:-30}"
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/root/.cache/hotline-triage/fuzz-target}"
targets="${FUZZ_TARGETS:-text_pipeline request_json batch_reader model_container}"
rss="${FUZZ_RSS_MB:-4096}"
logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz ..." >&2
    nice -n 19 cargo install cargo-fuzz --locked || exit 1
fi
echo "building fuzz targets into $CARGO_TARGET_DIR ..." >&2
nice -n 19 cargo +nightly fuzz build || exit 1

failed=0
for t in $targets; do
    mkdir -p "fuzz/corpus/$t"
    start=$(date +%s)
    nice -n 19 cargo +nightly fuzz run "$t" -- -max_total_time="$seconds" -rss_limit_mb="$rss" -print_final_stats=1 \
        >"$logs/$t.log" 2>&1
    rc=$?
    elapsed=$(( $(date +%s) - start ))
    # The last status line: "#N  DONE  cov: C ft: F corp: K/S ..." (or the line before a crash).
    last=$(grep -E '^#[0-9]+' "$logs/$t.log" | tail -n 1)
    runs=$(grep -E '^stat::number_of_executed_units' "$logs/$t.log" | awk '{print $2}')
    cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
    ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
    corp=$(sed -nE 's/.* corp: ([0-9]+\/[0-9]+[a-zA-Z]*).*/\1/p' <<<"$last")
    if [ "$rc" -eq 0 ]; then
        verdict="ok"
    else
        failed=1
        artifact=$(grep -oE 'fuzz/artifacts/[^ ]+' "$logs/$t.log" | tail -n 1)
        verdict="CRASH (exit $rc) ${artifact:-see log}"
        cp "$logs/$t.log" "fuzz/artifacts/$t.log" 2>/dev/null || true
    fi
    printf '%-16s runs=%-9s secs=%-4s cov=%-5s ft=%-6s corpus=%-10s %s\n' \
        "$t" "${runs:-?}" "$elapsed" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$verdict"
done
exit "$failed"
