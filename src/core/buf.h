/*
 * buf.h — a growable byte buffer with a ceiling (curl's dynbuf).
 *
 * Every buffer that holds bytes from the network has a cap: appending past
 * it fails with HERALD_ETOOBIG and leaves the buffer as it was. The content
 * is always NUL-terminated, so text can be used as a C string.
 */
#ifndef HERALD_CORE_BUF_H
#define HERALD_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
    char *data; /* NULL until the first append */
    size_t len;
    size_t alloc;
    size_t cap; /* most bytes the buffer may ever hold */
};

/* Sets up an empty buffer; allocates nothing. */
void buf_init(struct buf *b, size_t cap);
/* Frees the content; the buffer is empty and reusable afterwards. */
void buf_release(struct buf *b);
/* Empties without freeing, for reuse in a loop. */
void buf_reset(struct buf *b);

/* Return 0, HERALD_ETOOBIG past the cap, or HERALD_ENOMEM. */
int buf_append(struct buf *b, const void *data, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Gives the content to the caller (who frees it) and empties the buffer.
 * Never NULL: an empty buffer yields an allocated "". */
char *buf_detach(struct buf *b, size_t *len);

#endif
