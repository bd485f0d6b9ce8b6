// Finding a practitioner through the web app, by keyboard on a 390x844 screen: the client searches with a typo
// and is told the correction, narrows to those free within 7 days, then watches the card's "Available now"
// follow the practitioner (the test connects, sets away, comes back and disconnects them over the SDK, one
// step per line it writes), opens the profile (the search's watch ends), comes back (it starts again),
// leaves for another view (it ends), comes back again and pages through a broad search with "Show more". The socket's available:watch sends and available:changed events are
// logged in the page. axe-core runs on every new screen at desktop and phone size. Prints JSON lines.
//   argv: <server url> <client email> <password> [<folder for screenshots>]
import { axe, launch, lineFromTest, person, say, statusSays } from "./driver.mjs";

const [url, email, password, shots] = process.argv.slice(2);
const outside = [];
const consoleErrors = [];
const screens = [];
let told = lineFromTest();
const next = async () => { await told; told = lineFromTest(); };
const browser = await launch();

try {
  const client = await person(browser, url, { timezoneId: "Asia/Tokyo", viewport: { width: 390, height: 844 }, outside, consoleErrors });
  const key = async (locator) => { await locator.focus(); await client.keyboard.press("Enter"); };
  const focused = () => client.evaluate(() => `${document.activeElement.tagName.toLowerCase()}:${document.activeElement.textContent.trim()}`);
  const form = client.locator("#signin-form");
  await form.getByLabel("Email").fill(email);
  await form.getByLabel("Password").fill(password);
  await key(form.getByRole("button", { name: "Sign in" }));
  await client.getByRole("navigation", { name: "Main" }).waitFor();
  await client.waitForFunction(() => window.klear.socket()?.connected);
  await client.evaluate(() => {
    window.watchLog = [];
    const socket = window.klear.socket();
    socket.onAnyOutgoing((event, payload) => event === "available:watch" && window.watchLog.push({ sent: payload.practitioner_ids }));
    socket.onAny((event, payload) => event === "available:changed" && window.watchLog.push({ heard: payload }));
  });
  const watchedNothing = (count) => client.waitForFunction(
    (n) => window.watchLog.filter((e) => e.sent && !e.sent.length).length === n, count);

  // 1. Plain words for a price range upside down and for nothing found; a typo, corrected; then only those free
  // within 7 days.
  await key(client.getByRole("button", { name: "Book", exact: true }));
  const find = client.getByRole("button", { name: "Find practitioners" });
  await client.getByLabel("Lowest price").fill("60");
  await client.getByLabel("Highest price").fill("40");
  await key(find);
  const rangeError = await client.locator("#search-form .error").filter({ hasText: /\w/ }).textContent();
  await client.getByLabel("Lowest price").fill("");
  await client.getByLabel("Highest price").fill("");
  await client.getByLabel("Words to find").fill("xylophone");
  await key(find);
  await statusSays(client, "0 practitioners found.");
  const nothing = await client.locator("#practitioner-list li.empty").textContent();
  await client.getByLabel("Words to find").fill("acupunture");
  await key(find);
  await statusSays(client, "2 practitioners found.");
  const cards = client.locator("#practitioner-list li.card");
  const everyone = await cards.locator("h2").allTextContents();
  const corrected = await client.locator("#find .notice").textContent();
  const firstStatus = await client.locator("#status").textContent();
  await axe(client, "search with a correction (phone)", screens, shots);
  await client.getByLabel("Free to book").selectOption({ label: "Within 7 days" });
  await key(find);
  await statusSays(client, "1 practitioner found.");
  const ada = cards.filter({ hasText: "Ada Achebe" });
  const badge = ada.getByText("Available now", { exact: true });
  say({ event: "found", range_error: rangeError, nothing, everyone, corrected, status: firstStatus, free_soon: await cards.locator("h2").allTextContents(),
    card: await ada.locator("p").allTextContents(), badge: await badge.isVisible() });

  // 2. The practitioner connects, sets away, comes back, disconnects: the card follows, read out politely, and
  // focus stays where it was (the search button).
  const searchFocus = await focused();
  for (const [step, shown, says] of [["online", true, "Ada Achebe is available now."],
    ["away", false, "Ada Achebe is no longer available now."], ["back", true, "Ada Achebe is available now."],
    ["gone", false, "Ada Achebe is no longer available now."]]) {
    await next();
    await badge.waitFor({ state: shown ? "visible" : "hidden" });
    await statusSays(client, says);
    if (step === "online") await axe(client, "search, available now (phone)", screens, shots, ada);
    say({ event: step, status: await client.locator("#status").textContent(), focus: await focused(), search_focus: searchFocus });
  }

  // 3. The profile: another screen, so the search's watch ends.
  await key(ada.getByRole("button", { name: "View Ada Achebe's profile" }));
  await client.getByRole("heading", { name: "Ada Achebe", level: 1 }).waitFor();
  await watchedNothing(1);
  const profile = await client.locator("#find").locator("h1, h2, p, li").allTextContents();
  const profileFocus = await focused();
  await axe(client, "profile with reviews (phone)", screens, shots);
  const loose = await client.locator("#find").evaluate((n) => [...n.childNodes].filter((c) => c.nodeType === 3).map((c) => c.textContent));
  say({ event: "profile", profile, loose, buttons: await client.locator("#find button").allTextContents(), focus: profileFocus });

  // 4. The practitioner came online meanwhile; back at the results, the new watch's answer shows it.
  await next();
  await key(client.getByRole("button", { name: "← Back to search" }));
  await badge.waitFor();
  const kept = await cards.locator("h2").allTextContents();

  // 5. Another view ends the watch.
  await key(client.getByRole("button", { name: "Sessions" }));
  await watchedNothing(2);

  // 6. Back again (watched again), a broad search, and the next page with "Show more".
  await key(client.getByRole("button", { name: "Book", exact: true }));
  await badge.waitFor();
  await client.getByLabel("Words to find").fill("");
  await client.getByLabel("Practice").selectOption("reiki");
  await client.getByLabel("Free to book").selectOption({ label: "Any time" });
  await key(find);
  await statusSays(client, "20 practitioners found. Show more for the next ones.");
  await key(client.getByRole("button", { name: "Show more" }));
  await statusSays(client, "1 more practitioner shown.");
  const paged = { count: await cards.count(), more: await client.getByRole("button", { name: "Show more" }).isVisible(),
    focus: await focused(), last: await cards.last().locator("h2").textContent() };
  await client.waitForFunction(() => window.watchLog.at(-1).sent?.length === 21);
  say({ event: "finished", kept, paged, log: await client.evaluate(() => window.watchLog), screens, outside, console_errors: consoleErrors });
} catch (error) {
  const page = browser.contexts()[0]?.pages()[0];
  const log = await page?.evaluate(() => [document.querySelector("#status").textContent, window.watchLog]).catch(() => null);
  say({ event: "error", message: String(error && error.stack || error), log, outside, console_errors: consoleErrors });
  process.exitCode = 1;
} finally {
  await browser.close();
}
