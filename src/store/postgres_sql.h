/*
 * postgres_sql.h — every SQL statement of the PostgreSQL backend, in one
 * table.
 *
 * Private to postgres.c (and test_store_pg.c, which checks the plans of
 * the hot ones). PG_STATEMENTS(X) expands X(NAME, "sql") once per
 * statement; postgres.c turns it into an enum (PS_NAME) and prepares every
 * statement (PQprepare, named after the enum) once per pooled connection
 * when it connects, so a typo fails the open rather than a request.
 *
 * Results are read in binary format, parameters go as text except bytes
 * and arrays, which go in binary (postgres_conn.h). Every parameter's
 * type is spelled out with a cast, so a generic plan never guesses.
 *
 * Batches travel as parallel arrays unnested server-side ("… FROM
 * unnest($1::text[], $2::bigint[]) AS x(id, at)"), so ingest and record
 * cost a fixed number of round trips however many rows they write.
 *
 * Semantics follow sqlite_sql.h statement for statement; where a set-based
 * statement replaces a per-row loop there, postgres.c says how the result
 * stays the same.
 */
#ifndef HERALD_STORE_POSTGRES_SQL_H
#define HERALD_STORE_POSTGRES_SQL_H

#define PG_KEY_COLS "id, account_id, role, hash, prefix, created_at, revoked_at"

/* 26 columns, in the order params_webhook() and read_webhook() use. */
#define PG_WH_COLS                                                                                 \
    "id, account_id, name, description, url, method, content_type, events, headers,"               \
    " max_attempts, rate_limit, max_in_flight, enabled, kind, signature_scheme, secret,"           \
    " prev_secret, prev_secret_expires_at, disabled_reason, created_at, modified_at,"              \
    " last_execution_at, failing_since, payload_format, signature_header, timestamp_header"

#define PG_EVT_COLS "id, account_id, type, payload, idempotency_key, created_at"

#define PG_DLV_COLS                                                                                \
    "id, event_id, webhook_id, account_id, status, attempts, max_attempts, next_attempt_at,"       \
    " created_at, updated_at"

/* Inside an UPDATE of deliveries: true when the row's webhook exists and is
 * enabled; otherwise a delivery that becomes due is parked (due_at NULL). */
#define PG_DLV_WEBHOOK_ENABLED                                                                     \
    "COALESCE((SELECT w.enabled FROM webhooks w WHERE w.id = deliveries.webhook_id), false)"

/* Makes a delivery pending and due at $2 (now), dropping any lease. */
#define PG_DLV_REQUEUE_SET                                                                         \
    "UPDATE deliveries SET status = 'pending', next_attempt_at = $2::bigint,"                      \
    " due_at = CASE WHEN " PG_DLV_WEBHOOK_ENABLED " THEN $2::bigint ELSE NULL END,"                \
    " lease_owner = NULL, lease_expires_at = 0, updated_at = $2::bigint "

/* $1 account, $2 name substring (NULL: any), $3 enabled (-1 any). */
#define PG_WH_LIST(order)                                                                          \
    "SELECT " PG_WH_COLS " FROM webhooks WHERE account_id = $1::text"                              \
    " AND ($2::text IS NULL OR strpos(lower(name), lower($2::text)) > 0)"                          \
    " AND ($3::int < 0 OR enabled = ($3::int = 1)) ORDER BY " order

#define PG_ATT_COLS                                                                                \
    "a.id, a.delivery_id, a.event_id, a.webhook_id, a.event_type, a.n, a.started_at,"              \
    " a.duration_ms, a.response_code, a.error, a.response_body, a.request_headers,"                \
    " e.payload, e.created_at"

/* $1 webhook, $2 delivery, $3 event, $4 status (0 any, 1 ok, 2 failed),
 * $5 event type, $6 since, $7 until, $8 account, $9 limit, $10 offset. */
#define PG_ATT_FILTER                                                                              \
    " AND a.account_id = $8::text"                                                                 \
    " AND ($1::text IS NULL OR a.webhook_id = $1::text)"                                           \
    " AND ($2::text IS NULL OR a.delivery_id = $2::text)"                                          \
    " AND ($3::text IS NULL OR a.event_id = $3::text)"                                             \
    " AND ($4::int = 0 OR a.ok = ($4::int = 1))"                                                   \
    " AND ($5::text IS NULL OR a.event_type = $5::text)"                                           \
    " AND ($6::bigint = 0 OR a.started_at >= $6::bigint)"                                          \
    " AND ($7::bigint = 0 OR a.started_at < $7::bigint)"

/* The leading equality picks the index; a generic plan cannot use the
 * "($N IS NULL OR …)" terms for that. */
#define PG_ATT_LIST(lead)                                                                          \
    "SELECT " PG_ATT_COLS                                                                          \
    " FROM attempts a LEFT JOIN events e ON e.id = a.event_id WHERE " lead PG_ATT_FILTER           \
    " ORDER BY a.started_at DESC, a.id DESC LIMIT $9::bigint OFFSET $10::bigint"
/* The count statements take the same ten parameters (the last two unused
 * but typed), so one parameter builder serves both. */
#define PG_ATT_COUNT(lead)                                                                         \
    "SELECT COUNT(*) FROM attempts a WHERE " lead PG_ATT_FILTER                                    \
    " AND $9::bigint IS NOT NULL AND $10::bigint IS NOT NULL"

#define PG_EVT_FILTER                                                                              \
    " WHERE account_id = $1::text AND ($2::text IS NULL OR type = $2::text)"                       \
    " AND ($3::bigint = 0 OR created_at >= $3::bigint)"                                            \
    " AND ($4::bigint = 0 OR created_at < $4::bigint)"

/* Adds deltas to the counts table (postgres_schema.h, migration 3) from
 * the rows "SELECT slot, cols FROM from" yields, one per (name, n) in
 * name order: every writer takes its count rows in the same order, so two
 * never deadlock on them. */
#define PG_COUNTS_ADD(slot, cols, from)                                                            \
    "INSERT INTO counts (slot, name, n) SELECT " slot ", " cols " FROM " from                      \
    " ON CONFLICT (slot, name) DO UPDATE SET n = counts.n + EXCLUDED.n"

/* Inside DLV_CLAIM: the leased rows that were pending move to in_flight
 * in the counts of slot $5 (an expired lease was in_flight already). */
#define PG_CLAIM_COUNTS                                                                            \
    PG_COUNTS_ADD("$5::int", "x.name, x.n",                                                        \
                  "(SELECT COUNT(*) AS k FROM leased WHERE old = 'pending') m,"                    \
                  " LATERAL (VALUES ('in_flight', m.k), ('pending', -m.k)) AS x(name, n)"          \
                  " WHERE m.k > 0")

#define PG_STATEMENTS(X)                                                                           \
    X(PING, "SELECT 1")                                                                            \
    X(NOTIFY, "SELECT pg_notify('herald_due', '')")                                                \
                                                                                                   \
    X(ACCOUNT_INSERT, "INSERT INTO accounts (id, name, created_at)"                                \
                      " VALUES ($1::text, $2::text, $3::bigint)")                                  \
    X(ACCOUNT_GET, "SELECT id, name, created_at FROM accounts WHERE id = $1::text")                \
    X(ACCOUNT_LIST, "SELECT id, name, created_at FROM accounts ORDER BY created_at, id"            \
                    " LIMIT $1::bigint OFFSET $2::bigint")                                         \
    X(ACCOUNT_COUNT, "SELECT COUNT(*) FROM accounts")                                              \
                                                                                                   \
    X(KEY_INSERT, "INSERT INTO api_keys (" PG_KEY_COLS ") VALUES ($1::text, $2::text, $3::text,"   \
                  " $4::text, $5::text, $6::bigint, $7::bigint)")                                  \
    X(KEY_FIND, "SELECT " PG_KEY_COLS " FROM api_keys WHERE hash = $1::text")                      \
    X(KEY_GET, "SELECT " PG_KEY_COLS " FROM api_keys WHERE id = $1::text")                         \
    X(KEY_REVOKE, "UPDATE api_keys SET revoked_at = $2::bigint"                                    \
                  " WHERE id = $1::text AND revoked_at = 0")                                       \
                                                                                                   \
    X(ETYPE_INSERT, "INSERT INTO event_types (account_id, name, description, sample, created_at)"  \
                    " VALUES ($1::text, $2::text, $3::text, $4::text, $5::bigint)")                \
    X(ETYPE_GET, "SELECT account_id, name, description, sample, created_at FROM event_types"       \
                 " WHERE account_id = $1::text AND name = $2::text")                               \
    X(ETYPE_LIST, "SELECT account_id, name, description, sample, created_at FROM event_types"      \
                  " WHERE account_id = $1::text ORDER BY name")                                    \
                                                                                                   \
    X(WH_INSERT, "INSERT INTO webhooks (" PG_WH_COLS ") VALUES ($1::text, $2::text, $3::text,"     \
                 " $4::text, $5::text, $6::text, $7::text, $8::text, $9::text, $10::int,"          \
                 " $11::int, $12::int, $13::boolean, $14::text, $15::text, $16::text, $17::text,"  \
                 " $18::bigint, $19::text, $20::bigint, $21::bigint, $22::bigint, $23::bigint,"    \
                 " $24::text, $25::text, $26::text)")                                              \
    X(WH_GET, "SELECT " PG_WH_COLS " FROM webhooks WHERE id = $1::text AND account_id = $2::text") \
    X(WH_GET_ANY, "SELECT " PG_WH_COLS " FROM webhooks WHERE id = $1::text")                       \
    /* Locks the row: an update and a concurrent delete or update of the                           \
     * same webhook then (un)park its deliveries in a consistent order. */                         \
    X(WH_ENABLED, "SELECT enabled FROM webhooks WHERE id = $1::text AND account_id = $2::text"     \
                  " FOR NO KEY UPDATE")                                                            \
    /* Scope checks usable in read-only transactions. */                                           \
    X(WH_OWNED, "SELECT 1 FROM webhooks WHERE id = $1::text AND account_id = $2::text")            \
    /* The test-send targets of an ingest batch. */                                                \
    X(WH_TARGETS, "SELECT id, account_id, max_attempts, enabled FROM webhooks"                     \
                  " WHERE id = ANY($1::text[])")                                                   \
    /* Re-enabling clears failing_since (or the 5-day rule would disable                           \
     * the webhook again on its first failure); last_execution_at and                              \
     * failing_since otherwise belong to record(). It takes all 26                                 \
     * parameters of params_webhook(); $20, $22 and $23 are only typed. */                         \
    X(WH_UPDATE, "UPDATE webhooks SET name = $3::text, description = $4::text, url = $5::text,"    \
                 " method = $6::text, content_type = $7::text, events = $8::text,"                 \
                 " headers = $9::text, max_attempts = $10::int, rate_limit = $11::int,"            \
                 " max_in_flight = $12::int, enabled = $13::boolean, kind = $14::text,"            \
                 " signature_scheme = $15::text, secret = $16::text, prev_secret = $17::text,"     \
                 " prev_secret_expires_at = $18::bigint, disabled_reason = $19::text,"             \
                 " modified_at = $21::bigint, payload_format = $24::text,"                         \
                 " signature_header = $25::text, timestamp_header = $26::text,"                    \
                 " failing_since = CASE WHEN NOT enabled AND $13::boolean THEN 0"                  \
                 " ELSE failing_since END"                                                         \
                 " WHERE id = $1::text AND account_id = $2::text"                                  \
                 " AND $20::bigint IS NOT NULL AND $22::bigint IS NOT NULL"                        \
                 " AND $23::bigint IS NOT NULL")                                                   \
    X(WH_DELETE, "DELETE FROM webhooks WHERE id = $1::text AND account_id = $2::text")             \
    /* Every enabled webhook of the batch's accounts, each account's in                            \
     * creation order (the order deliveries are created in). */                                    \
    X(WH_FANOUT, "SELECT account_id, id, events, max_attempts FROM webhooks"                       \
                 " WHERE account_id = ANY($1::text[]) AND enabled"                                 \
                 " ORDER BY account_id, created_at, id")                                           \
    /* record() locks the webhooks it touches first, in id order: API                              \
     * transactions lock a webhook before its deliveries too, so no two                            \
     * transactions ever wait on each other in a cycle. */                                         \
    X(WH_LOCK, "SELECT id FROM webhooks WHERE id = ANY($1::text[]) ORDER BY id"                    \
               " FOR NO KEY UPDATE")                                                               \
    /* One row per webhook, folded in C from the batch's results in order:                         \
     * last = latest end of an attempt; ok = some attempt succeeded; fail =                        \
     * start of the first failure after the last success (0: none), or of                          \
     * the first failure when none succeeded. Applying sqlite's per-result                         \
     * rule in sequence gives the same failing_since. */                                           \
    X(WH_EXECUTED,                                                                                 \
      "UPDATE webhooks w SET last_execution_at = GREATEST(w.last_execution_at, x.last),"           \
      " failing_since = CASE WHEN x.ok THEN x.fail WHEN w.failing_since = 0"                       \
      " THEN x.fail ELSE w.failing_since END"                                                      \
      " FROM unnest($1::text[], $2::bigint[], $3::boolean[], $4::bigint[])"                        \
      " AS x(id, last, ok, fail) WHERE w.id = x.id")                                               \
    /* modified_at must change so dispatchers notice; GREATEST keeps it                            \
     * monotonic. */                                                                               \
    X(WH_DISABLE, "UPDATE webhooks SET enabled = false, disabled_reason = $2::text,"               \
                  " modified_at = GREATEST(modified_at + 1, $3::bigint) WHERE id = $1::text")      \
    /* The six orders of seed 004, ascending then descending; id breaks ties. */                   \
    X(WH_LIST_NAME_ASC, PG_WH_LIST("lower(name) ASC, id ASC"))                                     \
    X(WH_LIST_NAME_DESC, PG_WH_LIST("lower(name) DESC, id DESC"))                                  \
    X(WH_LIST_DESCRIPTION_ASC, PG_WH_LIST("lower(description) ASC, id ASC"))                       \
    X(WH_LIST_DESCRIPTION_DESC, PG_WH_LIST("lower(description) DESC, id DESC"))                    \
    X(WH_LIST_LAST_EXECUTION_AT_ASC, PG_WH_LIST("last_execution_at ASC, id ASC"))                  \
    X(WH_LIST_LAST_EXECUTION_AT_DESC, PG_WH_LIST("last_execution_at DESC, id DESC"))               \
    X(WH_LIST_ENABLED_ASC, PG_WH_LIST("enabled ASC, id ASC"))                                      \
    X(WH_LIST_ENABLED_DESC, PG_WH_LIST("enabled DESC, id DESC"))                                   \
    X(WH_LIST_CREATED_AT_ASC, PG_WH_LIST("created_at ASC, id ASC"))                                \
    X(WH_LIST_CREATED_AT_DESC, PG_WH_LIST("created_at DESC, id DESC"))                             \
    X(WH_LIST_MODIFIED_AT_ASC, PG_WH_LIST("modified_at ASC, id ASC"))                              \
    X(WH_LIST_MODIFIED_AT_DESC, PG_WH_LIST("modified_at DESC, id DESC"))                           \
                                                                                                   \
    /* The stored events holding a batch's idempotency keys; ord is the                            \
     * 1-based position in the arrays sent. */                                                     \
    X(EVT_BY_KEYS, "SELECT k.ord, e.id, e.type, e.created_at,"                                     \
                   " (SELECT COUNT(*) FROM deliveries d WHERE d.event_id = e.id)"                  \
                   " FROM unnest($1::text[], $2::bytea[]) WITH ORDINALITY AS k(acct, key, ord)"    \
                   " JOIN events e ON e.account_id = k.acct AND e.idempotency_key = k.key")        \
    X(EVT_CLEAR_KEYS, "UPDATE events SET idempotency_key = NULL WHERE id = ANY($1::text[])")       \
    /* A key another node committed since our lookup is not an error: the                          \
     * row is skipped, and postgres.c answers that item as a duplicate. */                         \
    X(EVT_INSERT, "INSERT INTO events (" PG_EVT_COLS ")"                                           \
                  " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[],"         \
                  " $5::bytea[], $6::bigint[])"                                                    \
                  " ON CONFLICT (account_id, idempotency_key) WHERE idempotency_key IS NOT NULL"   \
                  " DO NOTHING RETURNING id")                                                      \
    X(EVT_GET, "SELECT " PG_EVT_COLS " FROM events WHERE id = $1::text AND account_id = $2::text") \
    X(EVT_OWNED, "SELECT 1 FROM events WHERE id = $1::text AND account_id = $2::text")             \
    X(EVT_LIST, "SELECT " PG_EVT_COLS " FROM events" PG_EVT_FILTER                                 \
                " ORDER BY created_at DESC, id DESC LIMIT $5::bigint OFFSET $6::bigint")           \
    X(EVT_COUNT, "SELECT COUNT(*) FROM events" PG_EVT_FILTER)                                      \
                                                                                                   \
    X(DLV_INSERT, "INSERT INTO deliveries (id, event_id, webhook_id, account_id, status,"          \
                  " attempts, max_attempts, next_attempt_at, lease_owner, lease_expires_at,"       \
                  " due_at, created_at, updated_at)"                                               \
                  " SELECT x.id, x.evt, x.wh, x.acct, x.status, 0, x.max, x.at, x.owner, x.lease," \
                  " x.due, x.at, x.at FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]," \
                  " $5::text[], $6::int[], $7::bigint[], $8::text[], $9::bigint[], $10::bigint[])" \
                  " AS x(id, evt, wh, acct, status, max, at, owner, lease, due)")                  \
    X(DLV_GET, "SELECT " PG_DLV_COLS " FROM deliveries WHERE id = $1::text"                        \
               " AND account_id = $2::text")                                                       \
    X(DLV_LIST_EVENT, "SELECT " PG_DLV_COLS " FROM deliveries WHERE event_id = $1::text"           \
                      " AND account_id = $2::text ORDER BY created_at, id")                        \
    /* Walks the partial index in due order and stops at the batch size;                           \
     * SKIP LOCKED lets nodes claim side by side without waiting on, or                            \
     * taking, each other's rows. The row lock re-checks due_at on the                             \
     * latest row version, so a row another node leased, or a transaction                          \
     * parked, after our snapshot is not taken. Rows of disabled webhooks                          \
     * are skipped in the walk, as in SQLite (parking should leave none).                          \
     * The ids then go through an array, unnested WITH ORDINALITY: that                            \
     * keeps the due order for the answer, and keeps the update an index                           \
     * nested loop even in a generic plan, whose guess for "LIMIT $2" is a                         \
     * tenth of the table (joining the CTE directly would hash the whole                           \
     * deliveries and events tables). */                                                           \
    /* The status each row had when locked travels beside its id (old):                            \
     * only pending rows move between counts (an expired lease stays                               \
     * in_flight), and the statement applies that move to the counts of                            \
     * slot $5 itself, after every row lock (PG_CLAIM_COUNTS), so a claim                          \
     * stays one statement in autocommit. */                                                       \
    X(DLV_CLAIM, "WITH due AS (SELECT d.id, d.due_at, d.status FROM deliveries d"                  \
                 " WHERE d.due_at <= $1::bigint AND EXISTS (SELECT 1 FROM webhooks w"              \
                 " WHERE w.id = d.webhook_id AND w.enabled)"                                       \
                 " ORDER BY d.due_at LIMIT $2::bigint FOR UPDATE OF d SKIP LOCKED),"               \
                 " leased AS (UPDATE deliveries d SET status = 'in_flight',"                       \
                 " lease_owner = $3::text, lease_expires_at = $4::bigint, due_at = $4::bigint,"    \
                 " updated_at = $1::bigint"                                                        \
                 " FROM unnest(ARRAY(SELECT id FROM due ORDER BY due_at, id),"                     \
                 " ARRAY(SELECT status FROM due ORDER BY due_at, id)) WITH ORDINALITY"             \
                 " AS k(id, old, ord), events e, webhooks w"                                       \
                 " WHERE d.id = k.id AND e.id = d.event_id AND w.id = d.webhook_id"                \
                 " RETURNING k.ord, k.old, d.id, d.event_id, d.webhook_id, d.account_id,"          \
                 " d.attempts, d.max_attempts, e.type, e.created_at, e.payload, w.modified_at),"   \
                 " counted AS (" PG_CLAIM_COUNTS ")"                                               \
                 " SELECT id, event_id, webhook_id, account_id, attempts, max_attempts, type,"     \
                 " created_at, payload, modified_at FROM leased ORDER BY ord")                     \
    X(DLV_NEXT_DUE, "SELECT due_at FROM deliveries WHERE due_at IS NOT NULL"                       \
                    " ORDER BY due_at LIMIT 1")                                                    \
    /* One row per delivery (the first result of a delivery wins, as the                           \
     * sequential SQLite loop does: the second finds no lease). Only a                             \
     * delivery still leased to the result's owner changes; a set lease                            \
     * means in_flight (every move out of in_flight clears it).                                    \
     * Each row carries its owner, and nothing else restricts deliveries,                          \
     * so that the primary key is the one way in: with "lease_owner = $1                           \
     * AND status = 'in_flight'" the planner, whose statistics never know                          \
     * how many rows this node holds leased, hashed a bitmap of the lease                          \
     * index ANDed with a whole scan of deliveries_webhook_active, every                           \
     * unfinished delivery, on every record: O(backlog) per batch. A NULL                          \
     * owner must match nothing (IS NOT DISTINCT FROM would match every                            \
     * row without a lease). */                                                                    \
    X(DLV_RESULT, "UPDATE deliveries SET status = x.status, attempts = x.n,"                       \
                  " next_attempt_at = CASE WHEN x.status = 'pending' THEN x.next"                  \
                  " ELSE deliveries.next_attempt_at END,"                                          \
                  " due_at = CASE WHEN x.status = 'pending' AND " PG_DLV_WEBHOOK_ENABLED           \
                  " THEN x.next ELSE NULL END,"                                                    \
                  " lease_owner = NULL, lease_expires_at = 0, updated_at = x.end_at"               \
                  " FROM unnest($1::text[], $2::text[], $3::int[], $4::bigint[], $5::bigint[],"    \
                  " $6::text[]) AS x(id, status, n, next, end_at, owner)"                          \
                  " WHERE deliveries.id = x.id AND x.owner IS NOT NULL"                            \
                  " AND deliveries.lease_owner IS NOT DISTINCT FROM x.owner RETURNING x.status")   \
    /* $1 now, $2 ids, $3 due times, $4 leases, $5 owners: the lease checked                       \
     * per row, as in DLV_RESULT. */                                                               \
    X(DLV_DEFER,                                                                                   \
      "UPDATE deliveries SET status = 'pending', next_attempt_at = x.until,"                       \
      " due_at = CASE WHEN " PG_DLV_WEBHOOK_ENABLED " THEN x.until ELSE NULL END,"                 \
      " lease_owner = NULL, lease_expires_at = 0, updated_at = $1::bigint"                         \
      " FROM unnest($2::text[], $3::bigint[], $4::bigint[], $5::text[])"                           \
      " AS x(id, until, lease, owner) WHERE deliveries.id = x.id"                                  \
      " AND x.owner IS NOT NULL AND deliveries.lease_owner IS NOT DISTINCT FROM x.owner"           \
      " AND deliveries.lease_expires_at = x.lease")                                                \
    X(DLV_RELEASE, PG_DLV_REQUEUE_SET "WHERE lease_owner = $1::text AND status = 'in_flight'")     \
    /* The third column says whether its webhook still exists. */                                  \
    X(DLV_STATE, "SELECT d.status, d.lease_expires_at,"                                            \
                 " EXISTS (SELECT 1 FROM webhooks w WHERE w.id = d.webhook_id)"                    \
                 " FROM deliveries d WHERE d.id = $1::text AND d.account_id = $2::text"            \
                 " FOR UPDATE OF d")                                                               \
    X(DLV_OWNED, "SELECT 1 FROM deliveries WHERE id = $1::text AND account_id = $2::text")         \
    X(DLV_REQUEUE, PG_DLV_REQUEUE_SET "WHERE id = $1::text")                                       \
    /* The next four spell their status conditions exactly as the partial                          \
     * indexes deliveries_webhook_active and _failed do, so the planner can                        \
     * prove the index applies. */                                                                 \
    X(DLV_RECOVER, PG_DLV_REQUEUE_SET "WHERE webhook_id = $1::text AND status = 'failed'"          \
                                      " AND account_id = $3::text AND created_at >= $4::bigint"    \
                                      " AND created_at < $5::bigint")                              \
    X(DLV_PARK, "UPDATE deliveries SET due_at = NULL WHERE webhook_id = ANY($1::text[])"           \
                " AND status IN ('pending', 'in_flight') AND due_at IS NOT NULL")                  \
    X(DLV_UNPARK, "UPDATE deliveries SET due_at = CASE status WHEN 'pending'"                      \
                  " THEN next_attempt_at ELSE lease_expires_at END"                                \
                  " WHERE webhook_id = $1::text AND status IN ('pending', 'in_flight')")           \
    /* Answers how many rows left each status: the sub-select locks them                           \
     * and reads the status of their latest version. */                                            \
    X(DLV_CANCEL, "WITH cancelled AS (UPDATE deliveries d SET status = 'failed', due_at = NULL,"   \
                  " lease_owner = NULL, lease_expires_at = 0, updated_at = $2::bigint"             \
                  " FROM (SELECT id, status FROM deliveries WHERE webhook_id = $1::text"           \
                  " AND status IN ('pending', 'in_flight') FOR UPDATE) o"                          \
                  " WHERE d.id = o.id RETURNING o.status)"                                         \
                  " SELECT status, COUNT(*) FROM cancelled GROUP BY status")                       \
                                                                                                   \
    /* ON CONFLICT: a record retried after its COMMIT's answer was lost                            \
     * must not fail on its own attempt ids forever. */                                            \
    X(ATT_INSERT, "INSERT INTO attempts (id, delivery_id, event_id, webhook_id, account_id,"       \
                  " event_type, n, started_at, duration_ms, response_code, error, ok,"             \
                  " response_body, request_headers) SELECT x.id, x.dlv, x.evt, x.wh,"              \
                  " COALESCE(x.acct, (SELECT d.account_id FROM deliveries d WHERE d.id = x.dlv),"  \
                  " ''), x.type, x.n, x.started, x.dur, x.code, x.err, x.ok, x.body, x.hdrs"       \
                  " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],"       \
                  " $6::int[], $7::bigint[], $8::bigint[], $9::int[], $10::text[],"                \
                  " $11::boolean[], $12::bytea[], $13::text[], $14::text[])"                       \
                  " AS x(id, dlv, evt, wh, type, n, started, dur, code, err, ok, body, hdrs,"      \
                  " acct)"                                                                         \
                  " ON CONFLICT (id) DO NOTHING")                                                  \
    /* Four leads, in the order attempt_list() picks them. */                                      \
    X(ATT_LIST_WEBHOOK, PG_ATT_LIST("a.webhook_id = $1::text"))                                    \
    X(ATT_LIST_DELIVERY, PG_ATT_LIST("a.delivery_id = $2::text"))                                  \
    X(ATT_LIST_EVENT, PG_ATT_LIST("a.event_id = $3::text"))                                        \
    X(ATT_LIST_ACCOUNT, PG_ATT_LIST("a.account_id = $8::text"))                                    \
    X(ATT_COUNT_WEBHOOK, PG_ATT_COUNT("a.webhook_id = $1::text"))                                  \
    X(ATT_COUNT_DELIVERY, PG_ATT_COUNT("a.delivery_id = $2::text"))                                \
    X(ATT_COUNT_EVENT, PG_ATT_COUNT("a.event_id = $3::text"))                                      \
    X(ATT_COUNT_ACCOUNT, PG_ATT_COUNT("a.account_id = $8::text"))                                  \
                                                                                                   \
    /* $1 account, $2 since, $3 bucket size (ms, > 0). The sums are cast                           \
     * back to bigint: SUM(bigint) is numeric. */                                                  \
    X(ATT_SERIES, "SELECT started_at - started_at % $3::bigint AS bucket, COUNT(*),"               \
                  " COUNT(*) FILTER (WHERE ok), SUM(duration_ms)::bigint, MAX(duration_ms)"        \
                  " FROM attempts WHERE account_id = $1::text AND started_at >= $2::bigint"        \
                  " GROUP BY bucket ORDER BY bucket")                                              \
                                                                                                   \
    /* A write transaction's count deltas (postgres.c, counts_flush), its                          \
     * last statement: $1 slot, $2 names in cnt_names order, $3 deltas. */                         \
    X(COUNTS_ADD,                                                                                  \
      PG_COUNTS_ADD("$1::int", "x.name, x.n", "unnest($2::text[], $3::bigint[]) AS x(name, n)"))   \
    /* O(1) in the tables: at most six rows per slot (COUNT_SLOTS). The sums are                   \
     * cast back to bigint: SUM(bigint) is numeric. */                                             \
    X(STATS, "SELECT name, SUM(n)::bigint FROM counts GROUP BY name")

#endif
