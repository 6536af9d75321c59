#!/bin/sh
# Runs every fuzz target under libFuzzer for FUZZ_SECONDS each (default 60), one after the
# other, from the seeds in Tests/Fuzz/seeds, the generated ones and the corpus kept in
# .build/fuzz-corpus. Prints executions and crashes per target (also in
# .build/fuzz-report.txt); a crash's input is saved in .build/fuzz-crashes and the run
# fails. Copy a crash into Tests/Fuzz/seeds/TARGET/ to make it a regression test.
set -u
seconds=${FUZZ_SECONDS:-60}
only=${FUZZ_TARGETS:-}
binary=.build/fuzz/release/clipd-fuzz
mkdir -p .build/fuzz-corpus .build/fuzz-crashes .build/fuzz-generated
"$binary" --write-seeds .build/fuzz-generated || exit 1
report=.build/fuzz-report.txt
printf '%-14s %14s %10s %8s %s\n' target executions per-second crashes max-input > "$report"
failed=0
"$binary" --list | while read -r target length; do
    if [ -n "$only" ] && ! echo " $only " | grep -q " $target "; then continue; fi
    mkdir -p ".build/fuzz-corpus/$target" "Tests/Fuzz/seeds/$target"
    log=".build/fuzz-$target.log"
    leaks=1
    ASAN_OPTIONS="detect_leaks=$leaks" CLIPD_FUZZ_TARGET=$target "$binary" -max_total_time="$seconds" -max_len="$length" -print_final_stats=1 -detect_leaks="$leaks" \
        -artifact_prefix=".build/fuzz-crashes/$target-" ".build/fuzz-corpus/$target" "Tests/Fuzz/seeds/$target" \
        ".build/fuzz-generated/$target" > "$log" 2>&1
    status=$?
    runs=$(grep 'stat::number_of_executed_units' "$log" | awk '{print $2}' | tail -1)
    runs=${runs:-0}
    crashes=0
    [ "$status" -ne 0 ] && crashes=1
    printf '%-14s %14s %10s %8s %s\n' "$target" "$runs" "$((runs / seconds))" "$crashes" "$length" >> "$report"
    if [ "$crashes" -ne 0 ]; then
        echo "fuzz: $target crashed (log: $log, input in .build/fuzz-crashes/)" >&2
        grep -m1 -E 'Fatal error|ERROR: AddressSanitizer|deadly signal' "$log" >&2
        touch .build/fuzz-failed
    fi
done
cat "$report"
if [ -e .build/fuzz-failed ]; then rm -f .build/fuzz-failed; exit 1; fi
