/* macros: llama-swap's `macros` and the names ggswap sets, expanded in config values.
 *
 * A config declares macros at the top level and per model; values may use the macros declared
 * before them. Expansion runs in two steps so that cmd can be looked at in between: the user's
 * macros (one pass, nothing rescanned), then the names ggswap sets: ${MODEL_ID}, ${PORT} (a
 * port is only given to a model whose cmd uses it), ${env.NAME}, and ${PID}, kept for cmdStop.
 * A value that is exactly one macro takes the macro's type (`ttl: ${T}` is a number, an
 * unquoted `true` a boolean in JSON). Every expansion is bounded: one string at 1 MiB, all of
 * one load at 64 MiB, so a macro bomb stops with a message. */
#ifndef GS_MACROS_H
#define GS_MACROS_H
#include <jansson.h>
#include <libfyaml.h>
#include <stdbool.h>
#include <stddef.h>

#include "yaml.h"

#define GS_MACROS_MAX_EXPAND (1u << 20)    /* one string after expansion */
#define GS_MACROS_BUDGET (64u << 20)       /* all macro output of one load */

typedef struct gs_macro {
    char *name;
    char *value;   /* as written, then (gs_macros_resolve) expanded against earlier macros */
    bool plain;    /* unquoted YAML scalar: a typed substitution may make it a number */
    int line;
} gs_macro;

/* The expansion state of one load: where errors go and how much was produced. */
typedef struct gs_macros {
    gs_yaml *y;
    size_t expanded;
    bool budget_hit;
} gs_macros;

/* What one value's expansion sees: macros v[0..n), and the model's id and port (0: none). */
typedef struct gs_macro_scope {
    gs_macros *M;
    const gs_macro *v;
    int n;
    const char *model_id;  /* NULL at the top level */
    int port;
} gs_macro_scope;

/* Read a `macros` mapping into *v (appending, or overriding one of the first nglobal by name
 * while keeping its place). A bad name, a reserved one, a non-scalar value or one that names
 * itself is reported and left out. */
void gs_macros_read(gs_macros *M, struct fy_node *raw, int line, const char *key, gs_macro **v,
                    int *n, int nglobal);
/* Expand each value against the macros declared before it, so that use is a single pass. */
void gs_macros_resolve(gs_macros *M, gs_macro *v, int n, const char *key);
gs_macro *gs_macros_copy(const gs_macro *v, int n);
void gs_macros_free(gs_macro *v, int n);

/* Step one: the user macros v[0..n) replaced once. NULL after reporting (too long). */
char *gs_macros_subst(gs_macros *M, const gs_macro *v, int n, const char *s, int line,
                      const char *key);
/* Step two, on step one's result (takes `a`): ${MODEL_ID}, ${PORT}, ${env.NAME}, ${PID} where
 * allow_pid; anything left is an error naming the key. NULL after reporting. */
char *gs_macros_finish(const gs_macro_scope *s, char *a, int line, const char *key,
                       bool allow_pid);
/* Both steps. */
char *gs_macros_expand(const gs_macro_scope *s, const char *text, int line, const char *key,
                       bool allow_pid);
/* The gs_yaml expand hook: ud is a const gs_macro_scope *. */
char *gs_macros_hook(void *ud, const char *text, int line, const char *key);
/* JSON from any YAML value (metadata, setParams), macros expanded in strings and typed when a
 * string is exactly one macro. NULL after reporting. depth counts nesting from the caller. */
json_t *gs_macros_json(const gs_macro_scope *s, struct fy_node *raw, int depth, int line,
                       const char *key);

#endif
