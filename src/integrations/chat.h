/*
 * chat.h — events as chat messages, for webhooks of kind slack or discord.
 *
 * Such a webhook's URL is a Slack or Discord incoming-webhook URL; herald
 * POSTs a message a person can read instead of the event JSON: Slack's
 * {"text", "blocks"} (Block Kit) or Discord's {"content", "embeds"}. The
 * built-in event types have layouts of their own (post.published with its
 * links, post.failed with the error, analytics.milestone and
 * analytics.updated with the figures, account.token_expired with what to
 * do, delivery.exhausted and webhook.disabled for operators); every other
 * type gets a generic layout: the type, the event id, and the data's
 * top-level members.
 *
 * These are pure functions (no I/O, no clock, no globals), so the exact
 * output is pinned by golden files (tests/unit/golden/). Text taken from
 * event data is escaped so it cannot format or mention: Slack's &, <, >
 * (which also stops <!channel>), Discord's markdown characters, and
 * Discord messages carry "allowed_mentions": {"parse": []}, so an
 * "@everyone" in a payload pings nobody. Links are only made of http and
 * https URLs.
 */
#ifndef HERALD_INTEGRATIONS_CHAT_H
#define HERALD_INTEGRATIONS_CHAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

enum chat_kind { CHAT_SLACK, CHAT_DISCORD };

/* Maps a webhook kind ("slack", "discord") to a chat kind; false for
 * anything else (a plain "webhook"). */
bool chat_kind_parse(const char *kind, enum chat_kind *out);

/* Appends the message for one event to out as compact JSON. data is the
 * event's data exactly as published (data_len bytes, any JSON value; when
 * it does not parse, the generic layout shows it as text). created_at is
 * the event's time in ms. Returns 0, HERALD_ETOOBIG when out's cap is too
 * small (out is then unchanged), or HERALD_ENOMEM. */
int chat_render(enum chat_kind kind, const char *event_id, const char *event_type,
                int64_t created_at, const char *data, size_t data_len, struct buf *out);

#endif
