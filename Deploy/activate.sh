#!/bin/sh
# After the files are in place (install.sh, the package's postinst): the hazmon user and
# group, /etc/hazmon's ownership, the notify-reload drop-in on systemd 253+, and a unit
# reload if systemd is running. Safe to run again.
set -e
systemd-sysusers /usr/lib/sysusers.d/hazmon.conf
systemd-tmpfiles --create /usr/lib/tmpfiles.d/hazmon.conf
chgrp hazmon /etc/hazmon/hazmon.toml 2>/dev/null || true
# The console's users (`hazmon user add` creates it root:hazmon 0640 in /etc/hazmon).
chgrp hazmon /etc/hazmon/users.toml 2>/dev/null || true
version=$(systemctl --version 2>/dev/null | sed -n '1s/^systemd \([0-9]*\).*/\1/p')
if [ -n "$version" ] && [ "$version" -ge 253 ]; then
    install -D -m 0644 /usr/share/hazmon/notify-reload.conf /usr/lib/systemd/system/hazmon.service.d/notify-reload.conf
fi
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload || true
fi
