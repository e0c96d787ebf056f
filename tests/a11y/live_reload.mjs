// Opens the preview in headless Chromium, waits for the page, then (after the test edits a template and
// writes "edited" to stdin) waits until the page shows the new sentence by itself, with no reload from here,
// and takes a screenshot. Usage: node live_reload.mjs URL SENTENCE SCREENSHOT [CHROMIUM] [TIMEOUT_MS]
// Every wait (browser start, page load, the new sentence) allows TIMEOUT_MS: the test sets it, generous
// enough for a machine whose every core is busy with other work.
import { createInterface } from "node:readline";
import puppeteer from "puppeteer-core";

const [url, sentence, screenshot, executablePath = "/usr/bin/chromium", timeoutArg = "300000"] = process.argv.slice(2);
const timeout = Number(timeoutArg);
const browser = await puppeteer.launch({
  executablePath, headless: true, timeout,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
});
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1000, height: 700 });
  page.setDefaultTimeout(timeout);
  await page.goto(url, { waitUntil: "load", timeout });
  console.log("ready");
  for await (const line of createInterface({ input: process.stdin })) { if (line.trim() === "edited") break; }
  await page.waitForFunction(text => document.body.innerText.includes(text), { timeout }, sentence);
  await page.evaluate(text => {
    const node = [...document.querySelectorAll("p")].find(p => p.innerText.includes(text));
    if (node) node.scrollIntoView();
  }, sentence);
  await page.screenshot({ path: screenshot });
  console.log("shown");
} finally {
  await browser.close();
}
