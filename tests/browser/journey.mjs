// The two-role journey through the web app alone (no REST call from the test): a practitioner signs up and
// sets up profile (choosing to show "available now"), an offering that needs approval and weekly hours; a client on a phone-sized screen finds
// them, books through the month calendar and the review step; the practitioner confirms from the requests
// inbox and the client's page follows live; they chat; the client reschedules and the practitioner's agenda
// follows; the client cancels. axe-core runs on every screen on the way. Prints JSON lines.
//   argv: <server url> <practitioner email> <client email> <password> [<folder for screenshots>]
import { axe, launch, person, register, say, statusSays } from "./driver.mjs";

const [url, proEmail, clientEmail, password, shots] = process.argv.slice(2);
const outside = [];
const consoleErrors = [];
const screens = [];
const focusAfter = {};
const browser = await launch();
const focused = (page) => page.evaluate(() => {
  const e = document.activeElement;
  return e ? `${e.tagName.toLowerCase()}:${(e.textContent || "").trim().slice(0, 80)}` : null;
});

try {
  // 1. The practitioner signs up and sets up.
  const pro = await person(browser, url, { timezoneId: "Europe/Berlin", viewport: { width: 1280, height: 900 }, outside, consoleErrors });
  // The first screen renders in under a second on loopback (first contentful paint).
  const firstPaint = await pro.evaluate(() => new Promise((resolve) => {
    const found = () => performance.getEntriesByName("first-contentful-paint")[0];
    if (found()) return resolve(found().startTime);
    new PerformanceObserver(() => found() && resolve(found().startTime)).observe({ type: "paint", buffered: true });
  }));
  await axe(pro, "sign-in", screens, shots);
  await register(pro, "Pat Practitioner", proEmail, password, "practitioner");
  await pro.getByRole("heading", { name: "Your workspace" }).waitFor();
  await axe(pro, "workspace (new)", screens, shots);
  await pro.getByLabel("About you").fill("Yoga teacher in Berlin.");
  await pro.getByLabel("yoga", { exact: true }).check();
  await pro.getByLabel("Languages").fill("en, de");
  await pro.getByLabel("Least notice for a booking").fill("0");
  await pro.getByLabel("Spacing of start times").fill("5");
  await pro.getByLabel("Show clients \"Available now\"").check();
  await pro.getByRole("button", { name: "Save profile" }).click();
  await statusSays(pro, "Profile saved.");
  focusAfter.profile = await focused(pro);
  const offering = pro.locator("#offering-form");
  await offering.getByLabel("Name").fill("Video yoga");
  await offering.getByLabel("Length (minutes)").fill("30");
  await offering.getByLabel("Price").fill("25");
  await offering.getByLabel("needs approval").check();
  await offering.getByRole("button", { name: "Add offering" }).click();
  await statusSays(pro, "Offering Video yoga added.");
  for (const day of ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]) {
    await pro.locator("#hours-form fieldset").filter({ hasText: day }).getByLabel("Open").check();
    await pro.getByLabel(`${day} from`).fill("00:00");
    await pro.getByLabel(`${day} until`).fill("23:59");
  }
  await pro.getByRole("button", { name: "Save hours" }).click();
  await statusSays(pro, "Hours saved.");
  await pro.locator("#setup-state").filter({ hasText: "You are bookable" }).waitFor();
  await axe(pro, "workspace (set up)", screens, shots);
  say({ event: "practitioner_ready", shows_available_now: await pro.getByLabel("Show clients \"Available now\"").isChecked() });

  // 2. The client, on a phone, finds them and books through the calendar, by keyboard.
  const client = await person(browser, url, { timezoneId: "America/New_York", viewport: { width: 390, height: 844 }, outside, consoleErrors });
  await register(client, "Cleo Client", clientEmail, password, "client");
  await axe(client, "sessions (phone)", screens, shots);
  const key = async (locator) => { await locator.focus(); await client.keyboard.press("Enter"); };
  await key(client.getByRole("button", { name: "Book", exact: true }));
  await client.getByLabel("Practice").selectOption("yoga");
  await key(client.getByRole("button", { name: "Find practitioners" }));
  await statusSays(client, "1 practitioner found.");
  await axe(client, "search (phone)", screens, shots);
  await key(client.getByRole("button", { name: "View Pat Practitioner's profile" }));
  await client.getByRole("heading", { name: "Pat Practitioner", level: 1 }).waitFor();
  focusAfter.profile_page = await focused(client);
  await axe(client, "profile (phone)", screens, shots);
  await key(client.getByRole("button", { name: "Choose a time for Video yoga" }));
  await client.getByRole("table").waitFor();
  await axe(client, "calendar (phone)", screens, shots);
  await key(client.getByRole("button", { name: "Next available" }));
  const slots = client.getByRole("list", { name: "Free times" }).getByRole("button");
  await slots.first().waitFor();
  focusAfter.day = await focused(client);
  const slotName = await slots.first().getAttribute("aria-label");
  await key(slots.first());
  await client.getByRole("heading", { name: "Review your booking" }).waitFor();
  focusAfter.review = await focused(client);
  const review = await client.locator("#review-form").textContent();
  await axe(client, "review (phone)", screens, shots);
  await client.getByLabel("Note for the practitioner (optional)").fill("First time, a little stiff.");
  await key(client.getByRole("button", { name: "Send request" }));
  await client.getByRole("heading", { name: /^Requested: Video yoga/ }).waitFor();
  focusAfter.confirmation = await focused(client);
  await axe(client, "confirmation (phone)", screens, shots);
  const ics = await client.getByRole("link", { name: "Add to calendar (.ics)" }).getAttribute("download");
  await key(client.getByRole("button", { name: "See your sessions" }));
  const clientCard = client.locator("#booking-list li.card").first();
  await clientCard.filter({ hasText: "awaiting confirmation" }).waitFor();
  say({ event: "requested", slot: slotName, review, ics, start: await clientCard.locator("time").getAttribute("datetime") });

  // 3. The practitioner confirms from the inbox; the client's page follows live.
  await pro.getByRole("button", { name: "Sessions" }).click();
  const request = pro.locator("#request-list li.card").first();
  await request.filter({ hasText: "First time, a little stiff." }).waitFor();
  await axe(pro, "requests inbox", screens, shots);
  await request.getByRole("button", { name: /^Confirm/ }).click();
  await pro.locator("#booking-list li.card").filter({ hasText: "confirmed" }).waitFor();
  focusAfter.confirm = await focused(pro);
  await clientCard.filter({ hasText: "confirmed" }).waitFor();
  const liveStatus = await client.locator("#status").textContent();
  say({ event: "confirmed", live_status: liveStatus });

  // 4. They chat, in one thread per pair.
  await clientCard.getByRole("button", { name: /^Chat with Pat Practitioner/ }).click();
  await client.getByLabel("Message", { exact: true }).fill("Hello Pat");
  await client.getByRole("button", { name: "Send" }).click();
  await pro.locator("#booking-list li.card").first().getByRole("button", { name: /^Chat with Cleo Client/ }).click();
  await pro.getByRole("log", { name: "Messages" }).getByText("Hello Pat").waitFor();
  await pro.getByLabel("Message", { exact: true }).fill("Hello Cleo");
  await pro.getByRole("button", { name: "Send" }).click();
  await client.getByRole("log", { name: "Messages" }).getByText("Hello Cleo").waitFor();
  await client.locator("li.message.own .receipt").filter({ hasText: "Read" }).waitFor();
  await axe(client, "chat (phone)", screens, shots);
  say({ event: "chatted", presence: await client.locator("#chat-presence").textContent() });

  // 6. The client reschedules; the practitioner's agenda follows.
  await clientCard.getByRole("button", { name: /^Reschedule/ }).click();
  await client.getByRole("button", { name: "Next available" }).click();
  await slots.nth(1).waitFor();
  await slots.nth(1).click();
  await client.getByRole("button", { name: "Confirm the new time" }).click();
  await client.getByRole("heading", { name: /^Moved: Video yoga/ }).waitFor();
  await client.getByRole("button", { name: "See your sessions" }).click();
  const moved = await client.locator("#booking-list li.card time").first().getAttribute("datetime");
  // A moved request needs approval again: it is back in the practitioner's inbox, at the new time.
  await pro.locator(`#request-list li.card time[datetime="${moved}"]`).waitFor();
  say({ event: "rescheduled", start: moved });

  // 7. The client cancels with a reason; the practitioner is told.
  await client.locator("#booking-list li.card").first().getByRole("button", { name: /^Cancel…/ }).click();
  await client.getByLabel(/^Reason/).fill("Something came up.");
  await client.getByRole("button", { name: "Cancel session" }).click();
  await client.locator("#booking-list li.empty").waitFor();
  await pro.locator("#request-list li.empty").waitFor();
  await pro.locator("#booking-list li.empty").waitFor();
  await pro.locator("#bell-count").filter({ hasText: /\d/ }).waitFor();
  const bell = await pro.getByRole("button", { name: /^Notifications/ }).getAttribute("aria-label");
  await pro.getByRole("button", { name: /^Notifications/ }).click();
  await pro.locator("#notification-list li").first().waitFor();
  await axe(pro, "notifications", screens, shots);
  const notes = await pro.locator("#notification-list").textContent();
  await client.getByRole("button", { name: "Account" }).click();
  await client.getByLabel("Time zone").selectOption("Asia/Tokyo");
  await client.getByRole("button", { name: "Save time zone" }).click();
  await statusSays(client, "Time zone set to Asia/Tokyo");
  await axe(client, "account (phone)", screens, shots);
  say({ event: "cancelled", bell, notes });

  // A second tab of the same browser is signed in already.
  const tab = await client.context().newPage();
  await tab.goto(`${url}/`);
  await tab.getByRole("heading", { name: "Your upcoming sessions" }).waitFor();
  say({ event: "finished", first_paint_ms: firstPaint, screens, focus: focusAfter, outside, console_errors: consoleErrors });
} catch (error) {
  const shown = [];
  for (const context of browser.contexts()) {
    for (const page of context.pages()) {
      shown.push(await page.evaluate(() => [document.querySelector("#status").textContent,
        ...[...document.querySelectorAll(".error")].map((e) => e.textContent).filter(Boolean)]).catch(() => null));
    }
  }
  say({ event: "error", message: String(error && error.stack || error), shown, screens, outside, console_errors: consoleErrors });
  process.exitCode = 1;
} finally {
  await browser.close();
}
