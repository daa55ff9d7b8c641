/* buf: a growable byte buffer with a hard size limit.
 *
 * Everything ggswap accumulates from the outside world (request heads and bodies, log lines,
 * generated files) goes through a gs_buf, so no input can make the daemon grow without bound:
 * an append past `max` fails with -E2BIG and leaves the buffer as it was. The data is always
 * NUL-terminated one byte past `len`, so text can be handed to C string functions directly. */
#ifndef GS_BUF_H
#define GS_BUF_H
#include <stdarg.h>
#include <stddef.h>

typedef struct gs_buf {
    char *data;   /* NULL until the first append */
    size_t len;
    size_t cap;
    size_t max;   /* hard limit on len; 0 means SIZE_MAX */
} gs_buf;

void gs_buf_init(gs_buf *b, size_t max);
/* Append n bytes. Returns 0, or -E2BIG when len would pass max (nothing appended). */
int gs_buf_append(gs_buf *b, const void *p, size_t n);
int gs_buf_puts(gs_buf *b, const char *s);
/* Make n more bytes part of the buffer and return where they start, for the caller to fill
 * (one bounds check for a line assembled from pieces); NULL when len would pass max. */
char *gs_buf_grow(gs_buf *b, size_t n);
int gs_buf_printf(gs_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int gs_buf_vprintf(gs_buf *b, const char *fmt, va_list ap);
/* Decimal (base 10) or hex (base 16, lower case) digits of v at out, no NUL; returns how many
 * (at most 20). The request path formats numbers with these instead of printf. */
size_t gs_buf_fmt_u64(char *out, unsigned long long v, unsigned base);
/* Append v in decimal. */
int gs_buf_put_u64(gs_buf *b, unsigned long long v);
/* Drop the first n bytes (consumed input). */
void gs_buf_consume(gs_buf *b, size_t n);
void gs_buf_reset(gs_buf *b);
/* Hand the data over to the caller (who frees it) and reset the buffer. Never NULL. */
char *gs_buf_steal(gs_buf *b);
void gs_buf_free(gs_buf *b);
/* Append the whole file at path. Returns 0, -E2BIG when it is larger than what max leaves (the
 * buffer then holds a part of it), or the negative errno of open/read (-ENOENT: no such file). */
int gs_buf_read_file(gs_buf *b, const char *path);
/* Text from outside (child output, log tails) may hold any bytes; JSON and the page want UTF-8:
 * every byte that is not part of a valid UTF-8 sequence (and NUL) becomes '?', in place. */
void gs_buf_scrub_utf8(char *s, size_t n);

#endif
