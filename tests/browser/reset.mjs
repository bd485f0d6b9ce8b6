// Forgot password in the web app: ask for the email, then (the test sends the emailed link on stdin) open
// the link, choose a new password and sign in with it. Prints JSON lines.
//   argv: <server url> <email> <new password>
import { axe, launch, lineFromTest, person, say } from "./driver.mjs";

const [url, email, newPassword] = process.argv.slice(2);
const outside = [];
const consoleErrors = [];
const screens = [];
const link = lineFromTest();
const browser = await launch();
try {
  const page = await person(browser, url, { timezoneId: "Europe/Paris", viewport: { width: 390, height: 844 }, outside, consoleErrors });
  await page.getByText("Forgot your password?").click();
  await page.locator("#forgot-form").getByLabel("Email").fill(email);
  await page.getByRole("button", { name: "Email me a reset link" }).click();
  const done = page.locator("#forgot-form [data-done]").filter({ hasText: /./ });
  await done.waitFor();
  await axe(page, "forgot password", screens);
  say({ event: "asked", message: await done.textContent() });

  await page.goto(await link);
  await page.getByRole("heading", { name: "Choose a new password" }).waitFor();
  const address = page.url();
  await axe(page, "new password", screens);
  await page.getByLabel("New password", { exact: true }).fill(newPassword);
  await page.getByRole("button", { name: "Save new password" }).click();
  await page.locator("#signin-reason").filter({ hasText: "Password changed" }).waitFor();
  await page.locator("#signin-form").getByLabel("Email").fill(email);
  await page.locator("#signin-form").getByLabel("Password").fill(newPassword);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Your upcoming sessions" }).waitFor();
  say({ event: "finished", address_after_open: address, screens, outside, console_errors: consoleErrors });
} catch (error) {
  say({ event: "error", message: String(error && error.stack || error), outside, console_errors: consoleErrors });
  process.exitCode = 1;
} finally {
  await browser.close();
}
