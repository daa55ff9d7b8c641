/* mem: allocation that cannot fail.
 *
 * ggswap is a small daemon; when malloc fails there is nothing sensible left to do, so these
 * wrappers abort with a message (the redis/h2o policy). Callers then only handle real errors.
 * Every buffer that grows from outside input must still be bounded by its owner (see buf.h). */
#ifndef GS_MEM_H
#define GS_MEM_H
#include <stddef.h>

void *gs_mem_alloc(size_t n);
void *gs_mem_calloc(size_t n, size_t size);
void *gs_mem_realloc(void *p, size_t n);
char *gs_mem_strdup(const char *s);
char *gs_mem_strndup(const char *s, size_t n);
/* printf into a new string. */
char *gs_mem_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define GS_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define GS_CONTAINER_OF(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

#endif
