/*
 * form.h — application/x-www-form-urlencoded request bodies.
 *
 * Create and update routes accept form bodies as well as JSON (seed 004
 * uses `curl -d name=… -d isEnabled=1`). The parser turns a form into the
 * same cJSON object a JSON body gives, so handlers validate one shape:
 *
 *   a=1&b=x+y           {"a":"1","b":"x y"}
 *   e=x&e=y             {"e":["x","y"]}      repeated keys make a list
 *   e[]=x               {"e":["x"]}          "[]" makes a list even of one
 *   h[X-Team]=core      {"h":{"X-Team":"core"}}
 *   flag                {"flag":""}
 *
 * Every value is a string; the validator converts numbers and booleans.
 * '+' is a space and %XX a byte. Refused (HERALD_EINVAL, *why says what):
 * a malformed escape, a NUL byte, bytes that are not UTF-8, an empty name,
 * a name used both as a value and as an object, a repeated object member,
 * more than FORM_MAX_FIELDS pairs, a name longer than FORM_MAX_NAME bytes.
 */
#ifndef HERALD_API_FORM_H
#define HERALD_API_FORM_H

#include <cjson/cJSON.h>
#include <stddef.h>

#define FORM_MAX_FIELDS 1000
#define FORM_MAX_NAME 256

/* Parses s[0..len) (no NUL needed). On success *out is a new object the
 * caller frees with cJSON_Delete; on failure *out is NULL and *why is a
 * static message. Returns 0, HERALD_EINVAL or HERALD_ENOMEM. */
int form_parse(const char *s, size_t len, cJSON **out, const char **why);

#endif
