/*
 * cli.h — herald's subcommands (DESIGN.md §8). Each takes the arguments
 * after its name (argv[0] is the subcommand) and returns the process exit
 * status: 0 on success, 1 on failure, 2 on a usage error.
 */
#ifndef HERALD_CLI_CLI_H
#define HERALD_CLI_CLI_H

int cli_serve(int argc, char **argv);
int cli_accounts(int argc, char **argv);
int cli_keys(int argc, char **argv);
int cli_send(int argc, char **argv);
int cli_listen(int argc, char **argv);
int cli_verify(int argc, char **argv);
/* Hidden: prints the API route table ("METHOD /pattern" lines). */
int cli_routes(int argc, char **argv);

/* Shared by the subcommands that open the store: "--db URL" or HERALD_DB or
 * the default ./var/herald.db. */
const char *cli_db_url(const char *flag);

/* The folder that holds admin.key: the SQLite file's folder, or ./var for
 * PostgreSQL. Writes into out[cap]. */
void cli_key_dir(const char *db_url, char *out, unsigned long cap);

#endif
