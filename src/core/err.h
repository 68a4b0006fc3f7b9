/*
 * err.h — herald's one error enum.
 *
 * Every fallible function in herald returns 0 on success or one of these
 * negative codes. The table is the single source of both the codes and their
 * messages (libuv's UV_ERRNO_MAP pattern), so herald_strerror() can never
 * drift from the enum.
 */
#ifndef HERALD_CORE_ERR_H
#define HERALD_CORE_ERR_H

#define HERALD_ERRNO_MAP(XX)                                                                       \
    XX(NOMEM, "out of memory")                                                                     \
    XX(INVAL, "invalid argument")                                                                  \
    XX(NOTFOUND, "not found")                                                                      \
    XX(CONFLICT, "conflict")                                                                       \
    XX(TOOBIG, "too large")                                                                        \
    XX(STORE, "store failure")                                                                     \
    XX(BUSY, "store busy, try again")                                                              \
    XX(IO, "input/output error")                                                                   \
    XX(CRYPTO, "cryptographic failure")                                                            \
    XX(UNAVAILABLE, "service unavailable")                                                         \
    XX(AUTH, "authentication failed")                                                              \
    XX(SHUTDOWN, "shutting down")

enum herald_err {
    HERALD_OK = 0,
#define XX(name, msg) HERALD_E##name,
    HERALD__EFIRST = -1000,
    HERALD_ERRNO_MAP(XX)
#undef XX
};

/* A static string describing err; never NULL, even for unknown codes. */
const char *herald_strerror(int err);

#endif
