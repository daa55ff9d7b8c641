/* The YAML layer on its own: typed getters as a table (text -> value, or the exact message with
 * its line), key tables applied to a mapping, aliases, merges and the node budget. */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "settings.h"
#include "strv.h"
#include "yaml.h"

static gs_diag D;
static struct fy_document *Doc;
static gs_yaml Y;

static void fini(void)
{
    if (Doc)
        fy_document_destroy(Doc);
    Doc = NULL;
    gs_diag_free(&D);
}

TestSuite(yaml, .fini = fini);

/* The root mapping of text, with a fresh reader. */
static struct fy_node *load(const char *text)
{
    fini();
    int rc = gs_yaml_parse(text, strlen(text), "y.yaml", &D, &Doc);
    cr_assert_eq(rc, 0, "parse: %s", D.n ? D.msgs[0] : "");
    gs_yaml_init(&Y, "y.yaml", &D, strlen(text));
    return fy_document_root(Doc);
}

/* The raw value of key `v` in the root mapping. */
static struct fy_node *val(struct fy_node *root)
{
    return fy_node_mapping_lookup_by_string(root, "v", 1);
}

static bool has(const char *line)
{
    for (int i = 0; i < D.n; i++)
        if (!strcmp(D.msgs[i], line))
            return true;
    return false;
}

typedef enum { T_INT, T_BOOL, T_SIZE, T_MS, T_STR } kind;

typedef struct getter_case {
    const char *text;   /* a document with key v */
    kind k;
    int rc;             /* 1 read, 0 null, -EINVAL */
    long long want;     /* T_INT, T_BOOL, T_SIZE, T_MS */
    const char *want_s; /* T_STR */
    const char *err;    /* the message when rc is -EINVAL */
} getter_case;

static const getter_case getter_cases[] = {
    {"v: 7\n", T_INT, 1, 7, NULL, NULL},
    {"v: ~\n", T_INT, 0, 0, NULL, NULL},
    {"v: 4x\n", T_INT, -EINVAL, 0, NULL, "y.yaml:1: error: v: expected a whole number, not '4x'"},
    {"v: 11\n", T_INT, -EINVAL, 0, NULL, "y.yaml:1: error: v: must be between 0 and 10, not 11"},
    {"v: [1]\n", T_INT, -EINVAL, 0, NULL, "y.yaml:1: error: v: expected a whole number"},
    {"v: yes\n", T_BOOL, 1, 1, NULL, NULL},
    {"v: OFF\n", T_BOOL, 1, 0, NULL, NULL},
    {"v: 2\n", T_BOOL, -EINVAL, 0, NULL, "y.yaml:1: error: v: expected true or false, not '2'"},
    {"v: 1.5GiB\n", T_SIZE, 1, 3LL << 29, NULL, NULL},
    {"v: 512\n", T_SIZE, 1, 512, NULL, NULL},
    {"v: 6XB\n", T_SIZE, -EINVAL, 0, NULL,
     "y.yaml:1: error: v: expected a size such as 6GiB or 512MiB, not '6XB'"},
    {"v: 0.25\n", T_MS, 1, 250, NULL, NULL},
    {"v: 86401\n", T_MS, -EINVAL, 0, NULL,
     "y.yaml:1: error: v: expected seconds from 0 to 86400, not '86401'"},
    {"v: 'a b'\n", T_STR, 1, 0, "a b", NULL},
    {"v: \"\"\n", T_STR, 1, 0, "", NULL},
    {"v: null\n", T_STR, 0, 0, NULL, NULL},
    {"v: {a: 1}\n", T_STR, -EINVAL, 0, NULL, "y.yaml:1: error: v: expected a string"},
    {"v: \"a\\0b\"\n", T_STR, -EINVAL, 0, NULL, "y.yaml:1: error: v: contains a NUL character"},
    {"a: &x 7\nv: *x\n", T_INT, 1, 7, NULL, NULL},
};

Test(yaml, typed_getters)
{
    for (size_t i = 0; i < sizeof(getter_cases) / sizeof(getter_cases[0]); i++) {
        const getter_case *g = &getter_cases[i];
        struct fy_node *v = val(load(g->text));
        int line = gs_yaml_line(v) ? gs_yaml_line(v) : 1;
        int iv = -99;
        bool bv = false;
        long long sz = -99;
        char *s = NULL;
        long long got = 0;
        int rc = 0;
        switch (g->k) {
        case T_INT:
            rc = gs_yaml_int(&Y, v, line, "v", 0, 10, &iv), got = iv;
            break;
        case T_BOOL:
            rc = gs_yaml_bool(&Y, v, line, "v", &bv), got = bv;
            break;
        case T_SIZE:
            rc = gs_yaml_size(&Y, v, line, "v", &sz), got = sz;
            break;
        case T_MS:
            rc = gs_yaml_ms(&Y, v, line, "v", &iv), got = iv;
            break;
        case T_STR:
            rc = gs_yaml_str(&Y, v, line, "v", &s);
            break;
        }
        cr_assert_eq(rc, g->rc, "case %zu (%s): rc %d, want %d", i, g->text, rc, g->rc);
        if (rc == -EINVAL)
            cr_assert(has(g->err), "case %zu: missing %s; got %s", i, g->err,
                      D.n ? D.msgs[0] : "nothing");
        else
            cr_assert_eq(D.n, 0, "case %zu: %s", i, D.msgs[0]);
        if (rc == 1 && g->k == T_STR)
            cr_assert_str_eq(s, g->want_s, "case %zu", i);
        else if (rc == 1)
            cr_assert_eq(got, g->want, "case %zu: got %lld, want %lld", i, got, g->want);
        free(s);
    }
}

/* A struct read by a key table. */
typedef struct thing {
    int n;
    bool on;
    char *name;
    char **tags;
    int ntags;
    int fn_calls;
    int seen_line;
} thing;

static void count_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base, void *ud)
{
    thing *t = base;
    t->fn_calls++;
    t->seen_line = e->line;
    cr_assert_eq(ud, &D, "ud is passed through");
}

static void double_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base, void *ud)
{
    ((thing *)base)->n *= 2;
}

static const gs_yaml_key thing_keys[] = {
    {"n", GS_YT_INT, offsetof(thing, n), 1, 100, 0, double_fn, 0},
    {"on", GS_YT_BOOL, offsetof(thing, on), 0, 0, 0, NULL, 0},
    {"name", GS_YT_STR, offsetof(thing, name), 0, 0, 0, NULL, GS_YF_EMPTY_NULL},
    {"tags", GS_YT_XSTRLIST, offsetof(thing, tags), 0, 0, offsetof(thing, ntags), NULL, 0},
    {"hook", GS_YT_FN, 0, 0, 0, 0, count_fn, 0},
    {"later", GS_YT_SKIP, 0, 0, 0, 0, NULL, 0},
    {"old", GS_YT_IGNORED, 0, 0, 0, 0, NULL, 0},
};

Test(yaml, key_table_applies_rows_in_one_loop)
{
    struct fy_node *root = load("v:\n"
                                "  n: 21\n"
                                "  on: true\n"
                                "  name: x\n"
                                "  tags: [a, b]\n"
                                "  hook: anything\n"
                                "  later: 1\n"
                                "  old: 1\n"
                                "  colour: red\n");
    thing t = {0};
    int n = gs_yaml_apply(&Y, thing_keys, sizeof(thing_keys) / sizeof(thing_keys[0]), val(root),
                          1, "v", NULL, &t, &D);
    cr_assert_eq(n, 8);
    cr_assert_eq(t.n, 42, "the row's check runs after the value was read");
    cr_assert(t.on);
    cr_assert_str_eq(t.name, "x");
    cr_assert_eq(t.ntags, 2);
    cr_assert_str_eq(t.tags[1], "b");
    cr_assert_null(t.tags[2]);
    cr_assert_eq(t.fn_calls, 1);
    cr_assert_eq(t.seen_line, 6);
    cr_assert_eq(D.errors, 0);
    cr_assert_eq(D.warnings, 2);
    cr_assert(has("y.yaml:8: warning: v.old: not supported by ggswap, ignored"));
    cr_assert(has("y.yaml:9: warning: v.colour: unknown key, ignored"));
    free(t.name);
    gs_strv_free_n(t.tags, t.ntags);
}

Test(yaml, key_table_errors_keep_the_field)
{
    struct fy_node *root = load("v: {n: 500, name: \"\", tags: x}\n");
    thing t = {.n = 3};
    t.name = strdup("kept");
    gs_yaml_apply(&Y, thing_keys, sizeof(thing_keys) / sizeof(thing_keys[0]), val(root), 1, "v",
                  NULL, &t, &D);
    cr_assert_eq(t.n, 3, "a value out of range is not stored, nor doubled");
    cr_assert_null(t.name, "GS_YF_EMPTY_NULL: \"\" stores NULL");
    cr_assert_eq(t.ntags, 0);
    cr_assert(has("y.yaml:1: error: v.n: must be between 1 and 100, not 500"));
    cr_assert(has("y.yaml:1: error: v.tags: expected a list"));
    root = load("v: [1]\n");
    gs_yaml_apply(&Y, thing_keys, 1, val(root), 1, "v", "with n", &t, &D);
    cr_assert(has("y.yaml:1: error: v: expected a mapping with n"));
}

Test(yaml, merges_aliases_and_budget)
{
    struct fy_node *root = load("base: &b {n: 1, on: true}\n"
                                "v:\n"
                                "  <<: *b\n"
                                "  n: 2\n");
    gs_yaml_kvs items = {0};
    gs_yaml_items(&Y, val(root), "v", &items);
    cr_assert_eq(items.n, 2, "written keys win over merged ones, each once");
    cr_assert_str_eq(items.v[0].key, "n");
    cr_assert_str_eq(items.v[1].key, "on");
    gs_yaml_kvs_free(&items);

    root = load("v: *nowhere\n");
    /* libfyaml may reject the alias itself; when it keeps it, deref reports it */
    if (root && val(root) && fy_node_is_alias(val(root))) {
        cr_assert_null(gs_yaml_deref(&Y, val(root), 1, "v"));
        cr_assert(has("y.yaml:1: error: v: YAML alias does not name an anchor"));
    }

    /* the budget: past it every read fails, with one message */
    root = load("v: 1\n");
    Y.max_nodes = 5;
    int got = 0;
    for (int i = 0; i < 10; i++)
        got += gs_yaml_deref(&Y, val(root), 1, "v") != NULL;
    cr_assert_eq(got, 5);
    cr_assert_eq(D.errors, 1);
    cr_assert(has("y.yaml:1: error: v: too many YAML nodes (alias expansion); simplify the file"));
    int iv = 0;
    cr_assert_eq(gs_yaml_int(&Y, val(root), 1, "v", 0, 9, &iv), 0, "past the budget: nothing");
    cr_assert_eq(D.errors, 1);
}

Test(yaml, parse_refuses_what_is_not_text, .timeout = 10)
{
    static const struct {
        const char *text;
        size_t len;
        const char *err;
    } cases[] = {
        {"a: 1\n%\xff", 7, "y.yaml:2: error: yaml: the file is not valid UTF-8 text"},
        {"a: \xc3(\n", 7, "y.yaml:1: error: yaml: the file is not valid UTF-8 text"},
        {"a: 1\n\nb\0: 2\n", 12, "y.yaml:3: error: yaml: the file holds a NUL byte; YAML is text"},
        {"a: [1,\n", 7, NULL}, /* a syntax error: libfyaml's own message */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fini();
        int rc = gs_yaml_parse(cases[i].text, cases[i].len, "y.yaml", &D, &Doc);
        cr_assert_eq(rc, -EINVAL, "case %zu", i);
        cr_assert_null(Doc, "case %zu: no document after an error", i);
        cr_assert_eq(D.errors, 1, "case %zu", i);
        if (cases[i].err)
            cr_assert(has(cases[i].err), "case %zu: got %s", i, D.msgs[0]);
        else
            cr_assert(strstr(D.msgs[0], "y.yaml:2: error: yaml: ") == D.msgs[0], "case %zu: %s", i,
                      D.msgs[0]);
    }
}

/* settings.yaml goes through the same parse: "%\xff" made `config generate` loop forever. */
Test(yaml, settings_reader_refuses_bad_bytes, .timeout = 10)
{
    gs_settings st;
    gs_settings_init(&st);
    int rc = gs_settings_parse("ttl: 5\n%\xff", 9, "settings.yaml", &st, &D);
    cr_assert_lt(rc, 0);
    cr_assert(has("settings.yaml:2: error: yaml: the file is not valid UTF-8 text"), "%s",
              D.n ? D.msgs[0] : "nothing");
    gs_settings_free(&st);
}
