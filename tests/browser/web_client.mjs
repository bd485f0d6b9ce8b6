// Drives the browser client (clients/web) in Debian's headless Chromium with playwright-core.
// One JSON object per line on stdout tells the Python test how far it got; a line {"cmd": "done"}
// on stdin ends the run. Any request the page makes outside the server's origin is refused and
// reported, so the test can prove the browser downloaded nothing.
//   argv: <server url> <email> <password> <offering name> <time zone> <user data dir>
import { createInterface } from "node:readline";
import { launchPersistent, say } from "./driver.mjs";

const [url, email, password, offeringName, timeZone, userDataDir] = process.argv.slice(2);
const commands = createInterface({ input: process.stdin });
const done = new Promise((resolve) => commands.on("line", (line) => JSON.parse(line).cmd === "done" && resolve()));

const context = await launchPersistent(userDataDir, { timezoneId: timeZone, locale: "en-US" },
  ["--auto-select-desktop-capture-source=Entire screen"]);
const origin = new URL(url).origin;
const outside = [];
await context.route("**/*", (route) => {
  const target = route.request().url();
  if (target.startsWith(origin) || target.startsWith("data:") || target.startsWith("blob:")) return route.continue();
  outside.push(target);
  return route.abort();
});
const consoleErrors = [];

// Polls an async check in the page (page.waitForFunction does not await a promise it returns).
async function until(page, check, timeout = 30000) {
  const deadline = Date.now() + timeout;
  while (!(await page.evaluate(check))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${check}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

try {
  const page = context.pages()[0] || await context.newPage();
  page.on("console", (m) => m.type() === "error" && consoleErrors.push(m.text()));
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  page.setDefaultTimeout(20000);

  await page.goto(`${url}/`);
  await page.getByLabel("Email").first().fill(email);
  await page.getByLabel("Password").first().fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Your upcoming sessions" }).waitFor();
  say({ event: "signed_in", zone: await page.locator("#zone").textContent() });

  // Book the first free time through the practitioner's profile, the calendar and the review step.
  await page.getByRole("button", { name: "Book", exact: true }).click();
  await page.getByRole("button", { name: "Find practitioners" }).click();
  await page.getByRole("button", { name: "View Pat Practitioner's profile" }).click();
  await page.getByRole("button", { name: `Choose a time for ${offeringName}` }).click();
  await page.getByRole("button", { name: "Next available" }).click();
  const slots = page.getByRole("list", { name: "Free times" }).getByRole("button");
  await slots.first().waitFor();
  const slotLabel = await slots.first().getAttribute("aria-label");
  await slots.first().click();
  await page.getByRole("button", { name: "Confirm booking" }).click();
  await page.getByRole("heading", { name: /^Booked: / }).waitFor();
  await page.getByRole("button", { name: "See your sessions" }).click();
  const card = page.locator("#booking-list li.card").first();
  await card.waitFor();
  say({
    event: "booked", slot: slotLabel, status: await page.locator("#status").textContent(),
    card: await card.textContent(), start: await card.locator("time").getAttribute("datetime"),
    booking_id: await card.locator("button[data-booking]").getAttribute("data-booking"),
  });

  // Chat with the practitioner: send, see them typing, get the reply, see our message read.
  await card.getByRole("button", { name: /^Chat with/ }).click();
  say({ event: "chat_open" });
  await page.getByLabel("Message", { exact: true }).pressSequentially("Hello from the browser");
  await page.getByRole("button", { name: "Send" }).click();
  say({ event: "sent" });
  await page.locator("#typing").filter({ hasText: "is typing" }).waitFor();
  const typing = await page.locator("#typing").textContent();
  await page.getByRole("log", { name: "Messages" }).getByText("Hello back").waitFor();
  await page.locator("li.message.own .receipt").filter({ hasText: "Read" }).waitFor();
  say({ event: "chatted", typing });

  // Video: camera and microphone from Chromium's fake devices; wait until the other side's video decodes.
  await card.getByRole("button", { name: /^Join video/ }).click();
  await page.getByRole("button", { name: "Join now" }).click();
  await until(page, async () => {
    const room = window.klear.room();
    if (!room) return false;
    const s = await room.stats();
    const video = s.inbound.filter((t) => t.kind === "video");
    const sent = s.outbound.filter((t) => t.kind === "video");
    return video.length > 0 && video[0].framesDecoded >= 30 && video[0].frameWidth > 0
      && sent.length > 0 && sent[0].framesEncoded >= 30;
  });
  // Both are in the room: the booking is now in session, and the list says so without a reload.
  await card.filter({ hasText: "in session" }).waitFor();
  say({ event: "video", stats: await page.evaluate(() => window.klear.room().stats()),
        people: await page.locator("#people").textContent(), card: await card.textContent() });

  // Screen share on (a second outbound video track, renegotiated), then off again.
  await page.getByRole("button", { name: "Share screen" }).click();
  await page.getByRole("button", { name: "Stop sharing" }).waitFor();
  await until(page, async () => {
    const s = await window.klear.room().stats();
    return s.outbound.filter((t) => t.kind === "video" && t.framesEncoded > 10).length >= 2;
  });
  say({ event: "screen_on" });
  await page.getByRole("button", { name: "Stop sharing" }).click();
  await page.getByRole("button", { name: "Share screen" }).waitFor();
  say({ event: "screen_off" });

  await done;
  await page.getByRole("button", { name: "Leave" }).click();
  await page.locator("#status").filter({ hasText: "You left" }).waitFor();
  say({ event: "finished", outside, console_errors: consoleErrors });
} catch (error) {
  const status = await context.pages()[0]?.locator("#status").textContent().catch(() => null);
  say({ event: "error", message: String(error && error.stack || error), status, outside, console_errors: consoleErrors });
  process.exitCode = 1;
} finally {
  await context.close();
  commands.close();  // stdin would keep node running
}
