#!/usr/bin/env bash
# The README's first command, proven rather than assumed: `make run` in a fresh clone of
# this repository, with an empty HOME, must build clipd and start it with its default
# configuration; the test waits until `clipd status` answers, stops the daemon with
# SIGTERM and needs it to exit 0, its control socket gone and its default config written.
# Run by `make test` after the Swift tests (it builds a release binary from scratch).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# Bounded twice: by the whole time (15 min), and by time without a new line of build
# output (5 min: a build that makes progress, however slowly on a loaded machine, goes on).
limit=${MAKE_RUN_TIMEOUT:-900}
stall_limit=${MAKE_RUN_STALL:-300}

work=$(mktemp -d /tmp/clipd-make-run-XXXXXX)
make_pid=""
cleanup() {
    if [ -n "$make_pid" ] && kill -0 "$make_pid" 2>/dev/null; then
        pkill -TERM -P "$make_pid" 2>/dev/null || true
        kill -TERM "$make_pid" 2>/dev/null || true
    fi
    [ -n "${CLIPD_KEEP_TEST_DIRS:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
fail() {
    echo "make run: $1" >&2
    echo "--- last lines of make run's output:" >&2
    tail -n 30 "$work/make-run.log" >&2 || true
    echo "make run: FAILED"
    exit 1
}

git clone --quiet "$root" "$work/clone"
home="$work/home"
runtime="$work/runtime"
mkdir -m 700 "$home" "$runtime"
# Nothing from this shell but PATH: an empty HOME, and a runtime directory of its own so
# a daemon the developer runs is not in the way.
clean_env=(env -i "PATH=$PATH" "HOME=$home" "XDG_RUNTIME_DIR=$runtime" "LANG=C.UTF-8")
started=$(date +%s)
(cd "$work/clone" && exec "${clean_env[@]}" make run) > "$work/make-run.log" 2>&1 &
make_pid=$!
clipd="$work/clone/.build/release/clipd"

status=""
log_size=0
progressed=$started
while true; do
    if [ -x "$clipd" ] && status=$(timeout -k 2 10 "${clean_env[@]}" "$clipd" status 2>/dev/null); then break; fi
    kill -0 "$make_pid" 2>/dev/null || fail "ended before the daemon answered"
    now=$(date +%s)
    size=$(stat -c %s "$work/make-run.log" 2>/dev/null || echo 0)
    if [ "$size" != "$log_size" ]; then log_size=$size; progressed=$now; fi
    [ $(( now - started )) -lt "$limit" ] || fail "no answer from clipd status within $limit s"
    [ $(( now - progressed )) -lt "$stall_limit" ] || fail "no output from make run for $stall_limit s and no answer from clipd status"
    sleep 2
done
echo "make run: clipd status answered after $(( $(date +%s) - started )) s (build included):"
echo "$status" | sed 's/^/  /'
echo "$status" | grep -q "^backend: memory" || fail "expected the memory clipboard with no display"
[ -f "$home/.config/clipd/clipd.toml" ] || fail "no default config in $home/.config/clipd"
[ -f "$home/.config/clipd/identity.toml" ] || fail "no identity in $home/.config/clipd"

daemon_pid=$(echo "$status" | sed -n 's/^clipd running: .*, pid \([0-9]*\)$/\1/p')
[ -n "$daemon_pid" ] || fail "clipd status gave no pid"
kill -TERM "$daemon_pid"
# Bounded: a daemon that ignores SIGTERM must fail the check, not hang it.
for _ in $(seq 1 150); do kill -0 "$make_pid" 2>/dev/null || break; sleep 0.2; done
kill -0 "$make_pid" 2>/dev/null && fail "make run did not end within 30 s of SIGTERM to the daemon"
if wait "$make_pid"; then code=0; else code=$?; fi
make_pid=""
[ "$code" -eq 0 ] || fail "make run exited $code after SIGTERM"
[ ! -e "$runtime/clipd/clipd.sock" ] || fail "the control socket was left behind"
echo "make run: stopped cleanly"
echo "make run: passed"
