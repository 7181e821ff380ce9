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
  highlight(r.masked_text || text, r.keywords.map((k) => k.word), ticketSpans(r.ticket || {}));

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

// Where the ticket's fields came from: spans of the masked text, in characters.
function ticketSpans(t) {
  const a = t.address || {};
  return [a.estate, a.road, a.building, a.landmark, t.when, t.subject, t.request, ...(t.amounts || []), ...(t.people || [])]
    .filter((s) => s && s.end > s.start);
}

// Show the text the model read (normalised, numbers masked) with the ticket's spans marked at
// their offsets, and the keywords marked where they occur outside them. Built with text nodes,
// never innerHTML, so a transcript cannot inject markup.
function highlight(text, words, spans = []) {
  const chars = Array.from(text); // offsets count characters, not UTF-16 units
  const owner = new Array(chars.length).fill(null); // per character: its mark, or null
  for (const s of spans) {
    const mark = { cls: "ticket-span" };
    for (let i = Math.max(0, s.start); i < Math.min(s.end, chars.length); i++) if (owner[i] === null) owner[i] = mark;
  }
  const terms = words.filter((w) => w && w.length > 1).map((w) => Array.from(w)).sort((a, b) => b.length - a.length);
  for (let i = 0; i < chars.length; i++) {
    if (owner[i] !== null) continue;
    const w = terms.find((t) => t.every((c, j) => chars[i + j] === c && owner[i + j] === null));
    if (!w) continue;
    const mark = { cls: "" };
    for (let j = 0; j < w.length; j++) owner[i + j] = mark;
    i += w.length - 1;
  }
  const nodes = [];
  for (let i = 0; i < chars.length; ) {
    let j = i + 1;
    while (j < chars.length && owner[j] === owner[i]) j++;
    const piece = chars.slice(i, j).join("");
    if (owner[i] === null) {
      nodes.push(document.createTextNode(piece));
    } else {
      const m = document.createElement("mark");
      if (owner[i].cls) m.className = owner[i].cls;
      m.textContent = piece;
      nodes.push(m);
    }
    i = j;
  }
  $("highlighted").replaceChildren(...nodes);
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
