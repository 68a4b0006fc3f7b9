/* libFuzzer target for validate_url (src/api/validate.c), the check on
 * every webhook callback URL, in dev mode, strict mode, and strict mode
 * with an --allow-cidr range. An accepted URL is ASCII without controls
 * or whitespace, within WEBHOOK_URL_MAX, and http(s); a refusal always
 * names the field "url". */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/validate.h"
#include "core/cidr.h"
#include "core/config.h"

static struct herald_config dev, strict, allow;

static void init(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    config_defaults(&dev);
    dev.dev = true;
    config_defaults(&strict);
    config_defaults(&allow);
    cidr_parse("127.0.0.0/8", &allow.allow[0]);
    cidr_parse("::1/128", &allow.allow[1]);
    allow.n_allow = 2;
}

static void check(const char *url, const struct herald_config *cfg)
{
    struct verr e = {0};
    if (validate_url(url, cfg, &e)) {
        size_t n = strlen(url);
        if (n == 0 || n > WEBHOOK_URL_MAX)
            abort();
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f)
                abort();
        if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0)
            abort();
        if (!cfg->dev && cfg->n_allow == 0 && strncasecmp(url, "https://", 8) != 0)
            abort();
    } else if (strcmp(e.field, "url") != 0 || !e.message[0]) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init();
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    check(s, &dev);
    check(s, &strict);
    check(s, &allow);
    free(s);
    return 0;
}
