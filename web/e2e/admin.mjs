// An admin manages users and tokens on the "Users and tokens" screen, driven in Debian's Chromium.
// Run by tests/tests/browser.rs, which then checks PostgreSQL for what the screen did:
//
//   node web/e2e/admin.mjs
//
// A user "vera" is refused with a short password (the service's message beside the form), then made
// an operator, changed to analyst and disabled; a token "nightly-export" is issued (its secret shown
// once) and revoked. The role change, the disabling and the revocation each ask before they act. An
// export made with the session shows on the Privacy screen's audit log, filtered, and in its CSV;
// the retention periods are shown; a watchlist person is erased from their page through the Privacy
// screen's preview, reason and confirmation, and the receipt is in the audit log. Settings:
// SIGHTLINE_WEB_URL, SIGHTLINE_E2E_USER, SIGHTLINE_E2E_PASSWORD (an admin), SIGHTLINE_E2E_LIST and
// SIGHTLINE_E2E_PERSON (the person to erase), SIGHTLINE_E2E_SHOTS.
import { PHONE, env, expect, fitsWidth, inBrowser } from "./browser.mjs";

const base = env("SIGHTLINE_WEB_URL");

await inBrowser(async ({ page, shot, login }) => {
  await page.goto(`${base}/admin`);
  await login(env("SIGHTLINE_E2E_USER"), env("SIGHTLINE_E2E_PASSWORD"));
  await page.getByRole("heading", { name: "Users" }).waitFor();
  expect(new URL(page.url()).pathname === "/admin", "the link's screen after login");

  const newUser = page.getByRole("form", { name: "New user" });
  await newUser.getByLabel("New username").fill("vera");
  await newUser.getByLabel("Password").fill("short");
  await newUser.getByLabel("Role").selectOption("operator");
  await newUser.getByRole("button", { name: "Add user" }).click();
  await newUser.getByRole("alert").getByText("password must have at least 10 characters").waitFor();
  await newUser.getByLabel("Password").fill("vera's long password");
  await newUser.getByRole("button", { name: "Add user" }).click();
  const vera = page.getByRole("row").filter({ has: page.getByRole("cell", { name: "vera", exact: true }) });
  await vera.waitFor();
  // A role change, a disabling and a revocation each ask first: the first click changes nothing.
  const veraNow = () =>
    page.evaluate(async () => (await (await fetch("/api/v1/users")).json()).users.find((user) => user.username === "vera"));
  await vera.getByLabel("Role of vera").selectOption("analyst");
  await vera.getByRole("button", { name: "Make vera analyst" }).waitFor();
  expect((await veraNow()).role === "operator", "no role change before it is confirmed");
  await shot("23-admin-confirm-role");
  await vera.getByRole("button", { name: "Make vera analyst" }).click();
  await vera.getByRole("button", { name: "Make vera analyst" }).waitFor({ state: "detached" });
  await page.waitForFunction(
    async () => (await (await fetch("/api/v1/users")).json()).users.find((u) => u.username === "vera").role === "analyst",
  );
  await vera.getByRole("button", { name: "Disable vera…" }).click();
  expect(!(await veraNow()).disabled, "vera still active before the disabling is confirmed");
  await vera.getByRole("button", { name: "Disable vera and end their sessions" }).click();
  await vera.getByRole("button", { name: "Enable vera" }).waitFor();
  expect((await vera.getByLabel("Role of vera").inputValue()) === "analyst", "vera's new role shown");

  const newToken = page.getByRole("form", { name: "New token" });
  await newToken.getByLabel("Token name").fill("nightly-export");
  await newToken.getByLabel("Role").selectOption("analyst");
  await newToken.getByRole("button", { name: "Issue token" }).click();
  const secret = await newToken.getByTestId("issued-token").textContent();
  expect(/^sl_[0-9a-f]{64}$/.test(secret ?? ""), `a token shown once (got ${secret})`);
  const token = page.getByRole("row").filter({ has: page.getByRole("cell", { name: "nightly-export", exact: true }) });
  await token.getByRole("cell", { name: "active", exact: true }).waitFor();
  await shot("05-admin");
  await token.getByRole("button", { name: "Revoke nightly-export…" }).click();
  await token.getByRole("button", { name: "Cancel" }).click();
  await token.getByRole("button", { name: "Revoke nightly-export…" }).click();
  await token.getByRole("button", { name: "Revoke nightly-export for good" }).click();
  await token.getByRole("cell", { name: "revoked", exact: true }).waitFor();
  const status = await page.evaluate(
    async (bearer) => (await fetch("/api/v1/streams", { headers: { Authorization: `Bearer ${bearer}` }, credentials: "omit" })).status,
    secret,
  );
  expect(status === 401, `the revoked token is refused (got ${status})`);
  await shot("06-admin-revoked");

  // The audit log: an export made with this session is on the Privacy screen, as ada's, filtered
  // by action, and in its CSV.
  const exported = await page.request.get(`${base}/api/v1/reports/events.csv?from=0&to=1000&site=lobby`);
  expect(exported.status() === 200, `an export (got ${exported.status()})`);
  await page.getByRole("navigation").getByRole("link", { name: "Privacy" }).click();
  const records = page.getByRole("table", { name: "Audit records" });
  const exportRow = records.getByRole("row").filter({ has: page.getByRole("cell", { name: "export.csv", exact: true }) });
  await exportRow.getByRole("cell", { name: "ada (admin, session)" }).waitFor();
  await exportRow.getByRole("cell", { name: "from=0&to=1000&site=lobby" }).waitFor();
  await page.getByLabel("Action").selectOption("watchlist");
  await page.getByText("No records match.").waitFor();
  await page.getByLabel("Action").selectOption("export");
  await exportRow.waitFor();
  const csvLink = await page.getByRole("link", { name: "Download CSV" }).getAttribute("href");
  const csv = await (await page.request.get(`${base}${csvLink}`)).text();
  expect(
    csv.startsWith("id,at,who,role,via,service,action,subject,count") && csv.includes(",ada,admin,session,query,export.csv,"),
    `the log as CSV: ${csv}`,
  );
  const recordsLink = await page.getByTestId("records-of-processing").getAttribute("href");
  const recordsDoc = await (await page.request.get(`${base}${recordsLink}`)).text();
  expect(
    recordsDoc.startsWith("# Records of processing") &&
      recordsDoc.includes("| Face images |") &&
      recordsDoc.includes("7 days if the face matched no watchlist"),
    `the records of processing, from the settings: ${recordsDoc.slice(0, 400)}`,
  );
  await shot("32-privacy");
  const retention = page.getByRole("table", { name: "Retention periods" });
  await retention.getByRole("row").filter({ hasText: "Face images, no watchlist match" }).getByRole("cell", { name: "7 days" }).waitFor();
  await retention.getByRole("row").filter({ hasText: "Counts" }).getByRole("cell", { name: "3 years" }).waitFor();
  // Retention run now: asked first, then the run is shown as ada's.
  await page.getByRole("button", { name: "Run retention now…" }).click();
  await page.getByRole("button", { name: "Expire what is past its period" }).click();
  await page
    .getByTestId("retention-runs")
    .getByText(/Last run .* \(by ada\): \d+ track keys destroyed/)
    .waitFor();

  // Erasure: a watchlist person's page offers it to admins; the Privacy screen previews what goes,
  // asks why and for a confirmation, then shows the receipt the audit log keeps.
  await page.goto(`${base}/watchlists?list=${env("SIGHTLINE_E2E_LIST")}&person=${env("SIGHTLINE_E2E_PERSON")}`);
  await page.getByRole("link", { name: "Erase this person…" }).click();
  await page.getByRole("heading", { name: "Erase Erin Example" }).waitFor();
  const plan = page.getByRole("table", { name: "What will be erased" });
  await plan.getByRole("row").filter({ hasText: "Watchlist enrolments" }).getByRole("cell", { name: "1", exact: true }).waitFor();
  expect(await page.getByRole("button", { name: "Erase…" }).isDisabled(), "no erasure without a reason");
  await shot("33-erasure-preview");
  await page.getByLabel("Reason (kept in the audit log)").fill("request DSR-2026-117");
  await page.getByRole("button", { name: "Erase…" }).click();
  const enrolled = () =>
    page.evaluate(async (list) => (await (await fetch(`/api/v1/watchlists/${list}/persons`)).json()).length, env("SIGHTLINE_E2E_LIST"));
  expect((await enrolled()) === 1, "nothing erased before the confirmation");
  await page.getByRole("button", { name: "Erase for good" }).click();
  await page.getByTestId("erasure-receipt").waitFor();
  expect((await enrolled()) === 0, "the person erased");
  await shot("34-erasure-receipt");
  await page.getByRole("button", { name: "Done: show erasures in the audit log" }).click();
  const erasureRow = records.getByRole("row").filter({ has: page.getByRole("cell", { name: "privacy.erasure", exact: true }) });
  await erasureRow.getByRole("cell", { name: "ada (admin, session)" }).waitFor();
  await page.getByRole("heading", { name: "Erase a person" }).waitFor();

  // The same screens on a phone, within the width.
  await page.setViewportSize(PHONE);
  await erasureRow.waitFor();
  await fitsWidth(page, "the privacy screen");
  await shot("phone-privacy");
  await page.getByRole("button", { name: "Menu" }).click();
  await page.getByRole("navigation").getByRole("link", { name: "Users and tokens" }).click();
  await token.waitFor();
  await fitsWidth(page, "users and tokens");
  await shot("phone-admin");
});
