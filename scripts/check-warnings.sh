#!/usr/bin/env bash
# Fails when the build log holds a compiler warning in the project's own code.
set -euo pipefail
log="$1"
root="$(cd "$(dirname "$0")/.." && pwd)"
if grep -E "^($root/)?(Sources|Tests)/.*warning:" "$log" | sort -u | grep .; then
    echo "the project must build with zero warnings" >&2
    exit 1
fi
exit 0
