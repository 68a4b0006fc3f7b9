/* admin.c — `herald accounts create` and `herald keys create`: work on the
 * store directly, so an operator can recover access without the API. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "api/keys.h"
#include "cli/cli.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/util.h"
#include "store/store.h"

static int open_store(const char *db, struct store **s)
{
    int rc = store_open(cli_db_url(db), 1, s);
    if (rc)
        fprintf(stderr, "herald: cannot open the store %s: %s\n", cli_db_url(db),
                herald_strerror(rc));
    return rc;
}

static const struct option db_opts[] = {
    {"db", required_argument, NULL, 'd'},
    {"account", required_argument, NULL, 'a'},
    {"admin", no_argument, NULL, 'A'},
    {NULL, 0, NULL, 0},
};

int cli_accounts(int argc, char **argv)
{
    const char *db = NULL;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", db_opts, NULL)) != -1) {
        if (opt != 'd')
            return 2;
        db = optarg;
    }
    if (argc - optind != 2 || strcmp(argv[optind], "create") != 0) {
        fputs("usage: herald accounts create NAME [--db URL]\n", stderr);
        return 2;
    }
    const char *name = argv[optind + 1];
    size_t len = strlen(name);
    if (len == 0 || len >= STORE_NAME_MAX) {
        fputs("herald: the account name must be 1 to 127 characters\n", stderr);
        return 2;
    }
    struct store *s = NULL;
    if (open_store(db, &s))
        return 1;
    int status = 1;
    struct store_account a = {0};
    id_new(a.id, "acct", clock_now_ms());
    str_copy(a.name, sizeof a.name, name);
    a.created_at = clock_now_ms();
    char key[API_KEY_MAX], key_id[HERALD_ID_MAX];
    int rc = s->ops->account_create(s, &a);
    if (rc == 0)
        rc = api_key_new(s, a.id, "account", NULL, key, key_id);
    if (rc) {
        fprintf(stderr, "herald: cannot create the account: %s\n", herald_strerror(rc));
        goto out;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "account_id", a.id);
    cJSON_AddStringToObject(o, "name", a.name);
    cJSON_AddStringToObject(o, "key_id", key_id);
    cJSON_AddStringToObject(o, "api_key", key);
    char *text = cJSON_PrintUnformatted(o);
    puts(text);
    cJSON_free(text);
    cJSON_Delete(o);
    status = 0;
out:
    store_close(s);
    return status;
}

int cli_keys(int argc, char **argv)
{
    const char *db = NULL, *account = NULL;
    bool admin = false;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", db_opts, NULL)) != -1) {
        if (opt == 'd')
            db = optarg;
        else if (opt == 'a')
            account = optarg;
        else if (opt == 'A')
            admin = true;
        else
            return 2;
    }
    if (argc - optind != 1 || strcmp(argv[optind], "create") != 0 || !account) {
        fputs("usage: herald keys create --account ID [--admin] [--db URL]\n", stderr);
        return 2;
    }
    struct store *s = NULL;
    if (open_store(db, &s))
        return 1;
    int status = 1;
    struct store_account a;
    char key[API_KEY_MAX], key_id[HERALD_ID_MAX];
    int rc = s->ops->account_get(s, account, &a);
    if (rc) {
        fprintf(stderr, "herald: no account %s\n", account);
        goto out;
    }
    rc = api_key_new(s, a.id, admin ? "admin" : "account", NULL, key, key_id);
    if (rc) {
        fprintf(stderr, "herald: cannot create the key: %s\n", herald_strerror(rc));
        goto out;
    }
    printf("{\"key_id\":\"%s\",\"account_id\":\"%s\",\"role\":\"%s\",\"api_key\":\"%s\"}\n", key_id,
           a.id, admin ? "admin" : "account", key);
    status = 0;
out:
    store_close(s);
    return status;
}
