/*
 * server.h — the HTTP API (libmicrohttpd) and the dashboard.
 */
#ifndef HERALD_API_SERVER_H
#define HERALD_API_SERVER_H

#include "app.h"

struct api_server;

/* The most API connections a node takes (--max-connections): the HTTP
 * server runs a loop thread per 125 connections (server.c) and stops at
 * 64 of them. */
#define API_MAX_CONNECTIONS 8000

/* Starts listening on h->cfg.listen_host:listen_port. */
int api_start(struct api_server **out, struct herald *h);

/* The TCP port actually bound: listen_port, or the one the system chose
 * when listen_port is 0 (tests). 0 for NULL. */
int api_port(const struct api_server *srv);

/* Stops accepting, finishes running requests, frees. NULL is fine. */
void api_stop(struct api_server *srv);

#endif
