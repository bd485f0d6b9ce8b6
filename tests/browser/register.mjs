// Creates an account through the browser client's form (clients/web) in headless Chromium.
// Prints one JSON line: {"event": "signed_in", "whoami"} when the new account is signed in, or
// {"event": "refused", "message"} with the error the form shows.
//   argv: <server url> <display name> <email> <password> <user data dir>
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "..", "js", "package.json"));
const { chromium } = require("playwright-core");

const [url, name, email, password, userDataDir] = process.argv.slice(2);
const say = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-extensions"],
});
try {
  const page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(20000);
  await page.goto(`${url}/`);
  await page.getByText("New here? Create an account").click();
  const form = page.locator("#register-form");
  await form.getByLabel("Your name").fill(name);
  await form.getByLabel("Email").fill(email);
  await form.getByLabel("Password").fill(password);
  await form.getByRole("button", { name: "Create account" }).click();
  const signedIn = page.getByRole("heading", { name: "Your upcoming sessions" });
  const error = form.locator("[data-error]").filter({ hasText: /./ });
  await Promise.race([signedIn.waitFor(), error.waitFor()]);
  if (await signedIn.isVisible()) {
    say({ event: "signed_in", whoami: await page.locator("#whoami").textContent() });
  } else {
    say({ event: "refused", message: await error.textContent() });
  }
} catch (error) {
  say({ event: "error", message: String(error && error.stack || error) });
} finally {
  await context.close();
}
