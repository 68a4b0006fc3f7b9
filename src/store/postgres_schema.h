/*
 * postgres_schema.h — the PostgreSQL backend's schema, as versioned
 * migrations.
 *
 * Private to postgres.c. Migration i (0-based) moves the database from
 * schema_version i to i+1. postgres.c applies the missing ones at open,
 * each in its own transaction, while holding a session advisory lock
 * (PG_MIGRATION_LOCK), so two nodes starting at once on an empty database
 * cannot both create the tables: the second waits, then finds the version
 * current. Never edit a migration that has shipped: append one.
 *
 * The tables mirror the SQLite backend's (sqlite_schema.h) column for
 * column, so both backends answer alike:
 *  - times are BIGINT milliseconds since the epoch, 0 meaning "never";
 *  - ids and the names lists are ordered by carry COLLATE "C", so ordering
 *    is bytewise whatever the database's default collation is, as in
 *    SQLite (and lower() on them folds ASCII only, as NOCASE does);
 *  - event payloads, idempotency keys and response bodies are BYTEA: the
 *    bytes as received, never re-encoded, never checked as UTF-8 (a header
 *    value or a receiver's answer may be any bytes, and one bad key must
 *    not fail a whole group commit);
 *  - deliveries.due_at is NULL unless claim_due may take the row (see
 *    sqlite_schema.h): pending rows carry next_attempt_at, in-flight rows
 *    their lease expiry, and deliveries of disabled webhooks are parked
 *    (NULL). The partial index deliveries_due is what claim_due walks, so
 *    finished and parked rows never slow it down.
 */
#ifndef HERALD_STORE_POSTGRES_SCHEMA_H
#define HERALD_STORE_POSTGRES_SCHEMA_H

/* pg_advisory_lock key serialising migrations across nodes ("herald" in
 * ASCII, as a 48-bit number). */
#define PG_MIGRATION_LOCK "114784919972964"

static const char *const pg_migrations[] = {
    /* 1: the initial schema. */
    "CREATE TABLE accounts ("
    "  id TEXT COLLATE \"C\" PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  created_at BIGINT NOT NULL);"

    "CREATE TABLE api_keys ("
    "  id TEXT COLLATE \"C\" PRIMARY KEY,"
    "  account_id TEXT COLLATE \"C\" NOT NULL REFERENCES accounts(id),"
    "  role TEXT NOT NULL CHECK (role IN ('admin', 'account')),"
    "  hash TEXT COLLATE \"C\" NOT NULL UNIQUE,"
    "  prefix TEXT NOT NULL,"
    "  created_at BIGINT NOT NULL,"
    "  revoked_at BIGINT NOT NULL DEFAULT 0);"
    "CREATE INDEX api_keys_account ON api_keys(account_id);"

    "CREATE TABLE event_types ("
    "  account_id TEXT COLLATE \"C\" NOT NULL REFERENCES accounts(id),"
    "  name TEXT COLLATE \"C\" NOT NULL,"
    "  description TEXT NOT NULL,"
    "  sample TEXT NOT NULL,"
    "  created_at BIGINT NOT NULL,"
    "  PRIMARY KEY (account_id, name));"

    "CREATE TABLE webhooks ("
    "  id TEXT COLLATE \"C\" PRIMARY KEY,"
    "  account_id TEXT COLLATE \"C\" NOT NULL REFERENCES accounts(id),"
    "  name TEXT COLLATE \"C\" NOT NULL,"
    "  description TEXT COLLATE \"C\" NOT NULL DEFAULT '',"
    "  url TEXT NOT NULL,"
    "  method TEXT NOT NULL,"
    "  content_type TEXT NOT NULL,"
    "  events TEXT NOT NULL,"
    "  headers TEXT NOT NULL DEFAULT '{}',"
    "  max_attempts INTEGER NOT NULL,"
    "  rate_limit INTEGER NOT NULL DEFAULT 0,"
    "  max_in_flight INTEGER NOT NULL,"
    "  enabled BOOLEAN NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  signature_scheme TEXT NOT NULL,"
    "  secret TEXT NOT NULL,"
    "  prev_secret TEXT,"
    "  prev_secret_expires_at BIGINT NOT NULL DEFAULT 0,"
    "  disabled_reason TEXT,"
    "  created_at BIGINT NOT NULL,"
    "  modified_at BIGINT NOT NULL,"
    "  last_execution_at BIGINT NOT NULL DEFAULT 0,"
    "  failing_since BIGINT NOT NULL DEFAULT 0);"
    "CREATE INDEX webhooks_account ON webhooks(account_id, created_at, id);"

    /* Events are never deleted, so deliveries and attempts reference them
     * without a foreign key check on the hot path. */
    "CREATE TABLE events ("
    "  id TEXT COLLATE \"C\" PRIMARY KEY,"
    "  account_id TEXT COLLATE \"C\" NOT NULL REFERENCES accounts(id),"
    "  type TEXT COLLATE \"C\" NOT NULL,"
    "  payload BYTEA NOT NULL,"
    "  idempotency_key BYTEA,"
    "  created_at BIGINT NOT NULL);"
    "CREATE UNIQUE INDEX events_idempotency ON events(account_id, idempotency_key)"
    "  WHERE idempotency_key IS NOT NULL;"
    "CREATE INDEX events_account ON events(account_id, created_at, id);"

    /* No foreign key to webhooks: deleting a webhook keeps its deliveries
     * (failed) and attempts for the record. */
    "CREATE TABLE deliveries ("
    "  id TEXT COLLATE \"C\" PRIMARY KEY,"
    "  event_id TEXT COLLATE \"C\" NOT NULL,"
    "  webhook_id TEXT COLLATE \"C\" NOT NULL,"
    "  account_id TEXT COLLATE \"C\" NOT NULL,"
    "  status TEXT NOT NULL"
    "    CHECK (status IN ('pending', 'in_flight', 'succeeded', 'failed')),"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  max_attempts INTEGER NOT NULL,"
    "  next_attempt_at BIGINT NOT NULL,"
    "  lease_owner TEXT,"
    "  lease_expires_at BIGINT NOT NULL DEFAULT 0,"
    "  due_at BIGINT,"
    "  created_at BIGINT NOT NULL,"
    "  updated_at BIGINT NOT NULL);"
    "CREATE INDEX deliveries_due ON deliveries(due_at) WHERE due_at IS NOT NULL;"
    "CREATE INDEX deliveries_event ON deliveries(event_id);"
    /* A webhook's unfinished deliveries, for delete and (un)parking, and its
     * failed ones by creation, for recover. Partial, unlike SQLite's one
     * (webhook_id, status, created_at) index: a delivery that succeeds,
     * which is most of them, then leaves no entry in either, so the hot
     * updates write fewer index entries and both stay small. */
    "CREATE INDEX deliveries_webhook_active ON deliveries(webhook_id)"
    "  WHERE status IN ('pending', 'in_flight');"
    "CREATE INDEX deliveries_webhook_failed ON deliveries(webhook_id, created_at)"
    "  WHERE status = 'failed';"
    /* lease_owner is set only while in flight, so this stays small. */
    "CREATE INDEX deliveries_lease ON deliveries(lease_owner)"
    "  WHERE lease_owner IS NOT NULL;"

    "CREATE TABLE attempts ("
    "  id TEXT COLLATE \"C\" PRIMARY KEY,"
    "  delivery_id TEXT COLLATE \"C\" NOT NULL,"
    "  event_id TEXT COLLATE \"C\" NOT NULL,"
    "  webhook_id TEXT COLLATE \"C\" NOT NULL,"
    "  account_id TEXT COLLATE \"C\" NOT NULL,"
    "  event_type TEXT COLLATE \"C\" NOT NULL,"
    "  n INTEGER NOT NULL,"
    "  started_at BIGINT NOT NULL,"
    "  duration_ms BIGINT NOT NULL,"
    "  response_code INTEGER NOT NULL,"
    "  error TEXT NOT NULL DEFAULT '',"
    "  ok BOOLEAN NOT NULL,"
    "  response_body BYTEA,"
    "  request_headers TEXT);"
    /* The webhook log: newest first, (started_at, id) gives a total order. */
    "CREATE INDEX attempts_webhook ON attempts(webhook_id, started_at, id);"
    "CREATE INDEX attempts_delivery ON attempts(delivery_id);"
    "CREATE INDEX attempts_event ON attempts(event_id);"
    /* An account's attempts by time: attempt_series (the dashboard's
     * overview) and account-wide logs. */
    "CREATE INDEX attempts_account ON attempts(account_id, started_at, id);",

    /* 2: integrations (issue 8): the rows payload format and the header
     * names of signature dialects ("" = the scheme's default). */
    "ALTER TABLE webhooks ADD COLUMN payload_format TEXT NOT NULL DEFAULT 'standard',"
    "  ADD COLUMN signature_header TEXT NOT NULL DEFAULT '',"
    "  ADD COLUMN timestamp_header TEXT NOT NULL DEFAULT '';",

    /* 3: the figures of stats (every /metrics scrape), so a scrape reads a
     * few hundred rows instead of counting three tables, which PostgreSQL
     * did with parallel workers over every row. name is a delivery status,
     * 'events' or 'attempts'; the figure is the sum of n over the slots.
     * postgres.c keeps it: each write transaction adds up what it changed
     * and applies the sums in one upsert, its last statement, to the slot
     * of its connection, so concurrent writers (of this node or others)
     * seldom update the same row. Seeded here from the tables, with
     * writers held off (SHARE) so the seed is exact when it commits. */
    "LOCK TABLE deliveries, events, attempts IN SHARE MODE;"
    "DROP TABLE IF EXISTS counts;" /* left by a downgrade that reset the version */
    "CREATE TABLE counts ("
    "  slot INTEGER NOT NULL,"
    "  name TEXT COLLATE \"C\" NOT NULL,"
    "  n BIGINT NOT NULL,"
    "  PRIMARY KEY (slot, name));"
    "INSERT INTO counts (slot, name, n)"
    "  SELECT 0, status, COUNT(*) FROM deliveries GROUP BY status"
    "  UNION ALL SELECT 0, 'events', COUNT(*) FROM events"
    "  UNION ALL SELECT 0, 'attempts', COUNT(*) FROM attempts;",
};

#endif
