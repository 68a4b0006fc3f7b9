/*
 * auth.h — who is calling.
 *
 * Keys come as "Authorization: Bearer <key>" or, as seed 004's `curl -u
 * ACCOUNT_ID:API_KEY` sends them, "Basic base64(account_id:key)". A key is
 * looked up by its SHA-256 (the store never sees it in clear) and must not
 * be revoked. Every query is then scoped to the key's account. An admin key
 * may act on another account with "Herald-Account: acct_…" (or by naming
 * it as the Basic user); a non-admin key naming another account is refused.
 */
#ifndef HERALD_API_AUTH_H
#define HERALD_API_AUTH_H

#include <stdbool.h>

#include "api/http.h"

/* Fills rq->auth from the request's credentials. On failure answers 401
 * (with WWW-Authenticate) for a missing or wrong key, 403 when admin_only
 * and the key is not an admin's or when a non-admin key names another
 * account, 404 when Herald-Account names no account, 503 when the store
 * cannot answer; then returns false. Never logs the key. */
bool auth_request(struct api_req *rq, struct api_resp *rs, bool admin_only);

#endif
