// Scheduled reports on screen, driven in Debian's Chromium. Run by tests/tests/browser.rs, which then
// checks PostgreSQL and the stack's mail sink:
//
//   node web/e2e/reports.mjs
//
// An operator adds a schedule from presets (weekly, then weekdays at 07:00; the hours covered follow),
// is refused an unknown time zone beside that field, sets
// Europe/Berlin, runs it now and sees its delivery, and downloads the report it mails.
// Settings: SIGHTLINE_WEB_URL, SIGHTLINE_E2E_USER, SIGHTLINE_E2E_PASSWORD, SIGHTLINE_E2E_MAIL (the
// recipient), SIGHTLINE_E2E_SHOTS.
import { readFileSync } from "node:fs";
import { env, expect, inBrowser } from "./browser.mjs";

const base = env("SIGHTLINE_WEB_URL");

await inBrowser(async ({ page, shot, login }) => {
  await page.goto(`${base}/reports`);
  await login(env("SIGHTLINE_E2E_USER"), env("SIGHTLINE_E2E_PASSWORD"));
  await page.getByText("No scheduled reports yet.").waitFor();
  await page.getByRole("button", { name: "Add schedule" }).click();
  const form = page.getByRole("form", { name: "New schedule" });
  await form.getByLabel("Schedule name").fill("Morning summary");
  // When it runs, from presets: a weekly report covers the week, the others a day; weekdays at 07:00.
  const repeats = form.getByLabel("Repeats");
  await repeats.selectOption({ label: "once a week" });
  await form.getByLabel("Day of the week").selectOption({ label: "Friday" });
  await form.getByText("every Friday at 07:00, in the time zone below").waitFor();
  expect((await form.getByLabel("Hours covered before each run").inputValue()) === "168", "a weekly report covers the week");
  await repeats.selectOption({ label: "on weekdays (Monday to Friday)" });
  await form.getByLabel("At", { exact: true }).fill("07:00");
  await form.getByText("on weekdays at 07:00, in the time zone below").waitFor();
  expect((await form.getByLabel("Hours covered before each run").inputValue()) === "24", "a daily report covers a day");
  const zone = form.getByLabel("Time zone of the schedule and the report");
  await zone.fill("Mars/Olympus");
  await form.getByLabel("Recipients").fill(env("SIGHTLINE_E2E_MAIL"));
  await form.getByRole("button", { name: "Add schedule" }).click();
  await form
    .locator("label")
    .filter({ hasText: "Time zone" })
    .getByRole("alert")
    .getByText(/^tz: "Mars\/Olympus" is not a known time zone/)
    .waitFor();
  await zone.fill("Europe/Berlin");
  await form.getByRole("button", { name: "Add schedule" }).click();
  const row = page.getByRole("row").filter({ has: page.getByRole("button", { name: "Morning summary", exact: true }) });
  await row.getByText("Europe/Berlin").first().waitFor();
  await row.getByText("on weekdays at 07:00").waitFor();

  await row.getByRole("button", { name: "Run Morning summary now" }).click();
  const deliveries = page.getByRole("table", { name: "Deliveries of Morning summary" });
  await deliveries.getByRole("cell", { name: "sent", exact: true }).waitFor({ timeout: 30_000 });
  // The run on demand leaves the next scheduled run at 07:00 Berlin time.
  await row.getByRole("cell", { name: /7:00:00/ }).waitFor();
  await shot("18-reports");
  // Deleting asks first; Cancel keeps the schedule.
  await row.getByRole("button", { name: "Delete Morning summary" }).click();
  await row.getByRole("button", { name: "Delete Morning summary for good" }).waitFor();
  const kept = async () => ((await (await page.evaluate(() => fetch("/api/v1/schedules").then((r) => r.json()))).schedules) ?? []).length;
  expect((await kept()) === 1, "the schedule kept until the deletion is confirmed");
  await row.getByRole("button", { name: "Cancel" }).click();
  await row.getByRole("button", { name: "Delete Morning summary" }).waitFor();
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    row.getByRole("link", { name: "Download Morning summary" }).click(),
  ]);
  const pdf = readFileSync(await download.path());
  expect(pdf.subarray(0, 5).toString() === "%PDF-", `the report downloaded as a PDF (${pdf.length} bytes)`);
});
