/*
 * walbuf.c — see walbuf.h.
 *
 * A wrapped file is a struct wfile followed, in the same allocation SQLite
 * makes (szOsFile), by the default VFS's own file object. Every method
 * forwards to it; the WAL's methods write held frames first, except for an
 * append that continues them. A main database file learns its
 * connection's WAL (peer) when buffering is turned on, so that its shared
 * memory barrier can write what the WAL holds (the safety net), and so
 * that releasing the WAL write lock (a shared-memory lock on the database
 * file) can discard it.
 *
 * Frames are only ever written under the WAL write lock, and a commit's
 * are all written by its xSync, before it publishes them. So whatever is
 * still held when the lock is released belongs to a transaction that was
 * rolled back (frames spilled from the page cache): it is discarded, never
 * written. Written later, it would land on frames another connection had
 * committed at the same offsets in the meantime.
 *
 * A connection is used by one thread at a time and its database file and
 * WAL with it, so a wfile needs no lock of its own.
 */
#include "store/walbuf.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* File control opcode (private to this VFS) by which walbuf_buffer hands a
 * database file its WAL: arg is the WAL's sqlite3_file, or NULL to turn
 * buffering off. Far from SQLite's own opcodes, which count up from 1. */
#define FCNTL_WALBUF 0x48524c44

struct wfile {
    sqlite3_file base;
    sqlite3_file *real; /* the default VFS's file, right after this struct */
    struct wfile *peer; /* WAL <-> its connection's main database file */
    bool wal;           /* opened as a WAL */
    bool buffering;     /* WAL only: appends are held */
    bool shm_mapped;    /* main database only: its wal-index is shared */
    int err;            /* WAL only: a failed write, until the lock goes */
    unsigned char *buf; /* held frames, cap bytes allocated */
    size_t len, cap;
    sqlite3_int64 start; /* file offset of buf[0] */
};

/* Most bytes per write passed on: SQLite's unix VFS keeps only the low 17
 * bits of a write's size (it never writes more than a page at a time). */
#define WRITE_MAX (64 * 1024)

/* Rounded so that the default VFS's file that follows stays aligned. */
#define WFILE_SIZE ((sizeof(struct wfile) + 15) & ~(size_t)15)

static sqlite3_vfs vfs;
static sqlite3_vfs *base_vfs;
static const sqlite3_io_methods wrapped_methods;

static _Atomic uint64_t n_appends, n_writes, n_barrier_writes;

static void count(_Atomic uint64_t *n)
{
    atomic_fetch_add_explicit(n, 1, memory_order_relaxed);
}

/* Writes what f holds. On an error the frames are dropped and the error
 * sticks (f->err): every later write and sync of the WAL fails with it
 * until the write lock is released, so the transaction cannot commit. The
 * operation that flushed may be a read, whose error alone SQLite treats as
 * the statement's, not the transaction's; without the sticky error a later
 * COMMIT would succeed without the dropped frames. Were they kept and
 * retried instead, every later read of the WAL would fail while the disk
 * is full, even reads of what is already committed. */
static int flush(struct wfile *f)
{
    size_t done = 0;
    while (done < f->len) {
        size_t n = f->len - done < WRITE_MAX ? f->len - done : WRITE_MAX;
        count(&n_writes);
        int rc = f->real->pMethods->xWrite(f->real, f->buf + done, (int)n,
                                           f->start + (sqlite3_int64)done);
        if (rc != SQLITE_OK) {
            f->len = 0;
            f->err = rc;
            return rc;
        }
        done += n;
    }
    f->len = 0;
    return SQLITE_OK;
}

/* Makes room for len + amt bytes, up to WALBUF_MAX; false if it cannot. */
static bool reserve(struct wfile *f, size_t amt)
{
    size_t need = f->len + amt;
    if (need <= f->cap)
        return true;
    if (need > WALBUF_MAX)
        return false;
    size_t cap = f->cap ? f->cap : 32 * 1024;
    while (cap < need)
        cap *= 2;
    if (cap > WALBUF_MAX)
        cap = WALBUF_MAX;
    unsigned char *buf = realloc(f->buf, cap);
    if (!buf)
        return false; /* written straight through instead */
    f->buf = buf;
    f->cap = cap;
    return true;
}

/* Forgets what f holds, unwritten, and any write error: the transaction
 * they belonged to is over. */
static void discard(struct wfile *f)
{
    f->len = 0;
    f->err = SQLITE_OK;
}

static int wal_write(struct wfile *f, const void *data, int amt, sqlite3_int64 ofst)
{
    bool continues = f->len > 0 && ofst == f->start + (sqlite3_int64)f->len;
    if (!continues) {
        int rc = flush(f);
        if (rc != SQLITE_OK)
            return rc;
    }
    if (!reserve(f, (size_t)amt)) {
        int rc = flush(f);
        if (rc != SQLITE_OK)
            return rc;
        if (!reserve(f, (size_t)amt)) {
            count(&n_writes);
            return f->real->pMethods->xWrite(f->real, data, amt, ofst);
        }
    }
    if (f->len == 0)
        f->start = ofst;
    memcpy(f->buf + f->len, data, (size_t)amt);
    f->len += (size_t)amt;
    count(&n_appends);
    return SQLITE_OK;
}

/* Before any other operation on a WAL: its file must hold every frame. */
#define HELD_FIRST(f)                                                                              \
    do {                                                                                           \
        if ((f)->len > 0) {                                                                        \
            int rc_ = flush(f);                                                                    \
            if (rc_ != SQLITE_OK)                                                                  \
                return rc_;                                                                        \
        }                                                                                          \
    } while (0)

#define WF(file) ((struct wfile *)(file))
#define REAL(file) (WF(file)->real)
#define RM(file) (REAL(file)->pMethods)

static void unlink_peer(struct wfile *f)
{
    if (f->peer)
        f->peer->peer = NULL;
    f->peer = NULL;
}

/* Anything still held at close is uncommitted (see the top): dropped. */
static int w_close(sqlite3_file *file)
{
    struct wfile *f = WF(file);
    unlink_peer(f);
    free(f->buf);
    f->buf = NULL;
    f->len = f->cap = 0;
    return RM(file)->xClose(f->real);
}

static int w_read(sqlite3_file *file, void *out, int amt, sqlite3_int64 ofst)
{
    HELD_FIRST(WF(file));
    return RM(file)->xRead(REAL(file), out, amt, ofst);
}

static int w_write(sqlite3_file *file, const void *data, int amt, sqlite3_int64 ofst)
{
    struct wfile *f = WF(file);
    if (f->err != SQLITE_OK)
        return f->err;
    if (f->buffering)
        return wal_write(f, data, amt, ofst);
    HELD_FIRST(f);
    return RM(file)->xWrite(f->real, data, amt, ofst);
}

static int w_truncate(sqlite3_file *file, sqlite3_int64 size)
{
    HELD_FIRST(WF(file));
    return RM(file)->xTruncate(REAL(file), size);
}

static int w_sync(sqlite3_file *file, int flags)
{
    if (WF(file)->err != SQLITE_OK)
        return WF(file)->err;
    HELD_FIRST(WF(file));
    return RM(file)->xSync(REAL(file), flags);
}

static int w_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
    HELD_FIRST(WF(file));
    return RM(file)->xFileSize(REAL(file), size);
}

static int w_lock(sqlite3_file *file, int level)
{
    return RM(file)->xLock(REAL(file), level);
}

static int w_unlock(sqlite3_file *file, int level)
{
    return RM(file)->xUnlock(REAL(file), level);
}

static int w_check_reserved(sqlite3_file *file, int *out)
{
    return RM(file)->xCheckReservedLock(REAL(file), out);
}

/* On a database file: links or unlinks its WAL (walbuf_buffer). Refused
 * where the reasoning at the top does not hold: without powersafe
 * overwrite SQLite pads a commit's last frame after its xSync, and in
 * exclusive locking mode (no shared wal-index, so never an shm call) the
 * write lock is never seen to be released. */
static int set_buffering(struct wfile *db, sqlite3_file *arg)
{
    struct wfile *wal = WF(arg);
    if (wal && (wal->base.pMethods != &wrapped_methods || !wal->wal))
        return SQLITE_NOTFOUND;
    int dc = db->real->pMethods->xDeviceCharacteristics(db->real);
    if (wal && (!(dc & SQLITE_IOCAP_POWERSAFE_OVERWRITE) || !db->shm_mapped))
        return SQLITE_NOTFOUND;
    if (!wal) {
        wal = db->peer;
        if (!wal)
            return SQLITE_OK;
        wal->buffering = false;
        return flush(wal);
    }
    if (db->peer != wal) {
        unlink_peer(db);
        unlink_peer(wal);
        db->peer = wal;
        wal->peer = db;
    }
    wal->buffering = true;
    return SQLITE_OK;
}

/* PRAGMA locking_mode=EXCLUSIVE on a database file whose WAL is buffered:
 * from then on SQLite takes the write lock without an shm call, so the
 * lock's release, which drops what a rolled-back transaction left held and
 * clears a write error, would never be seen. Buffering stops first; if
 * writing what is held fails, so does the pragma. */
static int leave_for_exclusive(struct wfile *db, char **args)
{
    struct wfile *wal = db->peer;
    if (!wal || !args[1] || !args[2] || sqlite3_stricmp(args[1], "locking_mode") != 0 ||
        sqlite3_strnicmp(args[2], "exclusive", 9) != 0)
        return SQLITE_OK;
    wal->buffering = false;
    return flush(wal);
}

static int w_file_control(sqlite3_file *file, int op, void *arg)
{
    struct wfile *f = WF(file);
    if (op == FCNTL_WALBUF)
        return f->wal ? SQLITE_NOTFOUND : set_buffering(f, arg);
    HELD_FIRST(f);
    if (op == SQLITE_FCNTL_PRAGMA && !f->wal) {
        int rc = leave_for_exclusive(f, arg);
        if (rc != SQLITE_OK)
            return rc;
    }
    return RM(file)->xFileControl(f->real, op, arg);
}

static int w_sector_size(sqlite3_file *file)
{
    return RM(file)->xSectorSize(REAL(file));
}

static int w_device_characteristics(sqlite3_file *file)
{
    return RM(file)->xDeviceCharacteristics(REAL(file));
}

static int w_shm_map(sqlite3_file *file, int page, int size, int extend, void volatile **out)
{
    int rc = RM(file)->xShmMap(REAL(file), page, size, extend, out);
    if (rc == SQLITE_OK)
        WF(file)->shm_mapped = true;
    return rc;
}

/* The WAL write lock is the wal-index's lock 0 (WAL_WRITE_LOCK in wal.c),
 * taken and released exclusively. */
static int w_shm_lock(sqlite3_file *file, int offset, int n, int flags)
{
    int rc = RM(file)->xShmLock(REAL(file), offset, n, flags);
    struct wfile *wal = WF(file)->peer;
    bool write_unlock =
        offset == 0 && n >= 1 && (flags & SQLITE_SHM_UNLOCK) && (flags & SQLITE_SHM_EXCLUSIVE);
    if (wal && write_unlock)
        discard(wal);
    return rc;
}

/* SQLite calls the database file's barrier between the two copies of the
 * wal-index header it writes to publish a commit, so frames written here
 * are in the file before any reader can see the commit. With buffering on
 * only at synchronous=FULL, the commit's xSync has written them already. */
static void w_shm_barrier(sqlite3_file *file)
{
    struct wfile *peer = WF(file)->peer;
    if (peer && peer->len > 0) {
        count(&n_barrier_writes);
        flush(peer);
    }
    RM(file)->xShmBarrier(REAL(file));
}

static int w_shm_unmap(sqlite3_file *file, int delete_flag)
{
    WF(file)->shm_mapped = false;
    return RM(file)->xShmUnmap(REAL(file), delete_flag);
}

static int w_fetch(sqlite3_file *file, sqlite3_int64 ofst, int amt, void **out)
{
    HELD_FIRST(WF(file));
    return RM(file)->xFetch(REAL(file), ofst, amt, out);
}

static int w_unfetch(sqlite3_file *file, sqlite3_int64 ofst, void *p)
{
    return RM(file)->xUnfetch(REAL(file), ofst, p);
}

static const sqlite3_io_methods wrapped_methods = {
    .iVersion = 3,
    .xClose = w_close,
    .xRead = w_read,
    .xWrite = w_write,
    .xTruncate = w_truncate,
    .xSync = w_sync,
    .xFileSize = w_file_size,
    .xLock = w_lock,
    .xUnlock = w_unlock,
    .xCheckReservedLock = w_check_reserved,
    .xFileControl = w_file_control,
    .xSectorSize = w_sector_size,
    .xDeviceCharacteristics = w_device_characteristics,
    .xShmMap = w_shm_map,
    .xShmLock = w_shm_lock,
    .xShmBarrier = w_shm_barrier,
    .xShmUnmap = w_shm_unmap,
    .xFetch = w_fetch,
    .xUnfetch = w_unfetch,
};

static int w_open(sqlite3_vfs *self, sqlite3_filename name, sqlite3_file *file, int flags,
                  int *out_flags)
{
    (void)self;
    /* Journals and temporary files are the default VFS's, in place. */
    if (!(flags & (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_WAL)))
        return base_vfs->xOpen(base_vfs, name, file, flags, out_flags);
    struct wfile *f = WF(file);
    memset(f, 0, sizeof *f);
    f->real = (sqlite3_file *)((char *)file + WFILE_SIZE);
    f->wal = (flags & SQLITE_OPEN_WAL) != 0;
    int rc = base_vfs->xOpen(base_vfs, name, f->real, flags, out_flags);
    if (rc != SQLITE_OK) {
        /* SQLite closes a file whose xOpen failed only if pMethods is set;
         * ours stays NULL, so the default VFS's is closed here. */
        if (f->real->pMethods)
            f->real->pMethods->xClose(f->real);
        return rc;
    }
    file->pMethods = &wrapped_methods;
    return SQLITE_OK;
}

static int register_rc = SQLITE_ERROR;

static void register_once(void)
{
    base_vfs = sqlite3_vfs_find(NULL);
    if (!base_vfs || base_vfs->iVersion < 1)
        return;
    /* The default VFS's own functions (path names, randomness, time,
     * dlopen) take it as their first argument and read only its pAppData,
     * which a copy shares; only opening a file and its size differ. */
    vfs = *base_vfs;
    vfs.zName = WALBUF_VFS;
    vfs.pNext = NULL;
    vfs.szOsFile = (int)WFILE_SIZE + base_vfs->szOsFile;
    vfs.xOpen = w_open;
    register_rc = sqlite3_vfs_register(&vfs, 0);
}

int walbuf_register(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, register_once);
    return register_rc;
}

bool walbuf_buffer(sqlite3 *db, bool on)
{
    sqlite3_file *wal = NULL;
    if (sqlite3_file_control(db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal) != SQLITE_OK || !wal)
        return false;
    if (wal->pMethods != &wrapped_methods || !WF(wal)->wal)
        return false;
    int rc = sqlite3_file_control(db, "main", FCNTL_WALBUF, on ? wal : NULL);
    return rc == SQLITE_OK || !on;
}

int walbuf_prefill(sqlite3 *db, sqlite3_int64 bytes)
{
    static const unsigned char zeros[64 * 1024];
    sqlite3_file *file = NULL;
    if (sqlite3_file_control(db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &file) != SQLITE_OK ||
        !file || file->pMethods != &wrapped_methods || !WF(file)->wal)
        return SQLITE_NOTFOUND;
    struct wfile *f = WF(file);
    HELD_FIRST(f);
    sqlite3_int64 size;
    int rc = f->real->pMethods->xFileSize(f->real, &size);
    if (rc != SQLITE_OK || size >= bytes)
        return rc;
    sqlite3_int64 was = size;
    while (rc == SQLITE_OK && size < bytes) {
        int n =
            bytes - size < (sqlite3_int64)sizeof zeros ? (int)(bytes - size) : (int)sizeof zeros;
        rc = f->real->pMethods->xWrite(f->real, zeros, n, size);
        size += n;
    }
    /* A full sync, not a data-only one: the new length is the point. */
    if (rc == SQLITE_OK)
        rc = f->real->pMethods->xSync(f->real, SQLITE_SYNC_NORMAL);
    /* Out of room (or any failure): the space goes back to the commits. */
    if (rc != SQLITE_OK)
        f->real->pMethods->xTruncate(f->real, was);
    return rc;
}

void walbuf_stats(struct walbuf_stats *out)
{
    out->appends = atomic_load_explicit(&n_appends, memory_order_relaxed);
    out->writes = atomic_load_explicit(&n_writes, memory_order_relaxed);
    out->barrier_writes = atomic_load_explicit(&n_barrier_writes, memory_order_relaxed);
}
