#!/usr/bin/env python3
"""A remote-feed client for hazmon's tests: TLS to 127.0.0.1:PORT (server verified against
--ca), sends each --send line, prints every line received until --lines lines or --timeout
seconds, then "EOF" if the server closed the connection. --plain skips TLS; --source binds a
loopback source address (127.0.0.2, ...)."""
import argparse, socket, ssl, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--ca")
ap.add_argument("--plain", action="store_true")
ap.add_argument("--send", action="append", default=[])
ap.add_argument("--lines", type=int, default=1_000_000)
ap.add_argument("--timeout", type=float, default=5)
ap.add_argument("--source", default=None)
a = ap.parse_args()

raw = socket.create_connection(("127.0.0.1", a.port), timeout=a.timeout,
                               source_address=(a.source, 0) if a.source else None)
if a.plain:
    s = raw
else:
    ctx = ssl.create_default_context(cafile=a.ca)
    try:
        s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    except (ssl.SSLError, OSError) as e:
        print(f"TLS-ERROR {e}")
        sys.exit(0)
for line in a.send:
    s.sendall(line.encode() + b"\n")
buf = b""
got = 0
end = time.time() + a.timeout
s.settimeout(0.2)
while time.time() < end and got < a.lines:
    try:
        chunk = s.recv(65536)
    except socket.timeout:
        continue
    except (ssl.SSLError, OSError):
        print("EOF")
        break
    if not chunk:
        print("EOF")
        break
    buf += chunk
    while b"\n" in buf and got < a.lines:
        line, buf = buf.split(b"\n", 1)
        print(line.decode())
        got += 1
sys.stdout.flush()
