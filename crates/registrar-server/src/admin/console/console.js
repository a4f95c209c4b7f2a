// The registrar operator console: plain JavaScript over the admin API, nothing fetched from elsewhere.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const state = {
    token: sessionStorage.getItem("registrar-token") || "",
    selected: null,
    next: null,
    query: "",
    bindings: [],
    stream: null,
    series: { requests: {}, answers: {}, active: {}, notify: {} },
  };
  const POINTS = 60;
  const COLORS = ["#1f5fbf", "#c2410c", "#15803d", "#7e22ce", "#b91c1c", "#0e7490", "#a16207", "#4d7c0f"];

  function status(text) { $("status").textContent = text; }

  async function api(method, path, body) {
    const headers = {};
    if (state.token) headers.Authorization = "Bearer " + state.token;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    if (r.status === 401 || r.status === 403) {
      const e = await r.json().catch(() => ({ error: r.statusText }));
      signOut(e.error || "not allowed");
      throw new Error("not allowed");
    }
    return r;
  }

  // ----- signing in -----
  async function signIn(token) {
    state.token = token;
    $("login-error").textContent = "";
    try {
      const r = await api("GET", "/v1/registrations?limit=1");
      if (!r.ok) throw new Error("HTTP " + r.status);
    } catch (e) {
      if (!$("login-error").textContent) $("login-error").textContent = "Sign-in failed: " + e.message;
      return;
    }
    sessionStorage.setItem("registrar-token", token);
    $("login").hidden = true;
    $("app").hidden = false;
    $("signout").hidden = false;
    status("Signed in");
    search("");
    startStream();
    $("search").focus();
  }

  function signOut(reason) {
    sessionStorage.removeItem("registrar-token");
    state.token = "";
    if (state.stream) { state.stream.abort(); state.stream = null; }
    $("app").hidden = true;
    $("signout").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = reason || "";
    status("Not signed in");
    $("token").focus();
  }

  $("login-form").addEventListener("submit", (e) => { e.preventDefault(); signIn($("token").value.trim()); });
  $("signout").addEventListener("click", () => signOut("Signed out"));

  // ----- registrations -----
  async function search(q, more) {
    state.query = q;
    let path = "/v1/registrations?limit=50";
    if (q) path += "&q=" + encodeURIComponent(q);
    if (more && state.next) path += "&after=" + encodeURIComponent(state.next);
    const r = await api("GET", path);
    const page = await r.json();
    const list = $("results");
    if (!more) list.textContent = "";
    for (const u of page.users) {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = u.aor + " — " + u.bindings + (u.bindings === 1 ? " binding" : " bindings");
      b.dataset.aor = u.aor;
      b.addEventListener("click", () => select(u.aor));
      li.appendChild(b);
      list.appendChild(li);
    }
    if (!more && page.users.length === 0) {
      const li = document.createElement("li");
      li.textContent = q ? "Nobody registered matches “" + q + "”." : "Nobody is registered.";
      list.appendChild(li);
    }
    state.next = page.next || null;
    $("results-more").hidden = !state.next;
  }

  $("search-form").addEventListener("submit", (e) => { e.preventDefault(); search($("search").value.trim()); });
  $("more").addEventListener("click", () => search(state.query, true));

  function cell(row, text) {
    const td = document.createElement("td");
    td.textContent = text == null || text === "" ? "—" : String(text);
    row.appendChild(td);
    return td;
  }

  function remaining(at) {
    const s = Math.max(0, Math.round(at - Date.now() / 1000));
    if (s >= 3600) return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
    if (s >= 60) return Math.floor(s / 60) + " min " + (s % 60) + " s";
    return s + " s";
  }

  async function select(aor) {
    state.selected = aor;
    $("user").hidden = false;
    $("user-aor").textContent = aor;
    await refreshUser();
    $("unregister").focus();
  }

  async function refreshUser() {
    const aor = state.selected;
    if (!aor) return;
    const enc = encodeURIComponent(aor);
    const [reg, pres, watch, subs] = await Promise.all([
      api("GET", "/v1/registrations/" + enc).then((r) => r.json()),
      api("GET", "/v1/presence/" + enc).then((r) => r.text()),
      api("GET", "/v1/watchers/" + enc).then((r) => r.json()),
      api("GET", "/v1/subscriptions?watcher=" + enc).then((r) => r.json()),
    ]);
    if (aor !== state.selected) return;
    // Bindings, with their expiry counting down.
    state.bindings = reg.bindings || [];
    const tbody = $("bindings").querySelector("tbody");
    tbody.textContent = "";
    for (const b of state.bindings) {
      const tr = document.createElement("tr");
      cell(tr, b.contact);
      cell(tr, b.source);
      cell(tr, b.transport);
      cell(tr, b.user_agent);
      const td = cell(tr, remaining(b.expires_at));
      td.className = "countdown";
      td.dataset.at = b.expires_at;
      tbody.appendChild(tr);
    }
    $("no-bindings").hidden = state.bindings.length > 0;
    $("bindings").hidden = state.bindings.length === 0;
    $("unregister").disabled = state.bindings.length === 0;
    // Presence: each tuple's basic status and notes.
    $("presence-xml").textContent = pres;
    $("presence-summary").textContent = summarize(pres);
    // Watchers and subscriptions.
    fillSubs($("watchers").querySelector("tbody"), watch.watchers || [], "watcher");
    fillSubs($("subscriptions").querySelector("tbody"), subs || [], "presentity");
  }

  function fillSubs(tbody, list, who) {
    tbody.textContent = "";
    if (list.length === 0) {
      const tr = document.createElement("tr");
      const td = cell(tr, "none");
      td.colSpan = 4;
      tbody.appendChild(tr);
      return;
    }
    for (const s of list) {
      const tr = document.createElement("tr");
      cell(tr, s[who]);
      cell(tr, s.event);
      cell(tr, s.state);
      cell(tr, s.expires + " s");
      tbody.appendChild(tr);
    }
  }

  function summarize(xml) {
    const doc = new DOMParser().parseFromString(xml, "application/xml");
    const tuples = Array.from(doc.getElementsByTagNameNS("*", "tuple"));
    const parts = tuples.map((t) => {
      const basic = t.getElementsByTagNameNS("*", "basic")[0];
      const notes = Array.from(t.getElementsByTagNameNS("*", "note")).map((n) => n.textContent.trim()).filter(Boolean);
      return (basic ? basic.textContent.trim() : "unknown") + (notes.length ? " — " + notes.join("; ") : "");
    });
    const activities = Array.from(doc.getElementsByTagNameNS("*", "activities"))
      .flatMap((a) => Array.from(a.children).map((c) => c.localName));
    if (activities.length) parts.push("activity: " + activities.join(", "));
    return parts.length ? parts.join(" · ") : "No presence published.";
  }

  $("unregister").addEventListener("click", async () => {
    const aor = state.selected;
    if (!aor) return;
    const r = await api("DELETE", "/v1/registrations/" + encodeURIComponent(aor));
    const body = await r.json().catch(() => ({}));
    status("Unregistered " + aor + " (" + (body.removed ?? 0) + " removed)");
    await refreshUser();
    await search(state.query);
  });

  setInterval(() => {
    for (const td of document.querySelectorAll("td.countdown")) td.textContent = remaining(Number(td.dataset.at));
  }, 1000);

  // ----- live figures (server-sent events read with fetch, so the token goes in a header) -----
  async function startStream() {
    if (state.stream) state.stream.abort();
    const ctrl = new AbortController();
    state.stream = ctrl;
    try {
      const headers = state.token ? { Authorization: "Bearer " + state.token } : {};
      const r = await fetch("/v1/console/stream", { headers, signal: ctrl.signal });
      if (!r.ok) throw new Error("HTTP " + r.status);
      const reader = r.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("\n");
          if (data) onFigures(JSON.parse(data));
        }
      }
    } catch (e) {
      if (ctrl.signal.aborted) return;
    }
    if (state.stream === ctrl && state.token !== null && !$("app").hidden) {
      status("Live figures interrupted; reconnecting…");
      setTimeout(startStream, 2000);
    }
  }

  function push(group, name, value) {
    const s = (state.series[group][name] = state.series[group][name] || []);
    s.push(value);
    if (s.length > POINTS) s.shift();
  }

  function onFigures(f) {
    status("Live · updated " + new Date(f.at * 1000).toLocaleTimeString());
    $("tile-registrations").textContent = Math.round(f.registrations);
    $("tile-subscriptions").textContent = Math.round(f.subscriptions);
    $("tile-notify-failed").textContent = f.notify_failed.toFixed(2);
    $("tile-storage").textContent = f.storage_p95 == null ? "—" : (f.storage_p95 * 1000).toFixed(2) + " ms";
    for (const [m, v] of Object.entries(f.requests)) push("requests", m, v);
    for (const [c, v] of Object.entries(f.answers)) push("answers", c, v);
    push("active", "registrations", f.registrations);
    push("active", "subscriptions", f.subscriptions);
    push("notify", "sent/s", f.notify_sent);
    push("notify", "failed/s", f.notify_failed);
    push("notify", "storage p95 ms", f.storage_p95 == null ? 0 : f.storage_p95 * 1000);
    draw("requests");
    draw("answers");
    draw("active");
    draw("notify");
    if (state.selected) refreshUser().catch(() => {});
  }

  function draw(group) {
    const canvas = $("chart-" + group);
    const ctx = canvas.getContext("2d");
    const w = canvas.width, h = canvas.height, pad = 24;
    ctx.clearRect(0, 0, w, h);
    const entries = Object.entries(state.series[group]).sort(([a], [b]) => a.localeCompare(b));
    let max = 1;
    for (const [, s] of entries) for (const v of s) max = Math.max(max, v);
    ctx.strokeStyle = "#d9dee5";
    ctx.fillStyle = "#5b6675";
    ctx.font = "11px system-ui, sans-serif";
    ctx.beginPath();
    ctx.moveTo(pad, 4); ctx.lineTo(pad, h - pad); ctx.lineTo(w - 4, h - pad);
    ctx.stroke();
    ctx.fillText(max.toFixed(max < 10 ? 1 : 0), 2, 12);
    ctx.fillText("0", 2, h - pad);
    const legend = $("legend-" + group);
    legend.textContent = "";
    entries.forEach(([name, s], i) => {
      const color = COLORS[i % COLORS.length];
      ctx.strokeStyle = color;
      ctx.lineWidth = 2;
      ctx.beginPath();
      s.forEach((v, j) => {
        const x = pad + ((w - pad - 4) * (j + POINTS - s.length)) / (POINTS - 1);
        const y = h - pad - ((h - pad - 6) * v) / max;
        if (j === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
      });
      ctx.stroke();
      const li = document.createElement("li");
      const sw = document.createElement("span");
      sw.className = "swatch";
      sw.style.background = color;
      li.appendChild(sw);
      li.appendChild(document.createTextNode(name + " " + (s[s.length - 1] ?? 0).toFixed(1)));
      legend.appendChild(li);
    });
  }

  // A token kept from before in this tab signs in again; otherwise the form waits.
  if (state.token) signIn(state.token); else $("token").focus();
})();
