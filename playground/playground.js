// playground.js — the page's only script: examples, attached files, one
// request per run to the service that served the page, and its answer shown.
"use strict";

const EXAMPLES = {
  pandas: { mode: "script", code:
`import pandas as pd
import numpy as np

df = pd.DataFrame({
    "city": ["Lisbon", "Oslo", "Lima", "Oslo", "Lisbon", "Lima"],
    "temp": [21.5, 8.0, 19.2, 6.5, 23.1, 18.4],
})
summary = df.groupby("city").temp.agg(["mean", "min", "max"]).round(1)
print(summary.to_string())
summary.to_csv("output/summary.csv")
` },
  chart: { mode: "script", code:
`import matplotlib.pyplot as plt
import numpy as np

x = np.linspace(0, 2 * np.pi, 200)
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(x, np.sin(x), label="sin")
ax.plot(x, np.cos(x), label="cos")
ax.set_title("A chart from the sandbox")
ax.legend()
fig.savefig("output/chart.png", dpi=100)
print("saved output/chart.png")
` },
  main: { mode: "main", code:
`def main():
    primes = [n for n in range(2, 60) if all(n % d for d in range(2, int(n ** 0.5) + 1))]
    print("computing…")
    return {"count": len(primes), "primes": primes}
` },
  upload: { mode: "script", code:
`import os

# Attach a file below: it is in ./input when the script runs.
names = sorted(os.listdir("input")) if os.path.isdir("input") else []
if not names:
    print("No file attached: use 'Attach files' and run again.")
for name in names:
    data = open(os.path.join("input", name), "rb").read()
    text = data.decode("utf-8", "replace")
    print(f"{name}: {len(data)} bytes, {text.count(chr(10))} lines")
    print(text[:200])
` },
  error: { mode: "script", code:
`def ratio(a, b):
    return a / b

print("about to divide")
print(ratio(1, 0))
` },
};

const $ = (id) => document.getElementById(id);
let attached = {};	// name -> base64
let downloads = [];	// the object URLs of the artifacts shown, revoked when they go

// cut: the service kept only the start of what the script wrote, which
// would otherwise pass for all of it.
function show(id, text, cut = false) {
  const el = $(id), head = $(id + "-h");
  el.textContent = text;
  head.dataset.title ??= head.textContent;
  head.textContent = cut ? `${head.dataset.title} (truncated: the script wrote more than the service keeps)` :
                           head.dataset.title;
  el.hidden = head.hidden = text === "";
}

function setStatus(kind, text) {
  $("status").className = kind;
  $("status").textContent = text;
}

function clear() {
  for (const id of ["value", "stdout", "stderr", "warnings", "omitted"]) show(id, "");
  $("artifacts").replaceChildren();
  for (const url of downloads) URL.revokeObjectURL(url);
  downloads = [];
  $("artifacts-h").hidden = true;
  $("facts").hidden = true;
}

function bytesOf(artifact) {
  if (typeof artifact === "string") return new TextEncoder().encode(artifact);
  if (artifact.encoding === "base64") return Uint8Array.from(atob(artifact.content), (c) => c.charCodeAt(0));
  return new TextEncoder().encode(artifact.content);
}

// An image is shown as one when its name says so and, but for SVG (text),
// its first bytes do too: a text file named x.png would be a broken image.
const IMAGE_TYPES = new Map([["png", "image/png"], ["jpg", "image/jpeg"], ["jpeg", "image/jpeg"],
                             ["gif", "image/gif"], ["webp", "image/webp"], ["svg", "image/svg+xml"]]);
const MAGIC = { "image/png": [[0, "\x89PNG\r\n\x1a\n"]], "image/jpeg": [[0, "\xff\xd8\xff"]],
                "image/gif": [[0, "GIF8"]], "image/webp": [[0, "RIFF"], [8, "WEBP"]] };

function imageType(name, bytes) {
  const type = IMAGE_TYPES.get(name.split(".").pop().toLowerCase());
  if (!type || type === "image/svg+xml") return type;
  const starts = (at, text) => [...text].every((c, i) => bytes[at + i] === c.charCodeAt(0));
  return MAGIC[type].every(([at, text]) => starts(at, text)) ? type : undefined;
}

// Integers as main() returned them: JSON.parse would make 2**64 + 1 a float
// and print 18446744073709552000. Where the browser gives a number's own
// text to a reviver and can print it back (JSON.rawJSON), an integer past
// what a float holds exactly keeps its text.
function exactly(key, value, context) {
  if (typeof value === "number" && !Number.isSafeInteger(value) && context &&
      /^-?[0-9]+$/.test(context.source ?? "") && JSON.rawJSON)
    return JSON.rawJSON(context.source);
  return value;
}

function base64Of(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

// An artifact is the script's, and hostile: an object URL has this page's
// origin, and an SVG opened from one as a page of its own (its address
// pasted into a tab) would run its scripts in that origin, with no policy.
// So the download is always opaque bytes, and an image is shown from a
// data: URL, which has no origin a script could use.
function showArtifacts(artifacts) {
  const names = Object.keys(artifacts || {});
  $("artifacts-h").hidden = names.length === 0;
  for (const name of names) {
    const bytes = bytesOf(artifacts[name]);
    const type = imageType(name, bytes);
    const url = URL.createObjectURL(new Blob([bytes], { type: "application/octet-stream" }));
    downloads.push(url);
    const box = document.createElement("div");
    box.className = "artifact";
    const link = document.createElement("a");
    link.href = url;
    link.download = name.split("/").pop();
    link.textContent = `download ${name}`;
    box.append(link);
    if (type) {
      const img = document.createElement("img");
      img.src = `data:${type};base64,${base64Of(bytes)}`;
      img.alt = name;
      box.append(img);
    }
    $("artifacts").append(box);
  }
}

// The attached files, read as they are chosen: a run waits for the reading.
let reading = Promise.resolve();

async function run() {
  $("run").disabled = true;
  await reading.catch(() => {});
  const mode = $("mode").value;
  const code = $("code").value;
  const body = mode === "main" ? { script: code } : { script: code, timeout_s: Number($("timeout").value) || 30 };
  if (mode === "script" && Object.keys(attached).length) {
    body.context = {};
    for (const [name, b64] of Object.entries(attached)) body.context[name] = { content: b64, encoding: "base64" };
  }
  const headers = { "Content-Type": "application/json" };
  // A header carries bytes, and the service compares the key's bytes with
  // the file's: sent as its UTF-8, as curl sends a key pasted into a
  // terminal. (fetch refuses a character past U+00FF, and sends those up to
  // it as one byte each.)
  if ($("key").value)
    headers.Authorization = "Bearer " + String.fromCharCode(...new TextEncoder().encode($("key").value));
  clear();
  setStatus("running", "running…");
  const started = performance.now();
  try {
    const r = await fetch(mode === "main" ? "execute" : "api/run",
                          { method: "POST", headers, body: JSON.stringify(body) });
    const text = await r.text();
    let j;
    try { j = JSON.parse(text, exactly); } catch { j = { error: text || r.statusText }; }
    const wall = Math.round(performance.now() - started);
    if (mode === "main") {
      if (r.ok) {
        setStatus("ok", `main() returned (${wall} ms)`);
        show("value", JSON.stringify(j.result, null, 2));
      } else {
        setStatus("error", `error ${r.status}: ${j.error || j.detail || text}`);
      }
      show("stdout", j.stdout || "");
      return;
    }
    if (!r.ok) {
      setStatus("error", `error ${r.status}: ${j.error || text}`);
      return;
    }
    setStatus(j.exit_code === 0 ? "ok" : "failed",
              j.exit_code === 0 ? `finished (${wall} ms)` : `failed: exit code ${j.exit_code}`);
    $("exit").textContent = j.exit_code;
    $("time").textContent = `${j.duration_ms} ms in the sandbox, ${wall} ms in all`;
    $("memory").textContent = `${j.memory_peak_mb} MB peak`;
    $("facts").hidden = false;
    show("stdout", j.stdout, j.stdout_truncated);
    show("stderr", j.stderr, j.stderr_truncated);
    showArtifacts(j.artifacts);
    const omitted = j.artifacts_omitted || [];
    show("omitted", omitted.join("\n") +
         (j.artifacts_omitted_unnamed ? `\nand ${j.artifacts_omitted_unnamed} more` : ""));
    show("warnings", (j.warnings || []).join("\n"));
  } catch (e) {
    setStatus("error", `the service could not be reached: ${e.message}`);
  } finally {
    $("run").disabled = false;
  }
}

$("example").addEventListener("change", () => {
  const ex = EXAMPLES[$("example").value];
  if (!ex) return;
  $("code").value = ex.code;
  $("mode").value = ex.mode;
  modeChanged();
});

$("files").addEventListener("change", () => {
  reading = (async () => {
    attached = {};
    for (const f of $("files").files) attached[f.name] = base64Of(new Uint8Array(await f.arrayBuffer()));
    const names = Object.keys(attached);
    $("attached").textContent = names.length ? `in ./input: ${names.join(", ")}` : "";
  })();
});

// main() takes neither a timeout (the service's execute_timeout_s) nor
// files: their fields are off while it is chosen, not silently ignored.
function modeChanged() {
  const main = $("mode").value === "main";
  for (const id of ["timeout", "files"]) {
    $(id).disabled = main;
    $(id).title = main ? "POST /execute takes only the script: main() runs with the service's own time limit" : "";
  }
}
$("mode").addEventListener("change", modeChanged);
modeChanged();

$("run").addEventListener("click", run);
document.addEventListener("keydown", (e) => {
  if ((e.ctrlKey || e.metaKey) && e.key === "Enter") {
    e.preventDefault();
    if (!$("run").disabled) run();
  }
});
$("code").addEventListener("keydown", (e) => {	// a tab inserts four spaces
  if (e.key !== "Tab" || e.shiftKey) return;
  e.preventDefault();
  const t = e.target, s = t.selectionStart;
  t.setRangeText("    ", s, t.selectionEnd, "end");
});
