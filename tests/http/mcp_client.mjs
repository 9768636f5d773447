// mcp_client.mjs — the official MCP TypeScript SDK's client against POST /mcp.
// usage: node mcp_client.mjs URL
// Prints one JSON line per check: {"name", "ok", "detail"}; mcp.sh turns
// them into TAP. A check that throws is a failed check, never a crash.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const url = new URL(process.argv[2]);
const check = (name, ok, detail = "") =>
  console.log(JSON.stringify({ name, ok: Boolean(ok), detail: String(detail).slice(0, 600) }));
const text = (r) => (r.content || []).filter((c) => c.type === "text").map((c) => c.text).join("\n");

async function step(name, fn) {
  try {
    await fn();
  } catch (e) {
    check(name, false, e && e.stack ? e.stack : e);
  }
}

const client = new Client({ name: "coderunner-tests", version: "1.0.0" });
const transport = new StreamableHTTPClientTransport(url);

await step("connects and initializes", async () => {
  await client.connect(transport);
  const info = client.getServerVersion();
  check("connects and initializes", info && info.name === "coderunner",
        JSON.stringify(info) + " protocol " + transport.protocolVersion);
  check("negotiates a protocol revision it speaks",
        ["2025-11-25", "2025-06-18"].includes(transport.protocolVersion), transport.protocolVersion);
});

await step("ping", async () => {
  const r = await client.ping();
  check("ping", r && typeof r === "object", JSON.stringify(r));
});

await step("lists the tools", async () => {
  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name).sort();
  check("lists run_python and execute_main", names.join(",") === "execute_main,run_python", names);
  const run = tools.find((t) => t.name === "run_python");
  check("with an input schema and a description",
        run.inputSchema.type === "object" && run.inputSchema.properties.script &&
        run.inputSchema.properties.timeout_s && run.description.length > 100,
        JSON.stringify(run.inputSchema).slice(0, 200));
});

await step("runs a script", async () => {
  const r = await client.callTool({ name: "run_python", arguments: { script: "print(6 * 7)" } });
  check("run_python runs a script", !r.isError && /exit code 0/.test(text(r)) && /42/.test(text(r)), text(r));
  check("with the whole /api/run answer as structuredContent",
        r.structuredContent && r.structuredContent.exit_code === 0 && r.structuredContent.stdout === "42\n",
        JSON.stringify(r.structuredContent));
});

await step("a chart comes back as an image", async () => {
  const script = "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.savefig('output/chart.png')\n" +
                 "open('output/table.csv', 'w').write('a,b\\n1,2\\n')\n";
  const r = await client.callTool({ name: "run_python", arguments: { script } });
  const img = r.content.find((c) => c.type === "image");
  check("a chart comes back as an image", !r.isError && img && img.mimeType === "image/png" &&
        Buffer.from(img.data, "base64").subarray(1, 4).toString() === "PNG",
        JSON.stringify(r.content.map((c) => [c.type, c.mimeType || (c.resource || {}).mimeType])));
  const res = r.content.find((c) => c.type === "resource");
  check("and another file as an embedded resource, of its type",
        res && res.resource.uri.endsWith("table.csv") && res.resource.text === "a,b\n1,2\n" &&
        res.resource.mimeType === "text/csv", JSON.stringify(res));
});

await step("a file named as an image that is none", async () => {
  const script = "open('output/notes.png', 'w').write('not a picture')\n" +
                 "open('output/noise.gif', 'wb').write(bytes(range(256)))\n" +
                 "import base64\nopen('output/dot.gif', 'wb').write(base64.b64decode(" +
                 "'R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw=='))\n";
  const r = await client.callTool({ name: "run_python", arguments: { script } });
  const kinds = JSON.stringify(r.content.map((c) => [c.type, c.mimeType || (c.resource || {}).mimeType]));
  const images = r.content.filter((c) => c.type === "image");
  check("is not sent as an image, which a client could not show (a real GIF beside them is)", !r.isError &&
        images.length === 1 && images[0].mimeType === "image/gif" &&
        Buffer.from(images[0].data, "base64").subarray(0, 6).toString() === "GIF89a", kinds);
  const notes = r.content.find((c) => c.type === "resource" && c.resource.uri.endsWith("notes.png"));
  const noise = r.content.find((c) => c.type === "resource" && c.resource.uri.endsWith("noise.gif"));
  check("but as a resource, text or blob", notes && notes.resource.text === "not a picture" &&
        noise && noise.resource.mimeType === "application/octet-stream" &&
        Buffer.from(noise.resource.blob, "base64").length === 256, kinds);
});

await step("a script error", async () => {
  const r = await client.callTool({ name: "run_python", arguments: { script: "raise ValueError('boom')" } });
  check("a script that fails is an error result with its traceback", r.isError === true &&
        /exit code 1/.test(text(r)) && /ValueError: boom/.test(text(r)), text(r));
});

await step("a timeout", async () => {
  const r = await client.callTool({ name: "run_python",
                                    arguments: { script: "import time\ntime.sleep(30)", timeout_s: 1 } });
  check("a timeout is an error result that says so", r.isError === true &&
        r.structuredContent.exit_code === 124 && /timeout/.test(text(r)), text(r));
});

await step("bad arguments", async () => {
  const r = await client.callTool({ name: "run_python", arguments: { script: 42 } });
  check("bad arguments are an error result naming the field", r.isError === true &&
        /did not run \(HTTP 400\)/.test(text(r)) && /script/.test(text(r)), text(r));
});

await step("an unknown tool", async () => {
  let err = null;
  try {
    await client.callTool({ name: "rm_rf", arguments: {} });
  } catch (e) {
    err = e;
  }
  check("an unknown tool is a JSON-RPC error", err && err.code === -32602, err && err.message);
});

await step("execute_main", async () => {
  const r = await client.callTool({ name: "execute_main",
                                    arguments: { script: "def main():\n    print('hi')\n    return {'a': [1, 2]}" } });
  check("execute_main returns what main() returned", !r.isError &&
        JSON.stringify(r.structuredContent.result) === '{"a":[1,2]}' && /main\(\) returned/.test(text(r)), text(r));
});

await step("a run longer than the client's request timeout", async () => {
  // The SDK waits 60 s by default; with resetTimeoutOnProgress each
  // progress notification starts the wait again. Here the wait is 6 s and
  // the run 7 s: the notification at 5 s keeps the call alive.
  const seen = [];
  const r = await client.callTool({ name: "run_python",
                                    arguments: { script: "import time\ntime.sleep(7)\nprint('slow')", timeout_s: 30 } },
                                  undefined,
                                  { timeout: 6000, resetTimeoutOnProgress: true, onprogress: (p) => seen.push(p) });
  check("outlives its request timeout, kept alive by progress notifications",
        !r.isError && /slow/.test(text(r)) && seen.length >= 1 && seen[0].progress === 5,
        JSON.stringify(seen) + " " + text(r));
});

await step("without progress, the request timeout holds", async () => {
  let err = null;
  try {
    await client.callTool({ name: "run_python", arguments: { script: "import time\ntime.sleep(7)", timeout_s: 30 } },
                          undefined, { timeout: 6000 });
  } catch (e) {
    err = e;
  }
  check("a client that does not reset its timeout on progress gives up at it (the check above is no accident)",
        err && err.code === -32001, err && err.message);
});

await client.close();
