// Streams on screen, driven in Debian's Chromium. Run by tests/tests/browser.rs, which serves the test
// video over RTSP and then checks PostgreSQL for what the screen did:
//
//   node web/e2e/streams.mjs add      (an operator) add the video as a stream, a refused rate first
//                                     with the service's message beside its field; see it running
//                                     on the ingest instance that owns it, with its last analysed frame
//   node web/e2e/streams.mjs viewer   (a viewer) the same stream without source URL, frame or changes
//   node web/e2e/streams.mjs blur     (an operator) let viewers see the stream's frames, faces blurred
//   node web/e2e/streams.mjs blurred  (a viewer) the stream's frame, faces blurred, on the wall and
//                                     on the streams screen
//   node web/e2e/streams.mjs change   (an operator) rename the stream, disable it; add a camera
//                                     nobody answers for, read its health, delete it
//
// Settings: SIGHTLINE_WEB_URL, SIGHTLINE_E2E_USER, SIGHTLINE_E2E_PASSWORD, SIGHTLINE_E2E_VIDEO_URL,
// SIGHTLINE_E2E_SHOTS.
import { PHONE, env, expect, fitsWidth, inBrowser, onScreen } from "./browser.mjs";

const base = env("SIGHTLINE_WEB_URL");
const mode = process.argv[2];

/** The table row of stream `name`. */
const row = (page, name) => page.getByRole("row").filter({ has: page.getByRole("button", { name, exact: true }) });

if (mode === "add") {
  await inBrowser(async ({ page, shot, login }) => {
    await page.goto(`${base}/streams`);
    await login(env("SIGHTLINE_E2E_USER"), env("SIGHTLINE_E2E_PASSWORD"));
    await page.getByRole("button", { name: "Add stream" }).click();
    const form = page.getByRole("form", { name: "New stream" });
    await form.getByLabel("Name").fill("Lobby camera");
    await form.getByLabel("Source URL").fill(env("SIGHTLINE_E2E_VIDEO_URL"));
    await form.getByLabel("Site").fill("hq");
    const rate = form.getByLabel("Analysed frames per second");
    await rate.fill("40");
    await form.getByRole("button", { name: "Add", exact: true }).click();
    // The refusal sits in the field's label, and the field is marked invalid.
    const refusal = form.locator("label").filter({ hasText: "Analysed frames per second" }).getByRole("alert");
    await refusal.getByText("analysis_fps 40 must be between 1 and 30").waitFor();
    expect((await rate.getAttribute("aria-invalid")) === "true", "the rate marked invalid");
    await shot("07-stream-refused");
    await rate.fill("5");
    // An impatient double-click adds the stream once: two clicks before the first request returns.
    await form.getByRole("button", { name: "Add", exact: true }).evaluate((button) => {
      button.click();
      button.click();
    });

    const lobby = row(page, "Lobby camera");
    await lobby.getByText("running", { exact: true }).waitFor({ timeout: 60_000 });
    await page.waitForTimeout(2500); // one more refresh of the list (every 2 s)
    expect((await lobby.count()) === 1, `one Lobby camera after a double-click (got ${await lobby.count()})`);
    // The ingest instance running it (the test's one instance, named after its host and port).
    const owner = await page.getByRole("term").filter({ hasText: "Run by" }).locator("xpath=following-sibling::dd[1]").textContent();
    expect(/^ingest instance \S+:\d+$/.test(owner ?? ""), `the instance running it (got ${owner})`);
    // The video's people walk in within its first seconds: a frame with a face on it comes.
    await page
      .getByTestId("snapshot-counts")
      .filter({ hasText: /^[1-9]\d* faces? / })
      .waitFor({ timeout: 60_000 });
    const frame = page.getByRole("img", { name: "Last analysed frame of Lobby camera" });
    await page.waitForFunction(
      () => document.querySelector("figure img")?.complete && document.querySelector("figure img").naturalWidth > 0,
    );
    const width = await frame.evaluate((img) => img.naturalWidth);
    expect(width === 640, `the analysed frame, 640 pixels wide (got ${width})`);
    // Its health in words: running since when, and its last frame.
    await lobby
      .getByTestId("health")
      .filter({ hasText: /^running since .+, last frame \d+ s ago/ })
      .waitFor();
    await shot("08-stream-running");
    // The open stream is in the address: a reload shows it again.
    await page.reload();
    await page.getByRole("img", { name: "Last analysed frame of Lobby camera" }).waitFor();
  });
} else if (mode === "change") {
  await inBrowser(async ({ page, shot, login }) => {
    await page.goto(`${base}/streams`);
    await login(env("SIGHTLINE_E2E_USER"), env("SIGHTLINE_E2E_PASSWORD"));
    const lobby = row(page, "Lobby camera");

    await lobby.getByRole("button", { name: "Edit Lobby camera" }).click();
    const edit = page.getByRole("form", { name: "Edit Lobby camera" });
    await edit.getByLabel("Name").fill("Lobby east");
    // The region of interest drawn with the mouse on the last frame: from 10 % to 90 % across and
    // 20 % to 80 % down.
    const drawing = edit.getByRole("img", { name: "Last analysed frame of Lobby camera, to draw on" });
    await drawing.waitFor();
    const box = await drawing.boundingBox();
    await page.mouse.move(box.x + box.width * 0.1, box.y + box.height * 0.2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.5, { steps: 5 });
    await page.mouse.move(box.x + box.width * 0.9, box.y + box.height * 0.8, { steps: 5 });
    await page.mouse.up();
    const drawn = (await edit.getByLabel(/^Region of interest/).inputValue()).split(",").map(Number);
    const expected = [0.1, 0.2, 0.8, 0.6];
    expect(
      drawn.length === 4 && drawn.every((value, i) => Math.abs(value - expected[i]) < 0.01),
      `the drawn region in the form (got ${drawn.join(", ")})`,
    );
    await edit.getByTestId("roi-drawn").waitFor();
    await shot("28-stream-roi-drawn");
    await edit.getByRole("button", { name: "Save" }).click();
    const east = row(page, "Lobby east");
    await east.getByRole("button", { name: "Disable Lobby east" }).click();
    await east.getByText("disabled", { exact: true }).waitFor();
    await east.getByRole("button", { name: "Enable Lobby east" }).waitFor();
    await shot("09-stream-disabled");

    // A camera nobody answers for: its health names the cause a person can act on, the host and
    // port that refused, and when it tries again; then it is deleted.
    await page.getByRole("button", { name: "Add stream" }).click();
    const form = page.getByRole("form", { name: "New stream" });
    await form.getByLabel("Name").fill("Dead camera");
    await form.getByLabel("Source URL").fill("rtsp://127.0.0.1:9/dead");
    await form.getByRole("button", { name: "Add", exact: true }).click();
    const dead = row(page, "Dead camera");
    const health = dead.getByTestId("health");
    await health.getByText("connection refused by 127.0.0.1:9 (nothing listens on that port)").waitFor({ timeout: 30_000 });
    await health.getByText(/not running since .+; next try in \d+ s/).waitFor({ timeout: 30_000 });
    expect(!/rtspsrc|Could not open/.test(await health.textContent()), `no GStreamer element names: ${await health.textContent()}`);
    await shot("24-stream-health");
    await dead.getByRole("button", { name: "Edit Dead camera" }).click();
    await page.getByRole("button", { name: "Delete…" }).click();
    await page.getByRole("button", { name: "Delete Dead camera for good" }).click();
    await dead.waitFor({ state: "detached" });
  });
} else if (mode === "viewer") {
  await inBrowser(async ({ page, shot, login }) => {
    await page.goto(`${base}/streams`);
    await login(env("SIGHTLINE_E2E_USER"), env("SIGHTLINE_E2E_PASSWORD"));
    await page.getByRole("button", { name: "Lobby camera", exact: true }).click();
    await page.getByRole("heading", { name: "Lobby camera" }).waitFor();
    expect((await page.getByRole("columnheader", { name: "Source" }).count()) === 0, "no source URLs");
    expect((await page.getByRole("img").count()) === 0, "no frames");
    const screens = await page.getByRole("navigation").getByRole("link").allTextContents();
    expect(
      screens.join(",") === "Camera wall,Streams,Analytics,API",
      `only the cameras' health, aggregates and the API reference: no faces, names or tracks (got ${screens})`,
    );
    expect((await page.getByRole("button", { name: /^(Add stream|Edit|Disable)/ }).count()) === 0, "no changes");
    const [stream] = await (await page.request.get(`${base}/api/v1/streams`)).json();
    expect(stream.state.snapshot && stream.source_url === "", "a running stream with a frame, its URL withheld");
    for (const route of ["snapshot", "frame"]) {
      const status = (await page.request.get(`${base}/api/v1/streams/${stream.id}/${route}`)).status();
      expect(status === 403, `the ${route} refused to a viewer (got ${status})`);
    }
    await shot("10-streams-viewer");
    // The wall shows a viewer each camera's health, without its frame.
    await page.getByRole("navigation").getByRole("link", { name: "Camera wall" }).click();
    const tile = page.getByRole("article", { name: "Camera Lobby camera" });
    await tile
      .getByTestId("health")
      .getByText(/^running since/)
      .waitFor();
    await tile.getByText("frames of this camera are for analysts and up").waitFor();
    expect((await page.getByRole("img").count()) === 0, "no frames on the wall");
  });
} else if (mode === "blur") {
  await inBrowser(async ({ page, login }) => {
    await page.goto(`${base}/streams`);
    await login(env("SIGHTLINE_E2E_USER"), env("SIGHTLINE_E2E_PASSWORD"));
    await row(page, "Lobby camera").getByRole("button", { name: "Edit Lobby camera" }).click();
    const edit = page.getByRole("form", { name: "Edit Lobby camera" });
    await edit.getByLabel("Show viewers this camera's frames with every face blurred").check();
    await edit.getByRole("button", { name: "Save" }).click();
    await page.getByRole("button", { name: "Lobby camera", exact: true }).click();
    await page.getByText("shown, every face blurred").waitFor();
  });
} else if (mode === "blurred") {
  await inBrowser(async ({ page, shot, login }) => {
    await page.goto(`${base}/wall`);
    await login(env("SIGHTLINE_E2E_USER"), env("SIGHTLINE_E2E_PASSWORD"));
    // The wall's tile shows the camera's live view, marked as blurred, and no name.
    const tile = page.getByRole("article", { name: "Camera Lobby camera" });
    await tile.getByRole("img", { name: "Live view of Lobby camera" }).waitFor({ timeout: 30_000 });
    await tile.getByTestId("faces-blurred").waitFor();
    expect((await tile.getByTestId("name-on-box").count()) === 0, "no names for a viewer");
    await shot("11-wall-viewer-blurred");
    const [stream] = await (await page.request.get(`${base}/api/v1/streams`)).json();
    for (const query of ["", "?faces=whole"]) {
      const frame = await (await page.request.get(`${base}/api/v1/streams/${stream.id}/frame${query}`)).json();
      expect(frame.faces_blurred === true, `the frame${query} a viewer gets is the blurred copy`);
    }
    // So does the stream's detail.
    await page.getByRole("navigation").getByRole("link", { name: "Streams" }).click();
    await page.getByRole("button", { name: "Lobby camera", exact: true }).click();
    await page.getByRole("img", { name: "Last analysed frame of Lobby camera" }).waitFor({ timeout: 30_000 });
    await page.getByTestId("faces-blurred").waitFor();
    // On a guard's phone: the wall's tile with its blurred frame and its mark, nothing past the edge.
    await page.setViewportSize(PHONE);
    await page.goto(`${base}/wall`);
    const phoneTile = page.getByRole("article", { name: "Camera Lobby camera" });
    await phoneTile.getByRole("img", { name: "Live view of Lobby camera" }).waitFor({ timeout: 30_000 });
    await onScreen(phoneTile.getByTestId("faces-blurred"), "the faces-blurred mark");
    await fitsWidth(page, "the camera wall of a viewer");
    await shot("phone-wall-viewer-blurred");
  });
} else {
  throw new Error(`unknown mode ${mode} (add, viewer, blur, blurred or change)`);
}
