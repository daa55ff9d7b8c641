/* prefetch: read a model file into the page cache ahead of its load.
 *
 * When a swap is decided but the old model still finishes its requests in flight, the new
 * model's file can already be read from disk, so that llama-server's load (which maps the file
 * and touches every page) finds it warm. The read runs in libuv's thread pool in bounded
 * chunks (posix_fadvise first, then reads into a scratch buffer, which is what makes the pages
 * resident), reports its progress through a counter the loop may read at any time, and stops
 * early when cancelled. It never fails anything: an unreadable file just ends the prefetch. */
#ifndef GS_PREFETCH_H
#define GS_PREFETCH_H
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

typedef struct gs_prefetch gs_prefetch;

/* Start reading path; NULL when it cannot be opened. */
gs_prefetch *gs_prefetch_start(uv_loop_t *loop, const char *path);
/* Bytes read so far and the file's size (for progress lines). */
uint64_t gs_prefetch_done(const gs_prefetch *p);
uint64_t gs_prefetch_size(const gs_prefetch *p);
bool gs_prefetch_finished(const gs_prefetch *p);
const char *gs_prefetch_path(const gs_prefetch *p);
/* Let go: stops the read soon if it is still running; freed by the loop afterwards. */
void gs_prefetch_release(gs_prefetch *p);

#endif
