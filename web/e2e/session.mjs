// Drives the web app in Debian's Chromium (playwright-core, the system browser, no download) through
// a user's session. Run by tests/tests/browser.rs against the real services behind the entry point:
//
//   node web/e2e/session.mjs login     log in (a wrong password first), see the streams, keep the
//                                      browser's state in $SIGHTLINE_E2E_STATE
//   node web/e2e/session.mjs expired   reopen that state after the session ended: back at the login
//                                      form with the reason; log in again, log out, stay out
//
// Settings: SIGHTLINE_WEB_URL, SIGHTLINE_E2E_USER, SIGHTLINE_E2E_PASSWORD, SIGHTLINE_E2E_STREAM (a
// stream name the list must show), SIGHTLINE_E2E_STATE, SIGHTLINE_E2E_SHOTS (screenshots' directory).
// Any failed expectation or console error exits non-zero with the reason.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const base = env("SIGHTLINE_WEB_URL");
const user = env("SIGHTLINE_E2E_USER");
const password = env("SIGHTLINE_E2E_PASSWORD");
const statePath = env("SIGHTLINE_E2E_STATE");
const shots = env("SIGHTLINE_E2E_SHOTS");
mkdirSync(shots, { recursive: true });
const mode = process.argv[2];

function expect(condition, message) {
  if (!condition) throw new Error(`expected: ${message}`);
}

// Flags for a machine without a display or network beyond loopback (see the machine notes).
const browser = await chromium.launch({
  executablePath: process.env.SIGHTLINE_CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
const problems = [];
try {
  const context = await browser.newContext({
    viewport: { width: 1280, height: 800 },
    storageState: mode === "expired" ? statePath : undefined,
  });
  const page = await context.newPage();
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    // An expected refusal (a wrong password, the session check before login) is an answer the app
    // shows, not a fault; Chromium logs it as a failed resource.
    const refusal = /Failed to load resource: the server responded with a status of (401|429)/;
    if (message.type() === "error" && !refusal.test(message.text())) problems.push(`console: ${message.text()}`);
  });
  const shot = (name) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
  const login = async (secret) => {
    await page.getByLabel("Username").fill(user);
    await page.getByLabel("Password").fill(secret);
    await page.getByRole("button", { name: "Log in" }).click();
  };

  if (mode === "login") {
    await page.goto(`${base}/`);
    await page.getByRole("heading", { name: "Sightline" }).waitFor();
    await shot("01-login");
    await login("not the password");
    const refusal = page.getByRole("alert");
    await refusal.waitFor();
    expect((await refusal.textContent()) === "wrong username or password", "the service's refusal shown");
    await login(password);
    await page.getByRole("heading", { name: "Streams" }).waitFor();
    await page.getByRole("cell", { name: env("SIGHTLINE_E2E_STREAM"), exact: true }).waitFor();
    expect((await page.getByTestId("who").textContent()).startsWith(user), "the user's name in the header");
    const cookie = (await context.cookies()).find((c) => c.name === "sightline_session");
    expect(cookie && cookie.httpOnly && cookie.sameSite === "Strict" && cookie.secure, "an HttpOnly, Strict, Secure cookie");
    expect(!(await page.evaluate(() => document.cookie)).includes("sightline_session"), "no script reads the session");
    await shot("02-streams");
    await context.storageState({ path: statePath });
  } else if (mode === "expired") {
    await page.goto(`${base}/`);
    const notice = page.getByText("Session ended; log in again.");
    await notice.waitFor();
    await shot("03-session-ended");
    await login(password);
    await page.getByRole("heading", { name: "Streams" }).waitFor();
    await page.getByRole("button", { name: "Log out" }).click();
    await page.getByText("You have logged out.").waitFor();
    await page.reload();
    await page.getByRole("button", { name: "Log in" }).waitFor();
    const status = await page.evaluate(async () => (await fetch("/api/v1/streams")).status);
    expect(status === 401, `no access after logout (got ${status})`);
    await shot("04-logged-out");
  } else {
    throw new Error(`unknown mode ${mode} (login or expired)`);
  }
  expect(problems.length === 0, `no console errors: ${problems.join("; ")}`);
} finally {
  await browser.close();
}
