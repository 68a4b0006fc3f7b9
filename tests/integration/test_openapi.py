#!/usr/bin/env python3
"""/openapi.json (issue 8, item 6): the document describes every route the
server has, and nothing it lacks (the route table comes from the binary
itself: the hidden `herald routes` prints src/api/router.c's table); every
operation has request and response schemas; and real answers of the
running server validate against those schemas, with a small JSON-Schema
validator written here (Python standard library only).

The validator is stricter than JSON Schema in one way, on purpose: an
object schema that lists properties and says nothing about
additionalProperties must list every member the server sends, so a field
added to the API but not to the document fails this test."""

import json
import os
import re
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Herald, Receiver, case, check, eq, main, wait_for  # noqa: E402

H = None
ADMIN = None
RECV = None
DOC = None

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
DATE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


# --------------------------------------------------------------------------
# a JSON-Schema subset: what the document uses


class Invalid(Exception):
    pass


def resolve(ref):
    check(ref.startswith("#/"), "only local $refs: %r" % ref)
    node = DOC
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        check(isinstance(node, dict) and part in node, "$ref %s resolves" % ref)
        node = node[part]
    return node


def type_ok(t, v):
    return {
        "null": v is None,
        "boolean": isinstance(v, bool),
        "integer": isinstance(v, int) and not isinstance(v, bool),
        "number": isinstance(v, (int, float)) and not isinstance(v, bool),
        "string": isinstance(v, str),
        "array": isinstance(v, list),
        "object": isinstance(v, dict),
    }[t]


def validate(schema, v, path="$", strict=True):
    """Raises Invalid naming the JSON path of the first mismatch. strict:
    objects may only have documented members (allOf branches are checked
    loosely, then the members against all branches' properties at once)."""
    if "$ref" in schema:
        validate(resolve(schema["$ref"]), v, path, strict)
    if schema.get("nullable") and v is None:
        return
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(type_ok(t, v) for t in types):
            raise Invalid("%s: %r is not of type %s" % (path, v, types))
    if "enum" in schema and v not in schema["enum"]:
        raise Invalid("%s: %r not in enum %r" % (path, v, schema["enum"]))
    if "const" in schema and v != schema["const"]:
        raise Invalid("%s: %r is not %r" % (path, v, schema["const"]))
    for sub in schema.get("allOf", []):
        validate(sub, v, path, False)
    if strict and "allOf" in schema and isinstance(v, dict):
        known = known_properties(schema)
        if known is not None:
            for k in v:
                if k not in known:
                    raise Invalid("%s: member %r is not in the document" % (path, k))
    if "anyOf" in schema:
        if not any(passes(s, v, path) for s in schema["anyOf"]):
            raise Invalid("%s: %r matches no anyOf branch" % (path, v))
    if "oneOf" in schema:
        n = sum(passes(s, v, path) for s in schema["oneOf"])
        if n != 1:
            raise Invalid("%s: %r matches %d oneOf branches" % (path, v, n))
    if isinstance(v, str):
        if len(v) < schema.get("minLength", 0) or len(v) > schema.get("maxLength", 1 << 62):
            raise Invalid("%s: length %d out of range" % (path, len(v)))
        if schema.get("format") == "date-time" and not DATE_TIME.match(v):
            raise Invalid("%s: %r is not an RFC 3339 date-time" % (path, v))
    if type_ok("number", v):
        if "minimum" in schema and v < schema["minimum"]:
            raise Invalid("%s: %r < minimum" % (path, v))
        if "maximum" in schema and v > schema["maximum"]:
            raise Invalid("%s: %r > maximum" % (path, v))
    if isinstance(v, list):
        if len(v) < schema.get("minItems", 0) or len(v) > schema.get("maxItems", 1 << 62):
            raise Invalid("%s: %d items out of range" % (path, len(v)))
        if "items" in schema:
            for i, item in enumerate(v):
                validate(schema["items"], item, "%s[%d]" % (path, i))
    if isinstance(v, dict):
        validate_object(schema, v, path, strict)


def known_properties(schema):
    """Members an object schema (with its $ref and allOf parts) lists; None
    when any part allows more (additionalProperties)."""
    if "$ref" in schema:
        return known_properties(resolve(schema["$ref"]))
    if schema.get("additionalProperties") not in (None, False):
        return None
    known = set(schema.get("properties", {}))
    for sub in schema.get("allOf", []):
        k = known_properties(sub)
        if k is None:
            return None
        known |= k
    return known


def validate_object(schema, v, path, strict):
    props = schema.get("properties", {})
    for r in schema.get("required", []):
        if r not in v:
            raise Invalid("%s: required member %r missing" % (path, r))
    extra = schema.get("additionalProperties")
    for k, item in v.items():
        if k in props:
            validate(props[k], item, "%s.%s" % (path, k))
        elif isinstance(extra, dict):
            validate(extra, item, "%s.%s" % (path, k))
        elif extra is False or (strict and extra is None and props and not composite(schema)):
            raise Invalid("%s: member %r is not in the document" % (path, k))


def composite(schema):
    return any(k in schema for k in ("allOf", "anyOf", "oneOf", "$ref"))


def passes(schema, v, path):
    try:
        validate(schema, v, path)
        return True
    except Invalid:
        return False


# --------------------------------------------------------------------------
# the document and the route table


def routes():
    p = subprocess.run([H.bin, "routes"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=30)
    eq(p.returncode, 0, "herald routes exit status")
    out = set()
    for line in p.stdout.decode().splitlines():
        method, pattern = line.split(" ", 1)
        out.add((method.lower(), pattern))
    check(len(out) > 20, "herald routes printed the table: %r" % out)
    return out


def documented():
    return {(m, p) for p, ops in DOC["paths"].items() for m in ops if m in METHODS}


def operation(method, pattern):
    op = DOC["paths"].get(pattern, {}).get(method)
    check(op, "%s %s is documented" % (method.upper(), pattern))
    return op


def response_schema(method, pattern, status):
    op = operation(method, pattern)
    resp = op["responses"].get(str(status))
    check(resp, "%s %s documents status %d (has %s)" % (method.upper(), pattern, status,
                                                        sorted(op["responses"])))
    if "$ref" in resp:
        resp = resolve(resp["$ref"])
    content = resp.get("content", {}).get("application/json")
    check(content and "schema" in content,
          "%s %s %d has an application/json schema" % (method.upper(), pattern, status))
    return content["schema"]


def conforms(r, method, pattern, what=None):
    """Asserts the Response r validates against the document."""
    schema = response_schema(method, pattern, r.status)
    try:
        validate(schema, r.json)
    except Invalid as e:
        raise AssertionError("%s (%s %s %d): %s\nbody: %s" % (
            what or pattern, method.upper(), pattern, r.status, e, r.body[:600]))
    return r.json


def setup():
    global H, ADMIN, RECV, DOC
    RECV = Receiver()
    H = Herald(retry_schedule="0.2").start()
    ADMIN = H.admin()
    r = ADMIN.get("/openapi.json")
    eq(r.status, 200, "GET /openapi.json")
    DOC = r.json
    check(isinstance(DOC, dict), "the document is JSON")


def teardown():
    try:
        H.stop()
    finally:
        RECV.stop()


# --------------------------------------------------------------------------


@case
def document_is_openapi_3_1():
    eq(DOC.get("openapi"), "3.1.0", "openapi version")
    check(DOC["info"].get("title") and DOC["info"].get("version"), "info title and version")
    for name, scheme in DOC["components"]["securitySchemes"].items():
        check(scheme.get("type") in ("http", "apiKey", "oauth2", "openIdConnect",
                                     "mutualTLS"), "security scheme %s" % name)
    # Every $ref anywhere resolves.
    def walk(node):
        if isinstance(node, dict):
            if "$ref" in node:
                resolve(node["$ref"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(DOC)


@case
def an_openapi_validator_accepts_it():
    """openapi-spec-validator, when the machine has it (not a dependency:
    the checks of this file stand on their own)."""
    try:
        from openapi_spec_validator import validate as spec_validate
    except ImportError:
        print("  (openapi-spec-validator not installed: skipped)")
        return
    spec_validate(DOC)


@case
def every_route_is_documented_and_nothing_else():
    have, doc = routes(), documented()
    missing = sorted(have - doc)
    extra = sorted(doc - have)
    eq(missing, [], "routes the server has but /openapi.json lacks")
    eq(extra, [], "operations /openapi.json documents but the server lacks")


@case
def every_operation_has_parameters_and_schemas():
    ids = set()
    for pattern, ops in DOC["paths"].items():
        shared = ops.get("parameters", [])
        for method, op in ops.items():
            if method not in METHODS:
                continue
            where = "%s %s" % (method.upper(), pattern)
            if "operationId" in op:
                check(op["operationId"] not in ids, "%s: operationId unique" % where)
                ids.add(op["operationId"])
            params = [resolve(p["$ref"]) if "$ref" in p else p
                      for p in shared + op.get("parameters", [])]
            in_path = {p["name"] for p in params if p.get("in") == "path"}
            for name in re.findall(r"\{([^}]+)\}", pattern):
                check(name in in_path, "%s: path parameter %s declared" % (where, name))
            for p in params:
                check("schema" in p or "content" in p, "%s: parameter %s has a schema" %
                      (where, p.get("name")))
                if p.get("in") == "path":
                    check(p.get("required") is True, "%s: path parameter required" % where)
            if "requestBody" in op:
                for ct, media in op["requestBody"]["content"].items():
                    check("schema" in media, "%s: request %s has a schema" % (where, ct))
            check(op.get("responses"), "%s: has responses" % where)
            for status, resp in op["responses"].items():
                if "$ref" in resp:
                    resp = resolve(resp["$ref"])
                check("description" in resp, "%s %s: description" % (where, status))
                if status.startswith("2") and status != "204":
                    check(resp.get("content") and all("schema" in m for m in
                                                      resp["content"].values()),
                          "%s %s: a response schema" % (where, status))


@case
def webhook_answers_conform():
    c = ADMIN.create_account("oa-webhooks")
    r = c.post("/v1/webhooks", {"name": "n", "url": RECV.url("/oa"), "events": ["post.*"],
                                "headers": {"X-A": "b"}})
    w = conforms(r, "post", "/v1/webhooks", "create")
    conforms(c.post("/v1/webhooks", {"name": "slack", "url": RECV.url("/oa-slack"),
                                     "events": ["*"], "kind": "slack"}),
             "post", "/v1/webhooks", "create slack")
    conforms(c.post("/v1/webhooks", {"name": "gh", "url": RECV.url("/oa-gh"), "events": ["*"],
                                     "signature_scheme": "timestamped-hex",
                                     "secret": "dialect-secret", "payload_format": "rows",
                                     "signature_header": "X-Sig", "timestamp_header": "X-Ts"}),
             "post", "/v1/webhooks", "create dialect")
    p = "/v1/webhooks/{id}"
    conforms(c.get("/v1/webhooks/" + w["id"]), "get", p)
    conforms(c.get("/v1/webhooks", query={"order": "-created_at"}), "get", "/v1/webhooks")
    conforms(c.patch("/v1/webhooks/" + w["id"], {"max_attempts": 2}), "patch", p)
    conforms(c.post("/v1/webhooks/" + w["id"], {"description": "d"}), "post", p)
    conforms(c.get("/v1/webhooks/%s/secret" % w["id"]), "get", p + "/secret")
    conforms(c.post("/v1/webhooks/%s/secret/rotate" % w["id"], {}), "post", p + "/secret/rotate")
    conforms(c.post("/v1/webhooks/%s/test" % w["id"], {"event_type": "post.published"}),
             "post", p + "/test")
    conforms(c.get("/v1/webhooks/%s/log" % w["id"]), "get", p + "/log")
    conforms(c.post("/v1/webhooks/%s/recover" % w["id"], {"since": "2020-01-01T00:00:00Z"}),
             "post", p + "/recover")
    r = c.delete("/v1/webhooks/" + w["id"])
    eq(r.status, 204, "delete")
    check("204" in operation("delete", p)["responses"], "204 documented")


@case
def event_and_delivery_answers_conform():
    c = ADMIN.create_account("oa-events")
    c.create_webhook(name="n", url=RECV.url("/oa-ev"), events=["post.published"])
    ev = conforms(c.post("/v1/events", {"type": "post.published", "data": {"post_id": "p"}}),
                  "post", "/v1/events")
    dup = c.post("/v1/events", {"type": "post.published", "data": {}},
                 headers={"Idempotency-Key": "k1"})
    conforms(dup, "post", "/v1/events", "first with a key")
    conforms(c.post("/v1/events", {"type": "post.published", "data": {}},
                    headers={"Idempotency-Key": "k1"}), "post", "/v1/events", "duplicate")
    conforms(c.post("/v1/events/batch", {"events": [{"type": "post.published", "data": {}}]}),
             "post", "/v1/events/batch")
    conforms(c.get("/v1/events", query={"type": "post.published"}), "get", "/v1/events")

    def delivered():
        d = c.get("/v1/events/" + ev["id"]).json["deliveries"]
        return d and d[0]["status"] == "succeeded" and d[0]
    dlv = wait_for(delivered, what="delivery succeeded")
    conforms(c.get("/v1/events/" + ev["id"]), "get", "/v1/events/{id}")
    conforms(c.get("/v1/deliveries/" + dlv["id"]), "get", "/v1/deliveries/{id}")
    conforms(c.post("/v1/deliveries/%s/retry" % dlv["id"]), "post", "/v1/deliveries/{id}/retry")


@case
def catalog_account_and_misc_answers_conform():
    c = ADMIN.create_account("oa-misc")
    conforms(c.get("/v1/event-types"), "get", "/v1/event-types")
    conforms(c.get("/v1/event-types/post.published"), "get", "/v1/event-types/{name}")
    conforms(c.post("/v1/event-types", {"name": "invoice.paid", "description": "d",
                                        "sample": {"amount": 1}}), "post", "/v1/event-types")
    conforms(c.get("/v1/me"), "get", "/v1/me")
    a = conforms(ADMIN.post("/v1/accounts", {"name": "oa-acct"}), "post", "/v1/accounts")
    aid = a.get("id") or a.get("account_id")
    conforms(ADMIN.get("/v1/accounts"), "get", "/v1/accounts")
    conforms(ADMIN.get("/v1/accounts/" + aid), "get", "/v1/accounts/{id}")
    k = conforms(ADMIN.post("/v1/accounts/%s/keys" % aid, {}), "post", "/v1/accounts/{id}/keys")
    eq(ADMIN.delete("/v1/keys/" + (k.get("key_id") or k.get("id"))).status, 204, "revoke")
    conforms(ADMIN.get("/healthz"), "get", "/healthz")
    conforms(ADMIN.get("/readyz"), "get", "/readyz")
    conforms(ADMIN.get("/openapi.json"), "get", "/openapi.json")
    m = ADMIN.get("/metrics")
    eq(m.status, 200, "metrics")
    check("text/plain" in operation("get", "/metrics")["responses"]["200"]["content"],
          "metrics documented as text/plain")


@case
def error_answers_conform():
    c = ADMIN.create_account("oa-errors")
    conforms(c.get("/v1/webhooks/wh_01J9Z6Q4S2B3C4D5E6F7G8H9JK"), "get", "/v1/webhooks/{id}",
             "404")
    conforms(c.post("/v1/webhooks", {"name": "n", "url": "ftp://x", "events": ["*"]}),
             "post", "/v1/webhooks", "422")
    conforms(c.request("POST", "/v1/webhooks", raw=b"{nope", content_type="application/json"),
             "post", "/v1/webhooks", "400")
    conforms(H.client().get("/v1/webhooks"), "get", "/v1/webhooks", "401")
    conforms(c.get("/v1/accounts"), "get", "/v1/accounts", "403")
    err = c.get("/v1/events/evt_nope").json["error"]
    check(set(err) <= {"code", "message", "field"} and err["code"], "error shape %r" % err)


@case
def the_validator_can_fail():
    """The checks above mean something only if this validator refuses."""
    w = resolve("#/components/schemas/Webhook")
    for bad in ({"id": 5}, {"enabled": "yes"}, {"created_at": "yesterday"},
                {"undocumented_field": 1}, {"events": "post.published"}):
        check(not passes(w, bad, "$"), "refuses %r" % bad)
    check(passes(w, {"id": "wh_x", "enabled": True, "events": []}, "$"), "accepts a good one")


if __name__ == "__main__":
    main(setup, teardown)
