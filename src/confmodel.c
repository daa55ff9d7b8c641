#include "confmodel.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cmdline.h"
#include "mem.h"
#include "strv.h"

/* A model while it is read: what the keys say before the global defaults apply. */
typedef struct mload {
    gs_model_cfg m;
    struct fy_node *node;
    int ttl_raw;     /* -1 when unset: globalTTL */
    int unload_raw;  /* 0: the global unloadTimeout */
    int sls_raw;     /* sendLoadingState; -1: the global one */
    int sc_raw;      /* slotCache; -1: the global one */
    bool proxy_set;  /* proxy given (or reported): no default, no second message */
    int port;        /* the ${PORT} given to it; 0 when cmd does not use one */
} mload;

void gs_confmodel_free(gs_model_cfg *m)
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

/* ---------------------------------------------------------------- capabilities, compat */

static unsigned modality_bits(gs_yaml *y, const gs_yaml_kv *f, const char *key)
{
    char **list;
    int n;
    unsigned bits = 0;
    gs_yaml_xstrlist(y, f->val, f->line, key, &list, &n);
    for (int i = 0; i < n; i++) {
        if (!strcmp(list[i], "text")) {
            bits |= GS_MODALITY_TEXT;
        } else if (!strcmp(list[i], "audio")) {
            bits |= GS_MODALITY_AUDIO;
        } else if (!strcmp(list[i], "image")) {
            bits |= GS_MODALITY_IMAGE;
        } else {
            char *ik = gs_yaml_path_index(key, i);
            gs_yaml_err(y, f->line, ik, "invalid modality '%s': use text, audio or image",
                        list[i]);
            free(ik);
        }
    }
    gs_strv_free_n(list, n);
    return bits;
}

static void caps_in_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base, void *ud)
{
    ((gs_caps_cfg *)base)->in = modality_bits(y, e, key);
}

static void caps_out_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base, void *ud)
{
    ((gs_caps_cfg *)base)->out = modality_bits(y, e, key);
}

static const gs_yaml_key caps_keys[] = {
    {"in", GS_YT_FN, 0, 0, 0, 0, caps_in_fn, 0},
    {"out", GS_YT_FN, 0, 0, 0, 0, caps_out_fn, 0},
    {"tools", GS_YT_BOOL, offsetof(gs_caps_cfg, tools), 0, 0, 0, NULL, 0},
    {"reranker", GS_YT_BOOL, offsetof(gs_caps_cfg, reranker), 0, 0, 0, NULL, 0},
    {"context", GS_YT_INT, offsetof(gs_caps_cfg, context), 0, INT_MAX, 0, NULL, 0},
};

static void caps_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base, void *ud)
{
    gs_caps_cfg *c = &((mload *)base)->m.caps;
    gs_yaml_apply(y, caps_keys, GS_ARRAY_LEN(caps_keys), e->val, e->line, key,
                  "of in, out, tools, reranker, context", c, ud);
    c->set = c->in || c->out || c->tools || c->reranker || c->context;
}

static const gs_yaml_key compat_keys[] = {
    {"ignoreWebsockets", GS_YT_BOOL, offsetof(gs_model_cfg, ignore_websockets), 0, 0, 0, NULL, 0},
};

static void compat_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base, void *ud)
{
    gs_yaml_apply(y, compat_keys, GS_ARRAY_LEN(compat_keys), e->val, e->line, key,
                  "with ignoreWebsockets", &((mload *)base)->m, ud);
}

/* ---------------------------------------------------------------- model keys */

static void cmd_stop_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base, void *ud)
{
    gs_model_cfg *m = &((mload *)base)->m;
    gs_confld *L = ud;
    char *raw;
    if (gs_yaml_str(y, e->val, e->line, key, &raw) <= 0)
        return;
    char *clean = gs_cmdline_clean(raw);
    free(raw);
    free(m->cmd_stop);
    m->cmd_stop = gs_macros_expand(L->mx, clean, e->line, key, true);
    free(clean);
    char **av = NULL;
    int ac = 0;
    const char *why;
    if (m->cmd_stop && gs_cmdline_split(m->cmd_stop, &av, &ac, &why) < 0)
        gs_yaml_err(y, e->line, key, "%s", why);
    gs_strv_free(av);
    /* blank (or only comments): no cmdStop, the default SIGTERM */
    if (m->cmd_stop && ac == 0) {
        free(m->cmd_stop);
        m->cmd_stop = NULL;
    }
}

static void proxy_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base, void *ud)
{
    mload *ml = base;
    gs_model_cfg *m = &ml->m;
    char *s;
    int r = gs_yaml_xstr(y, e->val, e->line, key, &s);
    if (r != 0)
        ml->proxy_set = true; /* an error was reported: no second message about the default */
    if (r <= 0)
        return;
    free(m->proxy);
    m->proxy = s;
    const char *why = gs_confload_proxy(m->proxy, false, NULL, &m->proxy_host, &m->proxy_port,
                                        &m->proxy_path);
    if (why)
        gs_yaml_err(y, e->line, key, "%s, not '%s'", why, m->proxy);
}

/* aliases and env: lists whose elements are checked one by one. */
static void names_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base, void *ud)
{
    gs_model_cfg *m = &((mload *)base)->m;
    gs_confld *L = ud;
    bool is_env = e->key[0] == 'e';
    char **list;
    int n;
    gs_yaml_strlist(y, e->val, e->line, key, &list, &n);
    for (int j = 0; j < n; j++) {
        char *ik = gs_yaml_path_index(key, j);
        char *x = gs_macros_expand(L->mx, list[j], e->line, ik, false);
        if (x && is_env && !env_ok(x)) {
            gs_yaml_err(y, e->line, ik, "expected NAME=value, not '%s'", x);
        } else if (x && !is_env && !*x) {
            gs_yaml_err(y, e->line, ik, "an alias cannot be empty");
        } else if (x && !is_env && !gs_confload_name_ok(x, strlen(x))) {
            gs_yaml_err(y, e->line, ik,
                        "an alias cannot hold control characters, quotes or backslashes");
        } else if (x) {
            gs_strv_push(is_env ? &m->env : &m->aliases, is_env ? &m->nenv : &m->naliases, x);
            x = NULL;
        }
        free(x);
        free(ik);
    }
    gs_strv_free_n(list, n);
}

static void check_endpoint_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base,
                              void *ud)
{
    gs_model_cfg *m = &((mload *)base)->m;
    char *s;
    if (gs_yaml_xstr(y, e->val, e->line, key, &s) <= 0)
        return;
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
            gs_yaml_err(y, e->line, key, "must be a path without spaces or control characters");
            break;
        }
    m->check_endpoint = s;
}

static void ttl_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base, void *ud)
{
    mload *ml = base;
    if (ml->ttl_raw >= -1)
        return;
    gs_yaml_err(y, e->line, key,
                "invalid TTL value %d: use seconds, 0 for never, or -1 for globalTTL",
                ml->ttl_raw);
    ml->ttl_raw = -1;
}

/* A boolean that may be left to the global setting: -1. */
static void tristate(gs_yaml *y, const gs_yaml_kv *e, const char *key, int *out)
{
    bool b;
    *out = gs_yaml_bool(y, e->val, e->line, key, &b) > 0 ? b : -1;
}

static void sls_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base, void *ud)
{
    tristate(y, e, key, &((mload *)base)->sls_raw);
}

static void slot_cache_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base,
                          void *ud)
{
    tristate(y, e, key, &((mload *)base)->sc_raw);
}

static void filters_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base, void *ud)
{
    gs_model_cfg *m = &((mload *)base)->m;
    gs_confld *L = ud;
    gs_conffilters F = {&m->strip_params, &m->nstrip, &m->set_params, &m->set_params_by_id};
    gs_confload_filters(L, &F, L->mx, e, key);
}

static void timeouts_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base, void *ud)
{
    gs_confload_timeouts(ud, e, key, &((mload *)base)->m.timeouts);
}

static void concurrency_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base,
                           void *ud)
{
    gs_model_cfg *m = &((mload *)base)->m;
    if (m->concurrency_limit == 0)
        m->concurrency_limit = 10; /* llama-swap: 0 means the default */
}

static void metadata_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base, void *ud)
{
    gs_model_cfg *m = &((mload *)base)->m;
    gs_confld *L = ud;
    struct fy_node *v = gs_yaml_deref(y, e->val, e->line, key);
    if (gs_yaml_is_null(v))
        return;
    if (!fy_node_is_mapping(v)) {
        gs_yaml_err(y, e->line, key, "expected a mapping");
        return;
    }
    json_decref(m->metadata);
    m->metadata = gs_macros_json(L->mx, v, 1, e->line, key);
}

#define MF(f) offsetof(mload, m.f)
static const gs_yaml_key model_keys[] = {
    {"cmd", GS_YT_SKIP, 0, 0, 0, 0, NULL, 0},
    {"macros", GS_YT_SKIP, 0, 0, 0, 0, NULL, 0},
    {"cmdStop", GS_YT_FN, 0, 0, 0, 0, cmd_stop_fn, 0},
    {"proxy", GS_YT_FN, 0, 0, 0, 0, proxy_fn, 0},
    {"aliases", GS_YT_FN, 0, 0, 0, 0, names_fn, 0},
    {"env", GS_YT_FN, 0, 0, 0, 0, names_fn, 0},
    {"checkEndpoint", GS_YT_FN, 0, 0, 0, 0, check_endpoint_fn, 0},
    {"ttl", GS_YT_INT, offsetof(mload, ttl_raw), INT_MIN, INT_MAX, 0, ttl_fn, 0},
    {"unlisted", GS_YT_BOOL, MF(unlisted), 0, 0, 0, NULL, 0},
    {"useModelName", GS_YT_XSTR, MF(use_model_name), 0, 0, 0, NULL, GS_YF_EMPTY_NULL},
    {"name", GS_YT_XSTR, MF(name), 0, 0, 0, NULL, 0},
    {"description", GS_YT_XSTR, MF(description), 0, 0, 0, NULL, 0},
    {"filters", GS_YT_FN, 0, 0, 0, 0, filters_fn, 0},
    {"unloadTimeout", GS_YT_INT, offsetof(mload, unload_raw), 0, 86400, 0, NULL, 0},
    {"sendLoadingState", GS_YT_FN, 0, 0, 0, 0, sls_fn, 0},
    {"timeouts", GS_YT_FN, 0, 0, 0, 0, timeouts_fn, 0},
    {"compat", GS_YT_FN, 0, 0, 0, 0, compat_fn, 0},
    {"capabilities", GS_YT_FN, 0, 0, 0, 0, caps_fn, 0},
    {"memory", GS_YT_SIZE, MF(memory), 0, 0, 0, NULL, 0},
    {"swappable", GS_YT_BOOL, MF(swappable), 0, 0, 0, NULL, 0},
    {"slotCache", GS_YT_FN, 0, 0, 0, 0, slot_cache_fn, 0},
    {"concurrencyLimit", GS_YT_INT, MF(concurrency_limit), 0, 1000000, 0, concurrency_fn, 0},
    {"metadata", GS_YT_FN, 0, 0, 0, 0, metadata_fn, 0},
    {"healthCheckTimeout", GS_YT_IGNORED, 0, 0, 0, 0, NULL, 0},
};

/* ---------------------------------------------------------------- one model */

/* setParamsByID keys become aliases of the model (llama-swap does so), except its own id and
 * names it already lists. Clashes with other models are found by check_names. */
static void by_id_aliases(gs_model_cfg *m)
{
    m->naliases_written = m->naliases;
    const char *name;
    json_t *v;
    json_object_foreach(m->set_params_by_id, name, v)
    {
        if (strcmp(name, m->id) && !gs_strv_has(m->aliases, m->naliases, name))
            gs_strv_push(&m->aliases, &m->naliases, gs_mem_strdup(name));
    }
}

/* Model macros: every other key may use them. An override changes the value seen by globals
 * declared after it, so the model gets its own resolved copy in *mv. */
static void model_macros(gs_confld *L, const gs_yaml_kvs *items, const char *path,
                         const gs_macro *gmac, int ngmac, gs_macro **mv, int *nmv,
                         gs_macro_scope *mx)
{
    for (int i = 0; i < items->n; i++) {
        if (strcmp(items->v[i].key, "macros"))
            continue;
        char *key = gs_yaml_path_join(path, "macros");
        if (!*mv) {
            *mv = gs_macros_copy(gmac, ngmac);
            *nmv = ngmac;
        }
        gs_macros_read(&L->M, items->v[i].val, items->v[i].line, key, mv, nmv, ngmac);
        gs_macros_resolve(&L->M, *mv, *nmv, key);
        free(key);
        mx->v = *mv;
        mx->n = *nmv;
    }
}

/* cmd before the other keys: whether it uses ${PORT} decides the port, which any key may use. */
static void model_cmd(gs_confld *L, mload *ml, const gs_yaml_kvs *items, const char *path,
                      gs_macro_scope *mx, int *next_port)
{
    gs_model_cfg *m = &ml->m;
    char *cmd_raw = NULL, *cmd1 = NULL;
    int cmd_line = m->line;
    char *ckey = gs_yaml_path_join(path, "cmd");
    for (int i = 0; i < items->n; i++) {
        if (strcmp(items->v[i].key, "cmd"))
            continue;
        cmd_line = items->v[i].line;
        free(cmd_raw);
        if (gs_yaml_str(&L->y, items->v[i].val, cmd_line, ckey, &cmd_raw) < 0)
            cmd_raw = NULL;
    }
    if (cmd_raw) {
        /* comments go first so a ${x} in a comment line is never an error */
        char *clean = gs_cmdline_clean(cmd_raw);
        cmd1 = gs_macros_subst(&L->M, mx->v, mx->n, clean, cmd_line, ckey);
        free(clean);
    }
    if (cmd1 && strstr(cmd1, "${PORT}")) {
        if (*next_port > 65535)
            gs_yaml_err(&L->y, cmd_line, ckey, "no ${PORT} left: ports from startPort passed 65535");
        else
            mx->port = (*next_port)++;
    }
    if (cmd1) {
        m->cmd = gs_macros_finish(mx, cmd1, cmd_line, ckey, false);
        const char *why;
        if (m->cmd && gs_cmdline_split(m->cmd, &m->argv, &m->argc, &why) < 0)
            gs_yaml_err(&L->y, cmd_line, ckey, "%s", why);
        else if (m->cmd && m->argc == 0)
            gs_yaml_err(&L->y, cmd_line, ckey, "missing");
    } else if (!cmd_raw) {
        gs_yaml_err(&L->y, cmd_line, ckey, "missing");
    }
    ml->port = mx->port;
    free(cmd_raw);
    free(ckey);
}

/* What is left once every key was read: the proxy default and the global settings. */
static void model_finish(gs_confld *L, mload *ml, const char *path)
{
    gs_model_cfg *m = &ml->m;
    if (!ml->proxy_set && ml->port) {
        m->proxy = gs_mem_printf("http://localhost:%d", ml->port);
        gs_confload_proxy(m->proxy, false, NULL, &m->proxy_host, &m->proxy_port,
                          &m->proxy_path);
    } else if (!ml->proxy_set && m->cmd) {
        char *key = gs_yaml_path_join(path, "proxy");
        gs_yaml_err(&L->y, m->line, key,
                    "not set, and the default http://localhost:${PORT} needs cmd to use "
                    "${PORT}; set proxy to the address cmd listens on");
        free(key);
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
}

/* gmac: the global macros as written; gres: the same, resolved (shared by every model that
 * declares no macros of its own). */
static void model_load(gs_confld *L, mload *ml, const gs_macro *gmac, const gs_macro *gres,
                       int ngmac, int *next_port)
{
    gs_model_cfg *m = &ml->m;
    char *path = gs_mem_printf("models.%s", m->id);
    gs_yaml_kvs items = {0};
    gs_macro *mv = NULL;
    int nmv = 0;
    ml->ttl_raw = -1;
    ml->sls_raw = -1;
    ml->sc_raw = -1;
    m->concurrency_limit = 10;
    m->swappable = true;
    gs_confload_timeouts_default(&m->timeouts, 0);
    const gs_macro_scope *saved = L->mx;
    gs_macro_scope mx = {&L->M, gres, ngmac, m->id, 0};

    struct fy_node *node = gs_yaml_deref(&L->y, ml->node, m->line, path);
    if (!node || !fy_node_is_mapping(node)) {
        gs_yaml_err(&L->y, m->line, path, "expected a mapping with at least cmd");
        goto out;
    }
    gs_yaml_items(&L->y, node, path, &items);
    model_macros(L, &items, path, gmac, ngmac, &mv, &nmv, &mx);
    model_cmd(L, ml, &items, path, &mx, next_port);
    gs_confload_scope(L, &mx); /* typed macros in every key: ttl: ${T} */
    gs_yaml_apply_items(&L->y, model_keys, GS_ARRAY_LEN(model_keys), &items, path, ml, L);
    model_finish(L, ml, path);
out:
    gs_confload_scope(L, saved);
    gs_macros_free(mv, nmv);
    gs_yaml_kvs_free(&items);
    free(path);
}

/* ---------------------------------------------------------------- all models */

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
static void check_names(gs_confld *L)
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
            gs_yaml_err(&L->y, c->models[b->model].line, "models", "duplicate model id %s",
                        b->name);
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

/* The models mapping's ids, checked; NULL-free entries of the result count in *n. */
static mload *collect(gs_confld *L, const gs_yaml_kv *e, int *n)
{
    *n = 0;
    struct fy_node *mn = e ? gs_yaml_deref(&L->y, e->val, e->line, "models") : NULL;
    if (!gs_yaml_is_null(mn) && !fy_node_is_mapping(mn)) {
        gs_yaml_err(&L->y, e->line, "models", "expected a mapping of model ids to models");
        mn = NULL;
    }
    if (gs_yaml_is_null(mn))
        return NULL;
    gs_yaml_kvs mi = {0};
    gs_yaml_items(&L->y, mn, "models", &mi);
    mload *ml = gs_mem_calloc((size_t)mi.n + 1, sizeof(*ml));
    for (int i = 0; i < mi.n; i++) {
        const gs_yaml_kv *k = &mi.v[i];
        if (!k->klen || memchr(k->key, 0, k->klen) ||
            gs_yaml_utf8_prefix((const unsigned char *)k->key, k->klen) != k->klen) {
            gs_yaml_err(&L->y, k->line, "models", "a model id must be non-empty UTF-8 text");
            continue;
        }
        if (!gs_confload_name_ok(k->key, k->klen)) {
            gs_yaml_err(&L->y, k->line, "models",
                        "a model id cannot hold control characters, quotes or backslashes");
            continue;
        }
        ml[*n].m.id = gs_mem_strdup(k->key);
        ml[*n].m.line = k->line;
        ml[*n].node = k->val;
        (*n)++;
    }
    gs_yaml_kvs_free(&mi);
    return ml;
}

void gs_confmodel_load(gs_confld *L, const gs_yaml_kv *e, const gs_macro *gmac,
                       const gs_macro *gres, int ngmac)
{
    gs_config *c = L->c;
    int nml;
    mload *ml = collect(L, e, &nml);
    /* sorted by id first: ${PORT} goes in that order */
    if (nml)
        qsort(ml, (size_t)nml, sizeof(*ml), model_cmp);
    int next_port = c->start_port;
    for (int i = 0; i < nml; i++)
        model_load(L, &ml[i], gmac, gres, ngmac, &next_port);
    c->models = gs_mem_calloc((size_t)nml + 1, sizeof(*c->models));
    for (int i = 0; i < nml; i++)
        c->models[i] = ml[i].m;
    c->nmodels = nml;
    free(ml);
    check_names(L);
}
