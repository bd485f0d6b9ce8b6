// The session in the web app: one sign-in shared by two tabs; then, once the test has expired the refresh
// token in the database (line "expire" on stdin), the page must make at most a handful of refresh calls and
// return to sign-in with the reason, never loop. Prints JSON lines.
//   argv: <server url> <email> <password>
import { createInterface } from "node:readline";
import { launch, person, say } from "./driver.mjs";

const [url, email, password] = process.argv.slice(2);
const outside = [];
const consoleErrors = [];
const commands = createInterface({ input: process.stdin });
const expired = new Promise((resolve) => commands.on("line", (line) => line.trim() === "expire" && resolve()));
const browser = await launch();
try {
  const page = await person(browser, url, { timezoneId: "Europe/Paris", viewport: { width: 390, height: 844 }, outside, consoleErrors });
  const refreshes = [];
  page.context().on("request", (r) => r.url().endsWith("/api/v1/auth/refresh") && refreshes.push(Date.now()));
  await page.locator("#signin-form").getByLabel("Email").fill(email);
  await page.locator("#signin-form").getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Your upcoming sessions" }).waitFor();
  const second = await page.context().newPage();
  await second.goto(`${url}/`);
  await second.getByRole("heading", { name: "Your upcoming sessions" }).waitFor();
  say({ event: "signed_in", tabs: 2 });

  await expired;
  const started = Date.now();
  await page.getByRole("heading", { name: "Sign in" }).waitFor({ timeout: 60000 });
  const took = Date.now() - started;
  await second.getByRole("heading", { name: "Sign in" }).waitFor({ timeout: 30000 });
  await new Promise((resolve) => setTimeout(resolve, 5000));  // and nothing more happens
  say({
    event: "finished", refreshes: refreshes.length, took_ms: took,
    reason: await page.locator("#signin-reason").textContent(),
    second_reason: await second.locator("#signin-reason").textContent(),
    outside, console_errors: consoleErrors.filter((e) => !e.includes("status of 401")),
  });
} catch (error) {
  say({ event: "error", message: String(error && error.stack || error), outside, console_errors: consoleErrors });
  process.exitCode = 1;
} finally {
  await browser.close();
  commands.close();
}
