// receiver.js — a webhook receiver that herald's authors did not write the
// verification of: every request is checked with the official Standard
// Webhooks library (npm `standardwebhooks`), unchanged.
//
//   node receiver.js PORT
//
// Prints "listening PORT" once ready. Control routes (loopback only):
//   POST /__secret  {"path": "/x", "secret": "whsec_..."}  secret for a path
//   GET  /__results                                        what was received
// Any other request is a delivery: 200 when `new Webhook(secret).verify(body,
// headers)` passes, 400 otherwise (also when no secret is set for its path).
"use strict";

const http = require("http");
const { Webhook } = require("standardwebhooks");

const port = parseInt(process.argv[2] || "0", 10);
const secrets = new Map();
const results = [];

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function answer(res, status, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(status, {
    "Content-Type": "application/json",
    "Content-Length": Buffer.byteLength(body),
  });
  res.end(body);
}

async function handle(req, res) {
  const body = await readBody(req);
  const path = req.url.split("?")[0];
  if (path === "/__secret" && req.method === "POST") {
    const c = JSON.parse(body.toString("utf8"));
    secrets.set(c.path, c.secret);
    return answer(res, 200, { ok: true });
  }
  if (path === "/__results" && req.method === "GET") {
    return answer(res, 200, results);
  }
  const result = {
    path,
    method: req.method,
    webhook_id: req.headers["webhook-id"] || null,
    signature: req.headers["webhook-signature"] || null,
    verified: false,
    error: null,
  };
  try {
    const secret = secrets.get(path);
    if (!secret) throw new Error("no secret set for " + path);
    // The library wants the raw body as a string and the headers as a map.
    // It parses a verified body as JSON unless told not to, which a form
    // body (payload=...) is not.
    const form = (req.headers["content-type"] || "").startsWith("application/x-www-form-urlencoded");
    new Webhook(secret).verify(body.toString("utf8"), req.headers, { jsonParse: !form });
    result.verified = true;
  } catch (e) {
    result.error = String(e && e.message ? e.message : e);
  }
  results.push(result);
  answer(res, result.verified ? 200 : 400, { verified: result.verified, error: result.error });
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((e) => answer(res, 500, { error: String(e) }));
});
server.listen(port, "127.0.0.1", () => {
  process.stdout.write("listening " + server.address().port + "\n");
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
