#include "diag.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "mem.h"
#include "strv.h"

void gs_diag_add(gs_diag *d, bool is_error, const char *file, int line, const char *fmt, ...)
{
    if (is_error)
        d->errors++;
    else
        d->warnings++;
    if (d->n > GS_DIAG_MAX)
        return;
    char *msg;
    if (d->n == GS_DIAG_MAX) {
        msg = gs_mem_printf("%s: error: too many problems; the rest are not shown", file);
    } else {
        va_list ap;
        va_start(ap, fmt);
        gs_buf b;
        gs_buf_init(&b, GS_DIAG_LINE_MAX);
        if (line > 0)
            gs_buf_printf(&b, "%s:%d: %s: ", file, line, is_error ? "error" : "warning");
        else
            gs_buf_printf(&b, "%s: %s: ", file, is_error ? "error" : "warning");
        if (gs_buf_vprintf(&b, fmt, ap) < 0)
            gs_buf_puts(&b, "(the message is too long to show)");
        va_end(ap);
        msg = gs_buf_steal(&b);
    }
    gs_strv_push(&d->msgs, &d->n, msg);
}

char *gs_diag_join(const gs_diag *d)
{
    gs_buf b;
    gs_buf_init(&b, 0);
    gs_buf_append(&b, "", 0);
    for (int i = 0; i < d->n; i++) {
        if (i)
            gs_buf_append(&b, "\n", 1);
        gs_buf_puts(&b, d->msgs[i]);
    }
    return gs_buf_steal(&b);
}

void gs_diag_free(gs_diag *d)
{
    gs_strv_free_n(d->msgs, d->n);
    memset(d, 0, sizeof(*d));
}
