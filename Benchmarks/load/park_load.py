#!/usr/bin/env python3
"""Issue 14's goals in one run, printed as one table: hazmon beside collectd 5.12 and a bare
`mosquitto_sub -q 1` (mqtt_load.py, which starts all three against one broker per run), and the
park-scale figures (scale.py). Each regime runs --runs times; the table shows the median run
(by hazmon's CPU per message) and the range.

Regimes (QoS 1 throughout):
  quiet 2,000 msg/s   no value ever crosses a limit             goal: hazmon CPU <= 0.5 x collectd
  flood 2,000 msg/s   every message an alarm change, journaled  goal: CPU/event <= collectd CPU/msg,
                                                                      p99 <= floor + 1 ms, nothing lost
  flood 10,000 msg/s  the same                                  goal: nothing lost, p99 <= floor + 2 ms
  (each flood also runs mqtt_load.py's durable floor: a subscriber that fdatasyncs each group of
  messages, so the table shows what the disk alone adds to any durable delivery)
  50,000 tags         READY, resident, check, SIGHUP reload     goal: <= 1 s, <= 128 MiB, <= 1 s, <= 1 s

Usage: python3 Benchmarks/load/park_load.py [--runs 3] [--seconds 20] [--hazmon .build/release/hazmon]
       [--scale-tags 50000 (0: the message regimes only)]
Needs: what mqtt_load.py and scale.py need (mosquitto, collectd-core, paho-mqtt).
"""
import argparse, json, os, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))


def run_json(args):
    out = subprocess.run([sys.executable] + args, capture_output=True, text=True, timeout=900)
    lines = [l for l in out.stdout.splitlines() if l.startswith("{") or l.startswith("[")]
    if not lines:
        sys.exit(f"{' '.join(args)} printed no figures:\n{out.stdout}\n{out.stderr}")
    return json.loads(lines[-1])


def median_run(runs, key):
    ordered = sorted(runs, key=lambda r: r[key])
    return ordered[len(ordered) // 2]


def span(runs, key, fmt):
    xs = [r[key] for r in runs]
    return f"{fmt.format(min(xs))}–{fmt.format(max(xs))}" if len(xs) > 1 else fmt.format(xs[0])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--hazmon", default=".build/release/hazmon")
    ap.add_argument("--scale-tags", type=int, default=50_000)
    args = ap.parse_args()
    load = os.path.join(HERE, "mqtt_load.py")
    # The last two columns (flood only) measure the disk beside the goal: the durable floor is
    # a subscriber that fdatasyncs each group of messages before it counts them (mqtt_load.py),
    # so its p99 over the broker's floor is what this disk adds to any durable delivery, and
    # hazmon's p99 over it is what hazmon adds beyond that. The goal is judged as the issue
    # states it, against the broker's floor.
    print("| regime | hazmon CPU | collectd CPU | bare libmosquitto | ratio hazmon/collectd | events | journaled | floor p99 "
          "| p99 over floor | goal | durable floor p99 over floor | hazmon p99 over durable floor |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    # At 10,000/s the collectd twin doubles the publishing (20,000 QoS 1 publishes/s from one
    # Python process): on 2 cores the publisher and broker then saturate and even the plain
    # subscriber gets half the messages seconds late. That regime's goal is loss and latency,
    # not CPU against collectd, so it runs without the twin.
    for mode, rate, p99_budget in (("quiet", 2000, None), ("flood", 2000, 1.0), ("flood", 10000, 2.0)):
        # And it runs 10 s: past about 13 s at 10,000/s the Python publisher falls so far behind
        # that the broker never receives the tail (the plain subscriber gets 67 % of a 20 s run).
        extra = ["--skip-collectd"] if rate > 5000 else []
        seconds = min(args.seconds, 10) if rate > 5000 else args.seconds
        runs = [run_json([load, "--mode", mode, "--rate", str(rate), "--seconds", str(seconds),
                          "--hazmon", args.hazmon, "--json"] + extra) for _ in range(args.runs)]
        m = median_run(runs, "hazmon_cpu_us_per_msg")
        over = m["hazmon_p99"] - m["floor_p99"]
        if mode == "quiet":
            met = m["ratio"] <= 0.5 and m["hazmon_events"] == 0
            events, latency = f"{m['hazmon_events']} (0 expected)", "–"
        else:
            lost = m["sent"] - m["hazmon_events"]
            met = lost == 0 and over <= p99_budget and ("collectd_cpu_us_per_msg" not in m or m["ratio"] <= 1.0)
            events, latency = f"{m['hazmon_events']:,}/{m['sent']:,}", f"{over:+.2f} ms"
        disk = (f"{m['durable_p99'] - m['floor_p99']:+.2f} ms | {m['hazmon_p99'] - m['durable_p99']:+.2f} ms"
                if "durable_p99" in m else "– | –")
        collectd = f"{m['collectd_cpu_us_per_msg']:.1f} µs" if "collectd_cpu_us_per_msg" in m else "– (not run)"
        ratio = f"{m['ratio']:.2f}" if "collectd_cpu_us_per_msg" in m else "–"
        print(f"| {mode} {rate:,}/s | {m['hazmon_cpu_us_per_msg']:.1f} µs ({span(runs, 'hazmon_cpu_us_per_msg', '{:.1f}')}) | "
              f"{collectd} | {m['bare_cpu_us_per_msg']:.1f} µs | {ratio} | "
              f"{events} | {m['journaled']:,} | {m['floor_p99']:.1f} ms | {latency} | {'met' if met else 'NOT met'} | "
              f"{disk} |")
        sys.stdout.flush()
    if args.scale_tags <= 0:
        return 0   # --scale-tags 0: the message regimes only
    rows = [run_json([os.path.join(HERE, "scale.py"), "--tags", str(args.scale_tags), "--quiet-seconds", str(args.seconds),
                      "--hazmon", args.hazmon, "--json"])[0] for _ in range(args.runs)]
    r = median_run(rows, "ready_s")
    print()
    print(f"| {args.scale_tags:,} tags | READY | resident after start | after quiet load | `hazmon check` | check peak | SIGHUP reload | resident after reload |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| {r['tags']:,} | {r['ready_s']:.2f} s | {r['rss_start_mib']:.0f} MiB | {r['rss_quiet_mib']:.0f} MiB | "
          f"{r['check_s']:.2f} s | {r['check_mib']:.0f} MiB | {r['reload_s']:.2f} s | {r['rss_reload_mib']:.0f} MiB |")
    print(f"goal (READY <= 1 s, resident <= 128 MiB, check <= 1 s, reload <= 1 s): "
          f"{'met' if r['ready_s'] <= 1 and max(r['rss_start_mib'], r['rss_quiet_mib']) <= 128 and r['check_s'] <= 1 and r['reload_s'] <= 1 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
