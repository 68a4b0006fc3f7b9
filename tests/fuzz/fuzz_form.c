/* libFuzzer target for src/api/form.c: no crash, no leak, no read past
 * len, and every value it produces is a UTF-8 string without NUL. */
#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/form.h"
#include "api/validate.h"

static void check(const cJSON *v)
{
    if (cJSON_IsString(v)) {
        if (!utf8_valid(v->valuestring, strlen(v->valuestring)))
            abort();
        return;
    }
    if (!cJSON_IsArray(v) && !cJSON_IsObject(v))
        abort();
    const cJSON *it;
    cJSON_ArrayForEach(it, v)
    {
        check(it);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size ? size : 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    cJSON *o = NULL;
    const char *why = NULL;
    int rc = form_parse(s, size, &o, &why);
    if (rc == 0) {
        if (!cJSON_IsObject(o))
            abort();
        check(o);
    } else if (o || !why) {
        abort();
    }
    cJSON_Delete(o);
    free(s);
    return 0;
}
