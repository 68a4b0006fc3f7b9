/* send.c — `herald send TYPE JSON`: publish one event through the API, the
 * way a platform would. */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "core/util.h"

static size_t collect(char *p, size_t size, size_t n, void *arg)
{
    return buf_append(arg, p, size * n) == 0 ? size * n : 0;
}

/* --key, then HERALD_API_KEY, then HERALD_ADMIN_KEY, then ./var/admin.key. */
static bool find_key(const char *flag, char *out, size_t cap)
{
    const char *env;
    if (flag)
        return str_copy(out, cap, flag);
    if ((env = getenv("HERALD_API_KEY")) && *env)
        return str_copy(out, cap, env);
    if ((env = getenv("HERALD_ADMIN_KEY")) && *env)
        return str_copy(out, cap, env);
    FILE *f = fopen("./var/admin.key", "r");
    if (!f)
        return false;
    bool ok = fgets(out, (int)cap, f) != NULL;
    fclose(f);
    out[strcspn(out, "\r\n")] = '\0';
    return ok && *out;
}

int cli_send(int argc, char **argv)
{
    static const struct option opts[] = {
        {"url", required_argument, NULL, 'u'},
        {"key", required_argument, NULL, 'k'},
        {NULL, 0, NULL, 0},
    };
    const char *url = getenv("HERALD_URL"), *key_flag = NULL;
    if (!url || !*url)
        url = "http://127.0.0.1:8080";
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (opt == 'u')
            url = optarg;
        else if (opt == 'k')
            key_flag = optarg;
        else
            return 2;
    }
    if (argc - optind != 2) {
        fputs("usage: herald send TYPE JSON [--url URL] [--key KEY]\n", stderr);
        return 2;
    }
    const char *type = argv[optind], *data = argv[optind + 1];
    cJSON *parsed = cJSON_Parse(data);
    if (!parsed) {
        fputs("herald send: JSON is not valid JSON\n", stderr);
        return 2;
    }
    cJSON_Delete(parsed);
    char key[256];
    if (!find_key(key_flag, key, sizeof key)) {
        fputs("herald send: no API key (use --key, HERALD_API_KEY or ./var/admin.key)\n", stderr);
        return 2;
    }

    /* data goes into the body as typed, byte for byte, like any publisher's. */
    cJSON *t = cJSON_CreateString(type);
    char *type_json = cJSON_PrintUnformatted(t);
    cJSON_Delete(t);
    struct buf body, resp;
    buf_init(&body, 64 * 1024 * 1024);
    buf_init(&resp, 1024 * 1024);
    buf_printf(&body, "{\"type\":%s,\"data\":%s}", type_json, data);
    cJSON_free(type_json);

    char endpoint[2048], auth[300];
    snprintf(endpoint, sizeof endpoint, "%s/v1/events", url);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    h = curl_slist_append(h, auth);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, endpoint);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body.len);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    int status = 1;
    if (rc != CURLE_OK) {
        fprintf(stderr, "herald send: %s: %s\n", endpoint, curl_easy_strerror(rc));
    } else {
        printf("%s\n", resp.data ? resp.data : "");
        status = code >= 200 && code < 300 ? 0 : 1;
    }
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    buf_release(&body);
    buf_release(&resp);
    return status;
}
