// Email verification in the web app: ask for the link in the account view, then (the test sends the emailed
// link on stdin) open it in the same tab; the account view then says the address is confirmed.
//   argv: <server url> <email> <password>
import { axe, launch, lineFromTest, person, say } from "./driver.mjs";

const [url, email, password] = process.argv.slice(2);
const outside = [];
const consoleErrors = [];
const screens = [];
const link = lineFromTest();
const browser = await launch();
try {
  const page = await person(browser, url, { timezoneId: "Europe/Paris", viewport: { width: 390, height: 844 }, outside, consoleErrors });
  await page.locator("#signin-form").getByLabel("Email").fill(email);
  await page.locator("#signin-form").getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("button", { name: "Account" }).click();
  await page.getByRole("button", { name: "Email me a confirmation link" }).click();
  await page.locator("#email-state").filter({ hasText: "We sent a confirmation link" }).waitFor();
  await axe(page, "account, unconfirmed", screens);
  say({ event: "asked" });
  await page.goto(await link);
  await page.locator("#status").filter({ hasText: "Your email address is confirmed." }).waitFor();
  await page.locator("#email-state").filter({ hasText: "Your email address is confirmed." }).waitFor();
  say({ event: "finished", address: page.url(), screens, outside, console_errors: consoleErrors });
} catch (error) {
  say({ event: "error", message: String(error && error.stack || error), outside, console_errors: consoleErrors });
  process.exitCode = 1;
} finally {
  await browser.close();
}
