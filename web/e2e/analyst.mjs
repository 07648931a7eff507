// An analyst's screens, driven in Debian's Chromium. Run by tests/tests/browser.rs once the test
// video, analysed as a file, has landed in the warehouse, with Barack Obama on the list "Door":
//
//   node web/e2e/analyst.mjs
//
// Analytics show the video's ground-truth number of people; the tracks, filtered to Obama with the
// list and person pickers, show his one track, whose detail has his best shot, his match and his
// clip (the camera's video plays, his box drawn at the best shot's moment); the PDF of
// the selection downloads; a search by another photo of Obama finds that track first.
// In a photo of two people the analyst chooses Biden's face; his hit says he is on no list and
// opens his track.
// Settings: SIGHTLINE_WEB_URL, SIGHTLINE_E2E_USER, SIGHTLINE_E2E_PASSWORD, SIGHTLINE_E2E_PEOPLE (the
// ground truth), SIGHTLINE_E2E_PHOTOS (with obama3.jpg), SIGHTLINE_E2E_PAIR (Obama left, Biden
// right), SIGHTLINE_E2E_SHOTS.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { env, expect, inBrowser } from "./browser.mjs";

const base = env("SIGHTLINE_WEB_URL");
const people = Number(env("SIGHTLINE_E2E_PEOPLE"));

/** Waits until every image in `selector` has loaded. */
const imagesLoaded = (page, selector) =>
  page.waitForFunction((s) => [...document.querySelectorAll(s)].every((img) => img.complete && img.naturalWidth > 0), selector);

await inBrowser(async ({ context, page, shot, login }) => {
  await page.goto(`${base}/analytics`);
  await login(env("SIGHTLINE_E2E_USER"), env("SIGHTLINE_E2E_PASSWORD"));
  const count = page.getByTestId("face-tracks");
  await count.waitFor();
  expect(Number(await count.textContent()) === people, `the ground truth, ${people} face tracks (got ${await count.textContent()})`);
  expect(Number(await page.getByTestId("identified-tracks").textContent()) === 1, "one of them identified");
  expect(Number(await page.getByTestId("distinct-persons").textContent()) === 1, "one distinct person identified");
  // The hours on a full axis: every hour of the last 24, the empty ones too (24 or 25 rows, as the
  // period starts within an hour or on one).
  const hours = page.getByRole("table", { name: /^Face tracks per hour/ }).getByRole("row");
  await hours.first().waitFor();
  expect([24, 25].includes(await hours.count()), `every hour of the period (got ${await hours.count()} rows)`);
  await page.getByRole("table", { name: /^Arrivals by hour of the week/ }).waitFor();
  const zoneBox = page.getByRole("combobox", { name: "Time zone" });
  await zoneBox.fill("Asia/Tokyo");
  await page.getByRole("table", { name: "Face tracks per day (Asia/Tokyo)" }).waitFor();
  expect(Number(await count.textContent()) === people, "the same people in another time zone");
  // Editing the zone goes through names that are no zone ("UT" on the way to "UTC"): the screen
  // stays, says so beside the box, and follows once the name is one.
  await zoneBox.fill("UT");
  await page.getByText("not a time zone; the charts stay in Asia/Tokyo").waitFor();
  expect(Number(await count.textContent()) === people, "the charts stay while the name is no zone");
  await shot("21-analytics-zone-typed");
  await zoneBox.fill("UTC");
  await page.getByRole("table", { name: "Face tracks per day (UTC)" }).waitFor();
  await zoneBox.fill("Asia/Tokyo");
  await page.getByRole("table", { name: "Face tracks per day (Asia/Tokyo)" }).waitFor();
  await shot("15-analytics");
  // The settings are in the address: a reload keeps the zone.
  expect(new URL(page.url()).searchParams.get("tz") === "Asia/Tokyo", `the zone in the address (${page.url()})`);
  await page.reload();
  await page.getByRole("table", { name: "Face tracks per day (Asia/Tokyo)" }).waitFor();

  await page.getByRole("link", { name: "Tracks" }).click();
  const filters = page.getByRole("form", { name: "Filters" });
  await page
    .getByRole("row", { name: /^Track / })
    .first()
    .waitFor();
  expect((await page.getByRole("row", { name: /^Track / }).count()) === people, "a row per person's face track");
  await filters.getByLabel("Watchlist").selectOption({ label: "Door" });
  await filters.getByLabel("Person").selectOption({ label: "Barack Obama" });
  const obama = page.getByRole("row", { name: /^Track / }).filter({ hasText: "Barack Obama" });
  await obama.waitFor();
  await page.waitForFunction(() => document.querySelectorAll("tr.clickable").length === 1);
  await obama.click();
  const detail = page.getByRole("region", { name: /^Track on Lobby file/ });
  await detail.getByText(/Barack Obama on Door, similarity 0\.\d\d/).waitFor();
  // The detail opens beside the list, where the user looks, not below it off-screen.
  const box = await detail.boundingBox();
  expect(box && box.y >= 0 && box.y < 800 && box.x > 500, `the track's detail beside the list (at ${JSON.stringify(box)})`);
  await detail.getByRole("img", { name: "Best shot of the track" }).waitFor();
  await imagesLoaded(page, "img.best-shot, img.thumb");
  await shot("16-track");
  // The track's clip plays in the browser: the camera's own video (1280x720), its best shot's moment
  // marked, and the person's box drawn over the picture when the video is there.
  const clip = detail.getByLabel("Video of the track");
  await clip.waitFor();
  await page.waitForFunction(
    () => {
      const video = document.querySelector("video");
      return video && video.readyState >= 1 && video.videoWidth > 0;
    },
    null,
    { timeout: 20_000 },
  );
  const size = await clip.evaluate((video) => [video.videoWidth, video.videoHeight, video.duration]);
  expect(size[0] === 1280 && size[1] === 720 && size[2] > 3, `the clip's picture and length (${size})`);
  const played = await clip.evaluate(async (video) => {
    await video.play();
    await new Promise((resolve) => setTimeout(resolve, 1200));
    video.pause();
    return video.currentTime;
  });
  expect(played > 0.5, `the clip plays (reached ${played} s)`);
  await detail.getByRole("button", { name: /^Show the best shot/ }).click();
  await page.getByTestId("clip-box").waitFor();
  await page.waitForFunction(() => {
    const video = document.querySelector("video");
    return video && !video.seeking && video.readyState >= 2;
  });
  await detail.locator(".clip-mark").waitFor();
  // The box follows him: drawn elsewhere a second and a half earlier, where he was then.
  await detail.getByText("The box follows the person through the video.").waitFor();
  const boxLeft = () => page.getByTestId("clip-box").evaluate((box) => box.style.left);
  const atBestShot = await boxLeft();
  await shot("26-track-clip");
  await clip.evaluate((video) => {
    video.currentTime = Math.max(0, video.currentTime - 1.5);
  });
  await page.waitForFunction(() => {
    const video = document.querySelector("video");
    return video && !video.seeking && video.readyState >= 2;
  });
  await page.getByTestId("clip-box").waitFor();
  const earlier = await boxLeft();
  expect(earlier !== atBestShot, `the box moved with him (${earlier} then ${atBestShot})`);
  // The filters and the open track are in the address: a reload shows them again, a link opened in
  // another tab shows the same, and Back closes the track, then undoes the person filter.
  const address = page.url();
  expect(/[?&]track=/.test(address) && /[?&]person=/.test(address), `the track and filters in the address (${address})`);
  await page.reload();
  await detail.getByText(/Barack Obama on Door, similarity 0\.\d\d/).waitFor();
  // The list filter kept on reload: selected once the lists' names have loaded.
  await filters.getByLabel("Watchlist").locator("option:checked").filter({ hasText: "Door" }).waitFor({ state: "attached" });
  const other = await context.newPage();
  await other.goto(address);
  await other
    .getByRole("region", { name: /^Track on Lobby file/ })
    .getByText(/Barack Obama on Door/)
    .waitFor();
  await other.close();
  await page.goBack();
  await detail.waitFor({ state: "detached" });
  await page.waitForFunction(() => document.querySelectorAll("tr.clickable").length === 1);
  await page.goBack();
  await filters.getByLabel("Person").getByRole("option", { name: "anyone on the list", selected: true }).waitFor({ state: "attached" });
  expect((await filters.getByLabel("Person").inputValue()) === "", "Back undid the person filter");
  await page.goForward();
  await obama.click();
  await detail.getByText(/Barack Obama on Door/).waitFor();
  const [download] = await Promise.all([page.waitForEvent("download"), filters.getByRole("link", { name: "Download PDF" }).click()]);
  const pdf = readFileSync(await download.path());
  expect(pdf.subarray(0, 5).toString() === "%PDF-" && pdf.length > 2000, `a PDF downloaded (${pdf.length} bytes)`);
  const [csvDownload] = await Promise.all([page.waitForEvent("download"), filters.getByRole("link", { name: "Download CSV" }).click()]);
  const csv = readFileSync(await csvDownload.path()).toString();
  const lines = csv.trim().split("\n");
  expect(lines[0].startsWith("event_id,capture_time,"), `a CSV with its header downloaded (got ${csv.slice(0, 120)})`);
  expect(lines.length >= 2 && csv.includes("Barack Obama"), `Obama's track's events (${lines.length - 1} rows)`);

  await page.getByRole("link", { name: "Search by face" }).click();
  await page.locator('input[type="file"]').setInputFiles(join(env("SIGHTLINE_E2E_PHOTOS"), "obama3.jpg"));
  const hits = page.getByRole("list", { name: "Tracks with the face" });
  await hits.waitFor({ timeout: 60_000 });
  const first = hits.getByRole("listitem").first();
  expect((await first.getAttribute("aria-label")) === "Seen on Lobby file", "found on the video's stream");
  await imagesLoaded(page, "ol.hits img, .searched img");
  // Each hit says whom its track was identified as.
  await first
    .getByTestId("identified-as")
    .getByText(/^Barack Obama on Door \(0\.\d\d\)$/)
    .waitFor();
  await shot("17-search");

  // A photo of two people: the analyst chooses the face on the right (Biden's, on no list), and a
  // hit opens its track.
  await page.locator('input[type="file"]').setInputFiles(env("SIGHTLINE_E2E_PAIR"));
  await page.getByText("2 faces found: choose the face to search for.").waitFor({ timeout: 60_000 });
  const faces = await page.getByRole("button", { name: /^Face \d of the photo$/ }).all();
  const placed = await Promise.all(faces.map(async (face) => ({ face, x: (await face.boundingBox()).x })));
  placed.sort((a, b) => b.x - a.x);
  await placed[0].face.click();
  const biden = hits.getByRole("listitem").first();
  await biden.getByTestId("identified-as").getByText("not identified", { exact: true }).waitFor({ timeout: 60_000 });
  expect((await biden.getAttribute("aria-label")) === "Seen on Lobby file", "Biden found on the video's stream");
  await imagesLoaded(page, "ol.hits img, .searched img");
  await shot("25-search-choose-face");
  await biden.getByRole("link", { name: "Open the track" }).click();
  await page
    .getByRole("region", { name: /^Track on Lobby file/ })
    .getByText("no one on a watchlist")
    .waitFor();
  expect(new URL(page.url()).pathname === "/tracks", "the track opened on the tracks screen");
});
