// Alerts on screen, driven in Debian's Chromium. Run by tests/tests/browser.rs with a watchlist "Door"
// holding Barack Obama and the test video served over RTSP (not yet a stream):
//
//   node web/e2e/alerts.mjs
//
// An operator opens the alerts, turns on browser notifications and sound, is refused a rule with a
// bad address (the service's message beside the field), adds a rule on "Door" for the live feed and
// a webhook (a receiver started here that refuses at first), and with the page left open adds the
// video as a stream (through the API, as the page's session): Obama's alert appears without a
// reload, with his best shot, name, similarity and camera, a browser notification and the unread
// count in the menu (on every screen); its live delivery shows, the refused webhook says why and is
// sent again from the desk once the receiver accepts. The operator acknowledges it (a second desk
// open in another tab shows it at once, and the unread count goes), opens it beside the list, is
// asked for a note to resolve it, resolves it, sees the camera's frame of that moment with Obama
// outlined, filters the desk by state (kept on reload) and opens
// the alert's track.
// Settings: SIGHTLINE_WEB_URL, SIGHTLINE_E2E_USER, SIGHTLINE_E2E_PASSWORD, SIGHTLINE_E2E_VIDEO_URL,
// SIGHTLINE_E2E_SHOTS.
import { createServer } from "node:http";
import { PHONE, env, expect, fitsWidth, inBrowser } from "./browser.mjs";

const base = env("SIGHTLINE_WEB_URL");

// A webhook receiver that refuses (400) until told to accept.
let accepting = false;
const received = [];
const receiver = createServer((request, response) => {
  request.resume();
  request.on("end", () => {
    received.push(accepting ? 200 : 400);
    response.writeHead(accepting ? 200 : 400).end();
  });
});
await new Promise((resolve) => receiver.listen(0, "127.0.0.1", resolve));
const hook = `http://127.0.0.1:${receiver.address().port}/hook`;

await inBrowser(async ({ context, page, shot, login }) => {
  // Chromium's own notifications, allowed for the app and counted as the page shows them.
  await context.grantPermissions(["notifications"], { origin: base });
  await context.addInitScript(() => {
    window.sightlineNotifications = [];
    const Shown = window.Notification;
    window.Notification = class extends Shown {
      constructor(title, options) {
        super(title, options);
        window.sightlineNotifications.push(title);
      }
    };
  });
  await page.goto(`${base}/alerts`);
  await login(env("SIGHTLINE_E2E_USER"), env("SIGHTLINE_E2E_PASSWORD"));
  await page.getByText("No alerts yet.").waitFor();
  await page.getByText("No rules yet: no alert is raised.").waitFor();
  await page.getByRole("checkbox", { name: "Notifications" }).check();
  await page.getByRole("checkbox", { name: "Sound" }).check();

  await page.getByRole("button", { name: "Add rule" }).click();
  const form = page.getByRole("form", { name: "New rule" });
  await form.getByLabel("Rule name").fill("Door staff");
  await form.getByRole("checkbox", { name: "Door" }).check();
  const email = form.getByLabel("Email to (comma-separated)");
  await email.fill("not an address");
  await form.getByRole("button", { name: "Add rule" }).click();
  await form.locator("label").filter({ hasText: "Email to" }).getByRole("alert").getByText('"not an address" is not an address').waitFor();
  await shot("14-rule-refused");
  await email.fill("");
  await form.getByLabel("Webhook URL").fill(hook);
  await form.getByLabel(/^Webhook secret/).fill("a-webhook-secret-of-some-length");
  await form.getByRole("button", { name: "Add rule" }).click();
  const rule = page.getByRole("row").filter({ has: page.getByRole("cell", { name: "Door staff", exact: true }) });
  await rule.getByRole("cell", { name: `live; webhook ${hook}`, exact: true }).waitFor();
  await rule.getByRole("cell", { name: "Door", exact: true }).waitFor();
  await page.getByTestId("feed").getByText("live", { exact: true }).waitFor();

  // A second desk (another tab of the same browser) follows the same alerts.
  const second = await context.newPage();
  await second.goto(`${base}/alerts`);
  await second.getByTestId("feed").getByText("live", { exact: true }).waitFor();

  // The page stays as it is: a marker that a reload would lose.
  await page.evaluate(() => {
    window.sightlineNotReloaded = true;
  });
  const session = await (await page.request.get(`${base}/api/v1/auth/session`)).json();
  const created = await page.request.post(`${base}/api/v1/streams`, {
    headers: { "X-CSRF-Token": session.csrf_token },
    data: { name: "Lobby camera", source_url: env("SIGHTLINE_E2E_VIDEO_URL"), site: "hq" },
  });
  expect(created.status() === 201, `the stream added (got ${created.status()})`);

  const alert = page.getByRole("listitem", { name: "Alert: Barack Obama" });
  await alert.waitFor({ timeout: 90_000 });
  expect(await page.evaluate(() => window.sightlineNotReloaded === true), "the alert arrived without a reload");
  const similarity = Number((await alert.getByTestId("similarity").textContent()).replace("similarity ", ""));
  expect(similarity >= 0.45 && similarity <= 1, `a similarity above the list's threshold (got ${similarity})`);
  await alert.getByTestId("camera").getByText("Lobby camera", { exact: true }).waitFor();
  await alert.getByRole("img", { name: "Best shot of Barack Obama" }).waitFor();
  await page.waitForFunction(() => [...document.querySelectorAll("ul.alerts img")].every((img) => img.complete && img.naturalWidth > 0));
  const deliveries = alert.getByRole("list", { name: /^Deliveries/ });
  await deliveries.getByText("delivered").waitFor({ timeout: 15_000 });
  await page.getByTestId("unread").getByText("1", { exact: true }).waitFor();
  expect((await page.evaluate(() => window.sightlineNotifications)).includes("Barack Obama seen"), "a browser notification for the alert");
  await alert.getByTestId("alert-state").getByText("new", { exact: true }).waitFor();
  // The webhook refused it, in words, and is sent again once the receiver accepts.
  await deliveries.getByText(/the receiver refused the alert \(400 Bad Request\)/).waitFor({ timeout: 15_000 });
  await shot("13-alert-live");
  accepting = true;
  await alert.getByRole("button", { name: "Send webhook again" }).click();
  await deliveries.getByText("webhook: delivered after 2 attempts").waitFor({ timeout: 15_000 });
  expect(received.join() === "400,200", `the receiver refused once, then accepted (got ${received.join()})`);

  // The unread count is on every screen.
  await page
    .getByRole("navigation")
    .getByRole("link", { name: /^Tracks/ })
    .click();
  await page.getByRole("heading", { name: "Tracks" }).waitFor();
  await page
    .getByRole("link", { name: /^Alerts/ })
    .getByLabel("1 new alert")
    .waitFor();
  await page.goBack();

  // Acknowledged here, shown at once on the other desk; no alert is unread any more.
  await alert.getByRole("button", { name: "Acknowledge" }).click();
  await alert.getByTestId("alert-state").getByText("acknowledged by otto").waitFor();
  await second
    .getByRole("listitem", { name: "Alert: Barack Obama" })
    .getByTestId("alert-state")
    .getByText("acknowledged by otto")
    .waitFor();
  await page.getByTestId("unread").waitFor({ state: "detached" });
  await second.getByTestId("unread").waitFor({ state: "detached" });

  // Opened beside the list; resolving asks for a note.
  await alert.getByRole("button", { name: "Open the alert on Barack Obama" }).click();
  const panel = page.getByRole("region", { name: /^Barack Obama/ });
  await panel.waitFor();
  expect(new URL(page.url()).searchParams.has("alert"), "the open alert is in the address");
  await panel.getByRole("button", { name: "Resolve" }).click();
  await panel
    .getByRole("alert")
    .getByText(/^note: say what was found or done/)
    .waitFor();
  await panel.getByLabel(/^Note/).fill("Visitor, let in by reception");
  await panel.getByRole("button", { name: "Resolve" }).click();
  await alert.getByTestId("alert-state").getByText("resolved by otto").waitFor();
  const log = panel.getByRole("list", { name: "What was done" });
  await log.getByText("acknowledged").waitFor();
  await log.getByText("resolved “Visitor, let in by reception”").waitFor();
  await second.getByRole("listitem", { name: "Alert: Barack Obama" }).getByText("resolved by otto").waitFor();
  // The camera's frame when the alert was raised, Obama outlined on it.
  await panel.getByRole("img", { name: "The camera when the alert on Barack Obama was raised" }).waitFor();
  await panel.getByTestId("alert-person-box").getByText("Barack Obama").waitFor();
  // The video of the alert's track plays in the panel: the camera's own, from before he was seen.
  const alertClip = panel.getByLabel("Video of the track");
  await alertClip.waitFor({ timeout: 60_000 });
  await alertClip.evaluate(
    (video) =>
      new Promise((resolve, reject) => {
        if (video.readyState >= 1) resolve();
        video.addEventListener("loadedmetadata", resolve);
        video.addEventListener("error", () => reject(new Error("the alert's clip did not load")));
        setTimeout(() => reject(new Error("the alert's clip did not load in 20 s")), 20_000);
      }),
  );
  const alertClipSize = await alertClip.evaluate((video) => [video.videoWidth, video.duration]);
  expect(alertClipSize[0] > 0 && alertClipSize[1] > 1, `the alert's clip has a picture and a length (${alertClipSize})`);
  await shot("26-alert-desk", { tall: true });

  // A search by name or note.
  const searchBox = page.getByRole("searchbox", { name: "Search" });
  await searchBox.fill("reception");
  await page.getByTestId("alert-count").getByText("1–1 of 1 alert, newest first").waitFor();
  await searchBox.fill("Biden");
  await page.getByText("No alerts match these filters.").waitFor();
  await searchBox.fill("");
  // The desk filtered by state, kept on reload.
  await page.getByLabel("State").selectOption("new");
  await page.getByText("No alerts match these filters.").waitFor();
  await page.getByLabel("State").selectOption("resolved");
  await page.getByTestId("alert-count").getByText("1–1 of 1 alert, newest first").waitFor();
  await page.reload();
  await page.getByTestId("alert-count").getByText("1–1 of 1 alert, newest first").waitFor();
  expect((await page.getByLabel("State").inputValue()) === "resolved", "the state filter survives a reload");

  // The alert opens the person's page: where they were seen and their alerts.
  await panel.getByRole("link", { name: "Barack Obama's page" }).click();
  const personPage = page.getByRole("region", { name: "Barack Obama" });
  await personPage
    .getByTestId("sightings-count")
    .getByText(/^\d+ tracks? in this period/)
    .waitFor({ timeout: 30_000 });
  await personPage.getByRole("table", { name: "Sightings of Barack Obama" }).getByRole("cell", { name: "Lobby camera" }).first().waitFor();
  const personAlerts = personPage.getByRole("list", { name: "Alerts about Barack Obama" });
  await personAlerts.getByText("resolved by otto").waitFor();
  await shot("31-person-sightings", { tall: true });
  await page.goBack();

  // The alert opens its track.
  await panel.getByRole("link", { name: "Open the track" }).click();
  await page.getByRole("heading", { name: /^Track on Lobby camera/ }).waitFor();
  await second.close();

  // The camera wall: the camera's live view, with Obama's name on his box when he is in view (the
  // video loops every 8 s), and the camera's health. The frames shown are the analysed ones as they
  // come: their capture times follow each other by the analysis interval, not the second between
  // the snapshots the wall showed before live views.
  await page.getByRole("navigation").getByRole("link", { name: "Camera wall" }).click();
  const tile = page.getByRole("article", { name: "Camera Lobby camera" });
  await tile
    .getByTestId("health")
    .getByText(/^running since/)
    .waitFor();
  await tile.getByRole("img", { name: "Live view of Lobby camera" }).waitFor();
  await tile.getByTestId("live").waitFor();
  const captures = await page.evaluate(async () => {
    const seen = [];
    const until = Date.now() + 4000;
    while (Date.now() < until) {
      const shown = Number(document.querySelector('article[aria-label="Camera Lobby camera"] img')?.getAttribute("data-capture-ms"));
      if (shown && seen[seen.length - 1] !== shown) seen.push(shown);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return seen;
  });
  const gaps = captures
    .slice(1)
    .map((at, i) => at - captures[i])
    .sort((a, b) => a - b);
  expect(captures.length >= 5 && gaps[Math.floor(gaps.length / 2)] <= 500, `frames as analysed, not once a second: ${captures.join(", ")}`);
  await tile
    .getByTestId("name-on-box")
    .getByText(/^Barack Obama 0\.\d\d$/)
    .waitFor({ timeout: 60_000 });
  await shot("27-camera-wall");

  // The same screens on a phone: the desk, the alert as a sheet over it, the wall, the stream's and
  // the rule's forms, each within the width.
  await page.setViewportSize(PHONE);
  for (const [screen, path, loaded] of [
    ["alert-desk", "/alerts", page.getByRole("listitem", { name: "Alert: Barack Obama" })],
    ["camera-wall-live", "/wall", tile.filter({ has: page.getByTestId("live") }).getByTestId("name-on-box")],
  ]) {
    await page.goto(`${base}${path}`);
    await loaded.waitFor();
    await fitsWidth(page, screen);
    await shot(`phone-${screen}`);
  }
  await page.goto(`${base}/alerts`);
  await page.getByRole("button", { name: "Open the alert on Barack Obama" }).click();
  await panel.getByRole("img", { name: "The camera when the alert on Barack Obama was raised" }).waitFor();
  await fitsWidth(page, "the alert");
  await shot("phone-alert", { window: true });
  await panel.getByRole("link", { name: "Barack Obama's page" }).click();
  await page.getByRole("table", { name: "Sightings of Barack Obama" }).waitFor();
  await fitsWidth(page, "the person's page");
  await shot("phone-person-page", { window: true });
  await page.goBack();
  await page.getByRole("button", { name: "Close" }).click();
  await page.getByRole("button", { name: "Edit Door staff" }).click();
  await page.getByRole("form", { name: "Edit rule Door staff" }).waitFor();
  await fitsWidth(page, "the rule's form");
  await shot("phone-rule-form", { window: true });
  await page.goto(`${base}/streams`);
  await page.getByRole("button", { name: "Edit Lobby camera" }).click();
  await page.getByRole("form", { name: "Edit Lobby camera" }).getByRole("img").waitFor();
  await fitsWidth(page, "the stream's form");
  await shot("phone-stream-form", { window: true });
});
receiver.close();
