/* store: request activity kept across restarts, in SQLite (the config's `store.path`).
 *
 * The finished requests that stats.h keeps in memory (the page's recent requests,
 * /api/requests, the history a new /api/events client gets) are also written to one table,
 * `activity`, so a restarted ggswap shows the activity it had; at start-up the newest rows
 * fill the in-memory ring again and request ids go on from the largest stored one. Without
 * `store.path` nothing is written and the ring alone holds the activity, as before.
 *
 * Writes never block the loop: gs_store_add queues a copy, and the queue is written in one
 * transaction per batch in libuv's thread pool. One batch is out at a time, so the SQLite
 * connection is used by one thread at a time (the loop opens and reads it at start-up and
 * closes it at exit; the pool writes in between), and records that arrive while a batch is
 * written make the next batch. Everything is bounded: the table keeps the newest max_rows rows
 * (older ones go in the batch that passes the cap), the queue GS_STORE_MAX_PENDING records
 * (past that, with a disk that stalls, the oldest unwritten ones are dropped and counted).
 *
 * As in llama-swap, which exits when its store cannot be opened, a file that is not a SQLite
 * database, is damaged, or cannot be written is an error at start-up that names the path. The
 * table has llama-swap's columns (id, ts_created, model_id, req_path, resp_status_code,
 * output_tokens, duration_ms, ...) plus ggswap's own (ts_ms, method, queue_ms, load_ms,
 * ttft_ms), added to a table that llama-swap created when they are missing. */
#ifndef GS_STORE_H
#define GS_STORE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "stats.h"

#define GS_STORE_MAX_ROWS 10000   /* rows kept in the file */
#define GS_STORE_MAX_PENDING 4096 /* records queued while a batch is written */
#define GS_STORE_BATCH_MAX 512    /* records per transaction */

typedef struct gs_store gs_store;

/* Open (or create) the store at path, keeping at most max_rows rows (<= 0: GS_STORE_MAX_ROWS).
 * Returns 0, or a negative errno-style code with a message naming the path and what to do in
 * *msg (caller frees). */
int gs_store_open(uv_loop_t *loop, const char *path, int max_rows, gs_store **out, char **msg);
/* The newest rows, at most cap, oldest first, into out; *max_id gets the largest id stored
 * (0 when empty). Call before the first gs_store_add. Returns the count, or a negative code. */
int gs_store_load(gs_store *st, gs_request_log *out, int cap, uint64_t *max_id);
/* Queue one finished request (its id already assigned) for writing; never blocks. */
void gs_store_add(gs_store *st, const gs_request_log *r);
/* Finish: what is queued is written (waiting for a batch in flight to end first), the file is
 * closed and st freed, now or once that batch is back. st must not be used afterwards. */
void gs_store_close(gs_store *st);
const char *gs_store_path(const gs_store *st);
/* Records dropped because the queue was full, and batches that failed to be written. */
uint64_t gs_store_dropped(const gs_store *st);
uint64_t gs_store_failed(const gs_store *st);
/* True while a batch is being written (for tests). */
bool gs_store_writing(const gs_store *st);

/* ---- decisions (pure) ---- */

/* How many queued records the next batch takes: 0 while one is being written or after a
 * close (the close writes the rest itself), else up to GS_STORE_BATCH_MAX. */
size_t gs_store_batch_size(size_t npending, bool writing, bool closed);
/* Rows with an id at or below this go once max_id is stored and max_rows are kept (0: none). */
uint64_t gs_store_prune_below(uint64_t max_id, uint64_t max_rows);

#endif
