#!/usr/bin/env python3
"""Park scale: one daemon with N tags (limits-only combustible gas tags over MQTT).

For each N it measures, with the release build:
  check     `hazmon check` on the file: wall time and peak resident memory (getrusage);
  READY     `hazmon run` from exec to READY=1 on its NOTIFY_SOCKET (a datagram socket of ours);
  resident  VmRSS after READY, and again after `--quiet-seconds` of quiet load (every tag
            published round-robin at --rate msg/s, no value near a limit);
  reload    SIGHUP to the second READY=1 (RELOADING=1 in between), with the resident memory after.

Usage: python3 Benchmarks/load/scale.py [--tags 5000,20000,50000] [--quiet-seconds 20] [--rate 2000]
       [--hazmon .build/release/hazmon] [--json]
Needs: mosquitto, paho-mqtt; loopback only; it stops by itself.
"""
import argparse, json, os, signal, socket, subprocess, sys, time

import paho.mqtt.client as mqtt

from loadlib import private_broker


def write_config(path, tags, port, sock, journal):
    with open(path, "w") as f:
        f.write(f'[site]\nid = "scale"\n[log]\nformat = "json"\n[alert_socket]\npath = "{sock}"\n'
                f'[journal]\npath = "{journal}"\n'
                f'[mqtt]\nurl = "mqtt://127.0.0.1:{port}"\nclient_id = "hazmon-scale"\n'
                f'[[mqtt.map]]\nid = "park"\ntopic = "park/+/gas"\ntag = "{{2}}"\n')
        for i in range(tags):
            f.write(f'[[tag]]\nid = "GT{i:05d}"\nclass = "combustible_gas"\nsource = {{ mqtt_map = "park" }}\n'
                    f'alarms.h = {{ at = 20 }}\nalarms.hh = {{ at = 40 }}\n')


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def wait_notify(ns, word, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        ns.settimeout(max(0.01, end - time.monotonic()))
        try:
            msg = ns.recv(65536).decode()
        except socket.timeout:
            break
        if word in msg.split("\n"):
            return time.monotonic()
    sys.exit(f"no {word} within {timeout} s")


def check(hazmon, cfg):
    """Wall time and peak RSS of `hazmon check` (a child of its own, so the peak is its own)."""
    r, w = os.pipe()
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.execv(hazmon, [hazmon, "check", "--config", cfg])
    os.close(w)
    _, status, usage = os.wait4(pid, 0)
    elapsed = time.monotonic() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"hazmon check failed on {cfg}")
    return elapsed, usage.ru_maxrss / 1024


def quiet_load(port, tags, rate, seconds):
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"scale-pub-{os.getpid()}")
    pub.max_inflight_messages_set(1000)
    pub.max_queued_messages_set(0)
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    total = int(rate * seconds)
    start = time.perf_counter()
    n = 0
    while n < total:
        due = min(total, int((time.perf_counter() - start) * rate) + 1)
        while n < due:
            pub.publish(f"park/GT{n % tags:05d}/gas", f"{2 + (n % 7) / 10:.1f}", qos=1)
            n += 1
        time.sleep(0.002)
    time.sleep(1)
    pub.loop_stop()
    pub.disconnect()


def one(args, tags, port, tmp):
    cfg = os.path.join(tmp, f"scale-{tags}.toml")
    sock = os.path.join(tmp, f"alerts-{tags}.sock")
    journal = os.path.join(tmp, f"journal-{tags}.db")
    write_config(cfg, tags, port, sock, journal)
    check_s, check_mib = check(args.hazmon, cfg)
    npath = os.path.join(tmp, f"notify-{tags}.sock")
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(npath)
    env = dict(os.environ, NOTIFY_SOCKET=npath)
    log = open(os.path.join(tmp, f"hazmon-{tags}.log"), "w")
    start = time.monotonic()
    proc = subprocess.Popen([args.hazmon, "run", "--config", cfg], stdout=log, stderr=log, env=env)
    try:
        ready_s = wait_notify(ns, "READY=1", 120) - start
        time.sleep(1)
        rss_start = rss_mib(proc.pid)
        quiet_load(port, tags, args.rate, args.quiet_seconds)
        rss_quiet = rss_mib(proc.pid)
        start = time.monotonic()
        proc.send_signal(signal.SIGHUP)
        wait_notify(ns, "RELOADING=1", 60)
        reload_s = wait_notify(ns, "READY=1", 120) - start
        time.sleep(1)
        rss_reload = rss_mib(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        ns.close()
    return dict(tags=tags, check_s=check_s, check_mib=check_mib, ready_s=ready_s, rss_start_mib=rss_start,
                rss_quiet_mib=rss_quiet, reload_s=reload_s, rss_reload_mib=rss_reload)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tags", default="5000,20000,50000")
    ap.add_argument("--quiet-seconds", type=float, default=20)
    ap.add_argument("--rate", type=int, default=2000)
    ap.add_argument("--hazmon", default=".build/release/hazmon")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with private_broker("hazmon-scale-") as (tmp, port):
        rows = [one(args, int(n), port, tmp) for n in args.tags.split(",")]
    if args.json:
        print(json.dumps(rows))
        return 0
    print("| tags | check | check peak | READY | resident after start | after quiet load | SIGHUP reload | resident after reload |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['tags']:,} | {r['check_s']:.2f} s | {r['check_mib']:.0f} MiB | {r['ready_s']:.2f} s | "
              f"{r['rss_start_mib']:.0f} MiB | {r['rss_quiet_mib']:.0f} MiB | {r['reload_s']:.2f} s | {r['rss_reload_mib']:.0f} MiB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
