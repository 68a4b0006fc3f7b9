#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/util.h"

int64_t clock_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t clock_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t clock_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Writes v's last n decimal digits, zero-padded, at p. */
static void put_digits(char *p, unsigned v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

/* Digits written by hand, not snprintf: every event is stamped once on
 * ingest and every delivery and answer once more, and the seven-field
 * snprintf was ~3 400 of the ~3 700 instructions a call cost (callgrind,
 * thirteenth round in docs/performance.md). */
void clock_format(int64_t ms, char out[32])
{
    time_t secs = (time_t)(ms / 1000);
    int frac = (int)(ms % 1000);
    if (frac < 0) {
        frac += 1000;
        secs -= 1;
    }
    struct tm tm;
    gmtime_r(&secs, &tm);
    /* Years outside 0..9999 cannot come from the API (clock_parse refuses
     * them); clamping keeps the output length fixed. */
    unsigned year = tm.tm_year + 1900 < 0 ? 0u : (unsigned)(tm.tm_year + 1900);
    if (year > 9999)
        year = 9999;
    memcpy(out, "0000-00-00T00:00:00.000Z", 25);
    put_digits(out, year, 4);
    put_digits(out + 5, (unsigned)tm.tm_mon + 1, 2);
    put_digits(out + 8, (unsigned)tm.tm_mday, 2);
    put_digits(out + 11, (unsigned)tm.tm_hour, 2);
    put_digits(out + 14, (unsigned)tm.tm_min, 2);
    put_digits(out + 17, (unsigned)tm.tm_sec, 2);
    put_digits(out + 20, (unsigned)frac, 3);
}

static bool digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

bool clock_parse(const char *s, int64_t *ms)
{
    int64_t secs;
    if (parse_int64(s, 0, 253402300799LL, &secs)) {
        *ms = secs * 1000;
        return true;
    }
    int Y, M, D, h, m, sec;
    if (strlen(s) < 20 || !digits(s, 4, &Y) || s[4] != '-' || !digits(s + 5, 2, &M) ||
        s[7] != '-' || !digits(s + 8, 2, &D) || (s[10] != 'T' && s[10] != 't') ||
        !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &m) || s[16] != ':' ||
        !digits(s + 17, 2, &sec))
        return false;
    if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
        return false;
    const char *p = s + 19;
    int frac_ms = 0;
    if (*p == '.') {
        p++;
        int n = 0;
        while (isdigit((unsigned char)*p)) {
            if (n < 3)
                frac_ms = frac_ms * 10 + (*p - '0');
            n++;
            p++;
        }
        if (n == 0)
            return false;
        for (; n < 3; n++)
            frac_ms *= 10;
    }
    int offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) || oh > 23 || om > 59)
            return false;
        offset = (oh * 60 + om) * 60 * (*p == '+' ? 1 : -1);
        p += 6;
    } else {
        return false;
    }
    if (*p)
        return false;
    struct tm tm = {0};
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    *ms = ((int64_t)t - offset) * 1000 + frac_ms;
    return true;
}
