/* replay.c — runs a libFuzzer target without libFuzzer, for `make test`
 * (gcc, sanitizers): every file of the corpus folders named on the command
 * line, then a fixed number of deterministic mutations of them (byte
 * flips, insertions, deletions, splices; seeded, so a failure reproduces).
 *
 *   replay_fuzz_url [-runs=N] DIR...
 *
 * Exits non-zero on an empty corpus; a target's abort() or a sanitizer
 * report fails the run as it would under libFuzzer. */
#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REPLAY_MAX_INPUT 65536
#define MAX_FILES 4096

struct input {
    uint8_t *data;
    size_t len;
};

static uint64_t rng = 0x9E3779B97F4A7C15ULL;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void run(const uint8_t *data, size_t len)
{
    /* An exact-size copy, so ASan sees any read past the end. */
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        abort();
    memcpy(copy, data, len);
    LLVMFuzzerTestOneInput(copy, len);
    free(copy);
}

static size_t load(const char *dir, struct input *in, size_t n)
{
    DIR *d = opendir(dir);
    if (!d)
        return n;
    struct dirent *e;
    while ((e = readdir(d)) && n < MAX_FILES) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        uint8_t *buf = malloc(REPLAY_MAX_INPUT);
        size_t len = buf ? fread(buf, 1, REPLAY_MAX_INPUT, f) : 0;
        fclose(f);
        if (!buf)
            continue;
        in[n].data = buf;
        in[n].len = len;
        n++;
    }
    closedir(d);
    return n;
}

/* One mutation of a (or a spliced with b) into out; returns its length. */
static size_t mutate(const struct input *a, const struct input *b, uint8_t *out)
{
    size_t len = a->len;
    memcpy(out, a->data, len);
    int edits = 1 + (int)(next() % 4);
    for (int i = 0; i < edits; i++) {
        switch (next() % 5) {
        case 0: /* flip a byte */
            if (len)
                out[next() % len] ^= (uint8_t)(1u << (next() % 8));
            break;
        case 1: /* set a byte to something interesting */
            if (len) {
                static const uint8_t odd[] = {0,   '\r', '\n', '%', '"',  '\\', ':',  '.',
                                              '[', ']',  '0',  '9', 0x7f, 0x80, 0xff, ' '};
                out[next() % len] = odd[next() % sizeof odd];
            }
            break;
        case 2: /* insert a byte */
            if (len < REPLAY_MAX_INPUT) {
                size_t at = len ? next() % (len + 1) : 0;
                memmove(out + at + 1, out + at, len - at);
                out[at] = (uint8_t)next();
                len++;
            }
            break;
        case 3: /* delete a run */
            if (len) {
                size_t at = next() % len, n = 1 + next() % (len - at);
                memmove(out + at, out + at + n, len - at - n);
                len -= n;
            }
            break;
        default: /* splice: a's head, b's tail */
            if (b->len) {
                size_t cut = len ? next() % (len + 1) : 0, from = next() % b->len;
                size_t n = b->len - from;
                if (cut + n > REPLAY_MAX_INPUT)
                    n = REPLAY_MAX_INPUT - cut;
                memcpy(out + cut, b->data + from, n);
                len = cut + n;
            }
            break;
        }
    }
    return len;
}

int main(int argc, char **argv)
{
    static struct input in[MAX_FILES];
    long runs = 20000;
    size_t n = 0;
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "-runs=", 6) == 0)
            runs = strtol(argv[i] + 6, NULL, 10);
        else
            n = load(argv[i], in, n);
    }
    if (n == 0) {
        fprintf(stderr, "replay: no corpus files\n");
        return 2;
    }
    for (size_t i = 0; i < n; i++)
        run(in[i].data, in[i].len);
    uint8_t *buf = malloc(REPLAY_MAX_INPUT);
    if (!buf)
        return 2;
    for (long r = 0; r < runs; r++) {
        const struct input *a = &in[next() % n], *b = &in[next() % n];
        run(buf, mutate(a, b, buf));
    }
    free(buf);
    for (size_t i = 0; i < n; i++)
        free(in[i].data);
    printf("replay: %zu corpus files and %ld mutations, no failure\n", n, runs);
    return 0;
}
