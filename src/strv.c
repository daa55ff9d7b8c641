/* strv: the one set of string-vector helpers (see strv.h). */
#include "strv.h"

#include <stdlib.h>
#include <string.h>

#include "mem.h"

void gs_strv_push(char ***v, int *n, char *s)
{
    /* Grown one slot at a time: vectors also come from gs_strv_dup and the config's list
     * readers, which allocate exactly n + 1 slots, so no capacity can be assumed. */
    *v = gs_mem_realloc(*v, sizeof(**v) * (size_t)(*n + 2));
    (*v)[(*n)++] = s;
    (*v)[*n] = NULL;
}

bool gs_strv_has(char *const *v, int n, const char *s)
{
    for (int i = 0; v && i < n; i++)
        if (v[i] && !strcmp(v[i], s))
            return true;
    return false;
}

char **gs_strv_dup(char *const *v, int n)
{
    char **out = gs_mem_calloc((size_t)(n > 0 ? n : 0) + 1, sizeof *out);
    for (int i = 0; i < n; i++)
        out[i] = gs_mem_strdup(v[i]);
    return out;
}

void gs_strv_free(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

void gs_strv_free_n(char **v, int n)
{
    if (!v)
        return;
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}
