/* hdrs: the header lines of one HTTP message, collected from llhttp's callbacks.
 *
 * Both directions (requests in http.c, responses in upstream.c) collect them the same way: the
 * name and value arrive in pieces, then the line is complete. Names, values and the array live
 * in the message's arena (arena.h), so nothing is freed line by line: resetting the arena (and
 * init again) forgets them all. */
#ifndef GS_HDRS_H
#define GS_HDRS_H
#include <stddef.h>

#include "arena.h"

typedef struct gs_http_header {
    char *name;
    char *value;
    size_t name_len, value_len; /* strlen of each, known from parsing */
} gs_http_header;

typedef struct gs_hdrs {
    gs_arena *arena;
    gs_http_header *v;          /* the complete lines */
    int n, cap, max;
    char *name, *value;         /* the line being read */
    size_t name_len, value_len;
} gs_hdrs;

/* Start collecting (again) at most max lines into arena. */
void gs_hdrs_init(gs_hdrs *h, gs_arena *arena, int max);
/* A piece of the current line's name or value; -E2BIG when the arena is full. */
int gs_hdrs_name(gs_hdrs *h, const char *at, size_t len);
int gs_hdrs_value(gs_hdrs *h, const char *at, size_t len);
/* The current line is complete; -E2BIG when it would be line max + 1 or the arena is full. */
int gs_hdrs_line(gs_hdrs *h);

#endif
