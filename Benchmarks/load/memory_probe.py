#!/usr/bin/env python3
"""Resident memory of one daemon over a long quiet load: the park-scale file of scale.py (N
limits-only gas tags over MQTT), every tag published round-robin at --rate msg/s, and at each
mark (seconds after READY) the daemon's VmRSS and, when gdb is installed, the heap in use
(glibc's mallinfo2, read by calling hazmon_heap_in_use() in the running daemon): resident
memory that grows while the heap in use does not is fragmentation, not a leak.

Usage: python3 Benchmarks/load/memory_probe.py [--tags 50000] [--marks 60,300,600,1800,3600]
       [--rate 2000] [--hazmon .build/release/hazmon]
Needs: mosquitto, paho-mqtt (gdb optional); loopback only; it stops the daemon at the end.
"""
import argparse, os, shutil, signal, socket, subprocess, sys, threading, time

import scale
from loadlib import private_broker


def heap_mib(pid):
    """The daemon's heap in use (MiB), or None without gdb."""
    if shutil.which("gdb") is None:
        return None
    out = subprocess.run(["gdb", "-p", str(pid), "-batch", "-ex", "call (unsigned long)hazmon_heap_in_use()"],
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("$1"):
            return int(line.split("=")[1]) / 1048576
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tags", type=int, default=50_000)
    ap.add_argument("--marks", default="60,300,600,1800,3600")
    ap.add_argument("--rate", type=int, default=2000)
    ap.add_argument("--hazmon", default=".build/release/hazmon")
    args = ap.parse_args()
    marks = [int(m) for m in args.marks.split(",")]
    hazmon = os.path.abspath(args.hazmon)
    with private_broker("hazmon-memory-") as (tmp, port):
        cfg = os.path.join(tmp, "park.toml")
        scale.write_config(cfg, args.tags, port, os.path.join(tmp, "alerts.sock"), os.path.join(tmp, "journal.db"))
        npath = os.path.join(tmp, "notify.sock")
        ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        ns.bind(npath)
        log = open(os.path.join(tmp, "daemon.log"), "w")
        proc = subprocess.Popen([hazmon, "run", "--config", cfg], stdout=log, stderr=log, cwd=tmp,
                                env=dict(os.environ, NOTIFY_SOCKET=npath))
        try:
            scale.wait_notify(ns, "READY=1", 120)
            def line(label):
                h = heap_mib(proc.pid)
                heap = f", heap in use {h:.1f} MiB" if h is not None else ""
                print(f"{label}: resident {scale.rss_mib(proc.pid):.0f} MiB{heap}", flush=True)
            line("after start")
            start = time.monotonic()
            load = threading.Thread(target=scale.quiet_load, args=(port, args.tags, args.rate, marks[-1]), daemon=True)
            load.start()
            for m in marks:
                while time.monotonic() - start < m:
                    time.sleep(0.5)
                line(f"after {m} s of quiet load")
            load.join()
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                sys.exit("the daemon did not stop within 20 s of SIGTERM")
    return 0


if __name__ == "__main__":
    sys.exit(main())
