/*
 * validate.h — checking what clients send before it reaches the store.
 *
 * Every failed check fills a struct verr naming the field to blame and
 * saying why in a sentence a user can act on; the handler turns it into a
 * 422 {"error":{"code":"validation_failed","message":…,"field":…}}. Nothing
 * here touches the store directly: the one question that needs it (is this
 * event type one of the account's?) is asked through a callback, so the
 * rules can be tested on their own.
 */
#ifndef HERALD_API_VALIDATE_H
#define HERALD_API_VALIDATE_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "store/store.h"

/* Both texts may quote what the client sent cut to a size in bytes, so
 * they need not be valid UTF-8: resp_verr() (api/http.h) scrubs them on
 * the way out, as every error answer is. */
struct verr {
    char field[96];
    char message[256];
};

/* Fills e and returns false, so checks can end with `return verr_set(…)`. */
bool verr_set(struct verr *e, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Limits (DESIGN.md §3: every string length capped). Lengths of names and
 * descriptions count characters (code points); URLs are ASCII. */
#define WEBHOOK_NAME_MAX 200
#define WEBHOOK_DESCRIPTION_MAX 1000
#define WEBHOOK_URL_MAX 2048
#define WEBHOOK_EVENTS_MAX 100
#define WEBHOOK_HEADERS_MAX 20
#define WEBHOOK_HEADER_NAME_MAX 64
#define WEBHOOK_HEADER_VALUE_MAX 1024
#define WEBHOOK_MAX_ATTEMPTS_MAX 20
#define WEBHOOK_MAX_ATTEMPTS_DEFAULT 4
#define WEBHOOK_RATE_LIMIT_MAX 10000
#define WEBHOOK_MAX_IN_FLIGHT_MAX 256
#define WEBHOOK_MAX_IN_FLIGHT_DEFAULT 8
/* How long a rotated-out secret keeps signing. */
#define WEBHOOK_PREV_SECRET_MS (24LL * 3600 * 1000)

/* True when s[0..n) is well-formed UTF-8 (RFC 3629) without NUL bytes. */
bool utf8_valid(const char *s, size_t n);

/* Drops, in place, every byte of the NUL-terminated s that does not
 * belong to a well-formed UTF-8 sequence. Error messages quote what the
 * client sent cut to a size in bytes ("%.64s"), which can split a
 * character: scrubbed (by resp_error, which every error answer passes),
 * the answer stays UTF-8 and reads as a clean cut. */
void utf8_scrub(char *s);

/* Checks a free-text field: UTF-8, min..max characters (code points), and
 * no control characters except, when multiline, tab, CR and LF. */
bool validate_text(const char *s, const char *field, size_t min, size_t max, bool multiline,
                   struct verr *e);

/* True when port is refused as a webhook destination. The list is the
 * Fetch standard's "bad ports" (services that speak line protocols a
 * crafted HTTP request could drive: SMTP, IRC, FTP, …) plus common
 * datastores and control planes that should never receive webhooks (SQL
 * servers, Redis, memcached, etcd, Docker, Kubernetes, Elasticsearch,
 * MongoDB). 0 is always refused. */
bool port_denied(long port);

/* Checks a webhook callback URL (field "url"): absolute http or https
 * (parsed with libcurl's URL API, the parser that will send to it), ASCII
 * without whitespace or control characters, at most WEBHOOK_URL_MAX bytes,
 * a host, no userinfo, no IPv6 zone, an explicit port (if any) in 1–65535
 * and not port_denied(). Plain http only when cfg->dev is set or the host
 * is an IP literal inside an --allow-cidr range. Where the URL resolves is
 * checked again at connect time (the SSRF guard); this check is about
 * what may be stored. */
bool validate_url(const char *url, const struct herald_config *cfg, struct verr *e);

/* Checks custom headers: a JSON object of at most WEBHOOK_HEADERS_MAX
 * string members; names are RFC 7230 tokens of 1–64 characters, unique
 * regardless of case, and neither hop-by-hop nor framing headers
 * (Connection, Keep-Alive, Transfer-Encoding, TE, Trailer, Upgrade, Host,
 * Content-Length, Content-Type, Expect, Proxy-*), nor User-Agent (herald
 * sends its own, and the sender drops a custom one), nor signature headers
 * (webhook-*, anything containing "signature"); values are 1–1024
 * printable ASCII characters (no CR, LF or other control characters) that
 * neither start nor end with a space (the sender would drop it). When
 * from_form is set, v may also be a string holding such an object as JSON
 * text. On success *out_json is a new compact JSON object text (free()). */
bool validate_headers(const cJSON *v, bool from_form, struct verr *e, char **out_json);

/* Checks a signature dialect's header name (signature_header,
 * timestamp_header): an RFC 9110 token of 1–64 characters that is none of
 * the headers herald sets or frames the request with (Content-Type,
 * Content-Length, User-Agent, Host, Expect, hop-by-hop ones, Proxy-*,
 * webhook-*). Unlike custom headers it may contain "signature". */
bool validate_dialect_header(const char *name, const char *field, struct verr *e);

/* Checks a secret for a signature scheme: "whsec_" + base64 of 16–64 bytes
 * for "standard"; for a dialect that or 8–256 printable ASCII characters
 * (sign/dialect.h), since migrating platforms bring their own secrets. */
bool validate_secret(const char *secret, const char *scheme, const char *field, struct verr *e);

/* Answers whether name is one of the account's own event types. */
typedef bool (*type_known_fn)(void *arg, const char *name);

/* True when name is a built-in catalog type or, when known is non-NULL,
 * one of the account's. */
bool event_type_known(const char *name, type_known_fn known, void *arg);

/* Checks a subscription list (field "events"): 1–WEBHOOK_EVENTS_MAX
 * entries, each "*", "prefix.*" (event_pattern_valid) or a known event type
 * name. When from_form is set, v may also be one string, split at commas.
 * Duplicates are dropped. On success *out_json is a new JSON array text. */
bool validate_events(const cJSON *v, bool from_form, type_known_fn known, void *arg,
                     const char *field, struct verr *e, char **out_json);

/* What webhook_apply needs besides the body. */
struct webhook_ctx {
    const struct herald_config *cfg;
    type_known_fn type_known; /* may be NULL: the built-in catalog only */
    void *arg;
    int64_t now;
};

/* Sets up w as a new webhook with every default (POST, application/json,
 * max_attempts 4, max_in_flight 8, enabled, kind webhook, scheme standard,
 * payload_format standard, headers {}, events [], description ""). Ids,
 * account and secret are left for the caller and webhook_apply. */
void webhook_defaults(struct store_webhook *w);

/* Applies a create or partial-update body onto w, checking every field as
 * DESIGN.md §3 says: name, description, url, method, content_type, events
 * (alias "event": one name), headers, max_attempts, rate_limit,
 * max_in_flight, enabled (aliases "isEnabled" and "status":
 * "active"/"inactive"), kind (webhook, slack, discord), signature_scheme
 * (standard, github, stripe, hex, timestamped-hex), payload_format
 * (standard, rows), signature_header and timestamp_header (null: the
 * scheme's default), secret. Then the rules between fields: slack and
 * discord webhooks are application/json, standard format and scheme; a
 * header name the final scheme does not use is refused when given and
 * cleared when stored; dialect headers differ from each other and from
 * the custom headers; the secret suits the scheme. Read-only fields
 * (id, account_id, created_at, modified_at, last_execution_at,
 * disabled_reason) are ignored, so a read object can be sent back; any
 * other field is refused by name. With create, name, url and events are
 * required and a missing or empty secret is generated; on update a new
 * secret replaces the current one, which keeps signing for 24 h. Setting
 * enabled clears disabled_reason. With from_form, values are the strings a
 * form gives ("4", "true"/"on"/"1"). On failure w may be partly changed:
 * the caller discards it. */
bool webhook_apply(const cJSON *body, bool from_form, bool create, const struct webhook_ctx *ctx,
                   struct store_webhook *w, struct verr *e);

/* Parses a boolean query or form value: true/false, 1/0, on/off, yes/no. */
bool parse_bool_text(const char *s, bool *out);

#endif
