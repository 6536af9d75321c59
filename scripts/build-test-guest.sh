#!/usr/bin/env bash
# Builds the QEMU test guest: Debian's kernel (downloaded once, not installed) and an
# initramfs holding busybox, the virtio-serial modules, and a clipd binary with every
# shared library it needs. The guest's /init loads the modules, starts a shell on the
# virtio-serial port org.clipd.test for the tests to drive, and prints "clipd-guest-ready"
# on that port.
# With MODEL_AGENT_BINARY, the guest also holds the Windows-like SPICE agent of the tests
# (Tests/ModelWindowsAgent) as /bin/clipd-model-agent, and /bin/model-agent-service, which
# runs it the way the Windows service runs its agent.
# Usage: scripts/build-test-guest.sh OUTDIR CLIPD_BINARY [MODEL_AGENT_BINARY]
# Writes OUTDIR/vmlinuz and OUTDIR/initramfs.cpio; keeps the kernel package in OUTDIR.
set -euo pipefail

out=$1
binary=$2
model_agent=${3:-}
mkdir -p "$out"
out=$(cd "$out" && pwd)

# The kernel: the package linux-image-amd64 currently points at, fetched once.
package=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
[ -n "$package" ] || { echo "build-test-guest: apt knows no linux-image-amd64 (run apt-get update)" >&2; exit 1; }
deb=$(ls "$out"/"$package"_*.deb 2>/dev/null | head -n 1 || true)
if [ -z "$deb" ]; then
    (cd "$out" && apt-get download -q "$package" >/dev/null 2>&1) || { echo "build-test-guest: cannot download $package" >&2; exit 1; }
    deb=$(ls "$out"/"$package"_*.deb | head -n 1)
fi
if [ ! -f "$out/kernel/.from-$(basename "$deb")" ]; then
    rm -rf "$out/kernel"
    mkdir -p "$out/kernel"
    dpkg -x "$deb" "$out/kernel"
    touch "$out/kernel/.from-$(basename "$deb")"
fi
cp "$out"/kernel/boot/vmlinuz-* "$out/vmlinuz"
modules=$(ls -d "$out"/kernel/lib/modules/*/kernel)

root="$out/root"
rm -rf "$root"
mkdir -p "$root"/{bin,dev,proc,sys,tmp,root,lib/modules}
cp /bin/busybox "$root/bin/busybox"
for module in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci; do
    cp "$modules/drivers/virtio/$module.ko" "$root/lib/modules/"
done
cp "$modules/drivers/char/virtio_console.ko" "$root/lib/modules/"

# clipd and its libraries at the paths the dynamic loader expects; openssl too, so the
# benchmark can show what the guest's emulated CPU makes of AES-256-GCM.
strip -o "$root/bin/clipd" "$binary" 2>/dev/null || cp "$binary" "$root/bin/clipd"
programs=("$binary")
if [ -n "$model_agent" ]; then
    strip -o "$root/bin/clipd-model-agent" "$model_agent" 2>/dev/null || cp "$model_agent" "$root/bin/clipd-model-agent"
    programs+=("$model_agent")
    # The Windows service's rules: the agent is started again 3 s after it stops, and the
    # service stops for good after 10 restarts within 60 s. Logs go to /tmp/agent.
    cat > "$root/bin/model-agent-service" <<'SERVICE'
#!/bin/sh
mkdir -p /tmp/agent
[ -p /tmp/agent/ctl ] || mkfifo /tmp/agent/ctl
port=""
for p in /sys/class/virtio-ports/*; do
    [ "$(cat "$p/name" 2>/dev/null)" = com.redhat.spice.0 ] && port=/dev/$(basename "$p")
done
[ -n "$port" ] || { echo "no com.redhat.spice.0 port" >>/tmp/agent/service.log; exit 1; }
starts=""
while true; do
    echo "starting the agent" >>/tmp/agent/service.log
    clipd-model-agent "$port" /tmp/agent/ctl >>/tmp/agent/agent.log 2>&1
    echo "the agent stopped ($?)" >>/tmp/agent/service.log
    now=$(cut -d. -f1 /proc/uptime)
    kept=""
    count=0
    for t in $starts $now; do
        if [ $((now - t)) -lt 60 ]; then kept="$kept $t"; count=$((count + 1)); fi
    done
    starts=$kept
    if [ "$count" -ge 10 ]; then echo "gave up after $count restarts within 60 s" >>/tmp/agent/service.log; exit 1; fi
    sleep 3
done
SERVICE
    chmod 755 "$root/bin/model-agent-service"
fi
if [ -x /usr/bin/openssl ]; then cp /usr/bin/openssl "$root/bin/openssl"; programs+=(/usr/bin/openssl); fi
for program in "${programs[@]}"; do
    ldd "$program" | awk '/=> \// {print $3} /^[ \t]*\/lib/ {print $1}'
done | sort -u | while read -r library; do
    mkdir -p "$root$(dirname "$library")"
    cp -L "$library" "$root$library"
done

cat > "$root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
for module in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_console; do
    insmod /lib/modules/$module.ko
done
export HOME=/root PATH=/bin XDG_RUNTIME_DIR=/tmp/run
mkdir -p /tmp/run && chmod 700 /tmp/run
port=""
while [ -z "$port" ]; do
    for p in /sys/class/virtio-ports/*; do
        [ "$(cat "$p/name" 2>/dev/null)" = org.clipd.test ] && port=/dev/$(basename "$p")
    done
    [ -n "$port" ] || sleep 0.1
done
# A shell on the test port; it ends (end-of-file) whenever the host side detaches.
while true; do
    sh -c 'echo clipd-guest-ready; exec sh' <>"$port" >&0 2>&0
    sleep 0.2
done
EOF
chmod 755 "$root/init"
(cd "$root" && find . | busybox cpio -o -H newc 2>/dev/null) > "$out/initramfs.cpio"
echo "$out/initramfs.cpio"
