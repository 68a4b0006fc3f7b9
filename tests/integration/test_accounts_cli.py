#!/usr/bin/env python3
"""First start, admin.key, `herald accounts create`, `herald keys create`,
`herald version`, and the admin account/key API (issue 2, item 4)."""

import json
import os
import re
import stat
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Herald, case, check, eq, main  # noqa: E402

H = None


def setup():
    global H
    H = Herald().start()


def teardown():
    H.stop()


def cli_json(*args):
    p = H.cli(*args)
    out = p.stdout.decode()
    try:
        return json.loads(out)
    except ValueError:
        raise AssertionError("herald %s printed no JSON object: %r" % (" ".join(args), out))


@case
def first_start_writes_admin_key_0600_and_prints_it_once():
    path = H.key_path  # beside the SQLite file; ./var/ with PostgreSQL
    mode = stat.S_IMODE(os.stat(path).st_mode)
    eq(oct(mode), oct(0o600), "admin.key mode")
    key = H.admin_key
    check(len(key) >= 16, "admin key looks like a key: %r" % key)
    out = H.stdout(1)
    check(key in out, "first start prints the admin key; stdout was:\n" + out)
    check(path in out or "admin.key" in out, "first start says where the key was saved:\n" + out)
    check("herald listening on %s" % H.url in out, "listening line in:\n" + out)
    check("http://127.0.0.1:%d" % H.port in out, "dashboard URL in:\n" + out)
    # The key works, and is an admin key.
    r = H.admin().get("/v1/accounts")
    eq(r.status, 200, "GET /v1/accounts with the admin key")
    names = [a.get("name") for a in r.json["items"]]
    check("default" in names, "account 'default' exists: %r" % names)


@case
def second_start_keeps_the_key_and_prints_no_new_one():
    path = H.key_path  # beside the SQLite file; ./var/ with PostgreSQL
    before = open(path).read()
    H.restart()
    eq(open(path).read(), before, "admin.key after restart")
    out = H.stdout()
    check(H.admin_key not in out, "second start must not print the key again:\n" + out)
    check(not re.search(r"\bhk_[0-9a-f]{20,}", out), "second start prints no key:\n" + out)
    check("herald listening on %s" % H.url in out, "listening line on every start:\n" + out)
    eq(H.admin().get("/v1/accounts").status, 200, "old admin key after restart")
    names = [a["name"] for a in H.admin().get("/v1/accounts").json["items"]]
    eq(names.count("default"), 1, "one 'default' account after restart")


@case
def herald_admin_key_env_sets_the_first_key():
    given = "hk_" + "ab12" * 10
    h = Herald(env={"HERALD_ADMIN_KEY": given}).start()
    try:
        eq(h.admin_key, given, "admin.key holds HERALD_ADMIN_KEY")
        eq(h.admin().get("/v1/accounts").status, 200, "HERALD_ADMIN_KEY works")
        eq(h.client("hk_" + "cd34" * 10).get("/v1/accounts").status, 401, "another key")
    finally:
        h.stop()


@case
def accounts_create_prints_account_and_working_key():
    j = cli_json("accounts", "create", "acme", "--db", H.db)
    check(set(j) >= {"account_id", "api_key"}, "fields of %r" % j)
    check(j["account_id"].startswith("acct_"), "account id %r" % j["account_id"])
    c = H.client(j["api_key"], j["account_id"])
    r = c.get("/v1/webhooks")
    eq(r.status, 200, "the new key lists webhooks")
    eq(r.json["total"], 0, "a new account has no webhooks")
    # Basic auth as seed 004 does it: account_id:key.
    eq(H.client(j["api_key"], j["account_id"], auth="basic").get("/v1/webhooks").status, 200,
       "Basic account_id:key")
    # An account key is not an admin key.
    eq(c.get("/v1/accounts").status, 403, "account key on /v1/accounts")
    # The admin sees the new account.
    ids = [a["id"] for a in H.admin().list_all("/v1/accounts")]
    check(j["account_id"] in ids, "admin lists the new account")


@case
def keys_create_prints_key_id_and_key():
    acct = cli_json("accounts", "create", "keys-co", "--db", H.db)["account_id"]
    j = cli_json("keys", "create", "--account", acct, "--db", H.db)
    check(set(j) >= {"key_id", "api_key"}, "fields of %r" % j)
    c = H.client(j["api_key"], acct)
    eq(c.get("/v1/webhooks").status, 200, "account key works")
    eq(c.get("/v1/accounts").status, 403, "account key is not admin")
    a = cli_json("keys", "create", "--account", acct, "--admin", "--db", H.db)
    eq(H.client(a["api_key"]).get("/v1/accounts").status, 200, "--admin key is admin")
    # The two keys differ and both work.
    check(a["api_key"] != j["api_key"] and a["key_id"] != j["key_id"], "distinct keys")


@case
def keys_create_for_unknown_account_fails():
    p = H.cli("keys", "create", "--account", "acct_00000000000000000000000000", "--db", H.db,
              check_rc=False)
    check(p.returncode != 0, "exit status for an unknown account: %d" % p.returncode)
    p = H.cli("keys", "create", "--db", H.db, check_rc=False)
    check(p.returncode != 0, "keys create without --account must fail")


@case
def admin_api_creates_accounts_and_revokes_keys():
    admin = H.admin()
    c = admin.create_account("via-api")
    eq(c.get("/v1/webhooks").status, 200, "key made by POST /v1/accounts/{id}/keys")
    r = admin.post("/v1/accounts/%s/keys" % c.account_id, {})
    check(r.status in (200, 201), "second key: %r" % r)
    k2 = H.client(r.json.get("api_key") or r.json.get("key"))
    kid = r.json.get("key_id") or r.json.get("id")
    check(kid, "key_id in the key answer %r" % r.json)
    eq(k2.get("/v1/webhooks").status, 200, "second key works")
    r = admin.delete("/v1/keys/%s" % kid)
    check(r.status in (200, 204), "DELETE /v1/keys/{id}: %r" % r)
    eq(k2.get("/v1/webhooks").status, 401, "revoked key")
    eq(c.get("/v1/webhooks").status, 200, "the account's other key still works")
    # Admin acting on another account with Herald-Account.
    r = admin.post("/v1/webhooks", {"name": "x", "url": "http://127.0.0.1:19999/x",
                                    "events": ["*"]},
                   headers={"Herald-Account": c.account_id})
    eq(r.status, 201, "admin creates in another account (%r)" % r)
    wid = r.json["id"]
    eq(c.get("/v1/webhooks/" + wid).status, 200, "the account sees it")
    eq(admin.get("/v1/webhooks/" + wid).status, 404, "not in the admin's own account")
    r = admin.get("/v1/webhooks", headers={"Herald-Account": c.account_id})
    eq([w["id"] for w in r.json["items"]], [wid], "admin lists the other account's webhooks")


@case
def version_prints_the_version():
    p = H.cli("version")
    out = p.stdout.decode().strip()
    check(re.fullmatch(r"herald \d+\.\d+\.\d+\S*", out), "version output %r" % out)


if __name__ == "__main__":
    main(setup, teardown)
