/* serve.c — `herald serve`: wire the store, the committer, the dispatcher
 * and the API together, bootstrap an empty database, run until SIGTERM. */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include "api/keys.h"
#include "api/server.h"
#include "app.h"
#include "cli/cli.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "dispatch/dispatcher.h"
#include "store/commit.h"
#include "store/seal.h"
#include "store/store.h"

const char *cli_db_url(const char *flag)
{
    if (flag)
        return flag;
    const char *env = getenv("HERALD_DB");
    return env && *env ? env : "./var/herald.db";
}

void cli_key_dir(const char *db_url, char *out, unsigned long cap)
{
    if (strncmp(db_url, "postgres", 8) == 0) {
        str_copy(out, cap, "./var");
        return;
    }
    if (strncmp(db_url, "sqlite:", 7) == 0)
        db_url += 7;
    const char *slash = strrchr(db_url, '/');
    if (!slash) {
        str_copy(out, cap, ".");
        return;
    }
    size_t n = (size_t)(slash - db_url);
    if (n == 0)
        n = 1; /* "/herald.db" lives in "/" */
    if (n >= cap)
        n = cap - 1;
    memcpy(out, db_url, n);
    out[n] = '\0';
}

static bool parse_listen(struct herald_config *c, const char *s)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s)
        return false;
    int64_t port;
    if (!parse_int64(colon + 1, 0, 65535, &port))
        return false;
    size_t n = (size_t)(colon - s);
    /* "[::1]:8080" */
    if (s[0] == '[' && s[n - 1] == ']') {
        s++;
        n -= 2;
    }
    if (n == 0 || n >= sizeof c->listen_host)
        return false;
    memcpy(c->listen_host, s, n);
    c->listen_host[n] = '\0';
    c->listen_port = (int)port;
    return true;
}

static bool add_cidrs(struct herald_config *c, const char *list)
{
    char *copy = xstrdup(list), *save = NULL;
    bool ok = true;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (c->n_allow == CONFIG_MAX_CIDRS || !cidr_parse(tok, &c->allow[c->n_allow])) {
            ok = false;
            break;
        }
        c->n_allow++;
    }
    free(copy);
    return ok;
}

static bool parse_ms(const char *s, int64_t min, int64_t *out)
{
    return parse_int64(s, min, 30LL * 24 * 3600 * 1000, out);
}

enum {
    OPT_LISTEN = 256,
    OPT_DB,
    OPT_DEV,
    OPT_ALLOW,
    OPT_SCHEDULE,
    OPT_WORKERS,
    OPT_CONNECT_TIMEOUT,
    OPT_REQUEST_TIMEOUT,
    OPT_DISABLE_AFTER,
    OPT_LEASE,
    OPT_MAX_BODY,
    OPT_LOG_LEVEL,
    OPT_DB_POOL,
    OPT_NO_DISPATCH,
    OPT_MAX_IN_FLIGHT,
    OPT_SEND_THREADS,
    OPT_RATE_LIMIT,
    OPT_RATE_BURST,
    OPT_AUTH_FAIL_LIMIT,
    OPT_MAX_CONNECTIONS,
    OPT_MAX_CONNECTIONS_PER_IP,
    OPT_IDLE_TIMEOUT,
};

static int usage_error(const char *what, const char *value)
{
    fprintf(stderr, "herald serve: invalid %s '%s'\n", what, value ? value : "");
    return 2;
}

/* Environment twins first, flags override them. */
static int apply_env(struct herald_config *c)
{
    const char *v;
    if ((v = getenv("HERALD_LISTEN")) && *v && !parse_listen(c, v))
        return usage_error("HERALD_LISTEN", v);
    if ((v = getenv("HERALD_DB")) && *v)
        str_copy(c->db_url, sizeof c->db_url, v);
    if ((v = getenv("HERALD_DEV")) && *v && strcmp(v, "0") != 0)
        c->dev = true;
    if ((v = getenv("HERALD_ALLOW_CIDR")) && *v && !add_cidrs(c, v))
        return usage_error("HERALD_ALLOW_CIDR", v);
    if ((v = getenv("HERALD_RETRY_SCHEDULE")) && *v && !config_parse_schedule(c, v))
        return usage_error("HERALD_RETRY_SCHEDULE", v);
    return 0;
}

static int parse_flags(struct herald_config *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"db", required_argument, NULL, OPT_DB},
        {"dev", no_argument, NULL, OPT_DEV},
        {"allow-cidr", required_argument, NULL, OPT_ALLOW},
        {"retry-schedule", required_argument, NULL, OPT_SCHEDULE},
        {"workers", required_argument, NULL, OPT_WORKERS},
        {"connect-timeout-ms", required_argument, NULL, OPT_CONNECT_TIMEOUT},
        {"request-timeout-ms", required_argument, NULL, OPT_REQUEST_TIMEOUT},
        {"disable-after-ms", required_argument, NULL, OPT_DISABLE_AFTER},
        {"lease-ms", required_argument, NULL, OPT_LEASE},
        {"max-body", required_argument, NULL, OPT_MAX_BODY},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {"db-pool", required_argument, NULL, OPT_DB_POOL},
        {"no-dispatch", no_argument, NULL, OPT_NO_DISPATCH},
        {"max-in-flight", required_argument, NULL, OPT_MAX_IN_FLIGHT},
        {"send-threads", required_argument, NULL, OPT_SEND_THREADS},
        {"rate-limit", required_argument, NULL, OPT_RATE_LIMIT},
        {"rate-burst", required_argument, NULL, OPT_RATE_BURST},
        {"auth-fail-limit", required_argument, NULL, OPT_AUTH_FAIL_LIMIT},
        {"max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS},
        {"max-connections-per-ip", required_argument, NULL, OPT_MAX_CONNECTIONS_PER_IP},
        {"idle-timeout-s", required_argument, NULL, OPT_IDLE_TIMEOUT},
        {NULL, 0, NULL, 0},
    };
    int rc = apply_env(c);
    if (rc)
        return rc;
    int64_t v;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case OPT_LISTEN:
            if (!parse_listen(c, optarg))
                return usage_error("--listen", optarg);
            break;
        case OPT_DB:
            str_copy(c->db_url, sizeof c->db_url, optarg);
            break;
        case OPT_DEV:
            c->dev = true;
            break;
        case OPT_ALLOW:
            if (!add_cidrs(c, optarg))
                return usage_error("--allow-cidr", optarg);
            break;
        case OPT_SCHEDULE:
            if (!config_parse_schedule(c, optarg))
                return usage_error("--retry-schedule", optarg);
            break;
        case OPT_WORKERS:
            if (!parse_int64(optarg, 1, 1024, &v))
                return usage_error("--workers", optarg);
            c->workers = (int)v;
            break;
        case OPT_CONNECT_TIMEOUT:
            if (!parse_ms(optarg, 1, &c->connect_timeout_ms))
                return usage_error("--connect-timeout-ms", optarg);
            break;
        case OPT_REQUEST_TIMEOUT:
            if (!parse_ms(optarg, 1, &c->request_timeout_ms))
                return usage_error("--request-timeout-ms", optarg);
            break;
        case OPT_DISABLE_AFTER:
            if (!parse_ms(optarg, 1, &c->disable_after_ms))
                return usage_error("--disable-after-ms", optarg);
            break;
        case OPT_LEASE:
            if (!parse_ms(optarg, 1, &c->lease_ms))
                return usage_error("--lease-ms", optarg);
            break;
        case OPT_MAX_BODY:
            if (!parse_int64(optarg, 1024, 64LL * 1024 * 1024, &v))
                return usage_error("--max-body", optarg);
            c->max_body = (size_t)v;
            break;
        case OPT_LOG_LEVEL:
            if (strcmp(optarg, "debug") == 0)
                log_set_level(LOG_DEBUG);
            else if (strcmp(optarg, "info") == 0)
                log_set_level(LOG_INFO);
            else if (strcmp(optarg, "warn") == 0)
                log_set_level(LOG_WARN);
            else if (strcmp(optarg, "error") == 0)
                log_set_level(LOG_ERROR);
            else
                return usage_error("--log-level", optarg);
            break;
        case OPT_DB_POOL:
            if (!parse_int64(optarg, 1, 256, &v))
                return usage_error("--db-pool", optarg);
            c->db_pool = (int)v;
            break;
        case OPT_NO_DISPATCH:
            c->no_dispatch = true;
            break;
        case OPT_MAX_IN_FLIGHT:
            if (!parse_int64(optarg, 1, 100000, &v))
                return usage_error("--max-in-flight", optarg);
            c->max_in_flight_total = (int)v;
            break;
        case OPT_SEND_THREADS:
            if (!parse_int64(optarg, 1, 8, &v))
                return usage_error("--send-threads", optarg);
            c->send_threads = (int)v;
            break;
        case OPT_RATE_LIMIT:
            if (!parse_int64(optarg, 0, 10000000, &v))
                return usage_error("--rate-limit", optarg);
            c->rate_limit = (double)v;
            break;
        case OPT_RATE_BURST:
            if (!parse_int64(optarg, 1, 100000000, &v))
                return usage_error("--rate-burst", optarg);
            c->rate_burst = (double)v;
            break;
        case OPT_AUTH_FAIL_LIMIT:
            if (!parse_int64(optarg, 0, 1000000, &v))
                return usage_error("--auth-fail-limit", optarg);
            c->auth_fail_per_min = (int)v;
            break;
        case OPT_MAX_CONNECTIONS:
            if (!parse_int64(optarg, 1, API_MAX_CONNECTIONS, &v))
                return usage_error("--max-connections", optarg);
            c->max_connections = (int)v;
            break;
        case OPT_MAX_CONNECTIONS_PER_IP:
            if (!parse_int64(optarg, 1, 1000000, &v))
                return usage_error("--max-connections-per-ip", optarg);
            c->max_connections_per_ip = (int)v;
            break;
        case OPT_IDLE_TIMEOUT:
            if (!parse_int64(optarg, 1, 3600, &v))
                return usage_error("--idle-timeout-s", optarg);
            c->idle_timeout_s = (int)v;
            break;
        default:
            return 2;
        }
    }
    if (optind < argc)
        return usage_error("argument", argv[optind]);
    /* A lease shorter than a request could hand a live delivery to another
     * dispatcher while it is still being sent. */
    if (c->lease_ms <= c->request_timeout_ms + 5000)
        c->lease_ms = c->request_timeout_ms * 2 + 30000;
    return 0;
}

static int write_key_file(const char *dir, const char *key, char *path, size_t cap)
{
    snprintf(path, cap, "%s/admin.key", dir);
    mkdir(dir, 0700);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return HERALD_EIO;
    fchmod(fd, 0600);
    size_t n = strlen(key);
    bool ok = write(fd, key, n) == (ssize_t)n && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
    close(fd);
    return ok ? 0 : HERALD_EIO;
}

/* On an empty database: account "default" and its admin key, printed once. */
static int bootstrap(struct herald *h)
{
    struct store *s = h->store;
    int64_t n = 0;
    int rc = s->ops->account_count(s, &n);
    if (rc || n > 0)
        return rc;
    struct store_account a = {0};
    id_new(a.id, "acct", clock_now_ms());
    str_copy(a.name, sizeof a.name, "default");
    a.created_at = clock_now_ms();
    rc = s->ops->account_create(s, &a);
    if (rc)
        return rc;
    char key[API_KEY_MAX], key_id[HERALD_ID_MAX];
    const char *given = getenv("HERALD_ADMIN_KEY");
    rc = api_key_new(s, a.id, "admin", given && *given ? given : NULL, key, key_id);
    if (rc) {
        log_kv(LOG_ERROR, "could not create the admin key", "error", herald_strerror(rc), NULL);
        return rc;
    }
    char dir[1024], path[1100];
    cli_key_dir(h->cfg.db_url, dir, sizeof dir);
    rc = write_key_file(dir, key, path, sizeof path);
    printf("\n  herald is ready: http://%s:%d/\n"
           "  account  %s (default)\n"
           "  admin key  %s\n"
           "  saved to   %s (mode 0600); it is shown only this once\n\n",
           h->cfg.listen_host, h->cfg.listen_port, a.id, key,
           rc == 0 ? path : "(could not write admin.key)");
    fflush(stdout);
    return 0;
}

/* Every delivery in flight and every API connection holds a descriptor;
 * the default soft limit of 1024 would cap herald far below what it can
 * carry. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void warn_plain_secrets(void)
{
    if (!getenv("HERALD_MASTER_KEY"))
        log_kv(LOG_WARN,
               "HERALD_MASTER_KEY is not set: webhook secrets are stored unencrypted in the "
               "database",
               NULL);
}

int cli_serve(int argc, char **argv)
{
    struct herald h = {0};
    struct api_server *api = NULL;
    int status = 1;
    config_defaults(&h.cfg);
    int rc = parse_flags(&h.cfg, argc, argv);
    if (rc)
        return rc;

    /* Block the stop signals in every thread; this one waits for them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    rc = store_open(h.cfg.db_url, h.cfg.db_pool, &h.store);
    if (rc) {
        log_kv(LOG_ERROR, "cannot open the store", "db", h.cfg.db_url, "error", herald_strerror(rc),
               NULL);
        goto out;
    }
    if ((rc = store_seal_from_env(&h.store)) != 0)
        goto out;
    /* A master key that does not open the stored secrets (or none, when
     * they are sealed) would fail every delivery: refuse to start. */
    if ((rc = store_seal_check(h.store)) != 0) {
        log_kv(LOG_ERROR, "refusing to start: the webhook secrets cannot be read", "error",
               herald_strerror(rc), NULL);
        goto out;
    }
    /* Best effort: a store that could not get ready is slower, not wrong. */
    if (h.store->ops->warm && h.store->ops->warm(h.store) != 0)
        log_kv(LOG_WARN, "could not prepare the store for load", NULL);
    if ((rc = bootstrap(&h)) != 0) {
        log_kv(LOG_ERROR, "cannot bootstrap the database", "error", herald_strerror(rc), NULL);
        goto out;
    }
    warn_plain_secrets();
    raise_fd_limit();
    if (!h.cfg.no_dispatch && (rc = dispatcher_start(&h.dispatcher, &h.cfg, h.store)) != 0)
        goto out;
    /* Events published here go straight to this node's dispatcher. */
    struct committer_handoff handoff = {dispatcher_lease_cb, dispatcher_offer_cb, h.dispatcher};
    if ((rc = committer_start(&h.committer, h.store, 1000, COMMITTER_LINGER_US, COMMITTER_GAP_US,
                              h.dispatcher ? dispatcher_wake_cb : NULL, h.dispatcher,
                              h.dispatcher ? &handoff : NULL)) != 0)
        goto out;
    if ((rc = api_start(&api, &h)) != 0) {
        log_kv(LOG_ERROR, "cannot listen", "error", herald_strerror(rc), NULL);
        goto out;
    }
    char addr[300];
    snprintf(addr, sizeof addr, "http://%s:%d", h.cfg.listen_host, h.cfg.listen_port);
    printf("herald listening on %s\n", addr);
    fflush(stdout);
    log_kv(LOG_INFO, "listening", "addr", addr, "db", h.cfg.db_url, "store", h.store->ops->name,
           "node", h.cfg.node_id, NULL);

    int sig = 0;
    sigwait(&stop, &sig);
    log_kv(LOG_INFO, "shutting down", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT", NULL);
    status = 0;
out:
    /* Order matters: no new requests, then no new commits, then drain the
     * deliveries in flight, then close the database under them. */
    api_stop(api);
    committer_stop(h.committer);
    dispatcher_stop(h.dispatcher);
    store_close(h.store);
    curl_global_cleanup();
    if (status == 0)
        log_kv(LOG_INFO, "stopped", NULL);
    return status;
}
