// credo runs viewer: one page, its state in the URL (?run=..&iter=..&ep=..&step=..), data from /api (viewer/app.py).
"use strict";

const { lineChart, PALETTE } = window.credoPlot;
const KEY = new URLSearchParams(location.search).get("key");
const POLL_MS = 3000;
const X_AXES = { env_steps: "env steps", wall_time: "wall time (s)", iteration: "iteration" };
const PAGE = 50;

// ---------------------------------------------------------------------------------------------------------------
// helpers

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

// Replace an element's children, skipping null / false ones (conditional parts).
function put(el, ...children) {
  el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
}

function fmt(v, digits = 3) {
  if (v === null || v === undefined) return "–";
  if (typeof v === "boolean") return v ? "yes" : "no";
  if (typeof v !== "number") return String(v);
  if (Number.isInteger(v)) return v.toLocaleString("en-US");
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(2);
  return v.toFixed(digits);
}

function duration(s) {
  if (s === null || s === undefined) return "–";
  if (s < 90) return `${s.toFixed(0)} s`;
  if (s < 5400) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

function ago(t, now) {
  return t ? duration(Math.max(0, (now || Date.now() / 1000) - t)) + " ago" : "–";
}

async function api(path, query) {
  const url = new URL("api/" + path, location.href);
  for (const [k, v] of Object.entries(query || {})) {
    if (Array.isArray(v)) v.forEach((x) => url.searchParams.append(k, x));
    else if (v !== null && v !== undefined) url.searchParams.set(k, v);
  }
  const res = await fetch(url, { headers: KEY ? { "X-API-Key": KEY } : {} });
  const body = await res.json().catch(() => ({ detail: res.statusText }));
  if (!res.ok) throw new Error(body.detail || `${res.status} ${res.statusText}`);
  return body;
}

function figureUrl(suite, name) {
  const url = new URL("api/suite/figure", location.href);
  url.search = "";
  url.searchParams.set("suite", suite);
  url.searchParams.set("name", name);
  if (KEY) url.searchParams.set("key", KEY);
  return url.toString();
}

function params() { return new URLSearchParams(location.search); }

// Navigate: `update` replaces (null deletes) query parameters; the API key stays. `replace`: no history entry.
function go(update, { replace = false, fresh = false } = {}) {
  const p = fresh ? new URLSearchParams() : params();
  if (KEY) p.set("key", KEY);
  for (const [k, v] of Object.entries(update)) {
    if (v === null || v === undefined || v === "") p.delete(k); else p.set(k, v);
  }
  const url = "?" + p.toString();
  if (replace) history.replaceState(null, "", url); else history.pushState(null, "", url);
  route();
}

function link(text, update, attrs) {
  const p = new URLSearchParams();
  if (KEY) p.set("key", KEY);
  for (const [k, v] of Object.entries(update)) if (v !== null && v !== undefined) p.set(k, v);
  return h("a", Object.assign({ href: "?" + p.toString(), onclick: (e) => {
    if (e.ctrlKey || e.metaKey || e.shiftKey || e.button) return;
    e.preventDefault();
    go(update, { fresh: true });
  } }, attrs || {}), text);
}

function badge(status, reason) {
  return h("span", { class: `badge ${status}`, title: reason || "" }, status);
}

function errorBox(err) {
  return h("div", { class: "error", role: "alert" }, String(err.message || err));
}

function select(options, value, onchange, attrs) {
  const el = h("select", Object.assign({ onchange: (e) => onchange(e.target.value) }, attrs || {}),
    options.map((o) => h("option", { value: o.value ?? o, selected: (o.value ?? o) === value }, o.label ?? o)));
  return el;
}

function metricColumns(table, key, x) {
  return { x: table.columns[x] || [], y: table.columns[key] || [] };
}

// ---------------------------------------------------------------------------------------------------------------
// polling: one timer for the current view, cleared on every navigation

let timer = null;
function poll(fn) {
  clearInterval(timer);
  timer = fn ? setInterval(() => fn().catch((e) => console.warn(e)), POLL_MS) : null;
}

const main = () => document.getElementById("app");
const crumbs = () => document.getElementById("crumbs");

// ---------------------------------------------------------------------------------------------------------------
// runs table, comparison and suites

const runsState = { sort: "started", desc: true };

function runsView() {
  const p = params();
  const selected = new Set((p.get("compare") || "").split(",").filter(Boolean));
  const filterInput = h("input", { id: "filter", type: "search", placeholder: "filter: name, env, credit, status…",
    value: p.get("filter") || "", oninput: () => {
      const q = params();
      if (filterInput.value) q.set("filter", filterInput.value); else q.delete("filter");
      history.replaceState(null, "", "?" + q.toString());
      if (data) drawTable();
    } });
  const tableBox = h("div", { id: "runs-box" });
  const compareBox = h("section", { id: "compare" });
  const suitesBox = h("section", { id: "suites" });
  put(main(),
    h("section", {}, h("div", { class: "toolbar" }, filterInput,
      h("button", { id: "compare-btn", onclick: () => go({ compare: [...selected].join(",") }) }, "Compare selected"),
      h("span", { class: "muted", id: "runs-count" })), tableBox),
    compareBox, suitesBox);
  put(crumbs());
  let data = null;
  const columns = [
    ["", null], ["run", "id"], ["env", "env"], ["credit", "credit"], ["status", "status"], ["iterations", "iterations"],
    ["env steps", "env_steps"], ["success", "success"], ["return", "return"], ["length", "episode_length"],
    ["wall time", "wall_time"], ["updated", "updated"],
  ];
  const drawTable = () => {
    const q = (params().get("filter") || "").toLowerCase();
    const rows = data.runs.filter((r) => !q || [r.id, r.env, r.credit, r.status, r.model, r.advantage].join(" ").toLowerCase().includes(q));
    const { sort, desc } = runsState;
    rows.sort((a, b) => {
      const [va, vb] = [a[sort] ?? -Infinity, b[sort] ?? -Infinity];
      return (va < vb ? -1 : va > vb ? 1 : 0) * (desc ? -1 : 1);
    });
    document.getElementById("runs-count").textContent = `${rows.length} of ${data.runs.length} runs in ${data.root}/`;
    const head = h("tr", {}, columns.map(([label, key]) => h("th", {
      class: key ? "sortable" : "", onclick: key ? () => {
        runsState.desc = runsState.sort === key ? !runsState.desc : true;
        runsState.sort = key;
        drawTable();
      } : null }, label + (sort === key ? (desc ? " ▾" : " ▴") : ""))));
    const body = rows.map((r) => h("tr", { dataset: { run: r.id }, class: selected.has(r.id) ? "selected" : "" },
      h("td", {}, h("input", { type: "checkbox", class: "sel", checked: selected.has(r.id), onchange: (e) => {
        if (e.target.checked) selected.add(r.id); else selected.delete(r.id);
        e.target.closest("tr").classList.toggle("selected", e.target.checked);
      } })),
      h("td", {}, link(r.id, { run: r.id }), r.error ? h("span", { class: "warn", title: r.error }, " ⚠") : null),
      h("td", {}, r.env), h("td", {}, r.credit), h("td", {}, badge(r.status, r.status_reason)),
      h("td", { class: "num" }, fmt(r.iterations)), h("td", { class: "num" }, fmt(r.env_steps)),
      h("td", { class: "num" }, fmt(r.success)), h("td", { class: "num" }, fmt(r.return)),
      h("td", { class: "num" }, fmt(r.episode_length, 1)), h("td", { class: "num" }, duration(r.wall_time)),
      h("td", { class: "num", title: r.updated ? new Date(r.updated * 1000).toISOString() : "" }, ago(r.updated, data.now))));
    put(tableBox, data.runs.length ? h("table", { id: "runs-table" }, h("thead", {}, head), h("tbody", {}, body))
      : h("p", { class: "muted" }, `No runs under ${data.root}/ yet: train one with `, h("code", {}, "credo train ..."), "."));
    put(suitesBox, ...(data.suites.length ? [h("h2", {}, "Suites"),
      h("ul", {}, data.suites.map((s) => h("li", {}, link(s, { suite: s }))))] : []));
  };
  const refresh = async () => {
    data = await api("runs");
    drawTable();
    return data;
  };
  refresh().then((d) => {
    if (selected.size && p.get("compare")) compareView(compareBox, [...selected].filter((id) => d.runs.some((r) => r.id === id)));
    poll(d.runs.some((r) => r.status === "live") ? refresh : null);
  }).catch((e) => put(tableBox, errorBox(e)));
}

async function compareView(box, ids) {
  const p = params();
  const x = p.get("x") || "env_steps";
  put(box, h("h2", {}, `Compare ${ids.length} run${ids.length === 1 ? "" : "s"}`), h("p", { class: "muted" }, "loading…"));
  const draw = async () => {
    const data = await api("metrics", { run: ids });
    const keys = [...new Set(data.runs.flatMap((t) => Object.keys(t.columns)))].filter((k) => !["iteration", "time"].includes(k));
    const metric = params().get("metric") || (keys.includes("success") ? "success" : keys[0]);
    const series = data.runs.map((t, i) => Object.assign({ name: t.run, color: PALETTE[i % PALETTE.length] }, metricColumns(t, metric, x)));
    put(box,
      h("h2", {}, `Compare ${ids.length} run${ids.length === 1 ? "" : "s"}`),
      h("div", { class: "toolbar" }, "metric ", select(keys, metric, (v) => go({ metric: v }, { replace: true }), { id: "compare-metric" }),
        " x ", select(Object.entries(X_AXES).map(([value, label]) => ({ value, label })), x, (v) => go({ x: v }, { replace: true }), { id: "compare-x" })),
      h("div", { id: "compare-chart" }, lineChart(series, { xLabel: X_AXES[x], yLabel: metric })),
      compareTable(data.runs, ["success", "return", "episode_length", metric]));
  };
  await draw().catch((e) => put(box, errorBox(e)));
}

function compareTable(tables, keys) {
  keys = [...new Set(keys)];
  const last = (arr) => { for (let i = arr.length - 1; i >= 0; i--) if (typeof arr[i] === "number") return arr[i]; return null; };
  const best = (arr) => { const v = arr.filter((x) => typeof x === "number"); return v.length ? Math.max(...v) : null; };
  return h("table", { class: "compact", id: "compare-table" },
    h("thead", {}, h("tr", {}, h("th", {}, "run"), keys.map((k) => [h("th", {}, `${k} (last)`), h("th", {}, `${k} (max)`)]))),
    h("tbody", {}, tables.map((t) => h("tr", {}, h("td", {}, link(t.run, { run: t.run })),
      keys.map((k) => [h("td", { class: "num" }, fmt(last(t.columns[k] || []))), h("td", { class: "num" }, fmt(best(t.columns[k] || [])))])))));
}

// ---------------------------------------------------------------------------------------------------------------
// one run: curves, credit modules' artefacts, episodes

const runState = { id: null, detail: null, metrics: null, page: null, episode: null };

// What the run page shows, from the URL: a change of only some of these redraws only what depends on them.
function shownParams() {
  const p = params();
  return { run: p.get("run"), metric: p.get("metric"), x: p.get("x"), iter: p.get("iter"), ep: p.get("ep"), offset: p.get("offset") };
}

async function runView() {
  const now = shownParams();
  const was = runState.shown;
  runState.shown = now;
  if (was && was.run === now.run && runState.detail && document.getElementById("episodes")) {
    if (was.metric !== now.metric || was.x !== now.x) {
      drawCurves(document.getElementById("curves"));
      if (was.x !== now.x) drawModules(document.getElementById("modules")).catch(console.warn);
    }
    if (was.iter !== now.iter || was.ep !== now.ep || was.offset !== now.offset) await drawEpisodes(document.getElementById("episodes"));
    else if (runState.episode) drawStep();
    return;
  }
  const id = now.run;
  put(crumbs(), " / ", link(id, { run: id }));
  Object.assign(runState, { id, detail: null, metrics: null, page: null, episode: null });
  const head = h("section", { id: "run-head" });
  const curves = h("section", { id: "curves" });
  const modules = h("section", { id: "modules" });
  const episodes = h("section", { id: "episodes" });
  put(main(), head, h("div", { class: "columns" }, curves, modules), episodes);
  try {
    runState.detail = await api("run", { run: id });
  } catch (e) {
    put(main(), errorBox(e), h("p", {}, link("← all runs", {})));
    poll(null);
    return;
  }
  drawRunHead(head);
  await loadMetrics();
  drawCurves(curves);
  drawModules(modules).catch((e) => put(modules, errorBox(e)));
  await drawEpisodes(episodes);
  poll(runState.detail.summary.status === "live" ? async () => {
    runState.detail = await api("run", { run: id });
    drawRunHead(head);
    await loadMetrics(true);
    drawCurves(curves);
    if (!params().get("iter")) await drawEpisodes(episodes, true);
    else updateIterationSelect();
    if (runState.detail.summary.status !== "live") poll(null);
  } : null);
}

function drawRunHead(box) {
  const { summary: s, config } = runState.detail;
  put(box,
    h("h1", {}, s.id, " ", badge(s.status, s.status_reason)),
    h("p", { class: "facts" },
      h("span", {}, h("b", {}, "env "), s.env || "–"), h("span", {}, h("b", {}, "credit "), s.credit || "–"),
      h("span", {}, h("b", {}, "advantage "), s.advantage || "–"), h("span", {}, h("b", {}, "model "), s.model || "–"),
      h("span", {}, h("b", {}, "iterations "), fmt(s.iterations)), h("span", {}, h("b", {}, "env steps "), fmt(s.env_steps)),
      h("span", {}, h("b", {}, "success "), fmt(s.success)), h("span", {}, h("b", {}, "wall time "), duration(s.wall_time)),
      h("span", { class: "muted" }, s.status_reason)),
    s.error ? errorBox(new Error(s.error)) : null,
    runState.detail.metrics_skipped_lines ? h("p", { class: "warn" }, `${runState.detail.metrics_skipped_lines} line(s) of metrics.jsonl did not parse and were skipped`) : null,
    h("details", {}, h("summary", {}, "config"), h("pre", { class: "config" }, JSON.stringify(config, null, 2))));
}

async function loadMetrics(incremental) {
  const id = runState.id;
  const it = runState.metrics?.columns.iteration || [];
  if (incremental && it.length) {
    const since = it[it.length - 1];
    const more = (await api("metrics", { run: id, since })).runs[0];
    for (const [k, v] of Object.entries(more.columns)) {
      const col = runState.metrics.columns[k] || (runState.metrics.columns[k] = new Array(it.length).fill(null));
      if (col !== v) col.push(...v);
    }
    const n = runState.metrics.columns.iteration.length;
    for (const col of Object.values(runState.metrics.columns)) while (col.length < n) col.push(null);
  } else {
    runState.metrics = (await api("metrics", { run: id })).runs[0];
  }
}

function drawCurves(box) {
  const p = params();
  const keys = Object.keys(runState.metrics.columns).filter((k) => !["iteration", "time"].includes(k));
  const metric = p.get("metric") && keys.includes(p.get("metric")) ? p.get("metric") : keys.includes("success") ? "success" : keys.find((k) => k !== "env_steps" && k !== "wall_time");
  const x = p.get("x") || "env_steps";
  put(box, h("h2", {}, "Curves"),
    h("div", { class: "toolbar" }, "metric ", select(keys, metric, (v) => go({ metric: v }, { replace: true }), { id: "run-metric" }),
      " x ", select(Object.entries(X_AXES).map(([value, label]) => ({ value, label })), x, (v) => go({ x: v }, { replace: true }))),
    lineChart([Object.assign({ name: metric }, metricColumns(runState.metrics, metric, x))], { xLabel: X_AXES[x], yLabel: metric, width: 560 }));
}

async function drawModules(box) {
  const data = await api("artefacts", { run: runState.id });
  const names = Object.keys(data.modules);
  put(box, h("h2", {}, "Credit modules"));
  if (!names.length) { box.append(h("p", { class: "muted" }, "no credit module metrics logged yet")); return; }
  const x = params().get("x") || "env_steps";
  for (const name of names) {
    const m = data.modules[name];
    const sec = h("div", { class: "module", dataset: { module: name } }, h("h3", {}, name));
    const chartBox = h("div", {});
    const plot = (key) => put(chartBox, key ? lineChart([Object.assign({ name: key }, metricColumns(runState.metrics, key, x))],
      { width: 560, height: 180, xLabel: X_AXES[x], yLabel: key }) : h("p", { class: "muted" }, "no metrics"));
    if (m.metrics.length) sec.append(h("div", { class: "toolbar" }, select(m.metrics, m.headline, plot, { class: "module-metric" })));
    sec.append(chartBox);
    plot(m.headline);
    if (m.lare) sec.append(...m.lare.map(lareBlock));
    if (m.oni) sec.append(oniBlock(m.oni));
    if (m.files.length) sec.append(h("details", {}, h("summary", {}, `${m.files.length} saved file(s)`),
      h("ul", { class: "files" }, m.files.map((f) => h("li", {}, h("code", {}, f.path), ` ${fmt(f.bytes)} bytes`)))));
    box.append(sec);
  }
}

function lareBlock(entry) {
  const d = entry.dialogue;
  return h("div", { class: "lare" },
    h("h4", {}, "LaRe: ", h("code", {}, entry.key), entry.meta ? ` · ${entry.meta.n_factors} factors · ${entry.meta.source || ""}` : ""),
    entry.errors.length ? h("p", { class: "warn" }, entry.errors.join("; ")) : null,
    entry.code !== null ? h("pre", { class: "code lare-code" }, entry.code) : h("p", { class: "muted" }, "no accepted code"),
    d ? h("details", { class: "dialogue" }, h("summary", {}, `dialogue: ${(d.calls || []).length} LLM call(s), ${d.accepted ? "accepted" : "nothing accepted"}${d.seconds !== undefined ? `, ${d.seconds} s` : ""}`),
      (d.calls || []).map((c, i) => h("div", { class: "call" },
        h("h5", {}, `${i + 1}. ${c.purpose || "call"} · n=${c.n ?? "?"} · T=${c.temperature ?? "?"}`),
        (c.messages || []).map((msg) => h("div", { class: `msg ${msg.role}` }, h("b", {}, msg.role), h("pre", {}, msg.content))),
        (c.replies || []).map((r, j) => h("div", { class: "msg reply" }, h("b", {}, `reply ${j + 1}`, c.checks && c.checks[j] !== undefined ? ` → ${c.checks[j]}` : ""), h("pre", {}, r))))),
      (d.after || []).length ? h("ul", {}, d.after.map((a) => h("li", {}, a))) : null) : null);
}

function oniBlock(o) {
  const counts = Object.entries(o.counts).sort();
  const label = (k) => o.kind === "pair" ? ({ "0": "first preferred", "1": "second preferred", "0.5": "tie" }[k] || k) : ({ "1": "helpful", "0": "not helpful" }[k] || k);
  return h("div", { class: "oni" },
    h("h4", {}, `ONI labels: ${fmt(o.labels)} ${o.kind === "pair" ? "pairs" : "captions"}`),
    h("table", { class: "compact", id: "oni-counts" }, h("tbody", {}, counts.map(([k, n]) => h("tr", {}, h("td", {}, label(k)), h("td", { class: "num" }, fmt(n)))))),
    o.skipped_lines ? h("p", { class: "warn" }, `${o.skipped_lines} corrupt line(s) skipped`) : null,
    h("details", { open: o.messages.length <= 20 }, h("summary", {}, o.kind === "pair" ? `captions preferred (${o.messages_total} choices)` : `captions labelled helpful (${o.messages_total})`),
      h("ul", { class: "oni-messages" }, o.messages.map((m) => h("li", {}, h("code", {}, m.caption || "(empty message)"), m.times ? ` ×${m.times}` : "")))));
}

// -- episodes ---------------------------------------------------------------------------------------------------

function updateIterationSelect() {
  const sel = document.getElementById("iteration");
  if (!sel) return;
  const its = runState.detail.iterations;
  const have = new Set([...sel.options].map((o) => +o.value));
  its.filter((i) => !have.has(i)).forEach((i) => sel.append(h("option", { value: i }, `iteration ${i}`)));
}

async function drawEpisodes(box, quiet) {
  const p = params();
  const its = runState.detail.iterations;
  if (!its.length) { put(box, h("h2", {}, "Episodes"), h("p", { class: "muted" }, "no episodes logged yet")); return; }
  const iter = p.get("iter") !== null ? +p.get("iter") : its[its.length - 1];
  const epIndex = p.get("ep") !== null ? +p.get("ep") : null;
  const offset = epIndex !== null ? Math.floor(epIndex / PAGE) * PAGE : +(p.get("offset") || 0);
  let page;
  try {
    page = await api("episodes", { run: runState.id, iteration: iter, offset, limit: PAGE });
  } catch (e) {
    put(box, h("h2", {}, "Episodes"), errorBox(e));
    return;
  }
  runState.page = page;
  const pos = its.indexOf(iter);
  const listBox = h("div", { id: "episode-list" });
  const detail = h("div", { id: "episode" });
  put(box,
    h("h2", {}, "Episodes"),
    h("div", { class: "toolbar" },
      h("button", { disabled: pos <= 0, onclick: () => go({ iter: its[pos - 1], ep: 0, step: 0 }), title: "[" }, "◀"),
      select(its.map((i) => ({ value: String(i), label: `iteration ${i}` })), String(iter), (v) => go({ iter: v, ep: 0, step: 0 }), { id: "iteration" }),
      h("button", { disabled: pos >= its.length - 1, onclick: () => go({ iter: its[pos + 1], ep: 0, step: 0 }), title: "]" }, "▶"),
      h("span", { class: "muted" }, ` ${page.total} episode(s) logged at this iteration`),
      page.skipped_lines ? h("span", { class: "warn" }, ` · ${page.skipped_lines} corrupt line(s) skipped`) : null),
    h("div", { class: "episodes-layout" }, listBox, detail));
  listBox.append(h("table", { id: "episodes-table", class: "compact" },
    h("thead", {}, h("tr", {}, ["#", "episode", "seed", "length", "return", "success"].map((c) => h("th", {}, c)))),
    h("tbody", {}, page.episodes.map((e) => h("tr", { dataset: { index: e.index }, class: e.index === epIndex ? "current" : "",
      onclick: () => go({ iter, ep: e.index, step: 0 }) },
    h("td", { class: "num" }, e.index), h("td", {}, e.episode_id), h("td", { class: "num" }, e.seed), h("td", { class: "num" }, e.length),
    h("td", { class: "num" }, fmt(e.return)), h("td", {}, e.success ? "✓" : "✗")))))
  );
  if (page.total > PAGE) {
    listBox.append(h("div", { class: "toolbar" },
      h("button", { disabled: offset === 0, onclick: () => go({ offset: offset - PAGE, ep: null, step: null }) }, "previous page"),
      h("span", { class: "muted" }, ` ${offset + 1}–${Math.min(offset + PAGE, page.total)} of ${page.total} `),
      h("button", { disabled: offset + PAGE >= page.total, onclick: () => go({ offset: offset + PAGE, ep: null, step: null }) }, "next page")));
  }
  if (epIndex === null) {
    if (!quiet) put(detail, h("p", { class: "muted" }, "Select an episode (or press j / ↓)."));
    return;
  }
  try {
    runState.episode = await api("episode", { run: runState.id, iteration: iter, index: epIndex });
  } catch (e) {
    put(detail, errorBox(e));
    return;
  }
  drawEpisode(detail);
}

// Colour of a credit value: green positive, red negative, intensity by |v| / the row's largest |v|.
function cellColour(v, scale) {
  if (typeof v !== "number" || !isFinite(v)) return "transparent";
  const a = scale > 0 ? Math.min(1, Math.abs(v) / scale) : 0;
  return v >= 0 ? `rgba(26, 150, 65, ${0.08 + 0.8 * a})` : `rgba(215, 48, 39, ${0.08 + 0.8 * a})`;
}

function stripRows(ep) {
  const steps = ep.steps;
  const rows = [{ name: "env reward", key: "reward", values: steps.map((s) => s.reward) }];
  for (const m of ep.modules) rows.push({ name: m, key: "module", module: m, values: steps.map((s) => (s.step_rewards || {})[m] ?? null) });
  rows.push({ name: "advantage", key: "advantage", values: steps.map((s) => s.advantage ?? null) });
  return rows;
}

function drawEpisode(box) {
  const ep = runState.episode;
  const n = ep.steps.length;
  const rows = stripRows(ep);
  const strip = h("div", { id: "strip", style: `--steps: ${Math.max(n, 1)}` },
    rows.map((r) => {
      const scale = Math.max(0, ...r.values.filter((v) => typeof v === "number").map(Math.abs));
      return h("div", { class: "strip-row", dataset: { module: r.module || r.key } },
        h("span", { class: "strip-label", title: r.module ? `step_rewards["${r.module}"]` : r.key }, r.name),
        h("div", { class: "cells" }, r.values.map((v, t) => h("span", {
          class: "cell", dataset: { step: t, value: v === null ? "" : String(v) }, title: `step ${t}: ${v === null ? "–" : v}`,
          style: `background: ${cellColour(v, scale)}`, onclick: () => go({ step: t }, { replace: true }) }))));
    }));
  const stepBox = h("div", { id: "step" });
  put(box,
    h("h3", {}, `episode ${ep.episode_id}`, h("span", { class: "muted" }, ` · group ${ep.group_id} · seed ${ep.seed} · ${n} steps · return ${fmt(ep.return)} · ${ep.success ? "success" : "failure"}${ep.truncated ? " (truncated)" : ""}`)),
    h("p", { class: "instruction" }, ep.instruction),
    strip, stepBox,
    numbersTable(ep, rows));
  drawStep();
}

// Every step's numbers, built when first opened (an episode can have thousands of steps).
function numbersTable(ep, rows) {
  const body = h("tbody", {});
  return h("details", { id: "numbers", ontoggle: (e) => {
    if (!e.target.open || body.children.length) return;
    put(body, ep.steps.map((s, t) => h("tr", { dataset: { step: t }, class: t === currentStep() ? "current" : "" },
      h("td", { class: "num" }, t), h("td", {}, s.action_text), rows.map((r) => h("td", { class: "num" }, fmt(r.values[t], 4))))));
  } }, h("summary", {}, "all numbers"), h("table", { class: "compact" },
    h("thead", {}, h("tr", {}, h("th", {}, "step"), h("th", {}, "action"), rows.map((r) => h("th", {}, r.name)))), body));
}

function currentStep() {
  const n = runState.episode.steps.length;
  const t = +(params().get("step") || 0);
  return Math.max(0, Math.min(n - 1, Number.isFinite(t) ? t : 0));
}

function drawStep() {
  const ep = runState.episode;
  const box = document.getElementById("step");
  if (!box || !ep.steps.length) { if (box) put(box, h("p", { class: "muted" }, "this episode has no steps")); return; }
  const t = currentStep();
  const s = ep.steps[t];
  document.querySelectorAll("#strip .cell.current, #numbers tr.current").forEach((c) => c.classList.remove("current"));
  document.querySelectorAll(`#strip .cell[data-step="${t}"], #numbers tr[data-step="${t}"]`).forEach((c) => c.classList.add("current"));
  const cell = document.querySelector("#strip .cell.current");
  if (cell) {  // keep the current step in view in a long episode's scrolled strip
    const strip = document.getElementById("strip");
    const [a, b] = [cell.offsetLeft, cell.offsetLeft + cell.offsetWidth];
    if (a < strip.scrollLeft + 120 || b > strip.scrollLeft + strip.clientWidth) strip.scrollLeft = a - strip.clientWidth / 2;
  }
  const rows = stripRows(ep);
  let choice;
  if (Array.isArray(s.candidates) && Array.isArray(s.candidate_logprobs)) {
    const probs = s.candidate_logprobs.map(Math.exp);
    choice = h("div", {}, h("h4", {}, "candidates (policy probability)"),
      h("ol", { id: "candidates" }, s.candidates.map((c, i) => h("li", { class: c === s.action_text ? "chosen" : "", dataset: { prob: probs[i] } },
        h("span", { class: "bar", style: `width: ${(100 * probs[i]).toFixed(1)}%` }), h("span", { class: "cand" }, c),
        h("span", { class: "prob" }, (100 * probs[i]).toFixed(1) + "%")))));
  } else if (Array.isArray(s.candidates)) {
    choice = h("div", {}, h("h4", {}, "candidates"), h("ol", { id: "candidates" }, s.candidates.map((c) => h("li", { class: c === s.action_text ? "chosen" : "" }, c))));
  } else {
    choice = h("div", {}, h("h4", {}, "generated text"), h("pre", { id: "generated" }, s.generated_text || "(not recorded)"));
  }
  put(box,
    h("div", { class: "step-head" },
      h("button", { onclick: () => stepBy(-1), disabled: t === 0, title: "←" }, "◀"),
      h("b", { id: "step-index" }, `step ${t + 1} / ${ep.steps.length}`),
      h("button", { onclick: () => stepBy(1), disabled: t === ep.steps.length - 1, title: "→" }, "▶"),
      h("span", {}, " action ", h("code", { id: "action" }, s.action_text || "(none)"), s.valid_action === false ? h("span", { class: "warn" }, " invalid") : null),
      s.done ? h("span", { class: "muted" }, " · last step") : null),
    h("table", { class: "compact", id: "step-values" }, h("tbody", {}, rows.map((r) => h("tr", { dataset: { module: r.module || r.key } },
      h("th", {}, r.name), h("td", { class: "num", style: `background: ${cellColour(r.values[t], Math.max(0, ...r.values.filter((v) => typeof v === "number").map(Math.abs)))}` }, fmt(r.values[t], 4)))))),
    h("div", { class: "step-body" },
      h("div", {}, h("h4", {}, "observation"), h("pre", { id: "observation" }, s.observation),
        s.caption ? h("p", {}, h("b", {}, "caption "), h("code", {}, s.caption)) : null),
      choice),
    h("details", {}, h("summary", {}, "state"), h("pre", { class: "state" }, JSON.stringify(s.state, null, 1))));
}

function stepBy(d) {
  const ep = runState.episode;
  if (!ep) return;
  const t = Math.max(0, Math.min(ep.steps.length - 1, currentStep() + d));
  const p = params();
  if (KEY) p.set("key", KEY);
  p.set("step", t);
  history.replaceState(null, "", "?" + p.toString());
  drawStep();
}

function episodeBy(d) {
  const page = runState.page;
  if (!page || !page.total) return;
  const cur = params().get("ep");
  const next = cur === null ? 0 : Math.max(0, Math.min(page.total - 1, +cur + d));
  if (cur !== null && next === +cur) return;
  go({ iter: page.iteration, ep: next, step: 0, offset: null }, { replace: true });
}

function iterationBy(d) {
  const its = runState.detail?.iterations || [];
  const cur = params().get("iter") !== null ? +params().get("iter") : its[its.length - 1];
  const next = its[its.indexOf(cur) + d];
  if (next !== undefined) go({ iter: next, ep: 0, step: 0, offset: null }, { replace: true });
}

document.addEventListener("keydown", (e) => {
  if (!params().get("run") || e.ctrlKey || e.metaKey || e.altKey || ["INPUT", "SELECT", "TEXTAREA"].includes(e.target.tagName)) return;
  const actions = { ArrowLeft: () => stepBy(-1), ArrowRight: () => stepBy(1), h: () => stepBy(-1), l: () => stepBy(1),
    ArrowUp: () => episodeBy(-1), ArrowDown: () => episodeBy(1), k: () => episodeBy(-1), j: () => episodeBy(1),
    Home: () => stepBy(-1e9), End: () => stepBy(1e9), "[": () => iterationBy(-1), "]": () => iterationBy(1) };
  const fn = actions[e.key];
  if (fn) { e.preventDefault(); fn(); }
});

// ---------------------------------------------------------------------------------------------------------------
// a `credo bench credit` suite: report, seed bands per task, groups

async function suiteView() {
  const p = params();
  const name = p.get("suite");
  put(crumbs(), " / suite ", link(name, { suite: name }));
  let info;
  try {
    info = await api("suite", { suite: name });
  } catch (e) {
    put(main(), errorBox(e), h("p", {}, link("← all runs", {})));
    return;
  }
  const bandsBox = h("section", { id: "bands" });
  const report = h("section", { id: "report" }, h("h2", {}, "Report"));
  if (info.report_html !== null) {
    const div = h("div", { class: "markdown" });
    div.innerHTML = info.report_html;  // rendered by markdown-it with raw HTML escaped (viewer/suites.py)
    div.querySelectorAll("img").forEach((img) => {
      const src = img.getAttribute("src") || "";
      if (!/^[a-z]+:|^\//i.test(src)) img.src = figureUrl(name, src.split("/").pop());
    });
    report.append(div);
  } else report.append(h("p", { class: "muted" }, "no report.md yet (the suite is running or has not written it)"));
  if (info.report_error) report.append(h("p", { class: "warn" }, info.report_error));
  if (info.report_json !== null) report.append(h("details", {}, h("summary", {}, "report.json"), h("pre", {}, JSON.stringify(info.report_json, null, 2))));
  const shown = new Set([...report.querySelectorAll("img")].map((i) => new URL(i.src).searchParams.get("name")));
  info.figures.filter((f) => !shown.has(f)).forEach((f) => report.append(h("figure", {}, h("img", { src: figureUrl(name, f), alt: f }), h("figcaption", {}, f))));
  const groups = h("section", {}, h("h2", {}, "Runs by (task, arm)"), h("table", { class: "compact", id: "suite-groups" },
    h("thead", {}, h("tr", {}, ["task", "arm", "seeds", "runs"].map((c) => h("th", {}, c)))),
    h("tbody", {}, info.groups.map((g) => h("tr", {}, h("td", {}, g.task), h("td", {}, g.arm), h("td", { class: "num" }, g.runs.length),
      h("td", {}, g.runs.map((r) => [link(r.split("/").pop(), { run: r }), " "])))))));
  put(main(), h("h1", {}, `suite ${name}`), bandsBox, report, groups);
  if (!info.runs.length) return;
  const keys = (await api("run", { run: info.runs[0] })).metric_keys;
  const metric = p.get("metric") && keys.includes(p.get("metric")) ? p.get("metric") : keys.includes("success") ? "success" : keys[0];
  const x = p.get("x") || "env_steps";
  const data = await api("suite/bands", { suite: name, key: metric, x });
  const tasks = [...new Set(data.bands.map((b) => b.task))];
  put(bandsBox, h("h2", {}, "Learning curves (mean, band: min–max over seeds)"),
    h("div", { class: "toolbar" }, "metric ", select(keys, metric, (v) => go({ metric: v }, { replace: true }), { id: "suite-metric" }),
      " x ", select(Object.entries(X_AXES).map(([value, label]) => ({ value, label })), x, (v) => go({ x: v }, { replace: true }))),
    h("div", { class: "band-charts" }, tasks.map((task) => lineChart(data.bands.filter((b) => b.task === task).map((b, i) => ({
      name: `${b.arm} (n=${b.n})`, x: b.x, y: b.mean, lo: b.lo, hi: b.hi, color: PALETTE[i % PALETTE.length] })),
    { title: task, xLabel: X_AXES[x], yLabel: metric, width: 560 }))));
}

// ---------------------------------------------------------------------------------------------------------------

function route() {
  const p = params();
  if (p.get("run")) return runView();
  runState.shown = null;
  poll(null);
  if (p.get("suite")) return suiteView();
  return runsView();
}

window.addEventListener("popstate", route);
route();
