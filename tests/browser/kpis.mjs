// Opens the 考核 page in headless Chromium for a period and reads back what a supervisor sees:
// the overall tiles, each department's row, the drift alarms and the weekly chart's lines.
// Prints them as JSON for tests/console.rs to check against GET /v1/kpis.
//   node kpis.mjs BASE_URL FROM TO [SCREENSHOT.png]
import { chromium } from "playwright-core";

const [base, from, to, screenshot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1366, height: 900 }, locale: "zh-CN" });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  // Every request the page makes must succeed (the browser's own favicon probe aside).
  page.on("response", (r) => { if (r.status() >= 400 && !r.url().endsWith("/favicon.ico")) errors.push(`${r.status()} ${r.url()}`); });
  await page.goto(`${base}/kpis?from=${from}&to=${to}`, { waitUntil: "load" });
  await page.waitForFunction(() => document.body.dataset.loaded === "true", null, { timeout: 15000 });
  const result = await page.evaluate(() => ({
    tiles: [...document.querySelectorAll("#overall .tile")].map((t) => [t.querySelector("span").textContent, t.querySelector("b").textContent]),
    rows: [...document.querySelectorAll("#departments tbody tr")].map((tr) => ({ department: tr.dataset.department, cells: [...tr.cells].map((c) => c.textContent) })),
    drift: [...document.querySelectorAll("#drift li")].map((li) => ({ text: li.textContent, worse: li.classList.contains("worse") })),
    lines: [...document.querySelectorAll("#trend polyline")].map((p) => ({ rate: p.dataset.rate, points: p.getAttribute("points").split(" ").length })),
    period: document.querySelector("#period").textContent,
  }));
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
  result.errors = errors;
  console.log(JSON.stringify(result));
} finally {
  await browser.close();
}
