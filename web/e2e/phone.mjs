// The app on a phone (360 px wide, the narrowest common one), driven in Debian's Chromium. Run by
// tests/tests/browser.rs after analyst.mjs, with the test video's tracks in the warehouse:
//
//   node web/e2e/phone.mjs
//
// The header keeps the name, the user and Log out on screen and folds the menu behind a button; every
// screen the analyst may open fits the width (nothing scrolls sideways); the tracks list shows cards,
// and a tapped track's detail covers the list at the top of the screen, with a Close button that
// brings the list back. Screenshots: phone-<screen>.png. Settings: SIGHTLINE_WEB_URL,
// SIGHTLINE_E2E_USER, SIGHTLINE_E2E_PASSWORD, SIGHTLINE_E2E_SHOTS.
import { PHONE, env, expect, fitsWidth, inBrowser, onScreen } from "./browser.mjs";

const base = env("SIGHTLINE_WEB_URL");

await inBrowser(
  async ({ page, shot, login }) => {
    await page.goto(`${base}/tracks`);
    await login(env("SIGHTLINE_E2E_USER"), env("SIGHTLINE_E2E_PASSWORD"));
    const logout = page.getByRole("button", { name: "Log out" });
    await logout.waitFor();
    await onScreen(logout, "Log out");
    const menu = page.getByRole("button", { name: "Menu" });
    await onScreen(menu, "the menu button");
    const screens = page.getByRole("navigation", { name: "Screens" });
    expect(!(await screens.isVisible()), "the menu folded until asked for");

    // Tracks: cards, and a tapped track's detail over the list.
    const first = page.getByRole("row", { name: /^Track / }).first();
    await first.waitFor();
    await fitsWidth(page, "Tracks");
    expect(!(await page.getByRole("columnheader", { name: "Camera" }).isVisible()), "the table's head hidden: rows are cards");
    await shot("phone-tracks");
    await first.click();
    const detail = page.getByRole("region", { name: /^Track on / });
    await detail.waitFor();
    await onScreen(detail.getByRole("heading"), "the track's detail heading");
    await fitsWidth(page, "the track's detail");
    await shot("phone-track", { window: true });
    await page.getByRole("button", { name: "Close" }).click();
    await detail.waitFor({ state: "detached" });
    await onScreen(first, "the list again");

    // Each screen with what shows it loaded.
    for (const [title, loaded] of [
      ["Camera wall", page.getByRole("article", { name: "Camera Lobby file" }).getByTestId("health")],
      ["Streams", page.getByRole("row", { name: /Lobby file/ })],
      ["Alerts", page.getByRole("heading", { name: "Alert rules" })],
      ["Search by face", page.getByRole("heading", { name: "Search by face" })],
      ["Analytics", page.getByRole("table", { name: /^Arrivals by hour of the week/ })],
      ["Reports", page.getByText("No scheduled reports yet.")],
      ["Watchlists", page.getByRole("row", { name: /Door/ })],
      ["API", page.getByRole("heading", { name: "API" })],
    ]) {
      await menu.click();
      await screens.getByRole("link", { name: title, exact: true }).click();
      expect(!(await screens.isVisible()), `the menu folds again after choosing ${title}`);
      await loaded.first().waitFor();
      await fitsWidth(page, title);
      await onScreen(logout, `Log out on ${title}`);
      await shot(`phone-${title.toLowerCase().replaceAll(" ", "-")}`);
    }
    await menu.click();
    await shot("phone-menu");
  },
  { viewport: PHONE },
);
