// dialects.js — a receiver for herald's signature dialects whose checks are
// written from each vendor's own documentation, with node:crypto only and
// nothing from herald (not even its docs' snippets):
//
//   github           GitHub, "Validating webhook deliveries" (X-Hub-Signature-256)
//   stripe           Stripe, "Verify the events manually" (t=…,v1=… over `${t}.${body}`)
//   hex              seeds 000/002 (Blackspace Node, the scheduler's PHP hash_hmac)
//   timestamped-hex  seed 003 (Feedspace: hash_hmac over $timestamp . '.' . $payload)
//
//   node dialects.js PORT
//
// Prints "listening PORT" once ready. Control routes (loopback only):
//   POST /__config  {"path", "scheme", "secret", "header", "ts_header"}
//   GET  /__results what was received and whether it verified
// Any other request is a delivery: 200 when it verifies, 401 otherwise.
"use strict";

const crypto = require("node:crypto");
const http = require("node:http");

const port = parseInt(process.argv[2] || "0", 10);
const configs = new Map();
const results = [];

// GitHub's documented check: HMAC hex of the raw payload, "sha256=" prefix,
// compared with crypto.timingSafeEqual on equal-length buffers.
function verifyGitHub(secret, headers, payload, c) {
  const sig = headers[(c.header || "X-Hub-Signature-256").toLowerCase()];
  if (!sig) throw new Error("no signature header");
  const signature = crypto.createHmac("sha256", secret).update(payload).digest("hex");
  const trusted = Buffer.from(`sha256=${signature}`, "ascii");
  const untrusted = Buffer.from(sig, "ascii");
  return trusted.length === untrusted.length && crypto.timingSafeEqual(trusted, untrusted);
}

// Stripe's documented manual check: split the header at ",", each item at
// "=", take t and every v1; the signed payload is `${t}.${payload}`; any v1
// may match; reject timestamps outside the tolerance (5 minutes).
function verifyStripe(secret, headers, payload, c) {
  const header = headers[(c.header || "Herald-Signature").toLowerCase()];
  if (!header) throw new Error("no signature header");
  let t = null;
  const v1 = [];
  for (const item of header.split(",")) {
    const i = item.indexOf("=");
    const key = item.slice(0, i);
    const value = item.slice(i + 1);
    if (key === "t") t = value;
    if (key === "v1") v1.push(value);
  }
  if (!t || v1.length === 0) throw new Error("no t or v1 in " + header);
  if (Math.abs(Date.now() / 1000 - Number(t)) > 300) throw new Error("timestamp outside tolerance");
  const expected = crypto.createHmac("sha256", secret).update(`${t}.${payload}`, "utf8").digest("hex");
  return v1.some(
    (s) => s.length === expected.length && crypto.timingSafeEqual(Buffer.from(s), Buffer.from(expected))
  );
}

// Seed 000 (Node) / seed 002 (PHP): the hex HMAC of the payload in a header.
function verifyHex(secret, headers, payload, c) {
  const signature = headers[(c.header || "X-Signature").toLowerCase()];
  if (!signature) throw new Error("no signature header");
  const expectedSignature = crypto.createHmac("sha256", secret).update(payload).digest("hex");
  return (
    signature.length === expectedSignature.length &&
    crypto.timingSafeEqual(Buffer.from(signature), Buffer.from(expectedSignature))
  );
}

// Seed 003 (Feedspace): hash_hmac('sha256', $timestamp . '.' . $payload, $secret).
function verifyTimestampedHex(secret, headers, payload, c) {
  const signature = headers[(c.header || "X-Signature").toLowerCase()];
  const timestamp = headers[(c.ts_header || "X-Timestamp").toLowerCase()];
  if (!signature || !timestamp) throw new Error("no signature or timestamp header");
  const expectedSignature = crypto
    .createHmac("sha256", secret)
    .update(timestamp + "." + payload)
    .digest("hex");
  return (
    signature.length === expectedSignature.length &&
    crypto.timingSafeEqual(Buffer.from(expectedSignature), Buffer.from(signature))
  );
}

const verifiers = {
  github: verifyGitHub,
  stripe: verifyStripe,
  hex: verifyHex,
  "timestamped-hex": verifyTimestampedHex,
};

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
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}

async function handle(req, res) {
  const body = await readBody(req);
  const path = req.url.split("?")[0];
  if (path === "/__config" && req.method === "POST") {
    const c = JSON.parse(body.toString("utf8"));
    configs.set(c.path, c);
    return answer(res, 200, { ok: true });
  }
  if (path === "/__results" && req.method === "GET") return answer(res, 200, results);
  const result = { path, verified: false, error: null, headers: req.headers };
  try {
    const c = configs.get(path);
    if (!c) throw new Error("no config for " + path);
    // The raw body as text, as the vendors' examples take it.
    result.verified = verifiers[c.scheme](c.secret, req.headers, body.toString("utf8"), c);
  } catch (e) {
    result.error = String(e && e.message ? e.message : e);
  }
  results.push(result);
  answer(res, result.verified ? 200 : 401, { verified: result.verified, error: result.error });
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((e) => answer(res, 500, { error: String(e) }));
});
server.listen(port, "127.0.0.1", () => {
  process.stdout.write("listening " + server.address().port + "\n");
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
