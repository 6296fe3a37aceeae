#!/usr/bin/env python3
"""The process history's cost in the daemon (issue 15): N tags at 1 Hz over MQTT, quiet (no
limit crossed), noisy 4-20 mA-like readings (a 16-bit ADC's counts with +-3 counts of noise,
scaled to 0-100), once with `[history] enabled = false` and once with the history on, the
same load side by side in one run; hazmon's CPU per message from /proc (utime + stime) over
the measured window. With the history on it then keeps running past the history's ten-minute
chunk span, stops hazmon, and reads the file: how many samples came, how many were stored, and
what the compressed chunks cost per point.

With --uplink it measures an uplink instead (issue 16): the history on in every phase, and an
HTTP uplink (a snapshot of every tag every 10 s, and each stored change between) to the test
platform (Tests/Fixtures/uplink_platform.py) in the middle phase; the platform's file is read at
the end to show that it kept up (points delivered against points stored).

Usage: python3 Benchmarks/load/history_load.py [--tags 5000] [--seconds 60] [--disk-minutes 12]
       [--hazmon .build/release/hazmon] [--uplink]
Needs: mosquitto, paho-mqtt (PyPI). Loopback only; it stops by itself.
"""
import argparse
import urllib.request, math, os, random, sqlite3, subprocess, sys, tempfile, threading, time

import paho.mqtt.client as mqtt

from loadlib import cpu_seconds, free_port


def wait_for(path_or_fn, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        if (path_or_fn() if callable(path_or_fn) else os.path.exists(path_or_fn)):
            return True
        time.sleep(0.1)
    return False


def samples_total(metrics_port):
    """hazmon_samples_total summed over sources, from the daemon's /metrics."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return None
    return sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines() if l.startswith("hazmon_samples_total"))


def config(tmp, port, tags, history, name, metrics_port, uplink_port=None, deadband=0):
    lines = [
        '[metrics]', f'listen = "127.0.0.1:{metrics_port}"',
        '[site]', 'id = "load"', '[log]', 'format = "text"', 'level = "warning"',
        '[alert_socket]', f'path = "{tmp}/alerts.sock"', '[journal]', f'path = "{tmp}/journal.db"',
        '[history]', f'enabled = {"true" if history else "false"}',
        '[mqtt]', f'url = "mqtt://127.0.0.1:{port}"', f'client_id = "hazmon-load-{name}"',
        '[[mqtt.map]]', 'id = "load"', 'topic = "plant/load/+"', 'tag = "{3}"',
    ]
    if uplink_port:
        lines += ['[[uplink]]', 'id = "park"', f'url = "http://127.0.0.1:{uplink_port}/ingest"',
                  'values = { every = "10s", on_change = true }', 'batch = 5000', 'heartbeat = "60s"']
    for i in range(tags):
        lines += ['[[tag]]', f'id = "TT-{i:05d}"', 'unit = "%"', 'source = { mqtt_map = "load" }']
        if deadband > 0:
            lines += [f'history = {{ deadband = {deadband} }}']
    path = os.path.join(tmp, "hazmon.toml")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


class Publisher(threading.Thread):
    """Every tag once a second, paced, QoS 1: a transmitter read through 4-20 mA and an ADC."""

    def __init__(self, port, tags):
        super().__init__(daemon=True)
        self.tags, self.sent, self.stop = tags, 0, threading.Event()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="history-load", clean_session=True)
        self.c.max_inflight_messages_set(5000)
        self.c.max_queued_messages_set(0)
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()
        self.rng = random.Random(7)

    def run(self):
        t0 = time.time()
        second = 0
        while not self.stop.is_set():
            for i in range(self.tags):
                process = 20 + (i % 50) + 8 * math.sin((second + i) / 1800) + 2 * math.sin(second / 97)
                counts = round(process / 100 * 27648) + self.rng.randint(-3, 3)
                self.c.publish(f"plant/load/TT-{i:05d}", f"{counts * 100 / 27648:.4f}", qos=1)
                self.sent += 1
            second += 1
            delay = t0 + second - time.time()
            if delay > 0:
                time.sleep(delay)


def start_broker(tmp):
    """A broker of its own for each phase: no session or queue of an earlier phase weighs on it."""
    port = free_port()
    conf = os.path.join(tmp, f"mosquitto-{port}.conf")
    with open(conf, "w") as f:
        f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 10000000\nmax_inflight_messages 5000\n")
    broker = subprocess.Popen(["mosquitto", "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    return broker, port


def phase(args, tmp, history, seconds, keep=False, uplink=False):
    broker, port = start_broker(tmp)
    platform = None
    try:
        if uplink:
            platform = start_platform(tmp)
        return run_phase(args, tmp, port, history, seconds, keep, platform)
    finally:
        broker.terminate()
        broker.wait()
        if platform:
            platform[0].terminate()
            platform[0].wait()


def start_platform(tmp):
    """The uplink's platform: the tests' HTTP platform, recording each batch to a file."""
    port = free_port()
    out = os.path.join(tmp, f"platform-{port}.jsonl")
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "Fixtures", "uplink_platform.py")
    p = subprocess.Popen([sys.executable, script, "--http", str(port), "--out", out], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    return p, port, out


def platform_points(out):
    """(snapshots, stored-change points) the platform took."""
    snaps = changes = 0
    if not os.path.exists(out):
        return 0, 0
    import json
    with open(out) as f:
        for line in f:
            m = json.loads(line).get("msg") or {}
            if m.get("type") != "values":
                continue
            if m.get("snapshot"):
                snaps += 1
            else:
                changes += len(m.get("points", []))
    return snaps, changes


def run_phase(args, tmp, port, history, seconds, keep, platform=None):
    d = tempfile.mkdtemp(dir=tmp, prefix=("uplink-" if platform else "on-") if history else "off-")
    metrics_port = free_port()
    cfg = config(d, port, args.tags, history, os.path.basename(d), metrics_port, platform[1] if platform else None, args.deadband)
    log = open(os.path.join(d, "hazmon.log"), "w")
    h = subprocess.Popen([args.hazmon, "run", "--config", cfg], stdout=log, stderr=subprocess.STDOUT)
    if not wait_for(os.path.join(d, "alerts.sock")):
        sys.exit("hazmon did not start; see " + d)
    pub = Publisher(port, args.tags)
    pub.start()
    time.sleep(10)  # warm-up
    c0, s0, t0, r0 = cpu_seconds(h.pid), pub.sent, time.time(), samples_total(metrics_port)
    time.sleep(seconds)
    c1, s1, t1, r1 = cpu_seconds(h.pid), pub.sent, time.time(), samples_total(metrics_port)
    if keep:
        time.sleep(max(0, args.disk_minutes * 60 - seconds - 10))
    pub.stop.set()
    pub.join()
    time.sleep(2)
    h.terminate()
    h.wait(30)
    # Per message the daemon evaluated (its own counter), not per message published: a phase
    # where the daemon fell behind would otherwise look cheap.
    msgs = (r1 - r0) if r0 is not None and r1 is not None else s1 - s0
    name = "uplink" if platform else "on " if history else "off"
    print(f"  {name}: published {s1 - s0}, evaluated {msgs:.0f} in {t1 - t0:.1f} s, "
          f"hazmon CPU {c1 - c0:.2f} s", flush=True)
    if platform:
        snaps, changes = platform_points(platform[2])
        db = sqlite3.connect(os.path.join(d, "history.db"))
        left = db.execute("SELECT count(*) FROM outbox").fetchone()[0]
        print(f"  uplink: the platform took {snaps} snapshots of {args.tags} tags and {changes} stored changes "
              f"({left} still queued when hazmon stopped)", flush=True)
    return (c1 - c0) / msgs * 1e6, msgs / (t1 - t0), d, pub.sent


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tags", type=int, default=5000)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--disk-minutes", type=float, default=12)
    ap.add_argument("--hazmon", default=".build/release/hazmon")
    ap.add_argument("--keep", action="store_true", help="keep the run's directory (and say where)")
    ap.add_argument("--deadband", type=float, default=0, help="each tag's history deadband in % (0: every change is stored)")
    ap.add_argument("--uplink", action="store_true", help="measure an uplink (history on throughout) instead of the history")
    args = ap.parse_args()
    args.hazmon = os.path.abspath(args.hazmon)
    tmp = tempfile.mkdtemp(prefix="hazmon-hload-")
    try:
        if args.uplink:
            # History on, no uplink / with the uplink / no uplink, side by side.
            base1, _, _, _ = phase(args, tmp, True, args.seconds)
            up, rate, _, _ = phase(args, tmp, True, args.seconds, uplink=True)
            base2, _, _, _ = phase(args, tmp, True, args.seconds)
            base = (base1 + base2) / 2
            print(f"{args.tags} tags at 1 Hz ({rate:.0f} msg/s measured), quiet, history on (deadband {args.deadband} %); "
                  f"an HTTP uplink with a snapshot every 10 s and every stored change:")
            print(f"  hazmon CPU per message, no uplink: {base1:.1f} / {base2:.1f} us; with the uplink: {up:.1f} us; "
                  f"the uplink adds {100 * (up - base) / base:.0f} %")
            return
        # Off, on, off: the two off runs bracket the on run, so a drift of the host shows.
        off1, _, _, _ = phase(args, tmp, False, args.seconds)
        on, rate_on, d, sent = phase(args, tmp, True, args.seconds, keep=args.disk_minutes > 0)
        off2, _, _, _ = phase(args, tmp, False, args.seconds)
        off = (off1 + off2) / 2
        print(f"{args.tags} tags at 1 Hz ({rate_on:.0f} msg/s measured), quiet, noisy 4-20 mA-like values:")
        print(f"  hazmon CPU per message, history off: {off1:.1f} / {off2:.1f} us; history on: {on:.1f} us; "
              f"the history adds {100 * (on - off) / off:.0f} %")
        if args.disk_minutes > 0:
            db = sqlite3.connect(os.path.join(d, "history.db"))
            chunk_points, chunk_bytes = db.execute("SELECT sum(count), sum(length(points)) FROM chunk").fetchone()
            minute_bytes = db.execute("SELECT sum(length(minutes)) FROM chunk").fetchone()[0]
            recent = db.execute("SELECT count(*) FROM recent").fetchone()[0]
            size = os.path.getsize(os.path.join(d, "history.db"))
            print(f"  after {args.disk_minutes:.0f} min: {sent} samples published; stored {chunk_points + recent} points "
                  f"({chunk_points} compressed in chunks, {recent} recent); file {size / 1e6:.1f} MB")
            print(f"  compressed points: {chunk_bytes / chunk_points:.2f} bytes per point, minute aggregates "
                  f"{minute_bytes / chunk_points:.2f} bytes per point")
    finally:
        if args.keep:
            print(f"  kept: {tmp}")
        else:
            subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
