#!/usr/bin/env python3
"""Where a daemon's CPU goes, thread by thread: reads a `perf record -g` profile and prints, for
each thread, its share of all samples split into kernel time (by the system call wrapper that
entered the kernel: `fdatasync`, `__libc_pwrite`, `__poll`, ...) and user time (by library:
libsqlite3, libswiftCore, libc, the hazmon binary, ...).

    perf record -e cpu-clock -g -p "$(pgrep -f 'hazmon run')" -o /tmp/hazmon.perf -- sleep 10
    python3 Benchmarks/load/thread_profile.py /tmp/hazmon.perf [--top 12] [--symbols THREAD]

`--symbols THREAD` adds that thread's hottest user-space functions (self time), demangled when
`swift demangle` is on PATH. Needs perf (Debian's linux-perf). It reads the profile only.
"""
import argparse, collections, shutil, subprocess, sys


def samples(perf_data):
    """(thread name, [(symbol, dso), ...] leaf first) for each sample."""
    out = subprocess.run(["perf", "script", "-i", perf_data, "-F", "comm,tid,ip,sym,dso"],
                         capture_output=True, text=True, errors="replace")
    if out.returncode != 0:
        sys.exit(f"perf script failed: {out.stderr.strip()}")
    comm, stack = None, []
    for line in out.stdout.splitlines() + [""]:
        if not line.strip():
            if comm is not None:
                yield comm, stack
            comm, stack = None, []
        elif not line.startswith((" ", "\t")):
            comm, stack = line.split()[0], []
        else:
            parts = line.strip().split(None, 1)
            if len(parts) == 2:
                sym, _, dso = parts[1].rpartition(" (")
                stack.append((sym.split("+0x")[0], dso.rstrip(")")))


def kind(stack):
    """'kernel via WRAPPER' for a kernel sample, 'user LIBRARY' for a user one."""
    if not stack:
        return "?"
    if "kernel" in stack[0][1]:
        wrapper = next((s for s, d in stack if "kernel" not in d), "?")
        return f"kernel via {wrapper}"
    return "user " + stack[0][1].rsplit("/", 1)[-1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("perf_data")
    ap.add_argument("--top", type=int, default=12, help="lines per thread")
    ap.add_argument("--symbols", metavar="THREAD", help="also list this thread's hottest user functions")
    args = ap.parse_args()
    threads, kinds, symbols = collections.Counter(), collections.defaultdict(collections.Counter), collections.Counter()
    total = 0
    for comm, stack in samples(args.perf_data):
        total += 1
        threads[comm] += 1
        kinds[comm][kind(stack)] += 1
        if comm == args.symbols and stack and "kernel" not in stack[0][1]:
            symbols[stack[0][0]] += 1
    if total == 0:
        sys.exit("no samples in the profile")
    print(f"{total} samples; shares of all of them")
    for comm, n in threads.most_common():
        if n / total < 0.005:
            continue
        print(f"{comm}: {n / total * 100:.1f} %")
        for k, m in kinds[comm].most_common(args.top):
            if m / total >= 0.002:
                print(f"    {m / total * 100:5.1f} %  {k}")
    if args.symbols:
        names = [s for s, _ in symbols.most_common(30)]
        if shutil.which("swift"):
            out = subprocess.run(["swift", "demangle", "--simplified"], input="\n".join(names), capture_output=True, text=True)
            if out.returncode == 0:
                names = out.stdout.splitlines()
        print(f"{args.symbols}, user functions (self):")
        for name, (_, m) in zip(names, symbols.most_common(30)):
            print(f"    {m / total * 100:5.2f} %  {name[:110]}")


if __name__ == "__main__":
    main()
