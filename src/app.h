/*
 * app.h — the parts of one running herald process, wired by main.c and
 * handed to the API server. Every pointer is owned by main.c; the parts
 * only borrow each other.
 */
#ifndef HERALD_APP_H
#define HERALD_APP_H

#include "core/config.h"

struct store;
struct committer;
struct dispatcher;

struct herald {
    struct herald_config cfg;
    struct store *store;
    struct committer *committer;
    struct dispatcher *dispatcher;
};

#endif
