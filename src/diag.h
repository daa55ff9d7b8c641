/* diag: the problems a reader of a file finds, as complete lines for a person.
 *
 * Every reader of user files (the config loader, the config-dir merge, settings.yaml) collects
 * its findings here, so they all read "FILE:LINE: error: KEY: what" and a caller can print
 * them, join them into one answer, or only count them. A file with any error is rejected as a
 * whole; warnings never stop anything. At most GS_DIAG_MAX messages are kept (a hostile file
 * cannot fill memory with them); counting goes on past that. */
#ifndef GS_DIAG_H
#define GS_DIAG_H
#include <stdbool.h>

#define GS_DIAG_MAX 1000
#define GS_DIAG_LINE_MAX 65536 /* one message; a longer one says so instead */

typedef struct gs_diag {
    char **msgs;   /* "FILE:LINE: error: ..." or "FILE: warning: ..." when the line is unknown */
    int n;
    int errors;
    int warnings;
} gs_diag;

/* Add one message; line <= 0 leaves the line out. */
void gs_diag_add(gs_diag *d, bool is_error, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* All messages joined by newlines (caller frees). */
char *gs_diag_join(const gs_diag *d);
void gs_diag_free(gs_diag *d);

#endif
