// openapi_check.mjs — validate GET /openapi.json as OpenAPI 3.1, and the
// README's examples, sent and answered, against it.
// usage: node openapi_check.mjs DOC.json EXAMPLES.json
// Prints one JSON line per check: {"name", "ok", "detail"}.
import { readFileSync } from "node:fs";
import { Validator } from "@seriousme/openapi-schema-validator";
import Ajv2020 from "ajv/dist/2020.js";

const check = (name, ok, detail = "") =>
  console.log(JSON.stringify({ name, ok: Boolean(ok), detail: String(detail).slice(0, 800) }));
const doc = JSON.parse(readFileSync(process.argv[2], "utf8"));
const examples = JSON.parse(readFileSync(process.argv[3], "utf8"));

const validator = new Validator();
const res = await validator.validate(structuredClone(doc));
check("the document is valid OpenAPI " + doc.openapi, res.valid && validator.version === "3.1",
      JSON.stringify(res.errors));

const ajv = new Ajv2020({ strict: false, allErrors: true });
ajv.addSchema(doc, "openapi");
const esc = (s) => s.replace(/~/g, "~0").replace(/\//g, "~1");
const resolve = (obj, pointer) => {	// follows one $ref of a response object
  if (obj && obj.$ref) {
    pointer = obj.$ref.slice(1);
    obj = pointer.split("/").slice(1).reduce((o, k) => o[k.replace(/~1/g, "/").replace(/~0/g, "~")], doc);
  }
  return [obj, pointer];
};
const valid = (pointer, value) => {
  const v = ajv.getSchema("openapi#" + pointer) || ajv.compile({ $ref: "openapi#" + pointer });
  return v(value) ? "" : ajv.errorsText(v.errors);
};

for (const ex of examples) {
  const name = `${ex.method} ${ex.path} (README line ${ex.line})`;
  const op = (doc.paths[ex.path] || {})[ex.method.toLowerCase()];
  if (!op) {
    check(`${name}: the document has the operation`, false);
    continue;
  }
  const base = `/paths/${esc(ex.path)}/${ex.method.toLowerCase()}`;
  if (ex.body !== null) {
    const type = (ex.content_type || "application/json").split(";")[0];
    const media = op.requestBody && op.requestBody.content[type];
    let why = media ? "" : `no request body of type ${type}`;
    if (media) {
      let body = ex.body;
      if (type === "application/json") {
        try { body = JSON.parse(ex.body); } catch (e) { why = "not JSON: " + e; }
      }
      why = why || valid(`${base}/requestBody/content/${esc(type)}/schema`, body);
    }
    // An example may show a refusal: then the document must refuse it too.
    if (why && ex.status >= 400 && ex.status < 500)
      check(`${name}: a request the document refuses (${why}) is refused (${ex.status})`, true);
    else
      check(`${name}: the request is one the document describes`, !why, why);
  }
  const [response, pointer] = resolve(op.responses[String(ex.status)],
                                      `${base}/responses/${ex.status}`);
  if (!response) {
    check(`${name}: answered ${ex.status}, which the document lists`, false, ex.response.slice(0, 300));
    continue;
  }
  const type = (ex.response_type || "").split(";")[0];
  const media = response.content && response.content[type];
  let why = media ? "" : `no response content of type ${type} for ${ex.status}`;
  if (media) {
    let body = ex.response;
    if (type === "application/json") {
      try { body = JSON.parse(ex.response); } catch (e) { why = "not JSON: " + e; }
    }
    why = why || valid(`${pointer}/content/${esc(type)}/schema`, body);
  }
  check(`${name}: answered ${ex.status} as the document says`, !why, why + " " + ex.response.slice(0, 200));
}
