#!/usr/bin/env python3
"""The console's live streams under an alarm flood: do browsers slow the engine or the
alert-socket clients?

Two runs of the same flood (every message an alarm change, QoS 1, paced on loopback), one
with no browser and one with N Server-Sent-Events clients on `/api/stream` (logged in, as the
console page is) plus one stalled client that never reads. Each run measures what the issue
asks: the alert-socket client's latency over the broker's floor (p99), hazmon's CPU per event,
whether every SSE client got every event, and whether the stalled one was cut off (the
slow-client rule) instead of holding the others back.

Usage: python3 Benchmarks/load/console_load.py [--rate 2000] [--seconds 10] [--clients 50]
       [--tags 200] [--hazmon .build/release/hazmon]
Needs: mosquitto, paho-mqtt; all loopback, it stops by itself.
"""
import argparse, http.client, json, multiprocessing as mp, os, selectors, signal, socket, sqlite3, subprocess, sys, time

from loadlib import cpu_seconds, free_port, private_broker, wait_port
from mqtt_load import drain, floor_subscriber, percentile, publish_load, socket_reader


def login(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("POST", "/api/login", json.dumps({"name": "load", "password": "load-password"}), {"Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    if r.status != 200:
        sys.exit(f"console login failed: {r.status}")
    return r.getheader("Set-Cookie").split(";")[0]


def sse_clients(port, cookie, n, ready, stop, out):
    """N streams read in one process (selectors), plus one that is opened and never read."""
    sel = selectors.DefaultSelector()
    counts, lasts, socks = [0] * n, [0] * n, []
    req = f"GET /api/stream?since=0 HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\nAccept: text/event-stream\r\n\r\n".encode()
    stalled = socket.create_connection(("127.0.0.1", port))
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.sendall(req)
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(req)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, i)
        socks.append(s)
    tails = [b""] * n
    ready.set()
    while not stop.is_set():
        for key, _ in sel.select(0.2):
            i = key.data
            try:
                chunk = key.fileobj.recv(1 << 20)
            except BlockingIOError:
                continue
            if not chunk:
                sel.unregister(key.fileobj)
                continue
            data = tails[i] + chunk
            counts[i] += data.count(b"\nid: ") + (1 if data.startswith(b"id: ") else 0)
            j = data.rfind(b"id: ")
            if j >= 0:
                k = data.find(b"\n", j)
                if k > 0:
                    lasts[i] = int(data[j + 4:k])
            tails[i] = data[-16:]
    # Did the daemon close the stalled one? (read what is buffered until EOF or a pause)
    stalled.settimeout(2)
    closed = False
    try:
        while True:
            b = stalled.recv(1 << 20)
            if not b:
                closed = True
                break
    except (socket.timeout, OSError):
        pass
    out.send((counts, lasts, closed))


def run(args, port, tmp, clients):
    topics = [f"plant/load/T{i:03d}" for i in range(args.tags)]
    sock = os.path.join(tmp, "alerts.sock")
    cfg = os.path.join(tmp, "hazmon.toml")
    journal = os.path.join(tmp, f"journal-{clients}.db")
    users = os.path.join(tmp, "users.toml")
    web = free_port()
    if not os.path.exists(users):
        subprocess.run([args.hazmon, "user", "add", "load", "--role", "viewer", "--users-file", users, "--password-stdin"],
                       input=b"load-password\n", check=True, capture_output=True)
    with open(cfg, "w") as f:
        f.write(f'[site]\nid = "load"\n[log]\nformat = "json"\n[alert_socket]\npath = "{sock}"\n'
                f'client_queue = 1000000\n[journal]\npath = "{journal}"\n[history]\nenabled = false\n'
                f'[console]\nlisten = "127.0.0.1:{web}"\nusers_file = "{users}"\n'
                f'[mqtt]\nurl = "mqtt://127.0.0.1:{port}"\nclient_id = "hazmon-load"\n'
                f'[[mqtt.map]]\nid = "load"\ntopic = "plant/load/+"\ntag = "{{3}}"\n')
        for i in range(args.tags):
            f.write(f'[[tag]]\nid = "T{i:03d}"\nclass = "combustible_gas"\nsource = {{ mqtt_map = "load" }}\n'
                    f'stale_after = "10m"\nalarms.h = {{ at = 20, deadband = 0 }}\nalarms.hh = {{ at = 40, deadband = 0 }}\n')
    logpath = os.path.join(tmp, f"hazmon-{clients}.log")
    log = open(logpath, "w")
    proc = subprocess.Popen([args.hazmon, "run", "--config", cfg], stdout=log, stderr=log)
    try:
        wait_port(web, 20)
        total = int(args.rate * args.seconds)
        sent = [0] * total
        ctx = mp.get_context("fork")
        stop = ctx.Event()
        procs, pipes = [], []
        for target, arg in ((floor_subscriber, port), (socket_reader, sock)):
            ready = ctx.Event()
            a, b = ctx.Pipe(duplex=False)
            p = ctx.Process(target=target, args=(arg, total, ready, stop, b), daemon=True)
            p.start()
            ready.wait(10)
            procs.append(p)
            pipes.append(a)
        sse_pipe = None
        if clients:
            ready = ctx.Event()
            a, b = ctx.Pipe(duplex=False)
            p = ctx.Process(target=sse_clients, args=(web, login(web), clients, ready, stop, b), daemon=True)
            p.start()
            ready.wait(20)
            procs.append(p)
            sse_pipe = a
        time.sleep(2.0)
        cpu0 = cpu_seconds(proc.pid)
        elapsed = publish_load(port, topics, args.rate, args.seconds, sent, "bare")
        drain(journal, total)
        time.sleep(1.0)
        cpu1 = cpu_seconds(proc.pid)
        stop.set()
        floor_recv, hz_recv = pipes[0].recv(), pipes[1].recv()
        counts, lasts, closed = sse_pipe.recv() if sse_pipe else ([], [], None)
        for p in procs:
            p.join(5)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
        log.close()
    db = sqlite3.connect(journal)
    journaled, last_seq = db.execute("SELECT count(*), max(seq) FROM event").fetchone()
    kinds = dict(db.execute("SELECT event || ' ' || condition, count(*) FROM event GROUP BY 1").fetchall())
    db.close()
    floor_lat = [(r - p) / 1e6 for p, r in zip(sent, floor_recv) if r]
    hz_lat = [(r - p) / 1e6 for p, r in zip(sent, hz_recv) if r]
    with open(logpath) as f:
        dropped = sum(1 for line in f if "console stream client too slow" in line)
    return dict(clients=clients, kinds=kinds, sent=total, elapsed=elapsed, journaled=journaled, socket_events=len(hz_lat),
                floor_p99=percentile(floor_lat, 99), socket_p50=percentile(hz_lat, 50), socket_p99=percentile(hz_lat, 99),
                cpu_us_per_event=(cpu1 - cpu0) / total * 1e6, sse_min=min(counts) if counts else None,
                sse_complete=sum(1 for c in counts if c == journaled), sse_last_ok=all(l == last_seq for l in lasts),
                stalled_dropped=dropped > 0 and bool(closed) if clients else None)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=int, default=2000)
    ap.add_argument("--tags", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--hazmon", default=".build/release/hazmon")
    args = ap.parse_args()
    args.hazmon = os.path.abspath(args.hazmon)
    rows = []
    for clients in (0, args.clients):
        with private_broker("hazmon-console-load-") as (tmp, port):
            rows.append(run(args, port, tmp, clients))
    base, load = rows
    print(f"flood: {args.rate} events/s over {args.tags} tags for {args.seconds:g} s ({base['sent']} messages), QoS 1")
    print("| SSE clients | events journaled | socket client: events, p50, p99 over floor | hazmon CPU per event | "
          "SSE clients with every event | stalled client cut off |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['clients']} | {r['journaled']} | {r['socket_events']}, {r['socket_p50']:.2f} ms, "
              f"{r['socket_p99'] - r['floor_p99']:+.2f} ms | {r['cpu_us_per_event']:.1f} us | "
              + (f"{r['sse_complete']}/{r['clients']} (fewest {r['sse_min']}) |" if r['clients'] else "– |")
              + (f" {'yes' if r['stalled_dropped'] else 'NO'} |" if r['clients'] else " – |"))
    for r in rows:
        print(f"journal of the run with {r['clients']} SSE clients, by event: {r['kinds']}")
    ok = (load["socket_events"] == load["sent"] and load["sse_complete"] == args.clients and load["stalled_dropped"]
          and load["socket_p99"] - load["floor_p99"] <= max(2.0, 2 * (base["socket_p99"] - base["floor_p99"])))
    print("every event to every reading client, the stalled one cut off, socket p99 within 2 ms of the floor "
          "(or of twice the no-browser figure):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
