/*
 * lane.h — a sending thread: a libcurl multi handle on an epoll loop of its
 * own, fed easy handles by the dispatcher's loop and handing them back
 * finished. Each lane has its own connection pool.
 *
 * The dispatcher's loop thread decides everything (which delivery, when,
 * under which caps) and builds each request; a transfer's libcurl and
 * kernel work, most of a delivery's CPU on the network side, is what a
 * lane takes off it, so that on a machine with a spare core the
 * sending is no longer one thread's. The loop drives a multi of its own
 * too; a lane is an extra one.
 *
 * Ownership. An easy handle submitted belongs to the lane until it comes
 * back through lane_collect(): the submitter must not touch it, nor
 * anything its callbacks write to, meanwhile. A handle that sockreg_attach
 * tied to a lane (lane_socks) must only ever be submitted to that lane:
 * the connections it opens live in the lane's multi and are closed through
 * the lane's socket registry.
 *
 * Threads. lane_submit and lane_collect may be called from any one thread
 * (the owner); the lane's own thread does the rest. The owner learns that
 * handles came back from a write to notify_fd (an eventfd it watches).
 */
#ifndef HERALD_DISPATCH_LANE_H
#define HERALD_DISPATCH_LANE_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "dispatch/sockets.h"

struct lane;

/* A finished transfer: the handle, already removed from the lane's multi,
 * libcurl's result (CURLE_OUT_OF_MEMORY when the lane could not even add
 * it), and when the lane saw it end (clock_mono_ms()), since the owner
 * collects it later. */
struct lane_done {
    CURL *easy;
    CURLcode rc;
    int64_t ended_mono;
};

/* Removes every transfer that finished in multi (curl_multi_info_read) and
 * appends it to *v (*n entries, capacity *cap, grown as needed), stamped
 * with the time now. Returns how many it appended. For a lane's multi and
 * for the owner's own alike, from the thread that drives that multi. */
size_t lane_reap(CURLM *multi, struct lane_done **v, size_t *n, size_t *cap);

/* Starts a lane thread named name (at most 15 bytes). notify_fd is the
 * owner's eventfd, written when handles come back; maxconnects is the
 * multi's CURLMOPT_MAXCONNECTS. Returns 0, HERALD_EIO or HERALD_ENOMEM
 * (*out NULL). */
int lane_start(struct lane **out, const char *name, int notify_fd, long maxconnects);

/* The registry the lane's connections are kept in: sockreg_attach each easy
 * handle meant for this lane to it once, before its first submit. */
struct sockreg *lane_socks(struct lane *l);

/* Hands n easy handles (configured, in no multi) to the lane, which adds
 * them to its multi. Never blocks on the network. */
void lane_submit(struct lane *l, CURL *const *easy, size_t n);

/* Moves every handle that came back since the last call into *out (grown
 * as needed; *cap its capacity, the caller frees it) and returns how many. */
size_t lane_collect(struct lane *l, struct lane_done **out, size_t *cap);

/* Stops and joins the lane's thread, after which no libcurl call runs on
 * the lane's multi: the owner may then clean up the lane's easy handles,
 * before lane_free (libcurl's advised order). Call only with no handle
 * submitted and not yet collected. Idempotent; NULL is fine. */
void lane_stop(struct lane *l);

/* Stops the lane (lane_stop) and frees it; its multi's pooled connections
 * are closed through lane_socks. NULL is fine. */
void lane_free(struct lane *l);

#endif
