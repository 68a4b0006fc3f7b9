/* postgres.c — the PostgreSQL backend (issue 5). Until it lands, a
 * postgres:// URL is refused with a clear message rather than half-working. */
#include "core/err.h"
#include "core/log.h"
#include "store/store.h"

int store_postgres_open(const char *url, int pool, struct store **out)
{
    (void)url;
    (void)pool;
    *out = NULL;
    log_kv(LOG_ERROR, "the PostgreSQL backend is not built into this herald yet; use sqlite:PATH",
           NULL);
    return HERALD_EINVAL;
}
