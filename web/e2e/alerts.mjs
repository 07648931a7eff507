// Alerts on screen, driven in Debian's Chromium. Run by tests/tests/browser.rs with a watchlist "Door"
// holding Barack Obama and the test video served over RTSP (not yet a stream):
//
//   node web/e2e/alerts.mjs
//
// An operator opens the alerts, is refused a rule with a bad address (the service's message beside
// the field), adds a rule on "Door" for the live feed, and with the page left open adds the video as
// a stream (through the API, as the page's session): Obama's alert appears without a reload, with
// his best shot, name, similarity and camera; a moment later its delivery on the live feed shows.
// Settings: SIGHTLINE_WEB_URL, SIGHTLINE_E2E_USER, SIGHTLINE_E2E_PASSWORD, SIGHTLINE_E2E_VIDEO_URL,
// SIGHTLINE_E2E_SHOTS.
import { env, expect, inBrowser } from "./browser.mjs";

const base = env("SIGHTLINE_WEB_URL");

await inBrowser(async ({ page, shot, login }) => {
  await page.goto(`${base}/alerts`);
  await login(env("SIGHTLINE_E2E_USER"), env("SIGHTLINE_E2E_PASSWORD"));
  await page.getByText("No alerts yet.").waitFor();
  await page.getByText("No rules yet: no alert is raised.").waitFor();

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
  await form.getByRole("button", { name: "Add rule" }).click();
  const rule = page.getByRole("row").filter({ has: page.getByRole("cell", { name: "Door staff", exact: true }) });
  await rule.getByRole("cell", { name: "live", exact: true }).waitFor();
  await rule.getByRole("cell", { name: "Door", exact: true }).waitFor();
  await page.getByTestId("feed").getByText("live", { exact: true }).waitFor();

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
  await alert
    .getByRole("list", { name: /^Deliveries/ })
    .getByText("delivered")
    .waitFor({ timeout: 15_000 });
  await shot("13-alert-live");
});
