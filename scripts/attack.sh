#!/bin/sh
# `make attack`: the attacks of the security review (SECURITY.md), at full size, against
# live daemons the tests start: a stranger's connection and log floods, a paired peer's
# fetch storm and escape injection, pairing spoiled by a stranger, a peer's file: URIs of
# local secrets, and config files that aborted the old TOML parser. Prints one line per
# attack: what was tried, what was measured, and whether the bound held. Not part of
# `make test` (which runs the same tests at a bounded size).
set -u
report=.build/attack-report.txt
mkdir -p .build
rm -f "$report"
CLIPD_ATTACK=1 CLIPD_ATTACK_REPORT="$PWD/$report" scripts/run-tests.py --limit 1200 --skip-build \
    --filter 'FetchStormTests|ConnectionFloodTests|StrangerLogTests|EscapeInjectionTests|aWindowSpoiledByAStrangerTellsBothSidesAtOnce|PeerFileListTests|filesThatAbortedTheOldParserAreRefusedInOneLineEverywhere' \
    > .build/attack-tests.log 2>&1
status=$?
echo "make attack: what held (tests' log: .build/attack-tests.log)"
if [ -s "$report" ]; then cat "$report"; else echo "no attack ran (see the log)"; fi
grep -q '^BROKEN' "$report" 2>/dev/null && status=1
[ "$status" -ne 0 ] && echo "make attack: something did not hold (exit $status)"
exit "$status"
