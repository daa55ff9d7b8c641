#include "hdrs.h"

#include <errno.h>
#include <string.h>

void gs_hdrs_init(gs_hdrs *h, gs_arena *arena, int max)
{
    memset(h, 0, sizeof *h);
    h->arena = arena;
    h->max = max;
}

/* A piece of a name or value: llhttp may split either over reads, and the arena keeps the
 * piece contiguous with what came before. */
static int piece(gs_arena *a, char **s, size_t *n, const char *at, size_t len)
{
    char *p = gs_arena_append(a, *s, *n, at, len);
    if (!p)
        return -E2BIG;
    *s = p;
    *n += len;
    return 0;
}

int gs_hdrs_name(gs_hdrs *h, const char *at, size_t len)
{
    return piece(h->arena, &h->name, &h->name_len, at, len);
}

int gs_hdrs_value(gs_hdrs *h, const char *at, size_t len)
{
    return piece(h->arena, &h->value, &h->value_len, at, len);
}

int gs_hdrs_line(gs_hdrs *h)
{
    if (h->n >= h->max)
        return -E2BIG;
    if (h->n == h->cap) {
        /* The array grows in the arena too; the old one is left there (a few hundred bytes). */
        int cap = h->cap ? h->cap * 2 : 16;
        if (cap > h->max)
            cap = h->max;
        gs_http_header *v = gs_arena_alloc(h->arena, sizeof *v * (size_t)cap);
        if (!v)
            return -E2BIG;
        if (h->n)
            memcpy(v, h->v, sizeof *v * (size_t)h->n);
        h->v = v;
        h->cap = cap;
    }
    /* llhttp sends no piece for an empty value (or name). */
    if (!h->name && !(h->name = gs_arena_strndup(h->arena, "", 0)))
        return -E2BIG;
    if (!h->value && !(h->value = gs_arena_strndup(h->arena, "", 0)))
        return -E2BIG;
    h->v[h->n].name = h->name;
    h->v[h->n].value = h->value;
    h->v[h->n].name_len = h->name_len;
    h->v[h->n].value_len = h->value_len;
    h->n++;
    h->name = h->value = NULL;
    h->name_len = h->value_len = 0;
    return 0;
}
