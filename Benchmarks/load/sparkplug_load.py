#!/usr/bin/env python3
"""Sparkplug B against hazmon's JSON batch (issue 20): the same load both ways, side by side in
one run: 20 edge nodes x 50 metrics, each node 10 messages a second (200 messages/s, 10,000
metrics/s, 1,000 tags), quiet values (no limit crossed). Once as JSON batches on a [[mqtt.map]]
with batch = true ({"points": [{"tag": ..., "value": ...}, ...]}), once as Sparkplug B NDATA by
alias after an NBIRTH (payloads from Google's protobuf runtime and the official Tahu schema that
pysparkplug ships), then JSON again, so a drift of the host shows. hazmon's CPU (utime + stime
from /proc) per metric it evaluated (its hazmon_samples_total) over the measured window.

Usage: python3 Benchmarks/load/sparkplug_load.py [--seconds 40] [--hazmon .build/release/hazmon]
Needs: mosquitto, paho-mqtt, protobuf and pysparkplug (PyPI; .ci/setup installs them). Loopback
only; it stops by itself.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time

import paho.mqtt.client as mqtt
from pysparkplug._protobuf import sparkplug_b_pb2 as spb

from history_load import samples_total, start_broker, wait_for
from loadlib import cpu_seconds, free_port

NODES, METRICS, RATE = 20, 50, 10   # per node: messages per second


def config(d, port, mode, metrics_port):
    lines = [
        '[metrics]', f'listen = "127.0.0.1:{metrics_port}"',
        '[site]', 'id = "load"', '[log]', 'format = "text"', 'level = "warning"',
        '[alert_socket]', f'path = "{d}/alerts.sock"', '[journal]', f'path = "{d}/journal.db"',
        '[history]', 'enabled = false',
        '[mqtt]', f'url = "mqtt://127.0.0.1:{port}"', f'client_id = "hazmon-spload-{mode}"',
    ]
    if mode == "json":
        lines += ['[[mqtt.map]]', 'id = "load"', 'topic = "plant/batch/+"', 'batch = true', 'tag = "{3}-{tag}"']
    else:
        nodes = ", ".join(f'"n{n:02d}"' for n in range(NODES))
        lines += ['[[mqtt.sparkplug]]', 'id = "load"', 'group = "load"', f'nodes = [{nodes}]', 'tag = "{node}-{metric}"']
    src = '{ mqtt_map = "load" }' if mode == "json" else '{ sparkplug = "load" }'
    for n in range(NODES):
        for m in range(METRICS):
            lines += ['[[tag]]', f'id = "n{n:02d}-m{m:02d}"', 'unit = "%"', f'source = {src}', 'alarms.h = { at = 90 }']
    path = os.path.join(d, "hazmon.toml")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


class Publisher(threading.Thread):
    """Every node RATE times a second, paced; QoS 1 for the JSON batches, QoS 0 for Sparkplug
    data (as Sparkplug asks: NDATA at QoS 0)."""

    def __init__(self, port, mode):
        super().__init__(daemon=True)
        self.mode, self.sent, self.stop = mode, 0, threading.Event()
        self.rng = random.Random(20)
        self.seq = [0] * NODES
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"spload-{mode}", clean_session=True)
        self.c.max_inflight_messages_set(5000)
        self.c.max_queued_messages_set(0)
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()
        if mode == "sparkplug":
            for n in range(NODES):
                self.c.publish(f"spBv1.0/load/NBIRTH/n{n:02d}", self.payload(n, birth=True), qos=0)

    def values(self):
        return [40 + 10 * self.rng.random() for _ in range(METRICS)]

    def payload(self, n, birth=False):
        p = spb.Payload()
        p.timestamp = int(time.time() * 1000)
        if birth:
            self.seq[n] = 0
        else:
            self.seq[n] = (self.seq[n] + 1) % 256
        p.seq = self.seq[n]
        for i, v in enumerate(self.values()):
            m = p.metrics.add()
            if birth:
                m.name = f"m{i:02d}"
            m.alias = i + 1
            m.datatype = 10
            m.double_value = v
        if birth:
            bd = p.metrics.add()
            bd.name, bd.datatype, bd.long_value = "bdSeq", 4, 0
        return p.SerializeToString()

    def run(self):
        t0, tick = time.time(), 0
        while not self.stop.is_set():
            for n in range(NODES):
                if self.mode == "json":
                    pts = ",".join(f'{{"tag":"m{i:02d}","value":{v:.3f}}}' for i, v in enumerate(self.values()))
                    self.c.publish(f"plant/batch/n{n:02d}", '{"points":[' + pts + ']}', qos=1)
                else:
                    self.c.publish(f"spBv1.0/load/NDATA/n{n:02d}", self.payload(n), qos=0)
                self.sent += 1
            tick += 1
            delay = t0 + tick / RATE - time.time()
            if delay > 0:
                time.sleep(delay)


def phase(args, tmp, mode):
    broker, port = start_broker(tmp)
    try:
        d = tempfile.mkdtemp(dir=tmp, prefix=mode + "-")
        metrics_port = free_port()
        cfg = config(d, port, mode, metrics_port)
        log = open(os.path.join(d, "hazmon.log"), "w")
        h = subprocess.Popen([args.hazmon, "run", "--config", cfg], stdout=log, stderr=subprocess.STDOUT)
        if not wait_for(os.path.join(d, "alerts.sock")):
            sys.exit("hazmon did not start; see " + d)
        time.sleep(1)
        pub = Publisher(port, mode)
        pub.start()
        time.sleep(8)  # warm-up
        c0, s0, t0, r0 = cpu_seconds(h.pid), pub.sent, time.time(), samples_total(metrics_port)
        time.sleep(args.seconds)
        c1, s1, t1, r1 = cpu_seconds(h.pid), pub.sent, time.time(), samples_total(metrics_port)
        pub.stop.set()
        pub.join()
        h.terminate()
        h.wait(30)
        metrics = r1 - r0
        print(f"  {mode:9s}: {s1 - s0} messages published, {metrics:.0f} metrics evaluated in {t1 - t0:.1f} s "
              f"({metrics / (t1 - t0):.0f}/s), hazmon CPU {c1 - c0:.2f} s = {(c1 - c0) / metrics * 1e6:.2f} us per metric",
              flush=True)
        return (c1 - c0) / metrics * 1e6, metrics / (t1 - t0) / METRICS
    finally:
        broker.terminate()
        broker.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=40)
    ap.add_argument("--hazmon", default=".build/release/hazmon")
    args = ap.parse_args()
    args.hazmon = os.path.abspath(args.hazmon)
    tmp = tempfile.mkdtemp(prefix="hazmon-spload-")
    try:
        print(f"{NODES} nodes x {METRICS} metrics, {NODES * RATE} messages/s, quiet:")
        j1, _ = phase(args, tmp, "json")
        sp, rate = phase(args, tmp, "sparkplug")
        j2, _ = phase(args, tmp, "json")
        print(f"  CPU per metric: JSON batch {j1:.2f} / {j2:.2f} us, Sparkplug B {sp:.2f} us "
              f"({100 * (sp - (j1 + j2) / 2) / ((j1 + j2) / 2):+.0f} %), at {rate:.0f} Sparkplug messages/s")
    finally:
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
