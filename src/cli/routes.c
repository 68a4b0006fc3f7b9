/* routes.c — `herald routes`: prints the API's route table, one
 * "METHOD /pattern" line per route, in table order.
 *
 * Not in the usage text: it exists so tests (tests/integration/
 * test_openapi.py) can compare the routes the server really has with the
 * ones /openapi.json documents, without parsing C. */
#include <stdio.h>

#include "api/router.h"
#include "cli/cli.h"

int cli_routes(int argc, char **argv)
{
    (void)argv;
    if (argc > 1) {
        fputs("usage: herald routes\n", stderr);
        return 2;
    }
    for (const struct route *r = api_routes; r->pattern; r++)
        printf("%s %s\n", r->method, r->pattern);
    return fflush(stdout) == 0 ? 0 : 1;
}
