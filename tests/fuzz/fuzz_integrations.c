/* libFuzzer target for src/integrations: the rows payload (JSON and form)
 * and the Slack and Discord messages, fed any bytes as event data. Checks
 * beyond "no crash, no leak": the rows JSON of valid data is one flat JSON
 * object, and every chat message is valid JSON with valid UTF-8 when the
 * data was strict JSON (which is all herald ever stores). */
#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/jsonspan.h"
#include "api/validate.h"
#include "integrations/chat.h"
#include "integrations/rows.h"

static const char *const types[] = {
    "post.published",        "post.failed",        "analytics.milestone", "analytics.updated",
    "account.token_expired", "delivery.exhausted", "webhook.disabled",    "custom.type"};

static void check_rows(const char *s, size_t n, bool valid)
{
    for (int form = 0; form < 2; form++) {
        struct buf b;
        buf_init(&b, 64 * n + 65536);
        int rc = rows_render("evt_1", "t.x", 0, s, n, form, &b);
        if (rc == 0 && !form && valid) {
            cJSON *o = cJSON_Parse(b.data);
            if (!cJSON_IsObject(o))
                abort();
            const cJSON *it;
            cJSON_ArrayForEach(it, o)
            {
                if (cJSON_IsObject(it) || cJSON_IsArray(it))
                    abort();
            }
            cJSON_Delete(o);
        }
        buf_release(&b);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *type = types[data[0] % (sizeof types / sizeof types[0])];
    size_t n = size - 1;
    char *s = malloc(n ? n : 1); /* exactly n bytes: ASan sees overreads */
    if (!s)
        return 0;
    memcpy(s, data + 1, n);
    bool valid = json_valid(s, n) && utf8_valid(s, n);
    check_rows(s, n, valid);
    for (int k = 0; k < 2; k++) {
        struct buf b;
        buf_init(&b, 1 << 20);
        int rc = chat_render((enum chat_kind)k, "evt_1", type, 0, s, n, &b);
        if (rc == 0 && valid) {
            cJSON *o = cJSON_Parse(b.data);
            if (!cJSON_IsObject(o) || !utf8_valid(b.data, b.len))
                abort();
            cJSON_Delete(o);
        }
        buf_release(&b);
    }
    free(s);
    return 0;
}
