// Watchlists on screen, driven in Debian's Chromium. Run by tests/tests/browser.rs, which then checks
// PostgreSQL for what the screen did:
//
//   node web/e2e/watchlists.mjs
//
// An operator makes a list, is refused a threshold of 1.5 (the service's message beside the field) and
// sets 0.5; drops three photos on the enrolment form (two of Obama and one of a coffee cup), sees the
// faces found in each and the cup refused, and enrols Obama from the two; enrols the astronaut from
// a chosen file; enrols Joe Biden from a photo of two people by choosing his face; searches; removes
// the astronaut; opens Obama's page (his two photos, no sighting, no alert), renames him and reloads
// the page; enrols many at once from photos and a CSV, each file's result listed (one enrolled, a cup
// with no face, a photo of two and a missing file refused, one already listed and one not in the
// CSV skipped). Settings: SIGHTLINE_WEB_URL, SIGHTLINE_E2E_USER, SIGHTLINE_E2E_PASSWORD,
// SIGHTLINE_E2E_PHOTOS (a directory with obama2.jpg, obama3.jpg, coffee.png, astronaut.png),
// SIGHTLINE_E2E_PAIR (pair.jpg: Obama on the left, Biden on the right), SIGHTLINE_E2E_SHOTS.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { env, expect, inBrowser } from "./browser.mjs";

const base = env("SIGHTLINE_WEB_URL");
const photos = env("SIGHTLINE_E2E_PHOTOS");

/** Drops `names` (files in the photos directory) on `target`, as a user dragging them from a folder does. */
async function dropFiles(page, target, names) {
  const files = names.map((name) => ({
    name,
    type: name.endsWith(".png") ? "image/png" : "image/jpeg",
    base64: readFileSync(join(photos, name)).toString("base64"),
  }));
  const dataTransfer = await page.evaluateHandle((list) => {
    const transfer = new DataTransfer();
    for (const { name, type, base64 } of list) {
      const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
      transfer.items.add(new File([bytes], name, { type }));
    }
    return transfer;
  }, files);
  await target.dispatchEvent("dragover", { dataTransfer });
  await target.dispatchEvent("drop", { dataTransfer });
}

await inBrowser(async ({ page, shot, login }) => {
  await page.goto(`${base}/watchlists`);
  await login(env("SIGHTLINE_E2E_USER"), env("SIGHTLINE_E2E_PASSWORD"));
  await page.getByText("No watchlists yet.").waitFor();
  const newList = page.getByRole("form", { name: "New watchlist" });
  await newList.getByLabel("List name").fill("Door");
  await newList.getByLabel("Purpose").fill("staff expected at the door");
  await newList.getByRole("button", { name: "Add list" }).click();
  await page.getByRole("heading", { name: "Door" }).waitFor();

  const settings = page.getByRole("form", { name: "Settings of Door" });
  const threshold = settings.getByLabel("Threshold");
  await threshold.fill("1.5");
  await settings.getByRole("button", { name: "Save settings" }).click();
  await settings
    .locator("label")
    .filter({ hasText: "Threshold" })
    .getByRole("alert")
    .getByText("threshold 1.5 is not in (-1, 1]")
    .waitFor();
  await threshold.fill("0.5");
  await settings.getByRole("button", { name: "Save settings" }).click();
  await settings.getByText("Saved.").waitFor();

  const enrol = page.getByRole("form", { name: "Enrol into Door" });
  await enrol.getByLabel("Display name").fill("Barack Obama");
  await enrol.getByLabel("External id").fill("staff-1");
  await dropFiles(page, enrol.getByTestId("dropzone"), ["obama2.jpg", "obama3.jpg", "coffee.png"]);
  const verdict = (name) => enrol.getByRole("listitem", { name: `Photo ${name}`, exact: true });
  for (const name of ["obama2.jpg", "obama3.jpg"]) {
    await verdict(name).getByText("One face found; it will be enrolled.").waitFor();
    expect((await verdict(name).locator(".box").count()) === 1, `one face box on ${name}`);
  }
  await verdict("coffee.png").getByText("no face found in the image").waitFor();
  await shot("11-enrol-confirm");
  await enrol.getByRole("button", { name: "Enrol Barack Obama with 2 photos" }).click();
  const obama = page.getByRole("listitem", { name: "Barack Obama", exact: true });
  await obama.getByText("2 photos").waitFor();
  const face = obama.getByRole("img", { name: "Face of Barack Obama" });
  await page.waitForFunction(() => [...document.querySelectorAll("ul.people img")].every((img) => img.complete && img.naturalWidth > 0));
  expect((await face.evaluate((img) => img.naturalWidth)) > 0, "Obama's picture shown");
  expect((await enrol.getByRole("listitem").count()) === 0, "the form emptied after enrolment");

  await enrol.getByLabel("Display name").fill("Astronaut");
  await enrol.locator('input[type="file"]').setInputFiles(join(photos, "astronaut.png"));
  await verdict("astronaut.png").getByText("One face found; it will be enrolled.").waitFor();
  await enrol.getByRole("button", { name: "Enrol Astronaut with 1 photo" }).click();
  await page.getByRole("listitem", { name: "Astronaut", exact: true }).waitFor();

  // A photo of two people: the operator chooses the face on the right (Biden's) to enrol.
  await enrol.getByLabel("Display name").fill("Joe Biden");
  await enrol.locator('input[type="file"]').setInputFiles(env("SIGHTLINE_E2E_PAIR"));
  await verdict("pair.jpg").getByText("2 faces found: choose the person's face.").waitFor();
  expect(await enrol.getByRole("button", { name: /^Enrol Joe Biden/ }).isDisabled(), "no enrolment before a face is chosen");
  const choices = verdict("pair.jpg").getByRole("button", { name: /^Face \d of pair\.jpg$/ });
  expect((await choices.count()) === 2, "both faces offered");
  const lefts = await choices.evaluateAll((buttons) => buttons.map((button) => button.getBoundingClientRect().left));
  await choices.nth(lefts[0] > lefts[1] ? 0 : 1).click();
  await verdict("pair.jpg")
    .getByText(/^Face \d chosen; it will be enrolled\.$/)
    .waitFor();
  await shot("20-enrol-choose-face");
  await enrol.getByRole("button", { name: "Enrol Joe Biden with 1 photo" }).click();
  await page.getByRole("listitem", { name: "Joe Biden", exact: true }).getByText("1 photo").waitFor();

  const search = page.getByRole("searchbox", { name: "Search Door" });
  await search.fill("OBAMA");
  await page.getByRole("listitem", { name: "Astronaut", exact: true }).waitFor({ state: "detached" });
  expect(await obama.isVisible(), "the search finds Obama");
  await search.fill("staff-1");
  await obama.waitFor();
  await search.fill("nobody here");
  await page.getByText("Nobody matches.").waitFor();
  await search.fill("");
  await page.getByRole("listitem", { name: "Astronaut", exact: true }).getByRole("button", { name: "Remove Astronaut" }).click();
  await page.getByRole("listitem", { name: "Astronaut", exact: true }).waitFor({ state: "detached" });
  await obama.waitFor();
  await page.waitForFunction(() => [...document.querySelectorAll("ul.people img")].every((img) => img.complete && img.naturalWidth > 0));
  await shot("12-watchlist");

  // Obama's page: his photos, where he was seen and his alerts; renamed, kept on reload.
  await obama.getByRole("button", { name: "Open Barack Obama's page" }).click();
  const personPage = page.getByRole("region", { name: "Barack Obama" });
  await personPage.getByRole("img", { name: "Photo 2 of Barack Obama" }).waitFor();
  await personPage.getByText("External id staff-1; on Door").waitFor();
  await personPage.getByTestId("sightings-count").getByText("Not seen in this period.").waitFor();
  await personPage.getByText("No alert about them.").waitFor();
  const edit = personPage.getByRole("form", { name: "Edit Barack Obama" });
  await edit.getByLabel("Display name").fill("Barack H. Obama");
  await edit.getByRole("button", { name: "Save" }).click();
  await page.getByRole("heading", { name: "Barack H. Obama" }).waitFor();
  await page.reload();
  await page.getByRole("heading", { name: "Barack H. Obama" }).waitFor();
  expect(new URL(page.url()).searchParams.has("person"), "the person's page is in the address");
  await page.waitForFunction(() => [...document.querySelectorAll(".person-page img")].every((img) => img.complete && img.naturalWidth > 0));
  await shot("29-person-page", { tall: true });
  await page.getByRole("button", { name: "← Door" }).click();

  // Many at once: photos and a CSV naming them; each file's result.
  const bulk = page.getByRole("region", { name: "Enrol many people" });
  const csv = [
    "file,display_name,external_id",
    "astronaut.png,Astronaut,staff-3",
    "coffee.png,Coffee Cup,staff-4",
    "pair.jpg,Two People,staff-5",
    "missing.jpg,Nobody,staff-6",
    "obama3.jpg,Barack Obama,staff-1",
  ].join("\n");
  const file = (path, name = path.split("/").pop()) => ({
    name,
    mimeType: name.endsWith(".png") ? "image/png" : "image/jpeg",
    buffer: readFileSync(path),
  });
  await bulk
    .getByLabel("Photos and a CSV")
    .setInputFiles([
      { name: "people.csv", mimeType: "text/csv", buffer: Buffer.from(csv) },
      ...["astronaut.png", "coffee.png", "obama3.jpg", "obama2.jpg"].map((name) => file(join(photos, name))),
      file(env("SIGHTLINE_E2E_PAIR")),
    ]);
  const result = (name) => bulk.getByRole("row", { name, exact: true }).getByTestId("bulk-result");
  await result("missing.jpg").getByText("refused: no photo named missing.jpg among the files chosen").waitFor();
  await result("obama3.jpg").getByText("skipped: already listed as Barack H. Obama").waitFor();
  await result("obama2.jpg").getByText("skipped: not in people.csv").waitFor();
  await bulk.getByRole("button", { name: "Enrol 3 people" }).click();
  await bulk.getByRole("status").getByText("1 enrolled, 3 refused, 2 skipped.").waitFor({ timeout: 60_000 });
  await result("astronaut.png").getByText("enrolled", { exact: true }).waitFor();
  await result("coffee.png").getByText("refused: no face found in the image").waitFor();
  await result("pair.jpg")
    .getByText(/^refused: 2 faces found in the image/)
    .waitFor();
  await page.getByRole("listitem", { name: "Astronaut", exact: true }).waitFor();
  await shot("30-bulk-enrolment", { tall: true });
});
