/* postgres_conn.c — connections, pool, parameters and results of the
 * PostgreSQL backend (postgres_conn.h). */
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "store/postgres_conn.h"

#define POOL_WAIT_MS 15000 /* longest wait for an idle connection */
#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 5000
/* PostgreSQL refuses a field over 1 GB; stop well before. */
#define ARRAY_CAP ((size_t)512 * 1024 * 1024)

/* ---- arrays ---------------------------------------------------------- */

/* ndim, flags, element oid, then one dimension: size and lower bound. */
#define ARRAY_HEADER 20

static void put32(unsigned char *p, uint32_t v)
{
    v = htobe32(v);
    memcpy(p, &v, 4);
}

void pga_init(struct pg_array *a, uint32_t elem_oid)
{
    buf_init(&a->b, ARRAY_CAP);
    a->oid = elem_oid;
    a->n = 0;
    a->has_null = false;
    unsigned char zero[ARRAY_HEADER] = {0};
    a->err = buf_append(&a->b, zero, sizeof zero);
}

void pga_release(struct pg_array *a)
{
    buf_release(&a->b);
}

static void element(struct pg_array *a, const void *p, int32_t len)
{
    if (a->err)
        return;
    unsigned char l[4];
    put32(l, (uint32_t)len);
    a->err = buf_append(&a->b, l, 4);
    if (a->err == 0 && len > 0)
        a->err = buf_append(&a->b, p, (size_t)len);
    if (a->err == 0)
        a->n++;
}

void pga_null(struct pg_array *a)
{
    a->has_null = true;
    element(a, NULL, -1);
}

void pga_text(struct pg_array *a, const char *s)
{
    if (!s)
        pga_null(a);
    else
        pga_bytes(a, s, strlen(s));
}

void pga_bytes(struct pg_array *a, const void *p, size_t n)
{
    if (!p) {
        pga_null(a);
        return;
    }
    if (n > (size_t)INT32_MAX) {
        a->err = HERALD_ETOOBIG;
        return;
    }
    element(a, p, (int32_t)n);
}

void pga_i64(struct pg_array *a, int64_t v)
{
    uint64_t be = htobe64((uint64_t)v);
    element(a, &be, 8);
}

void pga_i32(struct pg_array *a, int32_t v)
{
    uint32_t be = htobe32((uint32_t)v);
    element(a, &be, 4);
}

void pga_bool(struct pg_array *a, bool v)
{
    unsigned char c = v ? 1 : 0;
    element(a, &c, 1);
}

int pga_finish(struct pg_array *a)
{
    if (a->err)
        return a->err;
    unsigned char *h = (unsigned char *)a->b.data;
    put32(h, a->n ? 1 : 0);
    put32(h + 4, a->has_null ? 1 : 0);
    put32(h + 8, a->oid);
    if (a->n == 0) {
        /* An empty array has no dimension at all. */
        a->b.len = 12;
        return 0;
    }
    put32(h + 12, (uint32_t)a->n);
    put32(h + 16, 1);
    return 0;
}

/* ---- parameters ------------------------------------------------------ */

void pgp_init(struct pg_params *p)
{
    p->n = 0;
}

static int slot(struct pg_params *p)
{
    if (p->n >= PG_MAX_PARAMS)
        abort(); /* a programming error: the statements are fixed */
    return p->n++;
}

void pgp_text(struct pg_params *p, const char *s)
{
    int i = slot(p);
    p->values[i] = s;
    p->lengths[i] = 0;
    p->formats[i] = 0;
}

void pgp_int(struct pg_params *p, int64_t v)
{
    int i = slot(p);
    snprintf(p->num[i], sizeof p->num[i], "%lld", (long long)v);
    p->values[i] = p->num[i];
    p->lengths[i] = 0;
    p->formats[i] = 0;
}

void pgp_bool(struct pg_params *p, bool v)
{
    pgp_text(p, v ? "t" : "f");
}

void pgp_bytes(struct pg_params *p, const void *data, size_t n)
{
    int i = slot(p);
    /* A zero-length binary value must still be a non-NULL pointer. */
    p->values[i] = data ? (n ? data : "") : NULL;
    p->lengths[i] = (int)n;
    p->formats[i] = 1;
}

void pgp_array(struct pg_params *p, const struct pg_array *a)
{
    int i = slot(p);
    p->values[i] = a->b.data;
    p->lengths[i] = (int)a->b.len;
    p->formats[i] = 1;
}

/* ---- results --------------------------------------------------------- */

bool pgr_null(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) != 0;
}

const char *pgr_str(const PGresult *r, int row, int col)
{
    return pgr_null(r, row, col) ? "" : PQgetvalue(r, row, col);
}

int64_t pgr_int(const PGresult *r, int row, int col)
{
    if (pgr_null(r, row, col))
        return 0;
    const unsigned char *p = (const unsigned char *)PQgetvalue(r, row, col);
    switch (PQgetlength(r, row, col)) {
    case 1:
        return p[0];
    case 2: {
        uint16_t v;
        memcpy(&v, p, 2);
        return (int16_t)be16toh(v);
    }
    case 4: {
        uint32_t v;
        memcpy(&v, p, 4);
        return (int32_t)be32toh(v);
    }
    case 8: {
        uint64_t v;
        memcpy(&v, p, 8);
        return (int64_t)be64toh(v);
    }
    default:
        return 0;
    }
}

void pgr_copy(const PGresult *r, int row, int col, char *dst, size_t cap)
{
    str_copy(dst, cap, pgr_str(r, row, col));
}

char *pgr_dup(const PGresult *r, int row, int col)
{
    return xstrdup(pgr_str(r, row, col));
}

char *pgr_dup_or_null(const PGresult *r, int row, int col)
{
    return pgr_null(r, row, col) ? NULL : pgr_dup(r, row, col);
}

int pgr_bytes(const PGresult *r, int row, int col, char **out, size_t *len)
{
    size_t n = pgr_null(r, row, col) ? 0 : (size_t)PQgetlength(r, row, col);
    char *b = malloc(n + 1);
    if (!b)
        return HERALD_ENOMEM;
    if (n)
        memcpy(b, PQgetvalue(r, row, col), n);
    b[n] = '\0';
    *out = b;
    if (len)
        *len = n;
    return 0;
}

int64_t pg_changes(const PGresult *r)
{
    int64_t n = 0;
    const char *t = PQcmdTuples((PGresult *)r);
    if (t && *t)
        parse_int64(t, 0, INT64_MAX, &n);
    return n;
}

/* ---- errors ---------------------------------------------------------- */

static bool starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* SQLSTATE to herald error; *retry says whether re-running the whole
 * transaction may succeed. */
static int map_sqlstate(const char *state, bool *retry)
{
    *retry = false;
    if (strcmp(state, "23505") == 0)
        return HERALD_ECONFLICT;
    if (strcmp(state, "23503") == 0)
        return HERALD_ENOTFOUND; /* the referenced account does not exist */
    if (starts(state, "40")) {   /* serialization failure, deadlock */
        *retry = true;
        return HERALD_EBUSY;
    }
    /* Connection exceptions, operator intervention (shutdown, cancel),
     * too many connections, and a database starting up. */
    if (starts(state, "08") || starts(state, "57") || strcmp(state, "53300") == 0)
        return HERALD_EBUSY;
    if (starts(state, "22") || starts(state, "23"))
        return HERALD_EINVAL;
    return HERALD_ESTORE;
}

/* Maps a failed result and logs what is not an expected answer. */
static int fail(struct pg_conn *c, PGresult *r, const char *what)
{
    bool broken = PQstatus(c->pq) != CONNECTION_OK;
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    bool retry = false;
    int err;
    if (broken || !state) {
        /* The server never saw or never answered: nothing was kept. */
        err = HERALD_EBUSY;
        retry = broken;
    } else {
        err = map_sqlstate(state, &retry);
    }
    c->retryable = retry;
    if (err != HERALD_ECONFLICT && err != HERALD_ENOTFOUND) {
        const char *msg = r ? PQresultErrorMessage(r) : "";
        if (!msg || !*msg)
            msg = PQerrorMessage(c->pq);
        char line[512];
        str_copy(line, sizeof line, msg ? msg : "");
        line[strcspn(line, "\n")] = '\0';
        log_kv(broken || err == HERALD_EBUSY ? LOG_WARN : LOG_ERROR, "postgres statement failed",
               "statement", what, "sqlstate", state ? state : "", "error", line, NULL);
    }
    return err;
}

int pg_exec(struct pg_conn *c, const char *name, const struct pg_params *p, PGresult **out)
{
    if (out)
        *out = NULL;
    c->retryable = false;
    PGresult *r = PQexecPrepared(c->pq, name, p ? p->n : 0, p ? p->values : NULL,
                                 p ? p->lengths : NULL, p ? p->formats : NULL, 1);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        if (out)
            *out = r;
        else
            PQclear(r);
        return 0;
    }
    int err = fail(c, r, name);
    PQclear(r);
    return err;
}

int pg_exec_sql(struct pg_conn *c, const char *sql)
{
    c->retryable = false;
    PGresult *r = PQexec(c->pq, sql);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        PQclear(r);
        return 0;
    }
    char what[48];
    str_copy(what, sizeof what, sql); /* enough to name it, not to flood */
    int err = fail(c, r, what);
    PQclear(r);
    return err;
}

/* ---- connecting ------------------------------------------------------ */

/* Server notices (e.g. "relation already exists, skipping") are not
 * herald's business at info level. */
static void on_notice(void *arg, const char *msg)
{
    (void)arg;
    char line[256];
    str_copy(line, sizeof line, msg);
    line[strcspn(line, "\n")] = '\0';
    log_kv(LOG_DEBUG, "postgres notice", "message", line, NULL);
}

PGconn *pg_connect(const char *url)
{
    /* Keywords before dbname are defaults the URL may override: libpq
     * processes them in order and the expanded URL comes last. */
    const char *const keys[] = {
        "connect_timeout",     "application_name", "keepalives", "keepalives_idle",
        "keepalives_interval", "keepalives_count", "dbname",     NULL};
    const char *const vals[] = {"5", "herald", "1", "10", "5", "3", url, NULL};
    PGconn *pq = PQconnectdbParams(keys, vals, 1);
    if (!pq) {
        log_kv(LOG_ERROR, "postgres connect failed", "error", "out of memory", NULL);
        return NULL;
    }
    if (PQstatus(pq) != CONNECTION_OK) {
        char line[512];
        str_copy(line, sizeof line, PQerrorMessage(pq));
        line[strcspn(line, "\n")] = '\0';
        log_kv(LOG_WARN, "postgres connect failed", "error", line, NULL);
        PQfinish(pq);
        return NULL;
    }
    PQsetNoticeProcessor(pq, on_notice, NULL);
    return pq;
}

/* ---- the pool -------------------------------------------------------- */

void pg_pool_init(struct pg_pool *p, const char *url, int n, pg_setup_fn setup, void *arg)
{
    memset(p, 0, sizeof *p);
    p->url = xstrdup(url);
    p->setup = setup;
    p->setup_arg = arg;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->conns = xcalloc((size_t)n, sizeof *p->conns);
    p->idle = xcalloc((size_t)n, sizeof *p->idle);
    p->n_conns = n;
    for (int i = 0; i < n; i++)
        p->idle[p->n_idle++] = n - 1 - i; /* slot 0 is taken first */
}

void pg_pool_release(struct pg_pool *p)
{
    for (int i = 0; i < p->n_conns; i++)
        if (p->conns[i].pq)
            PQfinish(p->conns[i].pq);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->conns);
    free(p->idle);
    free(p->url);
    memset(p, 0, sizeof *p);
}

static void deadline_in(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* An idle pooled connection has nothing to say, unless the server is
 * closing it (shutdown, restart, pg_terminate_backend): then it sends a
 * FATAL message and closes, and the socket is readable. Checking costs
 * one poll(2) and spares the next statement a failure. Whatever arrived,
 * the connection is dropped: reading the message alone does not yet show
 * it dead, and a rare spurious reconnect costs little. */
static void check_idle(struct pg_conn *c)
{
    if (!c->pq || PQstatus(c->pq) != CONNECTION_OK)
        return;
    struct pollfd pfd = {.fd = PQsocket(c->pq), .events = POLLIN};
    if (pfd.fd >= 0 && poll(&pfd, 1, 0) == 0)
        return;
    PQfinish(c->pq);
    c->pq = NULL;
}

/* Connects slot c, honouring the pool's backoff. */
static int reconnect(struct pg_pool *p, struct pg_conn *c)
{
    if (c->pq) {
        PQfinish(c->pq);
        c->pq = NULL;
    }
    int64_t now = clock_mono_ms();
    pthread_mutex_lock(&p->mu);
    bool wait = now < p->retry_at;
    pthread_mutex_unlock(&p->mu);
    if (wait)
        return HERALD_EBUSY;

    PGconn *pq = pg_connect(p->url);
    int rc = pq ? p->setup(pq, p->setup_arg) : HERALD_EBUSY;
    pthread_mutex_lock(&p->mu);
    if (rc == 0) {
        p->backoff_ms = 0;
        p->retry_at = 0;
    } else {
        p->backoff_ms = p->backoff_ms ? p->backoff_ms * 2 : BACKOFF_FIRST_MS;
        if (p->backoff_ms > BACKOFF_MAX_MS)
            p->backoff_ms = BACKOFF_MAX_MS;
        p->retry_at = clock_mono_ms() + p->backoff_ms;
    }
    pthread_mutex_unlock(&p->mu);
    if (rc != 0) {
        if (pq)
            PQfinish(pq);
        /* Whatever setup said, the caller can only try again later. */
        return HERALD_EBUSY;
    }
    c->pq = pq;
    return 0;
}

int pg_acquire(struct pg_pool *p, struct pg_conn **out)
{
    *out = NULL;
    struct timespec deadline;
    deadline_in(&deadline, POOL_WAIT_MS);
    pthread_mutex_lock(&p->mu);
    while (p->n_idle == 0) {
        if (pthread_cond_timedwait(&p->cv, &p->mu, &deadline) == ETIMEDOUT && p->n_idle == 0) {
            pthread_mutex_unlock(&p->mu);
            log_kv(LOG_WARN, "postgres pool exhausted", NULL);
            return HERALD_EBUSY;
        }
    }
    struct pg_conn *c = &p->conns[p->idle[--p->n_idle]];
    pthread_mutex_unlock(&p->mu);

    check_idle(c);
    int rc = 0;
    if (!c->pq || PQstatus(c->pq) != CONNECTION_OK)
        rc = reconnect(p, c);
    if (rc != 0) {
        pg_put(p, c);
        return rc;
    }
    c->retryable = false;
    *out = c;
    return 0;
}

void pg_put(struct pg_pool *p, struct pg_conn *c)
{
    if (c->pq && PQstatus(c->pq) == CONNECTION_OK && PQtransactionStatus(c->pq) != PQTRANS_IDLE) {
        PGresult *r = PQexec(c->pq, "ROLLBACK");
        PQclear(r);
    }
    if (c->pq && (PQstatus(c->pq) != CONNECTION_OK || PQtransactionStatus(c->pq) != PQTRANS_IDLE)) {
        PQfinish(c->pq);
        c->pq = NULL;
    }
    pthread_mutex_lock(&p->mu);
    p->idle[p->n_idle++] = (int)(c - p->conns);
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* ---- transactions ---------------------------------------------------- */

static const char *begin_sql(enum pg_tx_mode mode)
{
    switch (mode) {
    case PG_TX_READ:
        return "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
    case PG_TX_WRITE:
        return "BEGIN";
    case PG_TX_NONE:
    default:
        return NULL;
    }
}

/* One try. *retry says whether another may succeed: the failure came
 * before COMMIT was sent and is of a transient kind. */
static int run_once(struct pg_pool *p, enum pg_tx_mode mode, pg_tx_fn fn, void *arg, bool *retry)
{
    *retry = false;
    struct pg_conn *c;
    int rc = pg_acquire(p, &c);
    if (rc != 0)
        return rc;
    const char *begin = begin_sql(mode);
    if (begin)
        rc = pg_exec_sql(c, begin);
    if (rc == 0)
        rc = fn(c, arg);
    if (rc != 0) {
        *retry = c->retryable;
    } else if (begin) {
        rc = pg_exec_sql(c, "COMMIT");
        /* A lost answer to COMMIT may hide a commit: never replay it. A
         * serialization failure at COMMIT is a sure rollback. */
        *retry = rc != 0 && c->retryable && PQstatus(c->pq) == CONNECTION_OK;
    }
    pg_put(p, c); /* rolls back what is still open */
    return rc;
}

int pg_run(struct pg_pool *p, enum pg_tx_mode mode, pg_tx_fn fn, void *arg)
{
    int rc = 0;
    bool retry = true;
    for (int i = 0; retry && i < PG_TX_TRIES; i++)
        rc = run_once(p, mode, fn, arg, &retry);
    return rc;
}
