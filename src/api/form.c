/* form.c — the form body parser (see form.h). */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "api/form.h"
#include "api/validate.h"
#include "core/err.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes s[0..n) into a new NUL-terminated string. The size comes from
 * the request, so the allocation may fail gracefully. */
static int decode(const char *s, size_t n, char **out, size_t *out_len, const char **why)
{
    char *d = malloc(n + 1);
    size_t k = 0;
    if (!d) {
        *why = "out of memory";
        return HERALD_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi = n - i > 2 ? hexval(s[i + 1]) : -1;
            int lo = n - i > 2 ? hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                *why = "malformed percent-escape";
                goto fail;
            }
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        if (c == '\0') {
            *why = "NUL byte in a form field";
            goto fail;
        }
        d[k++] = c;
    }
    d[k] = '\0';
    if (!utf8_valid(d, k)) {
        *why = "form field is not UTF-8";
        goto fail;
    }
    *out = d;
    *out_len = k;
    return 0;
fail:
    free(d);
    return HERALD_EINVAL;
}

/* Makes obj[name] an array, turning a lone string into the first element. */
static cJSON *as_array(cJSON *obj, const char *name, const char **why)
{
    cJSON *cur = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (cJSON_IsArray(cur))
        return cur;
    if (cur && !cJSON_IsString(cur)) {
        *why = "form field given both as a value and as an object";
        return NULL;
    }
    cJSON *arr = cJSON_CreateArray();
    if (!arr) {
        *why = "out of memory";
        return NULL;
    }
    if (!cur) {
        cJSON_AddItemToObject(obj, name, arr);
        return arr;
    }
    /* Replaced in place, so fields keep the order they came in. */
    cJSON *first = cJSON_CreateString(cur->valuestring);
    if (!first) {
        cJSON_Delete(arr);
        *why = "out of memory";
        return NULL;
    }
    cJSON_AddItemToArray(arr, first);
    cJSON_ReplaceItemInObjectCaseSensitive(obj, name, arr);
    return arr;
}

/* Adds one decoded pair to obj according to the shape of its name. */
static int put(cJSON *obj, char *name, size_t name_len, const char *value, const char **why)
{
    cJSON *v = cJSON_CreateString(value);
    if (!v) {
        *why = "out of memory";
        return HERALD_ENOMEM;
    }
    char *open = memchr(name, '[', name_len);
    if (name_len > 2 && open == name + name_len - 2 && name[name_len - 1] == ']') {
        *open = '\0'; /* "e[]": always a list */
        cJSON *arr = as_array(obj, name, why);
        if (!arr)
            goto fail;
        cJSON_AddItemToArray(arr, v);
        return 0;
    }
    if (open && open != name && name[name_len - 1] == ']' && open + 1 < name + name_len - 1) {
        *open = '\0'; /* "h[sub]": an object member */
        name[name_len - 1] = '\0';
        const char *sub = open + 1;
        cJSON *o = cJSON_GetObjectItemCaseSensitive(obj, name);
        if (!o) {
            if (!(o = cJSON_CreateObject())) {
                *why = "out of memory";
                goto fail;
            }
            cJSON_AddItemToObject(obj, name, o);
        } else if (!cJSON_IsObject(o)) {
            *why = "form field given both as a value and as an object";
            goto fail;
        }
        if (cJSON_GetObjectItemCaseSensitive(o, sub)) {
            *why = "form object member repeated";
            goto fail;
        }
        cJSON_AddItemToObject(o, sub, v);
        return 0;
    }
    cJSON *cur = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!cur) {
        cJSON_AddItemToObject(obj, name, v);
        return 0;
    }
    cJSON *arr = as_array(obj, name, why);
    if (!arr)
        goto fail;
    cJSON_AddItemToArray(arr, v);
    return 0;
fail:
    cJSON_Delete(v);
    return HERALD_EINVAL;
}

static int parse_pair(cJSON *obj, const char *p, size_t n, const char **why)
{
    const char *eq = memchr(p, '=', n);
    size_t klen = eq ? (size_t)(eq - p) : n;
    char *name = NULL, *value = NULL;
    size_t name_len, value_len;
    int rc = decode(p, klen, &name, &name_len, why);
    if (rc)
        goto out;
    rc = HERALD_EINVAL;
    if (name_len == 0) {
        *why = "empty form field name";
        goto out;
    }
    if (name_len > FORM_MAX_NAME) {
        *why = "form field name too long";
        goto out;
    }
    if (eq)
        rc = decode(eq + 1, n - klen - 1, &value, &value_len, why);
    else
        rc = (value = strdup("")) ? 0 : HERALD_ENOMEM;
    if (rc)
        goto out;
    rc = put(obj, name, name_len, value, why);
out:
    free(name);
    free(value);
    return rc;
}

int form_parse(const char *s, size_t len, cJSON **out, const char **why)
{
    cJSON *obj = cJSON_CreateObject();
    size_t fields = 0;
    int rc = HERALD_ENOMEM;
    *out = NULL;
    *why = "out of memory";
    if (!obj)
        goto fail;
    size_t i = 0;
    while (i < len) {
        const char *amp = memchr(s + i, '&', len - i);
        size_t n = amp ? (size_t)(amp - (s + i)) : len - i;
        if (n > 0) {
            if (++fields > FORM_MAX_FIELDS) {
                *why = "too many form fields";
                rc = HERALD_EINVAL;
                goto fail;
            }
            if ((rc = parse_pair(obj, s + i, n, why)) != 0)
                goto fail;
        }
        i += n + 1;
    }
    *out = obj;
    return 0;
fail:
    cJSON_Delete(obj);
    return rc;
}
