/*
 * handlers.h — one function per route (router.c's table). Each reads the
 * request, talks to the store through h->store->ops, and fills the
 * response; none keeps state between requests. The two ingest handlers
 * never block: they answer with a pending commit (http.h, api_pending),
 * and their routes say so (router.h, ROUTE_COMMITS) so server.c can run
 * them on its event loop.
 */
#ifndef HERALD_API_HANDLERS_H
#define HERALD_API_HANDLERS_H

#include "api/http.h"

/* health.c */
void api_healthz(struct api_req *rq, struct api_resp *rs);
void api_readyz(struct api_req *rq, struct api_resp *rs);
void api_openapi(struct api_req *rq, struct api_resp *rs);
void api_metrics(struct api_req *rq, struct api_resp *rs);
/* Serves an embedded dashboard file for GET path; false when none. */
bool api_asset(const char *path, struct api_resp *rs);

/* accounts.c */
void api_me(struct api_req *rq, struct api_resp *rs);
void api_stats(struct api_req *rq, struct api_resp *rs);
void api_account_list(struct api_req *rq, struct api_resp *rs);
void api_account_create(struct api_req *rq, struct api_resp *rs);
void api_account_get(struct api_req *rq, struct api_resp *rs);
void api_key_create(struct api_req *rq, struct api_resp *rs);
void api_key_revoke(struct api_req *rq, struct api_resp *rs);

/* webhooks.c */
void api_webhook_create(struct api_req *rq, struct api_resp *rs);
void api_webhook_list(struct api_req *rq, struct api_resp *rs);
void api_webhook_get(struct api_req *rq, struct api_resp *rs);
void api_webhook_update(struct api_req *rq, struct api_resp *rs);
void api_webhook_delete(struct api_req *rq, struct api_resp *rs);
void api_webhook_secret(struct api_req *rq, struct api_resp *rs);
void api_webhook_rotate(struct api_req *rq, struct api_resp *rs);
void api_webhook_recover(struct api_req *rq, struct api_resp *rs);

/* deliveries.c */
void api_webhook_test(struct api_req *rq, struct api_resp *rs);
void api_webhook_log(struct api_req *rq, struct api_resp *rs);
void api_delivery_get(struct api_req *rq, struct api_resp *rs);
void api_delivery_retry(struct api_req *rq, struct api_resp *rs);

/* events.c */
void api_event_publish(struct api_req *rq, struct api_resp *rs);
void api_event_batch(struct api_req *rq, struct api_resp *rs);
void api_event_list(struct api_req *rq, struct api_resp *rs);
void api_event_get(struct api_req *rq, struct api_resp *rs);

/* event_types.c */
void api_event_type_list(struct api_req *rq, struct api_resp *rs);
void api_event_type_create(struct api_req *rq, struct api_resp *rs);
void api_event_type_get(struct api_req *rq, struct api_resp *rs);
/* The type_known_fn for validate.h: is name one of rq's account's types?
 * arg is the struct api_req. A store failure counts as unknown. */
bool api_account_type_known(void *arg, const char *name);

/* Shared JSON shapes. */
cJSON *webhook_json(const struct store_webhook *w, bool with_secret);
/* One attempt as the log shows it; with_payload adds the body sent. */
cJSON *attempt_json(const struct store_attempt *a, bool with_payload);
/* A delivery with its attempts (n of them, in order). */
cJSON *delivery_json(const struct store_delivery *d, const struct store_attempt *a, size_t n);

#endif
