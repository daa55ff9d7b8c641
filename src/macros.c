#include "macros.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "mem.h"

#define MAX_DEPTH 64 /* nesting of a JSON value */

static bool macro_name_ok(const char *s, size_t len)
{
    if (len == 0 || len >= 64)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

static bool reserved(const char *s, size_t len)
{
    return gs_yaml_sceq(s, len, "PORT") || gs_yaml_sceq(s, len, "MODEL_ID") ||
           gs_yaml_sceq(s, len, "PID");
}

/* Characters of a reference name as leftovers are reported: macro names plus `.` for
 * ${env.NAME}. */
static bool ref_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-' || c == '.';
}

/* Find "${name}" at s. Returns the name length (name starts at s+2) or 0. */
static size_t ref_at(const char *s)
{
    if (s[0] != '$' || s[1] != '{')
        return 0;
    size_t i = 2;
    while (ref_char(s[i]))
        i++;
    if (s[i] != '}' || i == 2)
        return 0;
    return i - 2;
}

static const gs_macro *find(const gs_macro *v, int n, const char *name, size_t len)
{
    for (int i = n - 1; i >= 0; i--)
        if (gs_yaml_sceq(name, len, v[i].name))
            return &v[i];
    return NULL;
}

char *gs_macros_subst(gs_macros *M, const gs_macro *v, int n, const char *s, int line,
                      const char *key)
{
    if (!strstr(s, "${"))
        return gs_mem_strdup(s);
    gs_buf b;
    gs_buf_init(&b, GS_MACROS_MAX_EXPAND);
    gs_buf_append(&b, "", 0);
    int rc = 0;
    for (const char *p = s; *p && !rc;) {
        size_t nl = ref_at(p);
        const gs_macro *m = nl ? find(v, n, p + 2, nl) : NULL;
        if (m) {
            rc = gs_buf_puts(&b, m->value);
            p += nl + 3;
        } else {
            rc = gs_buf_append(&b, p, 1);
            p++;
        }
    }
    M->expanded += b.len;
    if (rc || M->expanded > GS_MACROS_BUDGET) {
        if (!M->budget_hit)
            gs_yaml_err(M->y, line, key, "macro expansion is too long (over %u bytes)",
                        rc ? GS_MACROS_MAX_EXPAND : GS_MACROS_BUDGET);
        M->budget_hit = M->expanded > GS_MACROS_BUDGET;
        gs_buf_free(&b);
        return NULL;
    }
    return gs_buf_steal(&b);
}

/* One name ggswap sets, at p (name length nl) into b. False after reporting. */
static bool builtin(const gs_macro_scope *s, gs_buf *b, const char *p, size_t nl, int line,
                    const char *key, bool allow_pid, int *rc)
{
    gs_yaml *y = s->M->y;
    const char *name = p + 2;
    if (gs_yaml_sceq(name, nl, "MODEL_ID") && s->model_id) {
        *rc = gs_buf_puts(b, s->model_id);
    } else if (gs_yaml_sceq(name, nl, "PORT") && s->port) {
        *rc = gs_buf_printf(b, "%d", s->port);
    } else if (gs_yaml_sceq(name, nl, "PORT") && !s->model_id) {
        gs_yaml_err(y, line, key, "${PORT} is only available in a model's keys");
        return false;
    } else if (gs_yaml_sceq(name, nl, "PORT")) {
        gs_yaml_err(y, line, key,
                    "uses ${PORT} but cmd does not; ${PORT} is only available when cmd uses it");
        return false;
    } else if (gs_yaml_sceq(name, nl, "PID") && allow_pid) {
        *rc = gs_buf_append(b, p, nl + 3);
    } else if (gs_yaml_sceq(name, nl, "PID")) {
        gs_yaml_err(y, line, key, "${PID} is only available in cmdStop");
        return false;
    } else if (nl > 4 && memcmp(name, "env.", 4) == 0) {
        char *var = gs_mem_strndup(name + 4, nl - 4);
        const char *val = getenv(var);
        bool ok = val != NULL;
        if (!ok)
            gs_yaml_err(y, line, key, "environment variable '%s' is not set", var);
        else
            *rc = gs_buf_puts(b, val);
        free(var);
        return ok;
    } else {
        gs_yaml_err(y, line, key, "unknown macro ${%.*s}", (int)nl, name);
        return false;
    }
    return true;
}

char *gs_macros_finish(const gs_macro_scope *s, char *a, int line, const char *key,
                       bool allow_pid)
{
    if (!strstr(a, "${"))
        return a;
    gs_buf b;
    gs_buf_init(&b, GS_MACROS_MAX_EXPAND);
    gs_buf_append(&b, "", 0);
    int rc = 0;
    bool bad = false;
    for (const char *p = a; *p && !rc;) {
        size_t nl = ref_at(p);
        if (!nl) {
            rc = gs_buf_append(&b, p, 1);
            p++;
            continue;
        }
        if (!builtin(s, &b, p, nl, line, key, allow_pid, &rc))
            bad = true;
        p += nl + 3;
    }
    free(a);
    if (rc) {
        gs_yaml_err(s->M->y, line, key, "macro expansion is too long (over %u bytes)",
                    GS_MACROS_MAX_EXPAND);
        bad = true;
    }
    if (bad) {
        gs_buf_free(&b);
        return NULL;
    }
    return gs_buf_steal(&b);
}

char *gs_macros_expand(const gs_macro_scope *s, const char *text, int line, const char *key,
                       bool allow_pid)
{
    char *a = gs_macros_subst(s->M, s->v, s->n, text, line, key);
    return a ? gs_macros_finish(s, a, line, key, allow_pid) : NULL;
}

char *gs_macros_hook(void *ud, const char *text, int line, const char *key)
{
    return gs_macros_expand(ud, text, line, key, false);
}

/* One macro of a `macros` mapping into *v; false when it is left out (reported). */
static bool read_one(gs_macros *M, const gs_yaml_kv *e, const char *mk, gs_macro **v, int *n,
                     int nglobal)
{
    gs_yaml *y = M->y;
    if (!macro_name_ok(e->key, e->klen)) {
        gs_yaml_err(y, e->line, mk,
                    "invalid macro name: use letters, digits, '_' and '-', fewer than 64");
        return false;
    }
    if (reserved(e->key, e->klen)) {
        gs_yaml_err(y, e->line, mk, "%s is reserved and set by ggswap", e->key);
        return false;
    }
    struct fy_node *val = gs_yaml_deref(y, e->val, e->line, mk);
    if (!val || !fy_node_is_scalar(val)) {
        gs_yaml_err(y, e->line, mk, "a macro value must be a string, number or boolean");
        return false;
    }
    if (gs_yaml_is_null(val)) {
        gs_yaml_err(y, e->line, mk, "a macro value must be a string, number or boolean, not null");
        return false;
    }
    char *s;
    if (gs_yaml_str(y, val, e->line, mk, &s) < 0)
        return false;
    if (!s)
        s = gs_mem_strdup("");
    char *self = gs_mem_printf("${%s}", e->key);
    bool selfref = strstr(s, self) != NULL;
    free(self);
    if (selfref) {
        gs_yaml_err(y, e->line, mk, "macro refers to itself");
        free(s);
        return false;
    }
    /* A model macro with a global's name replaces the value but keeps the global's place,
     * so globals declared after it still see it. */
    gs_macro *m = NULL;
    for (int j = 0; j < nglobal; j++)
        if (strcmp((*v)[j].name, e->key) == 0)
            m = &(*v)[j];
    if (m) {
        free(m->value);
    } else {
        *v = gs_mem_realloc(*v, (size_t)(*n + 1) * sizeof(**v));
        m = &(*v)[(*n)++];
        m->name = gs_mem_strdup(e->key);
    }
    m->value = s;
    m->plain = gs_yaml_is_plain(val);
    m->line = e->line;
    return true;
}

void gs_macros_read(gs_macros *M, struct fy_node *raw, int line, const char *key, gs_macro **v,
                    int *n, int nglobal)
{
    struct fy_node *node = gs_yaml_deref(M->y, raw, line, key);
    if (gs_yaml_is_null(node))
        return;
    if (!fy_node_is_mapping(node)) {
        gs_yaml_err(M->y, line, key, "expected a mapping of names to values");
        return;
    }
    gs_yaml_kvs items = {0};
    gs_yaml_items(M->y, node, key, &items);
    for (int i = 0; i < items.n; i++) {
        char *mk = gs_yaml_path_join(key, items.v[i].key);
        read_one(M, &items.v[i], mk, v, n, nglobal);
        free(mk);
    }
    gs_yaml_kvs_free(&items);
}

void gs_macros_free(gs_macro *v, int n)
{
    for (int i = 0; i < n; i++) {
        free(v[i].name);
        free(v[i].value);
    }
    free(v);
}

gs_macro *gs_macros_copy(const gs_macro *v, int n)
{
    gs_macro *c = gs_mem_calloc((size_t)n + 1, sizeof(*c));
    for (int i = 0; i < n; i++) {
        c[i] = v[i];
        c[i].name = gs_mem_strdup(v[i].name);
        c[i].value = gs_mem_strdup(v[i].value);
    }
    return c;
}

void gs_macros_resolve(gs_macros *M, gs_macro *v, int n, const char *key)
{
    for (int i = 1; i < n; i++) {
        if (!strstr(v[i].value, "${"))
            continue;
        char *mk = gs_yaml_path_join(key, v[i].name);
        char *s = gs_macros_subst(M, v, i, v[i].value, v[i].line, mk);
        free(mk);
        if (s) {
            free(v[i].value);
            v[i].value = s;
        }
    }
}

/* ---------------------------------------------------------------- JSON */

static json_t *json_map(const gs_macro_scope *s, struct fy_node *n, int depth, const char *key)
{
    gs_yaml *y = s->M->y;
    json_t *o = json_object();
    gs_yaml_kvs items = {0};
    gs_yaml_items(y, n, key, &items);
    for (int i = 0; i < items.n; i++) {
        gs_yaml_kv *e = &items.v[i];
        char *ck = gs_yaml_path_join(key, e->key);
        json_t *v = gs_macros_json(s, e->val, depth + 1, e->line, ck);
        free(ck);
        if (!v || memchr(e->key, 0, e->klen) || json_object_setn_new(o, e->key, e->klen, v)) {
            if (v) {
                gs_yaml_err(y, e->line, key, "key is not valid UTF-8");
                json_decref(v);
            }
            json_decref(o);
            o = NULL;
            break;
        }
    }
    gs_yaml_kvs_free(&items);
    return o;
}

static json_t *json_seq(const gs_macro_scope *s, struct fy_node *n, int depth, int line,
                        const char *key)
{
    json_t *a = json_array();
    void *it = NULL;
    struct fy_node *e;
    int i = 0;
    while ((e = fy_node_sequence_iterate(n, &it))) {
        char *ik = gs_yaml_path_index(key, i++);
        json_t *v = gs_macros_json(s, e, depth + 1, line, ik);
        free(ik);
        if (!v) {
            json_decref(a);
            return NULL;
        }
        json_array_append_new(a, v);
    }
    return a;
}

/* A string holding macros: exactly one (${PORT} or a plain user macro) keeps its type. */
static json_t *json_macro_text(const gs_macro_scope *s, const char *str, size_t len, int line,
                               const char *key)
{
    size_t nl = ref_at(str);
    if (nl && nl + 3 == len) {
        if (gs_yaml_sceq(str + 2, nl, "PORT") && s->port)
            return json_integer(s->port);
        const gs_macro *m = find(s->v, s->n, str + 2, nl);
        if (m && m->plain) {
            char *x = gs_macros_expand(s, m->value, line, key, false);
            if (!x)
                return NULL;
            json_t *j = gs_yaml_plain_json(x, strlen(x));
            free(x);
            return j;
        }
    }
    char *x = gs_macros_expand(s, str, line, key, false);
    if (!x)
        return NULL;
    json_t *j = json_string(x);
    free(x);
    return j;
}

json_t *gs_macros_json(const gs_macro_scope *s, struct fy_node *raw, int depth, int line,
                       const char *key)
{
    gs_yaml *y = s->M->y;
    if (depth > MAX_DEPTH) {
        gs_yaml_err(y, line, key, "nested more than %d levels deep", MAX_DEPTH);
        return NULL;
    }
    struct fy_node *n = gs_yaml_deref(y, raw, line, key);
    if (!n)
        return raw ? NULL : json_null();
    int nline = gs_yaml_line(n);
    if (nline > 0 && fy_node_is_scalar(n))
        line = nline;
    if (fy_node_is_mapping(n))
        return json_map(s, n, depth, key);
    if (fy_node_is_sequence(n))
        return json_seq(s, n, depth, line, key);
    size_t len;
    const char *text = gs_yaml_scalar(n, &len);
    if (memchr(text, 0, len)) {
        gs_yaml_err(y, line, key, "contains a NUL character");
        return NULL;
    }
    if (gs_yaml_utf8_prefix((const unsigned char *)text, len) != len) {
        gs_yaml_err(y, line, key, "is not valid UTF-8");
        return NULL;
    }
    if (!memmem(text, len, "${", 2))
        return gs_yaml_is_plain(n) ? gs_yaml_plain_json(text, len) : json_stringn(text, len);
    char *str = gs_mem_strndup(text, len);
    json_t *j = json_macro_text(s, str, len, line, key);
    free(str);
    return j;
}
