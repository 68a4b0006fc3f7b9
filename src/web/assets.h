/*
 * assets.h — the dashboard files, embedded at build time by
 * cmake/embed.cmake from src/web/static/. The table ends with a NULL path.
 */
#ifndef HERALD_WEB_ASSETS_H
#define HERALD_WEB_ASSETS_H

#include <stddef.h>

struct web_asset {
    const char *path; /* "/index.html" */
    const unsigned char *data;
    size_t len;
};

extern const struct web_asset web_assets[];

#endif
