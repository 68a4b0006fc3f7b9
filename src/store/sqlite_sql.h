/*
 * sqlite_sql.h — every SQL statement of the SQLite backend, in one table.
 *
 * Private to sqlite.c. SQL_STATEMENTS(X) expands X(NAME, "sql") once per
 * statement; sqlite.c turns it into an enum (ST_NAME) and a text array, and
 * prepares every statement once per pooled connection at open
 * (SQLITE_PREPARE_PERSISTENT), so a typo fails the open rather than a
 * request, and no hot path ever re-prepares.
 *
 * Parameters are numbered (?N) so one binder can serve statements that use
 * a subset of them. Nothing from a request is ever pasted into SQL text:
 * the webhook list's ORDER BY variants are separate statements chosen from
 * a fixed table.
 */
#ifndef HERALD_STORE_SQLITE_SQL_H
#define HERALD_STORE_SQLITE_SQL_H

#define KEY_COLS "id, account_id, role, hash, prefix, created_at, revoked_at"

/* 26 columns, in the order bind_webhook() and read_webhook() use. */
#define WH_COLS                                                                                    \
    "id, account_id, name, description, url, method, content_type, events, headers,"               \
    " max_attempts, rate_limit, max_in_flight, enabled, kind, signature_scheme, secret,"           \
    " prev_secret, prev_secret_expires_at, disabled_reason, created_at, modified_at,"              \
    " last_execution_at, failing_since, payload_format, signature_header, timestamp_header"

#define EVT_COLS "id, account_id, type, payload, idempotency_key, created_at"

/* One row of the ingest INSERTs, whose parameters are plain ? in order
 * (not ?N): the multi-row variants repeat the row, and the single-row one
 * shares their binder (sqlite.c, bind_event_row and bind_dlv_row). */
#define EVT_ROW "(?, ?, ?, ?, ?, ?)"
#define DLV_ROW "(?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?)"
#define DLV_INSERT_INTO                                                                            \
    "INSERT INTO deliveries (id, event_id, webhook_id, account_id, status,"                        \
    " attempts, max_attempts, next_attempt_at, lease_owner, lease_expires_at,"                     \
    " due_at, created_at, updated_at) VALUES "
#define ROWS_4(r) r ", " r ", " r ", " r
/* INGEST_ROWS in sqlite.c */
#define ROWS_16(r) ROWS_4(r) ", " ROWS_4(r) ", " ROWS_4(r) ", " ROWS_4(r)

#define DLV_COLS                                                                                   \
    "id, event_id, webhook_id, account_id, status, attempts, max_attempts, next_attempt_at,"       \
    " created_at, updated_at"

/* Inside an UPDATE of deliveries: true when the row's webhook exists and is
 * enabled. A delivery that becomes due while its webhook is disabled is
 * parked (due_at NULL) instead; enabling the webhook un-parks it. */
#define DLV_WEBHOOK_ENABLED                                                                        \
    "COALESCE((SELECT w.enabled FROM webhooks w WHERE w.id = deliveries.webhook_id), 0) = 1"

/* Makes a delivery pending and due at ?2 (now), dropping any lease. */
#define DLV_REQUEUE_SET                                                                            \
    "UPDATE deliveries SET status = 'pending', next_attempt_at = ?2,"                              \
    " due_at = CASE WHEN " DLV_WEBHOOK_ENABLED " THEN ?2 ELSE NULL END,"                           \
    " lease_owner = NULL, lease_expires_at = 0, updated_at = ?2 "

/* ?1 account, ?2 name substring, ?3 enabled (-1 any). */
#define WH_LIST(order)                                                                             \
    "SELECT " WH_COLS " FROM webhooks WHERE account_id = ?1"                                       \
    " AND (?2 IS NULL OR instr(lower(name), lower(?2)) > 0)"                                       \
    " AND (?3 < 0 OR enabled = ?3) ORDER BY " order

#define ATT_COLS                                                                                   \
    "a.id, a.delivery_id, a.event_id, a.webhook_id, a.event_type, a.n, a.started_at,"              \
    " a.duration_ms, a.response_code, a.error, a.response_body, a.request_headers,"                \
    " e.payload, e.created_at"

/* ?1 webhook, ?2 delivery, ?3 event, ?4 status (0 any, 1 ok, 2 failed),
 * ?5 event type, ?6 since, ?7 until, ?8 account, ?9 limit, ?10 offset. */
#define ATT_FILTER                                                                                 \
    " AND +a.account_id = ?8"                                                                      \
    " AND (?1 IS NULL OR a.webhook_id = ?1) AND (?2 IS NULL OR a.delivery_id = ?2)"                \
    " AND (?3 IS NULL OR a.event_id = ?3) AND (?4 = 0 OR a.ok = (?4 = 1))"                         \
    " AND (?5 IS NULL OR a.event_type = ?5) AND (?6 = 0 OR a.started_at >= ?6)"                    \
    " AND (?7 = 0 OR a.started_at < ?7)"

/* The leading equality picks the index; the planner cannot use the
 * "(?N IS NULL OR …)" terms for that. The unary + in ATT_FILTER keeps it
 * from preferring attempts_account (which saves the sort) and walking an
 * account's whole log to find one webhook's rows. */
#define ATT_LIST(lead)                                                                             \
    "SELECT " ATT_COLS                                                                             \
    " FROM attempts a LEFT JOIN events e ON e.id = a.event_id WHERE " lead ATT_FILTER              \
    " ORDER BY a.started_at DESC, a.rowid DESC LIMIT ?9 OFFSET ?10"
#define ATT_COUNT(lead) "SELECT COUNT(*) FROM attempts a WHERE " lead ATT_FILTER
/* An event's attempts, through its deliveries (there is no event index on
 * attempts: one fewer write per attempt). */
#define ATT_BY_EVENT "a.delivery_id IN (SELECT id FROM deliveries WHERE event_id = ?3)"

#define EVT_FILTER                                                                                 \
    " WHERE account_id = ?1 AND (?2 IS NULL OR type = ?2) AND (?3 = 0 OR created_at >= ?3)"        \
    " AND (?4 = 0 OR created_at < ?4)"

#define SQL_STATEMENTS(X)                                                                          \
    X(BEGIN_WRITE, "BEGIN IMMEDIATE")                                                              \
    X(BEGIN_READ, "BEGIN")                                                                         \
    X(COMMIT, "COMMIT")                                                                            \
    X(ROLLBACK, "ROLLBACK")                                                                        \
    X(PING, "SELECT 1")                                                                            \
                                                                                                   \
    X(ACCOUNT_INSERT, "INSERT INTO accounts (id, name, created_at) VALUES (?1, ?2, ?3)")           \
    X(ACCOUNT_GET, "SELECT id, name, created_at FROM accounts WHERE id = ?1")                      \
    X(ACCOUNT_LIST,                                                                                \
      "SELECT id, name, created_at FROM accounts ORDER BY created_at, id LIMIT ?1 OFFSET ?2")      \
    X(ACCOUNT_COUNT, "SELECT COUNT(*) FROM accounts")                                              \
                                                                                                   \
    X(KEY_INSERT, "INSERT INTO api_keys (" KEY_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")       \
    X(KEY_FIND, "SELECT " KEY_COLS " FROM api_keys WHERE hash = ?1")                               \
    X(KEY_GET, "SELECT " KEY_COLS " FROM api_keys WHERE id = ?1")                                  \
    X(KEY_REVOKE, "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at = 0")          \
                                                                                                   \
    X(ETYPE_INSERT, "INSERT INTO event_types (account_id, name, description, sample, created_at)"  \
                    " VALUES (?1, ?2, ?3, ?4, ?5)")                                                \
    X(ETYPE_GET, "SELECT account_id, name, description, sample, created_at FROM event_types"       \
                 " WHERE account_id = ?1 AND name = ?2")                                           \
    X(ETYPE_LIST, "SELECT account_id, name, description, sample, created_at FROM event_types"      \
                  " WHERE account_id = ?1 ORDER BY name")                                          \
                                                                                                   \
    X(WH_INSERT, "INSERT INTO webhooks (" WH_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,"  \
                 " ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23,"          \
                 " ?24, ?25, ?26)")                                                                \
    X(WH_GET, "SELECT " WH_COLS " FROM webhooks WHERE id = ?1 AND account_id = ?2")                \
    X(WH_GET_ANY, "SELECT " WH_COLS " FROM webhooks WHERE id = ?1")                                \
    X(WH_ENABLED, "SELECT enabled FROM webhooks WHERE id = ?1 AND account_id = ?2")                \
    X(WH_TARGET, "SELECT max_attempts, enabled, modified_at FROM webhooks"                         \
                 " WHERE id = ?1 AND account_id = ?2")                                             \
    /* Re-enabling clears failing_since, or the 5-day rule would disable the                       \
     * webhook again on its first failure. last_execution_at and                                   \
     * failing_since belong to record(), so an API read-modify-write cannot                        \
     * roll them back. */                                                                          \
    X(WH_UPDATE,                                                                                   \
      "UPDATE webhooks SET name = ?3, description = ?4, url = ?5, method = ?6,"                    \
      " content_type = ?7, events = ?8, headers = ?9, max_attempts = ?10,"                         \
      " rate_limit = ?11, max_in_flight = ?12, enabled = ?13, kind = ?14,"                         \
      " signature_scheme = ?15, secret = ?16, prev_secret = ?17,"                                  \
      " prev_secret_expires_at = ?18, disabled_reason = ?19, modified_at = ?21,"                   \
      " payload_format = ?24, signature_header = ?25, timestamp_header = ?26,"                     \
      " failing_since = CASE WHEN enabled = 0 AND ?13 = 1 THEN 0 ELSE failing_since END"           \
      " WHERE id = ?1 AND account_id = ?2")                                                        \
    X(WH_DELETE, "DELETE FROM webhooks WHERE id = ?1 AND account_id = ?2")                         \
    X(WH_FANOUT, "SELECT id, events, max_attempts, modified_at FROM webhooks"                      \
                 " WHERE account_id = ?1 AND enabled = 1 ORDER BY created_at, id")                 \
    X(WH_VERSION, "SELECT n FROM webhooks_version")                                                \
    /* Once per webhook per record batch: ?3 = the batch ended on a success,                       \
     * ?5 = the batch had a success, ?4 = first failure after the last success.*/                  \
    X(WH_EXECUTED, "UPDATE webhooks SET last_execution_at = MAX(last_execution_at, ?2),"           \
                   " failing_since = CASE WHEN ?3 THEN 0 WHEN ?5 OR failing_since = 0 THEN ?4"     \
                   " ELSE failing_since END WHERE id = ?1")                                        \
    /* modified_at must change so dispatchers notice; max() keeps it monotonic. */                 \
    X(WH_DISABLE, "UPDATE webhooks SET enabled = 0, disabled_reason = ?2,"                         \
                  " modified_at = MAX(modified_at + 1, ?3) WHERE id = ?1")                         \
    /* The six orders of seed 004, ascending then descending; id breaks ties. */                   \
    X(WH_LIST_NAME_ASC, WH_LIST("name COLLATE NOCASE ASC, id ASC"))                                \
    X(WH_LIST_NAME_DESC, WH_LIST("name COLLATE NOCASE DESC, id DESC"))                             \
    X(WH_LIST_DESCRIPTION_ASC, WH_LIST("description COLLATE NOCASE ASC, id ASC"))                  \
    X(WH_LIST_DESCRIPTION_DESC, WH_LIST("description COLLATE NOCASE DESC, id DESC"))               \
    X(WH_LIST_LAST_EXECUTION_AT_ASC, WH_LIST("last_execution_at ASC, id ASC"))                     \
    X(WH_LIST_LAST_EXECUTION_AT_DESC, WH_LIST("last_execution_at DESC, id DESC"))                  \
    X(WH_LIST_ENABLED_ASC, WH_LIST("enabled ASC, id ASC"))                                         \
    X(WH_LIST_ENABLED_DESC, WH_LIST("enabled DESC, id DESC"))                                      \
    X(WH_LIST_CREATED_AT_ASC, WH_LIST("created_at ASC, id ASC"))                                   \
    X(WH_LIST_CREATED_AT_DESC, WH_LIST("created_at DESC, id DESC"))                                \
    X(WH_LIST_MODIFIED_AT_ASC, WH_LIST("modified_at ASC, id ASC"))                                 \
    X(WH_LIST_MODIFIED_AT_DESC, WH_LIST("modified_at DESC, id DESC"))                              \
                                                                                                   \
    X(EVT_BY_KEY, "SELECT id, type, created_at FROM events"                                        \
                  " WHERE account_id = ?1 AND idempotency_key = ?2")                               \
    X(EVT_CLEAR_KEY, "UPDATE events SET idempotency_key = NULL WHERE id = ?1")                     \
    X(EVT_INSERT, "INSERT INTO events (" EVT_COLS ") VALUES " EVT_ROW)                             \
    X(EVT_INSERT_16, "INSERT INTO events (" EVT_COLS ") VALUES " ROWS_16(EVT_ROW))                 \
    X(EVT_GET, "SELECT " EVT_COLS " FROM events WHERE id = ?1 AND account_id = ?2")                \
    X(EVT_LIST, "SELECT " EVT_COLS " FROM events" EVT_FILTER                                       \
                " ORDER BY created_at DESC, rowid DESC LIMIT ?5 OFFSET ?6")                        \
    X(EVT_COUNT, "SELECT COUNT(*) FROM events" EVT_FILTER)                                         \
                                                                                                   \
    X(DLV_INSERT, DLV_INSERT_INTO DLV_ROW)                                                         \
    X(DLV_INSERT_16, DLV_INSERT_INTO ROWS_16(DLV_ROW))                                             \
    X(DLV_COUNT_EVENT, "SELECT COUNT(*) FROM deliveries WHERE event_id = ?1")                      \
    X(DLV_GET, "SELECT " DLV_COLS " FROM deliveries WHERE id = ?1 AND account_id = ?2")            \
    X(DLV_LIST_EVENT, "SELECT " DLV_COLS " FROM deliveries WHERE event_id = ?1"                    \
                      " AND account_id = ?2 ORDER BY created_at, id")                              \
    /* CROSS JOIN pins deliveries as the outer loop, walked in due_at order                        \
     * through the partial index, so LIMIT stops the scan early. */                                \
    X(DLV_CLAIM, "SELECT d.id, d.event_id, d.webhook_id, d.account_id, d.attempts,"                \
                 " d.max_attempts, e.type, e.created_at, e.payload, w.modified_at,"                \
                 " d.rowid, d.status"                                                              \
                 " FROM deliveries d CROSS JOIN events e CROSS JOIN webhooks w"                    \
                 " WHERE d.due_at <= ?1 AND e.id = d.event_id AND w.id = d.webhook_id"             \
                 " AND w.enabled = 1 ORDER BY d.due_at LIMIT ?2")                                  \
    /* A row claim_select just read in the same write transaction: found by                        \
     * rowid, with no guard, since nothing else can write in between. */                           \
    X(DLV_LEASE, "UPDATE deliveries SET status = 'in_flight', lease_owner = ?2,"                   \
                 " lease_expires_at = ?3, due_at = ?3, updated_at = ?4 WHERE rowid = ?1")          \
    X(DLV_NEXT_DUE, "SELECT due_at FROM deliveries WHERE due_at IS NOT NULL"                       \
                    " ORDER BY due_at LIMIT 1")                                                    \
    /* ?3 is the new status; only 'pending' keeps the row due (at ?5). ?7 is                       \
     * the claim's rowid, or 0 for a result that came from no claim. */                            \
    X(DLV_RESULT,                                                                                  \
      "UPDATE deliveries SET status = ?3, attempts = ?4,"                                          \
      " next_attempt_at = CASE WHEN ?3 = 'pending' THEN ?5 ELSE next_attempt_at END,"              \
      " due_at = CASE WHEN ?3 = 'pending' AND " DLV_WEBHOOK_ENABLED " THEN ?5 ELSE NULL END,"      \
      " lease_owner = NULL, lease_expires_at = 0, updated_at = ?6"                                 \
      " WHERE rowid = CASE WHEN ?7 > 0 THEN ?7"                                                    \
      "   ELSE (SELECT rowid FROM deliveries WHERE id = ?1) END"                                   \
      " AND id = ?1 AND lease_owner = ?2 AND status = 'in_flight'")                                \
    /* In-flight rows are in the due index (due_at = lease expiry), parked ones                    \
     * come back through unparking: walking that index finds every lease. */                       \
    X(DLV_DEFER, "UPDATE deliveries SET status = 'pending', next_attempt_at = ?3,"                 \
                 " due_at = CASE WHEN " DLV_WEBHOOK_ENABLED " THEN ?3 ELSE NULL END,"              \
                 " lease_owner = NULL, lease_expires_at = 0, updated_at = ?4"                      \
                 " WHERE id = ?1 AND lease_owner = ?2 AND lease_expires_at = ?5"                   \
                 " AND status = 'in_flight'")                                                      \
    X(DLV_RELEASE, DLV_REQUEUE_SET "WHERE due_at IS NOT NULL AND lease_owner = ?1"                 \
                                   " AND status = 'in_flight'")                                    \
    X(DLV_STATE, "SELECT d.status, d.lease_expires_at,"                                            \
                 " EXISTS (SELECT 1 FROM webhooks w WHERE w.id = d.webhook_id)"                    \
                 " FROM deliveries d WHERE d.id = ?1 AND d.account_id = ?2")                       \
    X(DLV_REQUEUE, DLV_REQUEUE_SET "WHERE id = ?1")                                                \
    X(DLV_RECOVER,                                                                                 \
      DLV_REQUEUE_SET "WHERE webhook_id = ?1 AND status = 'failed'"                                \
                      " AND account_id = ?3 AND created_at >= ?4 AND created_at < ?5")             \
    X(DLV_PARK, "UPDATE deliveries SET due_at = NULL WHERE webhook_id = ?1"                        \
                " AND status IN ('pending', 'in_flight') AND due_at IS NOT NULL")                  \
    X(DLV_UNPARK, "UPDATE deliveries SET due_at = CASE status WHEN 'pending' THEN next_attempt_at" \
                  " ELSE lease_expires_at END"                                                     \
                  " WHERE webhook_id = ?1 AND status IN ('pending', 'in_flight')")                 \
    X(DLV_CANCEL, "UPDATE deliveries SET status = 'failed', due_at = NULL, lease_owner = NULL,"    \
                  " lease_expires_at = 0, updated_at = ?2"                                         \
                  " WHERE webhook_id = ?1 AND status IN ('pending', 'in_flight')")                 \
                                                                                                   \
    X(ATT_INSERT, "INSERT INTO attempts (id, delivery_id, event_id, webhook_id, account_id,"       \
                  " event_type, n, started_at, duration_ms, response_code, error, ok,"             \
                  " response_body, request_headers) VALUES (?1, ?2, ?3, ?4,"                       \
                  " COALESCE(?14, (SELECT account_id FROM deliveries WHERE id = ?2), ''),"         \
                  " ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)")                                      \
    /* Four leads, in the order attempt_list() picks them. */                                      \
    X(ATT_LIST_WEBHOOK, ATT_LIST("a.webhook_id = ?1"))                                             \
    X(ATT_LIST_DELIVERY, ATT_LIST("a.delivery_id = ?2"))                                           \
    X(ATT_LIST_EVENT, ATT_LIST(ATT_BY_EVENT))                                                      \
    X(ATT_LIST_ACCOUNT, ATT_LIST("a.account_id = ?8"))                                             \
    X(ATT_COUNT_WEBHOOK, ATT_COUNT("a.webhook_id = ?1"))                                           \
    X(ATT_COUNT_DELIVERY, ATT_COUNT("a.delivery_id = ?2"))                                         \
    X(ATT_COUNT_EVENT, ATT_COUNT(ATT_BY_EVENT))                                                    \
    X(ATT_COUNT_ACCOUNT, ATT_COUNT("a.account_id = ?8"))                                           \
                                                                                                   \
    /* ?1 account, ?2 since, ?3 bucket size (ms, > 0). */                                          \
    X(ATT_SERIES, "SELECT started_at - started_at % ?3 AS bucket, COUNT(*), SUM(ok),"              \
                  " SUM(duration_ms), MAX(duration_ms) FROM attempts"                              \
                  " WHERE account_id = ?1 AND started_at >= ?2 GROUP BY bucket ORDER BY bucket")   \
                                                                                                   \
    X(STATS_DELIVERIES, "SELECT status, n FROM delivery_counts")                                   \
    X(COUNTS_ADD, "UPDATE delivery_counts SET n = n + ?2 WHERE status = ?1")                       \
    X(DLV_CANCEL_COUNT, "SELECT status, COUNT(*) FROM deliveries WHERE webhook_id = ?1"            \
                        " AND status IN ('pending', 'in_flight') GROUP BY status")                 \
    /* Rows are never deleted from these, so the largest rowid is the count,                       \
     * read in O(log n) instead of a scan. */                                                      \
    X(STATS_EVENTS, "SELECT COALESCE(MAX(rowid), 0) FROM events")                                  \
    X(STATS_ATTEMPTS, "SELECT COALESCE(MAX(rowid), 0) FROM attempts")

#endif
