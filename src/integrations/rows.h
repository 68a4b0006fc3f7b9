/*
 * rows.h — the "rows" payload format: an event as one flat object, for
 * endpoints that append it to a table (a Google Sheets Apps Script web
 * app, Airtable, a spreadsheet import).
 *
 *   {"id":"evt_…","type":"post.published","timestamp":"2025-10-05T14:30:00.000Z",
 *    "data.post_id":"post_abc123","data.platforms":"[\"instagram\",\"x\"]",
 *    "data.urls.instagram":"https://…","data.urls.x":"https://…"}
 *
 * Rules, chosen so a sheet's columns stay the same from one event of a type
 * to the next:
 *  - nested objects are flattened with dotted keys, "data." + the path;
 *  - arrays (and empty objects) are not split into columns: their value is
 *    their compact JSON text, as a string (a sheet cell holds it, and
 *    JSON.parse gives it back), so one more platform is not one more column;
 *  - strings, numbers, true, false and null keep their JSON form, the bytes
 *    as published (numbers are never re-formatted);
 *  - data that is not an object is the single column "data" (its JSON text
 *    as a string when it is an array);
 *  - keys are not deduplicated: a published key that contains a dot can
 *    collide with a nested path ({"a.b":1,"a":{"b":2}}); both are sent, in
 *    order, and JSON parsers keep the last.
 *
 * As a form (content type application/x-www-form-urlencoded) the same
 * pairs are sent as form fields: id=…&type=…&data.post_id=…; string values
 * decoded, null as an empty value, numbers and booleans as their JSON text.
 */
#ifndef HERALD_INTEGRATIONS_ROWS_H
#define HERALD_INTEGRATIONS_ROWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* Appends the rows rendering of one event to out: a JSON object, or form
 * fields when form is set. data[0..data_len) is the event's data as
 * published (strict JSON; anything else is sent as the string "data").
 * created_at is the event's time in ms. Returns 0, HERALD_ETOOBIG past
 * out's cap, or HERALD_ENOMEM; out may then hold a partial rendering. */
int rows_render(const char *event_id, const char *event_type, int64_t created_at, const char *data,
                size_t data_len, bool form, struct buf *out);

#endif
