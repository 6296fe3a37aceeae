#!/usr/bin/env python3
"""Soak: hazmon for an hour under steady MQTT load with alarms, its memory sampled every minute,
and the broker killed (SIGKILL) and restarted again and again under QoS 1, with an independent
persistent subscriber as the witness of what the broker delivered.

Load: N tags (2,000) at R messages/s (2,000) in all, paced; each tag's value moves between
normal (5), first level (30) and second level (45) on every `--change-every`th message of its
own and repeats its level otherwise, so a tenth of the messages are alarm changes. Each value
carries the tag's own message counter in its fractional digits.

The witness (paho, clean_session=False, QoS 1, its own process) follows every tag's level from
the messages it receives: each message whose level differs from that tag's previous one must
produce exactly one alarm event in hazmon's journal (raised, escalated, deescalated or
cleared), and no other message may produce one. Messages the broker lost in a kill reach
neither (the broker keeps sessions and queues on disk, autosaved each second); QoS 1
redeliveries repeat a level and produce nothing. The check runs on the journal after hazmon
stopped, so it covers what was committed, not what was seen.

Memory: VmRSS of hazmon every minute. It grows until the feed's in-memory replay history
(100,000 events) is full and then stays flat.

Usage: python3 Benchmarks/load/soak.py [--minutes 60] [--kills 20] [--tags 2000] [--rate 2000]
       [--hazmon .build/release/hazmon]
Needs: mosquitto, paho-mqtt (PyPI). Loopback only; it stops by itself.
"""
import argparse, json, multiprocessing as mp, os, signal, sqlite3, subprocess, sys, tempfile, time

import paho.mqtt.client as mqtt

from loadlib import cpu_seconds, free_port

LEVELS = (5.0, 30.0, 45.0)  # normal, h (20), hh (40)


def level_of(v):
    return 0 if v < 20 else (1 if v < 40 else 2)


def start_broker(port, tmp):
    conf = os.path.join(tmp, "mosquitto.conf")
    store = os.path.join(tmp, "broker")
    # mosquitto started as root runs as its own user, which must be able to write its store.
    os.makedirs(store, exist_ok=True)
    os.chmod(tmp, 0o755)
    os.chmod(store, 0o777)
    with open(conf, "w") as f:
        f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
                f"persistence_location {store}/\nautosave_interval 1\nmax_queued_messages 10000000\n"
                f"max_inflight_messages 1000\n")
    return subprocess.Popen(["mosquitto", "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_port(port, timeout=10):
    import socket
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def witness(port, tags, ready, stop, out):
    """Follows each tag's level; returns the (tag, counter) of every change it saw."""
    last = {}
    changes = set()
    got = [0]

    def on_msg(cl, u, m):
        tag = m.topic.rsplit("/", 1)[1]
        v = float(m.payload)
        k = int(round((v % 1.0) * 1e4))
        got[0] += 1
        lv = level_of(v)
        if last.get(tag, 0) != lv:
            changes.add((tag, k))
        last[tag] = lv

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="soak-witness", clean_session=False)
    c.max_inflight_messages_set(1000)
    c.on_message = on_msg
    c.on_connect = lambda cl, u, f, rc, p=None: cl.subscribe("plant/soak/+", qos=1)
    c.on_subscribe = lambda *a: ready.set()
    c.reconnect_delay_set(0.1, 0.5)
    c.connect("127.0.0.1", port)
    c.loop_start()
    stop.wait()
    time.sleep(3)
    c.loop_stop()
    out.send((got[0], sorted(changes)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--tags", type=int, default=2000)
    ap.add_argument("--rate", type=float, default=2000)
    ap.add_argument("--change-every", type=int, default=10)
    ap.add_argument("--hazmon", default=".build/release/hazmon")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="hazmon-soak-")
    port = free_port()
    broker = start_broker(port, tmp)
    if not wait_port(port):
        sys.exit("mosquitto did not start")
    sock, journal = os.path.join(tmp, "alerts.sock"), os.path.join(tmp, "journal.db")
    cfg = os.path.join(tmp, "hazmon.toml")
    with open(cfg, "w") as f:
        f.write(f'[site]\nid = "soak"\n[log]\nformat = "json"\nlevel = "notice"\n[alert_socket]\npath = "{sock}"\n'
                f'[journal]\npath = "{journal}"\n'
                f'[mqtt]\nurl = "mqtt://127.0.0.1:{port}"\nclient_id = "hazmon-soak"\nreconnect_min = "1s"\n'
                f'reconnect_max = "2s"\n[[mqtt.map]]\nid = "soak"\ntopic = "plant/soak/+"\ntag = "{{3}}"\n')
        for i in range(args.tags):
            f.write(f'[[tag]]\nid = "T{i:04d}"\nclass = "combustible_gas"\nsource = {{ mqtt_map = "soak" }}\n'
                    f'stale_after = "60s"\nalarms.h = {{ at = 20, deadband = 0 }}\nalarms.hh = {{ at = 40, deadband = 0 }}\n')
    log = open(os.path.join(tmp, "hazmon.log"), "w")
    hz = subprocess.Popen([args.hazmon, "run", "--config", cfg], stdout=log, stderr=log)
    for _ in range(400):
        if os.path.exists(sock) or hz.poll() is not None:
            break
        time.sleep(0.05)
    if not os.path.exists(sock):
        sys.exit("hazmon did not start: see " + log.name)
    ctx = mp.get_context("fork")
    ready, stop = ctx.Event(), ctx.Event()
    rx, tx = ctx.Pipe(duplex=False)
    w = ctx.Process(target=witness, args=(port, args.tags, ready, stop, tx), daemon=True)
    w.start()
    ready.wait(10)
    time.sleep(2)  # hazmon's subscription, and the broker's first autosave of both sessions

    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="soak-pub", clean_session=False)
    pub.max_inflight_messages_set(1000)
    pub.max_queued_messages_set(0)
    pub.reconnect_delay_set(0.1, 0.5)
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    topics = [f"plant/soak/T{i:04d}" for i in range(args.tags)]
    level = [0] * args.tags
    count = [0] * args.tags
    seconds = args.minutes * 60
    kill_at = [seconds * (i + 1) / (args.kills + 1) for i in range(args.kills)]
    rss = []
    start = time.perf_counter()
    cpu0 = cpu_seconds(hz.pid)
    next_sample, n, kills, tick = 0.0, 0, 0, 0.002
    print(f"soak: {args.tags} tags, {args.rate:.0f} msg/s, {args.minutes} min, {args.kills} broker kills; {tmp}", flush=True)
    while True:
        now = time.perf_counter() - start
        if now >= seconds:
            break
        if now >= next_sample:
            with open(f"/proc/{hz.pid}/status") as f:
                kb = next(int(l.split()[1]) for l in f if l.startswith("VmRSS"))
            rss.append((now / 60, kb / 1024))
            print(f"  {now / 60:5.1f} min  RSS {kb / 1024:6.1f} MiB  messages {n}  kills {kills}", flush=True)
            next_sample += 60
        if kills < len(kill_at) and now >= kill_at[kills]:
            broker.send_signal(signal.SIGKILL)
            broker.wait()
            time.sleep(1.0)
            broker = start_broker(port, tmp)
            wait_port(port)
            kills += 1
        target = int(args.rate * (time.perf_counter() - start))
        while n < target:
            i = n % args.tags
            count[i] += 1
            if count[i] % args.change_every == 0:
                level[i] = (level[i] + 1) % 3
            k = count[i] % 10_000
            pub.publish(topics[i], f"{LEVELS[level[i]] + k / 1e4:.4f}", qos=1)
            n += 1
        sleep = tick - ((time.perf_counter() - start) - now)
        if sleep > 0:
            time.sleep(sleep)
    elapsed = time.perf_counter() - start
    time.sleep(5)  # let QoS 1 retries and queues drain
    cpu1 = cpu_seconds(hz.pid)
    pub.loop_stop()
    stop.set()
    witnessed, changes = rx.recv()
    w.join(10)
    hz.send_signal(signal.SIGTERM)
    code = hz.wait(timeout=30)
    broker.send_signal(signal.SIGTERM)
    broker.wait(timeout=10)

    db = sqlite3.connect(journal)
    events = {}
    total_events = 0
    for tag, js in db.execute("SELECT tag, json FROM event WHERE condition IN ('h','hh') AND tag LIKE 'T%'"):
        e = json.loads(js)
        if e["event"] not in ("raised", "escalated", "deescalated", "cleared"):
            continue
        key = (tag, int(round((e["value"] % 1.0) * 1e4)))
        events[key] = events.get(key, 0) + 1
        total_events += 1
    db.close()
    expected = set(tuple(c) for c in changes)
    missing = [k for k in expected if events.get(k, 0) == 0]
    doubled = [k for k in expected if events.get(k, 0) > 1]
    unexpected = [k for k in events if k not in expected]
    print(f"published {n} in {elapsed:.0f} s ({n / elapsed:.0f}/s); hazmon CPU {1e6 * (cpu1 - cpu0) / n:.1f} us/msg; "
          f"exit {code}")
    print(f"witness received {witnessed} messages, {len(expected)} of them level changes; "
          f"hazmon journaled {total_events} alarm events")
    print(f"changes with exactly one event: {len(expected) - len(missing) - len(doubled)}; with none: {len(missing)}; "
          f"with more than one: {len(doubled)}; events for no change the witness saw: {len(unexpected)}")
    if missing[:5] or doubled[:5] or unexpected[:5]:
        print(f"  e.g. missing {missing[:5]}, doubled {doubled[:5]}, unexpected {unexpected[:5]}")
    warm = [m for t, m in rss if t >= 15]
    print("RSS (MiB) by minute: " + ", ".join(f"{t:.0f}:{m:.0f}" for t, m in rss))
    if warm:
        print(f"after 15 min: min {min(warm):.1f}, max {max(warm):.1f} MiB (spread {max(warm) - min(warm):.1f})")
    ok = code == 0 and not missing and not doubled and not unexpected
    print("PASS" if ok else "FAIL", flush=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
