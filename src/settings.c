#include "settings.h"

#include <errno.h>
#include <libfyaml.h>
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

static bool get_long(sp *P, struct fy_node *v, int line, const char *key, long min, long max, long *out)
{
    char *s = scalar_dup(P, v, line, key);
    if (!s)
        return false;
    char *e;
    errno = 0;
    long x = strtol(s, &e, 10);
    bool ok = *s && !*e && !errno && x >= min && x <= max;
    if (!ok)
        gs_diag_add(P->d, true, P->file, line, "%s: '%s' is not a whole number from %ld to %ld", key, s, min, max);
    else
        *out = x;
    free(s);
    return ok;
}

static bool get_bool(sp *P, struct fy_node *v, int line, const char *key, bool *out)
{
    char *s = scalar_dup(P, v, line, key);
    if (!s)
        return false;
    bool ok = true;
    if (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on"))
        *out = true;
    else if (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off"))
        *out = false;
    else {
        gs_diag_add(P->d, true, P->file, line, "%s: '%s' is not true or false", key, s);
        ok = false;
    }
    free(s);
    return ok;
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
        if (get_bool(P, v, line, "memory", &b))
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

static void model_settings(sp *P, gs_settings *s, struct fy_node *key, struct fy_node *val)
{
    int line = gs_yaml_line(key);
    char *name = scalar_dup(P, key, line, "models");
    if (!name)
        return;
    char *path = gs_mem_printf("models.%s", name);
    if (gs_settings_model(s, name)) {
        gs_diag_add(P->d, true, P->file, line, "%s: the model is listed twice", path);
        goto out;
    }
    if (!is_null(val) && !fy_node_is_mapping(val)) {
        gs_diag_add(P->d, true, P->file, line, "%s: must be a mapping like {ttl: 900, disabled: true}", path);
        goto out;
    }
    s->models = gs_mem_realloc(s->models, sizeof(*s->models) * (size_t)(s->nmodels + 1));
    gs_model_settings *m = &s->models[s->nmodels++];
    memset(m, 0, sizeof(*m));
    m->name = name;
    name = NULL;
    m->line = line;
    m->ttl = -1;
    m->swappable = -1;
    void *it = NULL;
    struct fy_node_pair *p;
    while (!is_null(val) && (p = fy_node_mapping_iterate(val, &it))) {
        struct fy_node *k = fy_node_pair_key(p), *v = fy_node_pair_value(p);
        int kl = gs_yaml_line(k);
        const char *kn = k && fy_node_is_scalar(k) ? fy_node_get_scalar0(k) : "";
        char *kp = gs_mem_printf("%s.%s", path, kn ? kn : "");
        long x;
        if (!strcmp(kn, "ttl")) {
            if (get_long(P, v, kl, kp, 0, 365L * 86400, &x))
                m->ttl = (int)x;
        } else if (!strcmp(kn, "ctxSize")) {
            if (get_long(P, v, kl, kp, 0, 1L << 30, &x))
                m->ctx_size = x;
        } else if (!strcmp(kn, "disabled")) {
            get_bool(P, v, kl, kp, &m->disabled);
        } else if (!strcmp(kn, "memory")) {
            char *t = scalar_dup(P, v, kl, kp);
            if (t && !size_ok(t)) {
                gs_diag_add(P->d, true, P->file, kl, "%s: '%s' is not a size like 6GiB or 512MiB", kp, t);
                free(t);
            } else if (t) {
                free(m->memory);
                m->memory = t;
            }
        } else if (!strcmp(kn, "swappable")) {
            bool b;
            if (get_bool(P, v, kl, kp, &b))
                m->swappable = b;
        } else if (!strcmp(kn, "extraArgs")) {
            get_words(P, v, kl, kp, true, &m->extra_args, &m->nextra);
        } else if (!strcmp(kn, "aliases")) {
            if (get_words(P, v, kl, kp, false, &m->aliases, &m->naliases))
                alias_ok(P, m->aliases, m->naliases, kl, kp);
        } else {
            gs_diag_add(P->d, false, P->file, kl,
                        "%s: unknown key (known: ttl, extraArgs, aliases, disabled, ctxSize, memory, "
                        "swappable); ignored", kp);
        }
        free(kp);
    }
out:
    free(name);
    free(path);
}

/* One top-level key of settings.yaml. */
static void top_key(sp *P, gs_settings *s, const char *kn, struct fy_node *v, int kl)
{
    gs_diag *d = P->d;
    const char *name = P->file;
    long x;
    if (!strcmp(kn, "listen")) {
        char *t = scalar_dup(P, v, kl, kn);
        if (t) {
            free(s->listen);
            s->listen = t;
        }
    } else if (!strcmp(kn, "llamaServer")) {
        char *t = scalar_dup(P, v, kl, kn);
        if (t && !*t) {
            free(t);
            t = NULL;
        }
        if (t) {
            free(s->llama_server);
            s->llama_server = gs_scan_expand_home(t);
            free(t);
        }
    } else if (!strcmp(kn, "modelsDirs")) {
        if (get_words(P, v, kl, kn, false, &s->models_dirs, &s->nmodels_dirs)) {
            for (int i = 0; i < s->nmodels_dirs; i++) {
                char *e = gs_scan_expand_home(s->models_dirs[i]);
                free(s->models_dirs[i]);
                s->models_dirs[i] = e;
            }
        }
    } else if (!strcmp(kn, "ttl")) {
        if (get_long(P, v, kl, kn, 0, 365L * 86400, &x))
            s->ttl = (int)x;
    } else if (!strcmp(kn, "ctxSizeMax")) {
        if (get_long(P, v, kl, kn, 0, 1L << 30, &x))
            s->ctx_size_max = x;
    } else if (!strcmp(kn, "healthCheckTimeout")) {
        if (get_long(P, v, kl, kn, 15, 86400, &x))
            s->health_check_timeout = (int)x;
    } else if (!strcmp(kn, "startPort")) {
        if (get_long(P, v, kl, kn, 1, 65535, &x))
            s->start_port = (int)x;
    } else if (!strcmp(kn, "logLevel")) {
        char *t = scalar_dup(P, v, kl, kn);
        gs_log_level lv;
        if (t && gs_log_parse_level(t, &lv) < 0) {
            gs_diag_add(d, true, name, kl, "logLevel: '%s' is not debug, info, warn or error", t);
            free(t);
        } else if (t) {
            free(s->log_level);
            s->log_level = t;
        }
    } else if (!strcmp(kn, "hfToken")) {
        /* For `ggswap pull` of gated or private repos; $HF_TOKEN wins. */
        char *t = scalar_dup(P, v, kl, kn);
        if (t && *t) {
            free(s->hf_token);
            s->hf_token = t;
        } else {
            free(t);
        }
    } else if (!strcmp(kn, "extraArgs")) {
        get_words(P, v, kl, kn, true, &s->extra_args, &s->nextra);
    } else if (!strcmp(kn, "memory")) {
        memory_settings(P, s, v, kl);
    } else if (!strcmp(kn, "models")) {
        if (is_null(v))
            return;
        if (!fy_node_is_mapping(v)) {
            gs_diag_add(d, true, name, kl, "models: must be a mapping of model name to settings");
            return;
        }
        void *mit = NULL;
        struct fy_node_pair *mp;
        while ((mp = fy_node_mapping_iterate(v, &mit)))
            model_settings(P, s, fy_node_pair_key(mp), fy_node_pair_value(mp));
    } else {
        gs_diag_add(d, false, name, kl,
                    "%s: unknown key (known: listen, modelsDirs, llamaServer, ttl, ctxSizeMax, "
                    "extraArgs, healthCheckTimeout, startPort, logLevel, hfToken, memory, models); ignored", kn);
    }
}

int gs_settings_parse(const char *text, size_t len, const char *name, gs_settings *s, gs_diag *d)
{
    sp P = {name, d};
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
    void *it = NULL;
    struct fy_node_pair *p;
    while (root && !is_null(root) && (p = fy_node_mapping_iterate(root, &it))) {
        struct fy_node *k = fy_node_pair_key(p);
        const char *kn = k && fy_node_is_scalar(k) ? fy_node_get_scalar0(k) : NULL;
        if (!kn)
            gs_diag_add(d, true, name, gs_yaml_line(k), "a key must be a plain word");
        else
            top_key(&P, s, kn, fy_node_pair_value(p), gs_yaml_line(k));
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
