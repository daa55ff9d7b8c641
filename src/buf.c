#include "buf.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <stdlib.h>

#include "mem.h"

void gs_buf_init(gs_buf *b, size_t max)
{
    b->data = NULL;
    b->len = b->cap = 0;
    b->max = max ? max : SIZE_MAX - 1;
}

static int reserve(gs_buf *b, size_t extra)
{
    if (extra > b->max - b->len)
        return -E2BIG;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    b->data = gs_mem_realloc(b->data, cap);
    b->cap = cap;
    return 0;
}

int gs_buf_append(gs_buf *b, const void *p, size_t n)
{
    int rc = reserve(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
    return 0;
}

char *gs_buf_grow(gs_buf *b, size_t n)
{
    if (reserve(b, n))
        return NULL;
    char *at = b->data + b->len;
    b->len += n;
    b->data[b->len] = 0;
    return at;
}

int gs_buf_puts(gs_buf *b, const char *s)
{
    return gs_buf_append(b, s, strlen(s));
}

int gs_buf_vprintf(gs_buf *b, const char *fmt, va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0)
        return -EINVAL;
    int rc = reserve(b, (size_t)n);
    if (rc)
        return rc;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int gs_buf_printf(gs_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = gs_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

size_t gs_buf_fmt_u64(char *out, unsigned long long v, unsigned base)
{
    char tmp[24];
    size_t n = 0;
    if (base < 2 || base > 16)
        base = 10;
    do {
        tmp[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

int gs_buf_put_u64(gs_buf *b, unsigned long long v)
{
    char d[24];
    return gs_buf_append(b, d, gs_buf_fmt_u64(d, v, 10));
}

void gs_buf_consume(gs_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
    } else {
        memmove(b->data, b->data + n, b->len - n);
        b->len -= n;
    }
    if (b->data)
        b->data[b->len] = 0;
}

void gs_buf_reset(gs_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = 0;
}

char *gs_buf_steal(gs_buf *b)
{
    char *p = b->data ? b->data : gs_mem_strdup("");
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

void gs_buf_free(gs_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* Replace every byte that does not belong to a valid UTF-8 sequence (or is NUL) with '?'. */
void gs_buf_scrub_utf8(char *s, size_t n)
{
    unsigned char *p = (unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        bool ok = len > 0 && i + len <= n && c != 0 && !(len == 2 && c < 0xc2);
        for (size_t k = 1; ok && k < len; k++)
            ok = (p[i + k] & 0xc0) == 0x80;
        if (ok && len == 3) {
            unsigned cp = ((c & 0x0fu) << 12) | ((p[i + 1] & 0x3fu) << 6) | (p[i + 2] & 0x3fu);
            ok = cp >= 0x800 && (cp < 0xd800 || cp > 0xdfff);
        }
        if (ok && len == 4) {
            unsigned cp = ((c & 0x07u) << 18) | ((p[i + 1] & 0x3fu) << 12) |
                          ((p[i + 2] & 0x3fu) << 6) | (p[i + 3] & 0x3fu);
            ok = cp >= 0x10000 && cp <= 0x10ffff;
        }
        if (!ok) {
            p[i++] = '?';
            continue;
        }
        i += len;
    }
}

int gs_buf_read_file(gs_buf *b, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -errno;
    char chunk[65536];
    size_t n;
    int rc = 0;
    while (!rc && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        rc = gs_buf_append(b, chunk, n);
    if (!rc && ferror(f))
        rc = -EIO;
    fclose(f);
    return rc;
}
