#!/usr/bin/env python3
"""Modbus polling side by side: hazmon and collectd 5's modbus plugin, same devices, same load.

  - two libmodbus slaves (`hazmon simulate`), one per poller, so each side's requests are
    counted on their own: every client connection is one device;
  - DEVICES devices x 10 contiguous input registers, polled every second, by
      hazmon   (one [[modbus.device]] per device, ten tags each), and
      collectd (one <Host> per device, ten <Data> each: collectd sends one request per value);
  - CPU (utime + stime from /proc) of each poller over the measured window, per device poll;
  - requests per device poll and the gaps between one device's polls, from the slaves' own
    statistics (hazmon's polls are on time when every gap is within 10 % of the period);
  - then a device whose slave is killed: how long until hazmon declares it (the `comm` alarm on
    the alert socket) and, after the slave is back, until it clears.

Usage: python3 Benchmarks/load/modbus_load.py [--devices 200] [--seconds 30]
       [--hazmon .build/release/hazmon]
Needs: collectd-core (Debian), a release build of hazmon; all on loopback, stops by itself.
"""
import argparse, json, os, shutil, signal, socket, subprocess, sys, tempfile, time

from loadlib import cpu_seconds, free_port


def simulator(hazmon, port, tmp, name):
    stats = os.path.join(tmp, f"{name}.stats.json")
    p = subprocess.Popen([hazmon, "simulate", "--modbus-port", str(port), "--stats", stats],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return p, stats
        except OSError:
            time.sleep(0.05)
    sys.exit(f"the simulator did not listen on {port}")


def stop(p):
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=15)


def hazmon_config(tmp, devices, port, victim_port):
    sock = os.path.join(tmp, "alerts.sock")
    lines = [f'[site]\nid = "mbload"\n[log]\nformat = "json"\nlevel = "info"\n[alert_socket]\npath = "{sock}"\n'
             f'[journal]\npath = "{tmp}/journal.db"\n']
    for d in range(devices):
        lines.append(f'[[modbus.device]]\nid = "dev{d:03d}"\nurl = "tcp://127.0.0.1:{port}"\npoll = "1s"\n')
    lines.append(f'[[modbus.device]]\nid = "victim"\nurl = "tcp://127.0.0.1:{victim_port}"\npoll = "1s"\n')
    for d in range(devices):
        for r in range(10):
            lines.append(f'[[tag]]\nid = "D{d:03d}-R{r}"\nclass = "pressure"\n'
                         f'source = {{ modbus = "dev{d:03d}", table = "input", address = {r} }}\nalarms.h = {{ at = 60000 }}\n')
    lines.append('[[tag]]\nid = "V-R0"\nclass = "pressure"\nsource = { modbus = "victim", table = "input", address = 0 }\n'
                 'alarms.h = { at = 60000 }\n')
    path = os.path.join(tmp, "hazmon.toml")
    with open(path, "w") as f:
        f.write("".join(lines))
    return path, sock


def collectd_config(tmp, devices, port):
    data = "".join(f'  <Data "r{r}">\n    RegisterBase {r}\n    RegisterType Uint16\n    RegisterCmd ReadInput\n'
                   f'    Type gauge\n    Instance "r{r}"\n  </Data>\n' for r in range(10))
    hosts = "".join(f'  <Host "dev{d:03d}">\n    Address "127.0.0.1"\n    Port "{port}"\n    Interval 1\n'
                    f'    <Slave 1>\n      Instance "dev{d:03d}"\n' + "".join(f'      Collect "r{r}"\n' for r in range(10)) +
                    '    </Slave>\n  </Host>\n' for d in range(devices))
    path = os.path.join(tmp, "collectd.conf")
    with open(path, "w") as f:
        f.write(f'''Hostname "mbload"
FQDNLookup false
BaseDir "{tmp}"
PIDFile "{tmp}/collectd.pid"
TypesDB "/usr/share/collectd/types.db"
Interval 1
ReadThreads 5
LoadPlugin logfile
<Plugin logfile>
  LogLevel "warning"
  File "{tmp}/collectd.log"
</Plugin>
LoadPlugin modbus
<Plugin modbus>
{data}{hosts}</Plugin>
''')
    return path


class Feed:
    """The alert socket, subscribed; lines read with a timeout."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect(path)
        self.s.settimeout(0.5)
        self.buf = b""
        self.s.sendall(b'{"type":"subscribe"}\n')

    def wait(self, tag, event, timeout):
        end = time.time() + timeout
        while time.time() < end:
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                e = json.loads(line)
                if e.get("type") == "event" and e.get("tag") == tag and e.get("event") == event:
                    return time.monotonic()
            try:
                chunk = self.s.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                return None
            self.buf += chunk
        return None


def summarize(stats_path):
    """(requests, requests per device poll, median and worst gap between one device's requests).
    A connection's polls are its active span (first to last request) over the 1 s period."""
    with open(stats_path) as f:
        s = json.load(f)
    conns = s["per_connection"]
    polls = sum(c["span"] for c in conns) + len(conns)
    gaps_max = max((c["gap_max"] for c in conns), default=float("nan"))
    gaps_p50 = sorted(c["gap_p50"] for c in conns)
    return s["requests"], sum(c["requests"] for c in conns) / polls, gaps_p50[len(gaps_p50) // 2], gaps_max


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--hazmon", default=".build/release/hazmon")
    a = ap.parse_args()
    hazmon = os.path.abspath(a.hazmon)
    tmp = tempfile.mkdtemp(prefix="hazmon-mbload-")
    procs = []
    try:
        hz_port, cd_port, victim_port = free_port(), free_port(), free_port()
        hz_sim, hz_stats = simulator(hazmon, hz_port, tmp, "hazmon")
        cd_sim, cd_stats = simulator(hazmon, cd_port, tmp, "collectd")
        victim, _ = simulator(hazmon, victim_port, tmp, "victim")
        procs += [hz_sim, cd_sim, victim]
        cfg, sock = hazmon_config(tmp, a.devices, hz_port, victim_port)
        log = open(os.path.join(tmp, "hazmon.log"), "w")
        hz = subprocess.Popen([hazmon, "run", "--config", cfg], stdout=log, stderr=log)
        procs.append(hz)
        cd = subprocess.Popen([shutil.which("collectd") or "/usr/sbin/collectd", "-f", "-C", collectd_config(tmp, a.devices, cd_port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(cd)
        time.sleep(5)   # connections up, first polls done
        h0, c0, t0 = cpu_seconds(hz.pid), cpu_seconds(cd.pid), time.monotonic()
        time.sleep(a.seconds)
        h1, c1, t1 = cpu_seconds(hz.pid), cpu_seconds(cd.pid), time.monotonic()
        polls = a.devices * (t1 - t0)

        # A device whose slave dies (a gateway reboot), then comes back.
        feed = Feed(sock)
        time.sleep(0.2)
        killed = time.monotonic()
        stop(victim)
        procs.remove(victim)
        declared = feed.wait("victim", "raised", 60)
        time.sleep(5)
        victim, _ = simulator(hazmon, victim_port, tmp, "victim2")
        procs.append(victim)
        back = time.monotonic()
        cleared = feed.wait("victim", "cleared", 120)
        feed.s.close()

        stop(cd)
        procs.remove(cd)
        stop(hz)
        procs.remove(hz)
        stop(hz_sim)
        stop(cd_sim)
        procs.remove(hz_sim)
        procs.remove(cd_sim)
        h_req, h_per_poll, h_gap_p50, h_gap_max = summarize(hz_stats)
        c_req, c_per_poll, c_gap_p50, c_gap_max = summarize(cd_stats)
        h_cpu = (h1 - h0) / polls * 1e6
        c_cpu = (c1 - c0) / polls * 1e6
        print(f"load: {a.devices} devices x 10 input registers every 1 s, CPU measured over {t1 - t0:.1f} s "
              f"({polls:.0f} device polls each)")
        print(f"hazmon:   CPU {h_cpu:.1f} us per device poll; {h_per_poll:.2f} requests per device poll ({h_req} requests); "
              f"gap between a device's requests p50 {h_gap_p50:.3f} s, max {h_gap_max:.3f} s")
        print(f"collectd: CPU {c_cpu:.1f} us per device poll; {c_per_poll:.2f} requests per device poll ({c_req} requests); "
              f"gap between a device's requests p50 {c_gap_p50:.3f} s, max {c_gap_max:.3f} s")
        print(f"ratio: hazmon uses {h_cpu / c_cpu:.3f} of collectd's CPU per device poll" if c_cpu else "ratio: n/a")
        print(f"dead device: declared (comm raised) {declared - killed:.2f} s after its slave died; "
              f"cleared {cleared - back:.2f} s after it came back" if declared and cleared else
              f"dead device: declared={declared} cleared={cleared} (not seen)")
        ok = h_cpu <= 40 and h_per_poll < 1.05 and h_gap_max <= 1.1 and declared is not None and cleared is not None
        print("goal (<= 40 us per device poll, every poll within 10 % of 1 s, dead device declared and recovered):",
              "met" if ok else "NOT met")
        return 0 if ok else 1
    finally:
        for p in procs:
            p.kill()
            p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
