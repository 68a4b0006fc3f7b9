#include "core/err.h"

const char *herald_strerror(int err)
{
    switch (err) {
    case HERALD_OK:
        return "ok";
#define XX(name, msg)                                                                              \
    case HERALD_E##name:                                                                           \
        return msg;
        HERALD_ERRNO_MAP(XX)
#undef XX
    default:
        return "unknown error";
    }
}
