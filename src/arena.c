#include "arena.h"

#include <stdalign.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"

#define ALIGN alignof(max_align_t)

struct gs_arena_blk {
    gs_arena_blk *next;
    size_t cap;           /* bytes of data[] */
    size_t off;           /* first free byte of data[] (not rounded: a string may grow there) */
    bool pooled;          /* a standard block that goes back to the pool */
    alignas(max_align_t) char data[];
};

#define BLOCK_DATA (GS_ARENA_BLOCK - offsetof(gs_arena_blk, data))

void gs_arena_pool_init(gs_arena_pool *p, int max_free)
{
    p->free = NULL;
    p->nfree = 0;
    p->max_free = max_free > 0 ? max_free : 256;
}

void gs_arena_pool_free(gs_arena_pool *p)
{
    while (p->free) {
        gs_arena_blk *b = p->free;
        p->free = b->next;
        free(b);
    }
    p->nfree = 0;
}

void gs_arena_init(gs_arena *a, gs_arena_pool *pool, size_t max)
{
    a->pool = pool;
    a->blk = NULL;
    a->used = 0;
    a->max = max ? max : SIZE_MAX;
}

/* A block with room for n bytes, in front of the arena's list. */
static gs_arena_blk *new_block(gs_arena *a, size_t n)
{
    gs_arena_blk *b;
    if (n <= BLOCK_DATA) {
        if (a->pool && a->pool->free) {
            b = a->pool->free;
            a->pool->free = b->next;
            a->pool->nfree--;
        } else {
            b = gs_mem_alloc(GS_ARENA_BLOCK);
        }
        b->cap = BLOCK_DATA;
        b->pooled = true;
    } else {
        b = gs_mem_alloc(offsetof(gs_arena_blk, data) + n);
        b->cap = n;
        b->pooled = false;
    }
    b->off = 0;
    b->next = a->blk;
    a->blk = b;
    return b;
}

void *gs_arena_alloc(gs_arena *a, size_t n)
{
    if (n > a->max - a->used)
        return NULL;
    gs_arena_blk *b = a->blk;
    size_t off = b ? (b->off + ALIGN - 1) & ~(ALIGN - 1) : 0;
    if (!b || off > b->cap || n > b->cap - off) {
        b = new_block(a, n);
        off = 0;
    }
    b->off = off + n;
    a->used += n;
    return b->data + off;
}

char *gs_arena_strndup(gs_arena *a, const char *s, size_t n)
{
    if (n == SIZE_MAX)
        return NULL;
    char *d = gs_arena_alloc(a, n + 1);
    if (!d)
        return NULL;
    if (n)
        memcpy(d, s, n);
    d[n] = 0;
    return d;
}

char *gs_arena_append(gs_arena *a, char *s, size_t len, const char *p, size_t n)
{
    if (!s)
        return gs_arena_strndup(a, p, n);
    gs_arena_blk *b = a->blk;
    bool last = b && s + len + 1 == b->data + b->off;
    if (last && n <= b->cap - b->off) {
        if (n > a->max - a->used)
            return NULL;
        memcpy(s + len, p, n);
        s[len + n] = 0;
        b->off += n;
        a->used += n;
        return s;
    }
    /* Move it, with room to grow again: a header split over many reads stays linear. */
    if (len > SIZE_MAX / 4 || n > SIZE_MAX / 4)
        return NULL;
    size_t want = len + n + 1, room = want + (len + n) / 2;
    if (room > a->max - a->used)
        room = want;
    char *d = gs_arena_alloc(a, room);
    if (!d)
        return NULL;
    memcpy(d, s, len);
    memcpy(d + len, p, n);
    d[len + n] = 0;
    /* Give back the slack, so that the string is the last allocation again. */
    a->blk->off -= room - want;
    a->used -= room - want;
    return d;
}

void gs_arena_reset(gs_arena *a)
{
    while (a->blk) {
        gs_arena_blk *b = a->blk;
        a->blk = b->next;
        if (b->pooled && a->pool && a->pool->nfree < a->pool->max_free) {
            b->next = a->pool->free;
            a->pool->free = b;
            a->pool->nfree++;
        } else {
            free(b);
        }
    }
    a->used = 0;
}
