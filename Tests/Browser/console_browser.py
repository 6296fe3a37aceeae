#!/usr/bin/env python3
"""The web console in a real browser (Debian's chromium, driven through Debian's
chromium-driver by selenium), against the real daemon and a real mosquitto.

The Swift test ConsoleBrowserTests prepares the broker, the config and the users file, then
runs this script; the script starts and restarts the daemon itself and stops everything it
started. Any failed check raises, and the exit status is non-zero.

    console_browser.py --suite browser|security|screenshot --hazmon BIN --config PATH
                       --url URL --broker-port N [--tls-config PATH --tls-url URL --ca FILE]
                       [--screenshot PNG]
"""
import argparse, http.client, json, os, signal, ssl, subprocess, sys, time, urllib.parse

import paho.mqtt.client as mqtt

args = None


def fail(msg):
    raise AssertionError(msg)


def check(cond, msg):
    if not cond:
        fail(msg)
    print("ok:", msg, flush=True)


class Daemon:
    """`hazmon run` as a child, with its log beside the config."""

    def __init__(self, config, url, log):
        self.config, self.url, self.log, self.proc = config, url, log, None

    def start(self):
        out = open(self.log, "a")
        self.proc = subprocess.Popen([args.hazmon, "run", "--config", self.config], stdout=out, stderr=out)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                fail("hazmon exited early:\n" + open(self.log).read()[-3000:])
            try:
                status, _, _ = request(self.url, "GET", "/healthz")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        fail("the console never became healthy:\n" + open(self.log).read()[-3000:])

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def connection(url):
    u = urllib.parse.urlparse(url)
    if u.scheme == "https":
        ctx = ssl.create_default_context(cafile=args.ca)
        ctx.check_hostname = False
        return http.client.HTTPSConnection(u.hostname, u.port, timeout=10, context=ctx)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=10)


def request(url, method, path, body=None, headers=None, cookie=None):
    """One raw HTTP request (the path is sent as given, not normalised); status, headers, body."""
    c = connection(url)
    h = dict(headers or {})
    if cookie:
        h["Cookie"] = cookie
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    if data is not None and "Content-Type" not in h:
        h["Content-Type"] = "application/json"
    c.request(method, path, body=data, headers=h)
    r = c.getresponse()
    out = (r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    c.close()
    return out


def login(url, name, password):
    status, headers, body = request(url, "POST", "/api/login", {"name": name, "password": password})
    if status != 200:
        return status, None, None, headers
    cookie = headers["set-cookie"].split(";")[0]
    return status, cookie, json.loads(body)["csrf"], headers


class Publisher:
    def __init__(self, port):
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="console-test-pub")
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()

    def send(self, topic, value):
        info = self.c.publish(topic, str(value), qos=1)
        info.wait_for_publish(5)

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


def browser(lang="en"):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    o = webdriver.ChromeOptions()
    o.binary_location = "/usr/bin/chromium"
    for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1400,900",
              "--lang=" + lang, "--no-first-run", "--disable-background-networking", "--disable-component-update"]:
        o.add_argument(a)
    o.add_experimental_option("prefs", {"intl.accept_languages": lang})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=o)


def wait(driver_or_fn, cond=None, timeout=10, what="condition"):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = (cond or driver_or_fn)() if cond is None else cond(driver_or_fn)
            if last:
                return last
        except Exception as e:  # element not there yet, stale, ...
            last = e
        time.sleep(0.02)
    fail(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


def browser_login(d, url, name, password):
    from selenium.webdriver.common.by import By
    d.get(url + "/")
    wait(lambda: d.current_url.endswith("/login"), what="the redirect to /login")
    wait(lambda: d.find_element(By.ID, "name"), what="the login form")
    d.find_element(By.ID, "name").send_keys(name)
    d.find_element(By.ID, "password").send_keys(password)
    d.find_element(By.ID, "login-button").click()
    wait(lambda: d.execute_script("return document.body.dataset.ready === '1' && document.body.dataset.page === 'alarms'"),
         what=f"the alarm list after logging in as {name}")


def alarm_row(d, tag):
    from selenium.webdriver.common.by import By
    rows = d.find_elements(By.CSS_SELECTOR, f"tr.alarm[data-tag='{tag}']")
    return rows[0] if rows else None


def api_events(cookie, tag=None):
    q = "/api/events?limit=10000" + (f"&tag={tag}" if tag else "")
    status, _, body = request(args.url, "GET", q, cookie=cookie)
    check(status == 200, f"GET {q} answers 200")
    return json.loads(body)["events"]


def suite_browser():
    from selenium.webdriver.common.by import By
    daemon = Daemon(args.config, args.url, os.path.dirname(args.config) + "/hazmon.log")
    pub = Publisher(args.broker_port)
    d = None
    try:
        daemon.start()
        d = browser()
        browser_login(d, args.url, "opal", "operator-pw")
        check(d.find_elements(By.ID, "no-alarms"), "a fresh site shows 'No active alarms'")

        # A published hh value appears as a blinking orange row within 1 s.
        t0 = time.time()
        pub.send("plant/t101/gas", 45)
        row = wait(lambda: alarm_row(d, "GT-101"), timeout=5, what="the GT-101 row")
        took = time.time() - t0
        cls = row.get_attribute("class")
        check(took <= 1.0, f"the hh alarm is on the page {took * 1000:.0f} ms after the publish (at most 1 s)")
        check("grade-2" in cls and "unack" in cls, f"the row is grade 2 (orange) and unacknowledged: {cls}")
        check(row.get_attribute("data-condition") == "hh", "the row's condition is hh")
        anim = d.execute_script("return getComputedStyle(arguments[0]).animationName", row)
        check(anim == "blink", f"the unacknowledged row blinks (animation {anim})")
        bg = d.execute_script("return getComputedStyle(document.documentElement).getPropertyValue('--orange').trim()")
        check(bg == "#f57c00", f"grade 2 is orange ({bg})")

        # Ack from the page: steady, and journaled with the user.
        row.find_element(By.CSS_SELECTOR, "button.ack").click()
        wait(lambda: alarm_row(d, "GT-101").get_attribute("data-state") == "acked", what="the row to turn acked")
        row = alarm_row(d, "GT-101")
        check("steady" in row.get_attribute("class") and not row.find_elements(By.CSS_SELECTOR, "button.ack"),
              "the acknowledged row is steady and has no ack button")
        anim = d.execute_script("return getComputedStyle(arguments[0]).animationName", row)
        check(anim == "none", f"the acknowledged row does not blink ({anim})")
        st, cookie, csrf, _ = login(args.url, "opal", "operator-pw")
        acks = [e for e in api_events(cookie, "GT-101") if e["event"] == "acknowledged"]
        check(len(acks) == 1 and acks[0].get("user") == "opal", f"the journal holds 'acknowledged' by opal: {acks}")

        # Shelve needs a reason and a bounded time.
        path = "/api/alarms/GT-101/hh/shelve"
        st, _, body = request(args.url, "POST", path, {"for": "30m"}, {"X-CSRF-Token": csrf}, cookie)
        check(st == 400 and json.loads(body)["code"] == "shelve_needs_reason", f"shelve without a reason: {st} {body}")
        st, _, body = request(args.url, "POST", path, {"note": "sensor check"}, {"X-CSRF-Token": csrf}, cookie)
        check(st == 400 and json.loads(body)["code"] == "shelve_needs_duration", f"shelve without a time: {st} {body}")
        st, _, body = request(args.url, "POST", path, {"for": "30d", "note": "forever"}, {"X-CSRF-Token": csrf}, cookie)
        check(st == 400 and json.loads(body)["code"] == "shelve_too_long", f"shelve for 30 days: {st} {body}")
        row.find_element(By.CSS_SELECTOR, "button.shelve").click()
        dlg = wait(lambda: d.find_element(By.ID, "shelve-dialog"), what="the shelve dialog")
        dlg.find_element(By.CSS_SELECTOR, "button.confirm").click()
        check(d.find_elements(By.ID, "shelve-dialog"), "the dialog refuses OK without a reason (the field is required)")
        dlg.find_element(By.NAME, "reason").send_keys("detector being calibrated")
        dlg.find_element(By.CSS_SELECTOR, "button.confirm").click()
        wait(lambda: "shelved" in alarm_row(d, "GT-101").get_attribute("class"), what="the row to show shelved")
        shelves = [e for e in api_events(cookie, "GT-101") if e["event"] == "shelved"]
        check(len(shelves) == 1 and shelves[0].get("note") == "detector being calibrated" and shelves[0].get("user") == "opal",
              f"the journal holds the shelf with its reason: {shelves}")
        alarm_row(d, "GT-101").find_element(By.CSS_SELECTOR, "button.unshelve").click()
        wait(lambda: "shelved" not in alarm_row(d, "GT-101").get_attribute("class"), what="the row to be unshelved")

        # The stream resumes after the daemon restarts, with no gap (seqs compared to the journal).
        before = d.execute_script("return window.hazmonSeen.slice()")
        daemon.stop()
        wait(lambda: d.find_elements(By.ID, "banner-offline"), timeout=10, what="the 'live connection lost' banner")
        check(True, "the page shows the lost-connection banner while the daemon is down")
        daemon.start()
        wait(lambda: not d.find_elements(By.ID, "banner-offline"), timeout=15, what="the banner to go after the restart")
        pub.send("plant/t101/gas", 10)   # back to normal: deescalated / cleared
        pub.send("plant/t101/gas", 25)   # h again
        st, cookie, csrf, _ = login(args.url, "opal", "operator-pw")
        def caught_up():
            journal = [e["seq"] for e in api_events(cookie)]
            seen = d.execute_script("return window.hazmonSeen.slice()")
            return (journal, seen) if seen and journal and seen[-1] == journal[-1] else None
        journal, seen = wait(caught_up, timeout=15, what="the page's stream to reach the journal's last seq")
        first = before[0] if before else seen[0]
        expected = [s for s in journal if s >= first]
        check(seen == expected, f"the page saw every journaled seq once, in order, across the restart: {seen} vs {expected}")
        check(len(seen) > len(before), "events after the restart arrived on the resumed stream")

        # The tag page shows the trend.
        d.get(args.url + "/tags/GT-101")
        wait(lambda: d.execute_script("return document.body.dataset.ready === '1'"), what="the tag page")
        for v in (31, 33, 35):
            pub.send("plant/t101/gas", v)
            time.sleep(0.3)
        n = wait(lambda: int(d.find_element(By.ID, "trend").get_attribute("data-points") or 0) >= 3
                 and int(d.find_element(By.ID, "trend").get_attribute("data-points")), timeout=10, what="trend points")
        check(n >= 3, f"the trend chart draws {n} points")
        check(d.find_elements(By.CSS_SELECTOR, "#trend polyline.series"), "the chart has its value line")
        check(len(d.find_elements(By.CSS_SELECTOR, "#trend line.limit")) == 2, "the chart shows the h and hh limits")
        val = d.find_element(By.ID, "tag-value").text
        check("%LEL" in val, f"the tag page shows the value with its unit: {val}")

        # History search with CSV export.
        d.get(args.url + "/history")
        wait(lambda: d.find_elements(By.CSS_SELECTOR, "#history-results tr[data-seq]"), what="history rows")
        csv_href = d.find_element(By.ID, "csv").get_attribute("href")
        st, h, body = request(args.url, "GET", urllib.parse.urlparse(csv_href).path + "?" + urllib.parse.urlparse(csv_href).query, cookie=cookie)
        check(st == 200 and h["content-type"].startswith("text/csv") and body.decode().startswith("seq,time,tag"), "CSV export")
        d.quit()

        # A viewer sees no ack button, and the API refuses an ack with 403.
        pub.send("plant/t101/gas", 45)
        d = browser()
        browser_login(d, args.url, "vera", "viewer-pw")
        row = wait(lambda: alarm_row(d, "GT-101"), what="the row for the viewer")
        check(not d.find_elements(By.CSS_SELECTOR, "button.ack, button.shelve, button.reset"), "a viewer sees no action buttons")
        st, vcookie, vcsrf, _ = login(args.url, "vera", "viewer-pw")
        st, _, body = request(args.url, "POST", "/api/alarms/GT-101/hh/ack", {}, {"X-CSRF-Token": vcsrf}, vcookie)
        check(st == 403 and json.loads(body)["code"] == "forbidden", f"the API refuses a viewer's ack: {st} {body}")
        d.quit()

        # zh-CN: Chinese labels, chosen by the browser's language.
        d = browser("zh-CN")
        browser_login(d, args.url, "opal", "operator-pw")
        nav = d.find_element(By.ID, "nav").text
        heads = [th.text for th in d.find_elements(By.CSS_SELECTOR, "#alarms th")]
        check("报警" in nav and "重大危险源" in nav, f"the zh-CN page's navigation is Chinese: {nav}")
        check("位号" in heads and "级别" in heads, f"the zh-CN alarm list has Chinese headings: {heads}")
        check(d.execute_script("return document.documentElement.lang") == "zh-CN", "the page says lang=zh-CN")
        d.quit()
        d = None
    finally:
        if d:
            d.quit()
        pub.close()
        daemon.stop()


def suite_security():
    daemon = Daemon(args.config, args.url, os.path.dirname(args.config) + "/hazmon.log")
    try:
        daemon.start()
        # No session: 401 on every API route (unknown ones too), pages go to /login.
        for method, path in [("GET", "/api/snapshot"), ("GET", "/api/events"), ("GET", "/api/events.csv"), ("GET", "/api/stream"),
                             ("GET", "/api/tags"), ("GET", "/api/tags/GT-101"), ("GET", "/api/me"), ("POST", "/api/logout"),
                             ("POST", "/api/alarms/GT-101/hh/ack"), ("POST", "/api/alarms/GT-101/hh/shelve"),
                             ("POST", "/api/alarms/GT-101/hh/unshelve"), ("POST", "/api/alarms/GT-101/hh/reset"),
                             ("POST", "/api/sources/S1/mode"), ("GET", "/api/nothing-here"), ("DELETE", "/api/snapshot")]:
            st, _, body = request(args.url, method, path, {} if method == "POST" else None)
            check(st == 401 and json.loads(body)["code"] == "no_session", f"{method} {path} without a session: {st}")
        for path in ["/", "/sources", "/history", "/tags/GT-101"]:
            st, h, _ = request(args.url, "GET", path)
            check(st == 303 and h.get("location") == "/login", f"GET {path} without a session redirects to /login ({st})")
        st, h, body = request(args.url, "GET", "/login")
        check(st == 200 and "default-src 'self'" in h.get("content-security-policy", ""), "the login page is served with a strict CSP")

        # Session cookie flags (plain HTTP: no Secure).
        st, cookie, csrf, h = login(args.url, "opal", "operator-pw")
        flags = [f.strip() for f in h["set-cookie"].split(";")]
        check(st == 200 and "HttpOnly" in flags and "SameSite=Strict" in flags and "Path=/" in flags, f"cookie flags: {flags}")
        check("Secure" not in flags, "no Secure flag over plain HTTP (the browser would drop the cookie)")

        # CSRF: a POST with the session cookie but without (or with a wrong) token is refused.
        for hdrs, what in [({}, "without"), ({"X-CSRF-Token": "0" * 64}, "with a wrong")]:
            st, _, body = request(args.url, "POST", "/api/alarms/GT-101/hh/ack", {}, hdrs, cookie)
            check(st == 403 and json.loads(body)["code"] == "csrf", f"a forged POST {what} X-CSRF-Token: {st}")
        st, _, body = request(args.url, "POST", "/api/alarms/GT-101/hh/ack", {}, {"X-CSRF-Token": csrf}, cookie)
        check(st == 404 and json.loads(body)["code"] == "no_such_alarm", f"with the token it reaches the engine: {st} {body}")
        # Login takes JSON only (a cross-site form cannot send it), bounded, strict.
        st, _, _ = request(args.url, "POST", "/api/login", b"name=opal&password=operator-pw",
                           {"Content-Type": "application/x-www-form-urlencoded"})
        check(st == 415, f"a form-encoded login is refused ({st})")
        st, _, body = request(args.url, "POST", "/api/login", b"{\"name\":", {"Content-Type": "application/json"})
        check(st == 400 and json.loads(body)["code"] == "bad_json", f"broken JSON: {st}")
        st, _, body = request(args.url, "POST", "/api/login", b"{\"name\":\"a\",\"name\":\"b\",\"password\":\"x\"}")
        check(st == 400 and "twice" in json.loads(body)["message"], f"a key given twice: {st}")
        st, _, _ = request(args.url, "POST", "/api/login", b"{\"name\":\"" + b"x" * 10000 + b"\"}")
        check(st == 413, f"an oversized body: {st}")

        # Five wrong passwords lock the name for a minute, even for the right password.
        for i in range(5):
            st, _, _, _ = login(args.url, "opal", "wrong-%d" % i)
            check(st in (401, 429), f"wrong password {i + 1}: {st}")
        st, c2, _, _ = login(args.url, "opal", "operator-pw")
        check(st == 429 and c2 is None, f"after five failures the right password is locked out too ({st})")
        st, c3, _, _ = login(args.url, "vera", "viewer-pw")
        check(st == 200, "another name is not locked")
        # The old session still works (the lock is on logging in).
        st, _, _ = request(args.url, "GET", "/api/me", cookie=cookie)
        check(st == 200, "a live session is not ended by the lock")
        # Logout ends the session.
        st, _, _ = request(args.url, "POST", "/api/logout", {}, {"X-CSRF-Token": csrf}, cookie)
        st2, _, _ = request(args.url, "GET", "/api/me", cookie=cookie)
        check(st == 200 and st2 == 401, f"after logout the cookie is dead ({st}, {st2})")

        # Path traversal on static files: never a file from disk.
        for path in ["/static/../../../../etc/passwd", "/static/..%2f..%2f..%2fetc%2fpasswd", "/static/console.js/../../Package.swift",
                     "/static/%2e%2e/%2e%2e/etc/passwd", "/static/", "/static/console.js%00.png", "//etc/passwd"]:
            st, _, body = request(args.url, "GET", path, cookie=c3)
            check(st in (303, 400, 401, 404) and b"root:" not in body and b"PackageDescription" not in body,
                  f"GET {path}: {st}, no file content")
        st, h, body = request(args.url, "GET", "/static/console.js")
        check(st == 200 and h["content-type"].startswith("text/javascript") and b"EventSource" in body, "the console's own script is served")
        # Nothing from elsewhere: the pages name no other origin.
        st, _, body = request(args.url, "GET", "/", cookie=c3)
        check(b"http://" not in body and b"https://" not in body, "the page loads nothing from another origin")
        # A user removed from the users file is logged out at the next request.
        users = os.path.dirname(args.config) + "/users.toml"
        subprocess.run([args.hazmon, "user", "remove", "vera", "--users-file", users], check=True, capture_output=True)
        st, _, _ = request(args.url, "GET", "/api/me", cookie=c3)
        check(st == 401, f"a removed user's session ends at once ({st})")
    finally:
        daemon.stop()

    # Under TLS the cookie is Secure.
    if args.tls_config:
        tls = Daemon(args.tls_config, args.tls_url, os.path.dirname(args.tls_config) + "/hazmon-tls.log")
        try:
            tls.start()
            st, _, _, h = login(args.tls_url, "opal", "operator-pw")
            flags = [f.strip() for f in h["set-cookie"].split(";")]
            check(st == 200 and "Secure" in flags and "HttpOnly" in flags, f"under TLS the cookie is Secure: {flags}")
        finally:
            tls.stop()


def suite_screenshot():
    """The demo's alarm list, as the README shows it (the demo is started by the caller)."""
    from selenium.webdriver.common.by import By
    deadline = time.time() + 60
    while True:
        try:
            if request(args.url, "GET", "/login")[0] == 200:
                break
        except OSError:
            pass
        if time.time() > deadline:
            fail("the demo's console never answered")
        time.sleep(0.2)
    d = browser()
    try:
        browser_login(d, args.url, "operator", "operator")
        # The farm's 2oo3 vote (grade 1, red) comes about half a minute into the script.
        wait(lambda: d.find_elements(By.CSS_SELECTOR, "tr.alarm.grade-1"), timeout=90, what="the demo's red vote alarm")
        time.sleep(1.5)
        # A still picture cannot blink: the animations are ended, so every row shows its colour.
        d.execute_script("document.getAnimations().forEach(a => a.cancel())")
        d.save_screenshot(args.screenshot)
        check(os.path.getsize(args.screenshot) > 10000, f"screenshot written to {args.screenshot}")
    finally:
        d.quit()


def main():
    global args
    p = argparse.ArgumentParser()
    p.add_argument("--suite", required=True, choices=["browser", "security", "screenshot"])
    p.add_argument("--hazmon")
    p.add_argument("--config")
    p.add_argument("--url", required=True)
    p.add_argument("--broker-port", type=int)
    p.add_argument("--tls-config")
    p.add_argument("--tls-url")
    p.add_argument("--ca")
    p.add_argument("--screenshot")
    args = p.parse_args()
    {"browser": suite_browser, "security": suite_security, "screenshot": suite_screenshot}[args.suite]()
    print("PASS", args.suite, flush=True)


if __name__ == "__main__":
    main()
