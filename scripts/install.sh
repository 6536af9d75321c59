#!/usr/bin/env bash
# Installs clipd and passvm from BUILT (a directory holding both binaries): the binaries,
# the systemd units (a user unit for desktops, a system unit for guests, a user template
# unit holding a VM's SPICE agent port), the udev rule
# that starts the guest unit, bash/zsh/fish completions and man pages. Completions and man
# pages are generated from the binaries' own command definitions.
#
# Usage: scripts/install.sh BUILT
# Environment: PREFIX (/usr/local), DESTDIR (empty; a staging root), UDEVRULESDIR
# ($PREFIX/lib/udev/rules.d), SYSTEMDDIR ($PREFIX/lib/systemd).
set -euo pipefail
cd "$(dirname "$0")/.."

built=${1:?usage: scripts/install.sh BUILT_BINARIES_DIRECTORY}
prefix=${PREFIX:-/usr/local}
dest=${DESTDIR:-}
udev=${UDEVRULESDIR:-$prefix/lib/udev/rules.d}
systemd=${SYSTEMDDIR:-$prefix/lib/systemd}

for tool in clipd passvm; do
    [ -x "$built/$tool" ] || { echo "install: $built/$tool is missing: build it first (make install does)" >&2; exit 1; }
done

generated=$(mktemp -d)
trap 'rm -rf "$generated"' EXIT
for tool in clipd passvm; do
    "$built/$tool" --generate-completion-script bash > "$generated/$tool.bash"
    "$built/$tool" --generate-completion-script zsh > "$generated/_$tool"
    "$built/$tool" --generate-completion-script fish > "$generated/$tool.fish"
    python3 scripts/make-manpage.py "$built/$tool" "packaging/man/$tool.sections" > "$generated/$tool.1"
done
for unit in clipd.service clipd-guest.service passvm-hold@.service; do
    sed "s|@BINDIR@|$prefix/bin|g" "packaging/systemd/$unit.in" > "$generated/$unit"
done

put() {  # put MODE SOURCE TARGET
    install -D -m "$1" "$2" "$dest$3"
    echo "  $3"
}
echo "installing under ${dest}${prefix}:"
for tool in clipd passvm; do
    put 0755 "$built/$tool" "$prefix/bin/$tool"
    put 0644 "$generated/$tool.bash" "$prefix/share/bash-completion/completions/$tool"
    put 0644 "$generated/_$tool" "$prefix/share/zsh/site-functions/_$tool"
    put 0644 "$generated/$tool.fish" "$prefix/share/fish/vendor_completions.d/$tool.fish"
    put 0644 "$generated/$tool.1" "$prefix/share/man/man1/$tool.1"
done
put 0644 "$generated/clipd.service" "$systemd/user/clipd.service"
put 0644 "$generated/clipd-guest.service" "$systemd/system/clipd-guest.service"
put 0644 "$generated/passvm-hold@.service" "$systemd/user/passvm-hold@.service"
put 0644 packaging/udev/90-clipd.rules "$udev/90-clipd.rules"
if [ -z "$dest" ]; then
    cat <<NOTE
next: on a desktop, systemctl --user daemon-reload && systemctl --user enable --now clipd
      in a VM guest, systemctl daemon-reload && udevadm control --reload (clipd-guest
      starts when the org.clipd.0 port appears)
NOTE
fi
