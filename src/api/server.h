/*
 * server.h — the HTTP API (libmicrohttpd) and the dashboard.
 */
#ifndef HERALD_API_SERVER_H
#define HERALD_API_SERVER_H

#include "app.h"

struct api_server;

/* Starts listening on h->cfg.listen_host:listen_port. */
int api_start(struct api_server **out, struct herald *h);

/* Stops accepting, finishes running requests, frees. NULL is fine. */
void api_stop(struct api_server *srv);

#endif
