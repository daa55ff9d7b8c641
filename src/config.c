#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <libfyaml.h>
#include <regex.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "confload.h"
#include "confmodel.h"
#include "confpeer.h"
#include "confroute.h"
#include "log.h"
#include "mem.h"
#include "strv.h"
#include "yaml.h"

#define MAX_FILE (16u << 20)   /* a bigger config is a mistake, not a config */
#define IGNORE_DEFAULT ".*\\.(js|json|css|png|gif|jpg|jpeg|ico|txt)$"

long long gs_config_parse_size(const char *s)
{
    return gs_yaml_parse_size(s);
}

/* ---------------------------------------------------------------- lookups */

int gs_config_find(const gs_config *c, const char *name)
{
    return gs_confload_find(c, name);
}

int gs_config_find_peer(const gs_config *c, const char *name, const char **model)
{
    return gs_confload_find_peer(c, name, model);
}

int gs_config_find_selector(const gs_config *c, const char *name)
{
    return gs_confload_find_selector(c, name);
}

int gs_config_find_profile(const gs_config *c, const char *name)
{
    return gs_confload_find_profile(c, name);
}

/* ---------------------------------------------------------------- upstream.ignorePaths, memory sizes */

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
static void ignore_set(gs_confld *L, char **list, int n, int line, const char *key)
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

bool gs_config_ignore_path(const gs_config *c, const char *path)
{
    const regex_t *re = c ? c->ignore_re : NULL;
    for (int i = 0; re && path && i < c->nignore_paths; i++)
        if (regexec(&re[i], path, 0, NULL, 0) == 0)
            return true;
    return false;
}

/* `auto` or a size. */
static void read_auto_size(gs_confld *L, const gs_yaml_kv *f, const char *key, bool *is_auto, long long *v)
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

static void read_gpu_sizes(gs_confld *L, const gs_yaml_kv *f, const char *key, gs_memory_cfg *m)
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

/* ---------------------------------------------------------------- ggswap's blocks */

static void gpu_fn(gs_yaml *y, const gs_yaml_kv *f, const char *key, void *base, void *ud)
{
    read_gpu_sizes(ud, f, key, base);
}

static void ram_fn(gs_yaml *y, const gs_yaml_kv *f, const char *key, void *base, void *ud)
{
    gs_memory_cfg *m = base;
    read_auto_size(ud, f, key, &m->ram_auto, &m->ram);
}

static const gs_yaml_key memory_keys[] = {
    {"ram", GS_YT_FN, 0, 0, 0, 0, ram_fn, 0},
    {"gpu", GS_YT_FN, 0, 0, 0, 0, gpu_fn, 0},
    {"margin", GS_YT_SIZE, offsetof(gs_memory_cfg, margin), 0, 0, 0, NULL, 0},
    {"enabled", GS_YT_BOOL, offsetof(gs_memory_cfg, enabled), 0, 0, 0, NULL, 0},
};

/* memory: present (null, true or a mapping) is on; false is off. */
static void memory_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base, void *ud)
{
    gs_memory_cfg *m = &((gs_config *)base)->memory;
    m->line = e->line;
    struct fy_node *n = gs_yaml_deref(y, e->val, e->line, key);
    bool b;
    if (gs_yaml_is_null(n)) {
        m->enabled = true;
    } else if (fy_node_is_scalar(n)) {
        if (gs_yaml_bool(y, n, e->line, key, &b) > 0)
            m->enabled = b;
    } else if (!fy_node_is_mapping(n)) {
        gs_yaml_err(y, e->line, key, "expected a mapping of ram, gpu and margin, or true/false");
    } else {
        m->enabled = true;
        gs_yaml_apply(y, memory_keys, GS_ARRAY_LEN(memory_keys), n, e->line, key, NULL, m, ud);
    }
}

static const gs_yaml_key slot_cache_keys[] = {
    {"enabled", GS_YT_BOOL, offsetof(gs_slot_cache_cfg, enabled), 0, 0, 0, NULL, 0},
    {"maxSize", GS_YT_SIZE, offsetof(gs_slot_cache_cfg, max_size), 0, 0, 0, NULL, 0},
    {"saveTimeout", GS_YT_MS, offsetof(gs_slot_cache_cfg, save_timeout_ms), 0, 0, 0, NULL, 0},
    {"path", GS_YT_XSTR, offsetof(gs_slot_cache_cfg, path), 0, 0, 0, NULL, GS_YF_EMPTY_NULL},
};

/* slotCache: true/false, or a mapping (which turns it on). */
static void slot_cache_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base,
                          void *ud)
{
    gs_slot_cache_cfg *sc = &((gs_config *)base)->slot_cache;
    sc->line = e->line;
    struct fy_node *n = gs_yaml_deref(y, e->val, e->line, key);
    if (gs_yaml_is_null(n))
        return;
    if (fy_node_is_scalar(n)) {
        gs_yaml_bool(y, n, e->line, key, &sc->enabled);
    } else if (!fy_node_is_mapping(n)) {
        gs_yaml_err(y, e->line, key,
                    "expected true/false or a mapping of enabled, maxSize, saveTimeout, path");
    } else {
        sc->enabled = true;
        gs_yaml_apply(y, slot_cache_keys, GS_ARRAY_LEN(slot_cache_keys), n, e->line, key, NULL,
                      sc, ud);
    }
}

static void store_path_fn(gs_yaml *y, const gs_yaml_kv *f, const char *key, void *base,
                          void *ud)
{
    gs_config *c = base;
    char *s = NULL;
    struct stat st;
    if (gs_yaml_xstr(y, f->val, f->line, key, &s) > 0 && *s) {
        char *dir = gs_mem_strdup(s);
        char *slash = strrchr(dir, '/');
        if (slash)
            slash[slash == dir] = 0;
        if (stat(s, &st) == 0 && S_ISDIR(st.st_mode)) {
            gs_yaml_err(y, f->line, key, "%s is a directory, not a file", s);
        } else if (slash && (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))) {
            gs_yaml_err(y, f->line, key, "the folder %s does not exist", dir);
        } else {
            free(c->store_path);
            c->store_path = s;
            s = NULL;
        }
        free(dir);
    }
    free(s);
}

static const gs_yaml_key store_keys[] = {
    {"path", GS_YT_FN, 0, 0, 0, 0, store_path_fn, 0},
};

static void ignore_paths_fn(gs_yaml *y, const gs_yaml_kv *f, const char *key, void *base,
                            void *ud)
{
    char **list;
    int nl;
    gs_yaml_xstrlist(y, f->val, f->line, key, &list, &nl);
    ignore_set(ud, list, nl, f->line, key);
}

static const gs_yaml_key upstream_keys[] = {
    {"ignorePaths", GS_YT_FN, 0, 0, 0, 0, ignore_paths_fn, 0},
};

static void store_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base, void *ud)
{
    gs_yaml_apply(y, store_keys, GS_ARRAY_LEN(store_keys), e->val, e->line, key, "with path",
                  base, ud);
}

static void upstream_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base, void *ud)
{
    gs_yaml_apply(y, upstream_keys, GS_ARRAY_LEN(upstream_keys), e->val, e->line, key,
                  "with ignorePaths", base, ud);
}

static void origins_fn(gs_yaml *y, const gs_yaml_kv *f, const char *key, void *base, void *ud)
{
    gs_config *c = base;
    char **list;
    int nl;
    if (gs_yaml_strlist(y, f->val, f->line, key, &list, &nl) < 0)
        return;
    gs_strv_free_n(c->cors_origins, c->ncors_origins);
    c->cors_origins = list ? list : gs_mem_calloc(1, sizeof(char *));
    c->ncors_origins = nl;
}

static const gs_yaml_key cors_keys[] = {
    {"origins", GS_YT_FN, 0, 0, 0, 0, origins_fn, 0},
};

/* cors: {origins: [...]}; a list given (even empty) replaces the default policy (cors.h). */
static void cors_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base, void *ud)
{
    gs_yaml_apply(y, cors_keys, GS_ARRAY_LEN(cors_keys), e->val, e->line, key,
                  "with origins: [...]", base, ud);
}

/* ---------------------------------------------------------------- hooks */

static void preload_fn(gs_yaml *y, const gs_yaml_kv *f, const char *key, void *base, void *ud)
{
    gs_config *c = base;
    char **list;
    int nl;
    gs_yaml_strlist(y, f->val, f->line, key, &list, &nl);
    for (int k = 0; k < nl; k++) {
        char *s = list[k], *e2 = s + strlen(s);
        while (*s == ' ' || *s == '\t')
            s++;
        while (e2 > s && (e2[-1] == ' ' || e2[-1] == '\t'))
            *--e2 = 0;
        int idx = gs_config_find(c, s);
        if (idx < 0) {
            char *ik = gs_yaml_path_index(key, k);
            gs_yaml_warn(y, f->line, ik, "unknown model %s, ignored", s);
            free(ik);
        } else if (!gs_strv_has(c->preload, c->npreload, c->models[idx].id)) {
            gs_strv_push(&c->preload, &c->npreload, gs_mem_strdup(c->models[idx].id));
        }
    }
    gs_strv_free_n(list, nl);
}

static const gs_yaml_key on_startup_keys[] = {
    {"preload", GS_YT_FN, 0, 0, 0, 0, preload_fn, 0},
};

static void on_startup_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base,
                          void *ud)
{
    gs_yaml_apply(y, on_startup_keys, GS_ARRAY_LEN(on_startup_keys), e->val, e->line, key, NULL,
                  base, ud);
}

static const gs_yaml_key hooks_keys[] = {
    {"on_startup", GS_YT_FN, 0, 0, 0, 0, on_startup_fn, 0},
};

/* ---------------------------------------------------------------- top level */

/* What the top-level keys leave for later: the blocks that name models. */
typedef struct top {
    gs_confld *L;
    gs_confroute rt;
    gs_confref peers, selectors, profiles;
    const gs_yaml_kv *models, *hooks;
} top;

static void log_stdout_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base,
                          void *ud)
{
    static const char *const names[] = {"proxy", "upstream", "both", "none"};
    char *s;
    if (gs_yaml_xstr(y, e->val, e->line, key, &s) <= 0)
        return;
    size_t i = 0;
    while (i < GS_ARRAY_LEN(names) && strcmp(names[i], s))
        i++;
    if (i == GS_ARRAY_LEN(names))
        gs_yaml_err(y, e->line, key, "must be one of: proxy, upstream, both, none; not '%s'", s);
    else
        ((gs_config *)base)->log_to_stdout = (gs_log_stdout)i;
    free(s);
}

static void set_level(gs_config *c, const char *name)
{
    free(c->log_level);
    c->log_level = gs_mem_strdup(name);
}

static void log_level_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base,
                         void *ud)
{
    gs_config *c = base;
    char *s;
    if (gs_yaml_str(y, e->val, e->line, key, &s) <= 0)
        return;
    /* the rule of -log-level and settings.yaml (any case, "warning" too), kept by its name */
    static const char *const names[] = {"debug", "info", "warn", "error"};
    gs_log_level lv;
    if (gs_log_parse_level(s, &lv) < 0 || (size_t)lv >= GS_ARRAY_LEN(names))
        gs_yaml_warn(y, e->line, key, "unknown level '%s' (debug, info, warn, error), using info",
                     s);
    else
        set_level(c, names[lv]);
    free(s);
}

static void api_keys_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base, void *ud)
{
    gs_config *c = base;
    gs_strv_free_n(c->api_keys, c->napi_keys);
    gs_yaml_xstrlist(y, e->val, e->line, key, &c->api_keys, &c->napi_keys);
    for (int i = 0; i < c->napi_keys; i++) {
        char *ik = gs_yaml_path_index(key, i);
        if (!*c->api_keys[i])
            gs_yaml_err(y, e->line, ik, "empty api key");
        else if (strpbrk(c->api_keys[i], " \t\r\n"))
            gs_yaml_err(y, e->line, ik, "api key cannot contain spaces");
        free(ik);
    }
}

static void unload_timeout_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base,
                              void *ud)
{
    gs_config *c = base;
    if (!c->unload_timeout)
        c->unload_timeout = 10; /* llama-swap: 0 means the default */
}

static void health_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base, void *ud)
{
    gs_config *c = base;
    if (c->health_check_timeout < 15)
        c->health_check_timeout = 15; /* llama-swap's minimum */
}

static void models_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base, void *ud)
{
    ((top *)ud)->models = e;
}

static void hooks_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base, void *ud)
{
    ((top *)ud)->hooks = e;
}

static void routing_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base, void *ud)
{
    top *T = ud;
    gs_confroute_read(T->L, e, &T->rt);
}

/* The blocks read once the models are known: their value is kept. */
#define LATER(fname, field)                                                                   \
    static void fname(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base, void *ud) \
    {                                                                                         \
        gs_confload_ref(((top *)ud)->L, &((top *)ud)->field, e, key);                         \
    }
LATER(groups_fn, rt.groups)
LATER(matrix_fn, rt.matrix)
LATER(peers_fn, peers)
LATER(selectors_fn, selectors)
LATER(profiles_fn, profiles)

/* The small blocks read with the top level get the top-level ud: the loader. */
static void with_loader(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base, void *ud,
                        gs_yaml_key_fn fn)
{
    fn(y, e, key, base, ((top *)ud)->L);
}
#define WITH_LOADER(fname, fn)                                                                \
    static void fname(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base, void *ud) \
    {                                                                                         \
        with_loader(y, e, key, base, ud, fn);                                                 \
    }
WITH_LOADER(top_memory_fn, memory_fn)
WITH_LOADER(top_upstream_fn, upstream_fn)

#define CF(f) offsetof(gs_config, f)
static const gs_yaml_key top_keys[] = {
    {"macros", GS_YT_SKIP, 0, 0, 0, 0, NULL, 0},
    {"healthCheckTimeout", GS_YT_INT, CF(health_check_timeout), INT_MIN, INT_MAX, 0, health_fn, 0},
    {"logLevel", GS_YT_FN, 0, 0, 0, 0, log_level_fn, 0},
    {"startPort", GS_YT_INT, CF(start_port), 1, 65535, 0, NULL, 0},
    {"globalTTL", GS_YT_INT, CF(global_ttl), 0, INT_MAX, 0, NULL, 0},
    {"models", GS_YT_FN, 0, 0, 0, 0, models_fn, 0},
    {"groups", GS_YT_FN, 0, 0, 0, 0, groups_fn, 0},
    {"hooks", GS_YT_FN, 0, 0, 0, 0, hooks_fn, 0},
    {"apiKeys", GS_YT_FN, 0, 0, 0, 0, api_keys_fn, 0},
    {"cors", GS_YT_FN, 0, 0, 0, 0, cors_fn, 0},
    /* llama-swap v250 */
    {"unloadTimeout", GS_YT_INT, CF(unload_timeout), 0, 86400, 0, unload_timeout_fn, 0},
    {"sendLoadingState", GS_YT_BOOL, CF(send_loading_state), 0, 0, 0, NULL, 0},
    {"includeAliasesInList", GS_YT_BOOL, CF(include_aliases_in_list), 0, 0, 0, NULL, 0},
    {"logToStdout", GS_YT_FN, 0, 0, 0, 0, log_stdout_fn, 0},
    {"store", GS_YT_FN, 0, 0, 0, 0, store_fn, 0},
    {"upstream", GS_YT_FN, 0, 0, 0, 0, top_upstream_fn, 0},
    {"routing", GS_YT_FN, 0, 0, 0, 0, routing_fn, 0},
    {"matrix", GS_YT_FN, 0, 0, 0, 0, matrix_fn, 0},
    {"peers", GS_YT_FN, 0, 0, 0, 0, peers_fn, 0},
    {"selectors", GS_YT_FN, 0, 0, 0, 0, selectors_fn, 0},
    {"profiles", GS_YT_FN, 0, 0, 0, 0, profiles_fn, 0},
    /* ggswap's own */
    {"memory", GS_YT_FN, 0, 0, 0, 0, top_memory_fn, 0},
    {"slotCache", GS_YT_FN, 0, 0, 0, 0, slot_cache_fn, 0},
    /* llama-swap keys without an equivalent here */
    {"logTimeFormat", GS_YT_IGNORED, 0, 0, 0, 0, NULL, 0},
    {"logRequests", GS_YT_IGNORED, 0, 0, 0, 0, NULL, 0},
    {"metricsMaxInMemory", GS_YT_IGNORED, 0, 0, 0, 0, NULL, 0},
    {"captureBuffer", GS_YT_IGNORED, 0, 0, 0, 0, NULL, 0},
    {"ui", GS_YT_IGNORED, 0, 0, 0, 0, NULL, 0},
    {"performance", GS_YT_IGNORED, 0, 0, 0, 0, NULL, 0},
};

static void load_root(gs_confld *L, struct fy_node *root)
{
    gs_config *c = L->c;
    gs_yaml_kvs items = {0};
    gs_macro *gmac = NULL, *gres = NULL;
    int ngmac = 0;
    top T = {.L = L};
    gs_macro_scope scope = {0};

    if (!fy_node_is_mapping(root)) {
        gs_yaml_err(&L->y, gs_yaml_line(root), NULL,
                    "the file must be a mapping of keys (models:, groups:, ...)");
        goto out;
    }
    gs_yaml_items(&L->y, root, "", &items);
    /* Macros first: as in llama-swap, every top-level value may use them (startPort: ${P}). */
    for (int i = 0; i < items.n; i++)
        if (!strcmp(items.v[i].key, "macros"))
            gs_macros_read(&L->M, items.v[i].val, items.v[i].line, "macros", &gmac, &ngmac, 0);
    gres = gs_macros_copy(gmac, ngmac);
    gs_macros_resolve(&L->M, gres, ngmac, "macros");
    scope = (gs_macro_scope){&L->M, gres, ngmac, NULL, 0};
    gs_confload_scope(L, &scope);
    gs_yaml_apply_items(&L->y, top_keys, GS_ARRAY_LEN(top_keys), &items, "", c, &T);

    /* Then what names models, in this order: each may name what the ones before define. */
    gs_confmodel_load(L, T.models, gmac, gres, ngmac);
    gs_confroute_load(L, &T.rt);
    if (T.peers.set)
        gs_confpeer_load_peers(L, &T.peers);
    if (T.selectors.set)
        gs_confpeer_load_selectors(L, &T.selectors);
    if (T.profiles.set)
        gs_confpeer_load_profiles(L, &T.profiles);
    if (T.hooks)
        gs_yaml_apply(&L->y, hooks_keys, GS_ARRAY_LEN(hooks_keys), T.hooks->val, T.hooks->line,
                      "hooks", NULL, c, L);
    if (!c->ignore_re)
        ignore_set(L, NULL, 0, 0, "upstream.ignorePaths");

out:
    gs_confload_scope(L, NULL);
    free(T.rt.use);
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
        gs_confmodel_free(&c->models[i]);
    free(c->models);
    for (int i = 0; i < c->ngroups; i++) {
        free(c->groups[i].id);
        free(c->groups[i].members);
    }
    free(c->groups);
    free(c->store_path);
    ignore_free(c);
    gs_confroute_matrix_free(c->matrix);
    for (int i = 0; i < c->npeers; i++)
        gs_confpeer_free_peer(&c->peers[i]);
    free(c->peers);
    for (int i = 0; i < c->nselectors; i++)
        gs_confpeer_free_selector(&c->selectors[i]);
    free(c->selectors);
    for (int i = 0; i < c->nprofiles; i++)
        gs_confpeer_free_profile(&c->profiles[i]);
    free(c->profiles);
    free(c->memory.gpu);
    free(c->slot_cache.path);
    free(c);
}

int gs_config_parse(const char *text, size_t len, const char *name, gs_config **out, gs_diag *d)
{
    *out = NULL;
    int errors_before = d->errors;
    gs_confld L = {0};
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
