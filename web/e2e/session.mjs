// A user's session in the web app, driven in Debian's Chromium. Run by tests/tests/browser.rs against
// the real services behind the entry point:
//
//   node web/e2e/session.mjs login     log in (a wrong password first), see the streams, keep the
//                                      browser's state in $SIGHTLINE_E2E_STATE
//   node web/e2e/session.mjs expired   reopen that state after the session ended: back at the login
//                                      form with the reason; log in again, log out, stay out
//
// Settings: SIGHTLINE_WEB_URL, SIGHTLINE_E2E_USER, SIGHTLINE_E2E_PASSWORD, SIGHTLINE_E2E_STREAM (a
// stream name the list must show), SIGHTLINE_E2E_STATE, SIGHTLINE_E2E_SHOTS (screenshots' directory).
import { env, expect, inBrowser } from "./browser.mjs";

const base = env("SIGHTLINE_WEB_URL");
const user = env("SIGHTLINE_E2E_USER");
const password = env("SIGHTLINE_E2E_PASSWORD");
const statePath = env("SIGHTLINE_E2E_STATE");
const mode = process.argv[2];

if (mode === "login") {
  await inBrowser(async ({ context, page, shot, login }) => {
    await page.goto(`${base}/`);
    await page.getByRole("heading", { name: "Sightline" }).waitFor();
    await shot("01-login");
    await login(user, "not the password");
    const refusal = page.getByRole("alert");
    await refusal.waitFor();
    expect((await refusal.textContent()) === "wrong username or password", "the service's refusal shown");
    await login(user, password);
    // The first screen is the camera wall, with the stream's tile.
    await page.getByRole("heading", { name: "Camera wall" }).waitFor();
    await page.getByRole("article", { name: `Camera ${env("SIGHTLINE_E2E_STREAM")}` }).waitFor();
    await page.getByRole("navigation").getByRole("link", { name: "Streams", exact: true }).click();
    await page.getByRole("heading", { name: "Streams" }).waitFor();
    await page.getByRole("cell", { name: env("SIGHTLINE_E2E_STREAM"), exact: true }).waitFor();
    expect((await page.getByTestId("who").textContent()).startsWith(user), "the user's name in the header");
    const cookie = (await context.cookies()).find((c) => c.name === "sightline_session");
    expect(cookie && cookie.httpOnly && cookie.sameSite === "Strict" && cookie.secure, "an HttpOnly, Strict, Secure cookie");
    expect(!(await page.evaluate(() => document.cookie)).includes("sightline_session"), "no script reads the session");
    await shot("02-streams");
    await context.storageState({ path: statePath });
  });
} else if (mode === "expired") {
  await inBrowser(
    async ({ page, shot, login }) => {
      await page.goto(`${base}/`);
      await page.getByText("Session ended; log in again.").waitFor();
      await shot("03-session-ended");
      await login(user, password);
      await page.getByRole("heading", { name: "Camera wall" }).waitFor();
      await page.getByRole("button", { name: "Log out" }).click();
      await page.getByText("You have logged out.").waitFor();
      await page.reload();
      await page.getByRole("button", { name: "Log in" }).waitFor();
      const status = await page.evaluate(async () => (await fetch("/api/v1/streams")).status);
      expect(status === 401, `no access after logout (got ${status})`);
      await shot("04-logged-out");
    },
    { storageState: statePath },
  );
} else {
  throw new Error(`unknown mode ${mode} (login or expired)`);
}
