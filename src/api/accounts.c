/* accounts.c — who am I, and the admin-only accounts and keys routes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/keycache.h"
#include "api/handlers.h"
#include "api/keys.h"
#include "core/err.h"
#include "core/util.h"
#include "store/store.h"

void api_me(struct api_req *rq, struct api_resp *rs)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "account_id", rq->auth.account_id);
    cJSON_AddStringToObject(doc, "key_id", rq->auth.key_id);
    cJSON_AddStringToObject(doc, "role", rq->auth.admin ? "admin" : "account");
    resp_json(rs, HTTP_OK, doc);
}

static cJSON *account_json(const struct store_account *a)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", a->id);
    cJSON_AddStringToObject(o, "name", a->name);
    json_add_time(o, "created_at", a->created_at);
    return o;
}

static cJSON *key_json(const char *id, const char *key, const char *role, const char *account_id)
{
    cJSON *o = cJSON_CreateObject();
    char prefix[9];
    snprintf(prefix, sizeof prefix, "%s", key);
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddStringToObject(o, "key", key);
    cJSON_AddStringToObject(o, "prefix", prefix);
    cJSON_AddStringToObject(o, "role", role);
    cJSON_AddStringToObject(o, "account_id", account_id);
    return o;
}

void api_account_list(struct api_req *rq, struct api_resp *rs)
{
    struct store *s = rq->h->store;
    struct store_account *list = NULL;
    size_t n = 0;
    int64_t total = 0;
    int page, count;
    if (!req_paging(rq, rs, &page, &count))
        return;
    int rc = s->ops->account_list(s, page, count, &list, &n, &total);
    if (rc) {
        resp_store_error(rs, rc, "account");
        return;
    }
    cJSON *items = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(items, account_json(&list[i]));
    free(list);
    resp_json(rs, HTTP_OK, json_list(items, total, page, count));
}

void api_account_get(struct api_req *rq, struct api_resp *rs)
{
    struct store *s = rq->h->store;
    struct store_account a;
    const char *id = req_id(rq, rs, 0, "acct", "account");
    if (!id)
        return;
    int rc = s->ops->account_get(s, id, &a);
    if (rc) {
        resp_store_error(rs, rc, "account");
        return;
    }
    resp_json(rs, HTTP_OK, account_json(&a));
}

void api_account_create(struct api_req *rq, struct api_resp *rs)
{
    static const char *const fields[] = {"name", NULL};
    struct store *s = rq->h->store;
    cJSON *body = NULL;
    const char *name;
    struct verr e;
    if (!req_object(rq, rs, true, &body, NULL) || !req_known_fields(body, fields, rs) ||
        !req_string(body, "name", &name, rs))
        goto out;
    if (!validate_text(name ? name : "", "name", 1, STORE_NAME_MAX - 1, false, &e)) {
        resp_verr(rs, &e);
        goto out;
    }
    if (strlen(name) >= STORE_NAME_MAX) { /* many multi-byte characters */
        resp_error(rs, HTTP_UNPROCESSABLE, "validation_failed", "name", "name is too long");
        goto out;
    }
    struct store_account a = {.created_at = rq->now};
    id_new(a.id, "acct", rq->now);
    str_copy(a.name, sizeof a.name, name);
    int rc = s->ops->account_create(s, &a);
    if (rc) {
        resp_store_error(rs, rc, "account");
        goto out;
    }
    char key[API_KEY_MAX], key_id[HERALD_ID_MAX];
    rc = api_key_new(s, a.id, "account", NULL, key, key_id);
    if (rc) {
        resp_store_error(rs, rc, "key");
        goto out;
    }
    cJSON *doc = account_json(&a);
    cJSON_AddItemToObject(doc, "api_key", key_json(key_id, key, "account", a.id));
    resp_json(rs, HTTP_CREATED, doc);
    explicit_bzero(key, sizeof key);
out:
    cJSON_Delete(body);
}

void api_key_create(struct api_req *rq, struct api_resp *rs)
{
    static const char *const fields[] = {"role", NULL};
    struct store *s = rq->h->store;
    cJSON *body = NULL;
    const char *role;
    const char *id = req_id(rq, rs, 0, "acct", "account");
    if (!id || !req_object(rq, rs, true, &body, NULL) || !req_known_fields(body, fields, rs) ||
        !req_string(body, "role", &role, rs))
        goto out;
    if (!role)
        role = "account";
    if (strcmp(role, "account") != 0 && strcmp(role, "admin") != 0) {
        resp_error(rs, HTTP_UNPROCESSABLE, "validation_failed", "role",
                   "role must be \"account\" or \"admin\"");
        goto out;
    }
    struct store_account a;
    int rc = s->ops->account_get(s, id, &a);
    if (rc) {
        resp_store_error(rs, rc, "account");
        goto out;
    }
    char key[API_KEY_MAX], key_id[HERALD_ID_MAX];
    rc = api_key_new(s, a.id, role, NULL, key, key_id);
    if (rc) {
        resp_store_error(rs, rc, "key");
        goto out;
    }
    cJSON *doc = key_json(key_id, key, role, a.id);
    json_add_time(doc, "created_at", rq->now);
    resp_json(rs, HTTP_CREATED, doc);
    explicit_bzero(key, sizeof key);
out:
    cJSON_Delete(body);
}

void api_key_revoke(struct api_req *rq, struct api_resp *rs)
{
    struct store *s = rq->h->store;
    const char *id = req_id(rq, rs, 0, "key", "key");
    if (!id)
        return;
    int rc = s->ops->key_revoke(s, id, rq->now);
    if (rc) {
        resp_store_error(rs, rc, "key");
        return;
    }
    keycache_forget(id); /* at once on this node; other nodes within its TTL */
    resp_empty(rs, HTTP_NO_CONTENT);
}
