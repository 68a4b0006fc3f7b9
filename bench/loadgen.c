/*
 * loadgen.c — publishes events to herald for the benchmarks.
 *
 *   loadgen URL KEY MODE SECONDS CONNS [RATE] [OUT]
 *
 * MODE "closed": CONNS requests always in flight (POST /v1/events), for
 *   ingest throughput and latency (figure I).
 * MODE "batch": like closed, each request a batch of 100 events (figure B).
 * MODE "open": RATE requests per second on a fixed schedule, whatever the
 *   server does (figure E). Latency is taken from the *scheduled* send time,
 *   so a server that falls behind shows it instead of slowing the generator.
 *   With OUT, each accepted event is written as "<event id> <scheduled
 *   unix ms>" so the sink's log can be joined to it.
 *
 * Prints one JSON object: requests, events, failed, seconds, rps, eps,
 * p50_ms, p99_ms, max_ms.
 */
#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

struct slot {
    CURL *easy;
    double scheduled; /* mono ms */
    double scheduled_wall;
    char resp[4096];
    size_t resp_len;
    bool busy;
};

static size_t keep(char *p, size_t s, size_t n, void *u)
{
    struct slot *sl = u;
    size_t len = s * n, room = sizeof sl->resp - 1 - sl->resp_len;
    if (len < room)
        room = len;
    memcpy(sl->resp + sl->resp_len, p, room);
    sl->resp_len += room;
    return len;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: loadgen URL KEY closed|batch|open SECONDS CONNS [RATE] [OUT]\n");
        return 2;
    }
    const char *base = argv[1], *key = argv[2], *mode = argv[3];
    double seconds = strtod(argv[4], NULL);
    int conns = (int)strtol(argv[5], NULL, 10);
    double rate = argc > 6 ? strtod(argv[6], NULL) : 0;
    FILE *out = argc > 7 ? fopen(argv[7], "w") : NULL;
    bool batch = strcmp(mode, "batch") == 0, open_loop = strcmp(mode, "open") == 0;
    if (conns < 1 || conns > 4096 || (open_loop && rate <= 0))
        return 2;

    /* A ~600-byte event, like the sink reference's body. */
    char data[512];
    int dl = snprintf(data, sizeof data,
                      "{\"post_id\":\"post_abc123\",\"platforms\":[\"instagram\",\"x\"],"
                      "\"published_at\":\"2025-10-05T14:30:00Z\",\"urls\":{\"instagram\":"
                      "\"https://instagram.com/p/abc123\"},\"pad\":\"");
    while (dl < 420)
        data[dl++] = 'x';
    memcpy(data + dl, "\"}", 3);
    size_t one_cap = 600;
    char *one = malloc(one_cap);
    int ol = snprintf(one, one_cap, "{\"type\":\"post.published\",\"data\":%s}", data);
    size_t body_cap = batch ? (size_t)(ol + 1) * 100 + 64 : (size_t)ol + 1;
    char *body = malloc(body_cap);
    size_t bl = 0;
    if (batch) {
        bl += (size_t)snprintf(body, body_cap, "{\"events\":[");
        for (int i = 0; i < 100; i++) {
            memcpy(body + bl, one, (size_t)ol);
            bl += (size_t)ol;
            body[bl++] = i < 99 ? ',' : ']';
        }
        body[bl++] = '}';
        body[bl] = '\0';
    } else {
        memcpy(body, one, (size_t)ol + 1);
        bl = (size_t)ol;
    }
    char url[1024], auth[512];
    snprintf(url, sizeof url, "%s/v1/events%s", base, batch ? "/batch" : "");
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    h = curl_slist_append(h, auth);
    h = curl_slist_append(h, "Expect:");

    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURLM *multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)conns * 2);
    struct slot *slots = calloc((size_t)conns, sizeof *slots);
    for (int i = 0; i < conns; i++) {
        CURL *e = curl_easy_init();
        slots[i].easy = e;
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)bl);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, keep);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, &slots[i]);
        curl_easy_setopt(e, CURLOPT_PRIVATE, &slots[i]);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_TIMEOUT, 60L);
    }
    size_t lat_cap = 1 << 20, n_lat = 0;
    double *lat = malloc(lat_cap * sizeof *lat);
    long requests = 0, failed = 0;
    double start = mono_ms(), end = start + seconds * 1000, next_send = start;
    double interval = open_loop ? 1000.0 / rate : 0;
    int running = 0;
    for (;;) {
        double t = mono_ms();
        bool more = t < end;
        /* Start what is due: every free slot (closed), or each scheduled
         * send whose time has come (open). */
        for (int i = 0; more && i < conns; i++) {
            if (slots[i].busy)
                continue;
            if (open_loop && next_send > t)
                break;
            slots[i].busy = true;
            slots[i].resp_len = 0;
            slots[i].scheduled = open_loop ? next_send : t;
            slots[i].scheduled_wall = wall_ms() - (t - slots[i].scheduled);
            next_send += interval;
            curl_multi_add_handle(multi, slots[i].easy);
            running++;
        }
        if (!more && running == 0)
            break;
        int still;
        curl_multi_perform(multi, &still);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            struct slot *s;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
            long code = 0;
            curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &code);
            double done_at = mono_ms();
            if (m->data.result == CURLE_OK && code == 202) {
                requests++;
                if (n_lat == lat_cap)
                    lat = realloc(lat, (lat_cap *= 2) * sizeof *lat);
                lat[n_lat++] = done_at - s->scheduled;
                if (out) {
                    s->resp[s->resp_len] = '\0';
                    const char *id = strstr(s->resp, "\"id\":\"");
                    const char *id_end = id ? strchr(id + 6, '"') : NULL;
                    if (id_end)
                        fprintf(out, "%.*s %.3f\n", (int)(id_end - id - 6), id + 6,
                                s->scheduled_wall);
                }
            } else {
                failed++;
            }
            curl_multi_remove_handle(multi, s->easy);
            s->busy = false;
            running--;
        }
        double wait = 10;
        if (open_loop) {
            wait = next_send - mono_ms();
            if (wait < 0)
                wait = 0;
            if (wait > 10)
                wait = 10;
        }
        curl_multi_poll(multi, NULL, 0, (int)wait, NULL);
    }
    double took = (mono_ms() - start) / 1000;
    qsort(lat, n_lat, sizeof *lat, cmp);
    double p50 = n_lat ? lat[n_lat / 2] : 0, p99 = n_lat ? lat[(size_t)(n_lat * 0.99)] : 0;
    double max = n_lat ? lat[n_lat - 1] : 0;
    long events = requests * (batch ? 100 : 1);
    printf("{\"requests\":%ld,\"events\":%ld,\"failed\":%ld,\"seconds\":%.3f,\"rps\":%.1f,"
           "\"eps\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f}\n",
           requests, events, failed, took, requests / took, events / took, p50, p99, max);
    if (out)
        fclose(out);
    for (int i = 0; i < conns; i++)
        curl_easy_cleanup(slots[i].easy);
    curl_multi_cleanup(multi);
    curl_slist_free_all(h);
    free(slots);
    free(lat);
    free(body);
    free(one);
    curl_global_cleanup();
    return 0;
}
