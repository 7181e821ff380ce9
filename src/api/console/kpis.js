// The 考核 page: the case record's rates from GET /v1/kpis, per department and per week, with
// drift alarms. No library: the weekly chart is SVG built with DOM calls (the page's CSP allows
// no inline script or style, and nothing from elsewhere).
"use strict";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
const RATES = [
  ["first_dispatch_accuracy", "首派准确", "#1f77b4"],
  ["return_rate", "退单", "#d62728"],
  ["resolution_rate", "解决", "#2ca02c"],
  ["satisfaction_rate", "满意", "#9467bd"],
];
let names = {};

const pct = (v) => (v === null || v === undefined ? "–" : (v * 100).toFixed(1) + "%");
const hours = (v) => (v === null || v === undefined ? "–" : v.toFixed(1));

function cell(tr, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  tr.appendChild(td);
}

function showOverall(r) {
  const tiles = $("overall");
  tiles.replaceChildren();
  const items = [["案件", String(r.cases)], ["首派准确", pct(r.first_dispatch_accuracy)], ["前三命中", pct(r.top3_agreement)], ["退单率", pct(r.return_rate)],
    ["响应率", pct(r.response_rate)], ["解决率", pct(r.resolution_rate)], ["满意率", pct(r.satisfaction_rate)], ["解决时长(时)", hours(r.median_hours_to_resolution)]];
  for (const [label, value] of items) {
    const div = document.createElement("div");
    div.className = "tile";
    const b = document.createElement("b");
    b.textContent = value;
    const s = document.createElement("span");
    s.textContent = label;
    div.append(b, s);
    tiles.appendChild(div);
  }
}

function showDepartments(groups) {
  const body = $("departments").tBodies[0];
  body.replaceChildren();
  const sorted = [...groups].sort((a, b) => b.rates.cases - a.rates.cases);
  for (const g of sorted) {
    const tr = document.createElement("tr");
    tr.dataset.department = g.key;
    const r = g.rates;
    cell(tr, names[g.key] || g.key);
    for (const v of [String(r.cases), String(r.dispatched), pct(r.first_dispatch_accuracy), pct(r.top3_agreement), pct(r.return_rate), pct(r.redispatch_rate),
      pct(r.response_rate), pct(r.resolution_rate), pct(r.satisfaction_rate), hours(r.median_hours_to_response), hours(r.median_hours_to_resolution)]) cell(tr, v, "num");
    body.appendChild(tr);
  }
  if (!sorted.length) {
    const tr = document.createElement("tr");
    cell(tr, "此期间没有案件", "muted");
    tr.firstChild.colSpan = 12;
    body.appendChild(tr);
  }
}

function showDrift(alarms) {
  const ul = $("drift");
  ul.replaceChildren();
  for (const a of alarms) {
    const li = document.createElement("li");
    li.className = a.direction === "worse" ? "worse" : "better";
    const metric = a.metric === "return_rate" ? "退单率" : "首派准确率";
    li.textContent = `${names[a.department] || a.department}：${metric} 近7天 ${pct(a.recent)}（${a.recent_cases} 件），此前28天 ${pct(a.baseline)}（${a.baseline_cases} 件），${a.direction === "worse" ? "变差" : "变好"}，p = ${a.p_value.toExponential(1)}`;
    ul.appendChild(li);
  }
  if (!alarms.length) {
    const li = document.createElement("li");
    li.className = "muted";
    li.textContent = "暂无异常";
    ul.appendChild(li);
  }
}

function el(name, attrs, text) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

function showTrend(weeks) {
  const box = $("trend");
  box.replaceChildren();
  const W = 720, H = 220, L = 44, B = 28, T = 8, R = 8;
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img", "aria-label": "每周指标趋势" });
  const x = (i) => L + (weeks.length < 2 ? (W - L - R) / 2 : (i * (W - L - R)) / (weeks.length - 1));
  const y = (v) => T + (1 - v) * (H - T - B);
  for (const v of [0, 0.25, 0.5, 0.75, 1]) {
    svg.appendChild(el("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#e1e5ea" }));
    svg.appendChild(el("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end", "font-size": 11, fill: "#5d6b7c" }, `${v * 100}%`));
  }
  const step = Math.max(1, Math.ceil(weeks.length / 8));
  weeks.forEach((w, i) => {
    const anchor = i === 0 ? "start" : i === weeks.length - 1 ? "end" : "middle";
    if (i % step === 0 || i === weeks.length - 1) svg.appendChild(el("text", { x: x(i), y: H - 8, "text-anchor": anchor, "font-size": 11, fill: "#5d6b7c" }, w.key.slice(5)));
  });
  for (const [key, , colour] of RATES) {
    const points = weeks.map((w, i) => [i, w.rates[key]]).filter(([, v]) => v !== null && v !== undefined);
    if (!points.length) continue;
    svg.appendChild(el("polyline", { points: points.map(([i, v]) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" "), fill: "none", stroke: colour, "stroke-width": 2, "data-rate": key }));
    for (const [i, v] of points) svg.appendChild(el("circle", { cx: x(i), cy: y(v), r: 2.5, fill: colour }));
  }
  box.appendChild(svg);
  const legend = $("legend");
  legend.replaceChildren();
  for (const [, label, colour] of RATES) {
    const span = document.createElement("span");
    const swatch = document.createElement("i");
    swatch.className = "swatch";
    // Coloured by a CSS attribute selector, not an inline style (the CSP forbids those).
    swatch.dataset.colour = colour;
    span.append(swatch, label);
    legend.appendChild(span);
  }
}

function isoDate(d) {
  return d.toISOString().slice(0, 10);
}

async function load() {
  const from = $("from").value, to = $("to").value;
  $("status").textContent = "加载中…";
  try {
    const r = await api(`/v1/kpis?from=${encodeURIComponent(from + " 00:00:00")}&to=${encodeURIComponent(to + " 00:00:00")}`);
    $("period").textContent = `${from} 至 ${to}（不含）`;
    showOverall(r.overall);
    showDrift(r.drift);
    showTrend(r.by_week);
    showDepartments(r.by_department);
    $("status").textContent = "已更新 " + new Date().toLocaleTimeString("zh-CN");
    document.body.dataset.loaded = "true";
  } catch (e) {
    $("status").textContent = "加载失败：" + e.message;
  }
}

async function init() {
  const params = new URLSearchParams(location.search);
  const today = new Date();
  const tomorrow = new Date(today.getTime() + 86400000);
  $("to").value = params.get("to") || isoDate(tomorrow);
  $("from").value = params.get("from") || isoDate(new Date(tomorrow.getTime() - 28 * 86400000));
  try {
    const t = await api("/v1/taxonomy");
    for (const d of t.departments) names[d.id] = d.name;
  } catch (e) {
    names = {};
  }
  $("refresh").addEventListener("click", load);
  for (const id of ["from", "to"]) $(id).addEventListener("change", load);
  await load();
}

init();
