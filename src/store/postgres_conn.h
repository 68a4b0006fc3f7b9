/*
 * postgres_conn.h — the PostgreSQL backend's plumbing: a pool of libpq
 * connections that heal themselves, transactions with safe retries,
 * binary-safe parameters and binary results.
 *
 * Private to the backend (postgres.c). Nothing here knows herald's tables:
 * the pool calls a setup function on every new connection, which prepares
 * the backend's statements.
 *
 * Failure model. A connection found broken (the server restarted, the
 * network dropped) is closed and reopened on its next use; while the
 * database cannot be reached, new connections are attempted at most once
 * per backoff step (100 ms doubling to 5 s) and every operation fails fast
 * with HERALD_EBUSY, which the API answers with 503. A transaction that
 * failed before its COMMIT was sent — broken connection, deadlock,
 * serialization failure — was rolled back by the server and is run again
 * (up to PG_TX_TRIES times); a COMMIT whose answer was lost is never
 * replayed, since it may have committed: the caller gets HERALD_EBUSY.
 */
#ifndef HERALD_STORE_POSTGRES_CONN_H
#define HERALD_STORE_POSTGRES_CONN_H

#include <libpq-fe.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define PG_MAX_PARAMS 32 /* the webhook row binds 26 */
#define PG_TX_TRIES 3

/* Element type OIDs of the binary arrays we send (pg_type.h). */
#define PG_OID_BOOL 16
#define PG_OID_BYTEA 17
#define PG_OID_INT8 20
#define PG_OID_INT4 23
#define PG_OID_TEXT 25

/* ---- parameters ------------------------------------------------------ */

/* A one-dimensional array in PostgreSQL's binary format, built element by
 * element. Its size comes from input (payloads), so growth failures are
 * remembered in err and reported by pga_finish, not aborted on. */
struct pg_array {
    struct buf b;
    uint32_t oid;
    int32_t n;
    bool has_null;
    int err;
};

void pga_init(struct pg_array *a, uint32_t elem_oid);
void pga_release(struct pg_array *a);
void pga_null(struct pg_array *a);
/* NULL s appends a NULL element. */
void pga_text(struct pg_array *a, const char *s);
/* Appends n bytes as one element; NULL p appends a NULL element. */
void pga_bytes(struct pg_array *a, const void *p, size_t n);
void pga_i64(struct pg_array *a, int64_t v);
void pga_i32(struct pg_array *a, int32_t v);
void pga_bool(struct pg_array *a, bool v);
/* Writes the header; returns 0, or the first growth error. */
int pga_finish(struct pg_array *a);

/* Parameters of one statement. Values are borrowed: strings and arrays
 * must outlive the execution. Numbers are formatted into the struct. */
struct pg_params {
    int n;
    const char *values[PG_MAX_PARAMS];
    int lengths[PG_MAX_PARAMS];
    int formats[PG_MAX_PARAMS];
    char num[PG_MAX_PARAMS][24];
};

void pgp_init(struct pg_params *p);
/* NULL s sends SQL NULL. */
void pgp_text(struct pg_params *p, const char *s);
void pgp_int(struct pg_params *p, int64_t v);
void pgp_bool(struct pg_params *p, bool v);
/* Binary: the bytes exactly. NULL data sends SQL NULL. */
void pgp_bytes(struct pg_params *p, const void *data, size_t n);
/* A finished array (pga_finish returned 0). */
void pgp_array(struct pg_params *p, const struct pg_array *a);

/* ---- results (binary format) ----------------------------------------- */

bool pgr_null(const PGresult *r, int row, int col);
/* The text of a column, "" for NULL; valid until PQclear(r). */
const char *pgr_str(const PGresult *r, int row, int col);
/* An integer or boolean column of any width; 0 for NULL. */
int64_t pgr_int(const PGresult *r, int row, int col);
void pgr_copy(const PGresult *r, int row, int col, char *dst, size_t cap);
char *pgr_dup(const PGresult *r, int row, int col);
char *pgr_dup_or_null(const PGresult *r, int row, int col);
/* A malloc'ed copy of the column's bytes plus a NUL (len without it);
 * HERALD_ENOMEM when the allocation fails (the size comes from input). */
int pgr_bytes(const PGresult *r, int row, int col, char **out, size_t *len);

/* ---- connections and the pool ---------------------------------------- */

struct pg_conn {
    PGconn *pq;
    /* Set by the last failed statement when re-running its transaction
     * is safe and may succeed (deadlock, serialization failure, or a
     * connection lost before COMMIT). */
    bool retryable;
    /* The backend's own state for this connection (postgres.c keeps the
     * running transaction's count deltas there); the pool never reads it. */
    void *user;
};

/* Prepares a new connection (statements, session settings); 0 or an
 * error. Runs without the pool lock, possibly on several threads. */
typedef int (*pg_setup_fn)(PGconn *pq, void *arg);

struct pg_pool {
    char *url;
    pg_setup_fn setup;
    void *setup_arg;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* a connection was given back */
    struct pg_conn *conns;
    int n_conns;
    int *idle; /* stack of indexes of idle connections */
    int n_idle;
    int64_t retry_at; /* monotonic ms before which no connection is attempted */
    int backoff_ms;   /* the next step; 0 after a success */
};

/* Opens a blocking connection with herald's defaults (connect timeout,
 * keepalives, application_name; the URL may override them). Returns NULL
 * and logs why when it fails. */
PGconn *pg_connect(const char *url);

/* Sets the pool up with n connection slots; connects none yet. */
void pg_pool_init(struct pg_pool *p, const char *url, int n, pg_setup_fn setup, void *arg);
/* Closes every connection; all must have been given back. */
void pg_pool_release(struct pg_pool *p);

/* Takes an idle connection, waiting for one, and makes sure it is
 * connected and set up. HERALD_EBUSY when none came free in time or the
 * database cannot be reached (backoff). */
int pg_acquire(struct pg_pool *p, struct pg_conn **out);
/* Gives c back: rolls back a transaction left open, and drops a broken
 * connection so its next user reconnects. */
void pg_put(struct pg_pool *p, struct pg_conn *c);

/* Runs a prepared statement with binary results. On success *out (when
 * out is non-NULL) holds the result, which the caller PQclear()s. Errors:
 * HERALD_ECONFLICT (unique violation), HERALD_ENOTFOUND (foreign key: the
 * account does not exist), HERALD_EINVAL (data the database refuses, e.g.
 * invalid UTF-8), HERALD_EBUSY (connection lost, server shutting down,
 * deadlock, too many connections), HERALD_ESTORE (anything else). */
int pg_exec(struct pg_conn *c, const char *name, const struct pg_params *p, PGresult **out);
/* Runs parameterless SQL (BEGIN, COMMIT, migrations), simple protocol. */
int pg_exec_sql(struct pg_conn *c, const char *sql);

/* Number of rows a command changed. */
int64_t pg_changes(const PGresult *r);

enum pg_tx_mode {
    PG_TX_NONE,  /* autocommit: for one statement */
    PG_TX_READ,  /* REPEATABLE READ, READ ONLY: several reads, one snapshot */
    PG_TX_WRITE, /* READ COMMITTED read-write */
};

/* The body of a transaction. It must be safe to run more than once: it
 * resets its outputs on entry and frees what it allocated when it fails. */
typedef int (*pg_tx_fn)(struct pg_conn *c, void *arg);

/* Runs fn in a transaction of the given mode on a pooled connection and
 * commits when it returns 0 (rolls back otherwise), re-running it as the
 * header comment says. Returns fn's result or the commit's. */
int pg_run(struct pg_pool *p, enum pg_tx_mode mode, pg_tx_fn fn, void *arg);

#endif
