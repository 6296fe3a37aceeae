extension ConsoleAssets {
    /// The console's only script: no framework, nothing from elsewhere. It reads the JSON API
    /// (spec §10) and follows `/api/stream`; every page is drawn from those.
    static let script = #"""
    "use strict";
    const LANG = document.documentElement.lang === "zh-CN" ? "zh-CN" : "en";
    const T = {
      "en": {
        alarms: "Alarms", sources: "Hazard sources", history: "History", logout: "Log out", login: "Log in",
        name: "Name", password: "Password", wrong: "Wrong name or password.", locked: "Locked: too many failed logins. Try again in a minute.",
        time: "Since", tag: "Tag", desc: "Description", condition: "Condition", grade: "Grade", state: "State", value: "Value",
        limit: "Limit", quality: "Quality", actions: "Actions", ack: "Acknowledge", shelve: "Shelve", unshelve: "Unshelve", reset: "Reset",
        none: "No active alarms.", offline: "Live connection to hazmon lost: reconnecting…", flood: "Alarm flood: more alarms than an operator can handle. Deal with the most severe first.",
        fault: "instrument", reason: "Reason", duration: "For", cancel: "Cancel", ok: "OK", mute: "Mute tone", unmute: "Tone on",
        unack: "unacknowledged", acked: "acknowledged", rtn_unack: "returned, unacknowledged", normal: "normal", shelved: "shelved until",
        latched: "latched", event: "Event", user: "User", note: "Note", events: "Events", trend: "Trend", search: "Search", csv: "Export CSV",
        from: "From", until: "Until", any: "any", level: "Level", r: "R", worst: "Worst alarm", tags: "Tags", limits: "Limits",
        noevents: "No events match.", lang: "中文", role: "role", unknownTag: "No such tag.", mode: "Mode",
        grades: { 1: "1 red", 2: "2 orange", 3: "3 yellow", 4: "4 blue" }
      },
      "zh-CN": {
        alarms: "报警", sources: "重大危险源", history: "历史", logout: "退出", login: "登录",
        name: "用户名", password: "密码", wrong: "用户名或密码错误。", locked: "登录失败次数过多，已锁定，请一分钟后再试。",
        time: "开始时间", tag: "位号", desc: "描述", condition: "报警类型", grade: "级别", state: "状态", value: "当前值",
        limit: "报警值", quality: "质量", actions: "操作", ack: "确认", shelve: "搁置", unshelve: "取消搁置", reset: "复位",
        none: "当前没有报警。", offline: "与 hazmon 的实时连接已断开，正在重连…", flood: "报警泛滥：报警数量超出操作员处理能力，请先处理最高级别报警。",
        fault: "仪表故障", reason: "原因", duration: "时长", cancel: "取消", ok: "确定", mute: "静音", unmute: "开启提示音",
        unack: "未确认", acked: "已确认", rtn_unack: "已恢复未确认", normal: "正常", shelved: "搁置至",
        latched: "已锁存", event: "事件", user: "用户", note: "备注", events: "事件", trend: "趋势", search: "查询", csv: "导出 CSV",
        from: "起", until: "止", any: "全部", level: "级别", r: "R 值", worst: "最高报警", tags: "位号", limits: "报警设定值",
        noevents: "没有符合条件的事件。", lang: "English", role: "角色", unknownTag: "没有这个位号。", mode: "工况",
        grades: { 1: "一级 红色", 2: "二级 橙色", 3: "三级 黄色", 4: "四级 蓝色" }
      }
    }[LANG];
    const CONDITIONS = { h: ["high", "高报"], hh: ["high-high", "高高报"], l: ["low", "低报"], ll: ["low-low", "低低报"],
      rate: ["rate of change", "变化率"], trend: ["trend", "趋势预报"], stale: ["no data", "数据中断"], fault: ["sensor fault", "传感器故障"],
      comm: ["communication", "通讯故障"], vote: ["vote", "表决"], flood: ["alarm flood", "报警泛滥"] };
    const FAULTS = new Set(["fault", "comm", "stale"]);
    let ME = null, ZONE = undefined;

    function cond(c) { const n = CONDITIONS[c]; return n ? n[LANG === "zh-CN" ? 1 : 0] : c; }
    function el(tag, attrs, ...kids) {
      const e = document.createElement(tag);
      for (const [k, v] of Object.entries(attrs || {})) {
        if (k === "class") e.className = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
        else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v);
      }
      for (const k of kids.flat()) if (k !== null && k !== undefined) e.append(k instanceof Node ? k : String(k));
      return e;
    }
    function fmtTime(iso) {
      if (!iso) return "";
      const d = new Date(iso);
      return new Intl.DateTimeFormat(LANG, { timeZone: ZONE, year: "numeric", month: "2-digit", day: "2-digit",
        hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false }).format(d);
    }
    function fmtValue(v, unit) { return v === null || v === undefined ? "—" : (Math.round(v * 1000) / 1000) + (unit ? " " + unit : ""); }
    async function api(path, opts) {
      const o = Object.assign({ headers: {} }, opts || {});
      if (o.method === "POST") { o.headers["X-CSRF-Token"] = ME ? ME.csrf : ""; o.headers["Content-Type"] = "application/json"; }
      const r = await fetch(path, o);
      if (r.status === 401 && location.pathname !== "/login") { location.href = "/login"; throw new Error("no session"); }
      const body = await r.json().catch(() => ({}));
      if (!r.ok) { const e = new Error(body.message || r.statusText); e.code = body.code; e.status = r.status; throw e; }
      return body;
    }
    function banner(kind, text) {
      const box = document.getElementById("banners");
      let b = box.querySelector(".banner." + kind);
      if (text && !b) { box.append(el("div", { class: "banner " + kind, id: "banner-" + kind }, text)); }
      if (!text && b) b.remove();
    }

    // Header: pages, user, language, tone.
    function header() {
      const page = document.body.dataset.page;
      const nav = document.getElementById("nav");
      for (const [href, key, p] of [["/", "alarms", "alarms"], ["/sources", "sources", "sources"], ["/history", "history", "history"]]) {
        nav.append(el("a", { href, class: page === p ? "here" : "" }, T[key]));
      }
      const who = document.getElementById("who");
      const muted = () => localStorage.getItem("hazmon.mute") === "1";
      const tone = el("button", { id: "tone", onclick: () => { localStorage.setItem("hazmon.mute", muted() ? "0" : "1"); tone.textContent = muted() ? T.unmute : T.mute; } },
        muted() ? T.unmute : T.mute);
      who.append(el("span", {}, `${ME.user} (${ME.role})`), tone,
        el("button", { id: "lang", onclick: () => { document.cookie = "lang=" + (LANG === "zh-CN" ? "en" : "zh-CN") + "; path=/; SameSite=Strict"; location.reload(); } }, T.lang),
        el("button", { id: "logout", onclick: async () => { await api("/api/logout", { method: "POST" }); location.href = "/login"; } }, T.logout));
    }

    // A short tone for a new grade 1 or 2 alarm, unless muted in this browser.
    let audio = null;
    function beep() {
      if (localStorage.getItem("hazmon.mute") === "1") return;
      try {
        audio = audio || new AudioContext();
        const o = audio.createOscillator(), g = audio.createGain();
        o.frequency.value = 880; g.gain.value = 0.15; o.connect(g); g.connect(audio.destination);
        o.start(); o.stop(audio.currentTime + 0.4);
      } catch (e) { /* no audio device */ }
    }

    // The live stream: every event after `since`, then live. The browser resumes a dropped
    // stream itself (sending Last-Event-ID); when it gives up (the daemon answered with an
    // error while restarting) a new stream starts from the last seq seen. `window.hazmonSeen`
    // keeps the last 10,000 seqs received, for diagnosis (and the browser tests).
    window.hazmonSeen = [];
    function follow(since, onEvent) {
      let last = since;
      function open() {
        const es = new EventSource("/api/stream" + (last !== undefined ? "?since=" + last : ""));
        es.onopen = () => banner("offline", null);
        es.onerror = () => {
          banner("offline", T.offline);
          if (es.readyState === EventSource.CLOSED) setTimeout(open, 2000);
        };
        es.onmessage = (m) => {
          const seq = Number(m.lastEventId);
          if (last !== undefined && seq <= last) return;
          last = seq;
          window.hazmonSeen.push(seq);
          if (window.hazmonSeen.length > 10000) window.hazmonSeen.shift();
          try { onEvent(JSON.parse(m.data), seq); } catch (e) { console.error(e); }
        };
        es.addEventListener("bye", () => banner("offline", T.offline));
        window.hazmonStream = es;
      }
      open();
    }

    // ---- the alarm list ----
    async function alarmsPage() {
      const main = document.getElementById("main");
      let pending = false, again = false, lastSeq = 0;
      async function refresh() {
        if (pending) { again = true; return; }
        pending = true;
        try { draw(await api("/api/snapshot")); } finally { pending = false; if (again) { again = false; refresh(); } }
      }
      function draw(snap) {
        const rows = snap.alarms.filter(a => a.condition !== "flood");
        const flood = snap.alarms.find(a => a.condition === "flood" && a.active);
        banner("flood", flood ? T.flood : null);
        main.replaceChildren();
        if (!rows.length) { main.append(el("p", { class: "empty", id: "no-alarms" }, T.none)); return; }
        const table = el("table", { id: "alarms" },
          el("tr", {}, [T.time, T.tag, T.desc, T.condition, T.grade, T.value, T.limit, T.state, T.actions].map(h => el("th", {}, h))));
        for (const a of rows) table.append(row(a));
        main.append(table);
      }
      function row(a) {
        const fault = FAULTS.has(a.condition);
        const shelved = !!a.shelved_until;
        const cls = ["alarm", "grade-" + a.grade, a.state === "unack" || a.state === "rtn_unack" ? "unack" : "steady",
          fault ? "fault" : "", shelved ? "shelved" : ""].join(" ");
        const tr = el("tr", { class: cls, "data-tag": a.tag, "data-condition": a.condition, "data-state": a.state, "data-grade": a.grade,
          style: fault ? `--gc: var(--${a.color})` : null });
        const state = T[a.state] + (shelved ? ` · ${T.shelved} ${fmtTime(a.shelved_until)}` : "") + (a.latched ? ` · ${T.latched}` : "");
        tr.append(el("td", {}, fmtTime(a.since)), el("td", {}, el("a", { href: "/tags/" + encodeURIComponent(a.tag) }, a.tag)),
          el("td", {}, a.name), el("td", {}, cond(a.condition), fault ? [" ", el("span", { class: "kind" }, T.fault)] : null),
          el("td", {}, T.grades[a.grade]), el("td", {}, fmtValue(a.value, a.unit)), el("td", {}, fmtValue(a.limit, a.unit)),
          el("td", { class: "state" }, state), actions(a));
        return tr;
      }
      function actions(a) {
        const td = el("td", { class: "actions" });
        if (ME.role === "viewer") return td;
        const act = async (what, body) => {
          try { await api(`/api/alarms/${encodeURIComponent(a.tag)}/${a.condition}/${what}`, { method: "POST", body: JSON.stringify(body || {}) }); refresh(); }
          catch (e) { alert(e.message); }
        };
        if (a.state === "unack" || a.state === "rtn_unack") td.append(el("button", { class: "ack", onclick: () => act("ack") }, T.ack));
        if (a.shelved_until) td.append(el("button", { class: "unshelve", onclick: () => act("unshelve") }, T.unshelve));
        else td.append(el("button", { class: "shelve", onclick: () => shelveDialog(a, act) }, T.shelve));
        if (a.latched) td.append(el("button", { class: "reset", onclick: () => act("reset") }, T.reset));
        return td;
      }
      function shelveDialog(a, act) {
        const reason = el("input", { name: "reason", required: true, maxlength: 1000 });
        const dur = el("select", { name: "for" }, ["15m", "30m", "1h", "2h", "4h", "8h"].map(d => el("option", { value: d }, d)));
        const err = el("p", { class: "error" });
        const dlg = el("dialog", { id: "shelve-dialog" }, el("form", { method: "dialog" },
          el("h3", {}, `${T.shelve} ${a.tag} ${cond(a.condition)}`),
          el("label", {}, T.duration, " ", dur), el("label", {}, T.reason, " ", reason), err,
          el("button", { value: "cancel", formnovalidate: true }, T.cancel), " ", el("button", { value: "ok", class: "confirm" }, T.ok)));
        dlg.addEventListener("close", () => { if (dlg.returnValue === "ok" && reason.value.trim()) act("shelve", { for: dur.value, note: reason.value.trim() }); dlg.remove(); });
        document.body.append(dlg);
        dlg.showModal();
      }
      await refresh();
      lastSeq = (await api("/api/snapshot")).seq;
      follow(lastSeq, (e) => {
        if ((e.event === "raised" || e.event === "escalated") && e.grade <= 2) beep();
        refresh();
      });
    }

    // ---- hazard sources ----
    async function sourcesPage() {
      const main = document.getElementById("main");
      async function draw() {
        const [snap, tags] = await Promise.all([api("/api/snapshot"), api("/api/tags")]);
        const bySource = {};
        for (const t of tags.tags) if (t.hazard_source) (bySource[t.hazard_source] = bySource[t.hazard_source] || []).push(t);
        main.replaceChildren();
        if (!snap.hazard_sources.length) { main.append(el("p", { class: "empty" }, "—")); return; }
        const table = el("table", { id: "sources" }, el("tr", {}, [T.sources, T.worst, T.level, T.r, T.mode, T.tags].map(h => el("th", {}, h))));
        for (const s of snap.hazard_sources) {
          const own = bySource[s.id] || [];
          let worst = 5;
          for (const t of own) for (const a of t.alarms) if (a.active || a.state !== "normal") worst = Math.min(worst, a.grade);
          const color = { 1: "red", 2: "orange", 3: "yellow", 4: "blue" }[worst] || "none";
          table.append(el("tr", { "data-source": s.id, "data-worst": color },
            el("td", {}, s.name, s.code ? ` (${s.code})` : ""), el("td", {}, el("span", { class: "swatch " + color }), " ", worst < 5 ? T.grades[worst] : T.normal),
            el("td", {}, s.level ? String(s.level) : "—"), el("td", {}, s.r === null || s.r === undefined ? "—" : s.r.toFixed(2)),
            el("td", {}, s.mode || ""), el("td", {}, own.map((t, i) => [i ? ", " : "", el("a", { href: "/tags/" + encodeURIComponent(t.id) }, t.id)]))));
        }
        main.append(table);
      }
      await draw();
      let timer = null;
      follow((await api("/api/snapshot")).seq, () => { if (!timer) timer = setTimeout(() => { timer = null; draw(); }, 300); });
    }

    // ---- one tag ----
    async function tagPage() {
      const main = document.getElementById("main");
      const id = decodeURIComponent(location.pathname.slice("/tags/".length));
      let tag;
      try { tag = await api("/api/tags/" + encodeURIComponent(id)); } catch (e) { main.append(el("p", { class: "error" }, T.unknownTag)); return; }
      const points = [];   // [ms, value]
      const evs = await api(`/api/events?tag=${encodeURIComponent(id)}&newest=1&limit=500`);
      for (const e of evs.events) if (typeof e.value === "number") points.push([Date.parse(e.time), e.value]);
      const info = el("div", { class: "card" }), chart = el("div", { class: "card" }), events = el("div", { class: "card" });
      main.append(el("h2", {}, `${tag.id} · ${tag.name}`), info, el("h3", {}, T.trend), chart, el("h3", {}, T.events), events);
      function drawInfo() {
        const lim = Object.entries(tag.limits).map(([c, v]) => `${cond(c)} ${fmtValue(v, tag.unit)}`).join(" · ") || "—";
        info.replaceChildren(el("div", { class: "grid" },
          el("div", {}, T.value, el("div", { class: "big", id: "tag-value" }, fmtValue(tag.value, tag.unit))),
          el("div", {}, T.quality, el("div", { id: "tag-quality" }, tag.quality)),
          el("div", {}, T.limits, el("div", {}, lim)),
          el("div", {}, T.alarms, el("div", { id: "tag-alarms" }, tag.alarms.length ? tag.alarms.map(a => `${cond(a.condition)} ${T.grades[a.grade]} ${T[a.state]}`).join("; ") : T.normal))));
      }
      function drawChart() { chart.replaceChildren(svgChart(points, tag)); }
      function drawEvents(list) {
        if (!list.length) { events.replaceChildren(el("p", { class: "empty" }, T.noevents)); return; }
        events.replaceChildren(eventTable(list.slice().reverse()));
      }
      let all = evs.events;
      drawInfo(); drawChart(); drawEvents(all);
      async function poll() {
        try {
          tag = await api("/api/tags/" + encodeURIComponent(id));
          if (typeof tag.value === "number" && tag.time) {
            const t = Date.parse(tag.time);
            if (!points.length || points[points.length - 1][0] !== t) points.push([t, tag.value]);
          }
          drawInfo(); drawChart();
        } catch (e) { /* shown by the stream's banner */ }
      }
      await poll();
      setInterval(poll, 2000);
      follow((await api("/api/snapshot")).seq, (e) => {
        if (e.tag !== id) return;
        all = all.concat([e]);
        if (typeof e.value === "number") points.push([Date.parse(e.time), e.value]);
        drawEvents(all); poll();
      });
    }

    function svgChart(points, tag) {
      const NS = "http://www.w3.org/2000/svg", W = 800, H = 260, L = 56, R = 10, TOP = 10, B = 24;
      const svg = document.createElementNS(NS, "svg");
      svg.setAttribute("viewBox", `0 0 ${W} ${H}`); svg.setAttribute("class", "chart"); svg.setAttribute("id", "trend");
      const pts = points.slice().sort((a, b) => a[0] - b[0]);
      svg.setAttribute("data-points", String(pts.length));
      if (!pts.length) return svg;
      const limits = Object.entries(tag.limits);
      const ys = pts.map(p => p[1]).concat(limits.map(l => l[1]));
      let y0 = Math.min(...ys), y1 = Math.max(...ys); if (y0 === y1) { y0 -= 1; y1 += 1; }
      const pad = (y1 - y0) * 0.08; y0 -= pad; y1 += pad;
      const x0 = pts[0][0], x1 = Math.max(pts[pts.length - 1][0], x0 + 1000);
      const sx = t => L + (t - x0) / (x1 - x0) * (W - L - R), sy = v => TOP + (y1 - v) / (y1 - y0) * (H - TOP - B);
      const add = (name, attrs, text) => { const e = document.createElementNS(NS, name); for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v); if (text) e.textContent = text; svg.append(e); return e; };
      add("line", { x1: L, y1: TOP, x2: L, y2: H - B, stroke: "#999" });
      add("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#999" });
      for (const v of [y0 + pad, (y0 + y1) / 2, y1 - pad]) add("text", { x: 4, y: sy(v) + 4 }, (Math.round(v * 100) / 100).toString());
      add("text", { x: L, y: H - 6 }, fmtTime(new Date(x0).toISOString()));
      add("text", { x: W - R - 150, y: H - 6 }, fmtTime(new Date(x1).toISOString()));
      const colors = { hh: "#f57c00", h: "#fbc02d", l: "#fbc02d", ll: "#f57c00" };
      for (const [c, v] of limits) {
        add("line", { x1: L, x2: W - R, y1: sy(v), y2: sy(v), class: "limit", stroke: colors[c] || "#999" });
        add("text", { x: W - R - 40, y: sy(v) - 3 }, cond(c));
      }
      add("polyline", { class: "series", points: pts.map(p => `${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(" ") });
      return svg;
    }

    function eventTable(list) {
      const table = el("table", { class: "events" },
        el("tr", {}, ["seq", T.time, T.tag, T.condition, T.event, T.grade, T.value, T.state, T.user, T.note].map(h => el("th", {}, h))));
      for (const e of list) {
        table.append(el("tr", { "data-seq": e.seq, class: "grade-" + e.grade },
          el("td", {}, e.seq), el("td", {}, fmtTime(e.time)), el("td", {}, el("a", { href: "/tags/" + encodeURIComponent(e.tag) }, e.tag)),
          el("td", {}, cond(e.condition)), el("td", {}, e.event), el("td", {}, T.grades[e.grade] || e.grade),
          el("td", {}, fmtValue(e.value, e.unit)), el("td", {}, T[e.state] || e.state), el("td", {}, e.user || ""), el("td", {}, e.note || "")));
      }
      return table;
    }

    // ---- history search ----
    async function historyPage() {
      const main = document.getElementById("main");
      const field = (name, label, input) => el("label", {}, label, input || el("input", { name }));
      const sel = (name, opts) => el("select", { name }, el("option", { value: "" }, T.any), opts.map(([v, t]) => el("option", { value: v }, t)));
      const form = el("form", { class: "search", id: "history-form" },
        field("tag", T.tag), field("condition", T.condition, sel("condition", Object.keys(CONDITIONS).map(c => [c, cond(c)]))),
        field("grade", T.grade, sel("grade", [1, 2, 3, 4].map(g => [g, T.grades[g]]))),
        field("event", T.event, sel("event", ["raised", "escalated", "deescalated", "cleared", "acknowledged", "shelved", "unshelved",
          "suppressed", "unsuppressed", "reset", "predicted", "flood_start", "flood_end"].map(e => [e, e]))),
        field("from", T.from, el("input", { name: "from", type: "datetime-local" })), field("until", T.until, el("input", { name: "until", type: "datetime-local" })),
        el("button", { type: "submit" }, T.search), el("a", { id: "csv", href: "/api/events.csv" }, T.csv));
      const out = el("div", { id: "history-results" });
      main.append(form, out);
      function query() {
        const p = new URLSearchParams();
        for (const [k, v] of new FormData(form)) if (v) p.set(k, k === "from" || k === "until" ? v.replace("T", " ") : v);
        return p;
      }
      async function search(ev) {
        if (ev) ev.preventDefault();
        const p = query();
        document.getElementById("csv").href = "/api/events.csv?" + p;
        p.set("newest", "1"); p.set("limit", "1000");
        try {
          const r = await api("/api/events?" + p);
          out.replaceChildren(r.events.length ? eventTable(r.events.slice().reverse()) : el("p", { class: "empty" }, T.noevents));
        } catch (e) { out.replaceChildren(el("p", { class: "error" }, e.message)); }
      }
      form.addEventListener("submit", search);
      await search();
    }

    // ---- login ----
    function loginPage() {
      document.getElementById("nav").remove();
      const name = el("input", { name: "name", id: "name", autocomplete: "username", required: true });
      const pw = el("input", { name: "password", id: "password", type: "password", autocomplete: "current-password", required: true });
      const err = el("p", { class: "error", id: "login-error" });
      const form = el("form", { class: "login card", id: "login" }, el("h2", {}, T.login),
        el("label", {}, T.name, name), el("label", {}, T.password, pw), err, el("button", { type: "submit", id: "login-button" }, T.login),
        " ", el("button", { type: "button", onclick: () => { document.cookie = "lang=" + (LANG === "zh-CN" ? "en" : "zh-CN") + "; path=/; SameSite=Strict"; location.reload(); } }, T.lang));
      form.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        const r = await fetch("/api/login", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ name: name.value, password: pw.value }) });
        if (r.ok) { location.href = "/"; return; }
        const b = await r.json().catch(() => ({}));
        err.textContent = b.code === "locked" ? T.locked : T.wrong;
      });
      document.getElementById("main").append(form);
    }

    async function start() {
      const page = document.body.dataset.page;
      if (page === "login") { loginPage(); return; }
      ME = await api("/api/me");
      ZONE = ME.timezone;
      header();
      await ({ alarms: alarmsPage, sources: sourcesPage, tag: tagPage, history: historyPage }[page])();
      document.body.dataset.ready = "1";
    }
    start();
    """#
}
