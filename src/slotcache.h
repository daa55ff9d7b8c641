/* slotcache: llama-server's slots (its KV cache) kept across a model's stop and start.
 *
 * A llama-server run with --slot-save-path DIR can write each slot's prompt and KV cache to a
 * file in DIR and read it back (POST /slots/<id>?action=save|restore). ggswap does that around a
 * planned stop (swap, TTL, unload): before the stop signal it saves every slot that holds a
 * prompt, within a bounded time; when the model starts again it restores them after the health
 * check passes and before the model is marked ready, so the first request already finds its
 * conversation cached. A crash saves nothing.
 *
 * Each model has a folder of its own. The folder remembers the key it was written under: the
 * model file (path, size, mtime), the llama-server binary and the arguments that change the KV
 * cache's layout or contents (context, parallel slots, cache types, flash attention, RoPE,
 * LoRA...); a start under another key empties it first. Slot files are written under a
 * temporary name and renamed once llama-server says the save worked, so a cut save never leaves
 * a file that looks whole; a file that llama-server refuses to restore (truncated, foreign) is
 * logged and removed, and the start goes on without it. The folders under the cache root share
 * one size cap, least recently used first out. */
#ifndef GS_SLOTCACHE_H
#define GS_SLOTCACHE_H
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <uv.h>

#include "proc.h"
#include "upstream.h"

/* ---- pure helpers (unit tested) ---- */

/* The value of a flag in argv ("--flag V", "--flag=V", any of the names), or NULL. */
const char *gs_slotcache_argv_value(char *const *argv, int argc, const char *const *names);
/* The model file a llama-server command line loads (-m / --model), or NULL. */
const char *gs_slotcache_model_file(char *const *argv, int argc);
/* The --slot-save-path the command line already gives, or NULL. */
const char *gs_slotcache_argv_dir(char *const *argv, int argc);
/* True when argv[0] runs llama-server itself (so ggswap may add flags to it). */
bool gs_slotcache_is_llama_server(char *const *argv, int argc);
/* The key the cache of this command line is valid under (caller frees). Files named on it
 * (the program, the model) contribute their size and mtime when they can be stat'ed. */
char *gs_slotcache_key(char *const *argv, int argc);
/* A folder name for a model id: safe characters, plus a hash against collisions (caller frees). */
char *gs_slotcache_dir_name(const char *model);

typedef struct gs_slot_file {
    char *path;
    uint64_t bytes;
    int64_t mtime; /* last use: written by a save, touched by a restore */
} gs_slot_file;
/* Least recently used first out: marks in drop[] (0/1) the files to remove so that the rest fit
 * in cap bytes. Returns how many. */
int gs_slotcache_pick_evict(const gs_slot_file *f, int n, uint64_t cap, unsigned char *drop);
/* The slots of a GET /slots answer that hold a prompt and are idle: their ids into ids (at
 * most max). Returns how many, or -1 when the text is not a list of slots. */
int gs_slotcache_busy_slots(const char *json, size_t len, int *ids, int max);
/* How many slots a GET /slots answer lists, or -1. */
int gs_slotcache_count_slots(const char *json, size_t len);

/* ---- the folder ---- */

/* Make the folder (and its parents), and empty it of slot files when it was written under
 * another key (or under none); leftovers of cut saves go too. Then the folder holds `key`.
 * Returns 0 or a negative errno. */
int gs_slotcache_prepare(const char *dir, const char *key);
/* Remove the least recently used slot files under root (every model folder) past cap bytes. */
void gs_slotcache_trim(const char *root, uint64_t cap);

/* ---- save and restore, asynchronously ---- */

typedef struct gs_slotcache_op gs_slotcache_op;
/* n: slots saved or restored. Called exactly once unless the op is cancelled. */
typedef void (*gs_slotcache_cb)(int n, void *ud);

typedef struct gs_slotcache_args {
    uv_loop_t *loop;
    gs_upstream_pool *pool;   /* towards the model */
    const char *model;        /* for log lines */
    const char *dir;          /* the model's folder, as llama-server was given it */
    const char *root;         /* the cache root, for the size cap (NULL: no trim) */
    uint64_t cap;             /* bytes; 0: no cap */
    unsigned timeout_ms;      /* the whole save or restore; what is left undone is dropped */
    const char *api_key;      /* the model's --api-key, or NULL */
} gs_slotcache_args;

gs_slotcache_op *gs_slotcache_save(const gs_slotcache_args *a, gs_slotcache_cb cb, void *ud);
gs_slotcache_op *gs_slotcache_restore(const gs_slotcache_args *a, gs_slotcache_cb cb, void *ud);
/* Abandon an op (its model went away): no callback; freed once its handles are closed. */
void gs_slotcache_cancel(gs_slotcache_op *op);

/* ---- a model's cache, hooked into its process ---- */

/* Save and restore p's slots around its stops and starts (proc hooks), in the folder its cmd
 * names with --slot-save-path, else in root/<model> (the flag is then added at spawn). cap:
 * bytes for everything under root (0: none); timeout_ms bounds each save and restore.
 * Returns 0, or -ENOTSUP when the cmd does not run llama-server itself and names no folder
 * (logged; the model runs without the cache). The hooks free their state with p. */
int gs_slotcache_attach(gs_proc *p, const char *root, uint64_t cap, unsigned timeout_ms);
/* Apply the config's slotCache to p after a (re)load: attach, attach again with new settings,
 * or detach. The folder is cfg's slotCache path, else <home>/slots. A process in the middle of
 * a save or restore keeps what it has until the next reload. */
void gs_slotcache_configure(gs_proc *p, const gs_config *cfg, const char *home);

#endif
