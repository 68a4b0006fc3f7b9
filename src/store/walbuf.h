/*
 * walbuf.h — a SQLite VFS that writes a commit's WAL frames in one call.
 *
 * SQLite appends each WAL frame as two pwrite() calls (its 24-byte header,
 * then the page), so a group commit of 25 pages costs 50 system calls and
 * as many page-cache lookups, most of them for frames that straddle a
 * page boundary. This VFS, "herald-walbuf", wraps the platform's default
 * one. While buffering is on for a connection's WAL, contiguous appends are
 * kept in memory (up to WALBUF_MAX bytes) and written as one pwrite() when
 * anything else touches the file: above all the xSync of the commit.
 *
 * Why it is safe only with synchronous=FULL: a WAL commit becomes visible
 * to other connections when SQLite writes the wal-index header, and with
 * FULL it syncs the WAL (here: writes the buffer, then fsyncs) before that,
 * so a write that fails fails the commit. With NORMAL there is no sync and
 * the first call this VFS would see is the header's memory barrier, which
 * cannot report an error. So buffering is off unless the store turns it
 * on for a connection it keeps at FULL (walbuf_buffer), and turning it off
 * writes what is held. As a safety net the barrier also writes anything
 * still held, so no reader can ever see a frame that is not in the file.
 * What is still held when the connection releases the WAL write lock
 * belongs to a transaction that was rolled back, and is dropped unwritten.
 *
 * Files other than main databases and WALs (rollback journals, temporary
 * files) are the default VFS's own, untouched.
 */
#ifndef HERALD_STORE_WALBUF_H
#define HERALD_STORE_WALBUF_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

/* The VFS's name, for sqlite3_open_v2(). */
#define WALBUF_VFS "herald-walbuf"

/* Most bytes of frames held per WAL before they are written. */
#define WALBUF_MAX (512 * 1024)

/* Registers the VFS (not as the default) once per process; later calls
 * return the first call's result. SQLITE_OK or SQLite's error. */
int walbuf_register(void);

/* Turns buffering of db's "main" WAL on or off; call it between
 * transactions. The WAL must be open, which it is after the connection's
 * first read. Returns false, and changes nothing, when db's WAL is not one
 * of this VFS (another VFS, a rollback journal, not open yet), or when
 * turning it on would be unsafe: the database lacks powersafe overwrite
 * (psow=0), or the connection is in exclusive locking mode (a later
 * PRAGMA locking_mode=EXCLUSIVE turns it off, writing what is held). The
 * setting lasts as long as the WAL file stays open (a connection keeps it
 * open from its first read in WAL mode until it closes).
 *
 * When writing held frames fails, they are dropped, the operation that
 * wrote them (the commit's xSync, a read) returns the error, and every
 * later write or sync of that WAL returns it too until the transaction
 * ends: it cannot commit without them. */
bool walbuf_buffer(sqlite3 *db, bool on);

/* Extends db's "main" WAL with zeros to at least bytes long and syncs it,
 * so that the commits that fill it need not record a new file size in
 * their fsyncs (a few milliseconds each on a busy disk). The caller holds
 * the WAL write lock (BEGIN IMMEDIATE), so no frame can be written beyond
 * the old end meanwhile; SQLite reads a zeroed frame as the log's end.
 * SQLITE_NOTFOUND when db's WAL is not one of this VFS's or not open. */
int walbuf_prefill(sqlite3 *db, sqlite3_int64 bytes);

/* Counts since the process started, over every WAL of this VFS. */
struct walbuf_stats {
    uint64_t appends;        /* frame writes held in a buffer */
    uint64_t writes;         /* writes of held frames to the default VFS */
    uint64_t barrier_writes; /* buffers written by the safety net */
};

void walbuf_stats(struct walbuf_stats *out);

#endif
