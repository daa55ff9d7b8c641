/* fuzz_cmdline: the shell-like `cmd` splitter. Checks what the module promises: split gives a
 * NULL-terminated argv of argc words, or an error message; quoting a word and splitting it back
 * gives the same word; clean never fails. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cmdline.h"
#include "strv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    char *text = malloc(len + 1);
    memcpy(text, data, len);
    text[len] = 0;

    char *clean = gs_cmdline_clean(text);
    char **argv = NULL;
    int argc = -1;
    const char *err = NULL;
    int rc = gs_cmdline_split(clean, &argv, &argc, &err);
    if (rc == 0) {
        if (!argv || argc < 0 || argv[argc] != NULL)
            abort();
        for (int i = 0; i < argc; i++) {
            /* Round trip: the quoted form of every word splits back into that one word. */
            char *q = gs_cmdline_quote(argv[i]);
            char **back = NULL;
            int n = 0;
            const char *e2 = NULL;
            if (gs_cmdline_split(q, &back, &n, &e2) != 0 || n != 1 || strcmp(back[0], argv[i]))
                abort();
            gs_strv_free(back);
            free(q);
        }
        gs_strv_free(argv);
    } else if (!err) {
        abort();
    }
    free(clean);

    /* The raw text as one word must survive quoting too (a path with any bytes in it). */
    char *q = gs_cmdline_quote(text);
    char **back = NULL;
    int n = 0;
    if (gs_cmdline_split(q, &back, &n, &err) == 0) {
        if (*text && (n != 1 || strcmp(back[0], text)))
            abort();
        gs_strv_free(back);
    }
    free(q);
    free(text);
    return 0;
}
