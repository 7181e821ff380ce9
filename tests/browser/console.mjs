// Drives the operator console in headless Chromium, keyboard only, the way an operator works:
// type the call, leave the box with Esc, press 1; asked for the operator id, type it, press
// Alt+1; on the way, see today's hot spots and merge the call into the earlier case it repeats
// with Alt+M; amend the pre-filled ticket by keyboard; then, on a second page, type an emergency
// and read the hand-off banner. Prints {"case_id", "chosen", "suggested", "hot_spots",
// "urgent_banner", "ticket", "ticket_marks", "ticket_prefilled_chars", "ticket_keys", ...} as JSON for
// tests/console.rs to check against the SQLite store.
//   node console.mjs BASE_URL [SCREENSHOT.png]
import { chromium } from "playwright-core";

const [base, screenshot] = process.argv.slice(2);
const transcript =
  "坐席：您好，12345热线。市民：你好，我是朝阳区望京街道的，我们小区楼下新开了一家烧烤店，" +
  "每天晚上油烟特别大，呛得我们开不了窗，一直弄到半夜两三点，还特别吵，孩子都睡不好觉。";

function fail(msg) {
  console.error("console test: " + msg);
  process.exit(1);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1366, height: 768 }, locale: "zh-CN" });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(base + "/", { waitUntil: "load" });
  await page.waitForFunction(() => document.querySelectorAll("#department-list option").length > 0, null, { timeout: 10000 });

  // The transcript box has the focus on load; type as an operator would.
  if (!(await page.evaluate(() => document.activeElement && document.activeElement.id === "transcript"))) fail("the transcript box does not have the focus");
  await page.keyboard.type(transcript, { delay: 2 });
  // Debounced classification: the suggestion appears without pressing anything.
  await page.waitForSelector("#departments li", { timeout: 30000 });
  const suggested = await page.$$eval("#departments li", (lis) => lis.map((li) => li.dataset.department));
  const district = await page.textContent("#d-district");
  if (!district.includes("朝阳区")) fail("district not shown: " + district);
  const marks = await page.$$eval("#highlighted mark", (ms) => ms.map((m) => m.textContent));
  if (marks.length === 0) fail("no keyword highlighted in the transcript");
  // Today's hot spots (the test seeded five earlier calls about this barbecue) and the repeat
  // banner: Alt+M merges this call into the earlier case instead of dispatching it again.
  await page.waitForSelector("#hotspots li:not(.muted)", { timeout: 10000 });
  const hotSpots = await page.$$eval("#hotspots li", (lis) => lis.map((li) => li.textContent));
  await page.waitForSelector("#duplicate:not([hidden])", { timeout: 10000 });
  await page.keyboard.press("Alt+m");
  await page.waitForFunction(() => document.querySelector("#decision").textContent.includes("已合并至"), null, { timeout: 10000 });

  // The ticket is pre-filled from the call. Alt+T enters it, Tab moves on, End and a few
  // characters amend the request, Esc leaves it; dispatching saves it with the decision.
  const FIELDS = ["address", "when", "subject", "request", "summary"];
  await page.waitForFunction(() => document.querySelector("#t-summary").value.length > 0, null, { timeout: 10000 });
  const prefilled = await page.evaluate((fs) => fs.map((f) => document.querySelector("#t-" + f).value), FIELDS);
  // The fields' sources are marked in the text at the offsets the answer gave.
  const ticketMarks = await page.$$eval("#highlighted mark.ticket-span", (ms) => ms.map((m) => m.textContent));
  let ticketKeys = 0;
  const press = async (k) => {
    ticketKeys += 1;
    await page.keyboard.press(k);
  };
  await press("Alt+t");
  if (!(await page.evaluate(() => document.activeElement.id === "t-address"))) fail("Alt+T does not enter the ticket");
  for (let i = 0; i < 3; i++) await press("Tab");
  await press("End");
  const added = "要求尽快查处";
  await page.keyboard.type(added);
  ticketKeys += added.length;
  await press("Escape");
  const ticket = await page.evaluate((fs) => Object.fromEntries(fs.map((f) => [f, document.querySelector("#t-" + f).value])), FIELDS);
  if (!ticket.request.endsWith(added)) fail("the request was not amended: " + JSON.stringify(ticket));

  // Leave the box and press 1: no operator id yet, so the page asks for it and focuses it.
  await page.keyboard.press("Escape");
  await page.keyboard.press("1");
  await page.waitForFunction(() => document.activeElement && document.activeElement.id === "operator", null, { timeout: 5000 });
  await page.keyboard.type("OP-E2E");
  await page.keyboard.press("Alt+1");
  await page.waitForFunction(() => document.querySelector("#decision").textContent.includes("已派至"), null, { timeout: 30000 });
  const caseId = (await page.textContent("#case-id")).replace("案件 ", "").trim();
  const chosen = await page.$eval("#departments li.chosen", (li) => li.dataset.department);
  if (errors.length) fail("page errors: " + errors.join("; "));
  if (screenshot) await page.screenshot({ path: screenshot });

  // An emergency on a fresh page: the red banner names the line to hand the call to.
  const second = await browser.newPage({ viewport: { width: 1366, height: 768 }, locale: "zh-CN" });
  await second.goto(base + "/", { waitUntil: "load" });
  await second.keyboard.type("市民：我刚按自称公安局的人说的把八万块钱转过去了，他现在还让我继续转，我该怎么办", { delay: 2 });
  await second.waitForSelector("#urgent:not([hidden])", { timeout: 30000 });
  const urgentBanner = await second.textContent("#urgent");
  const prefilledChars = prefilled.reduce((n, v) => n + [...v].length, 0);
  console.log(JSON.stringify({ case_id: caseId, chosen, suggested, highlighted: marks, hot_spots: hotSpots, urgent_banner: urgentBanner,
    ticket, ticket_prefilled: prefilled, ticket_marks: ticketMarks, ticket_prefilled_chars: prefilledChars, ticket_keys: ticketKeys }));
} finally {
  await browser.close();
}
