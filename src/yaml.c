#include "yaml.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mem.h"
#include "strv.h"

/* Deep enough for any config; bounded so that a hostile document cannot make a walk long. */
#define LINE_DEPTH 64
#define MAX_DEPTH 64            /* alias hops; merge sources of one mapping */
#define MERGE_DEPTH 8           /* merges of merges */
#define MAX_MERGE 10000         /* keys gathered through `<<` merges into one mapping */
#define NODE_BUDGET 100000L     /* plus the file size: nodes visited, which aliases multiply */
#define MSG_MAX 512             /* one message's own text; values in it are cut to 40 bytes */

void gs_yaml_init(gs_yaml *y, const char *file, gs_diag *d, size_t text_len)
{
    *y = (gs_yaml){.file = file, .d = d, .max_nodes = NODE_BUDGET + (long)text_len};
}

int gs_yaml_line(struct fy_node *n)
{
    for (int depth = 0; n && depth < LINE_DEPTH; depth++) {
        struct fy_token *t = fy_node_get_scalar_token(n);
        if (t) {
            const struct fy_mark *m = fy_token_start_mark(t);
            return m ? m->line + 1 : 0;
        }
        void *it = NULL;
        if (fy_node_is_mapping(n)) {
            struct fy_node_pair *p = fy_node_mapping_iterate(n, &it);
            n = p ? fy_node_pair_key(p) : NULL;
        } else if (fy_node_is_sequence(n)) {
            n = fy_node_sequence_iterate(n, &it);
        } else {
            break;
        }
    }
    return 0;
}

/* Checked before libfyaml sees the text, for every reader: besides giving a clear message,
 * libfyaml 0.7 loops forever on some invalid bytes (a directive "%\xff"), and it silently
 * stops reading at a NUL byte, losing the rest of the file. */
static int text_ok(const char *text, size_t len, const char *name, gs_diag *d)
{
    size_t good = gs_yaml_utf8_prefix((const unsigned char *)text, len);
    const char *nul = memchr(text, 0, good);
    if (!nul && good == len)
        return 0;
    const char *bad = nul ? nul : text + good;
    int line = 1;
    for (const char *p = text; p < bad; p++)
        line += *p == '\n';
    gs_diag_add(d, true, name, line, "%s",
                nul ? "yaml: the file holds a NUL byte; YAML is text"
                    : "yaml: the file is not valid UTF-8 text");
    return -EINVAL;
}

int gs_yaml_parse(const char *text, size_t len, const char *name, gs_diag *d,
                  struct fy_document **doc)
{
    *doc = NULL;
    if (text_ok(text, len, name, d) < 0)
        return -EINVAL;
    struct fy_diag_cfg dcfg;
    fy_diag_cfg_default(&dcfg);
    dcfg.fp = NULL;
    dcfg.output_fn = NULL;
    dcfg.colorize = false;
    struct fy_diag *diag = fy_diag_create(&dcfg);
    if (!diag) {
        gs_diag_add(d, true, name, 0, "cannot start the YAML parser");
        return -ENOMEM;
    }
    fy_diag_set_collect_errors(diag, true);
    struct fy_parse_cfg pcfg = {.flags = FYPCF_QUIET | FYPCF_COLLECT_DIAG, .diag = diag};
    *doc = fy_document_build_from_string(&pcfg, text, len);
    int rc = 0;
    void *it = NULL;
    struct fy_diag_error *de;
    while ((de = fy_diag_errors_iterate(diag, &it))) {
        if (de->type < FYET_ERROR)
            continue;
        gs_diag_add(d, true, name, de->line > 0 ? de->line : 1, "yaml: %s",
                    de->msg ? de->msg : "syntax error");
        rc = -EINVAL;
    }
    if (rc && *doc) {
        fy_document_destroy(*doc);
        *doc = NULL;
    }
    fy_diag_destroy(diag);
    return rc;
}

/* ---------------------------------------------------------------- messages, paths */

__attribute__((format(printf, 5, 0))) static void vreport(gs_yaml *y, bool is_error, int line,
                                                         const char *key, const char *fmt,
                                                         va_list ap)
{
    char buf[MSG_MAX];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    if (key && *key)
        gs_diag_add(y->d, is_error, y->file, line, "%s: %s", key, buf);
    else
        gs_diag_add(y->d, is_error, y->file, line, "%s", buf);
}

void gs_yaml_err(gs_yaml *y, int line, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(y, true, line, key, fmt, ap);
    va_end(ap);
}

void gs_yaml_warn(gs_yaml *y, int line, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(y, false, line, key, fmt, ap);
    va_end(ap);
}

char *gs_yaml_path_join(const char *path, const char *key)
{
    return *path ? gs_mem_printf("%s.%s", path, key) : gs_mem_strdup(key);
}

char *gs_yaml_path_index(const char *path, int i)
{
    return gs_mem_printf("%s[%d]", path, i);
}

/* ---------------------------------------------------------------- nodes */

struct fy_node *gs_yaml_deref(gs_yaml *y, struct fy_node *n, int line, const char *key)
{
    for (int hops = 0; n && fy_node_is_alias(n); hops++) {
        struct fy_node *t = hops < MAX_DEPTH ? fy_node_resolve_alias(n) : NULL;
        if (!t) {
            gs_yaml_err(y, line, key, "YAML alias does not name an anchor");
            return NULL;
        }
        n = t;
    }
    if (n && ++y->nodes > y->max_nodes) {
        if (y->nodes == y->max_nodes + 1)
            gs_yaml_err(y, line, key, "too many YAML nodes (alias expansion); simplify the file");
        return NULL;
    }
    return n;
}

const char *gs_yaml_scalar(struct fy_node *n, size_t *len)
{
    const char *s = n ? fy_node_get_scalar(n, len) : NULL;
    if (!s) {
        *len = 0;
        return "";
    }
    return s;
}

bool gs_yaml_is_plain(struct fy_node *n)
{
    return fy_node_get_style(n) == FYNS_PLAIN;
}

bool gs_yaml_sceq(const char *s, size_t len, const char *lit)
{
    return strlen(lit) == len && memcmp(s, lit, len) == 0;
}

static bool null_text(const char *s, size_t len)
{
    return len == 0 || gs_yaml_sceq(s, len, "~") || gs_yaml_sceq(s, len, "null") ||
           gs_yaml_sceq(s, len, "Null") || gs_yaml_sceq(s, len, "NULL");
}

bool gs_yaml_is_null(struct fy_node *n)
{
    if (!n)
        return true;
    if (!fy_node_is_scalar(n) || !gs_yaml_is_plain(n))
        return false;
    size_t len;
    const char *s = gs_yaml_scalar(n, &len);
    return null_text(s, len);
}

size_t gs_yaml_utf8_prefix(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t k;
        unsigned min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            k = 1, min = 0x80, c &= 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            k = 2, min = 0x800, c &= 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            k = 3, min = 0x10000, c &= 0x07;
        } else {
            return i;
        }
        if (n - i <= k)
            return i;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return i;
            c = (c << 6) | (s[i + j] & 0x3f);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
            return i;
        i += k + 1;
    }
    return n;
}

static bool utf8_valid(const char *s, size_t n)
{
    return gs_yaml_utf8_prefix((const unsigned char *)s, n) == n;
}

static bool match_int(const char *s, size_t len)
{
    size_t i = 0;
    if (i < len && (s[i] == '-' || s[i] == '+'))
        i++;
    if (i == len)
        return false;
    for (; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static bool match_float(const char *s, size_t len)
{
    size_t i = 0, digits = 0;
    if (i < len && (s[i] == '-' || s[i] == '+'))
        i++;
    while (i < len && s[i] >= '0' && s[i] <= '9')
        i++, digits++;
    if (i < len && s[i] == '.') {
        i++;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++, digits++;
    }
    if (!digits)
        return false;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '-' || s[i] == '+'))
            i++;
        size_t e = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++, e++;
        if (!e)
            return false;
    }
    return i == len;
}

json_t *gs_yaml_plain_json(const char *s, size_t len)
{
    if (null_text(s, len))
        return json_null();
    if (gs_yaml_sceq(s, len, "true") || gs_yaml_sceq(s, len, "True") ||
        gs_yaml_sceq(s, len, "TRUE"))
        return json_true();
    if (gs_yaml_sceq(s, len, "false") || gs_yaml_sceq(s, len, "False") ||
        gs_yaml_sceq(s, len, "FALSE"))
        return json_false();
    if (len < 64 && (match_int(s, len) || match_float(s, len))) {
        char tmp[64];
        memcpy(tmp, s, len);
        tmp[len] = 0;
        if (match_int(s, len)) {
            errno = 0;
            long long v = strtoll(tmp, NULL, 10);
            if (!errno)
                return json_integer((json_int_t)v);
        }
        double d = strtod(tmp, NULL);
        if (d == d && d - d == 0) /* finite: JSON has no inf/nan */
            return json_real(d);
    }
    return json_stringn(s, len);
}

long long gs_yaml_parse_size(const char *s)
{
    if (!s || strlen(s) >= 64) /* no size is written that long; gs_yaml_size reads up to 63 */
        return -1;
    while (*s == ' ')
        s++;
    char *end;
    errno = 0;
    if (!(*s >= '0' && *s <= '9'))
        return -1;
    double v = strtod(s, &end);
    if (errno || end == s || v < 0)
        return -1;
    while (*end == ' ')
        end++;
    static const struct {
        const char *suffix;
        double mul;
    } units[] = {
        {"", 1},         {"b", 1},         {"k", 1024.0},   {"kb", 1e3},
        {"kib", 1024.0}, {"m", 1048576.0}, {"mb", 1e6},     {"mib", 1048576.0},
        {"g", 1073741824.0}, {"gb", 1e9},  {"gib", 1073741824.0},
        {"t", 1099511627776.0}, {"tb", 1e12}, {"tib", 1099511627776.0},
    };
    size_t n = strlen(end);
    while (n && end[n - 1] == ' ')
        n--;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strlen(units[i].suffix) != n || strncasecmp(end, units[i].suffix, n))
            continue;
        double b = v * units[i].mul;
        if (b >= 9.2e18)
            return -1;
        return (long long)b;
    }
    return -1;
}

/* ---------------------------------------------------------------- mappings */

void gs_yaml_kvs_free(gs_yaml_kvs *m)
{
    for (int i = 0; i < m->n; i++)
        free(m->v[i].key);
    free(m->v);
    m->v = NULL;
    m->n = 0;
}

static bool kvs_has(const gs_yaml_kvs *m, const char *key, size_t klen)
{
    for (int i = 0; i < m->n; i++)
        if (m->v[i].klen == klen && memcmp(m->v[i].key, key, klen) == 0)
            return true;
    return false;
}

static void kvs_push(gs_yaml_kvs *m, const char *key, size_t klen, int line, struct fy_node *val)
{
    m->v = gs_mem_realloc(m->v, (size_t)(m->n + 1) * sizeof(*m->v));
    m->v[m->n++] = (gs_yaml_kv){gs_mem_strndup(key, klen), klen, line, val};
}

static void items_at(gs_yaml *y, struct fy_node *n, const char *path, int depth,
                     gs_yaml_kvs *out);

/* The keys of one merge source (a mapping or a list of them) that `out` lacks. */
static void merge_from(gs_yaml *y, struct fy_node *raw, int line, const char *path, int depth,
                       gs_yaml_kvs *out)
{
    char *mp = gs_yaml_path_join(path, "<<");
    struct fy_node *src = gs_yaml_deref(y, raw, line, mp);
    struct fy_node *list[MAX_DEPTH];
    int nlist = 1;
    list[0] = src;
    if (src && fy_node_is_sequence(src)) {
        nlist = 0;
        void *sit = NULL;
        struct fy_node *e;
        while ((e = fy_node_sequence_iterate(src, &sit)) && nlist < MAX_DEPTH)
            list[nlist++] = gs_yaml_deref(y, e, line, mp);
    }
    for (int j = 0; j < nlist; j++) {
        if (!list[j] || !fy_node_is_mapping(list[j])) {
            gs_yaml_err(y, line, mp, "a merge (<<) needs a mapping or a list of mappings");
            continue;
        }
        if (depth + 1 >= MERGE_DEPTH) {
            gs_yaml_err(y, line, mp, "merges (<<) nested too deeply");
            continue;
        }
        gs_yaml_kvs sub = {0};
        items_at(y, list[j], path, depth + 1, &sub);
        for (int k = 0; k < sub.n; k++) {
            if (out->n >= MAX_MERGE) {
                gs_yaml_err(y, line, mp, "a merge (<<) adds too many keys");
                break;
            }
            if (!kvs_has(out, sub.v[k].key, sub.v[k].klen))
                kvs_push(out, sub.v[k].key, sub.v[k].klen, sub.v[k].line, sub.v[k].val);
        }
        gs_yaml_kvs_free(&sub);
    }
    free(mp);
}

static void items_at(gs_yaml *y, struct fy_node *n, const char *path, int depth,
                     gs_yaml_kvs *out)
{
    struct fy_node *merges[MAX_DEPTH];
    int merge_lines[MAX_DEPTH];
    int nmerges = 0;
    void *it = NULL;
    struct fy_node_pair *p;
    while ((p = fy_node_mapping_iterate(n, &it))) {
        struct fy_node *kraw = fy_node_pair_key(p);
        int line = gs_yaml_line(kraw);
        struct fy_node *k = gs_yaml_deref(y, kraw, line, path);
        if (!k)
            continue;
        if (!fy_node_is_scalar(k)) {
            gs_yaml_err(y, line, path, "a mapping key must be a plain string");
            continue;
        }
        size_t klen;
        const char *ks = gs_yaml_scalar(k, &klen);
        if (gs_yaml_is_plain(k) && gs_yaml_sceq(ks, klen, "<<")) {
            if (nmerges < MAX_DEPTH) {
                merge_lines[nmerges] = line;
                merges[nmerges++] = fy_node_pair_value(p);
            }
            continue;
        }
        if (out->n >= MAX_MERGE && depth > 0)
            break;
        kvs_push(out, ks, klen, line, fy_node_pair_value(p));
    }
    for (int i = 0; i < nmerges; i++)
        merge_from(y, merges[i], merge_lines[i], path, depth, out);
}

void gs_yaml_items(gs_yaml *y, struct fy_node *n, const char *path, gs_yaml_kvs *out)
{
    items_at(y, n, path, 0, out);
}

/* ---------------------------------------------------------------- typed getters */

int gs_yaml_str(gs_yaml *y, struct fy_node *raw, int line, const char *key, char **out)
{
    *out = NULL;
    struct fy_node *n = gs_yaml_deref(y, raw, line, key);
    if (gs_yaml_is_null(n))
        return 0;
    if (!fy_node_is_scalar(n)) {
        gs_yaml_err(y, line, key, "expected a string");
        return -EINVAL;
    }
    size_t len;
    const char *s = gs_yaml_scalar(n, &len);
    if (memchr(s, 0, len)) {
        gs_yaml_err(y, line, key, "contains a NUL character");
        return -EINVAL;
    }
    if (!utf8_valid(s, len)) {
        gs_yaml_err(y, line, key, "is not valid UTF-8");
        return -EINVAL;
    }
    *out = gs_mem_strndup(s, len);
    return 1;
}

/* The text of scalar n with the expand hook run (typed macros: `ttl: ${T}`). *tmp holds what
 * the caller frees. False after an error was reported. */
static bool scalar_x(gs_yaml *y, struct fy_node *n, int line, const char *key, const char **s,
                     size_t *len, char **tmp)
{
    *tmp = NULL;
    *s = gs_yaml_scalar(n, len);
    if (!y->expand || !memmem(*s, *len, "${", 2))
        return true;
    if (memchr(*s, 0, *len)) {
        gs_yaml_err(y, line, key, "contains a NUL character");
        return false;
    }
    char *raw = gs_mem_strndup(*s, *len);
    *tmp = y->expand(y->expand_ud, raw, line, key);
    free(raw);
    if (!*tmp)
        return false;
    *s = *tmp;
    *len = strlen(*tmp);
    return true;
}

int gs_yaml_xstr(gs_yaml *y, struct fy_node *raw, int line, const char *key, char **out)
{
    int r = gs_yaml_str(y, raw, line, key, out);
    if (r <= 0 || !y->expand || !strstr(*out, "${"))
        return r;
    char *x = y->expand(y->expand_ud, *out, line, key);
    free(*out);
    *out = x;
    return x ? 1 : -EINVAL;
}

static int int_text(gs_yaml *y, const char *s, size_t len, int line, const char *key, long min,
                    long max, int *out)
{
    char tmp[32];
    if (len == 0 || len >= sizeof(tmp))
        goto bad;
    memcpy(tmp, s, len);
    tmp[len] = 0;
    char *end;
    errno = 0;
    long v = strtol(tmp, &end, 10);
    if (errno || *end || end == tmp || tmp[0] == ' ')
        goto bad;
    if (v < min || v > max) {
        if (max == INT_MAX)
            gs_yaml_err(y, line, key, "must be at least %ld, not %ld", min, v);
        else
            gs_yaml_err(y, line, key, "must be between %ld and %ld, not %ld", min, max, v);
        return -EINVAL;
    }
    *out = (int)v;
    return 1;
bad:
    gs_yaml_err(y, line, key, "expected a whole number, not '%.*s'", (int)(len > 40 ? 40 : len),
                s);
    return -EINVAL;
}

/* The prologue of the typed getters: the scalar behind `raw`, its expand hook run. 0 for null
 * (nothing to read), 1 with the text in *s and *len (free *xs),
 * -EINVAL after "expected <what>". */
static int typed_scalar(gs_yaml *y, struct fy_node *raw, int line, const char *key,
                        const char *what, const char **s, size_t *len, char **xs)
{
    struct fy_node *n = gs_yaml_deref(y, raw, line, key);
    *xs = NULL;
    if (gs_yaml_is_null(n))
        return 0;
    if (!fy_node_is_scalar(n)) {
        gs_yaml_err(y, line, key, "expected %s", what);
        return -EINVAL;
    }
    return scalar_x(y, n, line, key, s, len, xs) ? 1 : -EINVAL;
}

int gs_yaml_int(gs_yaml *y, struct fy_node *raw, int line, const char *key, long min, long max,
                int *out)
{
    size_t len;
    const char *s;
    char *xs;
    int rc = typed_scalar(y, raw, line, key, "a whole number", &s, &len, &xs);
    if (rc <= 0)
        return rc;
    rc = int_text(y, s, len, line, key, min, max, out);
    free(xs);
    return rc;
}

int gs_yaml_bool(gs_yaml *y, struct fy_node *raw, int line, const char *key, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
    size_t len;
    const char *s;
    char *xs;
    int rc = typed_scalar(y, raw, line, key, "true or false", &s, &len, &xs);
    if (rc <= 0)
        return rc;
    rc = -EINVAL;
    for (size_t i = 0; i < 3 && rc < 0; i++) {
        if (len == strlen(yes[i]) && strncasecmp(s, yes[i], len) == 0)
            *out = true, rc = 1;
        else if (len == strlen(no[i]) && strncasecmp(s, no[i], len) == 0)
            *out = false, rc = 1;
    }
    if (rc < 0)
        gs_yaml_err(y, line, key, "expected true or false, not '%.*s'",
                    (int)(len > 40 ? 40 : len), s);
    free(xs);
    return rc;
}

int gs_yaml_size(gs_yaml *y, struct fy_node *raw, int line, const char *key, long long *out)
{
    size_t len;
    const char *s;
    char *xs;
    int rc = typed_scalar(y, raw, line, key, "a size such as 6GiB or 512MiB", &s, &len, &xs);
    if (rc <= 0)
        return rc;
    char tmp[64];
    long long v = -1;
    if (len < sizeof(tmp)) {
        memcpy(tmp, s, len);
        tmp[len] = 0;
        v = gs_yaml_parse_size(tmp);
    }
    if (v < 0)
        gs_yaml_err(y, line, key, "expected a size such as 6GiB or 512MiB, not '%.*s'",
                    (int)(len > 40 ? 40 : len), s);
    free(xs);
    if (v < 0)
        return -EINVAL;
    *out = v;
    return 1;
}

int gs_yaml_ms(gs_yaml *y, struct fy_node *raw, int line, const char *key, int *out)
{
    struct fy_node *n = gs_yaml_deref(y, raw, line, key);
    if (gs_yaml_is_null(n))
        return 0;
    size_t len = 0;
    const char *s = "";
    char *xs = NULL;
    if (fy_node_is_scalar(n) && !scalar_x(y, n, line, key, &s, &len, &xs))
        return -EINVAL;
    char tmp[32];
    double v = -1;
    if (fy_node_is_scalar(n) && len && len < sizeof(tmp) && match_float(s, len)) {
        memcpy(tmp, s, len);
        tmp[len] = 0;
        v = strtod(tmp, NULL);
    }
    if (!(v >= 0 && v <= 86400)) {
        gs_yaml_err(y, line, key, "expected seconds from 0 to 86400, not '%.*s'",
                    (int)(len > 40 ? 40 : len), s);
        free(xs);
        return -EINVAL;
    }
    free(xs);
    *out = (int)(v * 1000 + 0.5);
    return 1;
}

int gs_yaml_strlist(gs_yaml *y, struct fy_node *raw, int line, const char *key, char ***out,
                    int *nout)
{
    *out = NULL;
    *nout = 0;
    struct fy_node *n = gs_yaml_deref(y, raw, line, key);
    if (gs_yaml_is_null(n))
        return 0;
    if (!fy_node_is_sequence(n)) {
        gs_yaml_err(y, line, key, "expected a list");
        return -EINVAL;
    }
    int rc = 0, i = 0;
    void *it = NULL;
    struct fy_node *e;
    while ((e = fy_node_sequence_iterate(n, &it))) {
        char *ik = gs_yaml_path_index(key, i);
        int el = gs_yaml_line(e);
        char *s;
        if (gs_yaml_str(y, e, el ? el : line, ik, &s) < 0)
            rc = -EINVAL;
        else
            gs_strv_push(out, nout, s ? s : gs_mem_strdup(""));
        free(ik);
        i++;
    }
    return rc;
}

int gs_yaml_xstrlist(gs_yaml *y, struct fy_node *raw, int line, const char *key, char ***out,
                     int *nout)
{
    char **list;
    int n;
    int rc = gs_yaml_strlist(y, raw, line, key, &list, &n);
    *out = NULL;
    *nout = 0;
    for (int i = 0; i < n; i++) {
        if (!y->expand || !strstr(list[i], "${")) {
            gs_strv_push(out, nout, list[i]);
            continue;
        }
        char *ik = gs_yaml_path_index(key, i);
        char *x = y->expand(y->expand_ud, list[i], line, ik);
        free(ik);
        free(list[i]);
        if (x)
            gs_strv_push(out, nout, x);
        else
            rc = -EINVAL;
    }
    free(list);
    return rc;
}

struct fy_node *gs_yaml_map(gs_yaml *y, struct fy_node *raw, int line, const char *key,
                            const char *what)
{
    struct fy_node *n = gs_yaml_deref(y, raw, line, key);
    if (gs_yaml_is_null(n))
        return NULL;
    if (!fy_node_is_mapping(n)) {
        gs_yaml_err(y, line, key, "expected a mapping%s%s", what ? " " : "", what ? what : "");
        return NULL;
    }
    return n;
}

/* ---------------------------------------------------------------- key tables */

static void set_str(void *field, char *s, unsigned flags)
{
    char **dst = field;
    free(*dst);
    if (s && !*s && (flags & GS_YF_EMPTY_NULL)) {
        free(s);
        s = NULL;
    }
    *dst = s;
}

/* One pair by its row; returns the getter's result (1: a value was stored). */
static int apply_row(gs_yaml *y, const gs_yaml_key *k, const gs_yaml_kv *e, const char *key,
                     void *base)
{
    void *field = (char *)base + k->off;
    char *s = NULL;
    int r = 0;
    switch (k->type) {
    case GS_YT_STR:
    case GS_YT_XSTR:
        r = k->type == GS_YT_STR ? gs_yaml_str(y, e->val, e->line, key, &s)
                                 : gs_yaml_xstr(y, e->val, e->line, key, &s);
        if (r >= 0)
            set_str(field, s, k->flags);
        return r;
    case GS_YT_INT:
        return gs_yaml_int(y, e->val, e->line, key, k->min, k->max, field);
    case GS_YT_BOOL:
        return gs_yaml_bool(y, e->val, e->line, key, field);
    case GS_YT_SIZE:
        return gs_yaml_size(y, e->val, e->line, key, field);
    case GS_YT_MS:
        return gs_yaml_ms(y, e->val, e->line, key, field);
    case GS_YT_XSTRLIST: {
        char ***v = field;
        int *n = (int *)((char *)base + k->count_off);
        gs_strv_free_n(*v, *n);
        r = gs_yaml_xstrlist(y, e->val, e->line, key, v, n);
        return r < 0 ? r : 1;
    }
    case GS_YT_FN:
        return 1;
    case GS_YT_SKIP:
        return 0;
    case GS_YT_IGNORED:
        gs_yaml_warn(y, e->line, key, "not supported by ggswap, ignored");
        return 0;
    }
    return 0;
}

void gs_yaml_apply_items(gs_yaml *y, const gs_yaml_key *keys, size_t nkeys,
                         const gs_yaml_kvs *items, const char *path, void *base, void *ud)
{
    for (int i = 0; i < items->n; i++) {
        const gs_yaml_kv *e = &items->v[i];
        char *key = gs_yaml_path_join(path, e->key);
        size_t j = 0;
        while (j < nkeys && strcmp(keys[j].name, e->key))
            j++;
        if (j == nkeys)
            gs_yaml_warn(y, e->line, key, "unknown key, ignored");
        else if (apply_row(y, &keys[j], e, key, base) > 0 && keys[j].fn)
            keys[j].fn(y, e, key, base, ud);
        free(key);
    }
}

int gs_yaml_apply(gs_yaml *y, const gs_yaml_key *keys, size_t nkeys, struct fy_node *map,
                  int line, const char *path, const char *what, void *base, void *ud)
{
    struct fy_node *n = gs_yaml_map(y, map, line, path, what);
    if (!n)
        return 0;
    gs_yaml_kvs items = {0};
    gs_yaml_items(y, n, path, &items);
    gs_yaml_apply_items(y, keys, nkeys, &items, path, base, ud);
    int count = items.n;
    gs_yaml_kvs_free(&items);
    return count;
}
