/*
 * store.h — herald's one storage interface.
 *
 * Every SQL statement in herald lives behind this table of function
 * pointers; the rest of the program never knows which backend it talks to
 * (git's refs backends, curl's Curl_ssl). Backends: SQLite (sqlite.c, the
 * default) and PostgreSQL (postgres.c), chosen by store_open() from the URL.
 *
 * Conventions for every operation:
 *  - Returns 0 or a negative herald_err: HERALD_ENOTFOUND when the object
 *    does not exist *or belongs to another account* (callers answer 404 for
 *    both), HERALD_ECONFLICT for a unique-key clash, HERALD_EBUSY or
 *    HERALD_ESTORE when the database could not commit (callers answer 503).
 *  - A write either commits completely or changes nothing.
 *  - All operations are safe to call from any thread at once; the backend
 *    owns its connections (a pool) and its prepared statements.
 *  - Callers generate ids (core/id.h) and timestamps (ms since epoch), so a
 *    batch can answer before a second round trip and tests can pin times;
 *    backends generate only delivery ids, inside ingest.
 *  - Strings passed in are borrowed for the duration of the call. Records
 *    returned are owned by the caller and freed with the matching
 *    _release() or _free() helper below.
 */
#ifndef HERALD_STORE_STORE_H
#define HERALD_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/id.h"

#define STORE_NAME_MAX 128 /* event type names, account names (+NUL) */

struct store_account {
    char id[HERALD_ID_MAX]; /* acct_… */
    char name[STORE_NAME_MAX];
    int64_t created_at;
};

struct store_key {
    char id[HERALD_ID_MAX]; /* key_… */
    char account_id[HERALD_ID_MAX];
    char role[8];    /* "admin" or "account" */
    char hash[65];   /* SHA-256 hex of the key; the key itself is never stored */
    char prefix[16]; /* first 8 characters, for display */
    int64_t created_at;
    int64_t revoked_at; /* 0 while valid */
};

struct store_event_type {
    char name[STORE_NAME_MAX];
    char *description;              /* owned */
    char *sample;                   /* owned; JSON text of a sample `data` */
    char account_id[HERALD_ID_MAX]; /* "" for the built-in catalog */
    int64_t created_at;
};
void store_event_type_release(struct store_event_type *t);

struct store_webhook {
    char id[HERALD_ID_MAX]; /* wh_… */
    char account_id[HERALD_ID_MAX];
    char *name;            /* owned, never NULL */
    char *description;     /* owned, never NULL ("" when none) */
    char *url;             /* owned */
    char method[8];        /* POST, PUT, PATCH */
    char content_type[48]; /* application/json | application/x-www-form-urlencoded */
    char *events;          /* owned; JSON array text of names/patterns */
    char *headers;         /* owned; JSON object text of custom headers, "{}" */
    int max_attempts;      /* 1..20 */
    int rate_limit;        /* requests per second, 0 = none */
    int max_in_flight;     /* >= 1 */
    bool enabled;
    char kind[16];             /* webhook, slack, discord */
    char signature_scheme[24]; /* standard, github, stripe, hex, timestamped-hex */
    char payload_format[12];   /* standard, rows (a flat object with dotted keys) */
    /* Header names of a signature dialect; "" means the scheme's default
     * (sign/dialect.h). At most 64 characters, validated by the API. */
    char signature_header[72];
    char timestamp_header[72];
    char *secret;      /* owned; current signing secret */
    char *prev_secret; /* owned or NULL; still signs until prev_secret_expires_at */
    int64_t prev_secret_expires_at;
    char *disabled_reason; /* owned or NULL */
    int64_t created_at;
    int64_t modified_at;
    int64_t last_execution_at; /* 0 = never */
    int64_t failing_since;     /* 0 = last attempt succeeded (or none yet) */
};
/* Frees the owned strings; the struct itself may live on the stack. */
void store_webhook_release(struct store_webhook *w);
/* Deep copy; dst must be uninitialised or released. */
void store_webhook_copy(struct store_webhook *dst, const struct store_webhook *src);

/* Orderable webhook list fields (seed 004). */
struct store_webhook_query {
    const char *event; /* NULL or a type: webhooks whose subscription covers it */
    const char *name;  /* NULL or a case-insensitive substring of the name */
    int enabled;       /* -1 any, 0 disabled only, 1 enabled only */
    const char *order; /* name, description, last_execution_at, enabled, created_at,
                          modified_at (validated by the caller) */
    bool desc;
    int page, count; /* page from 0; count 1..100 */
};

struct store_event {
    char id[HERALD_ID_MAX]; /* evt_… */
    char account_id[HERALD_ID_MAX];
    char type[STORE_NAME_MAX];
    char *payload; /* owned; the `data` JSON exactly as published */
    size_t payload_len;
    char *idempotency_key; /* owned or NULL */
    int64_t created_at;
};
void store_event_release(struct store_event *e);

struct store_event_query {
    const char *type;     /* NULL or an exact type */
    int64_t since, until; /* 0 = unbounded; inclusive since, exclusive until */
    int page, count;
};

struct store_delivery {
    char id[HERALD_ID_MAX]; /* dlv_… */
    char event_id[HERALD_ID_MAX];
    char webhook_id[HERALD_ID_MAX];
    char account_id[HERALD_ID_MAX];
    char status[12]; /* pending, in_flight, succeeded, failed */
    int attempts;
    int max_attempts;
    int64_t next_attempt_at;
    int64_t created_at;
    int64_t updated_at;
};

struct store_attempt {
    char id[HERALD_ID_MAX]; /* att_… */
    char delivery_id[HERALD_ID_MAX];
    char event_id[HERALD_ID_MAX];
    char webhook_id[HERALD_ID_MAX];
    char event_type[STORE_NAME_MAX];
    int n; /* 1 for the first attempt */
    int64_t started_at;
    int64_t duration_ms;
    int response_code;     /* 0 when there was no HTTP response */
    char error[24];        /* "" on success; timeout, connect, tls, dns, blocked, reset,
                              too_large, http_3xx/4xx/5xx as "http", … */
    char *response_body;   /* owned, at most 4 KiB */
    char *request_headers; /* owned, JSON object text */
    char *payload;         /* owned, the event `data` (filled by list_attempts) */
    int64_t event_created_at;
};
void store_attempt_release(struct store_attempt *a);

struct store_attempt_query {
    const char *webhook_id;  /* NULL = any (then delivery_id or event_id is set) */
    const char *delivery_id; /* NULL = any */
    const char *event_id;    /* NULL = any */
    int status;              /* 0 any, 1 success only, 2 failure only */
    const char *event_type;  /* NULL = any */
    int64_t since, until;    /* on started_at; 0 = unbounded */
    int page, count;
};

/* One event to commit, with its fan-out (ingest). */
struct store_ingest {
    /* in */
    const char *account_id;
    const char *type;
    const char *data; /* raw JSON bytes of `data`, stored byte for byte */
    size_t data_len;
    const char *idempotency_key; /* NULL: none */
    /* Non-NULL: create exactly one delivery, to this webhook of the account,
     * subscribed or not, enabled or not (test sends). NULL: one delivery per
     * enabled webhook of the account whose events cover the type. */
    const char *only_webhook_id;
    int max_attempts;        /* 0: each webhook's own; else this (test sends: 1) */
    const char *lease_owner; /* non-NULL: deliveries start in_flight, leased */
    int64_t lease_until;
    /* With lease_owner, on a backend whose ops->ingest_hands_off is set:
     * where ingest appends, for each delivery it creates to an enabled
     * webhook, the claim claim_due would return for it (payload copied).
     * The list may be shared by every item of a call; on failure it may
     * hold claims of rows that were rolled back, so the caller drops it. */
    struct store_claims *leased;
    /* in, replaced by the first event's on a duplicate */
    char id[HERALD_ID_MAX];
    int64_t created_at;
    /* out */
    char out_type[STORE_NAME_MAX];         /* the stored event's type */
    int deliveries;                        /* deliveries created (first event's on a duplicate) */
    bool duplicate;                        /* idempotency key seen within 24 h */
    char first_delivery_id[HERALD_ID_MAX]; /* id of the first delivery created, "" if none */
};

/* A due delivery handed to a dispatcher (claim_due). */
struct store_claim {
    char delivery_id[HERALD_ID_MAX];
    char event_id[HERALD_ID_MAX];
    char webhook_id[HERALD_ID_MAX];
    char account_id[HERALD_ID_MAX];
    char event_type[STORE_NAME_MAX];
    int attempts;     /* attempts already made */
    int max_attempts; /* for this delivery */
    int64_t event_created_at;
    int64_t webhook_modified_at; /* lets the dispatcher notice a changed webhook */
    char *payload;               /* owned; event data */
    size_t payload_len;
    int64_t row;         /* the backend's handle on the row (SQLite: its rowid), 0 if none */
    int64_t lease_until; /* the lease it came with: claim_due's lease_until, or the
                          * store_ingest.lease_until of a hand-off */
};
void store_claims_free(struct store_claim *c, size_t n);

/* A growing array of claims (store_ingest.leased). */
struct store_claims {
    struct store_claim *v;
    size_t len, cap;
};
/* Appends a zeroed claim and returns it. */
struct store_claim *store_claims_push(struct store_claims *l);
/* Frees every claim and empties the list. */
void store_claims_clear(struct store_claims *l);

enum store_outcome {
    STORE_SUCCEEDED, /* delivery done */
    STORE_RETRY,     /* pending again at next_attempt_at */
    STORE_FAILED,    /* exhausted: no more attempts */
};

/* The outcome of one attempt (record). Pointers are borrowed. */
struct store_result {
    const char *delivery_id;
    const char *account_id; /* the delivery's account; NULL makes the backend look it up */
    const char *event_id;
    const char *webhook_id;
    const char *event_type;
    char attempt_id[HERALD_ID_MAX]; /* caller-generated att_… */
    int n;
    int64_t started_at;
    int64_t duration_ms;
    int response_code;
    const char *error; /* NULL or "" on success */
    const char *response_body;
    size_t response_len;
    const char *request_headers; /* JSON object text */
    enum store_outcome outcome;
    int64_t next_attempt_at;    /* for STORE_RETRY */
    const char *disable_reason; /* non-NULL: disable the webhook with this reason */
    int64_t row;                /* the claim's row (store_claim.row) when it came from one, else 0:
                                 * lets the backend skip the lookup by delivery id */
    /* Set by a caller that knows this result changes neither the webhook's
     * failing state (failing_since) nor, to within a second, its
     * last_execution_at: a backend may then skip the webhook row's write
     * for it (SQLite does; with many webhooks per batch that write cost
     * as much as the attempt itself). */
    bool quiet;
};

/* A claimed delivery its dispatcher will not send yet (defer). */
struct store_deferral {
    char delivery_id[HERALD_ID_MAX];
    int64_t until;       /* due again at this time */
    int64_t lease_until; /* the claim's store_claim.lease_until */
};

struct store_stats {
    int64_t events;
    int64_t pending; /* includes in_flight */
    int64_t in_flight;
    int64_t succeeded;
    int64_t failed;
    int64_t attempts;
};

/* One time bucket of an account's attempts (the dashboard's overview). */
struct store_bucket {
    int64_t start; /* bucket start, ms, a multiple of the bucket size */
    int64_t attempts;
    int64_t succeeded; /* attempts with no error */
    int64_t total_ms;  /* sum of durations, for the mean */
    int64_t max_ms;
};

struct store;

struct store_ops {
    const char *name; /* "sqlite", "postgres" */
    void (*close)(struct store *s);
    int (*ping)(struct store *s);
    /* Optional (NULL: nothing to do). Readies the store for a node that is
     * about to serve, once, before it takes traffic: SQLite fills its WAL
     * ahead of the writers (sqlite.c, sq_warm). */
    int (*warm)(struct store *s);

    /* accounts and keys */
    int (*account_create)(struct store *s, const struct store_account *a);
    int (*account_get)(struct store *s, const char *id, struct store_account *out);
    int (*account_list)(struct store *s, int page, int count, struct store_account **out, size_t *n,
                        int64_t *total);
    int (*account_count)(struct store *s, int64_t *n);
    int (*key_create)(struct store *s, const struct store_key *k);
    /* Finds a key by hash, revoked or not. */
    int (*key_find)(struct store *s, const char *hash, struct store_key *out);
    int (*key_get)(struct store *s, const char *id, struct store_key *out);
    int (*key_revoke)(struct store *s, const char *id, int64_t now);

    /* account-defined event types (the built-in catalog is core/catalog.h) */
    int (*event_type_create)(struct store *s, const struct store_event_type *t);
    int (*event_type_get)(struct store *s, const char *account_id, const char *name,
                          struct store_event_type *out);
    int (*event_type_list)(struct store *s, const char *account_id, struct store_event_type **out,
                           size_t *n);

    /* webhooks; every call is scoped to account_id */
    int (*webhook_create)(struct store *s, const struct store_webhook *w);
    int (*webhook_get)(struct store *s, const char *account_id, const char *id,
                       struct store_webhook *out);
    /* Unscoped read for the dispatcher. */
    int (*webhook_get_any)(struct store *s, const char *id, struct store_webhook *out);
    int (*webhook_list)(struct store *s, const char *account_id,
                        const struct store_webhook_query *q, struct store_webhook **out, size_t *n,
                        int64_t *total);
    /* Replaces every mutable field of the stored webhook (matched by id and
     * account_id) with w's. */
    int (*webhook_update)(struct store *s, const struct store_webhook *w);
    /* Deletes the webhook; its pending and in-flight deliveries become failed. */
    int (*webhook_delete)(struct store *s, const char *account_id, const char *id, int64_t now);

    /* events: one transaction for the whole array (group commit) */
    int (*ingest)(struct store *s, struct store_ingest *items, size_t n);
    int (*event_get)(struct store *s, const char *account_id, const char *id,
                     struct store_event *out);
    int (*event_list)(struct store *s, const char *account_id, const struct store_event_query *q,
                      struct store_event **out, size_t *n, int64_t *total);

    /* deliveries */
    int (*delivery_get)(struct store *s, const char *account_id, const char *id,
                        struct store_delivery *out);
    int (*delivery_list_for_event)(struct store *s, const char *account_id, const char *event_id,
                                   struct store_delivery **out, size_t *n);
    /* Claims up to max deliveries that are pending and due (next_attempt_at <=
     * now), or in_flight with a lease that expired before now; marks them
     * in_flight, leased to owner until lease_until. Oldest due first. Skips
     * deliveries of disabled webhooks. */
    int (*claim_due)(struct store *s, const char *owner, int64_t now, int64_t lease_until,
                     size_t max, struct store_claim **out, size_t *n);
    /* Whether ingest fills store_ingest.leased. Only then may a caller
     * create deliveries leased to itself (lease_owner): it learns of them
     * from that list, at no read, and nothing else hands them over before
     * their lease runs out (the group commit's hand-off to the local
     * dispatcher, commit.h). */
    bool ingest_hands_off;
    /* The earliest time at which claim_due could return something (INT64_MAX
     * when nothing is pending). */
    int (*next_due)(struct store *s, int64_t *at);
    /* Records attempts and applies their outcomes in one transaction, then
     * ingests emit[] (operational events) in the same transaction. A result
     * whose delivery is no longer leased to owner still logs its attempt but
     * leaves the delivery's state alone. Updates each webhook's
     * last_execution_at and failing_since. */
    int (*record)(struct store *s, const char *owner, const struct store_result *r, size_t n,
                  struct store_ingest *emit, size_t n_emit);
    /* Gives back deliveries leased to owner that it chose not to send yet
     * (it claimed more for one webhook than that webhook can take soon):
     * each becomes pending, due at its until, with no attempt counted.
     * Rows no longer under the claim's lease (owner and lease_until) are
     * left alone: a deferral that arrives after its lease ran out must not
     * free a row claimed again since, by another node or by owner itself,
     * whose attempt may be in flight. Without this, a slow
     * webhook's surplus would stay leased until the lease ran out and then
     * come back first in line, ahead of every healthy webhook's work. */
    int (*defer)(struct store *s, const char *owner, const struct store_deferral *d, size_t n,
                 int64_t now);
    /* Gives owner's in-flight deliveries back (pending, due now). */
    int (*release)(struct store *s, const char *owner, int64_t now);
    /* Makes one delivery pending and due now (resend). HERALD_ECONFLICT when
     * it is in flight. */
    int (*delivery_retry)(struct store *s, const char *account_id, const char *id, int64_t now);
    /* Makes the webhook's failed deliveries created in [since, until) pending
     * and due now; *count says how many. */
    int (*recover)(struct store *s, const char *account_id, const char *webhook_id, int64_t since,
                   int64_t until, int64_t now, int64_t *count);

    int (*attempt_list)(struct store *s, const char *account_id,
                        const struct store_attempt_query *q, struct store_attempt **out, size_t *n,
                        int64_t *total);

    int (*stats)(struct store *s, struct store_stats *out);
    /* The account's attempts with started_at >= since, grouped in buckets of
     * bucket_ms (start = started_at - started_at % bucket_ms), oldest first,
     * empty buckets omitted. */
    int (*attempt_series)(struct store *s, const char *account_id, int64_t since, int64_t bucket_ms,
                          struct store_bucket **out, size_t *n);

    /* Cross-node wake-ups (PostgreSQL LISTEN/NOTIFY). Optional: NULL in a
     * backend whose writers all live in this process (SQLite), where the
     * committer wakes the dispatcher directly. notify_fd returns a file
     * descriptor that becomes readable when any node committed deliveries
     * that may be due now (or -1 while disconnected); notify_consume reads
     * and discards the pending notifications. Both are called from the
     * dispatcher thread only. */
    int (*notify_fd)(struct store *s);
    void (*notify_consume)(struct store *s);
};

struct store {
    const struct store_ops *ops;
    void *impl;
};

/* Opens the backend the URL names: "postgres://…"/"postgresql://…" for
 * PostgreSQL, "sqlite:PATH" or a plain path for SQLite. Creates the schema
 * or migrates it. pool sizes the connection pool. On failure *out is NULL
 * and a log line says why. */
int store_open(const char *url, int pool, struct store **out);
/* Closes connections and frees s; NULL is fine. */
void store_close(struct store *s);

/* Backend constructors, used by store_open. */
int store_sqlite_open(const char *path, int pool, struct store **out);
int store_postgres_open(const char *url, int pool, struct store **out);

/* Helpers for arrays returned by list calls. */
void store_webhooks_free(struct store_webhook *w, size_t n);
void store_events_free(struct store_event *e, size_t n);
void store_attempts_free(struct store_attempt *a, size_t n);
void store_event_types_free(struct store_event_type *t, size_t n);

#endif
