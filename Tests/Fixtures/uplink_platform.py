#!/usr/bin/env python3
"""A park / provincial platform for the uplink tests: an HTTP endpoint taking POSTed JSON
arrays and a TCP endpoint taking delimited frames, both on loopback. Every message it takes is
appended to --out as one JSON line {"via": "http"|"tcp", "batch": ..., "msg": ...}.

--mode-file makes it misbehave, read at each request: "500" answers HTTP 500, "slow" waits
--slow seconds before answering, anything else (or no file) takes the message. A message that
fails to parse is recorded as {"via": ..., "bad": text}. With --key (hex), messages are
AES-CBC ciphertext (IV first, Base64) and are decrypted with the openssl command first.
"""
import ssl, argparse, base64, json, os, socketserver, subprocess, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

args = None
lock = threading.Lock()


def mode():
    try:
        with open(args.mode_file) as f:
            return f.read().strip()
    except (OSError, TypeError):
        return ""


def decrypt(text):
    raw = base64.b64decode(text)
    iv, body = raw[:16], raw[16:]
    out = subprocess.run(["openssl", "enc", "-d", "-aes-%d-cbc" % (len(args.key) * 4), "-K", args.key, "-iv", iv.hex()],
                         input=body, capture_output=True, check=True)
    return out.stdout.decode()


def record(via, batch, items, path=None):
    lines = []
    for item in items:
        try:
            if args.key:
                item = json.loads(decrypt(item))
            lines.append(json.dumps({"via": via, "batch": batch, "msg": item, "path": path}))
        except Exception as e:  # recorded, so a test sees it
            lines.append(json.dumps({"via": via, "bad": repr(item)[:200], "why": str(e)}))
    with lock, open(args.out, "a") as f:
        for line in lines:
            f.write(line + "\n")


class HTTP(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        m = mode()
        if m == "slow":
            time.sleep(args.slow)
        if m == "500":
            self.send_response(500)
            self.end_headers()
            self.wfile.write(b"platform busy")
            return
        try:
            items = json.loads(body)
            assert isinstance(items, list)
        except Exception:
            self.send_response(400)
            self.end_headers()
            return
        secure = args.https and self.server.server_address[1] == args.https
        record("https" if secure else "http", self.headers.get("X-Hazmon-Batch"), items, self.path)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *a):
        pass


class TCP(socketserver.BaseRequestHandler):
    def handle(self):
        delim = args.delimiter.encode()
        buf = b""
        while True:
            data = self.request.recv(65536)
            if not data:
                return
            buf += data
            *frames, buf = buf.split(delim)
            items = []
            for fr in frames:
                text = fr.decode()
                try:
                    items.append(text if args.key else json.loads(text))
                except ValueError:
                    items.append({"unparsed": text})
            if items:
                record("tcp", None, items)


class TCPServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    global args
    p = argparse.ArgumentParser()
    p.add_argument("--http", type=int)
    p.add_argument("--tcp", type=int)
    p.add_argument("--delimiter", default="\n")
    p.add_argument("--out", required=True)
    p.add_argument("--mode-file")
    p.add_argument("--slow", type=float, default=3)
    p.add_argument("--key")
    p.add_argument("--https", type=int, help="an HTTPS endpoint too, with --cert and --cert-key")
    p.add_argument("--cert")
    p.add_argument("--cert-key")
    args = p.parse_args()
    servers = []
    if args.http:
        ThreadingHTTPServer.allow_reuse_address = True
        servers.append(ThreadingHTTPServer(("127.0.0.1", args.http), HTTP))
    if args.https:
        ThreadingHTTPServer.allow_reuse_address = True
        secure = ThreadingHTTPServer(("127.0.0.1", args.https), HTTP)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.cert_key)
        secure.socket = ctx.wrap_socket(secure.socket, server_side=True, do_handshake_on_connect=False)
        servers.append(secure)
    if args.tcp:
        servers.append(TCPServer(("127.0.0.1", args.tcp), TCP))
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    print("platform ready", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
