/* main.c — herald's entry point: picks the subcommand. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/util.h"

static void usage(FILE *f)
{
    fputs("usage: herald <command> [options]\n"
          "\n"
          "  serve [--listen HOST:PORT] [--db URL] [--dev] [--allow-cidr CIDR]...\n"
          "        [--retry-schedule 5,25,125] [--workers N] [--connect-timeout-ms N]\n"
          "        [--request-timeout-ms N] [--disable-after-ms N] [--lease-ms N]\n"
          "        [--max-body BYTES] [--log-level debug|info|warn|error]\n"
          "        [--db-pool N] [--max-in-flight N] [--send-threads N] [--no-dispatch]\n"
          "  accounts create NAME [--db URL]\n"
          "  keys create --account ID [--admin] [--db URL]\n"
          "  send TYPE JSON [--url http://127.0.0.1:8080] [--key KEY]\n"
          "  listen [--port 9000] [--secret SECRET] [--scheme SCHEME]\n"
          "  verify --secret SECRET [--scheme SCHEME] < request\n"
          "  version\n",
          f);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    argc--;
    argv++;
    if (strcmp(cmd, "serve") == 0)
        return cli_serve(argc, argv);
    if (strcmp(cmd, "accounts") == 0)
        return cli_accounts(argc, argv);
    if (strcmp(cmd, "keys") == 0)
        return cli_keys(argc, argv);
    if (strcmp(cmd, "send") == 0)
        return cli_send(argc, argv);
    if (strcmp(cmd, "listen") == 0)
        return cli_listen(argc, argv);
    if (strcmp(cmd, "verify") == 0)
        return cli_verify(argc, argv);
    if (strcmp(cmd, "routes") == 0) /* hidden: for the OpenAPI coverage test */
        return cli_routes(argc, argv);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("herald %s\n", HERALD_VERSION);
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "herald: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
