/* libFuzzer target for webhook_apply (src/api/validate.c): every field of
 * a webhook create or update body, as JSON and as a form, through the
 * same parsers the API uses (req_object: the strict scanner, no \u0000
 * escape, then cJSON; or form.c), in dev mode and in the default strict
 * mode (https only). An accepted webhook must satisfy what the rest of
 * herald relies on: a stored URL that validate_url accepts in the same
 * mode, the documented ranges, events and headers as valid JSON text, a
 * secret; a refused one must answer as the API does (resp_verr): a 422
 * error in the API's one shape, in UTF-8, that says why; where the
 * verdict's field and message are valid UTF-8 already, exactly them. */
#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/form.h"
#include "api/jsonspan.h"
#include "api/validate.h"
#include "core/config.h"
#include "fake_api.h"
#include "store/store.h"

static struct herald_config dev, strict;

static bool known(void *arg, const char *name)
{
    (void)arg;
    return strcmp(name, "custom.type") == 0;
}

static void check(const struct store_webhook *w, const struct herald_config *cfg)
{
    struct verr e = {0};
    if (!w->name || !w->description || !w->url || !w->events || !w->headers || !w->secret ||
        !w->secret[0])
        abort();
    if (!validate_url(w->url, cfg, &e))
        abort();
    if (w->max_attempts < 1 || w->max_attempts > WEBHOOK_MAX_ATTEMPTS_MAX || w->max_in_flight < 1 ||
        w->max_in_flight > WEBHOOK_MAX_IN_FLIGHT_MAX || w->rate_limit < 0 ||
        w->rate_limit > WEBHOOK_RATE_LIMIT_MAX)
        abort();
    if (!json_valid(w->events, strlen(w->events)) || !json_valid(w->headers, strlen(w->headers)))
        abort();
    if (!utf8_valid(w->name, strlen(w->name)) ||
        !utf8_valid(w->description, strlen(w->description)))
        abort();
}

/* The answer to a refused body, as the handlers send it. */
static void check_refusal(const struct verr *e)
{
    struct api_resp rs = {0};
    resp_verr(&rs, e);
    char field[sizeof e->field];
    fake_check_error(&rs, field, sizeof field); /* shape, UTF-8, a message */
    if (rs.status != HTTP_UNPROCESSABLE)
        abort();
    cJSON *doc = fake_answer_json(&rs);
    const cJSON *msg =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "error"), "message");
    if (utf8_valid(e->field, strlen(e->field)) && strcmp(field, e->field) != 0)
        abort();
    if (utf8_valid(e->message, strlen(e->message)) && strcmp(msg->valuestring, e->message) != 0)
        abort();
    cJSON_Delete(doc);
    resp_release(&rs);
}

static void apply(const cJSON *body, bool from_form, const struct herald_config *cfg)
{
    struct webhook_ctx ctx = {.cfg = cfg, .type_known = known, .now = 1700000000000LL};
    struct verr e = {0};
    struct store_webhook w;
    webhook_defaults(&w);
    if (webhook_apply(body, from_form, true, &ctx, &w, &e)) {
        check(&w, cfg);
        /* The same body again, as an update of what it made. */
        struct verr e2 = {0};
        if (webhook_apply(body, from_form, false, &ctx, &w, &e2))
            check(&w, cfg);
        else
            check_refusal(&e2);
    } else {
        check_refusal(&e);
    }
    store_webhook_release(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) {
        init = 1;
        config_defaults(&dev);
        dev.dev = true;
        config_defaults(&strict);
    }
    const char *s = (const char *)data;
    /* As req_object reads a JSON body: strict JSON without \u0000 first. */
    cJSON *doc = json_valid(s, size) && json_find_nul_escape(s, size, 0) < 0
                     ? cJSON_ParseWithLength(s, size)
                     : NULL;
    if (cJSON_IsObject(doc)) {
        apply(doc, false, &dev);
        apply(doc, false, &strict);
    }
    cJSON_Delete(doc);
    cJSON *form = NULL;
    const char *why = NULL;
    if (form_parse(s, size, &form, &why) == 0) {
        apply(form, true, &dev);
        apply(form, true, &strict);
    }
    cJSON_Delete(form);
    return 0;
}
