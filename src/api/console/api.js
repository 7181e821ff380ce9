// What both pages share: calling the service with the operator's API key. The key lives in
// localStorage; on 401/403 the page asks for it once and retries.
"use strict";

function apiHeaders(json) {
  const h = json ? { "Content-Type": "application/json" } : {};
  const key = localStorage.getItem("triage-api-key");
  if (key) h["Authorization"] = "Bearer " + key;
  return h;
}

// GET `path`, or POST `body` as JSON; resolves to the parsed answer, throws "STATUS message".
async function api(path, body) {
  const post = body !== undefined;
  const init = () => (post ? { method: "POST", headers: apiHeaders(true), body: JSON.stringify(body) } : { headers: apiHeaders(false) });
  let r = await fetch(path, init());
  if (r.status === 401 || r.status === 403) {
    const key = window.prompt("此服务需要 API 密钥：");
    if (key) {
      localStorage.setItem("triage-api-key", key.trim());
      r = await fetch(path, init());
    }
  }
  const data = await r.json().catch(() => ({}));
  if (!r.ok) {
    const msg = data.error ? data.error.message : r.statusText;
    throw new Error(`${r.status} ${msg}`);
  }
  return data;
}
