#!/usr/bin/env python3
"""What one durable write costs on a host's disk: the floor under every journal commit.

hazmon commits each group of alarm events with an fdatasync before anyone is told of them, so
the disk's flush latency sits in every event's path and its CPU in every commit. This probe
measures both on the filesystem of DIR (default: the system's temporary directory, where the
load scripts keep their journals), in two parts:

  cost:    CPU (utime + stime, from getrusage) and wall time per `pwrite` of 12 KB + `fdatasync`,
           once overwriting a preallocated file in place (as SQLite's WAL does once it has
           started over) and once appending to an empty one (the file grows: on ext4 each
           fdatasync then also writes the inode, and with a journal commits it);
  latency: one overwrite + fdatasync every --interval ms for --seconds, and the percentiles of
           its wall time: p99 and the longest stall are what a journal commit cannot beat here.

Usage: python3 Benchmarks/load/fsync_probe.py [--dir DIR] [--seconds 20] [--interval 1.2] [--json]
Run it alone for the disk's own figures, or beside a load (mqtt_load.py) to see whether the
disk stalled during it. Needs nothing beyond Python 3; writes a few MB, removed afterwards.
"""
import argparse, json, os, resource, sys, tempfile, time

from loadlib import percentile

CHUNK = 12288   # about one group commit's WAL frames (three 4 KB pages and their headers)


def cost(fd, n, overwrite):
    """(wall µs, CPU µs) per pwrite + fdatasync over n rounds."""
    if overwrite:
        os.pwrite(fd, bytes(n * CHUNK + 4096), 0)
    else:
        os.ftruncate(fd, 0)
    os.fsync(fd)
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    for i in range(n):
        os.pwrite(fd, b"x" * CHUNK, i * CHUNK)
        os.fdatasync(fd)
    r1, t1 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return (t1 - t0) / n * 1e6, cpu / n * 1e6


def latency(fd, seconds, interval_ms, slots=300):
    """Sorted wall times (ms) of one overwrite + fdatasync every interval_ms for seconds."""
    os.pwrite(fd, bytes(slots * CHUNK), 0)
    os.fsync(fd)
    out, i = [], 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t0 = time.perf_counter()
        os.pwrite(fd, b"y" * CHUNK, (i % slots) * CHUNK)
        os.fdatasync(fd)
        out.append((time.perf_counter() - t0) * 1e3)
        i += 1
        time.sleep(interval_ms / 1e3)
    return sorted(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default=tempfile.gettempdir())
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--interval", type=float, default=1.2, help="ms between two probes of the latency part")
    ap.add_argument("--rounds", type=int, default=2000, help="fdatasyncs per mode in the cost part")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    fd, path = tempfile.mkstemp(prefix="fsync-probe-", dir=args.dir)
    try:
        over_wall, over_cpu = cost(fd, args.rounds, overwrite=True)
        app_wall, app_cpu = cost(fd, args.rounds, overwrite=False)
        lat = latency(fd, args.seconds, args.interval)
    finally:
        os.close(fd)
        os.remove(path)
    r = dict(dir=args.dir, overwrite_wall_us=over_wall, overwrite_cpu_us=over_cpu, append_wall_us=app_wall,
             append_cpu_us=app_cpu, probes=len(lat), p50_ms=percentile(lat, 50), p90_ms=percentile(lat, 90),
             p99_ms=percentile(lat, 99), p999_ms=percentile(lat, 99.9), max_ms=lat[-1],
             over_5ms=sum(1 for x in lat if x > 5))
    if args.json:
        print(json.dumps(r))
        return 0
    print(f"fsync probe on {args.dir}")
    print(f"cost per 12 KB pwrite + fdatasync: overwrite in place {over_wall:.0f} µs wall, {over_cpu:.0f} µs CPU; "
          f"append {app_wall:.0f} µs wall, {app_cpu:.0f} µs CPU")
    print(f"latency, one every {args.interval:g} ms for {args.seconds:g} s ({len(lat)} probes): "
          f"p50 {r['p50_ms']:.3f} ms, p90 {r['p90_ms']:.3f}, p99 {r['p99_ms']:.3f}, p99.9 {r['p999_ms']:.3f}, "
          f"longest {r['max_ms']:.1f} ms; {r['over_5ms']} over 5 ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
