// Both sides of a video session in the web app: each signs in, opens the lobby of their booking and joins;
// each must decode the other's video. Then the client's connection drops for 10 s (its socket goes away,
// and with it its place in the room) and comes back: nobody clicks anything, the client's page rejoins by
// itself, the practitioner's page says "reconnecting", not "left", and video flows both ways again.
//   argv: <server url> <practitioner email> <client email> <password>
import { axe, launch, person, say } from "./driver.mjs";

const [url, proEmail, clientEmail, password] = process.argv.slice(2);
const outside = [];
const consoleErrors = [];
const screens = [];
const browser = await launch();

async function until(page, check, arg, timeout = 40000) {
  const deadline = Date.now() + timeout;
  while (!(await page.evaluate(check, arg))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${check}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

// Frames of the other side's video decoded on the page's current connection.
const decoding = async (least) => {
  const room = window.klear.room();
  if (!room || !room.pc) return false;
  const s = await room.stats();
  return s.inbound.some((t) => t.kind === "video" && t.framesDecoded >= least);
};

async function signIn(email, timezoneId, viewport) {
  const page = await person(browser, url, { timezoneId, viewport, outside, consoleErrors });
  await page.locator("#signin-form").getByLabel("Email").fill(email);
  await page.locator("#signin-form").getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Your upcoming sessions" }).waitFor();
  // Everything the status line and the call's state line say, in order.
  await page.evaluate(() => {
    window.said = [];
    for (const id of ["status", "video-state"]) {
      const node = document.getElementById(id);
      new MutationObserver(() => window.said.push(node.textContent)).observe(node, { childList: true, characterData: true, subtree: true });
    }
  });
  return page;
}

async function join(page) {
  await page.locator("#booking-list li.card").first().getByRole("button", { name: /^Join video/ }).click();
  await page.getByRole("button", { name: "Join now" }).waitFor();
  await until(page, () => !document.getElementById("join-call").disabled);
  await page.getByRole("button", { name: "Join now" }).click();
  await page.locator("#video.in-call").waitFor();
}

try {
  const pro = await signIn(proEmail, "Europe/Berlin", { width: 1280, height: 900 });
  const client = await signIn(clientEmail, "America/New_York", { width: 390, height: 844 });
  await client.locator("#booking-list li.card").first().getByRole("button", { name: /^Join video/ }).click();
  await client.getByRole("button", { name: "Join now" }).waitFor();
  await until(client, () => !document.getElementById("join-call").disabled);
  await axe(client, "call lobby", screens);
  const lobby = await client.locator("#video-state").textContent();
  await client.getByRole("button", { name: "Join now" }).click();
  await client.locator("#video.in-call").waitFor();
  const waiting = await client.locator("#video-state").textContent();
  await join(pro);
  await until(pro, decoding, 30);
  await until(client, decoding, 30);
  await axe(client, "call", screens);
  // The call controls are in view on the phone.
  const controls = await client.locator("#video .controls").boundingBox();
  say({ event: "in_call", lobby, waiting, controls_bottom: controls.y + controls.height,
        screen_share_offered: await client.getByRole("button", { name: "Share screen" }).isVisible() });

  const before = await client.evaluate(() => window.klear.room().pc);
  await client.evaluate(() => window.klear.socket().disconnect());
  await new Promise((resolve) => setTimeout(resolve, 10000));
  await client.evaluate(() => window.klear.socket().connect());
  await until(client, async () => {
    const room = window.klear.room();
    if (!room || !room.pc || room.pc.connectionState !== "connected") return false;
    const s = await room.stats();
    return s.inbound.some((t) => t.kind === "video" && t.framesDecoded >= 30);
  });
  const fresh = await client.evaluate((old) => window.klear.room().pc !== old, before);
  await until(pro, async () => {
    const s = await window.klear.room().stats();
    return s.inbound.filter((t) => t.kind === "video" && t.framesDecoded >= 30).length >= 1
      && window.klear.room().people.size === 1;
  });
  say({
    event: "finished", fresh_connection: fresh, screens,
    practitioner_saw: await pro.evaluate(() => window.said), client_saw: await client.evaluate(() => window.said),
    outside, console_errors: consoleErrors,
  });
} catch (error) {
  say({ event: "error", message: String(error && error.stack || error), screens, outside, console_errors: consoleErrors });
  process.exitCode = 1;
} finally {
  await browser.close();
}
