/* watch: model folders that update the daemon by themselves (SPEC §5 watched folders).
 *
 * Every model folder and its subfolders get a libuv fs-event handle (inotify). An event only
 * (re)starts a debounce timer; when it fires, the folders' `.gguf` files (never `.part`, never
 * hidden files) are listed with size and mtime. A listing that differs from the one the config
 * was made from is applied only once it stayed the same for one more interval, so a file that
 * is still being copied (still growing) is not served half-written; `ggswap pull` only ever
 * renames complete, verified files into place. Applying is the caller's callback (the server
 * regenerates and reloads, which keeps unchanged models running). The decision is the pure
 * gs_watch_decide, tested as a table. */
#ifndef GS_WATCH_H
#define GS_WATCH_H
#include <stdbool.h>
#include <uv.h>

typedef struct gs_watch gs_watch;
typedef void (*gs_watch_cb)(void *ud);

typedef enum gs_watch_action {
    GS_WATCH_NOTHING = 0, /* the folders hold what the config was made from */
    GS_WATCH_WAIT,        /* something changed and may still be changing: look again later */
    GS_WATCH_APPLY,       /* changed, and stable since the last look: apply it */
} gs_watch_action;

/* applied: the listing the config was made from; prev: the last look (NULL: none yet); now:
 * this look. Listings are compared as strings (gs_watch_listing's form). */
gs_watch_action gs_watch_decide(const char *applied, const char *prev, const char *now);

/* The listing of dirs: one "path\tsize\tmtime\n" line per .gguf, sorted, recursing into
 * subfolders (at most 8 levels). New string. */
char *gs_watch_listing(char *const *dirs, int n);

/* debounce_ms: the quiet time after an event before looking (default 500 when 0). */
gs_watch *gs_watch_new(uv_loop_t *loop, unsigned debounce_ms, gs_watch_cb cb, void *ud);
/* Watch these folders (replacing earlier ones; the same ones again keep the applied listing,
 * which an apply set). Otherwise their current listing counts as applied (it is
 * taken on libuv's thread pool; a look before it is there waits for it). */
void gs_watch_set_dirs(gs_watch *w, char *const *dirs, int n);
/* Look now (after a download finished), as if an event had come. */
void gs_watch_poke(gs_watch *w);
/* Stop and free (from the handles' close callbacks). */
void gs_watch_free(gs_watch *w);

#endif
