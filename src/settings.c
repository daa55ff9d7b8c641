#include "settings.h"

#include <errno.h>
#include <libfyaml.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cmdline.h"
#include "log.h"
#include "mem.h"
#include "names.h"
#include "scan.h"
#include "strv.h"
#include "yaml.h"

#define MAX_SETTINGS (1u << 20)   /* settings.yaml is a few lines; refuse anything huge */

void gs_settings_init(gs_settings *s)
{
    memset(s, 0, sizeof(*s));
    s->ttl = GS_SETTINGS_DEFAULT_TTL;
    s->ctx_size_max = GS_SETTINGS_DEFAULT_CTX_MAX;
    s->health_check_timeout = GS_SETTINGS_DEFAULT_HEALTH;
    s->start_port = GS_SETTINGS_DEFAULT_START_PORT;
    s->log_level = gs_mem_strdup("info");
}

void gs_settings_free(gs_settings *s)
{
    if (!s)
        return;
    free(s->path);
    free(s->listen);
    gs_strv_free(s->models_dirs);
    free(s->llama_server);
    gs_strv_free(s->extra_args);
    free(s->log_level);
    free(s->hf_token);
    free(s->memory_ram);
    free(s->memory_margin);
    gs_strv_free(s->memory_gpu);
    for (int i = 0; i < s->nmodels; i++) {
        free(s->models[i].name);
        free(s->models[i].memory);
        gs_strv_free(s->models[i].extra_args);
        gs_strv_free(s->models[i].aliases);
    }
    free(s->models);
    memset(s, 0, sizeof(*s));
}

const gs_model_settings *gs_settings_model(const gs_settings *s, const char *name)
{
    for (int i = 0; s && i < s->nmodels; i++)
        if (!strcmp(s->models[i].name, name))
            return &s->models[i];
    return NULL;
}

typedef struct sp {
    const char *file;
    gs_diag *d;
    gs_yaml *y;
} sp;

/* A scalar's text as a new string; NULL (after an error) for mappings and sequences. */
static char *scalar_dup(sp *P, struct fy_node *v, int line, const char *key)
{
    if (!v || !fy_node_is_scalar(v)) {
        gs_diag_add(P->d, true, P->file, line, "%s: must be a single value, not a list or mapping", key);
        return NULL;
    }
    size_t len;
    const char *t = fy_node_get_scalar(v, &len);
    if (!t || memchr(t, 0, len)) {
        gs_diag_add(P->d, true, P->file, line, "%s: contains a NUL character", key);
        return NULL;
    }
    return gs_mem_strndup(t, len);
}

static bool is_null(struct fy_node *v)
{
    if (!v)
        return true;
    if (!fy_node_is_scalar(v) || fy_node_get_style(v) != FYNS_PLAIN)
        return false;
    size_t len;
    const char *t = fy_node_get_scalar(v, &len);
    return len == 0 || (len == 1 && t[0] == '~') || (len == 4 && !memcmp(t, "null", 4));
}

static bool has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

/* A list of words: a YAML sequence of scalars, or one string split like a shell line when
 * `split`, else one word. */
static bool get_words(sp *P, struct fy_node *v, int line, const char *key, bool split, char ***out, int *n)
{
    gs_strv_free(*out);
    *out = NULL;
    *n = 0;
    if (is_null(v))
        return true;
    if (fy_node_is_sequence(v)) {
        void *it = NULL;
        struct fy_node *e;
        while ((e = fy_node_sequence_iterate(v, &it))) {
            int el = gs_yaml_line(e) ? gs_yaml_line(e) : line;
            char *w = scalar_dup(P, e, el, key);
            if (!w)
                return false;
            if (has_ctl(w)) {
                gs_diag_add(P->d, true, P->file, el, "%s: '%s' contains a control character (newline, tab)", key, w);
                free(w);
                return false;
            }
            gs_strv_push(out, n, w);
        }
        return true;
    }
    char *s = scalar_dup(P, v, line, key);
    if (!s)
        return false;
    if (has_ctl(s)) {
        gs_diag_add(P->d, true, P->file, line, "%s: contains a control character (newline, tab)", key);
        free(s);
        return false;
    }
    if (!split) {
        gs_strv_push(out, n, s);
        return true;
    }
    char **av = NULL;
    int ac = 0;
    const char *why = NULL;
    if (gs_cmdline_split(s, &av, &ac, &why) < 0) {
        gs_diag_add(P->d, true, P->file, line, "%s: %s", key, why ? why : "cannot be split into words");
        free(s);
        return false;
    }
    for (int i = 0; i < ac; i++)
        gs_strv_push(out, n, gs_mem_strdup(av[i]));
    gs_strv_free(av);
    free(s);
    return true;
}

static bool alias_ok(sp *P, char **v, int n, int line, const char *key)
{
    for (int i = 0; i < n; i++) {
        /* the same rule as the config loader's (names.h), so that what is accepted here makes
         * a config.yaml that loads */
        if (!*v[i] || strstr(v[i], "${") || strchr(v[i], ' ') || strchr(v[i], '/') ||
            gs_names_invalid(v[i], strlen(v[i]))) {
            gs_diag_add(P->d, true, P->file, line,
                        "%s: '%s' is not a usable alias (no spaces, '/', '${', quotes or "
                        "backslashes, and not empty)", key, v[i]);
            return false;
        }
    }
    return true;
}

/* A size as the config takes it (512MiB, 6GiB, 1.5GB, 100000): the loader's own rule, so that
 * what passes here loads there. */
static bool size_ok(const char *t)
{
    return gs_config_parse_size(t) >= 0;
}

/* `memory: false`, `memory: true`, or {ram: auto|SIZE, gpu: auto|[SIZE, ...], margin: SIZE}. */
static void memory_settings(sp *P, gs_settings *s, struct fy_node *v, int line)
{
    if (is_null(v))
        return;
    if (fy_node_is_scalar(v)) {
        bool b;
        if (gs_yaml_bool(P->y, v, line, "memory", &b) > 0)
            s->memory_off = !b;
        return;
    }
    if (!fy_node_is_mapping(v)) {
        gs_diag_add(P->d, true, P->file, line, "memory: must be false, or a mapping like {ram: auto, margin: 1GiB}");
        return;
    }
    s->memory_off = false;
    void *it = NULL;
    struct fy_node_pair *p;
    while ((p = fy_node_mapping_iterate(v, &it))) {
        struct fy_node *k = fy_node_pair_key(p), *x = fy_node_pair_value(p);
        int kl = gs_yaml_line(k);
        const char *kn = k && fy_node_is_scalar(k) ? fy_node_get_scalar0(k) : "";
        char *kp = gs_mem_printf("memory.%s", kn ? kn : "");
        if (!strcmp(kn, "ram") || !strcmp(kn, "margin")) {
            char *t = scalar_dup(P, x, kl, kp);
            bool is_ram = !strcmp(kn, "ram"); /* margin has no auto in the config */
            if (t && (strcmp(t, "auto") || !is_ram) && !size_ok(t)) {
                gs_diag_add(P->d, true, P->file, kl, "%s: '%s' is not %sa size like 24GiB", kp, t,
                            is_ram ? "auto or " : "");
                free(t);
            } else if (t) {
                char **dst = !strcmp(kn, "ram") ? &s->memory_ram : &s->memory_margin;
                free(*dst);
                *dst = t;
            }
        } else if (!strcmp(kn, "gpu")) {
            if (fy_node_is_scalar(x)) {
                char *t = scalar_dup(P, x, kl, kp);
                if (t && strcmp(t, "auto"))
                    gs_diag_add(P->d, true, P->file, kl, "%s: '%s' is not auto or a list of sizes, one per GPU", kp, t);
                else if (t)
                    s->memory_gpu_auto = true;
                free(t);
            } else if (get_words(P, x, kl, kp, false, &s->memory_gpu, &s->nmemory_gpu)) {
                for (int i = 0; i < s->nmemory_gpu; i++)
                    if (!size_ok(s->memory_gpu[i]))
                        gs_diag_add(P->d, true, P->file, kl, "%s: '%s' is not a size", kp, s->memory_gpu[i]);
            }
        } else {
            gs_diag_add(P->d, false, P->file, kl, "%s: unknown key (known: ram, gpu, margin); ignored", kp);
        }
        free(kp);
    }
}

/* ---- key tables: the rows below are read through the same typed getters as config.yaml's
 * keys (yaml.h), so a value settings.yaml accepts is one the generated config can hold. */

#define ST(f) offsetof(gs_settings, f)
#define MS(f) offsetof(gs_model_settings, f)
#define DAY_S (365L * 86400)

/* A list value for the old readers: the alias followed, NULL for an alias that failed. */
static struct fy_node *val(gs_yaml *y, const gs_yaml_kv *e, const char *key)
{
    return gs_yaml_deref(y, e->val, e->line, key);
}

static void long_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, long *dst)
{
    int x;
    if (gs_yaml_int(y, e->val, e->line, key, 0, 1L << 30, &x) > 0)
        *dst = x;
}

static void m_ctx(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base, void *ud)
{
    long_fn(y, e, key, &((gs_model_settings *)base)->ctx_size);
}

/* Checked after the row stored it: the loader's own size rule. */
static void m_memory(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base, void *ud)
{
    gs_model_settings *m = base;
    if (m->memory && !size_ok(m->memory)) {
        gs_yaml_err(y, e->line, key, "'%s' is not a size like 6GiB or 512MiB", m->memory);
        free(m->memory);
        m->memory = NULL;
    }
}

static void m_swappable(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base, void *ud)
{
    bool b;
    if (gs_yaml_bool(y, e->val, e->line, key, &b) > 0)
        ((gs_model_settings *)base)->swappable = b;
}

static void m_extra(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base, void *ud)
{
    gs_model_settings *m = base;
    get_words(ud, val(y, e, key), e->line, key, true, &m->extra_args, &m->nextra);
}

static void m_aliases(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base, void *ud)
{
    gs_model_settings *m = base;
    if (get_words(ud, val(y, e, key), e->line, key, false, &m->aliases, &m->naliases))
        alias_ok(ud, m->aliases, m->naliases, e->line, key);
}

static const gs_yaml_key model_keys[] = {
    {"ttl", GS_YT_INT, MS(ttl), 0, DAY_S, 0, NULL, 0},
    {"ctxSize", GS_YT_FN, 0, 0, 0, 0, m_ctx, 0},
    {"disabled", GS_YT_BOOL, MS(disabled), 0, 0, 0, NULL, 0},
    {"memory", GS_YT_STR, MS(memory), 0, 0, 0, m_memory, 0},
    {"swappable", GS_YT_FN, 0, 0, 0, 0, m_swappable, 0},
    {"extraArgs", GS_YT_FN, 0, 0, 0, 0, m_extra, 0},
    {"aliases", GS_YT_FN, 0, 0, 0, 0, m_aliases, 0},
};

static void model_settings(sp *P, gs_settings *s, const gs_yaml_kv *e)
{
    char *path = gs_yaml_path_join("models", e->key);
    struct fy_node *v = gs_yaml_deref(P->y, e->val, e->line, path);
    if (gs_settings_model(s, e->key)) {
        gs_diag_add(P->d, true, P->file, e->line, "%s: the model is listed twice", path);
        goto out;
    }
    if (!gs_yaml_is_null(v) && !fy_node_is_mapping(v)) {
        gs_diag_add(P->d, true, P->file, e->line, "%s: must be a mapping like {ttl: 900, disabled: true}", path);
        goto out;
    }
    s->models = gs_mem_realloc(s->models, sizeof(*s->models) * (size_t)(s->nmodels + 1));
    gs_model_settings *m = &s->models[s->nmodels++];
    *m = (gs_model_settings){.name = gs_mem_strdup(e->key), .line = e->line, .ttl = -1, .swappable = -1};
    gs_yaml_apply(P->y, model_keys, GS_ARRAY_LEN(model_keys), v, e->line, path, NULL, m, P);
out:
    free(path);
}

static void t_llama_server(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base, void *ud)
{
    gs_settings *s = base;
    char *x = gs_scan_expand_home(s->llama_server);
    free(s->llama_server);
    s->llama_server = x;
}

static void t_dirs(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base, void *ud)
{
    gs_settings *s = base;
    if (!get_words(ud, val(y, e, key), e->line, key, false, &s->models_dirs, &s->nmodels_dirs))
        return;
    for (int i = 0; i < s->nmodels_dirs; i++) {
        char *x = gs_scan_expand_home(s->models_dirs[i]);
        free(s->models_dirs[i]);
        s->models_dirs[i] = x;
    }
}

static void t_ctx_max(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base, void *ud)
{
    long_fn(y, e, key, &((gs_settings *)base)->ctx_size_max);
}

static void t_log_level(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base, void *ud)
{
    gs_settings *s = base;
    gs_log_level lv;
    if (gs_log_parse_level(s->log_level, &lv) < 0) {
        gs_yaml_err(y, e->line, key, "'%s' is not debug, info, warn or error", s->log_level);
        free(s->log_level);
        s->log_level = gs_mem_strdup("info");
    }
}

static void t_extra(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base, void *ud)
{
    gs_settings *s = base;
    get_words(ud, val(y, e, key), e->line, key, true, &s->extra_args, &s->nextra);
}

static void t_memory(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base, void *ud)
{
    memory_settings(ud, base, val(y, e, key), e->line);
}

static void t_models(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base, void *ud)
{
    struct fy_node *v = gs_yaml_map(y, e->val, e->line, key, "of model name to settings");
    gs_yaml_kvs items = {0};
    if (v)
        gs_yaml_items(y, v, key, &items);
    for (int i = 0; i < items.n; i++)
        model_settings(ud, base, &items.v[i]);
    gs_yaml_kvs_free(&items);
}

static const gs_yaml_key top_keys[] = {
    {"listen", GS_YT_STR, ST(listen), 0, 0, 0, NULL, 0},
    {"llamaServer", GS_YT_STR, ST(llama_server), 0, 0, 0, t_llama_server, GS_YF_EMPTY_NULL},
    {"modelsDirs", GS_YT_FN, 0, 0, 0, 0, t_dirs, 0},
    {"ttl", GS_YT_INT, ST(ttl), 0, DAY_S, 0, NULL, 0},
    {"ctxSizeMax", GS_YT_FN, 0, 0, 0, 0, t_ctx_max, 0},
    {"healthCheckTimeout", GS_YT_INT, ST(health_check_timeout), 15, 86400, 0, NULL, 0},
    {"startPort", GS_YT_INT, ST(start_port), 1, 65535, 0, NULL, 0},
    {"logLevel", GS_YT_STR, ST(log_level), 0, 0, 0, t_log_level, 0},
    /* For `ggswap pull` of gated or private repos; $HF_TOKEN wins. */
    {"hfToken", GS_YT_STR, ST(hf_token), 0, 0, 0, NULL, GS_YF_EMPTY_NULL},
    {"extraArgs", GS_YT_FN, 0, 0, 0, 0, t_extra, 0},
    {"memory", GS_YT_FN, 0, 0, 0, 0, t_memory, 0},
    {"models", GS_YT_FN, 0, 0, 0, 0, t_models, 0},
};

int gs_settings_parse(const char *text, size_t len, const char *name, gs_settings *s, gs_diag *d)
{
    sp P = {name, d, NULL};
    int errors_before = d->errors;
    if (len > MAX_SETTINGS) {
        gs_diag_add(d, true, name, 0, "the file is larger than 1 MiB; this is not a settings file");
        return -EINVAL;
    }
    struct fy_document *doc = NULL;
    int rc = gs_yaml_parse(text, len, name, d, &doc);
    if (rc == -ENOMEM)
        return rc;
    struct fy_node *root = doc && rc == 0 ? fy_document_root(doc) : NULL;
    if (root && !is_null(root) && !fy_node_is_mapping(root)) {
        gs_diag_add(d, true, name, gs_yaml_line(root) ? gs_yaml_line(root) : 1,
                    "settings must be a mapping of keys (listen, modelsDirs, llamaServer, ttl, ...)");
        root = NULL;
    }
    if (root) {
        gs_yaml y;
        gs_yaml_init(&y, name, d, len);
        P.y = &y;
        gs_yaml_apply(&y, top_keys, GS_ARRAY_LEN(top_keys), root, gs_yaml_line(root), "", NULL, s, &P);
    }
    if (doc)
        fy_document_destroy(doc);
    return d->errors > errors_before ? -EINVAL : 0;
}

int gs_settings_load(const char *path, gs_settings *s, gs_diag *d)
{
    gs_buf text;
    gs_buf_init(&text, MAX_SETTINGS);
    int rc = gs_buf_read_file(&text, path);
    if (rc == -ENOENT)
        goto out;
    if (rc < 0) {
        gs_diag_add(d, true, path, 0, "cannot read: %s", rc == -E2BIG ? "larger than 1 MiB" : strerror(-rc));
        goto out;
    }
    free(s->path);
    s->path = gs_mem_strdup(path);
    rc = gs_settings_parse(text.data ? text.data : "", text.len, path, s, d);
out:
    gs_buf_free(&text);
    return rc == -ENOENT ? 0 : rc;
}
