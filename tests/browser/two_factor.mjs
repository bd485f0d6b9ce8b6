// Two-factor sign-in in the web app: turn it on in the account view (the test computes the codes from the
// key the page shows and sends them on stdin), sign out, and sign in with password and code.
//   argv: <server url> <email> <password>
import { createInterface } from "node:readline";
import { axe, launch, person, say } from "./driver.mjs";

const [url, email, password] = process.argv.slice(2);
const outside = [];
const consoleErrors = [];
const screens = [];
const input = createInterface({ input: process.stdin });
const queue = [];
const waiting = [];
input.on("line", (line) => (waiting.length ? waiting.shift()(line.trim()) : queue.push(line.trim())));
const nextLine = () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((resolve) => waiting.push(resolve)));
const browser = await launch();
try {
  const page = await person(browser, url, { timezoneId: "Europe/Paris", viewport: { width: 390, height: 844 }, outside, consoleErrors });
  const signIn = page.locator("#signin-form");
  await signIn.getByLabel("Email").fill(email);
  await signIn.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("button", { name: "Account" }).click();
  await page.getByRole("button", { name: "Turn on two-factor sign-in" }).click();
  const key = (await page.locator("#two-factor-key").textContent()).replaceAll(" ", "");
  await axe(page, "two-factor setup", screens);
  say({ event: "key", secret: key });
  await page.locator("#two-factor").getByLabel("Code from your authenticator app").fill(await nextLine());
  await page.getByRole("button", { name: "Turn on", exact: true }).click();
  await page.locator("#recovery-codes li").first().waitFor();
  const codes = await page.locator("#recovery-codes li").allTextContents();
  await axe(page, "recovery codes", screens);
  await page.getByRole("button", { name: "Sign out" }).click();

  await signIn.getByLabel("Email").fill(email);
  await signIn.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  const asked = signIn.locator("[data-error]").filter({ hasText: /./ });
  await asked.waitFor();
  const prompt = await asked.textContent();
  const focused = await page.evaluate(() => document.activeElement.id);
  say({ event: "code_asked" });
  await signIn.getByLabel("Code from your authenticator app").fill(await nextLine());
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Your upcoming sessions" }).waitFor();
  say({ event: "finished", codes, prompt, focused, screens, outside, console_errors: consoleErrors.filter((e) => !e.includes("status of 401")) });
} catch (error) {
  say({ event: "error", message: String(error && error.stack || error), outside, console_errors: consoleErrors });
  process.exitCode = 1;
} finally {
  await browser.close();
  input.close();
}
