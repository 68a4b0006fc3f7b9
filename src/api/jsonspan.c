/* jsonspan.c — a strict, non-allocating, non-recursive JSON scanner that
 * reports where values are (see jsonspan.h). */
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "api/jsonspan.h"

/* Decoded key bytes kept for comparison; longer keys are still scanned but
 * can never equal a key herald looks for. */
#define KEY_CAP 128

/* Where a string's decoded bytes go: b[0..cap), n of them so far. */
struct keybuf {
    char *b;
    size_t cap;
    size_t n;
    bool overflow;
    bool nul_seen; /* cJSON ends strings at a decoded NUL; so do we */
};

static size_t skip_ws(const char *s, size_t len, size_t p)
{
    while (p < len && (s[p] == ' ' || s[p] == '\t' || s[p] == '\n' || s[p] == '\r'))
        p++;
    return p;
}

static void key_put(struct keybuf *k, unsigned char c)
{
    if (!k || k->nul_seen)
        return;
    if (c == 0) {
        k->nul_seen = true;
        return;
    }
    if (k->n < k->cap)
        k->b[k->n++] = (char)c;
    else
        k->overflow = true;
}

/* key_put for each of s[0..n), none of them NUL. */
static void key_put_run(struct keybuf *k, const char *s, size_t n)
{
    if (!k || k->nul_seen || n == 0)
        return;
    size_t room = k->cap - k->n;
    if (n > room) {
        n = room;
        k->overflow = true;
    }
    memcpy(k->b + k->n, s, n);
    k->n += n;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Reads the 4 hex digits of a \u escape at s[p]. */
static bool hex4(const char *s, size_t len, size_t p, unsigned *out)
{
    if (len - p < 4)
        return false;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int d = hexval(s[p + i]);
        if (d < 0)
            return false;
        v = v << 4 | (unsigned)d;
    }
    *out = v;
    return true;
}

static void key_put_utf8(struct keybuf *k, unsigned cp)
{
    if (cp < 0x80) {
        key_put(k, (unsigned char)cp);
    } else if (cp < 0x800) {
        key_put(k, (unsigned char)(0xC0 | cp >> 6));
        key_put(k, (unsigned char)(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        key_put(k, (unsigned char)(0xE0 | cp >> 12));
        key_put(k, (unsigned char)(0x80 | (cp >> 6 & 0x3F)));
        key_put(k, (unsigned char)(0x80 | (cp & 0x3F)));
    } else {
        key_put(k, (unsigned char)(0xF0 | cp >> 18));
        key_put(k, (unsigned char)(0x80 | (cp >> 12 & 0x3F)));
        key_put(k, (unsigned char)(0x80 | (cp >> 6 & 0x3F)));
        key_put(k, (unsigned char)(0x80 | (cp & 0x3F)));
    }
}

/* An escape after the backslash at s[*pos - 1]. Lone surrogates are
 * refused, as cJSON refuses them. */
static bool scan_escape(const char *s, size_t len, size_t *pos, struct keybuf *k)
{
    size_t p = *pos;
    if (p >= len)
        return false;
    static const char from[] = "\"\\/bfnrt";
    static const char to[] = "\"\\/\b\f\n\r\t";
    const char *e = s[p] ? strchr(from, s[p]) : NULL;
    if (e) {
        key_put(k, (unsigned char)to[e - from]);
        *pos = p + 1;
        return true;
    }
    if (s[p] != 'u')
        return false;
    unsigned cp;
    if (!hex4(s, len, p + 1, &cp))
        return false;
    p += 5;
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return false;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        unsigned lo;
        if (len - p < 6 || s[p] != '\\' || s[p + 1] != 'u' || !hex4(s, len, p + 2, &lo) ||
            lo < 0xDC00 || lo > 0xDFFF)
            return false;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        p += 6;
    }
    key_put_utf8(k, cp);
    *pos = p;
    return true;
}

/* One UTF-8 sequence of 2–4 bytes starting at s[*pos], per RFC 3629
 * (no overlongs, no surrogates, nothing above U+10FFFF). */
static bool scan_utf8(const char *s, size_t len, size_t *pos, struct keybuf *k)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t p = *pos;
    unsigned char c = u[p];
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        need = 1;
    else if (c >= 0xE0 && c <= 0xEF)
        need = 2;
    else if (c >= 0xF0 && c <= 0xF4)
        need = 3;
    else
        return false;
    if (c == 0xE0)
        lo = 0xA0;
    else if (c == 0xED)
        hi = 0x9F;
    else if (c == 0xF0)
        lo = 0x90;
    else if (c == 0xF4)
        hi = 0x8F;
    if (len - p - 1 < need)
        return false;
    if (u[p + 1] < lo || u[p + 1] > hi)
        return false;
    for (size_t i = 2; i <= need; i++)
        if (u[p + i] < 0x80 || u[p + i] > 0xBF)
            return false;
    for (size_t i = 0; i <= need; i++)
        key_put(k, u[p + i]);
    *pos = p + need + 1;
    return true;
}

/* Bytes a string may hold as they are: printable ASCII but the quote
 * (0x22) and the backslash (0x5c). */
/* clang-format off */
static const bool plain[256] = {
    [0x20] =
    /* 0x20 */ 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    /* 0x30 */ 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    /* 0x40 */ 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    /* 0x50 */ 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
    /* 0x60 */ 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    /* 0x70 */ 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};
/* clang-format on */

#ifdef __SSE2__
/* Where the run of plain bytes starting at s[p] ends, looked for 16 bytes
 * at a time: payloads are mostly long plain runs, and this took most of a
 * batch's parsing time a byte at a time. Compared as signed bytes, those
 * below 0x20 include 0x80 and above, so three compares find every byte
 * that is not plain. The last bytes (fewer than 16) are left to the
 * caller's loop. */
static size_t plain_run(const char *s, size_t len, size_t p)
{
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\');
    const __m128i space = _mm_set1_epi8(0x20);
    while (len - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + p));
        __m128i stop =
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                         _mm_cmplt_epi8(v, space));
        unsigned mask = (unsigned)_mm_movemask_epi8(stop);
        if (mask)
            return p + (size_t)__builtin_ctz(mask);
        p += 16;
    }
    return p;
}
#else
static size_t plain_run(const char *s, size_t len, size_t p)
{
    (void)s;
    (void)len;
    return p;
}
#endif

/* Where the run of plain bytes from s[p] ends. */
static size_t skip_plain(const char *s, size_t len, size_t p)
{
    p = plain_run(s, len, p);
    while (p < len && plain[(unsigned char)s[p]])
        p++;
    return p;
}

/* Scans a string on from s[p], a byte inside it (see scan_string). */
static bool string_rest(const char *s, size_t len, size_t p, size_t *pos, struct keybuf *k)
{
    while (p < len) {
        /* Plain ASCII needs no check beyond its range. */
        size_t q = skip_plain(s, len, p);
        key_put_run(k, s + p, q - p);
        p = q;
        if (p >= len)
            break;
        unsigned char c = (unsigned char)s[p];
        if (c == '"') {
            *pos = p + 1;
            return true;
        }
        if (c == '\\') {
            p++;
            if (!scan_escape(s, len, &p, k))
                return false;
        } else if (c < 0x20) {
            return false;
        } else if (!scan_utf8(s, len, &p, k)) {
            return false;
        }
    }
    return false;
}

/* A string whose opening quote is s[*pos]; *pos ends after the closing
 * quote. When k is non-NULL the decoded bytes are collected into it. Small
 * enough to be inlined for its common case, a plain run to the closing
 * quote (keys, values, payloads): the general loop's entry and exit cost
 * as much as the scan of a short string. */
static inline bool scan_string(const char *s, size_t len, size_t *pos, struct keybuf *k)
{
    size_t p = skip_plain(s, len, *pos + 1);
    key_put_run(k, s + *pos + 1, p - *pos - 1);
    if (p < len && s[p] == '"') {
        *pos = p + 1;
        return true;
    }
    return string_rest(s, len, p, pos, k);
}

static bool is_digit(const char *s, size_t len, size_t p)
{
    return p < len && s[p] >= '0' && s[p] <= '9';
}

static size_t skip_digits(const char *s, size_t len, size_t p)
{
    while (is_digit(s, len, p))
        p++;
    return p;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool scan_number(const char *s, size_t len, size_t *pos)
{
    size_t p = *pos;
    if (s[p] == '-')
        p++;
    if (!is_digit(s, len, p))
        return false;
    if (s[p] == '0')
        p++;
    else
        p = skip_digits(s, len, p);
    if (p < len && s[p] == '.') {
        p++;
        if (!is_digit(s, len, p))
            return false;
        p = skip_digits(s, len, p);
    }
    if (p < len && (s[p] == 'e' || s[p] == 'E')) {
        p++;
        if (p < len && (s[p] == '+' || s[p] == '-'))
            p++;
        if (!is_digit(s, len, p))
            return false;
        p = skip_digits(s, len, p);
    }
    *pos = p;
    return true;
}

static bool scan_literal(const char *s, size_t len, size_t *pos)
{
    static const char *const lits[] = {"true", "false", "null"};
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(lits[i]);
        if (len - *pos >= n && memcmp(s + *pos, lits[i], n) == 0) {
            *pos += n;
            return true;
        }
    }
    return false;
}

/* A scalar (string, number, literal) at s[*pos]. */
static bool scan_scalar(const char *s, size_t len, size_t *pos)
{
    char c = s[*pos];
    if (c == '"')
        return scan_string(s, len, pos, NULL);
    if (c == '-' || (c >= '0' && c <= '9'))
        return scan_number(s, len, pos);
    return scan_literal(s, len, pos);
}

/* An object key and its colon; *pos ends at the start of the value. */
static bool scan_key(const char *s, size_t len, size_t *pos, struct keybuf *k)
{
    size_t p = skip_ws(s, len, *pos);
    if (p >= len || s[p] != '"' || !scan_string(s, len, &p, k))
        return false;
    p = skip_ws(s, len, p);
    if (p >= len || s[p] != ':')
        return false;
    *pos = p + 1;
    return true;
}

/* The scanner keeps its own stack of open containers instead of recursing,
 * so hostile nesting costs a bounded array, never the thread's stack. */
bool json_skip_value(const char *s, size_t len, size_t *pos, struct json_span *span)
{
    char stack[JSONSPAN_MAX_DEPTH];
    size_t depth = 0;
    size_t p = skip_ws(s, len, *pos);
    size_t start = p;
    for (;;) {
        /* Here a value starts at p (after whitespace). */
        p = skip_ws(s, len, p);
        if (p >= len)
            return false;
        char c = s[p];
        if (c == '{' || c == '[') {
            if (depth == JSONSPAN_MAX_DEPTH)
                return false;
            size_t q = skip_ws(s, len, p + 1);
            if (q < len && s[q] == (c == '{' ? '}' : ']')) {
                p = q + 1;
            } else {
                stack[depth++] = c;
                p++;
                if (c == '{' && !scan_key(s, len, &p, NULL))
                    return false;
                continue;
            }
        } else if (!scan_scalar(s, len, &p)) {
            return false;
        }
        /* After a complete value: close containers or move to the next
         * element. */
        for (;;) {
            if (depth == 0) {
                if (span) {
                    span->start = start;
                    span->end = p;
                }
                *pos = p;
                return true;
            }
            p = skip_ws(s, len, p);
            if (p >= len)
                return false;
            char top = stack[depth - 1];
            if (s[p] == ',') {
                p++;
                if (top == '{' && !scan_key(s, len, &p, NULL))
                    return false;
                break;
            }
            if (s[p] != (top == '{' ? '}' : ']'))
                return false;
            p++;
            depth--;
        }
    }
}

bool json_valid(const char *s, size_t len)
{
    size_t p = 0;
    if (!json_skip_value(s, len, &p, NULL))
        return false;
    return skip_ws(s, len, p) == len;
}

static bool key_equals(const struct keybuf *k, const char *key)
{
    size_t n = strlen(key);
    return !k->overflow && k->n == n && memcmp(k->b, key, n) == 0;
}

int json_member_span(const char *s, size_t len, const char *key, struct json_span *span)
{
    size_t p = skip_ws(s, len, 0);
    int count = 0;
    if (p >= len || s[p] != '{')
        return -1;
    size_t q = skip_ws(s, len, p + 1);
    if (q < len && s[q] == '}') {
        p = q + 1;
    } else {
        p++;
        for (;;) {
            char kb[KEY_CAP];
            struct keybuf k = {.b = kb, .cap = sizeof kb};
            struct json_span v;
            if (!scan_key(s, len, &p, &k) || !json_skip_value(s, len, &p, &v))
                return -1;
            if (key_equals(&k, key) && count++ == 0 && span)
                *span = v;
            p = skip_ws(s, len, p);
            if (p >= len)
                return -1;
            if (s[p] == '}') {
                p++;
                break;
            }
            if (s[p] != ',')
                return -1;
            p++;
        }
    }
    return skip_ws(s, len, p) == len ? count : -1;
}

long json_array_spans(const char *s, size_t len, struct json_span *out, size_t max)
{
    size_t p = skip_ws(s, len, 0);
    long count = 0;
    if (p >= len || s[p] != '[')
        return -1;
    size_t q = skip_ws(s, len, p + 1);
    if (q < len && s[q] == ']') {
        p = q + 1;
    } else {
        p++;
        for (;;) {
            struct json_span v;
            if (!json_skip_value(s, len, &p, &v))
                return -1;
            if ((size_t)count < max)
                out[count] = v;
            count++;
            p = skip_ws(s, len, p);
            if (p >= len)
                return -1;
            if (s[p] == ']') {
                p++;
                break;
            }
            if (s[p] != ',')
                return -1;
            p++;
        }
    }
    return skip_ws(s, len, p) == len ? count : -1;
}

long json_find_nul_escape(const char *s, size_t len, size_t from)
{
    /* In strict JSON a backslash occurs only inside strings, always as
     * the start of an escape, so jumping from one to the next is enough.
     * The walk starts at 0, not at from: from may be the second byte of
     * an escaped backslash. */
    size_t i = 0;
    const char *b;
    while (i < len && (b = memchr(s + i, '\\', len - i)) != NULL) {
        i = (size_t)(b - s);
        if (i >= from && len - i >= 6 && memcmp(s + i + 1, "u0000", 5) == 0)
            return (long)i;
        i += 2; /* the escaped character is never a backslash of its own */
    }
    return -1;
}

bool json_member_at(const char *s, size_t len, size_t offset, char *key, size_t cap)
{
    size_t p = skip_ws(s, len, 0);
    if (p >= len || s[p] != '{' || cap == 0)
        return false;
    p++;
    for (;;) {
        char kb[KEY_CAP];
        struct keybuf k = {.b = kb, .cap = sizeof kb};
        size_t key_start = skip_ws(s, len, p);
        if (key_start < len && s[key_start] == '}')
            return false;
        if (!scan_key(s, len, &p, &k) || !json_skip_value(s, len, &p, NULL))
            return false;
        if (offset >= key_start && offset < p) {
            size_t n = k.n < cap - 1 ? k.n : cap - 1;
            memcpy(key, k.b, n);
            key[n] = '\0';
            return true;
        }
        p = skip_ws(s, len, p);
        if (p >= len || s[p] != ',')
            return false;
        p++;
    }
}

bool json_iter_enter(struct json_iter *it, const char *s, size_t len, size_t pos)
{
    size_t p = skip_ws(s, len, pos);
    if (p >= len || (s[p] != '{' && s[p] != '['))
        return false;
    *it = (struct json_iter){
        .s = s, .len = len, .pos = p + 1, .start = p, .close = s[p] == '{' ? '}' : ']'};
    return true;
}

/* An object member's key and its colon, from s[*pos]; *pos ends at the
 * value (after whitespace). */
static bool iter_key(const char *s, size_t len, size_t *pos, struct json_key *key)
{
    size_t p = skip_ws(s, len, *pos);
    size_t start = p;
    struct keybuf k = {.b = key ? key->name : NULL, .cap = key ? sizeof key->name - 1 : 0};
    if (p >= len || s[p] != '"' || !scan_string(s, len, &p, key ? &k : NULL))
        return false;
    if (key) {
        key->span = (struct json_span){start, p};
        key->name[k.n] = '\0';
        key->cut = k.overflow;
    }
    p = skip_ws(s, len, p);
    if (p >= len || s[p] != ':')
        return false;
    *pos = p + 1;
    return true;
}

int json_iter_next(struct json_iter *it, struct json_key *key)
{
    size_t p = skip_ws(it->s, it->len, it->pos);
    if (p >= it->len)
        return -1;
    if (it->s[p] == it->close) {
        it->pos = p + 1;
        return 0;
    }
    if (it->started) {
        if (it->s[p] != ',')
            return -1;
        p++;
    }
    it->started = true;
    if (it->close == '}' && !iter_key(it->s, it->len, &p, key))
        return -1;
    p = skip_ws(it->s, it->len, p);
    if (p >= it->len)
        return -1;
    it->pos = p;
    return 1;
}

bool json_iter_skip(struct json_iter *it, struct json_span *span)
{
    return json_skip_value(it->s, it->len, &it->pos, span);
}

long json_string_decode(const char *s, size_t len, struct json_span str, char *out, size_t cap)
{
    size_t p = str.start;
    struct keybuf k = {.b = out, .cap = cap ? cap - 1 : 0};
    if (cap == 0 || str.end > len || str.start >= str.end || s[p] != '"' ||
        !scan_string(s, str.end, &p, &k) || p != str.end || k.overflow)
        return -1;
    out[k.n] = '\0';
    return (long)k.n;
}
