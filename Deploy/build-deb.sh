#!/usr/bin/env bash
# Builds the Debian package with dpkg-deb: the layout of install.sh, /etc/hazmon/hazmon.toml as
# a conffile (dpkg never overwrites a changed one), and maintainer scripts that create the
# user (systemd-sysusers), stop the service before removal and keep the alarm journal on purge.
#
#   Deploy/build-deb.sh [--binary PATH] [--out DIR] [--compress xz|gzip|none]
#
# Without --binary it builds a release binary with the Swift runtime linked in, so the package
# needs only Debian's libmodbus5, libmosquitto1 and libsqlite3-0 (and the C/C++ runtimes).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
binary=""
out="$root/.build/deb"
compress=xz
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) binary="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --compress) compress="$2"; shift 2 ;;
        *) echo "build-deb.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
if [ -z "$binary" ]; then
    (cd "$root" && swift build -c release --static-swift-stdlib --product hazmon)
    binary="$root/.build/release/hazmon"
fi
version="$("$binary" --version)"
arch="$(dpkg --print-architecture)"
stage="$(mktemp -d)"
chmod 0755 "$stage"
trap 'rm -rf "$stage"' EXIT
"$root/Deploy/install.sh" --binary "$binary" --destdir "$stage" --no-activate >/dev/null
strip --strip-unneeded "$stage/usr/bin/hazmon" 2>/dev/null || true
mkdir -p "$stage/DEBIAN"
cat > "$stage/DEBIAN/control" <<CONTROL
Package: hazmon
Version: $version
Architecture: $arch
Maintainer: hazmon developers <hazmon@localhost>
Depends: libc6, libstdc++6, libgcc-s1, libmodbus5, libmosquitto1, libsqlite3-0, systemd, ca-certificates
Section: admin
Priority: optional
Description: major hazard source monitoring daemon
 Polls Modbus gas and pressure instruments, subscribes to MQTT telemetry, evaluates graded
 limits, delays, rates, trends, stale data and sensor faults, and raises graded alarms
 (1 red ... 4 blue) to a durable journal, the log, an alert socket and MQTT.
CONTROL
echo "/etc/hazmon/hazmon.toml" > "$stage/DEBIAN/conffiles"
cat > "$stage/DEBIAN/postinst" <<'SCRIPT'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
    /usr/share/hazmon/activate.sh
fi
SCRIPT
cat > "$stage/DEBIAN/prerm" <<'SCRIPT'
#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
    systemctl stop hazmon.service || true
fi
SCRIPT
cat > "$stage/DEBIAN/postrm" <<'SCRIPT'
#!/bin/sh
set -e
if [ "$1" = purge ] || [ "$1" = remove ]; then
    rm -f /usr/lib/systemd/system/hazmon.service.d/notify-reload.conf
    rmdir /usr/lib/systemd/system/hazmon.service.d 2>/dev/null || true
fi
if [ "$1" = purge ] && [ -d /var/lib/hazmon ]; then
    # The alarm journal is a legal record (at least 30 days): never deleted by the package.
    echo "hazmon: /var/lib/hazmon (the alarm journal) is kept; remove it by hand when the records may go."
fi
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload || true
fi
SCRIPT
chmod 0755 "$stage/DEBIAN/postinst" "$stage/DEBIAN/prerm" "$stage/DEBIAN/postrm"
mkdir -p "$out"
deb="$out/hazmon_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Z"$compress" --build "$stage" "$deb" >/dev/null
echo "$deb"
