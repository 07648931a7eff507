// What the browser scripts share: their settings, Debian's Chromium through playwright-core (no
// browser download), console errors collected, screenshots, and the login form.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

/** The setting `name` from the environment; throws when it is missing. */
export function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

/** Throws `expected: message` unless `condition` holds. */
export function expect(condition, message) {
  if (!condition) throw new Error(`expected: ${message}`);
}

/** A phone's window: 360 px wide, the narrowest common one. */
export const PHONE = { width: 360, height: 740 };

/** Throws unless `locator`'s box lies inside the window, left to right and top to bottom. */
export async function onScreen(locator, what) {
  const viewport = locator.page().viewportSize();
  const box = await locator.boundingBox();
  expect(box !== null, `${what} shown`);
  const inside = box.x >= 0 && box.x + box.width <= viewport.width + 0.5 && box.y >= 0 && box.y < viewport.height;
  expect(inside, `${what} inside the ${viewport.width} px window (at x ${box.x}, y ${box.y}, ${box.width} wide)`);
}

/** Throws when the page is wider than the window (the user would scroll sideways). */
export async function fitsWidth(page, screen) {
  const viewport = page.viewportSize();
  const width = await page.evaluate(() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth));
  const wide = await page.evaluate((limit) => {
    // The elements reaching past the window, to name in the failure.
    // A wide chart scrolls inside its own frame (.scroll-x), by design; the page must not.
    return [...document.querySelectorAll("body *")]
      .filter((element) => !element.closest(".scroll-x") && element.getBoundingClientRect().right > limit + 0.5)
      .slice(0, 3)
      .map((element) => `${element.tagName.toLowerCase()}.${element.className}`)
      .join(", ");
  }, viewport.width);
  expect(width <= viewport.width && wide === "", `${screen} fits ${viewport.width} px (page ${width} px wide; past the edge: ${wide})`);
}

/**
 * Runs `steps({ context, page, shot, login })` in a fresh headless Chromium (with the saved state
 * at `storageState`, if given; a desktop's window unless `viewport` says otherwise, a phone's when it
 * is narrower than 500 px); fails when a step throws or the page logged a console error.
 */
export async function inBrowser(steps, { storageState, viewport = { width: 1280, height: 800 } } = {}) {
  const shots = env("SIGHTLINE_E2E_SHOTS");
  mkdirSync(shots, { recursive: true });
  // Flags for a machine without a display or network beyond loopback.
  const browser = await chromium.launch({
    executablePath: process.env.SIGHTLINE_CHROMIUM ?? "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const problems = [];
  try {
    const context = await browser.newContext({ viewport, storageState, isMobile: viewport.width < 500, hasTouch: viewport.width < 500 });
    const page = await context.newPage();
    page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
    page.on("console", (message) => {
      // An expected refusal (a wrong password, a form the service refused, the session check before
      // login) is an answer the app shows, not a fault; Chromium logs it as a failed resource.
      const refusal = /Failed to load resource: the server responded with a status of (400|401|409|422|429)/;
      // A stream's frame that went away between its state and the image's request (the stream
      // restarted or stopped) is a 404 the streams screen handles: it shows that there is no frame.
      const frameGone = /\/api\/v1\/streams\/[^/]+\/(snapshot|frame)/.test(message.location().url ?? "") && / 404 /.test(message.text());
      if (message.type() === "error" && !refusal.test(message.text()) && !frameGone) {
        problems.push(`console: ${message.text()} (${message.location().url})`);
      }
    });
    // A side panel scrolls inside the window: `{ tall: true }` takes the shot in a window tall
    // enough to show all of it (then the window's size comes back). A sheet over the page on a
    // phone is fixed to the window: `{ window: true }` takes what the window shows (a whole-page
    // shot would draw the page's lower part over the sheet, which no user sees).
    const shot = async (name, { tall = false, window = false } = {}) => {
      const size = page.viewportSize();
      if (tall) await page.setViewportSize({ width: size.width, height: 2400 });
      await page.screenshot({ path: join(shots, `${name}.png`), fullPage: !window });
      if (tall) await page.setViewportSize(size);
    };
    const login = async (user, secret) => {
      await page.getByLabel("Username").fill(user);
      await page.getByLabel("Password").fill(secret);
      await page.getByRole("button", { name: "Log in" }).click();
    };
    try {
      await steps({ context, page, shot, login });
    } catch (error) {
      // What the page showed when a step failed, beside the others.
      await shot(
        `failed-${process.argv
          .slice(1)
          .map((arg) => arg.split("/").pop())
          .join("-")}`,
      ).catch(() => {});
      throw error;
    }
    expect(problems.length === 0, `no console errors: ${problems.join("; ")}`);
  } finally {
    await browser.close();
  }
}
