// Shared by the browser drivers: launch Debian's headless Chromium through playwright-core, refuse every
// request outside the server's origin (and remember it), run axe-core on a screen, and print JSON lines.
import { createInterface } from "node:readline";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { readFileSync } from "node:fs";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "..", "js", "package.json"));
const { chromium } = require("playwright-core");
const AXE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

export const say = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

// The first line the test writes to this script's stdin (an emailed link, say).
export function lineFromTest() {
  const lines = createInterface({ input: process.stdin });
  return new Promise((resolve) => lines.once("line", (line) => { lines.close(); resolve(line.trim()); }));
}

// Every driver's Chromium: headless, quiet, fake camera and microphone, and no name resolves but loopback.
const CHROMIUM_ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--disable-default-apps", "--disable-extensions", "--metrics-recording-only", "--no-default-browser-check",
  "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
  "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
];

export async function launch() {
  return chromium.launch({ executablePath: "/usr/bin/chromium", headless: true, args: CHROMIUM_ARGS });
}

// The same Chromium with a profile kept in `userDataDir` (for storage that must outlive a page, like a sign-in).
export async function launchPersistent(userDataDir, options = {}, extraArgs = []) {
  return chromium.launchPersistentContext(userDataDir, {
    ...options, executablePath: "/usr/bin/chromium", headless: true, args: [...CHROMIUM_ARGS, ...extraArgs],
  });
}

// A signed-out person in their own context; `outside` collects requests that left the origin.
export async function person(browser, url, { timezoneId, viewport, outside, consoleErrors }) {
  const context = await browser.newContext({ timezoneId, viewport, locale: "en-US" });
  const origin = new URL(url).origin;
  await context.route("**/*", (route) => {
    const target = route.request().url();
    if (target.startsWith(origin) || target.startsWith("data:") || target.startsWith("blob:")) return route.continue();
    outside.push(target);
    return route.abort();
  });
  const page = await context.newPage();
  page.setDefaultTimeout(20000);
  // A new practitioner's profile is looked up and not found (404): the page expects that; nothing else may fail.
  page.on("console", (m) => m.type() === "error" && !m.text().includes("status of 404") && consoleErrors.push(m.text()));
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  await page.goto(`${url}/`);
  return page;
}

// axe-core's violations on the screen as it is now, at desktop and at phone size (evaluated through DevTools,
// so the page's CSP stays on), with how far it scrolls sideways; `shots`: a folder for a screenshot of each,
// with `part` (a locator) scrolled into view at each size when given.
const SIZES = { desktop: { width: 1280, height: 900 }, phone: { width: 390, height: 844 } };

export async function axe(page, screen, results, shots, part) {
  const own = page.viewportSize();
  for (const [size, viewport] of Object.entries(SIZES)) {
    await page.setViewportSize(viewport);
    if (part) await part.evaluate((node) => node.scrollIntoView({ block: "center" }));
    if (!(await page.evaluate(() => Boolean(window.axe)))) await page.evaluate(AXE);
    const violations = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }))
      .then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 3) })));
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    results.push({ screen, size, violations, overflow });
    if (shots) {
      const name = screen.replace(/\(.*?\)/g, "").trim().replace(/[^a-z0-9]+/gi, "-").toLowerCase();
      await page.screenshot({ path: path.join(shots, `${name}-${size}.png`) });
    }
  }
  await page.setViewportSize(own);
}

// Register through the sign-up form.
export async function register(page, name, email, password, role) {
  await page.getByText("New here? Create an account").click();
  const form = page.locator("#register-form");
  await form.getByLabel("Your name").fill(name);
  await form.getByLabel("Email").fill(email);
  await form.getByLabel("Password").fill(password);
  await form.getByLabel(role === "practitioner" ? "a practitioner" : "looking after my health").check();
  await form.getByRole("button", { name: "Create account" }).click();
  await page.getByRole("navigation", { name: "Main" }).waitFor();
}

export async function statusSays(page, text) {
  await page.locator("#status").filter({ hasText: text }).waitFor();
}
