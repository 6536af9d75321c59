#!/bin/sh
# `make test-sanitize`: the whole suite, daemons and helpers included, built and run under
# AddressSanitizer, then under ThreadSanitizer, each in its own build directory. A report
# from any process (the test runner or a daemon it started) fails the run; reports are kept
# in .build/sanitize-KIND/reports. SANITIZERS="address" (or "thread") runs one.
set -u
swift=${SWIFT:-swift}
status=0
for kind in ${SANITIZERS:-address thread}; do
    path=".build/sanitize-$kind"
    reports="$PWD/$path/reports"
    rm -rf "$reports"
    mkdir -p "$reports"
    echo "test-sanitize: building with -sanitize=$kind (log: $path.log)"
    if ! $swift build --build-tests --sanitize="$kind" --build-path "$path" > "$path.log" 2>&1; then
        tail -40 "$path.log"
        exit 1
    fi
    echo "test-sanitize: running the suite under $kind"
    # Leak reports at exit are the Swift runtime's caches, not clipd's: off. Everything
    # else a sanitizer finds is written to $reports and fails the run.
    # The Swift runtime's backtracer is off: it reads a crashed thread's stack in a way
    # AddressSanitizer reports (and then hangs). A Swift trap or abort in any process
    # becomes an ASan report instead (handle_sigill, handle_abort), so it fails the run.
    SWIFT_BACKTRACE=enable=no \
    ASAN_OPTIONS="detect_leaks=0:handle_abort=1:handle_sigill=1:log_path=$reports/asan:abort_on_error=1" \
    TSAN_OPTIONS="log_path=$reports/tsan:halt_on_error=0:second_deadlock_stack=1" \
    CLIPD_SANITIZER="$kind" CLIPD_BINARY="$PWD/$path/debug/clipd" \
        $swift test --skip-build --sanitize="$kind" --build-path "$path" --parallel > "$path-test.log" 2>&1
    result=$?
    tail -3 "$path-test.log"
    found=$(ls "$reports" | wc -l)
    if [ "$result" -ne 0 ] || [ "$found" -ne 0 ]; then
        echo "test-sanitize: $kind: tests exit $result, $found sanitizer report(s) in $reports (test log: $path-test.log)"
        for report in "$reports"/*; do [ -e "$report" ] && head -20 "$report"; done
        status=1
    else
        echo "test-sanitize: $kind: clean"
    fi
done
exit $status
