/* flags: command-line options the way Go's `flag` package reads them, so that every command
 * line written for llama-swap works unchanged.
 *
 * A flag is `-name` or `--name` (one or two dashes mean the same), with its value as
 * `-name=value` or as the next argument. Boolean flags take no next argument: `-watch-config`
 * is true, `-watch-config=false` false (1/0, t/f, true/false in any of Go's spellings). `--`
 * ends the flags; `-` alone and anything not starting with `-` are positional arguments, which
 * may come between flags. A flag given twice keeps the last value unless it repeats (a list).
 * Parsing is a pure function over argv: nothing is printed, errors come back as text. */
#ifndef GS_FLAGS_H
#define GS_FLAGS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef enum gs_flag_kind {
    GS_FLAG_VALUE = 0, /* takes a value */
    GS_FLAG_BOOL,      /* a switch */
} gs_flag_kind;

typedef struct gs_flag_spec {
    const char *name;  /* "config" */
    const char *alias; /* a second name ("c"), or NULL */
    gs_flag_kind kind;
    bool repeat;       /* every value is kept (--models-dir A --models-dir B) */
    const char *help;  /* "FILE  the llama-swap config to serve" (argument name first) */
} gs_flag_spec;

typedef struct gs_flag_val {
    int flag;          /* index into the spec */
    const char *value; /* points into argv, or "true"/"false" for booleans */
} gs_flag_val;

typedef struct gs_flags {
    gs_flag_val *vals; /* in command-line order */
    int nvals;
    const char **args; /* positional arguments */
    int nargs;
} gs_flags;

/* Parse argv[0..argc) (argv[0] is an argument, not the program name). Returns 0, or -EINVAL
 * with a message naming the flag in err ("unknown flag -frob", "flag -config needs a value").
 * out is always initialized; free it with gs_flags_free. */
int gs_flags_parse(const gs_flag_spec *spec, int nspec, int argc, char **argv, gs_flags *out,
                   char *err, size_t errlen);
void gs_flags_free(gs_flags *f);
/* The last value given for spec[flag], or NULL. */
const char *gs_flags_get(const gs_flags *f, int flag);
/* Was the boolean spec[flag] set to true (its last occurrence)? */
bool gs_flags_on(const gs_flags *f, int flag);
/* Go's strconv.ParseBool: 0 and *v set, or -EINVAL. */
int gs_flags_parse_bool(const char *s, bool *v);
/* The spec index of a flag name (no dashes), or -1. */
int gs_flags_find(const gs_flag_spec *spec, int nspec, const char *name, size_t len);
/* Rewrite the Go forms of spec's flags (`-name`, `-name=v`) as `--name`, `--name=v` for a
 * parser that knows only the double-dash forms; everything else is copied unchanged. Returns a
 * NULL-terminated copy of argv[0..argc) (free it with gs_strv_free). */
char **gs_flags_normalize(const gs_flag_spec *spec, int nspec, int argc, char **argv);
/* Usage lines for spec, one per flag ("  -config FILE  ..."). */
void gs_flags_usage(const gs_flag_spec *spec, int nspec, FILE *f);

#endif
