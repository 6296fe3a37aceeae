#!/usr/bin/env python3
"""End-to-end MQTT load: hazmon beside a plain subscriber (the floor) and collectd 5.

One run, three consumers of the same load at the same time (a paced publisher on loopback,
N tags, every message moves its tag across the first-level limit, so every message is an
alarm change):

  1. floor:    the broker delivering the messages to a plain paho subscriber (latency only);
  2. hazmon:   publish -> hazmon -> event line on the alert socket (latency, loss, CPU/message);
  3. collectd: collectd-core's mqtt + threshold plugins (CPU/message). Every reading is also
               published on a twin topic in collectd's format (PUTVAL "N:value"), so both
               daemons see the same readings, the same broker and the same CPU contention;
  4. bare:     `mosquitto_sub -q 1` on hazmon's topics, output to /dev/null: what libmosquitto's
               own network loop costs per QoS 1 message with no work at all (CPU/message), the
               floor under any libmosquitto consumer's CPU;
  5. durable:  (flood only; --no-durable-floor leaves it out) a subscriber that group-commits
               what it receives to a file on the journal's filesystem (a 4 KB page overwritten
               in place, then fdatasync) before it counts a message: the least any consumer that
               keeps messages durable before acting pays on this disk (latency only).

Latency is matched per message: the value's fractional digits carry the message number.
CPU is utime + stime from /proc/PID/stat over the measured window.

Every event is committed to hazmon's journal (SQLite on the same disk, `--sync full` by default:
an fsync per group commit) before it reaches the socket; the run reports how many events the
journal holds afterwards, and how fast `subscribe` with `since` replays them all from it.

Usage: python3 Benchmarks/load/mqtt_load.py [--rate 2000] [--tags 200] [--seconds 30]
       [--hazmon .build/release/hazmon] [--sync full|normal] [--skip-collectd] [--no-durable-floor]
Needs: mosquitto, collectd-core (Debian), paho-mqtt (PyPI); all loopback, it stops by itself.
"""
import argparse, json, multiprocessing as mp, os, shutil, signal, socket, sqlite3, subprocess, sys, time

import paho.mqtt.client as mqtt

from loadlib import cpu_seconds, percentile, private_broker


def client(name):
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=name, clean_session=True)
    c.max_inflight_messages_set(1000)
    c.max_queued_messages_set(0)
    return c


def value_for(n, raise_):
    # 30.xxxxxx raises (h 20), 5.xxxxxx clears (or, in the quiet mode, stays normal); the six
    # fractional digits are the message number.
    return (30.0 if raise_ else 5.0) + (n % 1_000_000) / 1e6


def message_number(v):
    return int(round((v % 1.0) * 1e6))


def publish_load(port, topics, rate, seconds, sent, fmt, twins=None, quiet=False):
    """Publishes rate*seconds messages, paced in 2 ms ticks; records each send time.
    With `twins`, every reading is also published on its twin topic in collectd's format."""
    pub = client(f"load-pub-{os.getpid()}-{fmt}")
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    time.sleep(0.3)
    state = [False] * len(topics)
    total = int(rate * seconds)
    start = time.perf_counter()
    n = 0
    while n < total:
        due = int((time.perf_counter() - start) * rate) + 1
        while n < min(due, total):
            i = n % len(topics)
            state[i] = not state[i] and not quiet
            v = value_for(n, state[i])
            payload = f"{v:.6f}" if fmt == "bare" else f"N:{v:.6f}"
            sent[n] = time.monotonic_ns()
            last = pub.publish(topics[i], payload, qos=1)
            if twins:
                last = pub.publish(twins[i], f"N:{v:.6f}", qos=1)
            n += 1
        time.sleep(0.002)
    elapsed = time.perf_counter() - start
    # paho may still hold a backlog (a saturated host): every message reaches the broker
    # (its PUBACK) before the client stops, or none of the figures would be about all of them.
    last.wait_for_publish(timeout=120)
    time.sleep(2)
    pub.loop_stop()
    pub.disconnect()
    return elapsed


def subscribe_until_stopped(name, port, total, on_number, ready, stop):
    """Subscribes to hazmon's topics at QoS 1, calls on_number with each message's number on
    paho's network thread, and returns once `stop` is set."""
    c = client(f"{name}-{os.getpid()}")
    c.on_message = lambda cl, u, m: on_number(message_number(float(m.payload)) % total)
    c.on_subscribe = lambda *a: ready.set()
    c.connect("127.0.0.1", port)
    c.subscribe("plant/load/+", qos=1)
    c.loop_start()
    stop.wait()
    c.loop_stop()


def floor_subscriber(port, total, ready, stop, out):
    """A plain subscriber in its own process: the broker's own delivery time is the floor."""
    recv = [0] * total
    def received(n):
        recv[n] = time.monotonic_ns()
    subscribe_until_stopped("load-floor", port, total, received, ready, stop)
    out.send(recv)


def durable_floor_subscriber(port, total, ready, stop, out, path):
    """The least a consumer that keeps messages durable before it acts must do: a plain
    subscriber whose messages a writer thread group-commits (one 4 KB page, overwritten in place
    in a preallocated file on the journal's filesystem, then `fdatasync`), stamping each message
    received only once its commit is back. Messages that come during a commit join the next one,
    as in hazmon's journal. Its latency over the broker's floor is what this host's disk alone
    adds to any durable delivery."""
    import threading
    recv = [0] * total
    pending = []
    cond = threading.Condition()
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    pages = 2048
    os.pwrite(fd, bytes(4096 * pages), 0)
    os.fsync(fd)
    def writer():
        k = 0
        while True:
            with cond:
                while not pending and not stop.is_set():
                    cond.wait(0.2)
                if not pending and stop.is_set():
                    return
                group = pending[:]
                pending.clear()
            page = b"".join(n.to_bytes(8, "little") for n in group[:512]).ljust(4096, b"\0")
            os.pwrite(fd, page, (k % pages) * 4096)
            os.fdatasync(fd)
            k += 1
            t = time.monotonic_ns()
            for n in group:
                recv[n] = t
    w = threading.Thread(target=writer, daemon=True)
    w.start()
    def received(n):
        with cond:
            pending.append(n)
            cond.notify()
    subscribe_until_stopped("load-durable", port, total, received, ready, stop)
    w.join(5)
    os.close(fd)
    out.send(recv)


def socket_reader(path, total, ready, stop, out):
    """An alert-socket client in its own process, as a control-room display would be."""
    recv = [0] * total
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.sendall(b'{"type":"subscribe"}\n')
    s.settimeout(0.2)
    ready.set()
    buf = b""
    while not stop.is_set():
        try:
            chunk = s.recv(1 << 20)
        except socket.timeout:
            continue
        if not chunk:
            break
        t = time.monotonic_ns()
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for line in lines:
            i = line.find(b'"value":')
            if i >= 0 and b'"type":"event"' in line:
                j = line.index(b",", i)
                recv[message_number(float(line[i + 8:j])) % total] = t
    out.send(recv)


def run(args, port, tmp):
    topics = [f"plant/load/T{i:03d}" for i in range(args.tags)]
    sock = os.path.join(tmp, "alerts.sock")
    cfg = os.path.join(tmp, "hazmon.toml")
    journal = os.path.join(tmp, "journal.db")
    with open(cfg, "w") as f:
        f.write(f'[site]\nid = "load"\n[log]\nformat = "json"\n[alert_socket]\npath = "{sock}"\n'
                f'client_queue = 1000000\n[journal]\npath = "{journal}"\nsync = "{args.sync}"\n'
                f'[mqtt]\nurl = "mqtt://127.0.0.1:{port}"\nclient_id = "hazmon-load"\n'
                f'[[mqtt.map]]\nid = "load"\ntopic = "plant/load/+"\ntag = "{{3}}"\n')
        for i in range(args.tags):
            f.write(f'[[tag]]\nid = "T{i:03d}"\nclass = "combustible_gas"\nsource = {{ mqtt_map = "load" }}\n'
                    f'alarms.h = {{ at = 20, deadband = 0 }}\nalarms.hh = {{ at = 40, deadband = 0 }}\n')
    log = open(os.path.join(tmp, "hazmon.log"), "w")
    proc = subprocess.Popen([args.hazmon, "run", "--config", cfg], stdout=log, stderr=log)
    for _ in range(200):
        if os.path.exists(sock) or proc.poll() is not None:
            break
        time.sleep(0.05)
    if not os.path.exists(sock):
        with open(os.path.join(tmp, "hazmon.log")) as f:
            sys.exit("hazmon did not start:\n" + f.read())
    total = int(args.rate * args.seconds)
    sent = [0] * total
    durable = args.mode == "flood" and not args.no_durable_floor
    ctx = mp.get_context("fork")
    stop = ctx.Event()
    procs = []
    pipes = []
    consumers = [(floor_subscriber, port, ()), (socket_reader, sock, ())]
    if durable:
        consumers.append((durable_floor_subscriber, port, (os.path.join(tmp, "durable-floor.dat"),)))
    for target, arg, rest in consumers:
        ready = ctx.Event()
        a, b = ctx.Pipe(duplex=False)
        p = ctx.Process(target=target, args=(arg, total, ready, stop, b) + rest, daemon=True)
        p.start()
        ready.wait(10)
        procs.append(p)
        pipes.append(a)
    collectd = None if args.skip_collectd else start_collectd(port, tmp)
    bare = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-t", "plant/load/#"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(2.0)
    cpu0 = cpu_seconds(proc.pid)
    cd0 = cpu_seconds(collectd.pid) if collectd else 0
    bare0 = cpu_seconds(bare.pid)
    elapsed = publish_load(port, topics, args.rate, args.seconds, sent, "bare",
                           twins=None if collectd is None else collectd_topics(args.tags), quiet=args.mode == "quiet")
    if args.mode == "flood":
        # A saturated host delivers late (the broker's own queue): wait until the journal
        # holds every event, or nothing more arrives for 5 s, so late is not counted as lost.
        drain(journal, total)
    cpu1 = cpu_seconds(proc.pid)
    cd1 = cpu_seconds(collectd.pid) if collectd else 0
    bare1 = cpu_seconds(bare.pid)
    bare.terminate()
    bare.wait(timeout=10)
    if collectd:
        collectd.send_signal(signal.SIGTERM)
        collectd.wait(timeout=10)
    stop.set()
    floor_recv, hz_recv = pipes[0].recv(), pipes[1].recv()
    durable_recv = pipes[2].recv() if durable else None
    for p in procs:
        p.join(5)
    replay_events, replay_seconds = replay(sock)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=10)
    db = sqlite3.connect(journal)
    journaled = db.execute("SELECT count(*) FROM event").fetchone()[0]
    db.close()
    commits = journal_commits(os.path.join(tmp, "hazmon.log"))
    def latencies(recv):   # ms, for each message received
        return [(r - p) / 1e6 for p, r in zip(sent, recv) if r]
    floor_lat, hz_lat = latencies(floor_recv), latencies(hz_recv)
    extra = {}
    if durable:
        durable_lat = latencies(durable_recv)
        extra.update(durable_received=len(durable_lat), durable_p50=percentile(durable_lat, 50),
                     durable_p99=percentile(durable_lat, 99))
    if collectd:
        extra.update(collectd_cpu_us_per_msg=(cd1 - cd0) / total * 1e6, collectd_notifications=collectd_notifications(tmp))
    return dict(**extra, sent=total, elapsed=elapsed, journaled=journaled, commits=commits, replay_events=replay_events,
                replay_seconds=replay_seconds, floor_received=len(floor_lat), hazmon_events=len(hz_lat),
                floor_p50=percentile(floor_lat, 50), floor_p99=percentile(floor_lat, 99),
                hazmon_p50=percentile(hz_lat, 50), hazmon_p99=percentile(hz_lat, 99),
                hazmon_cpu_us_per_msg=(cpu1 - cpu0) / total * 1e6, bare_cpu_us_per_msg=(bare1 - bare0) / total * 1e6)


def journal_commits(log_path):
    """The commits the daemon's journal writer made over its life (its `journal closed` line
    at stop), or None: with the events, how many events each fsync carried."""
    with open(log_path) as f:
        for line in f:
            if '"journal closed"' in line:
                try:
                    return int(json.loads(line).get("commits", ""))
                except ValueError:
                    return None
    return None


def drain(journal, total, quiet_for=5.0, limit=120.0):
    """Waits until the journal holds `total` events, or its count stops growing."""
    end = time.time() + limit
    last, since = -1, time.time()
    while time.time() < end:
        try:
            db = sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=1)
            n = db.execute("SELECT count(*) FROM event").fetchone()[0]
            db.close()
        except sqlite3.Error:
            n = last
        if n >= total:
            return
        if n != last:
            last, since = n, time.time()
        elif time.time() - since > quiet_for:
            return
        time.sleep(0.2)


def replay(path):
    """`subscribe` with `since` 0: every journaled event, read back from the journal."""
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    f = s.makefile("rb")
    last = json.loads(f.readline())["seq"]
    if last == 0:
        return 0, 0.0
    start = time.perf_counter()
    s.sendall(b'{"type":"subscribe","since":0}\n')
    n = 0
    for line in f:
        n += 1
        if n == last:
            break
    elapsed = time.perf_counter() - start
    s.close()
    return n, elapsed


def collectd_topics(tags):
    return [f"collectd/loadhost/gas-T{i:03d}/gauge" for i in range(tags)]


def collectd_path():
    """collectd's executable (Debian puts it in /usr/sbin, often not on PATH), or None."""
    exe = shutil.which("collectd") or "/usr/sbin/collectd"
    return exe if os.path.exists(exe) else None


def start_collectd(port, tmp):
    exe = collectd_path()
    conf = os.path.join(tmp, "collectd.conf")
    with open(conf, "w") as f:
        f.write(f'''Hostname "loadhost"
FQDNLookup false
BaseDir "{tmp}"
PIDFile "{tmp}/collectd.pid"
TypesDB "/usr/share/collectd/types.db"
Interval 10
LoadPlugin logfile
<Plugin logfile>
  LogLevel "info"
  File "{tmp}/collectd.log"
  Timestamp true
  PrintSeverity true
</Plugin>
LoadPlugin threshold
<Plugin threshold>
  <Plugin "gas">
    <Type "gauge">
      WarningMax 20
      FailureMax 40
      Persist false
    </Type>
  </Plugin>
</Plugin>
LoadPlugin mqtt
<Plugin mqtt>
  <Subscribe "load">
    Host "127.0.0.1"
    Port {port}
    ClientId "collectd-load"
    Topic "collectd/#"
    QoS 1
  </Subscribe>
</Plugin>
''')
    return subprocess.Popen([exe, "-f", "-C", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def collectd_notifications(tmp):
    try:
        with open(f"{tmp}/collectd.log") as f:
            return sum(1 for line in f if "Notification:" in line)
    except OSError:
        return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=int, default=2000)
    ap.add_argument("--tags", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--hazmon", default=".build/release/hazmon")
    ap.add_argument("--skip-collectd", action="store_true")
    ap.add_argument("--sync", choices=["full", "normal"], default="full")
    ap.add_argument("--mode", choices=["flood", "quiet"], default="flood",
                    help="flood: every message moves its tag across the limit (an alarm change each); "
                         "quiet: no value ever crosses a limit (no events at all)")
    ap.add_argument("--no-durable-floor", action="store_true",
                    help="flood: leave out the durable floor (a subscriber that fdatasyncs each group of messages)")
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON object (for park_load.py)")
    args = ap.parse_args()
    # Checked before anything starts: a missing collectd found half-way left the daemon running.
    if not args.skip_collectd and collectd_path() is None:
        sys.exit("mqtt_load.py: collectd is not installed (apt-get install collectd-core), or pass --skip-collectd")
    with private_broker("hazmon-load-") as (tmp, port):
        r = run(args, port, tmp)
    quiet = args.mode == "quiet"
    ratio = (r["hazmon_cpu_us_per_msg"] / r["collectd_cpu_us_per_msg"]
             if r.get("collectd_cpu_us_per_msg") else None)
    if quiet:
        # Nothing may cross a limit: no event, nothing journaled; CPU is the goal.
        ok = r["hazmon_events"] == 0 and r["journaled"] == 0
        if "collectd_cpu_us_per_msg" in r:
            ok = ok and ratio <= 0.5
    else:
        ok = r["hazmon_events"] == r["sent"] and r["journaled"] >= r["sent"] and r["hazmon_p99"] - r["floor_p99"] <= 1.0
        if "collectd_cpu_us_per_msg" in r:
            ok = ok and r["hazmon_cpu_us_per_msg"] <= r["collectd_cpu_us_per_msg"]
    if args.json:
        print(json.dumps(dict(r, mode=args.mode, rate=args.rate, tags=args.tags, ratio=ratio, met=ok)))
        return 0 if ok else 1
    print(f"load ({args.mode}): {args.rate} msg/s over {args.tags} tags for {args.seconds:g} s "
          f"({r['sent']} messages, published in {r['elapsed']:.2f} s)")
    print(f"floor   (broker -> plain subscriber): received {r['floor_received']}, "
          f"p50 {r['floor_p50']:.3f} ms, p99 {r['floor_p99']:.3f} ms")
    if "durable_p99" in r:
        print(f"durable floor (broker -> subscriber -> fdatasync): received {r['durable_received']}, "
              f"p50 {r['durable_p50']:.3f} ms, p99 {r['durable_p99']:.3f} ms, "
              f"p99 over floor {r['durable_p99'] - r['floor_p99']:+.3f} ms (what the disk adds to any durable delivery)")
    if quiet:
        print(f"hazmon  (broker -> engine, no limit crossed): events {r['hazmon_events']} (0 expected), "
              f"CPU {r['hazmon_cpu_us_per_msg']:.1f} us/msg")
    else:
        print(f"hazmon  (broker -> engine -> socket): events {r['hazmon_events']}, "
              f"p50 {r['hazmon_p50']:.3f} ms, p99 {r['hazmon_p99']:.3f} ms, "
              f"p99 over floor {r['hazmon_p99'] - r['floor_p99']:+.3f} ms, CPU {r['hazmon_cpu_us_per_msg']:.1f} us/msg")
    per_commit = f" in {r['commits']} commits ({r['journaled'] / r['commits']:.1f} events each)" if r.get("commits") else ""
    print(f"journal (sync {args.sync}):                 {r['journaled']} events committed{per_commit} "
          f"({r['journaled'] / r['elapsed']:.0f}/s over the run); replay from the journal: "
          f"{r['replay_events']} events in {r['replay_seconds']:.2f} s "
          f"({r['replay_events'] / max(r['replay_seconds'], 1e-9):.0f}/s)")
    print(f"bare libmosquitto (mosquitto_sub -q 1, no work): CPU {r['bare_cpu_us_per_msg']:.1f} us/msg")
    if "collectd_cpu_us_per_msg" in r:
        print(f"collectd (mqtt + threshold):          CPU {r['collectd_cpu_us_per_msg']:.1f} us/msg, "
              f"notifications logged {r['collectd_notifications']}; hazmon/collectd CPU = {ratio:.2f}")
    goal = "hazmon CPU <= 0.5 x collectd's" if quiet else "every event, p99 <= floor + 1 ms, hazmon CPU per event <= collectd's per message"
    print(f"goal ({goal}):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
