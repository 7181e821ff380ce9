// The operator console: classify as the operator types, accept with 1/2/3, correct from a
// searchable list, and send every decision to /v1/feedback. No framework and no CDN: call
// centres often run on closed networks.
"use strict";

const $ = (id) => document.getElementById(id);
const DEBOUNCE_MS = 500;
const MIN_CHARS = 8;

const state = {
  caseId: newCaseId(),
  result: null,        // the last classify answer for the current text
  resultText: "",      // the text that answer belongs to
  seq: 0,              // ignores answers to superseded requests
  departments: [],     // [{id, name}] from the taxonomy
  timer: null,
};

function newCaseId() {
  return "CALL-" + Date.now().toString(36).toUpperCase() + "-" + Math.random().toString(36).slice(2, 7).toUpperCase();
}

function headers() {
  const h = { "Content-Type": "application/json" };
  const key = localStorage.getItem("triage-api-key");
  if (key) h["Authorization"] = "Bearer " + key;
  return h;
}

// fetch with the API key; on 401/403 ask for a key once and retry.
async function api(path, body) {
  const init = body === undefined ? { headers: headers() } : { method: "POST", headers: headers(), body: JSON.stringify(body) };
  let r = await fetch(path, init);
  if (r.status === 401 || r.status === 403) {
    const key = window.prompt("此服务需要 API 密钥：");
    if (key) {
      localStorage.setItem("triage-api-key", key.trim());
      init.headers = headers();
      r = await fetch(path, init);
    }
  }
  const data = await r.json().catch(() => ({}));
  if (!r.ok) {
    const msg = data.error ? data.error.message : r.statusText;
    throw new Error(`${r.status} ${msg}`);
  }
  return data;
}

function setStatus(text) {
  $("status").textContent = text;
}

function nameOf(id) {
  const d = state.departments.find((x) => x.id === id);
  return d ? d.name : id;
}

async function loadTaxonomy() {
  try {
    const t = await api("/v1/taxonomy");
    state.departments = t.departments.map((d) => ({ id: d.id, name: d.name }));
    const list = $("department-list");
    list.replaceChildren(...state.departments.map((d) => {
      const o = document.createElement("option");
      o.value = `${d.name}（${d.id}）`;
      return o;
    }));
  } catch (e) {
    setStatus("无法读取单位列表：" + e.message);
  }
}

function scheduleClassify() {
  clearTimeout(state.timer);
  state.timer = setTimeout(classifyNow, DEBOUNCE_MS);
}

async function classifyNow() {
  clearTimeout(state.timer);
  const text = $("transcript").value;
  if (text.trim().length < MIN_CHARS) return;
  const seq = ++state.seq;
  setStatus("分析中…");
  try {
    const r = await api("/v1/classify", { text, id: state.caseId, top_k: 3, similar: 3 });
    if (seq !== state.seq) return;
    state.result = r;
    state.resultText = text;
    render(r, text);
    setStatus("已更新 " + new Date().toLocaleTimeString("zh-CN"));
  } catch (e) {
    if (seq === state.seq) setStatus("分析失败：" + e.message);
  }
}

function render(r, text) {
  const urgent = $("urgent");
  urgent.hidden = !r.urgent;
  const handoff = r.handoff ? "请立即转 " + r.handoff.name + "，并优先派单。" : "请优先派单。";
  urgent.textContent = r.urgent ? "紧急：" + (r.urgency_reasons.join("；") || "危及生命财产安全") + "。" + handoff : "";
  $("review").hidden = !r.dispatch.needs_review;

  $("d-department").textContent = r.dispatch.department_name;
  $("d-district").textContent = r.dispatch.district || "未提及";
  $("d-street").textContent = r.dispatch.street || "未提及";
  $("d-appeal").textContent = r.appeal_type ? r.appeal_type.name : "—";
  $("d-topic").textContent = r.topics.length ? r.topics[0].name : "—";
  $("d-confidence").textContent = (r.dispatch.confidence * 100).toFixed(0) + "%";

  const top = Math.max(...r.departments.map((d) => d.score), 1e-6);
  $("departments").replaceChildren(...r.departments.slice(0, 3).map((d, i) => {
    const li = document.createElement("li");
    li.dataset.department = d.id;
    li.tabIndex = 0;
    li.setAttribute("aria-label", `第${i + 1}建议：${d.name}，得分 ${(d.score * 100).toFixed(0)}，按 ${i + 1} 采纳`);
    const key = document.createElement("span");
    key.className = "key";
    key.textContent = String(i + 1);
    const name = document.createElement("strong");
    name.textContent = d.name;
    const score = document.createElement("span");
    score.textContent = (d.score * 100).toFixed(0) + " 分";
    const btn = document.createElement("button");
    btn.type = "button";
    btn.textContent = "采纳";
    btn.addEventListener("click", () => accept(i + 1));
    const bar = document.createElement("div");
    bar.className = "bar";
    const fill = document.createElement("span");
    fill.style.width = Math.round((d.score / top) * 100) + "%";
    bar.append(fill);
    const reasons = document.createElement("div");
    reasons.className = "reasons";
    reasons.textContent = d.reasons.join("；");
    li.append(key, name, score, btn, bar, reasons);
    return li;
  }));

  fillTicket(r.ticket || {});
  highlight(text, r.keywords.map((k) => k.word), ticketSpans(r.ticket || {}));

  renderRelated(r.related);

  const similar = r.similar_cases || [];
  $("similar").replaceChildren(...(similar.length ? similar.map((c) => {
    const li = document.createElement("li");
    li.textContent = `${nameOf(c.department)}｜相似度 ${(c.similarity * 100).toFixed(0)}%｜${c.excerpt}`;
    return li;
  }) : [Object.assign(document.createElement("li"), { className: "muted", textContent: "暂无相似的已派案例" })]));
}

// A repeat of a recent case: offer to merge it instead of dispatching it again.
function renderRelated(related) {
  const box = $("duplicate");
  const target = related && (related.duplicate_of || (related.cases.length ? related.cases[0].case_id : null));
  box.hidden = !target;
  box.dataset.into = target || "";
  if (!target) return;
  const others = related.group_size > 1 ? `，同一事项近期已有 ${related.group_size - 1} 件来电` : "";
  $("duplicate-text").textContent = (related.duplicate_of ? `疑似重复：与案件 ${target} 为同一事项` : `相关案件：${target}`) + others;
}

async function merge() {
  const into = $("duplicate").dataset.into;
  const msg = $("decision");
  msg.classList.remove("error");
  if (!into) return;
  try {
    await api("/v1/cases/merge", { case_id: state.caseId, into });
    msg.textContent = `已合并至案件 ${into}，无需重复派单`;
  } catch (e) {
    msg.classList.add("error");
    msg.textContent = "合并失败：" + e.message;
  }
}

// Today's hot spots, refreshed every minute: what supervisors act on before more calls come.
async function loadHotspots() {
  const midnight = new Date();
  midnight.setHours(0, 0, 0, 0);
  try {
    const r = await api("/v1/hotspots?limit=5&since=" + encodeURIComponent(midnight.toISOString()));
    const list = r.hot_spots;
    $("hotspots").replaceChildren(...(list.length ? list.map((h) => {
      const li = document.createElement("li");
      const where = [h.district, h.street].filter(Boolean).join(" ");
      li.textContent = `${h.label}${where ? "｜" + where : ""}｜今日 ${h.count} 件（平时约 ${h.expected.toFixed(1)} 件）`;
      return li;
    }) : [Object.assign(document.createElement("li"), { className: "muted", textContent: "今日暂无明显上升的事项" })]));
    $("hotspots-updated").textContent = "更新于 " + new Date().toLocaleTimeString("zh-CN");
  } catch (e) {
    $("hotspots-updated").textContent = "热点读取失败：" + e.message;
  }
}

// Mark each keyword where it occurs in the operator's own text (built with text nodes, never
// innerHTML, so a transcript cannot inject markup).
// The ticket's fields, pre-filled from each new suggestion unless the operator has edited them.
const TICKET_FIELDS = ["address", "when", "subject", "request", "summary"];

function ticketValues(t) {
  const a = t.address || {};
  return {
    address: a.line || "",
    when: t.when ? t.when.text : "",
    subject: t.subject ? t.subject.text : "",
    request: t.request ? t.request.text : "",
    summary: t.summary || "",
  };
}

function fillTicket(t) {
  const values = ticketValues(t);
  for (const f of TICKET_FIELDS) {
    const input = $("t-" + f);
    if (!input.classList.contains("edited")) input.value = values[f];
  }
}

function clearTicket() {
  for (const f of TICKET_FIELDS) {
    const input = $("t-" + f);
    input.value = "";
    input.classList.remove("edited");
  }
}

function readTicket() {
  const out = {};
  for (const f of TICKET_FIELDS) {
    const v = $("t-" + f).value.trim();
    if (v) out[f] = v;
  }
  return out;
}

// Words of the transcript the ticket was filled from, to mark in the text.
function ticketSpans(t) {
  const a = t.address || {};
  return [a.estate, a.road, a.building, a.landmark, t.when, t.subject, t.request].filter(Boolean).map((s) => s.text);
}

function highlight(text, words, spans = []) {
  const out = $("highlighted");
  const fromTicket = new Set(spans.filter((w) => w && w.length > 1));
  const terms = [...fromTicket, ...words.filter((w) => w && w.length > 1)].sort((a, b) => b.length - a.length);
  const nodes = [];
  let i = 0, plain = "";
  while (i < text.length) {
    const w = terms.find((t) => text.startsWith(t, i));
    if (w) {
      if (plain) nodes.push(document.createTextNode(plain));
      plain = "";
      const m = document.createElement("mark");
      if (fromTicket.has(w)) m.className = "ticket-span";
      m.textContent = w;
      nodes.push(m);
      i += w.length;
    } else {
      plain += text[i];
      i += 1;
    }
  }
  if (plain) nodes.push(document.createTextNode(plain));
  out.replaceChildren(...nodes);
}

function operatorId() {
  const v = $("operator").value.trim();
  if (v) localStorage.setItem("triage-operator", v);
  return v;
}

async function decide(chosen, acceptedRank) {
  const r = state.result;
  const msg = $("decision");
  msg.classList.remove("error");
  if (!r || state.resultText !== $("transcript").value) {
    // The suggestion on screen must be for the text being dispatched.
    await classifyNow();
  }
  if (!state.result) {
    msg.classList.add("error");
    msg.textContent = "请先输入来电内容并等待分析结果";
    return;
  }
  const op = operatorId();
  if (!op) {
    msg.classList.add("error");
    msg.textContent = "请先填写坐席工号";
    $("operator").focus();
    return;
  }
  const body = {
    case_id: state.caseId,
    text: state.resultText,
    suggested: state.result.departments.map((d) => d.id),
    chosen,
    operator_id: op,
    decided_at: new Date().toISOString(),
  };
  if (acceptedRank) body.accepted_rank = acceptedRank;
  const ticket = readTicket();
  if (Object.keys(ticket).length) body.ticket = ticket;
  try {
    const receipt = await api("/v1/feedback", body);
    document.querySelectorAll("#departments li").forEach((li) => li.classList.toggle("chosen", li.dataset.department === chosen));
    msg.textContent = `已派至 ${nameOf(chosen)}（案件 ${receipt.case_id}${receipt.revision > 1 ? "，已更新" : ""}）`;
  } catch (e) {
    msg.classList.add("error");
    msg.textContent = "保存失败，请重试：" + e.message;
  }
}

function accept(rank) {
  const d = state.result && state.result.departments[rank - 1];
  if (d) decide(d.id, rank);
}

function correct(ev) {
  ev.preventDefault();
  const q = $("correction").value.trim();
  if (!q) return;
  const idIn = q.match(/（([a-z_]+)）$/);
  const d = state.departments.find((x) => (idIn && x.id === idIn[1]) || x.name === q || x.id === q)
    || state.departments.find((x) => x.name.includes(q));
  if (!d) {
    $("decision").classList.add("error");
    $("decision").textContent = "没有找到单位：" + q;
    return;
  }
  $("correction").value = "";
  decide(d.id, null);
}

function newCall() {
  state.caseId = newCaseId();
  state.result = null;
  state.resultText = "";
  $("transcript").value = "";
  $("case-id").textContent = "案件 " + state.caseId;
  $("departments").replaceChildren();
  $("highlighted").replaceChildren();
  $("urgent").hidden = true;
  $("review").hidden = true;
  $("duplicate").hidden = true;
  $("decision").textContent = "";
  clearTicket();
  ["d-department", "d-district", "d-street", "d-appeal", "d-topic", "d-confidence"].forEach((id) => ($(id).textContent = "—"));
  $("transcript").focus();
}

function onKey(e) {
  const typing = e.target instanceof HTMLTextAreaElement || e.target instanceof HTMLInputElement;
  if (e.altKey && ["1", "2", "3"].includes(e.key)) {
    e.preventDefault();
    accept(Number(e.key));
  } else if (e.altKey && (e.key === "m" || e.key === "M")) {
    e.preventDefault();
    merge();
  } else if (e.altKey && (e.key === "n" || e.key === "N")) {
    e.preventDefault();
    newCall();
  } else if (e.altKey && (e.key === "t" || e.key === "T")) {
    e.preventDefault();
    $("t-address").focus();
  } else if (e.target.closest && e.target.closest("#ticket") && e.key === "Escape") {
    $("result-pane").focus();
  } else if (!typing && !e.ctrlKey && !e.metaKey && ["1", "2", "3"].includes(e.key)) {
    e.preventDefault();
    accept(Number(e.key));
  } else if (!typing && e.key === "/") {
    e.preventDefault();
    $("correction").focus();
  } else if (e.target === $("transcript") && e.key === "Escape") {
    $("result-pane").focus();
  } else if (e.target === $("transcript") && e.key === "Enter" && e.ctrlKey) {
    e.preventDefault();
    classifyNow();
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("operator").value = localStorage.getItem("triage-operator") || "";
  $("case-id").textContent = "案件 " + state.caseId;
  $("transcript").addEventListener("input", scheduleClassify);
  $("classify").addEventListener("click", classifyNow);
  $("correct-form").addEventListener("submit", correct);
  $("new-call").addEventListener("click", newCall);
  document.addEventListener("keydown", onKey);
  $("merge").addEventListener("click", merge);
  for (const f of TICKET_FIELDS) $("t-" + f).addEventListener("input", (ev) => ev.target.classList.add("edited"));
  // Enter in a ticket field must not submit the form and reload the page.
  $("ticket").addEventListener("submit", (ev) => ev.preventDefault());
  loadTaxonomy();
  loadHotspots();
  setInterval(loadHotspots, 60_000);
  $("transcript").focus();
});
