/* fuzz_flags: the Go-style flag parser. The input is split at NUL bytes into argv words.
 * Checks what the module promises: parse never crashes, fails only with a message, every
 * value points into argv (or is "true"/"false" for a switch), positional arguments are argv
 * words; normalize returns argc words and a NULL. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flags.h"
#include "strv.h"

static const gs_flag_spec spec[] = {
    {"config", "c", GS_FLAG_VALUE, false, NULL},
    {"config-dir", NULL, GS_FLAG_VALUE, false, NULL},
    {"listen", "l", GS_FLAG_VALUE, false, NULL},
    {"watch-config", "w", GS_FLAG_BOOL, false, NULL},
    {"models-dir", "m", GS_FLAG_VALUE, true, NULL},
    {"version", "V", GS_FLAG_BOOL, false, NULL},
};

static bool in_argv(const char *p, char **argv, int argc)
{
    for (int i = 0; i < argc; i++)
        if (p >= argv[i] && p <= argv[i] + strlen(argv[i]))
            return true;
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    if (len > 4096)
        return 0;
    char *buf = malloc(len + 1);
    memcpy(buf, data, len);
    buf[len] = 0;
    char *argv[64];
    int argc = 0;
    for (size_t i = 0; i <= len && argc < 64;) {
        argv[argc++] = buf + i;
        i += strlen(buf + i) + 1;
    }
    gs_flags f;
    char err[128];
    int n = (int)(sizeof spec / sizeof spec[0]);
    int rc = gs_flags_parse(spec, n, argc, argv, &f, err, sizeof err);
    if (rc < 0 && !err[0])
        abort();
    if (rc == 0) {
        for (int i = 0; i < f.nvals; i++) {
            const char *v = f.vals[i].value;
            if (f.vals[i].flag < 0 || f.vals[i].flag >= n)
                abort();
            if (spec[f.vals[i].flag].kind == GS_FLAG_BOOL
                    ? strcmp(v, "true") != 0 && strcmp(v, "false") != 0
                    : !in_argv(v, argv, argc))
                abort();
        }
        for (int i = 0; i < f.nargs; i++)
            if (!in_argv(f.args[i], argv, argc))
                abort();
        if (f.nargs + f.nvals > argc)
            abort();
    }
    gs_flags_free(&f);
    char **norm = gs_flags_normalize(spec, n, argc, argv);
    for (int i = 0; i < argc; i++)
        if (!norm[i])
            abort();
    if (norm[argc])
        abort();
    gs_strv_free(norm);
    free(buf);
    return 0;
}
