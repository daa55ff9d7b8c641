#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <libfyaml.h>
#include <regex.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "cmdline.h"
#include "matrix.h"
#include "mem.h"
#include "names.h"
#include "strv.h"
#include "macros.h"
#include "yaml.h"

#define MAX_FILE (16u << 20)   /* a bigger config is a mistake, not a config */

/* ---------------------------------------------------------------- loader state */

/* A YAML value to read once the models are known. */
typedef struct ref {
    struct fy_node *val;
    int line;
    bool set; /* present and not null */
} ref;

typedef struct ld {
    gs_yaml y;      /* the document, its messages and node budget */
    gs_macros M;    /* macro output of the whole load */
    gs_config *c;
    const gs_macro_scope *mx; /* what typed getters expand (top level: the global macros) */
} ld;

/* The scope whose macros the typed getters expand from now on. */
static void set_scope(ld *L, const gs_macro_scope *mx)
{
    L->mx = mx;
    L->y.expand = mx ? gs_macros_hook : NULL;
    L->y.expand_ud = (void *)mx;
}

/* Names end up in HTTP headers (Location), Prometheus labels, logs and JSON: no control
 * characters, no quotes or backslashes that would need escaping there. */
static bool name_chars_ok(const char *s, size_t n)
{
    return n == 0 || !gs_names_invalid(s, n); /* emptiness is checked (and worded) apart */
}

long long gs_config_parse_size(const char *s)
{
    return gs_yaml_parse_size(s);
}

static void timeouts_default(gs_timeouts_cfg *t, int response_header)
{
    *t = (gs_timeouts_cfg){30, 30, response_header, 10, 1, 90};
}

static void read_timeouts(ld *L, gs_yaml_kv *e, const char *path, gs_timeouts_cfg *t)
{
    struct fy_node *n = gs_yaml_map(&L->y, e->val, e->line, path,
                                "of connect, keepalive, responseHeader, tlsHandshake, "
                                "expectContinue, idleConn (seconds)");
    if (!n)
        return;
    static const struct {
        const char *name;
        size_t off;
    } keys[] = {
        {"connect", offsetof(gs_timeouts_cfg, connect)},
        {"keepalive", offsetof(gs_timeouts_cfg, keepalive)},
        {"responseHeader", offsetof(gs_timeouts_cfg, response_header)},
        {"tlsHandshake", offsetof(gs_timeouts_cfg, tls_handshake)},
        {"expectContinue", offsetof(gs_timeouts_cfg, expect_continue)},
        {"idleConn", offsetof(gs_timeouts_cfg, idle_conn)},
    };
    gs_yaml_kvs items = {0};
    gs_yaml_items(&L->y, n, path, &items);
    for (int i = 0; i < items.n; i++) {
        gs_yaml_kv *f = &items.v[i];
        char *key = gs_yaml_path_join(path, f->key);
        size_t j = 0;
        while (j < GS_ARRAY_LEN(keys) && strcmp(keys[j].name, f->key))
            j++;
        if (j == GS_ARRAY_LEN(keys))
            gs_yaml_warn(&L->y, f->line, key, "unknown key, ignored");
        else
            gs_yaml_int(&L->y, f->val, f->line, key, 0, 86400 * 365, (int *)((char *)t + keys[j].off));
        free(key);
    }
    gs_yaml_kvs_free(&items);
}

static unsigned modality_bits(ld *L, gs_yaml_kv *f, const char *key)
{
    char **list;
    int n;
    unsigned bits = 0;
    gs_yaml_xstrlist(&L->y, f->val, f->line, key, &list, &n);
    for (int i = 0; i < n; i++) {
        if (!strcmp(list[i], "text")) {
            bits |= GS_MODALITY_TEXT;
        } else if (!strcmp(list[i], "audio")) {
            bits |= GS_MODALITY_AUDIO;
        } else if (!strcmp(list[i], "image")) {
            bits |= GS_MODALITY_IMAGE;
        } else {
            char *ik = gs_yaml_path_index(key, i);
            gs_yaml_err(&L->y, f->line, ik, "invalid modality '%s': use text, audio or image", list[i]);
            free(ik);
        }
    }
    gs_strv_free_n(list, n);
    return bits;
}

static void read_caps(ld *L, gs_yaml_kv *e, const char *path, gs_caps_cfg *c)
{
    struct fy_node *n = gs_yaml_map(&L->y, e->val, e->line, path,
                                "of in, out, tools, reranker, context");
    if (!n)
        return;
    gs_yaml_kvs items = {0};
    gs_yaml_items(&L->y, n, path, &items);
    for (int i = 0; i < items.n; i++) {
        gs_yaml_kv *f = &items.v[i];
        char *key = gs_yaml_path_join(path, f->key);
        if (!strcmp(f->key, "in"))
            c->in = modality_bits(L, f, key);
        else if (!strcmp(f->key, "out"))
            c->out = modality_bits(L, f, key);
        else if (!strcmp(f->key, "tools"))
            gs_yaml_bool(&L->y, f->val, f->line, key, &c->tools);
        else if (!strcmp(f->key, "reranker"))
            gs_yaml_bool(&L->y, f->val, f->line, key, &c->reranker);
        else if (!strcmp(f->key, "context"))
            gs_yaml_int(&L->y, f->val, f->line, key, 0, INT_MAX, &c->context);
        else
            gs_yaml_warn(&L->y, f->line, key, "unknown key, ignored");
        free(key);
    }
    gs_yaml_kvs_free(&items);
    c->set = c->in || c->out || c->tools || c->reranker || c->context;
}

static void read_compat(ld *L, gs_yaml_kv *e, const char *path, bool *ignore_websockets)
{
    struct fy_node *n = gs_yaml_map(&L->y, e->val, e->line, path, "with ignoreWebsockets");
    if (!n)
        return;
    gs_yaml_kvs items = {0};
    gs_yaml_items(&L->y, n, path, &items);
    for (int i = 0; i < items.n; i++) {
        char *key = gs_yaml_path_join(path, items.v[i].key);
        if (!strcmp(items.v[i].key, "ignoreWebsockets"))
            gs_yaml_bool(&L->y, items.v[i].val, items.v[i].line, key, ignore_websockets);
        else
            gs_yaml_warn(&L->y, items.v[i].line, key, "unknown key, ignored");
        free(key);
    }
    gs_yaml_kvs_free(&items);
}

/* ---------------------------------------------------------------- models */

static void model_free(gs_model_cfg *m)
{
    free(m->id);
    free(m->cmd);
    gs_strv_free(m->argv);
    free(m->cmd_stop);
    free(m->proxy);
    free(m->proxy_host);
    free(m->proxy_path);
    gs_strv_free_n(m->aliases, m->naliases);
    gs_strv_free_n(m->env, m->nenv);
    free(m->check_endpoint);
    free(m->use_model_name);
    gs_strv_free_n(m->strip_params, m->nstrip);
    json_decref(m->set_params);
    free(m->name);
    free(m->description);
    json_decref(m->metadata);
    json_decref(m->set_params_by_id);
    memset(m, 0, sizeof(*m));
}

/* Parse http://host[:port][/path] into host and port; the stored URL loses a trailing '/'.
 * Returns NULL on success or a reason. */
static const char *proxy_parse(char *url, bool allow_https, bool *tls, char **host, int *port,
                               char **path)
{
    free(*host);
    *host = NULL;
    *port = 0;
    free(*path);
    *path = NULL;
    bool https = strncasecmp(url, "https://", 8) == 0;
    if (tls)
        *tls = https;
    if (https && !allow_https)
        return "only http:// upstreams are supported";
    if (!https && strncasecmp(url, "http://", 7) != 0)
        return allow_https ? "invalid proxy URL: expected http:// or https://"
                           : "invalid proxy URL: expected http://HOST:PORT";
    size_t skip = https ? 8 : 7;
    const char *h = url + skip, *he, *rest;
    if (*h == '[') {
        he = strchr(h, ']');
        if (!he || he == h + 1)
            return "invalid proxy URL: bad IPv6 address";
        rest = he + 1;
        h++;
    } else {
        he = h + strcspn(h, ":/?#");
        rest = he;
    }
    if (he == h)
        return "invalid proxy URL: no host";
    for (const char *p = h; p < he; p++)
        if (*p == ' ' || *p == '@' || (unsigned char)*p < 0x20)
            return "invalid proxy URL: bad host";
    long pv = https ? 443 : 80;
    if (*rest == ':') {
        char *end;
        errno = 0;
        pv = strtol(rest + 1, &end, 10);
        if (end == rest + 1 || errno || pv < 1 || pv > 65535 || (*end && *end != '/'))
            return "invalid proxy URL: bad port";
        rest = end;
    }
    if (*rest && *rest != '/')
        return "invalid proxy URL";
    if (strpbrk(rest, " ?#"))
        return "invalid proxy URL: no query, fragment or spaces allowed";
    size_t ul = strlen(url);
    while (ul > skip && url[ul - 1] == '/')
        url[--ul] = 0;
    *host = gs_mem_strndup(h, (size_t)(he - h));
    *port = (int)pv;
    *path = gs_mem_strdup(rest); /* "" or "/base", trailing slashes gone */
    return NULL;
}

static bool env_ok(const char *s)
{
    const char *eq = strchr(s, '=');
    if (!eq || eq == s)
        return false;
    for (const char *p = s; p < eq; p++) {
        char c = *p;
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (!alpha && !(p > s && c >= '0' && c <= '9'))
            return false;
    }
    return true;
}

static void add_strip(char ***strip, int *nstrip, const char *list)
{
    const char *p = list;
    while (*p) {
        size_t n = strcspn(p, ",");
        const char *s = p, *e = p + n;
        while (s < e && (*s == ' ' || *s == '\t' || *s == '\n'))
            s++;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n'))
            e--;
        if (e > s && !(e - s == 5 && memcmp(s, "model", 5) == 0)) {
            bool dup = false;
            for (int i = 0; i < *nstrip && !dup; i++)
                dup = strlen((*strip)[i]) == (size_t)(e - s) &&
                      memcmp((*strip)[i], s, (size_t)(e - s)) == 0;
            if (!dup)
                gs_strv_push(strip, nstrip, gs_mem_strndup(s, (size_t)(e - s)));
        }
        p += n;
        if (*p == ',')
            p++;
    }
}

/* An expanded string value of a model; 0 unset, 1 set, -EINVAL error. */
static int model_str(ld *L, const gs_macro_scope *mx, gs_yaml_kv *e, const char *key, bool allow_pid, char **out)
{
    char *raw;
    *out = NULL;
    int r = gs_yaml_str(&L->y, e->val, e->line, key, &raw);
    if (r <= 0)
        return r;
    *out = gs_macros_expand(mx, raw, e->line, key, allow_pid);
    free(raw);
    return *out ? 1 : -1;
}

static const char *const model_unsupported[] = {
    "healthCheckTimeout",
};

/* Request filters of a model or a peer. */
typedef struct filters {
    char ***strip;
    int *nstrip;
    json_t **set;
    json_t **by_id;  /* NULL for peers: setParamsByID is a model's */
} filters;

/* A params mapping as JSON, "model" dropped with a warning (it routes the request). */
static json_t *params_json(ld *L, const gs_macro_scope *mx, struct fy_node *v, int line, const char *key)
{
    if (!fy_node_is_mapping(v)) {
        gs_yaml_err(&L->y, line, key, "expected a mapping of parameter names to values");
        return NULL;
    }
    json_t *o = gs_macros_json(mx, v, 1, line, key);
    if (o && json_object_get(o, "model")) {
        struct fy_node *mk = fy_node_mapping_lookup_key_by_string(v, "model", 5);
        char *pk = gs_yaml_path_join(key, "model");
        gs_yaml_warn(&L->y, mk ? gs_yaml_line(mk) : line, pk,
             "the model name cannot be set here, ignored (see useModelName)");
        free(pk);
        json_object_del(o, "model");
    }
    return o;
}

/* filters.setParamsByID: requested name -> params. Keys take macros (${MODEL_ID}). */
static json_t *params_by_id(ld *L, const gs_macro_scope *mx, gs_yaml_kv *e, const char *key)
{
    struct fy_node *v = gs_yaml_map(&L->y, e->val, e->line, key, "of requested names to parameters");
    if (!v)
        return NULL;
    json_t *all = json_object();
    gs_yaml_kvs items = {0};
    gs_yaml_items(&L->y, v, key, &items);
    for (int i = 0; i < items.n; i++) {
        gs_yaml_kv *f = &items.v[i];
        char *ik = gs_yaml_path_join(key, f->key);
        char *name = gs_macros_expand(mx, f->key, f->line, ik, false);
        struct fy_node *pv = gs_yaml_deref(&L->y, f->val, f->line, ik);
        if (!name) {
            /* reported */
        } else if (!*name || !name_chars_ok(name, strlen(name))) {
            gs_yaml_err(&L->y, f->line, ik,
                "a name must be non-empty, without control characters, quotes or backslashes");
        } else if (json_object_get(all, name)) {
            gs_yaml_err(&L->y, f->line, ik, "keys %s and %s resolve to the same name", f->key, name);
        } else {
            json_t *o = gs_yaml_is_null(pv) ? json_object() : params_json(L, mx, pv, f->line, ik);
            if (o)
                json_object_set_new(all, name, o);
        }
        free(name);
        free(ik);
    }
    gs_yaml_kvs_free(&items);
    return all;
}

static void read_filters(ld *L, const filters *F, const gs_macro_scope *mx, gs_yaml_kv *f, const char *path)
{
    struct fy_node *n = gs_yaml_deref(&L->y, f->val, f->line, path);
    if (gs_yaml_is_null(n))
        return;
    if (!fy_node_is_mapping(n)) {
        gs_yaml_err(&L->y, f->line, path, "expected a mapping");
        return;
    }
    gs_yaml_kvs items = {0};
    gs_yaml_items(&L->y, n, path, &items);
    for (int i = 0; i < items.n; i++) {
        gs_yaml_kv *e = &items.v[i];
        char *key = gs_yaml_path_join(path, e->key);
        if (!strcmp(e->key, "stripParams") || !strcmp(e->key, "strip_params")) {
            struct fy_node *v = gs_yaml_deref(&L->y, e->val, e->line, key);
            if (v && fy_node_is_sequence(v)) {
                char **list;
                int nl;
                if (gs_yaml_strlist(&L->y, v, e->line, key, &list, &nl) == 0)
                    for (int j = 0; j < nl; j++) {
                        char *x = gs_macros_expand(mx, list[j], e->line, key, false);
                        if (x)
                            add_strip(F->strip, F->nstrip, x);
                        free(x);
                    }
                gs_strv_free_n(list, nl);
            } else {
                char *s;
                if (model_str(L, mx, e, key, false, &s) > 0)
                    add_strip(F->strip, F->nstrip, s);
                free(s);
            }
        } else if (!strcmp(e->key, "setParams")) {
            struct fy_node *v = gs_yaml_deref(&L->y, e->val, e->line, key);
            if (!gs_yaml_is_null(v)) {
                json_t *o = params_json(L, mx, v, e->line, key);
                json_decref(*F->set);
                *F->set = o;
            }
        } else if (!strcmp(e->key, "setParamsByID") && F->by_id) {
            json_decref(*F->by_id);
            *F->by_id = params_by_id(L, mx, e, key);
        } else {
            gs_yaml_warn(&L->y, e->line, key, "unknown key, ignored");
        }
        free(key);
    }
    gs_yaml_kvs_free(&items);
}

typedef struct mload {
    gs_model_cfg m;
    struct fy_node *node;
    int ttl_raw; /* -1 when unset */
    int unload_raw; /* 0: the global unloadTimeout */
    int sls_raw;    /* sendLoadingState; -1: the global one */
    int sc_raw;     /* slotCache; -1: the global one */
} mload;

static int get_tristate(ld *L, gs_yaml_kv *e, const char *key)
{
    bool b;
    return gs_yaml_bool(&L->y, e->val, e->line, key, &b) > 0 ? b : -1;
}

/* The model keys of llama-swap v250 and ggswap's own. False when `e` is none of them. */
static bool model_key_v250(ld *L, mload *ml, gs_yaml_kv *e, const char *key)
{
    gs_model_cfg *m = &ml->m;
    const char *k = e->key;
    if (!strcmp(k, "unloadTimeout")) {
        gs_yaml_int(&L->y, e->val, e->line, key, 0, 86400, &ml->unload_raw);
    } else if (!strcmp(k, "sendLoadingState")) {
        ml->sls_raw = get_tristate(L, e, key);
    } else if (!strcmp(k, "timeouts")) {
        read_timeouts(L, e, key, &m->timeouts);
    } else if (!strcmp(k, "compat")) {
        read_compat(L, e, key, &m->ignore_websockets);
    } else if (!strcmp(k, "capabilities")) {
        read_caps(L, e, key, &m->caps);
    } else if (!strcmp(k, "memory")) {
        gs_yaml_size(&L->y, e->val, e->line, key, &m->memory);
    } else if (!strcmp(k, "swappable")) {
        gs_yaml_bool(&L->y, e->val, e->line, key, &m->swappable);
    } else if (!strcmp(k, "slotCache")) {
        ml->sc_raw = get_tristate(L, e, key);
    } else {
        return false;
    }
    return true;
}

/* setParamsByID keys become aliases of the model (llama-swap does so), except its own id and
 * names it already lists. Clashes with other models are found by check_names. */
static void by_id_aliases(gs_model_cfg *m)
{
    m->naliases_written = m->naliases;
    const char *name;
    json_t *v;
    json_object_foreach(m->set_params_by_id, name, v)
    {
        bool dup = !strcmp(name, m->id);
        for (int i = 0; i < m->naliases && !dup; i++)
            dup = !strcmp(m->aliases[i], name);
        if (!dup)
            gs_strv_push(&m->aliases, &m->naliases, gs_mem_strdup(name));
    }
}

/* gmac: the global macros as written; gres: the same, resolved (shared by every model that
 * declares no macros of its own). */
static void model_load(ld *L, mload *ml, const gs_macro *gmac, const gs_macro *gres, int ngmac,
                       int *next_port)
{
    gs_model_cfg *m = &ml->m;
    char *path = gs_mem_printf("models.%s", m->id);
    gs_yaml_kvs items = {0};
    gs_macro *mv = NULL;
    int nmv = 0;
    char *cmd_raw = NULL, *cmd1 = NULL;
    bool proxy_set = false;
    gs_macro_scope mx = {0};
    ml->ttl_raw = -1;
    ml->sls_raw = -1;
    ml->sc_raw = -1;
    m->concurrency_limit = 10;
    m->swappable = true;
    timeouts_default(&m->timeouts, 0);
    const gs_macro_scope *saved_mx = L->mx;

    struct fy_node *node = gs_yaml_deref(&L->y, ml->node, m->line, path);
    if (!node || !fy_node_is_mapping(node)) {
        gs_yaml_err(&L->y, m->line, path, "expected a mapping with at least cmd");
        goto out;
    }
    gs_yaml_items(&L->y, node, path, &items);

    /* Model macros first: every other key may use them. An override changes the value seen
     * by globals declared after it, so the model gets its own resolved copy. */
    mx = (gs_macro_scope){&L->M, gres, ngmac, m->id, 0};
    for (int i = 0; i < items.n; i++) {
        if (strcmp(items.v[i].key, "macros"))
            continue;
        char *key = gs_yaml_path_join(path, "macros");
        if (!mv) {
            mv = gs_macros_copy(gmac, ngmac);
            nmv = ngmac;
        }
        gs_macros_read(&L->M, items.v[i].val, items.v[i].line, key, &mv, &nmv, ngmac);
        gs_macros_resolve(&L->M, mv, nmv, key);
        free(key);
        mx.v = mv;
        mx.n = nmv;
    }

    /* cmd next: whether it uses ${PORT} decides the port, and the port may appear anywhere. */
    int cmd_line = m->line;
    for (int i = 0; i < items.n; i++) {
        if (strcmp(items.v[i].key, "cmd"))
            continue;
        char *key = gs_yaml_path_join(path, "cmd");
        cmd_line = items.v[i].line;
        if (gs_yaml_str(&L->y, items.v[i].val, cmd_line, key, &cmd_raw) < 0)
            cmd_raw = NULL;
        free(key);
    }
    char *ckey = gs_yaml_path_join(path, "cmd");
    if (cmd_raw) {
        /* comments go first so a ${x} in a comment line is never an error */
        char *clean = gs_cmdline_clean(cmd_raw);
        cmd1 = gs_macros_subst(&L->M, mx.v, mx.n, clean, cmd_line, ckey);
        free(clean);
    }
    if (cmd1 && strstr(cmd1, "${PORT}")) {
        if (*next_port > 65535) {
            gs_yaml_err(&L->y, cmd_line, ckey, "no ${PORT} left: ports from startPort passed 65535");
        } else {
            mx.port = (*next_port)++;
        }
    }
    if (cmd1) {
        m->cmd = gs_macros_finish(&mx, cmd1, cmd_line, ckey, false);
        cmd1 = NULL;
        if (m->cmd) {
            const char *why;
            if (gs_cmdline_split(m->cmd, &m->argv, &m->argc, &why) < 0)
                gs_yaml_err(&L->y, cmd_line, ckey, "%s", why);
            else if (m->argc == 0)
                gs_yaml_err(&L->y, cmd_line, ckey, "missing");
        }
    } else if (!cmd_raw) {
        gs_yaml_err(&L->y, cmd_line, ckey, "missing");
    }
    free(ckey);

    set_scope(L, &mx); /* typed macros in every key: ttl: ${T} */
    for (int i = 0; i < items.n; i++) {
        gs_yaml_kv *e = &items.v[i];
        const char *k = e->key;
        char *key = gs_yaml_path_join(path, k);
        if (!strcmp(k, "cmd") || !strcmp(k, "macros")) {
            /* done above */
        } else if (!strcmp(k, "cmdStop")) {
            char *raw;
            if (gs_yaml_str(&L->y, e->val, e->line, key, &raw) > 0) {
                char *clean = gs_cmdline_clean(raw);
                free(raw);
                free(m->cmd_stop);
                m->cmd_stop = gs_macros_expand(&mx, clean, e->line, key, true);
                free(clean);
                char **av = NULL;
                int ac = 0;
                const char *why;
                if (m->cmd_stop && gs_cmdline_split(m->cmd_stop, &av, &ac, &why) < 0)
                    gs_yaml_err(&L->y, e->line, key, "%s", why);
                gs_strv_free(av);
                /* blank (or only comments): no cmdStop, the default SIGTERM */
                if (m->cmd_stop && ac == 0) {
                    free(m->cmd_stop);
                    m->cmd_stop = NULL;
                }
            }
        } else if (!strcmp(k, "proxy")) {
            char *s;
            int r = model_str(L, &mx, e, key, false, &s);
            if (r < 0)
                proxy_set = true; /* reported; no second message about the default */
            if (r > 0) {
                proxy_set = true;
                free(m->proxy);
                m->proxy = s;
                const char *why = proxy_parse(m->proxy, false, NULL, &m->proxy_host,
                                              &m->proxy_port, &m->proxy_path);
                if (why)
                    gs_yaml_err(&L->y, e->line, key, "%s, not '%s'", why, m->proxy);
            }
        } else if (!strcmp(k, "aliases") || !strcmp(k, "env")) {
            bool is_env = k[0] == 'e';
            char **list;
            int n;
            gs_yaml_strlist(&L->y, e->val, e->line, key, &list, &n);
            for (int j = 0; j < n; j++) {
                char *ik = gs_yaml_path_index(key, j);
                char *x = gs_macros_expand(&mx, list[j], e->line, ik, false);
                if (x && is_env && !env_ok(x)) {
                    gs_yaml_err(&L->y, e->line, ik, "expected NAME=value, not '%s'", x);
                } else if (x && !is_env && !*x) {
                    gs_yaml_err(&L->y, e->line, ik, "an alias cannot be empty");
                } else if (x && !is_env && !name_chars_ok(x, strlen(x))) {
                    gs_yaml_err(&L->y, e->line, ik,
                        "an alias cannot hold control characters, quotes or backslashes");
                } else if (x) {
                    char ***dst = is_env ? &m->env : &m->aliases;
                    int *nd = is_env ? &m->nenv : &m->naliases;
                    gs_strv_push(dst, nd, x);
                    x = NULL;
                }
                free(x);
                free(ik);
            }
            gs_strv_free_n(list, n);
        } else if (!strcmp(k, "checkEndpoint")) {
            char *s;
            if (model_str(L, &mx, e, key, false, &s) > 0) {
                free(m->check_endpoint);
                m->check_endpoint = NULL;
                if (!*s) {
                    free(s); /* empty: the default */
                    s = NULL;
                } else if (s[0] != '/' && strcmp(s, "none")) {
                    char *t = gs_mem_printf("/%s", s);
                    free(s);
                    s = t;
                }
                /* it goes into a request line as is */
                for (const char *q = s; q && *q; q++)
                    if ((unsigned char)*q <= 0x20 || *q == 0x7f) {
                        gs_yaml_err(&L->y, e->line, key, "must be a path without spaces or control characters");
                        break;
                    }
                m->check_endpoint = s;
            }
        } else if (!strcmp(k, "ttl")) {
            int v;
            if (gs_yaml_int(&L->y, e->val, e->line, key, INT_MIN, INT_MAX, &v) > 0) {
                if (v < -1)
                    gs_yaml_err(&L->y, e->line, key,
                        "invalid TTL value %d: use seconds, 0 for never, or -1 for globalTTL", v);
                else
                    ml->ttl_raw = v;
            }
        } else if (!strcmp(k, "unlisted")) {
            gs_yaml_bool(&L->y, e->val, e->line, key, &m->unlisted);
        } else if (!strcmp(k, "useModelName")) {
            char *s;
            if (model_str(L, &mx, e, key, false, &s) >= 0) {
                free(m->use_model_name);
                m->use_model_name = s && *s ? s : NULL;
                if (s && !*s)
                    free(s);
            }
        } else if (!strcmp(k, "name") || !strcmp(k, "description")) {
            char **dst = k[0] == 'n' ? &m->name : &m->description;
            char *s;
            if (model_str(L, &mx, e, key, false, &s) >= 0) {
                free(*dst);
                *dst = s;
            }
        } else if (!strcmp(k, "filters")) {
            filters F = {&m->strip_params, &m->nstrip, &m->set_params, &m->set_params_by_id};
            read_filters(L, &F, &mx, e, key);
        } else if (model_key_v250(L, ml, e, key)) {
            /* read */
        } else if (!strcmp(k, "concurrencyLimit")) {
            int v;
            if (gs_yaml_int(&L->y, e->val, e->line, key, 0, 1000000, &v) > 0)
                m->concurrency_limit = v ? v : 10;
        } else if (!strcmp(k, "metadata")) {
            struct fy_node *v = gs_yaml_deref(&L->y, e->val, e->line, key);
            if (gs_yaml_is_null(v)) {
                /* nothing */
            } else if (!fy_node_is_mapping(v)) {
                gs_yaml_err(&L->y, e->line, key, "expected a mapping");
            } else {
                json_decref(m->metadata);
                m->metadata = gs_macros_json(&mx, v, 1, e->line, key);
            }
        } else {
            bool known = false;
            for (size_t j = 0; j < GS_ARRAY_LEN(model_unsupported); j++)
                known = known || !strcmp(k, model_unsupported[j]);
            gs_yaml_warn(&L->y, e->line, key, "%s", known ? "not supported by ggswap, ignored"
                                              : "unknown key, ignored");
        }
        free(key);
    }

    if (!proxy_set) {
        if (mx.port) {
            m->proxy = gs_mem_printf("http://localhost:%d", mx.port);
            proxy_parse(m->proxy, false, NULL, &m->proxy_host, &m->proxy_port, &m->proxy_path);
        } else if (m->cmd) {
            char *key = gs_yaml_path_join(path, "proxy");
            gs_yaml_err(&L->y, m->line, key,
                "not set, and the default http://localhost:${PORT} needs cmd to use ${PORT}; "
                "set proxy to the address cmd listens on");
            free(key);
        }
    }
    if (!m->check_endpoint)
        m->check_endpoint = gs_mem_strdup("/health");
    if (!strcmp(m->check_endpoint, "none")) {
        free(m->check_endpoint);
        m->check_endpoint = NULL;
    }
    m->ttl = ml->ttl_raw == -1 ? L->c->global_ttl : ml->ttl_raw;
    m->unload_timeout = ml->unload_raw ? ml->unload_raw : L->c->unload_timeout;
    m->send_loading_state = ml->sls_raw < 0 ? L->c->send_loading_state : ml->sls_raw;
    m->slot_cache = ml->sc_raw < 0 ? L->c->slot_cache.enabled : ml->sc_raw;
    by_id_aliases(m);

out:
    set_scope(L, saved_mx);
    free(cmd_raw);
    free(cmd1);
    gs_macros_free(mv, nmv);
    gs_yaml_kvs_free(&items);
    free(path);
}

/* ---------------------------------------------------------------- whole config */

static int model_cmp(const void *a, const void *b)
{
    return strcmp(((const mload *)a)->m.id, ((const mload *)b)->m.id);
}

typedef struct name_ref {
    const char *name;
    int model;
    int alias; /* -1 for the model id itself */
} name_ref;

static int name_ref_cmp(const void *a, const void *b)
{
    const name_ref *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c)
        return c;
    if (x->model != y->model)
        return x->model < y->model ? -1 : 1;
    return x->alias < y->alias ? -1 : x->alias > y->alias;
}

/* Every id and alias names exactly one model. */
static void check_names(ld *L)
{
    gs_config *c = L->c;
    size_t n = (size_t)c->nmodels;
    for (int i = 0; i < c->nmodels; i++)
        n += (size_t)c->models[i].naliases;
    name_ref *v = gs_mem_calloc(n + 1, sizeof(*v));
    size_t k = 0;
    for (int i = 0; i < c->nmodels; i++) {
        v[k++] = (name_ref){c->models[i].id, i, -1};
        for (int j = 0; j < c->models[i].naliases; j++)
            v[k++] = (name_ref){c->models[i].aliases[j], i, j};
    }
    qsort(v, k, sizeof(*v), name_ref_cmp);
    for (size_t i = 1; i < k; i++) {
        if (strcmp(v[i - 1].name, v[i].name))
            continue;
        const name_ref *a = &v[i - 1], *b = &v[i];
        if (b->alias < 0) {
            /* ids sort before aliases of later models only by index; report on the alias */
            const name_ref *t = a;
            a = b;
            b = t;
        }
        if (b->alias < 0) {
            gs_yaml_err(&L->y, c->models[b->model].line, "models", "duplicate model id %s", b->name);
            continue;
        }
        gs_model_cfg *mb = &c->models[b->model];
        char *key = b->alias < mb->naliases_written
                        ? gs_mem_printf("models.%s.aliases[%d]", mb->id, b->alias)
                        : gs_mem_printf("models.%s.filters.setParamsByID.%s", mb->id, b->name);
        if (a->model == b->model)
            gs_yaml_err(&L->y, mb->line, key, "alias %s is listed twice", b->name);
        else
            gs_yaml_err(&L->y, mb->line, key, "duplicate alias %s in models %s and %s", b->name,
                c->models[a->model].id, mb->id);
        free(key);
    }
    free(v);
}

int gs_config_find(const gs_config *c, const char *name)
{
    if (!c || !name)
        return -1;
    int lo = 0, hi = c->nmodels - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int r = strcmp(name, c->models[mid].id);
        if (!r)
            return mid;
        if (r < 0)
            hi = mid - 1;
        else
            lo = mid + 1;
    }
    for (int i = 0; i < c->nmodels; i++)
        for (int j = 0; j < c->models[i].naliases; j++)
            if (!strcmp(name, c->models[i].aliases[j]))
                return i;
    return -1;
}

static const char *const top_unsupported[] = {
    "logTimeFormat", "logRequests", "metricsMaxInMemory", "captureBuffer", "ui", "performance",
};

static void group_add_member(gs_group_cfg *g, int idx)
{
    g->members = gs_mem_realloc(g->members, (size_t)(g->nmembers + 1) * sizeof(int));
    g->members[g->nmembers++] = idx;
}

static void load_groups(ld *L, const ref *r, const char *gpath, int *owner)
{
    gs_config *c = L->c;
    struct fy_node *n = r->set ? gs_yaml_deref(&L->y, r->val, r->line, gpath) : NULL;
    if (n && !gs_yaml_is_null(n) && !fy_node_is_mapping(n)) {
        gs_yaml_err(&L->y, r->line, gpath, "expected a mapping of group names to groups");
        n = NULL;
    }
    gs_yaml_kvs items = {0};
    if (n && !gs_yaml_is_null(n))
        gs_yaml_items(&L->y, n, gpath, &items);
    c->groups = gs_mem_calloc((size_t)items.n + 1, sizeof(*c->groups));
    for (int i = 0; i < items.n; i++) {
        gs_yaml_kv *e = &items.v[i];
        char *path = gs_yaml_path_join(gpath, e->key);
        gs_group_cfg *g = &c->groups[c->ngroups++];
        g->id = gs_mem_strdup(e->key);
        g->swap = true;
        g->exclusive = true;
        g->persistent = false;
        if (!strcmp(e->key, "(default)"))
            gs_yaml_err(&L->y, e->line, path, "the name (default) is reserved for models in no group");
        if (!name_chars_ok(e->key, strlen(e->key)))
            gs_yaml_err(&L->y, e->line, path, "a group id cannot hold control characters, quotes or backslashes");
        struct fy_node *gn = gs_yaml_deref(&L->y, e->val, e->line, path);
        if (gs_yaml_is_null(gn)) {
            free(path);
            continue;
        }
        if (!fy_node_is_mapping(gn)) {
            gs_yaml_err(&L->y, e->line, path, "expected a mapping with members");
            free(path);
            continue;
        }
        gs_yaml_kvs gi = {0};
        gs_yaml_items(&L->y, gn, path, &gi);
        for (int j = 0; j < gi.n; j++) {
            gs_yaml_kv *f = &gi.v[j];
            char *key = gs_yaml_path_join(path, f->key);
            if (!strcmp(f->key, "swap")) {
                gs_yaml_bool(&L->y, f->val, f->line, key, &g->swap);
            } else if (!strcmp(f->key, "exclusive")) {
                gs_yaml_bool(&L->y, f->val, f->line, key, &g->exclusive);
            } else if (!strcmp(f->key, "persistent")) {
                gs_yaml_bool(&L->y, f->val, f->line, key, &g->persistent);
            } else if (!strcmp(f->key, "members")) {
                char **list;
                int nl;
                gs_yaml_strlist(&L->y, f->val, f->line, key, &list, &nl);
                for (int m = 0; m < nl; m++) {
                    char *ik = gs_yaml_path_index(key, m);
                    int idx = gs_config_find(c, list[m]);
                    if (idx < 0) {
                        gs_yaml_err(&L->y, f->line, ik, "unknown model %s", list[m]);
                    } else if (owner[idx] == c->ngroups - 1) {
                        gs_yaml_err(&L->y, f->line, ik, "duplicate member %s in group %s", list[m], g->id);
                    } else if (owner[idx] >= 0) {
                        gs_yaml_err(&L->y, f->line, ik, "model %s is in two groups: %s and %s",
                            c->models[idx].id, c->groups[owner[idx]].id, g->id);
                    } else {
                        owner[idx] = c->ngroups - 1;
                        group_add_member(g, idx);
                    }
                    free(ik);
                }
                gs_strv_free_n(list, nl);
            } else {
                gs_yaml_warn(&L->y, f->line, key, "unknown key, ignored");
            }
            free(key);
        }
        gs_yaml_kvs_free(&gi);
        free(path);
    }
    gs_yaml_kvs_free(&items);

    /* As llama-swap: all models that name no group share one "(default)" group, swap and
     * exclusive, so only one of them runs at a time. */
    int ungrouped = 0;
    for (int i = 0; i < c->nmodels; i++)
        ungrouped += owner[i] < 0;
    if (ungrouped) {
        c->groups = gs_mem_realloc(c->groups, (size_t)(c->ngroups + 1) * sizeof(*c->groups));
        gs_group_cfg *g = &c->groups[c->ngroups++];
        memset(g, 0, sizeof(*g));
        g->id = gs_mem_strdup("(default)");
        g->swap = true;
        g->exclusive = true;
        for (int i = 0; i < c->nmodels; i++)
            if (owner[i] < 0) {
                owner[i] = c->ngroups - 1;
                group_add_member(g, i);
            }
    }
    for (int i = 0; i < c->nmodels; i++)
        c->models[i].group = owner[i];
}

/* ---------------------------------------------------------------- v250 and ggswap top-level keys */

#define IGNORE_DEFAULT ".*\\.(js|json|css|png|gif|jpg|jpeg|ico|txt)$"


/* Blocks that name models, read after them. */
typedef struct later {
    ref groups, matrix;   /* legacy top-level keys */
    ref rgroups, rmatrix; /* routing.router.settings.* */
    ref priority;         /* routing.scheduler.settings.fifo.priority */
    ref peers, selectors, profiles;
    char *use;            /* routing.router.use; NULL when unset */
    int use_line;
    int routing_line;
} later;

static void ref_set(ld *L, ref *r, gs_yaml_kv *e, const char *key)
{
    r->val = e->val;
    r->line = e->line;
    r->set = !gs_yaml_is_null(gs_yaml_deref(&L->y, e->val, e->line, key));
}

static void read_log_stdout(ld *L, gs_yaml_kv *e)
{
    static const char *const names[] = {"proxy", "upstream", "both", "none"};
    char *s;
    if (gs_yaml_xstr(&L->y, e->val, e->line, e->key, &s) <= 0)
        return;
    size_t i = 0;
    while (i < GS_ARRAY_LEN(names) && strcmp(names[i], s))
        i++;
    if (i == GS_ARRAY_LEN(names))
        gs_yaml_err(&L->y, e->line, e->key, "must be one of: proxy, upstream, both, none; not '%s'", s);
    else
        L->c->log_to_stdout = (gs_log_stdout)i;
    free(s);
}

static void read_store(ld *L, gs_yaml_kv *e)
{
    struct fy_node *n = gs_yaml_map(&L->y, e->val, e->line, "store", "with path");
    if (!n)
        return;
    gs_yaml_kvs items = {0};
    gs_yaml_items(&L->y, n, "store", &items);
    for (int i = 0; i < items.n; i++) {
        gs_yaml_kv *f = &items.v[i];
        char *key = gs_yaml_path_join("store", f->key);
        char *s = NULL;
        struct stat st;
        if (strcmp(f->key, "path")) {
            gs_yaml_warn(&L->y, f->line, key, "unknown key, ignored");
        } else if (gs_yaml_xstr(&L->y, f->val, f->line, key, &s) > 0 && *s) {
            char *dir = gs_mem_strdup(s);
            char *slash = strrchr(dir, '/');
            if (slash)
                slash[slash == dir] = 0;
            if (stat(s, &st) == 0 && S_ISDIR(st.st_mode))
                gs_yaml_err(&L->y, f->line, key, "%s is a directory, not a file", s);
            else if (slash && (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)))
                gs_yaml_err(&L->y, f->line, key, "the folder %s does not exist", dir);
            else {
                free(L->c->store_path);
                L->c->store_path = s;
                s = NULL;
            }
            free(dir);
        }
        free(s);
        free(key);
    }
    gs_yaml_kvs_free(&items);
}

static void ignore_free(gs_config *c)
{
    regex_t *re = c->ignore_re;
    for (int i = 0; re && i < c->nignore_paths; i++)
        regfree(&re[i]);
    free(re);
    gs_strv_free_n(c->ignore_paths, c->nignore_paths);
    c->ignore_re = NULL;
    c->ignore_paths = NULL;
    c->nignore_paths = 0;
}

/* Compile the patterns (a failed one reports and is dropped); none: llama-swap's default. */
static void ignore_set(ld *L, char **list, int n, int line, const char *key)
{
    gs_config *c = L->c;
    ignore_free(c);
    if (n == 0) {
        free(list);
        list = NULL;
        gs_strv_push(&list, &n, gs_mem_strdup(IGNORE_DEFAULT));
    }
    regex_t *re = gs_mem_calloc((size_t)n, sizeof(*re));
    for (int i = 0; i < n; i++) {
        int rc = regcomp(&re[c->nignore_paths], list[i], REG_EXTENDED | REG_NOSUB);
        if (rc) {
            char why[128];
            regerror(rc, &re[c->nignore_paths], why, sizeof(why));
            char *ik = gs_yaml_path_index(key, i);
            gs_yaml_err(&L->y, line, ik, "invalid regular expression '%s': %s", list[i], why);
            free(ik);
            free(list[i]);
            continue;
        }
        gs_strv_push(&c->ignore_paths, &c->nignore_paths, list[i]);
    }
    free(list);
    c->ignore_re = re;
}

static void read_upstream(ld *L, gs_yaml_kv *e)
{
    struct fy_node *n = gs_yaml_map(&L->y, e->val, e->line, "upstream", "with ignorePaths");
    if (!n)
        return;
    gs_yaml_kvs items = {0};
    gs_yaml_items(&L->y, n, "upstream", &items);
    for (int i = 0; i < items.n; i++) {
        gs_yaml_kv *f = &items.v[i];
        char *key = gs_yaml_path_join("upstream", f->key);
        if (strcmp(f->key, "ignorePaths")) {
            gs_yaml_warn(&L->y, f->line, key, "unknown key, ignored");
        } else {
            char **list;
            int nl;
            gs_yaml_xstrlist(&L->y, f->val, f->line, key, &list, &nl);
            ignore_set(L, list, nl, f->line, key);
        }
        free(key);
    }
    gs_yaml_kvs_free(&items);
}

bool gs_config_ignore_path(const gs_config *c, const char *path)
{
    const regex_t *re = c ? c->ignore_re : NULL;
    for (int i = 0; re && path && i < c->nignore_paths; i++)
        if (regexec(&re[i], path, 0, NULL, 0) == 0)
            return true;
    return false;
}

/* `auto` or a size. */
static void read_auto_size(ld *L, gs_yaml_kv *f, const char *key, bool *is_auto, long long *v)
{
    struct fy_node *n = gs_yaml_deref(&L->y, f->val, f->line, key);
    size_t len = 0;
    const char *s = n && fy_node_is_scalar(n) ? gs_yaml_scalar(n, &len) : "";
    if (gs_yaml_is_null(n) || gs_yaml_sceq(s, len, "auto")) {
        *is_auto = true;
    } else if (gs_yaml_size(&L->y, f->val, f->line, key, v) > 0) {
        *is_auto = false;
    }
}

static void read_gpu_sizes(ld *L, gs_yaml_kv *f, const char *key, gs_memory_cfg *m)
{
    struct fy_node *n = gs_yaml_deref(&L->y, f->val, f->line, key);
    if (!n || !fy_node_is_sequence(n)) {
        long long one = 0;
        read_auto_size(L, f, key, &m->gpu_auto, &one);
        if (!m->gpu_auto) {
            m->gpu = gs_mem_calloc(1, sizeof(*m->gpu));
            m->gpu[0] = one;
            m->ngpu = 1;
        }
        return;
    }
    m->gpu_auto = false;
    int cnt = fy_node_sequence_item_count(n);
    m->gpu = gs_mem_calloc((size_t)cnt + 1, sizeof(*m->gpu));
    void *it = NULL;
    struct fy_node *e;
    int i = 0;
    while ((e = fy_node_sequence_iterate(n, &it)) && i < cnt) {
        char *ik = gs_yaml_path_index(key, i);
        int el = gs_yaml_line(e);
        if (gs_yaml_size(&L->y, e, el ? el : f->line, ik, &m->gpu[m->ngpu]) > 0)
            m->ngpu++;
        else if (gs_yaml_is_null(e))
            gs_yaml_err(&L->y, el ? el : f->line, ik, "expected a size such as 6GiB or 512MiB");
        free(ik);
        i++;
    }
}

static void read_memory(ld *L, gs_yaml_kv *e)
{
    gs_memory_cfg *m = &L->c->memory;
    m->line = e->line;
    struct fy_node *n = gs_yaml_deref(&L->y, e->val, e->line, "memory");
    if (gs_yaml_is_null(n)) {
        m->enabled = true; /* present = on */
        return;
    }
    if (fy_node_is_scalar(n)) {
        bool b;
        if (gs_yaml_bool(&L->y, n, e->line, "memory", &b) > 0)
            m->enabled = b;
        return;
    }
    if (!fy_node_is_mapping(n)) {
        gs_yaml_err(&L->y, e->line, "memory", "expected a mapping of ram, gpu and margin, or true/false");
        return;
    }
    m->enabled = true;
    gs_yaml_kvs items = {0};
    gs_yaml_items(&L->y, n, "memory", &items);
    for (int i = 0; i < items.n; i++) {
        gs_yaml_kv *f = &items.v[i];
        char *key = gs_yaml_path_join("memory", f->key);
        if (!strcmp(f->key, "ram"))
            read_auto_size(L, f, key, &m->ram_auto, &m->ram);
        else if (!strcmp(f->key, "gpu"))
            read_gpu_sizes(L, f, key, m);
        else if (!strcmp(f->key, "margin"))
            gs_yaml_size(&L->y, f->val, f->line, key, &m->margin);
        else if (!strcmp(f->key, "enabled"))
            gs_yaml_bool(&L->y, f->val, f->line, key, &m->enabled);
        else
            gs_yaml_warn(&L->y, f->line, key, "unknown key, ignored");
        free(key);
    }
    gs_yaml_kvs_free(&items);
}

static void read_slot_cache(ld *L, gs_yaml_kv *e)
{
    gs_slot_cache_cfg *sc = &L->c->slot_cache;
    sc->line = e->line;
    struct fy_node *n = gs_yaml_deref(&L->y, e->val, e->line, "slotCache");
    if (gs_yaml_is_null(n))
        return;
    if (fy_node_is_scalar(n)) {
        gs_yaml_bool(&L->y, n, e->line, "slotCache", &sc->enabled);
        return;
    }
    if (!fy_node_is_mapping(n)) {
        gs_yaml_err(&L->y, e->line, "slotCache", "expected true/false or a mapping of enabled, maxSize, "
                                     "saveTimeout, path");
        return;
    }
    sc->enabled = true;
    gs_yaml_kvs items = {0};
    gs_yaml_items(&L->y, n, "slotCache", &items);
    for (int i = 0; i < items.n; i++) {
        gs_yaml_kv *f = &items.v[i];
        char *key = gs_yaml_path_join("slotCache", f->key);
        char *s;
        if (!strcmp(f->key, "enabled")) {
            gs_yaml_bool(&L->y, f->val, f->line, key, &sc->enabled);
        } else if (!strcmp(f->key, "maxSize")) {
            gs_yaml_size(&L->y, f->val, f->line, key, &sc->max_size);
        } else if (!strcmp(f->key, "saveTimeout")) {
            gs_yaml_ms(&L->y, f->val, f->line, key, &sc->save_timeout_ms);
        } else if (!strcmp(f->key, "path")) {
            if (gs_yaml_xstr(&L->y, f->val, f->line, key, &s) > 0) {
                free(sc->path);
                sc->path = *s ? s : NULL;
                if (!*s)
                    free(s);
            }
        } else {
            gs_yaml_warn(&L->y, f->line, key, "unknown key, ignored");
        }
        free(key);
    }
    gs_yaml_kvs_free(&items);
}

/* routing: {router: {use, settings: {groups, matrix}}, scheduler: {use, settings: {fifo:
 * {priority}}}}. What names models is kept in lt for later. */
static void read_routing(ld *L, gs_yaml_kv *e, later *lt)
{
    lt->routing_line = e->line;
    struct fy_node *n = gs_yaml_map(&L->y, e->val, e->line, "routing", "with router and scheduler");
    if (!n)
        return;
    gs_yaml_kvs items = {0};
    gs_yaml_items(&L->y, n, "routing", &items);
    for (int i = 0; i < items.n; i++) {
        gs_yaml_kv *f = &items.v[i];
        char *key = gs_yaml_path_join("routing", f->key);
        bool router = !strcmp(f->key, "router");
        if (!router && strcmp(f->key, "scheduler")) {
            gs_yaml_warn(&L->y, f->line, key, "unknown key, ignored");
            free(key);
            continue;
        }
        struct fy_node *rn = gs_yaml_map(&L->y, f->val, f->line, key, "with use and settings");
        gs_yaml_kvs ri = {0};
        if (rn)
            gs_yaml_items(&L->y, rn, key, &ri);
        for (int j = 0; j < ri.n; j++) {
            gs_yaml_kv *g = &ri.v[j];
            char *gk = gs_yaml_path_join(key, g->key);
            char *s;
            if (!strcmp(g->key, "use") && gs_yaml_xstr(&L->y, g->val, g->line, gk, &s) > 0) {
                if (router) {
                    free(lt->use);
                    lt->use = s;
                    lt->use_line = g->line;
                } else {
                    if (strcmp(s, "fifo"))
                        gs_yaml_err(&L->y, g->line, gk, "unknown scheduler \"%s\" (valid: fifo)", s);
                    free(s);
                }
            } else if (!strcmp(g->key, "settings")) {
                struct fy_node *sn = gs_yaml_map(&L->y, g->val, g->line, gk, NULL);
                gs_yaml_kvs si = {0};
                if (sn)
                    gs_yaml_items(&L->y, sn, gk, &si);
                for (int k = 0; k < si.n; k++) {
                    gs_yaml_kv *h = &si.v[k];
                    char *hk = gs_yaml_path_join(gk, h->key);
                    if (router && !strcmp(h->key, "groups")) {
                        ref_set(L, &lt->rgroups, h, hk);
                    } else if (router && !strcmp(h->key, "matrix")) {
                        ref_set(L, &lt->rmatrix, h, hk);
                    } else if (!router && !strcmp(h->key, "fifo")) {
                        struct fy_node *fn = gs_yaml_map(&L->y, h->val, h->line, hk, "with priority");
                        gs_yaml_kvs fi = {0};
                        if (fn)
                            gs_yaml_items(&L->y, fn, hk, &fi);
                        for (int q = 0; q < fi.n; q++) {
                            char *qk = gs_yaml_path_join(hk, fi.v[q].key);
                            if (!strcmp(fi.v[q].key, "priority"))
                                ref_set(L, &lt->priority, &fi.v[q], qk);
                            else
                                gs_yaml_warn(&L->y, fi.v[q].line, qk, "unknown key, ignored");
                            free(qk);
                        }
                        gs_yaml_kvs_free(&fi);
                    } else {
                        gs_yaml_warn(&L->y, h->line, hk, "unknown key, ignored");
                    }
                    free(hk);
                }
                gs_yaml_kvs_free(&si);
            } else if (strcmp(g->key, "use")) {
                gs_yaml_warn(&L->y, g->line, gk, "unknown key, ignored");
            }
            free(gk);
        }
        gs_yaml_kvs_free(&ri);
        free(key);
    }
    gs_yaml_kvs_free(&items);
}

/* Index of the model with exactly this id (not an alias), or -1. */
static int model_by_id(const gs_config *c, const char *id)
{
    int i = gs_config_find(c, id);
    return i >= 0 && !strcmp(c->models[i].id, id) ? i : -1;
}

static bool var_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 32)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '-')
            return false;
    return true;
}

static void matrix_free(gs_matrix_cfg *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->nvars; i++)
        free(m->vars[i].name);
    for (int i = 0; i < m->ncosts; i++)
        free(m->costs[i].name);
    for (int i = 0; i < m->nsets; i++) {
        free(m->sets[i].name);
        free(m->sets[i].dsl);
    }
    free(m->vars);
    free(m->costs);
    free(m->sets);
    gs_matrix_free(m->prog);
    free(m->cost_of);
    free(m);
}

static int matrix_resolve(const gs_config *c, const gs_matrix_cfg *m, const char *name)
{
    for (int i = 0; i < m->nvars; i++)
        if (!strcmp(m->vars[i].name, name))
            return m->vars[i].model;
    return model_by_id(c, name);
}

struct mres {
    const gs_config *c;
    const gs_matrix_cfg *m;
};

static int matrix_ident(const char *ident, void *ud)
{
    const struct mres *r = ud;
    return matrix_resolve(r->c, r->m, ident);
}

/* The set expressions, parsed and linked by the matrix module (matrix.h): a set that does not
 * parse or names an unknown model is an error at its own line. */
static void matrix_compile(ld *L, gs_matrix_cfg *m, const char *path)
{
    gs_matrix_set_def *defs = gs_mem_calloc((size_t)m->nsets, sizeof *defs);
    for (int i = 0; i < m->nsets; i++)
        defs[i] = (gs_matrix_set_def){m->sets[i].name, m->sets[i].dsl};
    struct mres r = {L->c, m};
    char why[512];
    int bad = -1;
    if (gs_matrix_compile(defs, m->nsets, L->c->nmodels, matrix_ident, &r, &m->prog, &bad, why,
                          sizeof why) < 0) {
        char *sets = gs_yaml_path_join(path, "sets");
        char *key = bad >= 0 ? gs_yaml_path_join(sets, m->sets[bad].name) : gs_mem_strdup(sets);
        gs_yaml_err(&L->y, bad >= 0 ? m->sets[bad].line : m->line, key, "%s", why);
        free(key);
        free(sets);
    }
    free(defs);
    m->cost_of = gs_mem_calloc((size_t)(L->c->nmodels ? L->c->nmodels : 1), sizeof(int));
    for (int i = 0; i < L->c->nmodels; i++)
        m->cost_of[i] = 1;
    for (int i = 0; i < m->ncosts; i++)
        if (m->costs[i].model >= 0 && m->costs[i].model < L->c->nmodels)
            m->cost_of[m->costs[i].model] = m->costs[i].cost;
}

/* vars first (evict_costs may name them), then evict_costs and sets. */
static void load_matrix(ld *L, const ref *r, const char *path)
{
    gs_config *c = L->c;
    struct fy_node *n = gs_yaml_map(&L->y, r->val, r->line, path, "with vars, evict_costs and sets");
    gs_matrix_cfg *m = gs_mem_calloc(1, sizeof(*m));
    m->line = r->line;
    gs_yaml_kvs items = {0};
    if (n)
        gs_yaml_items(&L->y, n, path, &items);
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < items.n; i++) {
            gs_yaml_kv *e = &items.v[i];
            bool vars = !strcmp(e->key, "vars");
            if (vars != (pass == 0))
                continue;
            char *key = gs_yaml_path_join(path, e->key);
            bool costs = !strcmp(e->key, "evict_costs"), sets = !strcmp(e->key, "sets");
            struct fy_node *v = vars || costs || sets ? gs_yaml_map(&L->y, e->val, e->line, key, NULL)
                                                      : NULL;
            if (!vars && !costs && !sets)
                gs_yaml_warn(&L->y, e->line, key, "unknown key, ignored");
            gs_yaml_kvs sub = {0};
            if (v)
                gs_yaml_items(&L->y, v, key, &sub);
            for (int j = 0; j < sub.n; j++) {
                gs_yaml_kv *f = &sub.v[j];
                char *fk = gs_yaml_path_join(key, f->key);
                char *s = NULL;
                int cost = 1;
                if (vars && gs_yaml_xstr(&L->y, f->val, f->line, fk, &s) >= 0) {
                    int idx = s ? model_by_id(c, s) : -1;
                    if (!var_name_ok(f->key))
                        gs_yaml_err(&L->y, f->line, fk, "a var name holds 1 to 32 letters, digits, '-' or '.'");
                    else if (idx < 0)
                        gs_yaml_err(&L->y, f->line, fk, "references unknown model \"%s\" (a model id, not an "
                                            "alias)", s ? s : "");
                    else {
                        m->vars = gs_mem_realloc(m->vars, (size_t)(m->nvars + 1) * sizeof(*m->vars));
                        m->vars[m->nvars++] = (gs_matrix_var){gs_mem_strdup(f->key), idx, f->line};
                    }
                } else if (costs && gs_yaml_int(&L->y, f->val, f->line, fk, 1, INT_MAX, &cost) > 0) {
                    int idx = matrix_resolve(c, m, f->key);
                    if (idx < 0) {
                        gs_yaml_err(&L->y, f->line, fk, "unknown var or model \"%s\"", f->key);
                    } else {
                        m->costs = gs_mem_realloc(m->costs,
                                                  (size_t)(m->ncosts + 1) * sizeof(*m->costs));
                        m->costs[m->ncosts++] =
                            (gs_matrix_cost){gs_mem_strdup(f->key), idx, cost, f->line};
                    }
                } else if (sets && gs_yaml_xstr(&L->y, f->val, f->line, fk, &s) >= 0) {
                    if (!s || !*s) {
                        gs_yaml_err(&L->y, f->line, fk, "empty expression");
                    } else {
                        m->sets = gs_mem_realloc(m->sets, (size_t)(m->nsets + 1) * sizeof(*m->sets));
                        m->sets[m->nsets++] = (gs_matrix_set){gs_mem_strdup(f->key), s, f->line};
                        s = NULL;
                    }
                }
                free(s);
                free(fk);
            }
            gs_yaml_kvs_free(&sub);
            free(key);
        }
    }
    gs_yaml_kvs_free(&items);
    if (!m->nsets)
        gs_yaml_err(&L->y, r->line, path, "a matrix must define at least one set");
    else
        matrix_compile(L, m, path);
    matrix_free(c->matrix);
    c->matrix = m;
    c->router = GS_ROUTER_MATRIX;
}

static void load_groups(ld *L, const ref *r, const char *gpath, int *owner);

/* Which router, from the legacy keys or routing.router; then groups (always: every model has
 * one) and the matrix. */
static void load_router(ld *L, later *lt, int *owner)
{
    bool top = lt->groups.set || lt->matrix.set;
    bool routing = lt->use || lt->rgroups.set || lt->rmatrix.set;
    ref none = {0};
    if (top && routing) {
        gs_yaml_err(&L->y, lt->routing_line, "routing",
            "the legacy top-level groups/matrix and routing.router are both set; move them into "
            "routing.router.settings");
        load_groups(L, &none, "groups", owner);
        return;
    }
    if (top) {
        if (lt->groups.set && lt->matrix.set)
            gs_yaml_err(&L->y, lt->matrix.line, "matrix", "a config cannot use both groups and matrix");
        if (lt->matrix.set)
            load_matrix(L, &lt->matrix, "matrix");
        load_groups(L, lt->matrix.set ? &none : &lt->groups, "groups", owner);
        return;
    }
    const char *use = lt->use ? lt->use : "group";
    if (!strcmp(use, "matrix")) {
        if (!lt->rmatrix.set)
            gs_yaml_err(&L->y, lt->use_line, "routing.router.use",
                "is 'matrix' but routing.router.settings.matrix is not set");
        else
            load_matrix(L, &lt->rmatrix, "routing.router.settings.matrix");
        load_groups(L, &none, "groups", owner);
        return;
    }
    if (strcmp(use, "group"))
        gs_yaml_err(&L->y, lt->use_line, "routing.router.use", "unknown router \"%s\" (valid: group, matrix)",
            use);
    else if (lt->rmatrix.set)
        gs_yaml_warn(&L->y, lt->rmatrix.line, "routing.router.settings.matrix",
             "not used: routing.router.use is group");
    load_groups(L, &lt->rgroups, "routing.router.settings.groups", owner);
}

static void load_priority(ld *L, const ref *r)
{
    const char *path = "routing.scheduler.settings.fifo.priority";
    struct fy_node *n = gs_yaml_map(&L->y, r->val, r->line, path, "of model names to numbers");
    if (!n)
        return;
    gs_yaml_kvs items = {0};
    gs_yaml_items(&L->y, n, path, &items);
    for (int i = 0; i < items.n; i++) {
        gs_yaml_kv *e = &items.v[i];
        char *key = gs_yaml_path_join(path, e->key);
        int v = 0, idx = gs_config_find(L->c, e->key);
        if (gs_yaml_int(&L->y, e->val, e->line, key, INT_MIN, INT_MAX, &v) >= 0) {
            if (idx < 0)
                gs_yaml_err(&L->y, e->line, key, "references unknown model \"%s\"", e->key);
            else
                L->c->models[idx].priority = v;
        }
        free(key);
    }
    gs_yaml_kvs_free(&items);
}

static void peer_free(gs_peer_cfg *p)
{
    free(p->id);
    free(p->proxy);
    free(p->proxy_host);
    free(p->proxy_path);
    free(p->api_key);
    gs_strv_free_n(p->models, p->nmodels);
    gs_strv_free_n(p->strip_params, p->nstrip);
    json_decref(p->set_params);
}

static const char *proxy_parse(char *url, bool allow_https, bool *tls, char **host, int *port,
                               char **path);

static void peer_load(ld *L, gs_peer_cfg *p, struct fy_node *n, const char *path)
{
    gs_yaml_kvs items = {0};
    gs_yaml_items(&L->y, n, path, &items);
    for (int i = 0; i < items.n; i++) {
        gs_yaml_kv *e = &items.v[i];
        char *key = gs_yaml_path_join(path, e->key);
        char *s = NULL;
        if (!strcmp(e->key, "proxy")) {
            if (gs_yaml_xstr(&L->y, e->val, e->line, key, &s) > 0) {
                free(p->proxy);
                p->proxy = s;
                const char *why = proxy_parse(s, true, &p->tls, &p->proxy_host, &p->proxy_port,
                                              &p->proxy_path);
                if (why)
                    gs_yaml_err(&L->y, e->line, key, "%s, not '%s'", why, s);
            }
        } else if (!strcmp(e->key, "apiKey")) {
            if (gs_yaml_xstr(&L->y, e->val, e->line, key, &s) > 0) {
                free(p->api_key);
                p->api_key = *s ? s : NULL;
                if (!*s)
                    free(s);
                else if (strpbrk(s, "\r\n"))
                    gs_yaml_err(&L->y, e->line, key, "cannot hold line breaks");
            }
        } else if (!strcmp(e->key, "models")) {
            char **list;
            int nl;
            gs_yaml_xstrlist(&L->y, e->val, e->line, key, &list, &nl);
            for (int j = 0; j < nl; j++) {
                bool dup = false;
                for (int q = 0; q < p->nmodels && !dup; q++)
                    dup = !strcmp(p->models[q], list[j]);
                if (!*list[j] || !name_chars_ok(list[j], strlen(list[j]))) {
                    char *ik = gs_yaml_path_index(key, j);
                    gs_yaml_err(&L->y, e->line, ik, "a model name must be non-empty, without control "
                                        "characters, quotes or backslashes");
                    free(ik);
                    dup = true;
                }
                if (dup)
                    free(list[j]);
                else
                    gs_strv_push(&p->models, &p->nmodels, list[j]);
            }
            free(list);
        } else if (!strcmp(e->key, "filters")) {
            filters F = {&p->strip_params, &p->nstrip, &p->set_params, NULL};
            read_filters(L, &F, L->mx, e, key);
        } else if (!strcmp(e->key, "timeouts")) {
            read_timeouts(L, e, key, &p->timeouts);
        } else {
            gs_yaml_warn(&L->y, e->line, key, "unknown key, ignored");
        }
        free(key);
    }
    gs_yaml_kvs_free(&items);
    if (!p->proxy)
        gs_yaml_err(&L->y, p->line, path, "proxy is required (the peer's base URL)");
    if (!p->nmodels)
        gs_yaml_err(&L->y, p->line, path, "models cannot be empty: list the models the peer serves");
}

static int peer_cmp(const void *a, const void *b)
{
    return strcmp(((const gs_peer_cfg *)a)->id, ((const gs_peer_cfg *)b)->id);
}

/* The peer whose "peer/model" is exactly name, or -1. */
static int peer_fqn(const gs_config *c, const char *name, const char **model)
{
    for (int i = 0; i < c->npeers; i++) {
        size_t il = strlen(c->peers[i].id);
        if (strncmp(name, c->peers[i].id, il) || name[il] != '/')
            continue;
        for (int j = 0; j < c->peers[i].nmodels; j++)
            if (!strcmp(name + il + 1, c->peers[i].models[j])) {
                if (model)
                    *model = c->peers[i].models[j];
                return i;
            }
    }
    return -1;
}

int gs_config_find_peer(const gs_config *c, const char *name, const char **model)
{
    if (!c || !name)
        return -1;
    int p = peer_fqn(c, name, model);
    if (p >= 0)
        return p;
    int found = -1;
    for (int i = 0; i < c->npeers; i++)
        for (int j = 0; j < c->peers[i].nmodels; j++)
            if (!strcmp(name, c->peers[i].models[j])) {
                if (found >= 0)
                    return -1; /* two peers list it: only "peer/model" reaches it */
                found = i;
                if (model)
                    *model = c->peers[i].models[j];
            }
    return found;
}

static void load_peers(ld *L, const ref *r)
{
    gs_config *c = L->c;
    struct fy_node *n = gs_yaml_map(&L->y, r->val, r->line, "peers", "of peer ids to peers");
    if (!n)
        return;
    gs_yaml_kvs items = {0};
    gs_yaml_items(&L->y, n, "peers", &items);
    c->peers = gs_mem_calloc((size_t)items.n + 1, sizeof(*c->peers));
    for (int i = 0; i < items.n; i++) {
        gs_yaml_kv *e = &items.v[i];
        char *path = gs_yaml_path_join("peers", e->key);
        struct fy_node *pn = gs_yaml_map(&L->y, e->val, e->line, path, "with proxy and models");
        if (!e->klen || !name_chars_ok(e->key, e->klen)) {
            gs_yaml_err(&L->y, e->line, path, "a peer id must be non-empty, without control characters, "
                                  "quotes or backslashes");
        } else if (pn) {
            gs_peer_cfg *p = &c->peers[c->npeers++];
            p->id = gs_mem_strdup(e->key);
            p->line = e->line;
            timeouts_default(&p->timeouts, 60);
            peer_load(L, p, pn, path);
        } else {
            gs_yaml_err(&L->y, e->line, path, "expected a mapping with proxy and models");
        }
        free(path);
    }
    gs_yaml_kvs_free(&items);
    qsort(c->peers, (size_t)c->npeers, sizeof(*c->peers), peer_cmp);
    /* "peer/model" names one thing: not two peers' models, not a local model or alias */
    for (int i = 0; i < c->npeers; i++)
        for (int j = 0; j < c->peers[i].nmodels; j++) {
            gs_peer_cfg *p = &c->peers[i];
            char *fqn = gs_mem_printf("%s/%s", p->id, p->models[j]);
            char *key = gs_mem_printf("peers.%s.models", p->id);
            int other = peer_fqn(c, fqn, NULL);
            if (other != i)
                gs_yaml_err(&L->y, p->line, key, "peer model name %s is ambiguous between peers %s and %s",
                    fqn, c->peers[other].id, p->id);
            else if (gs_config_find(c, fqn) >= 0)
                gs_yaml_err(&L->y, p->line, key, "model id or alias %s conflicts with the peer model name",
                    fqn);
            free(key);
            free(fqn);
        }
}

static void selector_free(gs_selector_cfg *s)
{
    free(s->id);
    gs_strv_free_n(s->targets, s->ntargets);
    free(s->name);
    free(s->description);
    json_decref(s->metadata);
}

int gs_config_find_selector(const gs_config *c, const char *name)
{
    for (int i = 0; c && name && i < c->nselectors; i++)
        if (!strcmp(c->selectors[i].id, name))
            return i;
    return -1;
}

int gs_config_find_profile(const gs_config *c, const char *name)
{
    for (int i = 0; c && name && i < c->nprofiles; i++)
        if (!strcmp(c->profiles[i].id, name))
            return i;
    return -1;
}

static void selector_load(ld *L, gs_selector_cfg *s, struct fy_node *n, const char *path)
{
    gs_yaml_kvs items = {0};
    gs_yaml_items(&L->y, n, path, &items);
    for (int i = 0; i < items.n; i++) {
        gs_yaml_kv *e = &items.v[i];
        char *key = gs_yaml_path_join(path, e->key);
        char *v = NULL;
        if (!strcmp(e->key, "strategy")) {
            if (gs_yaml_xstr(&L->y, e->val, e->line, key, &v) > 0) {
                if (!strcmp(v, "pin"))
                    s->strategy = GS_SELECT_PIN;
                else if (!strcmp(v, "warm"))
                    s->strategy = GS_SELECT_WARM;
                else if (!strcmp(v, "spillover"))
                    s->strategy = GS_SELECT_SPILLOVER;
                else
                    gs_yaml_err(&L->y, e->line, key, "unknown strategy \"%s\" (valid: warm, pin, spillover)",
                        v);
                s->line = -s->line; /* strategy seen */
            }
        } else if (!strcmp(e->key, "targets")) {
            gs_strv_free_n(s->targets, s->ntargets);
            gs_yaml_xstrlist(&L->y, e->val, e->line, key, &s->targets, &s->ntargets);
        } else if (!strcmp(e->key, "settings")) {
            struct fy_node *sn = gs_yaml_map(&L->y, e->val, e->line, key, "with spillover");
            gs_yaml_kvs si = {0};
            if (sn)
                gs_yaml_items(&L->y, sn, key, &si);
            for (int j = 0; j < si.n; j++) {
                char *sk = gs_yaml_path_join(key, si.v[j].key);
                if (!strcmp(si.v[j].key, "spillover"))
                    gs_yaml_int(&L->y, si.v[j].val, si.v[j].line, sk, INT_MIN, INT_MAX, &s->spillover);
                else
                    gs_yaml_warn(&L->y, si.v[j].line, sk, "unknown key, ignored");
                free(sk);
            }
            gs_yaml_kvs_free(&si);
        } else if (!strcmp(e->key, "name") || !strcmp(e->key, "description")) {
            char **dst = e->key[0] == 'n' ? &s->name : &s->description;
            if (gs_yaml_xstr(&L->y, e->val, e->line, key, &v) >= 0) {
                free(*dst);
                *dst = v;
                v = NULL;
            }
        } else if (!strcmp(e->key, "unlisted")) {
            gs_yaml_bool(&L->y, e->val, e->line, key, &s->unlisted);
        } else if (!strcmp(e->key, "metadata")) {
            struct fy_node *mn = gs_yaml_map(&L->y, e->val, e->line, key, NULL);
            if (mn) {
                json_decref(s->metadata);
                s->metadata = gs_macros_json(L->mx, mn, 1, e->line, key);
            }
        } else {
            gs_yaml_warn(&L->y, e->line, key, "unknown key, ignored");
        }
        free(v);
        free(key);
    }
    gs_yaml_kvs_free(&items);
}

/* A target as the group router sees it: the model index, or -1 for a peer. */
static void selector_check(ld *L, gs_selector_cfg *s, const char *path)
{
    gs_config *c = L->c;
    bool seen = s->line < 0;
    s->line = seen ? -s->line : s->line;
    if (!seen)
        gs_yaml_err(&L->y, s->line, path, "strategy is required (warm, pin or spillover)");
    if (!s->ntargets)
        gs_yaml_err(&L->y, s->line, path, "targets must list at least one model");
    if (s->strategy == GS_SELECT_SPILLOVER && s->spillover < 1)
        gs_yaml_err(&L->y, s->line, path, "settings.spillover must be at least 1, not %d", s->spillover);
    int *local = gs_mem_calloc((size_t)s->ntargets + 1, sizeof(int));
    for (int i = 0; i < s->ntargets; i++) {
        char *ik = gs_mem_printf("%s.targets[%d]", path, i);
        const char *pm;
        int idx = gs_config_find(c, s->targets[i]);
        int peer = idx < 0 ? gs_config_find_peer(c, s->targets[i], &pm) : -1;
        local[i] = idx;
        if (gs_config_find_selector(c, s->targets[i]) >= 0)
            gs_yaml_err(&L->y, s->line, ik, "names selector %s; a selector cannot target a selector",
                s->targets[i]);
        else if (idx < 0 && peer < 0)
            gs_yaml_err(&L->y, s->line, ik, "references unknown model \"%s\"", s->targets[i]);
        else if (idx < 0 && s->strategy == GS_SELECT_WARM)
            gs_yaml_err(&L->y, s->line, ik, "must be a local model for strategy warm");
        for (int j = 0; j < i && s->strategy == GS_SELECT_SPILLOVER; j++) {
            bool same = idx >= 0 ? local[j] == idx
                                 : local[j] < 0 && peer >= 0 &&
                                       gs_config_find_peer(c, s->targets[j], NULL) == peer &&
                                       !strcmp(s->targets[j], s->targets[i]);
            if (same) {
                gs_yaml_err(&L->y, s->line, ik, "targets the same model as targets[%d]", j);
                break;
            }
        }
        free(ik);
    }
    /* Spillover runs its local targets side by side: with groups they must share one group
     * that does not swap. (With a matrix, the routing module checks that one set holds them.) */
    int first = -1;
    for (int i = 0; i < s->ntargets && s->strategy == GS_SELECT_SPILLOVER &&
                    c->router == GS_ROUTER_GROUP; i++) {
        if (local[i] < 0)
            continue;
        if (first < 0) {
            first = local[i];
            continue;
        }
        int g = c->models[first].group;
        if (c->models[local[i]].group != g || c->groups[g].swap) {
            gs_yaml_err(&L->y, s->line, path, "spillover targets must share one group with swap: false");
            break;
        }
    }
    free(local);
}

static int selector_cmp(const void *a, const void *b)
{
    return strcmp(((const gs_selector_cfg *)a)->id, ((const gs_selector_cfg *)b)->id);
}

static void load_selectors(ld *L, const ref *r)
{
    gs_config *c = L->c;
    struct fy_node *n = gs_yaml_map(&L->y, r->val, r->line, "selectors", "of selector ids to selectors");
    if (!n)
        return;
    gs_yaml_kvs items = {0};
    gs_yaml_items(&L->y, n, "selectors", &items);
    c->selectors = gs_mem_calloc((size_t)items.n + 1, sizeof(*c->selectors));
    for (int i = 0; i < items.n; i++) {
        gs_yaml_kv *e = &items.v[i];
        char *path = gs_yaml_path_join("selectors", e->key);
        struct fy_node *sn = gs_yaml_map(&L->y, e->val, e->line, path, "with strategy and targets");
        if (!e->klen || !name_chars_ok(e->key, e->klen))
            gs_yaml_err(&L->y, e->line, path, "a selector id must be non-empty, without control "
                                  "characters, quotes or backslashes");
        else if (gs_config_find(c, e->key) >= 0)
            gs_yaml_err(&L->y, e->line, path, "the name is already a model id or alias");
        else if (peer_fqn(c, e->key, NULL) >= 0)
            gs_yaml_err(&L->y, e->line, path, "the name is already a peer model name");
        else if (sn) {
            gs_selector_cfg *s = &c->selectors[c->nselectors++];
            s->id = gs_mem_strdup(e->key);
            s->line = e->line;
            s->spillover = 1;
            selector_load(L, s, sn, path);
        }
        free(path);
    }
    gs_yaml_kvs_free(&items);
    qsort(c->selectors, (size_t)c->nselectors, sizeof(*c->selectors), selector_cmp);
    for (int i = 0; i < c->nselectors; i++) {
        char *path = gs_yaml_path_join("selectors", c->selectors[i].id);
        selector_check(L, &c->selectors[i], path);
        free(path);
    }
}

static void profile_free(gs_profile_cfg *p)
{
    free(p->id);
    free(p->description);
    for (int i = 0; i < p->npins; i++) {
        free(p->pins[i].from);
        free(p->pins[i].to);
    }
    free(p->pins);
}

/* Returns how many pins the mapping holds, valid or not. */
static int profile_pins(ld *L, gs_profile_cfg *p, gs_yaml_kv *e, const char *key)
{
    gs_config *c = L->c;
    struct fy_node *n = gs_yaml_map(&L->y, e->val, e->line, key, "of requested names to models");
    gs_yaml_kvs items = {0};
    if (n)
        gs_yaml_items(&L->y, n, key, &items);
    for (int i = 0; i < items.n; i++) {
        gs_yaml_kv *f = &items.v[i];
        char *pk = gs_yaml_path_join(key, f->key);
        char *to = NULL;
        if (!f->klen || !name_chars_ok(f->key, f->klen)) {
            gs_yaml_err(&L->y, f->line, pk, "a pin name must be non-empty, without control characters, "
                                "quotes or backslashes");
        } else if (peer_fqn(c, f->key, NULL) >= 0) {
            gs_yaml_err(&L->y, f->line, pk, "the name is already a peer model name");
        } else if (gs_yaml_xstr(&L->y, f->val, f->line, pk, &to) >= 0) {
            if (to && !*to) {
                free(to);
                to = NULL; /* disables the name */
            }
            if (to && gs_config_find(c, to) < 0 && gs_config_find_peer(c, to, NULL) < 0 &&
                gs_config_find_selector(c, to) < 0) {
                gs_yaml_err(&L->y, f->line, pk, "references unknown model \"%s\"", to);
            } else {
                p->pins = gs_mem_realloc(p->pins, (size_t)(p->npins + 1) * sizeof(*p->pins));
                p->pins[p->npins++] = (gs_profile_pin){gs_mem_strdup(f->key), to, f->line};
                to = NULL;
            }
        }
        free(to);
        free(pk);
    }
    int count = items.n;
    gs_yaml_kvs_free(&items);
    return count;
}

static int profile_cmp(const void *a, const void *b)
{
    return strcmp(((const gs_profile_cfg *)a)->id, ((const gs_profile_cfg *)b)->id);
}

static void load_profiles(ld *L, const ref *r)
{
    gs_config *c = L->c;
    struct fy_node *n = gs_yaml_map(&L->y, r->val, r->line, "profiles", "of profile names to profiles");
    if (!n)
        return;
    gs_yaml_kvs items = {0};
    gs_yaml_items(&L->y, n, "profiles", &items);
    c->profiles = gs_mem_calloc((size_t)items.n + 1, sizeof(*c->profiles));
    for (int i = 0; i < items.n; i++) {
        gs_yaml_kv *e = &items.v[i];
        char *path = gs_yaml_path_join("profiles", e->key);
        struct fy_node *pn = gs_yaml_deref(&L->y, e->val, e->line, path);
        if (!e->klen || !name_chars_ok(e->key, e->klen)) {
            gs_yaml_err(&L->y, e->line, path, "a profile name must be non-empty, without control "
                                  "characters, quotes or backslashes");
        } else if (!pn || !fy_node_is_mapping(pn)) {
            gs_yaml_err(&L->y, e->line, path, "a profile must be a mapping with description and pins; the "
                                  "old list form is no longer supported");
        } else {
            gs_profile_cfg *p = &c->profiles[c->nprofiles++];
            p->id = gs_mem_strdup(e->key);
            p->line = e->line;
            int npins = 0;
            gs_yaml_kvs pi = {0};
            gs_yaml_items(&L->y, pn, path, &pi);
            for (int j = 0; j < pi.n; j++) {
                char *key = gs_yaml_path_join(path, pi.v[j].key);
                char *s;
                if (!strcmp(pi.v[j].key, "pins")) {
                    npins += profile_pins(L, p, &pi.v[j], key);
                } else if (!strcmp(pi.v[j].key, "description")) {
                    if (gs_yaml_xstr(&L->y, pi.v[j].val, pi.v[j].line, key, &s) >= 0) {
                        free(p->description);
                        p->description = s;
                    }
                } else {
                    gs_yaml_warn(&L->y, pi.v[j].line, key, "unknown key, ignored");
                }
                free(key);
            }
            gs_yaml_kvs_free(&pi);
            if (!npins)
                gs_yaml_err(&L->y, e->line, path, "pins must hold at least one entry");
        }
        free(path);
    }
    gs_yaml_kvs_free(&items);
    qsort(c->profiles, (size_t)c->nprofiles, sizeof(*c->profiles), profile_cmp);
}

/* The top-level keys of llama-swap v250 and ggswap's own; false when e is none of them. */
static bool top_key_v250(ld *L, gs_yaml_kv *e, later *lt)
{
    gs_config *c = L->c;
    const char *k = e->key;
    int v;
    if (!strcmp(k, "unloadTimeout")) {
        if (gs_yaml_int(&L->y, e->val, e->line, k, 0, 86400, &v) > 0)
            c->unload_timeout = v ? v : 10;
    } else if (!strcmp(k, "sendLoadingState")) {
        gs_yaml_bool(&L->y, e->val, e->line, k, &c->send_loading_state);
    } else if (!strcmp(k, "includeAliasesInList")) {
        gs_yaml_bool(&L->y, e->val, e->line, k, &c->include_aliases_in_list);
    } else if (!strcmp(k, "logToStdout")) {
        read_log_stdout(L, e);
    } else if (!strcmp(k, "store")) {
        read_store(L, e);
    } else if (!strcmp(k, "upstream")) {
        read_upstream(L, e);
    } else if (!strcmp(k, "memory")) {
        read_memory(L, e);
    } else if (!strcmp(k, "slotCache")) {
        read_slot_cache(L, e);
    } else if (!strcmp(k, "routing")) {
        read_routing(L, e, lt);
    } else if (!strcmp(k, "matrix")) {
        ref_set(L, &lt->matrix, e, k);
    } else if (!strcmp(k, "peers")) {
        ref_set(L, &lt->peers, e, k);
    } else if (!strcmp(k, "selectors")) {
        ref_set(L, &lt->selectors, e, k);
    } else if (!strcmp(k, "profiles")) {
        ref_set(L, &lt->profiles, e, k);
    } else {
        return false;
    }
    return true;
}

static void load_hooks(ld *L, gs_yaml_kv *hkv)
{
    gs_config *c = L->c;
    struct fy_node *n = gs_yaml_deref(&L->y, hkv->val, hkv->line, "hooks");
    if (gs_yaml_is_null(n))
        return;
    if (!fy_node_is_mapping(n)) {
        gs_yaml_err(&L->y, hkv->line, "hooks", "expected a mapping");
        return;
    }
    gs_yaml_kvs items = {0};
    gs_yaml_items(&L->y, n, "hooks", &items);
    for (int i = 0; i < items.n; i++) {
        gs_yaml_kv *e = &items.v[i];
        char *key = gs_yaml_path_join("hooks", e->key);
        struct fy_node *on = strcmp(e->key, "on_startup") ? NULL : gs_yaml_deref(&L->y, e->val, e->line, key);
        if (strcmp(e->key, "on_startup")) {
            gs_yaml_warn(&L->y, e->line, key, "unknown key, ignored");
        } else if (gs_yaml_is_null(on)) {
            /* nothing */
        } else if (!fy_node_is_mapping(on)) {
            gs_yaml_err(&L->y, e->line, key, "expected a mapping");
        } else {
            gs_yaml_kvs oi = {0};
            gs_yaml_items(&L->y, on, key, &oi);
            for (int j = 0; j < oi.n; j++) {
                gs_yaml_kv *f = &oi.v[j];
                char *pk = gs_yaml_path_join(key, f->key);
                if (strcmp(f->key, "preload")) {
                    gs_yaml_warn(&L->y, f->line, pk, "unknown key, ignored");
                    free(pk);
                    continue;
                }
                char **list;
                int nl;
                gs_yaml_strlist(&L->y, f->val, f->line, pk, &list, &nl);
                for (int k = 0; k < nl; k++) {
                    char *s = list[k], *e2 = s + strlen(s);
                    while (*s == ' ' || *s == '\t')
                        s++;
                    while (e2 > s && (e2[-1] == ' ' || e2[-1] == '\t'))
                        *--e2 = 0;
                    int idx = gs_config_find(c, s);
                    char *ik = gs_yaml_path_index(pk, k);
                    if (idx < 0) {
                        gs_yaml_warn(&L->y, f->line, ik, "unknown model %s, ignored", s);
                    } else {
                        if (!gs_strv_has(c->preload, c->npreload, c->models[idx].id))
                            gs_strv_push(&c->preload, &c->npreload,
                                         gs_mem_strdup(c->models[idx].id));
                    }
                    free(ik);
                }
                gs_strv_free_n(list, nl);
                free(pk);
            }
            gs_yaml_kvs_free(&oi);
        }
        free(key);
    }
    gs_yaml_kvs_free(&items);
}

static void load_api_keys(ld *L, gs_yaml_kv *e)
{
    gs_config *c = L->c;
    char **list;
    int n;
    gs_yaml_xstrlist(&L->y, e->val, e->line, "apiKeys", &list, &n);
    for (int i = 0; i < n; i++) {
        char *ik = gs_yaml_path_index("apiKeys", i);
        if (!*list[i])
            gs_yaml_err(&L->y, e->line, ik, "empty api key");
        else if (strpbrk(list[i], " \t\r\n"))
            gs_yaml_err(&L->y, e->line, ik, "api key cannot contain spaces");
        free(ik);
    }
    c->api_keys = list;
    c->napi_keys = n;
}

/* cors: {origins: [...]}; a list given (even empty) replaces the default policy (cors.h). */
static void load_cors(ld *L, gs_yaml_kv *e)
{
    gs_config *c = L->c;
    struct fy_node *n = gs_yaml_deref(&L->y, e->val, e->line, "cors");
    if (gs_yaml_is_null(n))
        return;
    if (!fy_node_is_mapping(n)) {
        gs_yaml_err(&L->y, e->line, "cors", "expected a mapping with origins: [...]");
        return;
    }
    gs_yaml_kvs items = {0};
    gs_yaml_items(&L->y, n, "cors", &items);
    for (int i = 0; i < items.n; i++) {
        gs_yaml_kv *f = &items.v[i];
        if (strcmp(f->key, "origins") != 0) {
            gs_yaml_warn(&L->y, f->line, "cors", "unknown key '%s', ignored (only origins)", f->key);
            continue;
        }
        char **list;
        int nl;
        if (gs_yaml_strlist(&L->y, f->val, f->line, "cors.origins", &list, &nl) < 0)
            continue;
        gs_strv_free_n(c->cors_origins, c->ncors_origins);
        c->cors_origins = list ? list : gs_mem_calloc(1, sizeof(char *));
        c->ncors_origins = nl;
    }
    gs_yaml_kvs_free(&items);
}

static void load_root(ld *L, struct fy_node *root)
{
    gs_config *c = L->c;
    gs_yaml_kvs items = {0};
    gs_yaml_kv *models_kv = NULL, *hooks_kv = NULL;
    gs_macro *gmac = NULL, *gres = NULL;
    int ngmac = 0;
    mload *ml = NULL;
    int nml = 0;
    int *owner = NULL;
    later lt = {0};
    gs_macro_scope top = {0};

    if (!fy_node_is_mapping(root)) {
        gs_yaml_err(&L->y, gs_yaml_line(root), NULL, "the file must be a mapping of keys (models:, groups:, ...)");
        goto out;
    }
    gs_yaml_items(&L->y, root, "", &items);
    /* Macros first: as in llama-swap, every top-level value may use them (startPort: ${P}). */
    for (int i = 0; i < items.n; i++)
        if (!strcmp(items.v[i].key, "macros"))
            gs_macros_read(&L->M, items.v[i].val, items.v[i].line, "macros", &gmac, &ngmac, 0);
    gres = gs_macros_copy(gmac, ngmac);
    gs_macros_resolve(&L->M, gres, ngmac, "macros");
    top = (gs_macro_scope){&L->M, gres, ngmac, NULL, 0};
    set_scope(L, &top);
    for (int i = 0; i < items.n; i++) {
        gs_yaml_kv *e = &items.v[i];
        const char *k = e->key;
        int v;
        if (!strcmp(k, "macros") || top_key_v250(L, e, &lt)) {
            /* read */
        } else if (!strcmp(k, "healthCheckTimeout")) {
            if (gs_yaml_int(&L->y, e->val, e->line, k, INT_MIN, INT_MAX, &v) > 0)
                c->health_check_timeout = v < 15 ? 15 : v;
        } else if (!strcmp(k, "logLevel")) {
            char *s;
            if (gs_yaml_str(&L->y, e->val, e->line, k, &s) > 0) {
                if (strcmp(s, "debug") && strcmp(s, "info") && strcmp(s, "warn") &&
                    strcmp(s, "error")) {
                    gs_yaml_warn(&L->y, e->line, k, "unknown level '%s' (debug, info, warn, error), using info",
                         s);
                    free(s);
                } else {
                    free(c->log_level);
                    c->log_level = s;
                }
            }
        } else if (!strcmp(k, "startPort")) {
            if (gs_yaml_int(&L->y, e->val, e->line, k, 1, 65535, &v) > 0)
                c->start_port = v;
        } else if (!strcmp(k, "globalTTL")) {
            if (gs_yaml_int(&L->y, e->val, e->line, k, 0, INT_MAX, &v) > 0)
                c->global_ttl = v;
        } else if (!strcmp(k, "models")) {
            models_kv = e;
        } else if (!strcmp(k, "groups")) {
            ref_set(L, &lt.groups, e, k);
        } else if (!strcmp(k, "hooks")) {
            hooks_kv = e;
        } else if (!strcmp(k, "apiKeys")) {
            gs_strv_free_n(c->api_keys, c->napi_keys);
            load_api_keys(L, e);
        } else if (!strcmp(k, "cors")) {
            load_cors(L, e);
        } else {
            bool known = false;
            for (size_t j = 0; j < GS_ARRAY_LEN(top_unsupported); j++)
                known = known || !strcmp(k, top_unsupported[j]);
            gs_yaml_warn(&L->y, e->line, k, "%s",
                 known ? "not supported by ggswap, ignored" : "unknown key, ignored");
        }
    }

    /* Models: collected, sorted by id (${PORT} goes in that order), then loaded. */
    struct fy_node *mn = models_kv ? gs_yaml_deref(&L->y, models_kv->val, models_kv->line, "models") : NULL;
    if (!gs_yaml_is_null(mn) && !fy_node_is_mapping(mn)) {
        gs_yaml_err(&L->y, models_kv->line, "models", "expected a mapping of model ids to models");
        mn = NULL;
    }
    if (!gs_yaml_is_null(mn)) {
        gs_yaml_kvs mi = {0};
        gs_yaml_items(&L->y, mn, "models", &mi);
        ml = gs_mem_calloc((size_t)mi.n + 1, sizeof(*ml));
        for (int i = 0; i < mi.n; i++) {
            if (!mi.v[i].klen || memchr(mi.v[i].key, 0, mi.v[i].klen) ||
                gs_yaml_utf8_prefix((const unsigned char *)mi.v[i].key, mi.v[i].klen) != mi.v[i].klen) {
                gs_yaml_err(&L->y, mi.v[i].line, "models", "a model id must be non-empty UTF-8 text");
                continue;
            }
            if (!name_chars_ok(mi.v[i].key, mi.v[i].klen)) {
                gs_yaml_err(&L->y, mi.v[i].line, "models",
                    "a model id cannot hold control characters, quotes or backslashes");
                continue;
            }
            ml[nml].m.id = gs_mem_strdup(mi.v[i].key);
            ml[nml].m.line = mi.v[i].line;
            ml[nml].node = mi.v[i].val;
            nml++;
        }
        gs_yaml_kvs_free(&mi);
        qsort(ml, (size_t)nml, sizeof(*ml), model_cmp);
        int next_port = c->start_port;
        for (int i = 0; i < nml; i++)
            model_load(L, &ml[i], gmac, gres, ngmac, &next_port);
    }
    c->models = gs_mem_calloc((size_t)nml + 1, sizeof(*c->models));
    for (int i = 0; i < nml; i++)
        c->models[i] = ml[i].m;
    c->nmodels = nml;
    check_names(L);

    owner = gs_mem_alloc(((size_t)nml + 1) * sizeof(int));
    for (int i = 0; i < nml; i++)
        owner[i] = -1;
    load_router(L, &lt, owner);
    if (lt.priority.set)
        load_priority(L, &lt.priority);
    if (lt.peers.set)
        load_peers(L, &lt.peers);
    if (lt.selectors.set)
        load_selectors(L, &lt.selectors);
    if (lt.profiles.set)
        load_profiles(L, &lt.profiles);
    if (hooks_kv)
        load_hooks(L, hooks_kv);
    if (!c->ignore_re)
        ignore_set(L, NULL, 0, 0, "upstream.ignorePaths");

out:
    set_scope(L, NULL);
    free(lt.use);
    free(owner);
    free(ml);
    gs_macros_free(gmac, ngmac);
    gs_macros_free(gres, ngmac);
    gs_yaml_kvs_free(&items);
}

void gs_config_free(gs_config *c)
{
    if (!c)
        return;
    free(c->path);
    free(c->log_level);
    gs_strv_free_n(c->api_keys, c->napi_keys);
    gs_strv_free_n(c->preload, c->npreload);
    gs_strv_free_n(c->cors_origins, c->ncors_origins);
    for (int i = 0; i < c->nmodels; i++)
        model_free(&c->models[i]);
    free(c->models);
    for (int i = 0; i < c->ngroups; i++) {
        free(c->groups[i].id);
        free(c->groups[i].members);
    }
    free(c->groups);
    free(c->store_path);
    ignore_free(c);
    matrix_free(c->matrix);
    for (int i = 0; i < c->npeers; i++)
        peer_free(&c->peers[i]);
    free(c->peers);
    for (int i = 0; i < c->nselectors; i++)
        selector_free(&c->selectors[i]);
    free(c->selectors);
    for (int i = 0; i < c->nprofiles; i++)
        profile_free(&c->profiles[i]);
    free(c->profiles);
    free(c->memory.gpu);
    free(c->slot_cache.path);
    free(c);
}

int gs_config_parse(const char *text, size_t len, const char *name, gs_config **out, gs_diag *d)
{
    *out = NULL;
    int errors_before = d->errors;
    ld L = {0};
    gs_yaml_init(&L.y, name, d, len);
    L.M.y = &L.y;
    gs_config *c = gs_mem_calloc(1, sizeof(*c));
    c->path = gs_mem_strdup(name);
    c->health_check_timeout = 120;
    c->log_level = gs_mem_strdup("info");
    c->start_port = 5800;
    c->unload_timeout = 10;
    c->memory.ram_auto = true;
    c->memory.gpu_auto = true;
    c->memory.margin = 1LL << 30;
    c->slot_cache.max_size = 8LL << 30;
    c->slot_cache.save_timeout_ms = 5000;
    L.c = c;

    if (len > MAX_FILE) {
        gs_yaml_err(&L.y, 0, NULL, "the file is larger than 16 MiB; this is not a config");
        gs_config_free(c);
        return -EFBIG;
    }

    /* Checked before libfyaml sees the text: besides giving a clear message, libfyaml 0.7
     * loops forever on some invalid bytes (a directive "%\xff"). */
    size_t good = gs_yaml_utf8_prefix((const unsigned char *)text, len);
    if (good < len) {
        int line = 1;
        for (size_t i = 0; i < good; i++)
            line += text[i] == '\n';
        gs_diag_add(d, true, name, line, "yaml: the file is not valid UTF-8 text");
        gs_config_free(c);
        return -EINVAL;
    }

    struct fy_document *doc = NULL;
    int prc = gs_yaml_parse(text, len, name, d, &doc);
    if (prc == -ENOMEM) {
        gs_config_free(c);
        return prc;
    }
    bool syntax = prc != 0;
    /* No document and no error: the file is empty or only comments, a config with no models. */
    if (doc && !syntax) {
        struct fy_node *root = fy_document_root(doc);
        if (root && !gs_yaml_is_null(root))
            load_root(&L, root);
    }
    if (doc)
        fy_document_destroy(doc);

    if (syntax || d->errors > errors_before) {
        gs_config_free(c);
        return -EINVAL;
    }
    if (!c->groups)
        c->groups = gs_mem_calloc(1, sizeof(*c->groups));
    if (!c->models)
        c->models = gs_mem_calloc(1, sizeof(*c->models));
    *out = c;
    return 0;
}

int gs_config_load(const char *path, gs_config **out, gs_diag *d)
{
    *out = NULL;
    int rc = 0;
    char *text = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        gs_diag_add(d, true, path, 0, "cannot open: %s", strerror(-rc));
        return rc;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        gs_diag_add(d, true, path, 0, "cannot read: %s", strerror(-rc));
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        rc = -EISDIR;
        gs_diag_add(d, true, path, 0, "is a directory, not a config file");
        goto out;
    }
    if (st.st_size > (off_t)MAX_FILE) {
        rc = -EFBIG;
        gs_diag_add(d, true, path, 0, "the file is larger than 16 MiB; this is not a config");
        goto out;
    }
    /* Read to EOF with the limit, in case the size changed (or st_size means nothing). */
    gs_buf b;
    gs_buf_init(&b, MAX_FILE);
    gs_buf_append(&b, "", 0);
    for (;;) {
        char chunk[65536];
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            gs_diag_add(d, true, path, 0, "cannot read: %s", strerror(-rc));
            gs_buf_free(&b);
            goto out;
        }
        if (n == 0)
            break;
        if (gs_buf_append(&b, chunk, (size_t)n) < 0) {
            rc = -EFBIG;
            gs_diag_add(d, true, path, 0, "the file is larger than 16 MiB; this is not a config");
            gs_buf_free(&b);
            goto out;
        }
    }
    size_t len = b.len;
    text = gs_buf_steal(&b);
    rc = gs_config_parse(text, len, path, out, d);
out:
    free(text);
    close(fd);
    return rc;
}

static bool str_eq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

bool gs_config_model_same_process(const gs_model_cfg *a, const gs_model_cfg *b)
{
    if (!str_eq(a->cmd, b->cmd) || !str_eq(a->cmd_stop, b->cmd_stop) ||
        !str_eq(a->proxy, b->proxy) || !str_eq(a->check_endpoint, b->check_endpoint) ||
        a->nenv != b->nenv)
        return false;
    for (int i = 0; i < a->nenv; i++)
        if (!str_eq(a->env[i], b->env[i]))
            return false;
    return true;
}

int gs_config_check_main(int argc, char **argv)
{
    if (argc != 2 || !argv[1] || !*argv[1]) {
        fprintf(stderr, "usage: ggswap config check FILE\n");
        return 2;
    }
    gs_diag d = {0};
    gs_config *c = NULL;
    int rc = gs_config_load(argv[1], &c, &d);
    for (int i = 0; i < d.n; i++)
        fprintf(stderr, "%s\n", d.msgs[i]);
    if (rc == 0)
        printf("%s: ok (%d models, %d groups)\n", argv[1], c->nmodels, c->ngroups);
    fflush(stdout);
    gs_config_free(c);
    gs_diag_free(&d);
    return rc == 0 ? 0 : 2;
}
