// repox console: plain JavaScript against /-/api/ (docs/admin-api.md). No build step.
"use strict";
const $ = (s, el = document) => el.querySelector(s);
const h = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const bytes = (n) => { if (n == null) return "–"; const u = ["B", "KiB", "MiB", "GiB", "TiB"]; let i = 0; while (n >= 1024 && i < 4) { n /= 1024; i++; } return (i ? n.toFixed(1) : n) + " " + u[i]; };
const pct = (x) => (x * 100).toFixed(1) + " %";
const ago = (t) => { if (!t) return "–"; const s = Math.max(0, Date.now() / 1000 - t); return s < 90 ? Math.round(s) + " s ago" : s < 5400 ? Math.round(s / 60) + " min ago" : s < 172800 ? Math.round(s / 3600) + " h ago" : Math.round(s / 86400) + " d ago"; };
function msg(text, ok) { const m = $("#msg"); if (m) { m.textContent = text; m.className = ok ? "ok" : "err"; } }
async function api(method, path, body) {
  const opts = { method, headers: {} };
  if (method !== "GET") opts.headers["X-Repox-Csrf"] = "1";
  if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
  const r = await fetch("/-/api/" + path, opts);
  const data = await r.json().catch(() => ({ error: "HTTP " + r.status }));
  if (!r.ok) throw new Error(data.error || "HTTP " + r.status);
  return data;
}

// ---- dashboard ----
function chart(history) {
  const max = Math.max(1, ...history.map((m) => m[1]));
  const w = 600, ht = 70, bw = w / history.length;
  let bars = "", line = "";
  history.forEach((m, i) => {
    const bh = (m[1] / max) * (ht - 4);
    bars += `<rect class="req" x="${(i * bw).toFixed(1)}" y="${(ht - bh).toFixed(1)}" width="${(bw - 1).toFixed(1)}" height="${bh.toFixed(1)}"><title>${m[1]} requests</title></rect>`;
    if (m[1]) line += `${line ? "L" : "M"}${(i * bw + bw / 2).toFixed(1)},${(ht - 2 - (m[2] / m[1]) * (ht - 6)).toFixed(1)}`;
  });
  return `<svg class="chart" viewBox="0 0 ${w} ${ht}" preserveAspectRatio="none">${bars}${line ? `<path class="hit" d="${line}"/>` : ""}</svg>`;
}
function renderStats(s) {
  $("#uptime").textContent = Math.round(s.uptime_seconds / 60) + " min";
  $("#cachesize").textContent = bytes(s.cache.bytes) + (s.cache.entries != null ? ` in ${s.cache.entries} entries` : "");
  const cards = Object.entries(s.repositories).map(([name, r]) => `<div class="card" data-repo="${h(name)}">
    <h3>${h(name)} <span class="muted">${h(r.kind)} · ${h(r.path)}</span></h3>
    <dl><dt>requests</dt><dd class="requests">${r.requests}</dd><dt>hit ratio</dt><dd class="ratio">${pct(r.hit_ratio)}</dd>
    <dt>served</dt><dd>${bytes(r.bytes_served)}</dd><dt>fetched upstream</dt><dd>${bytes(r.bytes_fetched)}</dd>
    <dt>saved</dt><dd>${bytes(r.bytes_saved)}</dd><dt>cached</dt><dd>${bytes(r.cache_bytes)}</dd></dl>
    ${chart(r.history)}<div class="muted">requests per minute (bars) and hit ratio (line), last hour</div></div>`).join("");
  $("#repos").innerHTML = cards;
  const ups = Object.values(s.repositories).flatMap((r) => r.upstreams);
  $("#upstreams tbody").innerHTML = ups.map((u) => `<tr><td>${h(u.repository)}</td><td>${h(u.name)}</td><td class="mono">${h(u.url)}</td>
    <td class="n">${u.priority}</td><td class="${h(u.state)}">${h(u.state)}</td><td class="n">${u.requests}</td>
    <td class="n">${u.p50_ms ?? "–"} / ${u.p90_ms ?? "–"} / ${u.p99_ms ?? "–"}</td><td class="n">${pct(u.error_rate)}</td>
    <td>${u.last_error ? `<span class="err">${h(u.last_error)}</span> <span class="muted">${ago(u.last_error_at)}</span>` : "–"}</td>
    <td class="n">${u.negative_entries}</td></tr>`).join("");
}
async function dashboard() {
  const refresh = async () => { try { renderStats(await api("GET", "stats")); } catch (e) { msg(e.message); } };
  await refresh();
  setInterval(refresh, 5000);
  let after = 0;
  const feed = $("#feed tbody");
  for (let i = 0; ; i++) {
    try {
      const r = await api("GET", `requests?after=${after}&limit=50&wait=${i ? 25 : 0}`);
      after = r.last;
      for (const q of r.requests) {
        const tr = document.createElement("tr");
        tr.innerHTML = `<td>${new Date(q.at * 1000).toLocaleTimeString()}</td><td>${h(q.method)}</td><td class="path mono">${h(q.path)}</td>
          <td class="n ${q.status >= 500 ? "err" : ""}">${q.status}</td><td>${h(q.cache)}</td><td>${h(q.upstream ?? "–")}</td>
          <td class="n">${q.ms.toFixed(1)} ms</td><td class="n">${bytes(q.bytes)}</td>`;
        feed.prepend(tr);
      }
      while (feed.rows.length > 200) feed.deleteRow(-1);
      if (r.requests.length) refresh();
    } catch (e) { msg(e.message); await new Promise((ok) => setTimeout(ok, 5000)); }
  }
}

// ---- cache browser ----
async function cachePage() {
  const repoSel = $("#repo"), search = $("#q");
  const params = new URLSearchParams(location.search);
  if (params.get("repo")) repoSel.value = params.get("repo");
  let prefix = params.get("prefix") || "";
  search.value = params.get("q") || "";
  const load = async () => {
    const repo = repoSel.value, q = search.value.trim();
    history.replaceState(null, "", `?repo=${encodeURIComponent(repo)}&prefix=${encodeURIComponent(prefix)}${q ? "&q=" + encodeURIComponent(q) : ""}`);
    const parts = prefix.split("/").filter(Boolean);
    $("#crumbs").innerHTML = `<a data-p="">${h(repo)}</a>/` + parts.map((p, i) => `<a data-p="${h(parts.slice(0, i + 1).join("/") + "/")}">${h(p)}</a>/`).join("");
    try {
      const qs = q ? `q=${encodeURIComponent(q)}&prefix=${encodeURIComponent(prefix)}&limit=500` : `tree=1&prefix=${encodeURIComponent(prefix)}&limit=1000`;
      const r = await api("GET", `cache/${encodeURIComponent(repo)}?${qs}`);
      const dirs = r.dirs.map((d) => `<tr><td colspan="6"><a class="dir" data-p="${h(d)}">${h(d.slice(prefix.length))}</a></td><td><button class="danger purge" data-p="${h(d)}">purge</button></td></tr>`);
      const files = r.entries.map((e) => `<tr data-path="${h(e.path)}"><td class="mono">${h(q ? e.path : e.path.slice(prefix.length))}</td><td class="n">${bytes(e.size)}</td>
        <td>${ago(e.fetched_at)}</td><td>${ago(e.last_access)}</td><td>${h(e.upstream ?? "–")}</td><td>${h(e.verification ?? "–")}</td>
        <td><button class="danger del" data-path="${h(e.path)}">delete</button></td></tr>`);
      $("#entries tbody").innerHTML = dirs.concat(files).join("") || `<tr><td colspan="7" class="muted">nothing cached here</td></tr>`;
      $("#more").textContent = r.next ? "more entries follow: narrow the search or open a directory" : "";
      const up = $("#hosted");
      up.hidden = !r.hosted;
      if (r.hosted) {
        $("#hosted tbody").innerHTML = r.hosted.map((f) => `<tr data-path="${h(f.path)}"><td class="mono">${h(f.path)}</td><td class="n">${bytes(f.size)}</td><td>${ago(f.uploaded)}</td></tr>`).join("")
          || `<tr><td colspan="3" class="muted">nothing uploaded here</td></tr>`;
        $("#hosted-more").textContent = r.hosted_more ? "more files follow: narrow the search" : "";
      }
    } catch (e) { msg(e.message); }
    try {
      const n = await api("GET", `negative/${encodeURIComponent(repo)}?prefix=${encodeURIComponent(prefix)}&limit=200`);
      $("#negative tbody").innerHTML = n.entries.map((e) => `<tr><td class="mono">${h(e.path)}</td><td>${h(e.upstream)}</td><td>${new Date(e.expires_at * 1000).toLocaleString()}</td></tr>`).join("")
        || `<tr><td colspan="3" class="muted">no upstream is remembered to lack anything here</td></tr>`;
    } catch (e) { msg(e.message); }
  };
  document.addEventListener("click", async (ev) => {
    const t = ev.target;
    if (t.dataset.p !== undefined && t.tagName === "A") { prefix = t.dataset.p; search.value = ""; return load(); }
    const repo = encodeURIComponent(repoSel.value);
    try {
      if (t.classList.contains("del")) {
        const path = t.dataset.path;
        const r = await api("DELETE", `cache/${repo}/${path.split("/").map(encodeURIComponent).join("/")}`);
        msg(`deleted ${path} (${bytes(r.bytes)})`, true);
        t.closest("tr").remove();
      } else if (t.classList.contains("purge")) {
        if (!confirm(`Remove everything cached under ${t.dataset.p}?`)) return;
        const r = await api("POST", `cache/${repo}/purge`, { prefix: t.dataset.p });
        msg(`purged ${r.entries} entries (${bytes(r.bytes)})`, true); load();
      } else if (t.id === "purge-project") {
        const project = $("#project").value.trim();
        if (!project || !confirm(`Remove every cached file of ${project}?`)) return;
        const r = await api("POST", `cache/${repo}/purge`, { project });
        msg(`purged ${r.entries} entries (${bytes(r.bytes)})`, true); load();
      } else if (t.id === "clear-negative") {
        const r = await api("DELETE", `negative/${repo}?prefix=${encodeURIComponent(prefix)}`);
        msg(`cleared ${r.cleared} negative-cache entries`, true); load();
      }
    } catch (e) { msg(e.message); }
  });
  repoSel.addEventListener("change", () => { prefix = ""; load(); });
  $("#search").addEventListener("submit", (ev) => { ev.preventDefault(); load(); });
  load();
}

// ---- settings (the contract's /-/api/config, /-/api/server and /-/api/repositories/NAME) ----
const UP_FIELDS = [["name", "text"], ["url", "text"], ["priority", "num"], ["enabled", "bool"], ["head", "bool"],
  ["connect_timeout", "short"], ["idle_timeout", "short"], ["proxy", "text"], ["username", "short"], ["password_env", "short"],
  ["ca_certificates", "text"]];
const REPO_FIELDS = ["metadata_ttl", "index_ttl", "negative_ttl"];
let config = null;
function upRow(u, i) {
  return `<tr data-i="${i}">` + UP_FIELDS.map(([k, t]) => t === "bool"
    ? `<td><input type="checkbox" data-k="${k}" ${u[k] !== false ? "checked" : ""}></td>`
    : `<td><input data-k="${k}" class="${t === "text" ? "" : "short"}" value="${h(u[k] ?? "")}"></td>`).join("")
    + `<td><button class="up-btn" title="move up">↑</button><button class="down-btn" title="move down">↓</button><button class="danger rm-btn">remove</button></td></tr>`;
}
function repoForm(name, r) {
  return `<section class="card" data-repo="${h(name)}"><h3>${h(name)} <span class="muted">${h(r.kind)}</span></h3>
    <div class="bar">${REPO_FIELDS.map((k) => `<label>${k} <input class="short" data-rk="${k}" value="${h(r[k] ?? "")}"></label>`).join("")}
    <label>block <input data-rk="block" value="${h((r.block || []).join(", "))}" placeholder="glob, glob"></label></div>
    <table><thead><tr>${UP_FIELDS.map(([k]) => `<th>${k}</th>`).join("")}<th></th></tr></thead>
    <tbody>${(r.upstreams || []).map(upRow).join("")}</tbody></table>
    <div class="bar"><button class="add-up">add upstream</button><button class="primary save">save ${h(name)}</button>
    <button class="danger rm-repo">remove repository</button></div></section>`;
}
function readRepo(sec) {
  const name = sec.dataset.repo, r = structuredClone(config.repositories[name]);
  for (const el of sec.querySelectorAll("[data-rk]")) {
    const k = el.dataset.rk, v = el.value.trim();
    if (k === "block") { if (v) r.block = v.split(",").map((s) => s.trim()).filter(Boolean); else delete r.block; }
    else if (v) r[k] = v; else delete r[k];
  }
  const old = r.upstreams || [];
  r.upstreams = [...sec.querySelectorAll("tbody tr")].map((tr) => {
    const u = structuredClone(old[+tr.dataset.i] || {});
    for (const el of tr.querySelectorAll("[data-k]")) {
      const k = el.dataset.k;
      if (el.type === "checkbox") u[k] = el.checked;
      else if (k === "priority") u[k] = parseInt(el.value || "0", 10);
      else if (el.value.trim()) u[k] = el.value.trim(); else delete u[k];
    }
    return u;
  });
  return r;
}
async function settingsPage() {
  const render = () => {
    $("#file").textContent = config.file ? `Changes are written to ${config.file} (comments kept).` : "No config file: changes last until the server stops.";
    $("#undo").disabled = !config.can_undo;
    $("#server-ca").value = config.server?.ca_certificates ?? "";
    if (config.last_error) msg("The config file's last edit was refused, the previous settings stay in force: " + config.last_error);
    $("#repos").innerHTML = Object.entries(config.repositories).map(([n, r]) => repoForm(n, r)).join("");
  };
  const reload = async () => { try { config = await api("GET", "config"); render(); } catch (e) { msg(e.message); } };
  document.addEventListener("click", async (ev) => {
    const t = ev.target, sec = t.closest("section[data-repo]"), tr = t.closest("tr");
    try {
      if (t.classList.contains("up-btn") || t.classList.contains("down-btn")) {
        const other = t.classList.contains("up-btn") ? tr.previousElementSibling : tr.nextElementSibling;
        if (!other) return;
        const [a, b] = [tr, other].map((x) => $("[data-k=priority]", x));
        if (a.value === b.value) a.value = String(parseInt(a.value || "0", 10) + (t.classList.contains("up-btn") ? -1 : 1));
        else [a.value, b.value] = [b.value, a.value];
        if (t.classList.contains("up-btn")) other.before(tr); else other.after(tr);
      } else if (t.classList.contains("rm-btn")) tr.remove();
      else if (t.classList.contains("add-up")) {
        const body = $("tbody", sec), i = 1000 + body.rows.length;
        body.insertAdjacentHTML("beforeend", upRow({ name: "", url: "https://", priority: 0, enabled: true, head: true }, i));
      } else if (t.classList.contains("save")) {
        const name = sec.dataset.repo;
        await api("PUT", `repositories/${encodeURIComponent(name)}`, readRepo(sec));
        msg(`saved ${name}: applied now`, true); await reload();
      } else if (t.classList.contains("rm-repo")) {
        const name = sec.dataset.repo;
        if (!confirm(`Remove repository ${name}? Its cache stays on disk.`)) return;
        await api("DELETE", `repositories/${encodeURIComponent(name)}`);
        msg(`removed ${name}`, true); await reload();
      } else if (t.id === "save-server") {
        const ca = $("#server-ca").value.trim();
        await api("PUT", "server", { ca_certificates: ca || null });
        msg("saved the server's ca_certificates: applied now", true); await reload();
      } else if (t.id === "undo") {
        config = await api("POST", "config/undo"); render(); msg("undone", true);
      } else if (t.id === "add-repo") {
        const name = $("#new-name").value.trim(), kind = $("#new-kind").value, url = $("#new-url").value.trim();
        await api("PUT", `repositories/${encodeURIComponent(name)}`, { kind, upstreams: [{ name: "upstream", url }] });
        msg(`added ${name}`, true); await reload();
      }
    } catch (e) { msg(e.message); }
  });
  await reload();
}

const page = document.body.dataset.page;
if (page === "dashboard") dashboard();
else if (page === "cache") cachePage();
else if (page === "settings") settingsPage();
document.addEventListener("click", (ev) => {
  if (ev.target.classList.contains("copy")) navigator.clipboard?.writeText($("pre", ev.target.parentElement).textContent);
});
