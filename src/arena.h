/* arena: memory for one request, given back all at once.
 *
 * A request is many small pieces (its URL, each header name and value, the header array, a body
 * of known length) that all die together when its response ends. Taking each from malloc and
 * handing each back to free was a tenth of the proxy's user time; an arena bumps them out of
 * blocks instead and returns the blocks in one go. Blocks come from a gs_arena_pool, a bounded
 * free list shared by the arenas of one server, so a busy connection reuses warm memory and an
 * idle one holds none. Every arena has a byte limit: an allocation past it fails (NULL) and
 * leaves the arena as it was, like gs_buf. Single-threaded: one pool per loop. */
#ifndef GS_ARENA_H
#define GS_ARENA_H
#include <stddef.h>

/* The size of a pooled block (its header included); bigger allocations get a block of their
 * own, freed on reset rather than pooled. */
#define GS_ARENA_BLOCK 4096

typedef struct gs_arena_blk gs_arena_blk;

typedef struct gs_arena_pool {
    gs_arena_blk *free;   /* blocks waiting to be lent, linked through next */
    int nfree;
    int max_free;         /* more than this many idle blocks go back to the system */
} gs_arena_pool;

typedef struct gs_arena {
    gs_arena_pool *pool;  /* where blocks come from; NULL: straight from malloc */
    gs_arena_blk *blk;    /* the block being filled (older ones follow through next) */
    size_t used;          /* bytes handed out since the last reset (the limit counts these) */
    size_t max;           /* 0: no limit */
} gs_arena;

/* max_free 0: a default of 256 blocks (1 MiB). */
void gs_arena_pool_init(gs_arena_pool *p, int max_free);
/* Free the idle blocks; every arena of the pool must have been reset before. */
void gs_arena_pool_free(gs_arena_pool *p);

void gs_arena_init(gs_arena *a, gs_arena_pool *pool, size_t max);
/* n bytes, aligned for any scalar; NULL when the limit would be passed. */
void *gs_arena_alloc(gs_arena *a, size_t n);
/* A NUL-terminated copy of n bytes of s; NULL past the limit. */
char *gs_arena_strndup(gs_arena *a, const char *s, size_t n);
/* Grow the NUL-terminated string s (len bytes; NULL with len 0 starts one) by n bytes of p.
 * In place when s is the arena's last allocation and its block has room, else s moves.
 * Returns the string, or NULL past the limit (s is left as it was). */
char *gs_arena_append(gs_arena *a, char *s, size_t len, const char *p, size_t n);
/* Everything handed out since init or the last reset is released at once. */
void gs_arena_reset(gs_arena *a);

#endif
