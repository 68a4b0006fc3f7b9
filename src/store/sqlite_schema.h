/*
 * sqlite_schema.h — the SQLite backend's schema, as versioned migrations.
 *
 * Private to sqlite.c. Migration i (0-based) moves the database from
 * PRAGMA user_version i to i+1; sqlite.c applies the missing ones in one
 * IMMEDIATE transaction at open, so a database is always at a version
 * this list knows. Never edit a migration that has shipped: append one.
 *
 * Conventions: times are INTEGER milliseconds since the epoch, 0 meaning
 * "never"; ids are the caller's prefixed ULID-style text; event payloads
 * are the published bytes, unchanged.
 *
 * deliveries.due_at is the one column the dispatcher's hot paths read: the
 * time from which claim_due may take the row, or NULL when nothing may
 * (succeeded, failed, or its webhook is disabled, "parked"). For a pending
 * row it equals next_attempt_at, for an in-flight one lease_expires_at (an
 * expired lease is reclaimed). A partial index on it keeps claim_due and
 * next_due O(log n + batch) however many finished or parked rows exist, so
 * a disabled webhook's backlog never slows the others.
 */
#ifndef HERALD_STORE_SQLITE_SCHEMA_H
#define HERALD_STORE_SQLITE_SCHEMA_H

static const char *const sqlite_migrations[] = {
    /* 1: the initial schema. */
    "CREATE TABLE accounts ("
    "  id TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL);"

    "CREATE TABLE api_keys ("
    "  id TEXT PRIMARY KEY,"
    "  account_id TEXT NOT NULL REFERENCES accounts(id),"
    "  role TEXT NOT NULL CHECK (role IN ('admin', 'account')),"
    "  hash TEXT NOT NULL UNIQUE,"
    "  prefix TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  revoked_at INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX api_keys_account ON api_keys(account_id);"

    "CREATE TABLE event_types ("
    "  account_id TEXT NOT NULL REFERENCES accounts(id),"
    "  name TEXT NOT NULL,"
    "  description TEXT NOT NULL,"
    "  sample TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  PRIMARY KEY (account_id, name));"

    "CREATE TABLE webhooks ("
    "  id TEXT PRIMARY KEY,"
    "  account_id TEXT NOT NULL REFERENCES accounts(id),"
    "  name TEXT NOT NULL,"
    "  description TEXT NOT NULL DEFAULT '',"
    "  url TEXT NOT NULL,"
    "  method TEXT NOT NULL,"
    "  content_type TEXT NOT NULL,"
    "  events TEXT NOT NULL,"
    "  headers TEXT NOT NULL DEFAULT '{}',"
    "  max_attempts INTEGER NOT NULL,"
    "  rate_limit INTEGER NOT NULL DEFAULT 0,"
    "  max_in_flight INTEGER NOT NULL,"
    "  enabled INTEGER NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  signature_scheme TEXT NOT NULL,"
    "  secret TEXT NOT NULL,"
    "  prev_secret TEXT,"
    "  prev_secret_expires_at INTEGER NOT NULL DEFAULT 0,"
    "  disabled_reason TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  modified_at INTEGER NOT NULL,"
    "  last_execution_at INTEGER NOT NULL DEFAULT 0,"
    "  failing_since INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX webhooks_account ON webhooks(account_id, created_at);"

    /* Events are never deleted, so deliveries and attempts may reference
     * them without a foreign key check on the hot path. */
    "CREATE TABLE events ("
    "  id TEXT PRIMARY KEY,"
    "  account_id TEXT NOT NULL REFERENCES accounts(id),"
    "  type TEXT NOT NULL,"
    "  payload TEXT NOT NULL,"
    "  idempotency_key TEXT,"
    "  created_at INTEGER NOT NULL);"
    "CREATE UNIQUE INDEX events_idempotency ON events(account_id, idempotency_key)"
    "  WHERE idempotency_key IS NOT NULL;"
    "CREATE INDEX events_account ON events(account_id, created_at, id);"

    /* No foreign key to webhooks: deleting a webhook keeps its deliveries
     * (failed) and attempts for the record. */
    "CREATE TABLE deliveries ("
    "  id TEXT PRIMARY KEY,"
    "  event_id TEXT NOT NULL,"
    "  webhook_id TEXT NOT NULL,"
    "  account_id TEXT NOT NULL,"
    "  status TEXT NOT NULL"
    "    CHECK (status IN ('pending', 'in_flight', 'succeeded', 'failed')),"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  max_attempts INTEGER NOT NULL,"
    "  next_attempt_at INTEGER NOT NULL,"
    "  lease_owner TEXT,"
    "  lease_expires_at INTEGER NOT NULL DEFAULT 0,"
    "  due_at INTEGER,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL);"
    "CREATE INDEX deliveries_due ON deliveries(due_at) WHERE due_at IS NOT NULL;"
    "CREATE INDEX deliveries_event ON deliveries(event_id);"
    /* Serves recover (failed, by created_at), delete and (un)parking. */
    "CREATE INDEX deliveries_webhook ON deliveries(webhook_id, status, created_at);"
    /* lease_owner is set only while in flight, so this stays small. */
    "CREATE INDEX deliveries_lease ON deliveries(lease_owner)"
    "  WHERE lease_owner IS NOT NULL;"

    "CREATE TABLE attempts ("
    "  id TEXT PRIMARY KEY,"
    "  delivery_id TEXT NOT NULL,"
    "  event_id TEXT NOT NULL,"
    "  webhook_id TEXT NOT NULL,"
    "  account_id TEXT NOT NULL,"
    "  event_type TEXT NOT NULL,"
    "  n INTEGER NOT NULL,"
    "  started_at INTEGER NOT NULL,"
    "  duration_ms INTEGER NOT NULL,"
    "  response_code INTEGER NOT NULL,"
    "  error TEXT NOT NULL DEFAULT '',"
    "  ok INTEGER NOT NULL,"
    "  response_body BLOB,"
    "  request_headers TEXT);"
    /* The webhook log: newest first, (started_at, id) gives a total order. */
    "CREATE INDEX attempts_webhook ON attempts(webhook_id, started_at, id);"
    "CREATE INDEX attempts_delivery ON attempts(delivery_id);"
    "CREATE INDEX attempts_event ON attempts(event_id);",

    /* 2: an account's attempts by time, for attempt_series (the dashboard's
     * overview) and account-wide logs, without a scan of every account's. */
    "CREATE INDEX attempts_account ON attempts(account_id, started_at, id);",

    /* 3: the backlog by status, so stats (every /metrics scrape) reads four
     * rows instead of counting a million. sqlite.c keeps it: each write
     * transaction adds up how many deliveries it moved between statuses and
     * applies the sums just before COMMIT. (Triggers would be simpler but
     * cost ~35 000 instructions per statement here: any trigger makes SQLite
     * give up one-pass updates for an ephemeral table and a statement
     * journal.) Deliveries are never deleted. */
    "CREATE TABLE delivery_counts ("
    "  status TEXT PRIMARY KEY,"
    "  n INTEGER NOT NULL) WITHOUT ROWID;"
    "INSERT INTO delivery_counts (status, n)"
    "  SELECT s.status, (SELECT COUNT(*) FROM deliveries d WHERE d.status = s.status)"
    "  FROM (SELECT 'pending' AS status UNION ALL SELECT 'in_flight'"
    "        UNION ALL SELECT 'succeeded' UNION ALL SELECT 'failed') s;",

    /* 4: integrations (issue 8): the rows payload format and the header
     * names of signature dialects ("" = the scheme's default). */
    "ALTER TABLE webhooks ADD COLUMN payload_format TEXT NOT NULL DEFAULT 'standard';"
    "ALTER TABLE webhooks ADD COLUMN signature_header TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE webhooks ADD COLUMN timestamp_header TEXT NOT NULL DEFAULT '';",

    /* 5: fewer index writes per delivery. Every delivery is claimed and then
     * recorded, and each index touched on the way costs b-tree writes on the
     * single writer that caps drain speed. Gone: status from the per-webhook
     * index (each status change moved its entry; recover, delete and
     * re-enable now read the webhook's rows by time and filter), the lease
     * index (written on claim, erased on record, read only by release at
     * shutdown, which now walks the due index), and attempts by event (the
     * event page reaches attempts through its deliveries). */
    "DROP INDEX deliveries_webhook;"
    "CREATE INDEX deliveries_webhook ON deliveries(webhook_id, created_at);"
    "DROP INDEX deliveries_lease;"
    "DROP INDEX attempts_event;",

    /* 6: the status CHECK as a chain of equalities. SQLite codes an IN list
     * of more than two constants as an ephemeral index built on every
     * statement that writes the column, and each one costs a temporary
     * b-tree with zeroed 4 KiB pages: about half of the store's
     * instructions per delivery (callgrind). SQLite cannot alter a
     * constraint, so the table is rebuilt with its rowids and indexes. */
    "CREATE TABLE deliveries_v6 ("
    "  id TEXT PRIMARY KEY,"
    "  event_id TEXT NOT NULL,"
    "  webhook_id TEXT NOT NULL,"
    "  account_id TEXT NOT NULL,"
    "  status TEXT NOT NULL"
    "    CHECK (status = 'pending' OR status = 'in_flight'"
    "           OR status = 'succeeded' OR status = 'failed'),"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  max_attempts INTEGER NOT NULL,"
    "  next_attempt_at INTEGER NOT NULL,"
    "  lease_owner TEXT,"
    "  lease_expires_at INTEGER NOT NULL DEFAULT 0,"
    "  due_at INTEGER,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL);"
    "INSERT INTO deliveries_v6 (rowid, id, event_id, webhook_id, account_id, status, attempts,"
    "  max_attempts, next_attempt_at, lease_owner, lease_expires_at, due_at, created_at,"
    "  updated_at)"
    "  SELECT rowid, id, event_id, webhook_id, account_id, status, attempts, max_attempts,"
    "  next_attempt_at, lease_owner, lease_expires_at, due_at, created_at, updated_at"
    "  FROM deliveries ORDER BY rowid;"
    "DROP TABLE deliveries;"
    "ALTER TABLE deliveries_v6 RENAME TO deliveries;"
    "CREATE INDEX deliveries_due ON deliveries(due_at) WHERE due_at IS NOT NULL;"
    "CREATE INDEX deliveries_event ON deliveries(event_id);"
    "CREATE INDEX deliveries_webhook ON deliveries(webhook_id, created_at);",

    /* 7: a version of what ingest's fan-out reads from webhooks (which
     * rows exist; their events, max_attempts, enabled, modified_at),
     * bumped by triggers so that every writer keeps it, this process or
     * another. Ingest keeps each account's parsed subscriptions across
     * transactions while the version holds: reading and parsing them in
     * every group commit took a third of that thread's CPU for an account
     * with 100 webhooks at 2 000 events/s. */
    "CREATE TABLE webhooks_version (n INTEGER NOT NULL);"
    "INSERT INTO webhooks_version (n) VALUES (0);"
    "CREATE TRIGGER webhooks_version_insert AFTER INSERT ON webhooks"
    "  BEGIN UPDATE webhooks_version SET n = n + 1; END;"
    "CREATE TRIGGER webhooks_version_delete AFTER DELETE ON webhooks"
    "  BEGIN UPDATE webhooks_version SET n = n + 1; END;"
    "CREATE TRIGGER webhooks_version_update"
    "  AFTER UPDATE OF account_id, events, max_attempts, enabled, modified_at ON webhooks"
    "  BEGIN UPDATE webhooks_version SET n = n + 1; END;",

    /* 8: smaller b-trees for every attempt and event. Nothing reads an
     * attempt by its id, so its PRIMARY KEY only cost a unique index
     * written on every record: the table is rebuilt without it (same
     * rowids, same ids). The log indexes end at the time and break ties
     * on the rowid, which every index carries anyway, instead of a copy
     * of the 30-byte id: rows of one millisecond list in the order they
     * were written. Per delivery that is one b-tree insert fewer and ~60
     * bytes less to write and to checkpoint (callgrind: record 47.8 k ->
     * 41.9 k instructions per delivery, ingest 31.7 k -> 31.1 k). */
    "CREATE TABLE attempts_v8 ("
    "  id TEXT NOT NULL,"
    "  delivery_id TEXT NOT NULL,"
    "  event_id TEXT NOT NULL,"
    "  webhook_id TEXT NOT NULL,"
    "  account_id TEXT NOT NULL,"
    "  event_type TEXT NOT NULL,"
    "  n INTEGER NOT NULL,"
    "  started_at INTEGER NOT NULL,"
    "  duration_ms INTEGER NOT NULL,"
    "  response_code INTEGER NOT NULL,"
    "  error TEXT NOT NULL DEFAULT '',"
    "  ok INTEGER NOT NULL,"
    "  response_body BLOB,"
    "  request_headers TEXT);"
    "INSERT INTO attempts_v8 (rowid, id, delivery_id, event_id, webhook_id, account_id,"
    "  event_type, n, started_at, duration_ms, response_code, error, ok, response_body,"
    "  request_headers)"
    "  SELECT rowid, id, delivery_id, event_id, webhook_id, account_id, event_type, n,"
    "  started_at, duration_ms, response_code, error, ok, response_body, request_headers"
    "  FROM attempts ORDER BY rowid;"
    "DROP TABLE attempts;"
    "ALTER TABLE attempts_v8 RENAME TO attempts;"
    "CREATE INDEX attempts_webhook ON attempts(webhook_id, started_at);"
    "CREATE INDEX attempts_delivery ON attempts(delivery_id);"
    "CREATE INDEX attempts_account ON attempts(account_id, started_at);"
    "DROP INDEX events_account;"
    "CREATE INDEX events_account ON events(account_id, created_at);",
};

#endif
