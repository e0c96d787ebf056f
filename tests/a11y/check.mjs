// Accessibility check of a rendered report: axe-core's WCAG 2.0/2.1 A and AA rules and its best practices,
// in headless Chromium (Debian's /usr/bin/chromium, driven by puppeteer-core; no browser download).
// Usage: node check.mjs REPORT.html [CHROMIUM]  →  prints {"violations": [...], "passes": N} as JSON.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import puppeteer from "puppeteer-core";

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const [file, executablePath = "/usr/bin/chromium"] = process.argv.slice(2);

const browser = await puppeteer.launch({
  executablePath,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
});
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  await page.goto(pathToFileURL(file).href, { waitUntil: "load" });
  await page.evaluate(axeSource);
  const results = await page.evaluate(async () => {
    const r = await window.axe.run(document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] },
    });
    return {
      violations: r.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length,
                                           examples: v.nodes.slice(0, 3).map(n => n.html.slice(0, 200)) })),
      passes: r.passes.length,
    };
  });
  console.log(JSON.stringify(results));
} finally {
  await browser.close();
}
