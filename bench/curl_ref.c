/*
 * curl_ref.c — BENCH.md's reference L: the libcurl ceiling.
 *
 * A bare loop that POSTs the same 600-byte body to the sink through
 * libcurl's multi interface, keeping `conns` transfers in flight over
 * keep-alive connections, with one HMAC-SHA256 per request (what a webhook
 * sender cannot avoid), and nothing else. herald's drain rate is judged
 * against this.
 *
 *   curl_ref URL SECONDS [CONNS]   -> prints {"requests":N,"seconds":S,"rps":R}
 */
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static size_t discard(char *p, size_t s, size_t n, void *u)
{
    (void)p;
    (void)u;
    return s * n;
}

struct slot {
    CURL *easy;
    struct curl_slist *headers;
    char sig[128];
};

static void prepare(struct slot *s, const char *url, const char *body, size_t len,
                    const unsigned char *key, long n)
{
    unsigned char md[32];
    unsigned int mdlen;
    char msg[64];
    int ml = snprintf(msg, sizeof msg, "msg_%ld.%ld.", n, (long)time(NULL));
    HMAC_CTX *ctx = HMAC_CTX_new();
    HMAC_Init_ex(ctx, key, 32, EVP_sha256(), NULL);
    HMAC_Update(ctx, (const unsigned char *)msg, (size_t)ml);
    HMAC_Update(ctx, (const unsigned char *)body, len);
    HMAC_Final(ctx, md, &mdlen);
    HMAC_CTX_free(ctx);
    char b64[64];
    EVP_EncodeBlock((unsigned char *)b64, md, (int)mdlen);
    snprintf(s->sig, sizeof s->sig, "webhook-signature: v1,%s", b64);
    curl_slist_free_all(s->headers);
    s->headers = curl_slist_append(NULL, "Content-Type: application/json");
    s->headers = curl_slist_append(s->headers, "Expect:");
    s->headers = curl_slist_append(s->headers, s->sig);
    curl_easy_setopt(s->easy, CURLOPT_URL, url);
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE, (long)len);
    curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->headers);
    curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: curl_ref URL SECONDS [CONNS]\n");
        return 2;
    }
    const char *url = argv[1];
    double seconds = strtod(argv[2], NULL);
    int conns = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 32;
    if (conns < 1 || conns > 4096)
        conns = 32;

    char body[601];
    int bl = snprintf(body, sizeof body,
                      "{\"id\":\"evt_01JBENCH000000000000000000\",\"type\":\"post.published\","
                      "\"timestamp\":\"2025-10-05T14:30:00.000Z\",\"data\":{\"post_id\":"
                      "\"post_abc123\",\"platforms\":[\"instagram\",\"x\"],\"pad\":\"");
    while (bl < 598)
        body[bl++] = 'x';
    memcpy(body + bl, "\"}}", 3);
    bl += 3;
    body[600] = '\0';
    bl = 600;
    unsigned char key[32];
    memset(key, 7, sizeof key);

    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURLM *multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)conns * 2);
    struct slot *slots = calloc((size_t)conns, sizeof *slots);
    long sent = 0, done = 0, failed = 0;
    for (int i = 0; i < conns; i++) {
        slots[i].easy = curl_easy_init();
        prepare(&slots[i], url, body, (size_t)bl, key, sent++);
        curl_multi_add_handle(multi, slots[i].easy);
    }
    double start = now_s(), end = start + seconds;
    int running = conns;
    while (running > 0) {
        curl_multi_perform(multi, &running);
        CURLMsg *m;
        int left;
        bool more = now_s() < end;
        while ((m = curl_multi_info_read(multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            struct slot *s;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
            long code = 0;
            curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &code);
            if (m->data.result == CURLE_OK && code == 200)
                done++;
            else
                failed++;
            curl_multi_remove_handle(multi, s->easy);
            if (more) {
                prepare(s, url, body, (size_t)bl, key, sent++);
                curl_multi_add_handle(multi, s->easy);
                running++;
            }
        }
        if (running > 0)
            curl_multi_poll(multi, NULL, 0, 100, NULL);
    }
    double took = now_s() - start;
    printf("{\"requests\":%ld,\"failed\":%ld,\"seconds\":%.3f,\"rps\":%.1f}\n", done, failed, took,
           done / took);
    for (int i = 0; i < conns; i++) {
        curl_easy_cleanup(slots[i].easy);
        curl_slist_free_all(slots[i].headers);
    }
    free(slots);
    curl_multi_cleanup(multi);
    curl_global_cleanup();
    return failed ? 1 : 0;
}
