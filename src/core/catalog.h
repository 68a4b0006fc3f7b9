/*
 * catalog.h — the built-in event types: every event the seeds name, with
 * their sample payloads, plus herald's operational events. Account-defined
 * types live in the store; this table is compiled in and read-only.
 */
#ifndef HERALD_CORE_CATALOG_H
#define HERALD_CORE_CATALOG_H

#include <stddef.h>

struct catalog_entry {
    const char *name;
    const char *description;
    const char *sample; /* JSON text of a sample `data` object */
};

extern const struct catalog_entry catalog[];
extern const size_t catalog_len;

/* The built-in entry with this exact name, or NULL. */
const struct catalog_entry *catalog_find(const char *name);

#endif
