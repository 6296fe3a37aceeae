#!/usr/bin/env bash
# Installs hazmon: the binary, the systemd unit, the sysusers.d and tmpfiles.d fragments, the
# example configuration (never over an existing one) and the docs.
#
#   sudo Deploy/install.sh                   # builds a release binary (Swift runtime linked in), installs under /
#   Deploy/install.sh --binary PATH --destdir DIR --no-activate
#                                            # stages into DIR (the Debian package does this)
#
# Layout (the unit expects it): /usr/bin/hazmon, /usr/lib/systemd/system/hazmon.service,
# /usr/lib/sysusers.d/hazmon.conf, /usr/lib/tmpfiles.d/hazmon.conf, /etc/hazmon/hazmon.toml,
# /usr/share/doc/hazmon/. State lives in /var/lib/hazmon (StateDirectory), the alert socket in
# /run/hazmon (RuntimeDirectory); systemd creates both for the unit.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
binary=""
destdir=""
activate=1
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) binary="$2"; shift 2 ;;
        --destdir) destdir="$2"; shift 2 ;;
        --no-activate) activate=0; shift ;;
        *) echo "install.sh: unknown option $1" >&2; exit 2 ;;
    esac
done

if [ -z "$binary" ]; then
    (cd "$root" && swift build -c release --static-swift-stdlib --product hazmon)
    binary="$root/.build/release/hazmon"
fi
[ -x "$binary" ] || { echo "install.sh: no executable at $binary" >&2; exit 1; }

d="${destdir%/}"
install -D -m 0755 "$binary" "$d/usr/bin/hazmon"
install -D -m 0644 "$root/Deploy/hazmon.service" "$d/usr/lib/systemd/system/hazmon.service"
install -D -m 0644 "$root/Deploy/notify-reload.conf" "$d/usr/share/hazmon/notify-reload.conf"
install -D -m 0755 "$root/Deploy/activate.sh" "$d/usr/share/hazmon/activate.sh"
install -D -m 0644 "$root/Deploy/hazmon.sysusers" "$d/usr/lib/sysusers.d/hazmon.conf"
install -D -m 0644 "$root/Deploy/hazmon.tmpfiles" "$d/usr/lib/tmpfiles.d/hazmon.conf"
install -D -m 0644 "$root/Config/hazmon.example.toml" "$d/usr/share/doc/hazmon/hazmon.example.toml"
install -D -m 0644 "$root/README.md" "$d/usr/share/doc/hazmon/README.md"
# `hazmon demo` finds its tank farm here when run outside a clone; the drills beside it.
for f in "$root"/Config/demo/*.toml; do install -D -m 0644 "$f" "$d/usr/share/hazmon/demo/$(basename "$f")"; done
for f in "$root"/Config/demo/points/*.toml; do install -D -m 0644 "$f" "$d/usr/share/hazmon/demo/points/$(basename "$f")"; done
for f in "$root"/Config/scenarios/*.toml; do install -D -m 0644 "$f" "$d/usr/share/hazmon/scenarios/$(basename "$f")"; done
if [ ! -e "$d/etc/hazmon/hazmon.toml" ]; then
    install -D -m 0640 "$root/Config/hazmon.example.toml" "$d/etc/hazmon/hazmon.toml"
else
    echo "install.sh: keeping the existing $d/etc/hazmon/hazmon.toml"
fi

[ "$activate" -eq 1 ] || exit 0
# The rest needs the live system: the user, the config directory's group, the drop-in.
/usr/share/hazmon/activate.sh
