/* yaml: the one layer through which ggswap reads YAML (the config loader, the config-dir merge,
 * settings.yaml).
 *
 * libfyaml gives nodes; readers want values with a place. This layer parses quietly (syntax
 * errors become diagnostics), follows aliases, applies merge keys (`<<: *base`), counts every
 * node it visits against a budget (so a "billion laughs" file stops with a message instead of
 * eating the machine), and reads typed values (string, whole number, boolean, size, duration,
 * list, mapping) that report "file:line: error: key: what" through diag.h. A key table
 * (gs_yaml_key rows: name, type, field offset, limits, check) applied to a mapping by one loop
 * replaces per-key if-chains; an unknown key is a warning with its line.
 *
 * Macros are not this layer's business: a reader may install an `expand` hook, which the
 * typed getters call on scalars holding "${", so `ttl: ${T}` reads as a number (macros.h). */
#ifndef GS_YAML_H
#define GS_YAML_H
#include <jansson.h>
#include <libfyaml.h>
#include <stdbool.h>
#include <stddef.h>

#include "diag.h"

/* A reader over one document: where messages go and how many nodes it may still visit. */
typedef struct gs_yaml {
    const char *file;     /* named in every message */
    gs_diag *d;
    long nodes;           /* nodes visited, aliases followed included */
    long max_nodes;       /* the budget: past it every read fails once with a message */
    /* Optional: `s` with its ${...} expanded (caller frees), NULL after reporting. */
    char *(*expand)(void *ud, const char *s, int line, const char *key);
    void *expand_ud;
} gs_yaml;

/* One pair of a mapping, merges applied. `val` is raw: maybe an alias, NULL for an empty one. */
typedef struct gs_yaml_kv {
    char *key;
    size_t klen;
    int line;
    struct fy_node *val;
} gs_yaml_kv;

typedef struct gs_yaml_kvs {
    gs_yaml_kv *v;
    int n;
} gs_yaml_kvs;

/* A reader for a document of `text_len` bytes: the node budget grows with the text. */
void gs_yaml_init(gs_yaml *y, const char *file, gs_diag *d, size_t text_len);

/* The 1-based line of a node: a scalar's own line, else the line of the first scalar inside a
 * mapping (its first key) or sequence (its first element), looking at most 64 levels deep;
 * 0 when there is none. */
int gs_yaml_line(struct fy_node *n);

/* Parse text (`name` in messages) into *doc, quietly: every syntax error becomes a diagnostic
 * "name:line: yaml: what", and so does text that is not UTF-8 or holds a NUL byte (libfyaml is
 * not given it). Returns 0 (*doc may still be NULL for an empty file), -EINVAL after such an
 * error (*doc is then NULL) or -ENOMEM. */
int gs_yaml_parse(const char *text, size_t len, const char *name, gs_diag *d,
                  struct fy_document **doc);

/* Messages "file:line: error|warning: key: what" (no key: "file:line: error: what"). */
void gs_yaml_err(gs_yaml *y, int line, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void gs_yaml_warn(gs_yaml *y, int line, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Key paths for messages: "a.b" ("b" at the top) and "a[3]". Caller frees. */
char *gs_yaml_path_join(const char *path, const char *key);
char *gs_yaml_path_index(const char *path, int i);

/* The node an alias (*name) stands for, counted against the budget. NULL for NULL, after an
 * alias that names no anchor, or past the budget (each reported). */
struct fy_node *gs_yaml_deref(gs_yaml *y, struct fy_node *n, int line, const char *key);
/* A scalar's text ("" and *len 0 for anything else). */
const char *gs_yaml_scalar(struct fy_node *n, size_t *len);
bool gs_yaml_is_plain(struct fy_node *n);  /* unquoted scalar */
bool gs_yaml_is_null(struct fy_node *n);   /* NULL, empty, ~ or null, unquoted */
bool gs_yaml_sceq(const char *s, size_t len, const char *lit);
/* Offset of the first byte that does not start a valid UTF-8 sequence, or n. */
size_t gs_yaml_utf8_prefix(const unsigned char *s, size_t n);
/* The JSON value of an unquoted scalar by the YAML 1.2 core schema (null, booleans, numbers,
 * else a string). */
json_t *gs_yaml_plain_json(const char *s, size_t len);
/* A size such as "24GiB", "512MiB", "6GB", "1.5G" or a bare number of bytes; -1 if not one. */
long long gs_yaml_parse_size(const char *s);

/* The pairs of mapping `n` into *out (empty it with gs_yaml_kvs_free), merge keys applied:
 * keys written in the mapping win over merged ones, earlier merge sources over later ones. */
void gs_yaml_items(gs_yaml *y, struct fy_node *n, const char *path, gs_yaml_kvs *out);
void gs_yaml_kvs_free(gs_yaml_kvs *m);

/* Typed getters. Each returns 0 when the value is null or empty (nothing set, *out untouched
 * unless said), 1 when it read one, -EINVAL after reporting why not. The x-variants and the
 * numbers, booleans and sizes run the expand hook first. */
int gs_yaml_str(gs_yaml *y, struct fy_node *raw, int line, const char *key, char **out);
int gs_yaml_xstr(gs_yaml *y, struct fy_node *raw, int line, const char *key, char **out);
int gs_yaml_int(gs_yaml *y, struct fy_node *raw, int line, const char *key, long min, long max,
                int *out);
int gs_yaml_bool(gs_yaml *y, struct fy_node *raw, int line, const char *key, bool *out);
/* Bytes: "6GiB", "512MiB" or a number. */
int gs_yaml_size(gs_yaml *y, struct fy_node *raw, int line, const char *key, long long *out);
/* Seconds from 0 to 86400, fractions allowed, as milliseconds. */
int gs_yaml_ms(gs_yaml *y, struct fy_node *raw, int line, const char *key, int *out);
/* Lists of strings, NULL-terminated (*out NULL and *nout 0 first); null is an empty list.
 * A failed element is reported and left out; the result is then -EINVAL. */
int gs_yaml_strlist(gs_yaml *y, struct fy_node *raw, int line, const char *key, char ***out,
                    int *nout);
int gs_yaml_xstrlist(gs_yaml *y, struct fy_node *raw, int line, const char *key, char ***out,
                     int *nout);
/* A mapping, or NULL: null, or not a mapping ("expected a mapping <what>", reported). */
struct fy_node *gs_yaml_map(gs_yaml *y, struct fy_node *raw, int line, const char *key,
                            const char *what);

/* ---- key tables */

typedef enum gs_yaml_type {
    GS_YT_STR,       /* char *: replaced (the old value freed) */
    GS_YT_XSTR,      /* the same, macros expanded */
    GS_YT_INT,       /* int, from min to max */
    GS_YT_BOOL,      /* bool */
    GS_YT_SIZE,      /* long long bytes */
    GS_YT_MS,        /* int milliseconds from seconds */
    GS_YT_XSTRLIST,  /* char **, NULL-terminated, with its int count at count_off */
    GS_YT_FN,        /* `fn` reads the value itself */
    GS_YT_SKIP,      /* read elsewhere (before the table runs): no message */
    GS_YT_IGNORED,   /* a llama-swap key ggswap does not support: a warning */
} gs_yaml_type;

enum {
    GS_YF_EMPTY_NULL = 1, /* GS_YT_STR/XSTR: "" stores NULL */
};

typedef struct gs_yaml_key gs_yaml_key;
/* Called for GS_YT_FN rows to read `e`, and for typed rows after a value was read into the
 * field (to check it further or apply a rule such as "0 means 10"). `base` is what the field
 * offsets are relative to, `ud` the caller's. */
typedef void (*gs_yaml_key_fn)(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base,
                               void *ud);

struct gs_yaml_key {
    const char *name;
    gs_yaml_type type;
    size_t off;          /* of the field in *base */
    long min, max;       /* GS_YT_INT */
    size_t count_off;    /* GS_YT_XSTRLIST: of the int count in *base */
    gs_yaml_key_fn fn;
    unsigned flags;      /* GS_YF_* */
};

/* Read mapping `map` (raw; null reads nothing) at `path` by the table: each pair goes to the row
 * of its name, an unknown name is a warning "unknown key, ignored". `what` words the error when
 * the value is not a mapping (see gs_yaml_map). Returns how many pairs the mapping held. */
int gs_yaml_apply(gs_yaml *y, const gs_yaml_key *keys, size_t nkeys, struct fy_node *map,
                  int line, const char *path, const char *what, void *base, void *ud);
/* The same over pairs already gathered. */
void gs_yaml_apply_items(gs_yaml *y, const gs_yaml_key *keys, size_t nkeys,
                         const gs_yaml_kvs *items, const char *path, void *base, void *ud);

#endif
