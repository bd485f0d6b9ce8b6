// Sharing health records through the web app: a practitioner (desktop) asks for access on a booking; the
// client (390x844) sees the request arrive live and accepts it by keyboard alone; the practitioner's card
// follows. Then (after the test has read the client's records over the API and writes a line) the client
// finds the reads in "Who has seen my health data" and stops sharing on the booking, and the practitioner's
// card follows again. Last (after a second line: the test proposed again and moved the server's clock past
// that request's expiry), the client's Accept is refused and the card says why. axe-core runs on every new
// screen at desktop and phone size. Prints JSON lines.
//   argv: <server url> <practitioner email> <client email> <password> [<folder for screenshots>]
import { axe, launch, lineFromTest, person, say } from "./driver.mjs";

const [url, proEmail, clientEmail, password, shots] = process.argv.slice(2);
const outside = [];
const consoleErrors = [];
const screens = [];
let told = lineFromTest();
const browser = await launch();
const signIn = async (page, email) => {
  const form = page.locator("#signin-form");
  await form.getByLabel("Email").fill(email);
  await form.getByLabel("Password").fill(password);
  await form.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("navigation", { name: "Main" }).waitFor();
};
// Press Tab until `target` has focus (an error after `most` presses).
const tabTo = async (page, target, most = 20) => {
  for (let presses = 1; presses <= most; presses++) {
    await page.keyboard.press("Tab");
    if (await target.evaluate((node) => node === document.activeElement)) return;
  }
  throw new Error(`not reached by Tab: ${target}`);
};
const check = (page, part, screen) => axe(page, screen, screens, shots, part);
const focused = (page) => page.evaluate(() => (document.activeElement.textContent || "").trim());

try {
  const pro = await person(browser, url, { timezoneId: "Europe/Berlin", viewport: { width: 1280, height: 900 }, outside, consoleErrors });
  const client = await person(browser, url, { timezoneId: "America/New_York", viewport: { width: 390, height: 844 }, outside, consoleErrors });
  await signIn(pro, proEmail);
  await signIn(client, clientEmail);
  const proCard = pro.locator("li.card").filter({ hasText: "with Cleo Client" });
  const clientCard = client.locator("li.card").filter({ hasText: "with Pat Practitioner" });
  await clientCard.waitFor();

  // 1. The practitioner asks for the health history and session notes, for 30 days after the session.
  const before = await proCard.locator(".sharing").textContent();
  await proCard.getByRole("button", { name: "Ask for access to health records" }).click();
  const form = proCard.locator("form");
  const choices = await form.locator("fieldset label").allTextContents();
  const hints = await form.locator("fieldset .hint").allTextContents();
  await check(pro, form, "ask for access to health records");
  await form.getByLabel("Health history").check();
  await form.getByLabel("Session notes").check();
  const length = await form.getByLabel("For how long").locator("option:checked").textContent();
  await form.getByRole("button", { name: "Send request" }).click();
  await proCard.locator("[data-state]").filter({ hasText: "Waiting for Cleo Client's answer" }).waitFor();
  const waiting = await proCard.locator("[data-state]").textContent();
  await check(pro, proCard, "request waiting");

  // 2. It arrives on the client's card live; the client answers by keyboard alone.
  await clientCard.getByText("Pat Practitioner asks to read").waitFor();
  const asked = await clientCard.locator(".sharing").textContent();
  const toast = await client.locator("#toasts .toast").textContent();
  await client.locator("#toasts .toast").waitFor({ state: "detached" });  // it covers the card a moment on a phone
  await check(client, clientCard.locator(".sharing"), "request to answer (phone)");
  await clientCard.locator("h3").focus();  // where a live reload of the list leaves focus
  await tabTo(client, clientCard.getByRole("button", { name: /^Accept/ }));
  await client.keyboard.press("Enter");
  await clientCard.locator("[data-state]").filter({ hasText: "Shared with Pat Practitioner until" }).waitFor();
  const afterAccept = await focused(client);
  const shared = await clientCard.locator(".sharing").textContent();
  await check(client, clientCard.locator(".sharing"), "sharing (phone)");
  await proCard.locator("[data-state]").filter({ hasText: "Accepted: Cleo Client shares" }).waitFor();
  const accepted = await proCard.locator("[data-state]").textContent();
  await check(pro, proCard, "request accepted");
  say({ event: "accepted", before, choices, hints, length, waiting, asked, toast, after_accept: afterAccept, shared, accepted });

  // 3. The test reads the client's records as the practitioner; the client sees who read what, and when.
  await told;
  told = lineFromTest();
  await client.getByRole("button", { name: "Account" }).click();
  const log = client.locator("#access-list li");
  await log.first().filter({ hasText: "Pat Practitioner" }).waitFor();
  const entries = await log.allTextContents();
  const times = await log.locator("time").evaluateAll((nodes) => nodes.map((n) => n.getAttribute("datetime")));
  const sharedNow = await client.locator("#shared-list li").allTextContents();
  await check(client, client.locator("#access"), "who has seen my health data (phone)");

  // 4. The client stops sharing on the booking (by keyboard); the practitioner's card follows live.
  await client.getByRole("button", { name: "Sessions" }).click();
  await clientCard.getByRole("button", { name: /^Stop sharing/ }).focus();
  await client.keyboard.press("Enter");
  await clientCard.locator("[data-state]").filter({ hasText: "You stopped sharing your health records with Pat Practitioner." }).waitFor();
  await proCard.locator("[data-state]").filter({ hasText: "Cleo Client stopped sharing" }).waitFor();
  const revoked = await proCard.locator(".sharing").textContent();
  await client.getByRole("button", { name: "Account" }).click();
  await client.locator("#shared-list").getByText("You are not sharing your health records with anyone.").waitFor();
  say({ event: "revoked", entries, times, shared_now: sharedNow, revoked });

  // 5. A request the server's clock says has expired (it arrived live in the account view's list, where the
  // client still is): Accept is refused, and the card says so where its buttons were.
  await told;
  const request = client.locator("#shared-list li.card").filter({ hasText: "asks to read" });
  await request.getByRole("button", { name: /^Accept/ }).focus();
  await client.keyboard.press("Enter");
  await request.locator(".error").filter({ hasText: "expired" }).waitFor();
  const late = { error: await request.locator(".error").textContent(), buttons: await request.locator("button").count(),
    focused: await focused(client) };
  await check(client, request, "request expired (phone)");
  say({ event: "finished", late, screens, outside, console_errors: consoleErrors });
} catch (error) {
  say({ event: "error", message: String(error && error.stack || error), outside, console_errors: consoleErrors });
  process.exitCode = 1;
} finally {
  await browser.close();
}
