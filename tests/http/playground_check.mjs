// playground_check.mjs — the playground in headless Chromium (Debian's),
// driven by puppeteer-core: it loads, each example runs, the chart's image
// is shown, errors are shown as errors, nothing leaves the page's origin.
// usage: node playground_check.mjs BASE-URL SCREENSHOT.png UPLOAD-FILE
// Prints one JSON line per check: {"name", "ok", "detail"}.
import puppeteer from "puppeteer-core";

const [base, shot, upload] = process.argv.slice(2);
const check = (name, ok, detail = "") =>
  console.log(JSON.stringify({ name, ok: Boolean(ok), detail: String(detail).slice(0, 600) }));

const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  // As root Chromium needs its own sandbox off; the page is ours.
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run"],
});
const page = await browser.newPage();
await page.setViewport({ width: 1280, height: 900 });
const foreign = [], problems = [];
page.on("request", (r) => { if (!r.url().startsWith(base) && !/^(data|blob):/.test(r.url())) foreign.push(r.url()); });
page.on("pageerror", (e) => problems.push(String(e)));
// Chromium logs every 4xx as a console error; the steps judge the statuses.
page.on("console", (m) => { if (m.type() === "error" && !/^Failed to load resource/.test(m.text())) problems.push(m.text()); });

async function runExample(example, viaKeyboard = false) {
  if (example) await page.select("#example", example);
  if (viaKeyboard) {
    await page.focus("#code");
    await page.keyboard.down("Control");
    await page.keyboard.press("Enter");
    await page.keyboard.up("Control");
  } else {
    await page.click("#run");
  }
  await page.waitForFunction(() => !document.querySelector("#run").disabled &&
    document.querySelector("#status").className !== "running", { timeout: 90000 });
  return page.evaluate(() => ({
    status: document.querySelector("#status").className,
    text: document.querySelector("#status").textContent,
    exit: document.querySelector("#exit").textContent,
    stdout: document.querySelector("#stdout").textContent,
    stderr: document.querySelector("#stderr").textContent,
    value: document.querySelector("#value").textContent,
    links: [...document.querySelectorAll(".artifact a")].map((a) => a.textContent),
  }));
}

async function step(name, fn) {
  try { await fn(); } catch (e) { check(name, false, e && e.stack ? e.stack : e); }
}

await step("the page loads", async () => {
  const r = await page.goto(base + "/playground/", { waitUntil: "networkidle0" });
  check("the page loads", r.ok() && (await page.title()) === "coderunner playground", r.status());
  const csp = r.headers()["content-security-policy"] || "";
  check("under a policy that lets it talk to its own origin only", /connect-src 'self'/.test(csp), csp);
});

// With KEY set, the service wants that API key (playground.sh): only the
// key's steps run.
if (process.env.KEY) {
  await step("an API key", async () => {
    await page.select("#mode", "script");
    await page.$eval("#code", (t) => { t.value = "print(6 * 7)"; });
    let r = await runExample(null);
    check("without the API key, the 401 is shown", r.status === "error" && /error 401/.test(r.text), r.text);
    await page.$eval("#key", (k, v) => { k.value = v; }, process.env.KEY);
    r = await runExample(null);
    check("with it, a key in UTF-8 past Latin-1 runs the script", r.status === "ok" && r.stdout === "42\n",
          JSON.stringify(r));
    await page.$eval("#key", (k, v) => { k.value = v; }, process.env.KEY.slice(0, -1));
    r = await runExample(null);
    check("and a key that is not one is refused with 401", r.status === "error" && /error 401/.test(r.text), r.text);
  });
  check("no script error or policy violation in the page", problems.length === 0, problems.join(" | "));
  await browser.close();
  process.exit(0);
}

await step("the chart example", async () => {
  const r = await runExample("chart");
  const img = await page.$eval(".artifact img", (i) => ({ w: i.naturalWidth, h: i.naturalHeight }));
  check("the chart example runs, and its image is shown", r.status === "ok" && r.exit === "0" &&
        img.w === 600 && img.h === 350, JSON.stringify({ r, img }));
  check("with a link to download it", r.links.includes("download chart.png"), r.links);
  const facts = await page.$eval("#facts", (d) => d.textContent);
  check("and the exit code, time and memory", /exit code\s*0/.test(facts) && /ms in the sandbox/.test(facts) &&
        /MB peak/.test(facts), facts);
  await page.screenshot({ path: shot, fullPage: true });
});

await step("an error", async () => {
  const r = await runExample("error", true);
  check("a failing script, run with Ctrl+Enter, is shown as a failure with its traceback",
        r.status === "failed" && r.exit === "1" && /ZeroDivisionError/.test(r.stderr) &&
        /about to divide/.test(r.stdout), JSON.stringify(r));
});

await step("a refused request", async () => {
  await page.select("#mode", "script");
  await page.$eval("#code", (t) => { t.value = ""; });
  const r = await runExample(null);
  check("a request the service refuses is shown as an error with its reason",
        r.status === "error" && /error 400/.test(r.text) && /script/.test(r.text), r.text);
});

await step("pandas", async () => {
  const r = await runExample("pandas");
  check("the pandas example prints its table and offers its CSV", r.status === "ok" &&
        /Lisbon\s+22\.3/.test(r.stdout) && r.links.includes("download summary.csv"), JSON.stringify(r));
});

await step("main()", async () => {
  const r = await runExample("main");
  check("the main() example shows what main() returned", r.status === "ok" &&
        JSON.parse(r.value).count === 17 && /computing/.test(r.stdout), JSON.stringify(r));
});

await step("main()'s big numbers", async () => {
  await page.select("#mode", "main");
  const off = await page.evaluate(() => [document.querySelector("#timeout").disabled,
                                          document.querySelector("#files").disabled]);
  await page.$eval("#code", (t) => { t.value = "def main():\n    return {'big': 2**64 + 1, 'f': 10**30, 'x': 0.1}"; });
  const r = await runExample(null);
  check("main() mode turns off the timeout and files fields, which /execute does not take",
        off[0] === true && off[1] === true, JSON.stringify(off));
  check("what main() returned keeps every digit of a big integer", r.status === "ok" &&
        r.value.includes("18446744073709551617") && r.value.includes("1000000000000000000000000000000") &&
        r.value.includes("0.1"), r.value);
});

await step("a main() past the timeout", async () => {
  // /execute answers a timeout with 408, which browsers take on a
  // connection they had used before for the server closing it while idle,
  // and send the request again: the script must run once all the same.
  const timeouts = async () => {
    const text = await (await fetch(base + "/metrics")).text();
    return Number((text.match(/^coderunner_runs_total\{outcome="timeout"\} (\d+)$/m) || [])[1]);
  };
  const before = await timeouts();
  await page.select("#mode", "main");
  await page.$eval("#code", (t) => { t.value = "def main():\n    while True:\n        pass\n"; });
  const r = await runExample(null);
  const after = await timeouts();
  check("a main() past the timeout is shown as the 408 it got, and ran once",
        r.status === "error" && /error 408/.test(r.text) && after - before === 1,
        JSON.stringify({ r, before, after }));
});

await step("an attached file", async () => {
  await page.select("#example", "upload");
  const input = await page.$("#files");
  await input.uploadFile(upload);
  await page.waitForFunction(() => /in \.\/input/.test(document.querySelector("#attached").textContent));
  const r = await runExample(null);
  check("an attached file is read by the script from ./input", r.status === "ok" &&
        /data\.csv: 25 bytes, 3 lines/.test(r.stdout), JSON.stringify(r));
});

await step("output past the limit", async () => {
  await page.select("#mode", "script");
  await page.$eval("#code", (t) => { t.value = "print('x' * 2000000)"; });
  const r = await runExample(null);
  const cut = await page.$eval("#stdout-h", (h) => h.textContent);
  await page.$eval("#code", (t) => { t.value = "print(1)"; });
  await runExample(null);
  const whole = await page.$eval("#stdout-h", (h) => h.textContent);
  check("stdout the service cut is shown as cut, and the next run's as whole",
        r.status === "ok" && /^stdout \(truncated/.test(cut) && whole === "stdout", JSON.stringify({ cut, whole }));
});

await step("files named as images, warnings, files left out", async () => {
  await page.select("#mode", "script");
  const off = await page.evaluate(() => document.querySelector("#timeout").disabled);
  await page.$eval("#timeout", (t) => { t.value = "1000"; });
  await page.$eval("#code", (t) => { t.value = [
    "import os",
    "open('output/a.constructor', 'w').write('text')",
    "open('output/notes.png', 'w').write('not a picture')",
    "for i in range(4):",
    "    open(f'output/big{i}.bin', 'wb').write(os.urandom(4 << 20))",
  ].join("\n"); });
  const r = await runExample(null);
  const seen = await page.evaluate(() => ({
    imgs: document.querySelectorAll(".artifact img").length,
    warnings: document.querySelector("#warnings").textContent,
    omitted: document.querySelector("#omitted").textContent,
    omittedShown: !document.querySelector("#omitted").hidden,
  }));
  await page.$eval("#timeout", (t) => { t.value = "30"; });
  check("a script run turns them on again", off === false, off);
  check("a file whose name or bytes are no image's is not shown as one", r.status === "ok" && seen.imgs === 0,
        JSON.stringify(seen));
  check("warnings are shown in the page", /clamped/.test(seen.warnings), seen.warnings);
  check("and the files left out of the answer, by name", seen.omittedShown && /big\d\.bin/.test(seen.omitted),
        seen.omitted);
});

await step("a hostile SVG", async () => {
  // An SVG artifact whose script, if it ever runs, names its origin in the
  // title. Each address the page made of it, opened as a page of its own
  // (pasted into a tab, say), must not run it in the service's origin.
  await page.select("#mode", "script");
  await page.$eval("#code", (t) => { t.value = `open("output/x.svg", "w").write('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>document.title = "ran in " + location.origin</script></svg>')`; });
  const r = await runExample(null);
  const urls = await page.evaluate(() => [document.querySelector(".artifact img").src,
                                          document.querySelector(".artifact a").href]);
  const seen = [];
  for (const url of urls) {
    const tab = await browser.newPage();
    await tab.goto(url, { timeout: 10000 }).catch(() => {});	// a download aborts the navigation
    await new Promise((done) => setTimeout(done, 300));
    seen.push(`${url.slice(0, 30)}: ${await tab.title().catch(() => "")}`);
    await tab.close();
  }
  check("an SVG a script wrote is shown, and opened on its own never runs in the page's origin",
        r.status === "ok" && r.links.includes("download x.svg") && urls.length === 2 &&
        !seen.some((t) => t.includes("ran in " + new URL(base).origin)), JSON.stringify({ r, seen }));
  await page.$eval("#code", (t) => { t.value = "print(1)"; });
  await runExample(null);
  // (The page's policy lets it fetch nothing but its origin: a tab of its
  // own opens the address, which downloads while the bytes are held.)
  const tab = await browser.newPage();
  const old = await tab.goto(urls[1], { timeout: 10000 }).then(() => "opened", (e) => e.message);
  await tab.close();
  check("the next run lets go of the artifacts shown before", /ERR_FILE_NOT_FOUND/.test(old), old);
});

check("no request left the service's origin", foreign.length === 0, foreign.join(" "));
check("no script error or policy violation in the page", problems.length === 0, problems.join(" | "));
await browser.close();
