// A viewer browses the services' REST APIs on the "API" screen, driven in Debian's Chromium. Run by
// tests/tests/browser.rs, which also checks that each service serves, through the entry point, the
// very document kept in schemas/openapi/:
//
//   node web/e2e/reference.mjs
//
// Each of the five documents loads with its title; the ingest API lists GET /api/v1/streams, whose
// answer names the StreamView schema, and that schema shows its fields (the live `state` among them).
// Settings: SIGHTLINE_WEB_URL, SIGHTLINE_E2E_USER, SIGHTLINE_E2E_PASSWORD, SIGHTLINE_E2E_SHOTS.
import { env, expect, inBrowser } from "./browser.mjs";

const base = env("SIGHTLINE_WEB_URL");

const TITLES = {
  query: "Sightline query API",
  ingest: "Sightline ingest API",
  enrich: "Sightline watchlists API",
  notifier: "Sightline alerts API",
  scheduler: "Sightline report schedules API",
};

await inBrowser(async ({ page, shot, login }) => {
  await page.goto(`${base}/reference`);
  await login(env("SIGHTLINE_E2E_USER"), env("SIGHTLINE_E2E_PASSWORD"));
  await page.getByRole("heading", { name: "API", exact: true }).waitFor();
  for (const [service, title] of Object.entries(TITLES)) {
    await page.getByLabel("Service").selectOption(service);
    await page.getByRole("heading", { name: title }).waitFor();
  }

  await page.getByLabel("Service").selectOption("ingest");
  const listStreams = page.locator("details.operation").filter({ hasText: "GET /api/v1/streams Lists the streams" });
  await listStreams.locator("summary").click();
  const answer = listStreams.getByRole("row").filter({ has: page.getByRole("cell", { name: "200", exact: true }) });
  await answer.getByRole("button", { name: "StreamView" }).click();
  const schema = page.getByRole("region", { name: "Schema StreamView" });
  const state = schema.getByRole("row").filter({ has: page.getByRole("cell", { name: "state", exact: true }) });
  await state.getByRole("button", { name: "LiveState" }).waitFor();
  await schema.getByRole("cell", { name: "source_url", exact: true }).waitFor();
  const refusals = listStreams.getByRole("cell", { name: "401", exact: true });
  expect((await refusals.count()) === 1, "the operation's 401 answer is documented");
  await shot("19-api-reference");

  // A viewer who types the address of a screen for admins is told so, not shown another screen.
  await page.goto(`${base}/admin`);
  await page.getByRole("heading", { name: "Not for your role" }).waitFor();
  await page.getByText("Users and tokens is for admin; your role, viewer, cannot open it.").waitFor();
  await shot("22-not-for-role");
  await page.getByRole("link", { name: "Go to Camera wall" }).click();
  await page.getByRole("heading", { name: "Camera wall" }).waitFor();
  expect(new URL(page.url()).pathname === "/wall", `back on a screen the viewer may open (${page.url()})`);
});
