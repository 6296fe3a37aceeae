#!/usr/bin/env python3
"""A stand-in for DingTalk and WeCom group robots, an SMS gateway and a webhook receiver, on
loopback, for hazmon's notification tests. It checks each request the way the real service
would (DingTalk's timestamp and HMAC-SHA256 signature, the robots' access tokens and message
shapes) and appends one JSON line per request to --out:

  {"via": "dingtalk", "ok": true, "key": <X-Hazmon-Idempotency-Key>, "body": <parsed body>, ...}

A request that the real service would refuse is answered as it would be (a robot: HTTP 200 with
a non-zero errcode; the others: 400) and recorded with "ok": false and the reason. While the
--mode-file holds "500", every request is answered with HTTP 500 and recorded with "refused".
"""
import argparse, base64, hashlib, hmac, json, os, sys, time, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

p = argparse.ArgumentParser()
p.add_argument("--port", type=int, required=True)
p.add_argument("--out", required=True)
p.add_argument("--mode-file", default="")
p.add_argument("--dingtalk-token", default="ding-token")
p.add_argument("--dingtalk-secret", default="")
p.add_argument("--wecom-key", default="wecom-key")
args = p.parse_args()


def record(entry):
    with open(args.out, "a") as f:
        f.write(json.dumps(entry, ensure_ascii=False) + "\n")


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def answer(self, code, obj):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        via = url.path.strip("/")
        entry = {"via": via, "key": self.headers.get("X-Hazmon-Idempotency-Key"),
                 "content_type": self.headers.get("Content-Type"), "auth": self.headers.get("Authorization"),
                 "time": time.time()}
        mode = open(args.mode_file).read().strip() if args.mode_file and os.path.exists(args.mode_file) else ""
        if mode == "500":
            entry.update(ok=False, refused=True)
            record(entry)
            return self.answer(500, {"error": "busy"})
        text = raw.decode("utf-8", "replace")
        try:
            body = json.loads(text) if "json" in (entry["content_type"] or "") else text
        except ValueError:
            entry.update(ok=False, problem="body is not JSON", body=text)
            record(entry)
            return self.answer(400, {"error": "not json"})
        entry["body"] = body
        problem = None
        if via == "dingtalk":
            problem = self.check_dingtalk(query, body)
            entry["ok"] = problem is None
            if problem:
                entry["problem"] = problem
            record(entry)
            return self.answer(200, {"errcode": 310000 if problem else 0, "errmsg": problem or "ok"})
        if via == "wecom":
            if query.get("key") != [args.wecom_key]:
                problem = "invalid webhook url (key)"
            elif body.get("msgtype") == "markdown":
                if not isinstance(body.get("markdown", {}).get("content"), str) or not body["markdown"]["content"]:
                    problem = "markdown.content missing"
            elif body.get("msgtype") == "text":
                if not body.get("text", {}).get("content"):
                    problem = "text.content missing"
            else:
                problem = "msgtype must be markdown or text"
            entry["ok"] = problem is None
            if problem:
                entry["problem"] = problem
            record(entry)
            return self.answer(200, {"errcode": 93000 if problem else 0, "errmsg": problem or "ok"})
        # webhook, sms: any JSON (or templated) body is taken.
        entry["ok"] = True
        record(entry)
        return self.answer(200, {"ok": True})

    def check_dingtalk(self, query, body):
        if query.get("access_token") != [args.dingtalk_token]:
            return "token is not exist"
        if args.dingtalk_secret:
            ts = query.get("timestamp", [""])[0]
            sign = query.get("sign", [""])[0]
            if not ts.isdigit() or abs(int(ts) - time.time() * 1000) > 3600 * 1000:
                return "invalid timestamp"
            want = base64.b64encode(hmac.new(args.dingtalk_secret.encode(), f"{ts}\n{args.dingtalk_secret}".encode(),
                                             hashlib.sha256).digest()).decode()
            if not hmac.compare_digest(want, sign):
                return "sign not match"
        if body.get("msgtype") != "markdown":
            return "msgtype must be markdown"
        md = body.get("markdown") or {}
        if not md.get("title") or not md.get("text"):
            return "markdown.title and markdown.text are required"
        if not isinstance((body.get("at") or {}).get("atMobiles", []), list):
            return "at.atMobiles must be a list"
        return None


server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
print(f"notify gateway on 127.0.0.1:{args.port}", flush=True)
try:
    server.serve_forever()
except KeyboardInterrupt:
    pass
