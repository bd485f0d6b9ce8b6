// Drives the OAuth consent screen (clients/web) in headless Chromium: opens an app's authorization URL, signs
// in, reads the scopes shown, clicks Allow and waits to be sent back to the app. Then, when told to, it opens
// the web app's connected apps, reads them, and removes the app's access there.
// Prints one JSON line: {"event": "redirected", "url", "app", "scopes"} or {"event": "error", "message"}, and,
// after a line on stdin, {"event": "removed", "listed"}.
//   argv: <authorization url> <email> <password> <callback url prefix> <user data dir>
import { axe, launchPersistent, say } from "./driver.mjs";

const [authorizeUrl, email, password, callback, userDataDir] = process.argv.slice(2);
const context = await launchPersistent(userDataDir);
try {
  const page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(20000);
  await page.goto(authorizeUrl);
  const form = page.locator("#signin-form");
  await form.getByLabel("Email").fill(email);
  await form.getByLabel("Password").fill(password);
  await form.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: /to use your account\?/ }).waitFor();
  await page.locator("#consent-scopes li").first().waitFor();
  const app = await page.locator("#consent-app").textContent();
  const scopes = await page.locator("#consent-scopes li").allTextContents();
  const screens = [];
  await axe(page, "consent", screens, process.env.KLEAR_WEB_SCREENS);
  await page.getByRole("button", { name: "Allow" }).click();
  await page.waitForURL((u) => u.toString().startsWith(callback));
  say({ event: "redirected", url: page.url(), app, scopes, screens });
  await new Promise((resolve) => process.stdin.once("data", resolve));  // the test has used the token
  await page.goto(new URL("/app/", authorizeUrl).toString());
  await page.locator("#nav").getByRole("button", { name: "Account" }).click();
  const connected = page.locator("#connected-list");
  await connected.getByRole("heading", { name: app }).waitFor();
  const listed = await connected.locator("li.card li").allTextContents();
  await axe(page, "connected apps", screens, process.env.KLEAR_WEB_SCREENS);
  await connected.getByRole("button", { name: `Remove access for ${app}` }).click();
  await connected.getByText("No connected apps.").waitFor();
  say({ event: "removed", listed, screens });
} catch (error) {
  say({ event: "error", message: String(error && error.stack || error) });
} finally {
  await context.close();
}
