#include "gen.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "cmdline.h"
#include "log.h"
#include "mem.h"
#include "names.h"
#include "strv.h"
#include "memdev.h"
#include "memest.h"

#define MAX_CONFIG (64u << 20)



/* ------------------------------------------------------------------ places */

char *gs_gen_home(const char *explicit_home)
{
    if (explicit_home && *explicit_home)
        return gs_scan_expand_home(explicit_home);
    const char *e = getenv("GGSWAP_HOME");
    if (e && *e)
        return gs_scan_expand_home(e);
    return gs_scan_expand_home("~/.clara/ggswap");
}

static char *absolute(const char *p)
{
    char *e = gs_scan_expand_home(p);
    if (e[0] == '/')
        return e;
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        return e;
    const char *rel = e;
    while (rel[0] == '.' && rel[1] == '/')
        rel += 2;
    char *a = gs_mem_printf("%s/%s", cwd, rel);
    free(e);
    return a;
}

static bool executable(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0;
}

char *gs_gen_find_llama_server(const char *explicit_path, const gs_settings *s, char ***looked,
                               int *nlooked)
{
    char **lk = NULL;
    int nl = 0;
    char *found = NULL;
    const char *env = getenv("GGSWAP_LLAMA_SERVER");
    const struct { const char *v, *why; } given[] = {
        {explicit_path, "--llama-server"},
        {env, "$GGSWAP_LLAMA_SERVER"},
        {s ? s->llama_server : NULL, "llamaServer in settings.yaml"},
    };
    for (size_t i = 0; i < GS_ARRAY_LEN(given) && !found; i++) {
        if (!given[i].v || !*given[i].v)
            continue;
        char *a = absolute(given[i].v);
        gs_strv_push(&lk, &nl, gs_mem_printf("%s (%s)", a, given[i].why));
        if (executable(a))
            found = a;
        else
            free(a);
    }
    if (!found) {
        char *exe = gs_scan_exe_dir();
        if (exe) {
            char *a = gs_mem_printf("%s/llama-server", exe);
            gs_strv_push(&lk, &nl, gs_mem_strdup(a));
            if (executable(a))
                found = a;
            else
                free(a);
            free(exe);
        }
    }
    if (!found) {
        const char *path = getenv("PATH");
        char *pv = gs_mem_strdup(path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
        char *save = NULL;
        for (char *dir = strtok_r(pv, ":", &save); dir && !found; dir = strtok_r(NULL, ":", &save)) {
            if (dir[0] != '/')
                continue; /* a relative $PATH entry would make config.yaml depend on our cwd */
            char *a = gs_mem_printf("%s/llama-server", dir);
            if (!gs_strv_has(lk, nl, a))
                gs_strv_push(&lk, &nl, gs_mem_strdup(a));
            if (executable(a))
                found = a;
            else
                free(a);
        }
        free(pv);
    }
    if (looked) {
        *looked = lk;
        if (nlooked)
            *nlooked = nl;
    } else {
        gs_strv_free(lk);
    }
    return found;
}

/* ------------------------------------------------------------------ config.yaml text */

/* A YAML double-quoted scalar. */
static void yq(gs_buf *b, const char *s)
{
    gs_buf_puts(b, "\"");
    while (*s) {
        size_t n = 0; /* a run that needs no escape, appended at once */
        while (s[n] && s[n] != '"' && s[n] != '\\' && (unsigned char)s[n] >= 0x20 && s[n] != 0x7f)
            n++;
        gs_buf_append(b, s, n);
        s += n;
        if (!*s)
            break;
        unsigned char c = (unsigned char)*s++;
        if (c == '"' || c == '\\')
            gs_buf_printf(b, "\\%c", c);
        else
            gs_buf_printf(b, "\\x%02x", c);
    }
    gs_buf_puts(b, "\"");
}

/* One word of `cmd`, quoted so that gs_cmdline_split gives it back and config.c's macro
 * expansion never sees a "${": the word is cut between '$' and '{' and the pieces quoted
 * separately ("a\$""{b}" is one word, a${b}). Paths (`path`) are always in double quotes, as
 * in the seed. */
static void cmd_word(gs_buf *b, const char *w, bool path)
{
    const char *plain_ok = "\"\\$`";
    if (path && !strpbrk(w, plain_ok) && *w) {
        gs_buf_printf(b, "\"%s\"", w);
        return;
    }
    const char *p = w;
    do {
        const char *cut = strstr(p, "${");
        size_t n = cut ? (size_t)(cut - p) + 1 : strlen(p);
        char *piece = gs_mem_strndup(p, n);
        char *q = gs_cmdline_quote(piece);
        if (path && q[0] != '"' && q[0] != '\'')
            gs_buf_printf(b, "\"%s\"", q);
        else
            gs_buf_puts(b, q);
        free(q);
        free(piece);
        p += n;
    } while (*p);
}

/* A comment line must stay one line. */
static void comment_text(gs_buf *b, const char *s)
{
    for (; *s; s++)
        gs_buf_append(b, ((unsigned char)*s < 0x20 || *s == 0x7f) ? "?" : s, 1);
}

/* ------------------------------------------------------------------ the plan */

static void word(gs_gen_model *m, char *w, unsigned flags)
{
    m->argv = gs_mem_realloc(m->argv, sizeof(*m->argv) * (size_t)(m->argc + 2));
    m->wflags = gs_mem_realloc(m->wflags, (size_t)m->argc + 1);
    m->argv[m->argc] = w;
    m->wflags[m->argc++] = (unsigned char)flags;
    m->argv[m->argc] = NULL;
}

static void words(gs_gen_model *m, char *const *v, int n)
{
    for (int i = 0; i < n; i++)
        word(m, gs_mem_strdup(v[i]), i ? 0 : GS_GEN_W_LINE);
}

/* The --ctx-size a model gets: the user's, else the header's under the cap, else the cap. */
static long ctx_of(const gs_scan_model *m, const gs_model_settings *x, const gs_settings *s)
{
    if (x && x->ctx_size > 0)
        return x->ctx_size;
    if (m->ctx > 0)
        return s->ctx_size_max > 0 && (uint64_t)s->ctx_size_max < m->ctx ? s->ctx_size_max : (long)m->ctx;
    return s->ctx_size_max;
}

static void plan_argv(gs_gen_model *pm, const gs_scan_model *m, const gs_model_settings *x,
                      const gs_settings *s, const char *llama_server, long ctx)
{
    word(pm, gs_mem_strdup(llama_server ? llama_server : "llama-server"), GS_GEN_W_LINE | GS_GEN_W_PATH);
    word(pm, gs_mem_strdup("-m"), GS_GEN_W_LINE);
    word(pm, gs_mem_strdup(m->path), GS_GEN_W_PATH);
    word(pm, gs_mem_strdup("--port"), GS_GEN_W_LINE);
    word(pm, gs_mem_printf("%d", pm->port), 0);
    /* llama-server then answers with the model's ggswap name, not its file path. */
    word(pm, gs_mem_strdup("--alias"), GS_GEN_W_LINE);
    word(pm, gs_mem_strdup(m->name), GS_GEN_W_PATH);
    if (ctx > 0) {
        word(pm, gs_mem_strdup("--ctx-size"), GS_GEN_W_LINE);
        word(pm, gs_mem_printf("%ld", ctx), 0);
    }
    switch (m->kind) {
    case GS_KIND_CHAT:
    case GS_KIND_VISION:
        word(pm, gs_mem_strdup("--jinja"), GS_GEN_W_LINE);
        break;
    case GS_KIND_EMBEDDING:
        word(pm, gs_mem_strdup("--embeddings"), GS_GEN_W_LINE);
        word(pm, gs_mem_strdup("--pooling"), 0);
        word(pm, gs_mem_strdup(m->pooling ? m->pooling : "mean"), 0);
        break;
    case GS_KIND_RERANKER:
        word(pm, gs_mem_strdup("--reranking"), GS_GEN_W_LINE);
        break;
    }
    if (m->mmproj) {
        word(pm, gs_mem_strdup("--mmproj"), GS_GEN_W_LINE);
        word(pm, gs_mem_strdup(m->mmproj), GS_GEN_W_PATH);
    }
    words(pm, s->extra_args, s->nextra);
    if (x)
        words(pm, x->extra_args, x->nextra);
}

static json_t *plan_metadata(const gs_scan_model *m, long ctx)
{
    json_t *o = json_object();
    json_object_set_new(o, "kind", json_string(gs_kind_name(m->kind)));
    if (m->params_label && *m->params_label)
        json_object_set_new(o, "parameters", json_string(m->params_label));
    if (m->quant)
        json_object_set_new(o, "quantization", json_string(m->quant));
    /* config.c expands ${...} in metadata too, with no escape: such a path stays only in cmd. */
    if (!strstr(m->path, "${"))
        json_object_set_new(o, "file", json_string(m->path));
    if (m->mmproj && !strstr(m->mmproj, "${"))
        json_object_set_new(o, "mmproj", json_string(m->mmproj));
    json_object_set_new(o, "size", json_integer((json_int_t)m->file_size));
    if (ctx > 0)
        json_object_set_new(o, "context", json_integer(ctx));
    if (m->info.architecture && !strstr(m->info.architecture, "${"))
        json_object_set_new(o, "architecture", json_string(m->info.architecture));
    return o;
}

/* Warn about settings for models that were not found. */
static void unused_settings(const gs_scan_result *r, const gs_settings *s, const char *sname, gs_diag *d)
{
    for (int j = 0; d && j < s->nmodels; j++) {
        bool hit = false;
        for (int i = 0; i < r->nmodels && !hit; i++)
            hit = !strcmp(r->models[i].name, s->models[j].name);
        if (!hit)
            gs_diag_add(d, false, sname, s->models[j].line,
                        "models.%s: no model of that name was found; its settings are not used",
                        s->models[j].name);
    }
}

/* The user's aliases go first: each names one enabled model and is not a model name. Then the
 * scan's OpenAI aliases avoid them; the user's are appended to their models. */
static void plan_aliases(gs_scan_result *r, const gs_model_settings **ms, const bool *skip,
                         const char *sname, gs_diag *d)
{
    int n = r->nmodels;
    char **ualias = NULL; /* flattened; uowner[k] is the model of ualias[k] */
    int nualias = 0;
    int *uowner = NULL;
    for (int i = 0; i < n; i++) {
        for (int k = 0; !skip[i] && ms[i] && k < ms[i]->naliases; k++) {
            const char *a = ms[i]->aliases[k];
            bool bad = false;
            for (int j = 0; j < n && !bad; j++)
                bad = !skip[j] && !strcmp(r->models[j].name, a);
            const char *why = bad ? "is the name of a model"
                              : gs_strv_has(ualias, nualias, a) ? "already names another model" : NULL;
            if (why) {
                if (d)
                    gs_diag_add(d, false, sname, ms[i]->line, "models.%s.aliases: '%s' %s; alias not used",
                                ms[i]->name, a, why);
                continue;
            }
            gs_strv_push(&ualias, &nualias, gs_mem_strdup(a));
            uowner = gs_mem_realloc(uowner, sizeof(*uowner) * (size_t)nualias);
            uowner[nualias - 1] = i;
        }
    }
    char **reserved = NULL;
    int nres = 0;
    for (int i = 0; i < nualias; i++)
        gs_strv_push(&reserved, &nres, gs_mem_strdup(ualias[i]));
    for (int i = 0; i < n; i++)
        gs_strv_push(&reserved, &nres, gs_mem_strdup(r->models[i].name));
    gs_scan_assign_aliases(r, skip, (const char *const *)reserved, nres);
    for (int i = 0; i < nualias; i++) {
        gs_scan_model *m = &r->models[uowner[i]];
        gs_strv_push(&m->aliases, &m->naliases, gs_mem_strdup(ualias[i]));
    }
    gs_strv_free(ualias);
    gs_strv_free(reserved);
    free(uowner);
}


void gs_gen_plan_make(gs_scan_result *r, const gs_settings *s, const char *llama_server,
                      const char *settings_path, const gs_genports *prev, gs_diag *d,
                      gs_gen_plan *p)
{
    gs_settings defaults;
    gs_settings_init(&defaults);
    if (!s)
        s = &defaults;
    memset(p, 0, sizeof(*p));
    const char *sname = s->path ? s->path : (settings_path ? settings_path : "settings.yaml");
    int n = r->nmodels;
    bool *skip = gs_mem_calloc((size_t)n + 1, sizeof(*skip));
    const gs_model_settings **ms = gs_mem_calloc((size_t)n + 1, sizeof(*ms));
    for (int i = 0; i < n; i++) {
        ms[i] = gs_settings_model(s, r->models[i].name);
        skip[i] = ms[i] && ms[i]->disabled;
    }
    unused_settings(r, s, sname, d);
    plan_aliases(r, ms, skip, sname, d);
    int *ports = gs_mem_calloc((size_t)n + 1, sizeof(*ports));
    const char **names = gs_mem_calloc((size_t)n + 1, sizeof(*names));
    for (int i = 0; i < n; i++)
        names[i] = r->models[i].name;
    gs_genports_assign(prev, names, n, s->start_port, skip, ports, sname, d);
    free(names);

    p->models = gs_mem_calloc((size_t)n + 1, sizeof(*p->models));
    for (int i = 0; i < n; i++) {
        if (skip[i])
            continue;
        const gs_scan_model *m = &r->models[i];
        const gs_model_settings *x = ms[i];
        gs_gen_model *pm = &p->models[p->nmodels++];
        long ctx = ctx_of(m, x, s);
        pm->name = gs_mem_strdup(m->name);
        pm->port = ports[i];
        plan_argv(pm, m, x, s, llama_server, ctx);
        pm->cmd = gs_gen_cmd_text(pm, "");
        pm->ttl = x && x->ttl >= 0 ? x->ttl : s->ttl;
        pm->aliases = gs_strv_dup(m->aliases, m->naliases);
        pm->naliases = m->aliases ? m->naliases : 0;
        pm->memory = x && x->memory && !s->memory_off ? gs_mem_strdup(x->memory) : NULL;
        pm->unswappable = x && x->swappable == 0;
        pm->chat = m->kind == GS_KIND_CHAT || m->kind == GS_KIND_VISION;
        pm->metadata = plan_metadata(m, ctx);
    }
    p->dirs = gs_strv_dup(r->dirs, r->ndirs);
    p->ndirs = r->dirs ? r->ndirs : 0;
    p->settings_path = gs_mem_strdup(settings_path ? settings_path : sname);
    p->start_port = s->start_port;
    p->health_check_timeout = s->health_check_timeout;
    p->log_level = gs_mem_strdup(s->log_level ? s->log_level : "info");
    p->memory_on = !s->memory_off;
    p->memory_ram = s->memory_ram ? gs_mem_strdup(s->memory_ram) : NULL;
    p->memory_margin = s->memory_margin ? gs_mem_strdup(s->memory_margin) : NULL;
    /* NULL means auto: an empty list stays NULL. */
    p->memory_gpu = s->nmemory_gpu > 0 ? gs_strv_dup(s->memory_gpu, s->nmemory_gpu) : NULL;
    p->nmemory_gpu = p->memory_gpu ? s->nmemory_gpu : 0;
    free(ports);
    free(skip);
    free(ms);
    gs_settings_free(&defaults);
}

void gs_gen_plan_free(gs_gen_plan *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->nmodels; i++) {
        gs_gen_model *m = &p->models[i];
        free(m->name);
        free(m->cmd);
        gs_strv_free(m->argv);
        free(m->wflags);
        gs_strv_free(m->aliases);
        free(m->memory);
        json_decref(m->metadata);
    }
    free(p->models);
    gs_strv_free(p->dirs);
    free(p->settings_path);
    free(p->log_level);
    free(p->memory_ram);
    free(p->memory_margin);
    gs_strv_free(p->memory_gpu);
    memset(p, 0, sizeof(*p));
}

/* ------------------------------------------------------------------ emit */

static void cmd_text(gs_buf *b, const gs_gen_model *m, const char *indent)
{
    for (int i = 0; i < m->argc; i++) {
        if (m->wflags[i] & GS_GEN_W_LINE) {
            if (i)
                gs_buf_puts(b, "\n");
            gs_buf_puts(b, indent);
        } else {
            gs_buf_puts(b, " ");
        }
        cmd_word(b, m->argv[i], m->wflags[i] & GS_GEN_W_PATH);
    }
    gs_buf_puts(b, "\n");
}

char *gs_gen_cmd_text(const gs_gen_model *m, const char *indent)
{
    gs_buf b;
    gs_buf_init(&b, MAX_CONFIG);
    cmd_text(&b, m, indent);
    return gs_buf_steal(&b);
}

/* ggswap's own `memory:` block (llama-swap ignores keys it does not know). */
static void emit_memory(gs_buf *b, const gs_gen_plan *p)
{
    gs_buf_puts(b, "# memory-aware scheduling (ggswap): models share the machine while they fit\n"
                   "memory:\n    ram: ");
    yq(b, p->memory_ram ? p->memory_ram : "auto");
    gs_buf_puts(b, "\n");
    if (p->memory_gpu && p->nmemory_gpu) {
        gs_buf_puts(b, "    gpu:\n");
        for (int i = 0; i < p->nmemory_gpu; i++) {
            gs_buf_puts(b, "      - ");
            yq(b, p->memory_gpu[i]);
            gs_buf_puts(b, "\n");
        }
    } else {
        gs_buf_puts(b, "    gpu: auto\n");
    }
    if (p->memory_margin) {
        gs_buf_puts(b, "    margin: ");
        yq(b, p->memory_margin);
        gs_buf_puts(b, "\n");
    }
}

static void emit_model(gs_buf *b, const gs_gen_model *m)
{
    gs_buf_puts(b, "  ");
    yq(b, m->name);
    gs_buf_puts(b, ":\n");
    gs_buf_printf(b, "    proxy: \"http://127.0.0.1:%d\"\n", m->port);
    gs_buf_puts(b, "    cmd: |\n");
    for (const char *l = m->cmd; *l;) {
        const char *nl = strchr(l, '\n');
        size_t n = nl ? (size_t)(nl - l) + 1 : strlen(l);
        gs_buf_puts(b, "      ");
        gs_buf_append(b, l, n);
        l += n;
    }
    gs_buf_printf(b, "    ttl: %d\n", m->ttl);
    if (m->memory) {
        gs_buf_puts(b, "    memory: ");
        yq(b, m->memory);
        gs_buf_puts(b, "\n");
    }
    if (m->unswappable)
        gs_buf_puts(b, "    swappable: false\n");
    if (m->naliases) {
        gs_buf_puts(b, "    aliases:\n");
        for (int k = 0; k < m->naliases; k++) {
            gs_buf_puts(b, "      - ");
            yq(b, m->aliases[k]);
            gs_buf_puts(b, "\n");
        }
    }
    gs_buf_puts(b, "    metadata:\n");
    const char *key;
    json_t *v;
    json_object_foreach(m->metadata, key, v) {
        gs_buf_printf(b, "      %s: ", key);
        if (json_is_integer(v))
            gs_buf_printf(b, "%lld", (long long)json_integer_value(v));
        else if (!strcmp(key, "kind")) /* a plain word (gs_kind_name), as the seed has it */
            gs_buf_puts(b, json_string_value(v));
        else
            yq(b, json_string_value(v));
        gs_buf_puts(b, "\n");
    }
}

static void emit_group(gs_buf *b, const gs_gen_plan *p, bool chat)
{
    for (int i = 0; i < p->nmodels; i++)
        if (p->models[i].chat == chat) {
            gs_buf_puts(b, "      - ");
            yq(b, p->models[i].name);
            gs_buf_puts(b, "\n");
        }
}

/* Everything but the models and groups: what genconf.c parses for the top-level defaults. */
static void emit_head(gs_buf *b, const gs_gen_plan *p)
{
    gs_buf_puts(b, "# Generated by ggswap from the .gguf files in:");
    for (int i = 0; i < p->ndirs; i++) {
        gs_buf_puts(b, i ? ", " : " ");
        comment_text(b, p->dirs[i]);
    }
    gs_buf_puts(b, "\n# ggswap rewrites this file on every start and on Regenerate: do not edit it.\n"
                   "# Your choices (ttl, extraArgs, aliases, disabled, ctxSizeMax, llamaServer, memory) go in\n# ");
    comment_text(b, p->settings_path ? p->settings_path : "settings.yaml");
    gs_buf_puts(b, "\n");
    gs_buf_printf(b, GS_GENPORTS_LINE "%d; a model keeps its port while it is here.\n", p->start_port);
    /* Conversations survive swaps here: llama-server's slots are saved and restored. */
    gs_buf_puts(b, "slotCache: true\n");
    gs_buf_printf(b, "healthCheckTimeout: %d\n", p->health_check_timeout);
    gs_buf_printf(b, "logLevel: %s\n", p->log_level ? p->log_level : "info");
}

static void emit_tail(gs_buf *b, const gs_gen_plan *p)
{
    /* The OpenAI aliases (gpt-4, ...) are what Clara's model pickers show: list them. */
    gs_buf_puts(b, "includeAliasesInList: true\n");
    if (p->memory_on)
        emit_memory(b, p);
}

char *gs_gen_emit(const gs_gen_plan *p)
{
    gs_buf b;
    gs_buf_init(&b, MAX_CONFIG);
    emit_head(&b, p);
    gs_buf_puts(&b, p->nmodels ? "models:\n" : "models: {}\n");
    int nchat = 0;
    for (int i = 0; i < p->nmodels; i++) {
        emit_model(&b, &p->models[i]);
        nchat += p->models[i].chat;
    }
    int nemb = p->nmodels - nchat;
    gs_buf_puts(&b, nchat || nemb ? "groups:\n" : "groups: {}\n");
    if (nchat) {
        /* With memory on, chat models share the machine while they fit (the memory policy
         * decides), instead of one at a time. */
        gs_buf_printf(&b, "  \"default_group\":\n    swap: %s\n    exclusive: true\n    members:\n",
                      p->memory_on ? "false" : "true");
        emit_group(&b, p, true);
    }
    if (nemb) {
        gs_buf_puts(&b, "  \"embedding_group\":\n    swap: true\n    exclusive: false\n"
                        "    persistent: true\n    members:\n");
        emit_group(&b, p, false);
    }
    emit_tail(&b, p);
    return gs_buf_steal(&b);
}

char *gs_gen_emit_top(const gs_gen_plan *p)
{
    gs_buf b;
    gs_buf_init(&b, MAX_CONFIG);
    emit_head(&b, p);
    gs_buf_puts(&b, "models: {}\ngroups: {}\n");
    emit_tail(&b, p);
    return gs_buf_steal(&b);
}

char *gs_gen_config_text(gs_scan_result *r, const gs_settings *s, const char *llama_server,
                         const char *settings_path, gs_diag *d)
{
    return gs_gen_config_text_prev(r, s, llama_server, settings_path, NULL, d);
}

char *gs_gen_config_text_prev(gs_scan_result *r, const gs_settings *s, const char *llama_server,
                              const char *settings_path, const gs_genports *prev, gs_diag *d)
{
    gs_gen_plan p;
    gs_gen_plan_make(r, s, llama_server, settings_path, prev, d, &p);
    char *t = gs_gen_emit(&p);
    gs_gen_plan_free(&p);
    return t;
}

/* ------------------------------------------------------------------ writing */

static int mkdir_p(const char *dir)
{
    char *p = gs_mem_strdup(dir);
    int rc = 0;
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == 0) {
            char c = *s;
            *s = 0;
            if (mkdir(p, 0755) != 0 && errno != EEXIST) {
                rc = -errno;
                break;
            }
            *s = c;
            if (!c)
                break;
        }
    }
    free(p);
    return rc;
}

int gs_gen_write_atomic(const char *path, const char *text, size_t len)
{
    char *dir = gs_mem_strdup(path);
    char *slash = strrchr(dir, '/');
    int rc = 0, fd = -1;
    char *tmp = NULL;
    if (slash && slash != dir) {
        *slash = 0;
        if ((rc = mkdir_p(dir)) < 0)
            goto out;
    }
    tmp = gs_mem_printf("%s.tmp.XXXXXX", path);
    fd = mkstemp(tmp);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    fchmod(fd, 0644);
    for (size_t off = 0; off < len;) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            goto out;
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        rc = -errno;
        fd = -1;
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) != 0)
        rc = -errno;
out:
    if (fd >= 0)
        close(fd);
    if (rc < 0 && tmp)
        unlink(tmp);
    free(tmp);
    free(dir);
    return rc;
}

/* ------------------------------------------------------------------ integrated mode */

static const char default_settings[] =
    "# ggswap settings: your choices for the generated config.yaml beside this file.\n"
    "# ggswap reads this file and never rewrites it. Remove the '#' to use a line.\n"
    "#listen: 127.0.0.1:8091\n"
    "#modelsDirs: [~/.clara/llama-models]\n"
    "#llamaServer: /usr/local/bin/llama-server\n"
    "#ttl: 300              # seconds idle before a model is unloaded (0: never)\n"
    "#ctxSizeMax: 8192      # cap on --ctx-size taken from the GGUF header\n"
    "#extraArgs: [-ngl, \"99\"]\n"
    "#healthCheckTimeout: 120\n"
    "#startPort: 5800\n"
    "#models:\n"
    "#  \"llama3.2:1b-instruct\": {ttl: 900, extraArgs: [--temp, \"0.2\"], aliases: [my-small]}\n"
    "#  \"phi2\": {disabled: true}\n";

static char *join_list(char *const *v, int n)
{
    gs_buf b;
    gs_buf_init(&b, 0);
    gs_buf_append(&b, "", 0);
    for (int i = 0; i < n; i++)
        gs_buf_printf(&b, "%s%s", i ? ", " : "", v[i]);
    return gs_buf_steal(&b);
}

int gs_gen_integrated(const gs_gen_opts *o, gs_gen_result *r)
{
    gs_gen_opts none = {0};
    if (!o)
        o = &none;
    memset(r, 0, sizeof(*r));
    gs_settings s;
    gs_settings_init(&s);
    gs_diag d = {0};
    gs_scan_result sr = {0};
    gs_genports prev = {0};
    char *text = NULL;
    char *prev_path = NULL, *prev_text = NULL;
    int rc = 0;

    r->home = gs_gen_home(o->home);
    r->settings_path = gs_mem_printf("%s/settings.yaml", r->home);
    r->config_path = o->output ? gs_mem_strdup(o->output) : gs_mem_printf("%s/config.yaml", r->home);

    rc = gs_settings_load(r->settings_path, &s, &d);
    for (int i = 0; i < d.n; i++)
        gs_strv_push(&r->problems, &r->nproblems, gs_mem_strdup(d.msgs[i]));
    if (rc < 0) {
        char *j = gs_diag_join(&d);
        r->error = gs_mem_printf("%s\nFix %s; nothing was generated.", j, r->settings_path);
        free(j);
        goto out;
    }
    for (int i = 0; i < d.n; i++)
        gs_warn("%s", d.msgs[i]);
    gs_diag_free(&d);
    memset(&d, 0, sizeof(d));
    if (s.listen)
        r->listen = gs_mem_strdup(s.listen);

    /* Given --models-dir or modelsDirs, only those (SPEC §1). */
    if (o->nmodels_dirs > 0) {
        gs_scan_dirs(o->models_dirs, o->nmodels_dirs, &sr);
    } else if (s.nmodels_dirs > 0) {
        gs_scan_dirs((const char *const *)s.models_dirs, s.nmodels_dirs, &sr);
    } else {
        int nd = 0;
        char **dd = gs_scan_default_dirs(&nd);
        gs_scan_dirs((const char *const *)dd, nd, &sr);
        gs_strv_free(dd);
    }
    for (int i = 0; i < sr.ndirs; i++)
        gs_strv_push(&r->dirs, &r->ndirs, gs_mem_strdup(sr.dirs[i]));
    for (int i = 0; i < sr.nproblems; i++)
        gs_strv_push(&r->problems, &r->nproblems, gs_mem_strdup(sr.problems[i]));

    r->llama_server = gs_gen_find_llama_server(o->llama_server, &s, &r->looked, &r->nlooked);
    if (!r->llama_server) {
        char *l = join_list(r->looked, r->nlooked);
        gs_strv_push(&r->problems, &r->nproblems,
                  gs_mem_printf("No llama-server found: looked in %s. Install llama.cpp's llama-server, "
                                "or set llamaServer in %s (or pass --llama-server, or set "
                                "$GGSWAP_LLAMA_SERVER).", l, r->settings_path));
        free(l);
    }

    /* The file being replaced, so that its models keep their ports (and keep running). */
    if (o->previous)
        prev_path = gs_mem_strdup(o->previous);
    else if (strcmp(r->config_path, "-"))
        prev_path = gs_mem_strdup(r->config_path);
    else
        prev_path = gs_mem_printf("%s/config.yaml", r->home);
    gs_genports_load(prev_path, &prev, &prev_text);
    gs_gen_plan *plan = gs_mem_calloc(1, sizeof *plan);
    gs_gen_plan_make(&sr, &s, r->llama_server, r->settings_path, &prev, &d, plan);
    text = gs_gen_emit(plan);
    if (o->keep_plan) {
        r->plan = plan;
        r->text = gs_mem_strdup(text);
    } else {
        gs_gen_plan_free(plan);
        free(plan);
    }
    for (int i = 0; i < d.n; i++) {
        gs_warn("%s", d.msgs[i]);
        gs_strv_push(&r->problems, &r->nproblems, gs_mem_strdup(d.msgs[i]));
    }
    for (int i = 0; i < sr.nmodels; i++) {
        const gs_model_settings *x = gs_settings_model(&s, sr.models[i].name);
        r->nmodels += !(x && x->disabled);
    }
    if (r->nmodels == 0) {
        char *l = join_list(r->dirs, r->ndirs);
        gs_strv_push(&r->problems, &r->nproblems,
                  gs_mem_printf("No .gguf models found in: %s. Put .gguf files there, or set "
                                "modelsDirs in %s.", l, r->settings_path));
        free(l);
    }

    if (!strcmp(r->config_path, "-")) {
        size_t len = strlen(text);
        if (fwrite(text, 1, len, stdout) != len || fflush(stdout) != 0) {
            rc = -EIO;
            r->error = gs_mem_printf("Cannot write the config to standard output: %s", strerror(errno));
        }
        goto out;
    }
    /* The same bytes as the file there (a restart with nothing changed): no write, no fsync. */
    bool same = prev_text && !strcmp(prev_path, r->config_path) && !strcmp(prev_text, text);
    rc = same ? 0 : gs_gen_write_atomic(r->config_path, text, strlen(text));
    if (rc < 0) {
        r->error = gs_mem_printf("Cannot write %s: %s. Check that the folder is writable, or use "
                                 "--home DIR.", r->config_path, strerror(-rc));
        goto out;
    }
    if (!s.path && !o->output) {
        /* Make the knobs discoverable; a failure here changes nothing. */
        int fd = open(r->settings_path, O_WRONLY | O_CREAT | O_EXCL, 0644);
        if (fd >= 0) {
            if (write(fd, default_settings, sizeof default_settings - 1) < 0)
                gs_debug("cannot write %s: %s", r->settings_path, strerror(errno));
            close(fd);
        }
    }
    gs_info("wrote %s: %d models from %d folders", r->config_path, r->nmodels, r->ndirs);
out:
    free(text);
    free(prev_text);
    free(prev_path);
    gs_genports_free(&prev);
    gs_diag_free(&d);
    gs_scan_result_free(&sr);
    gs_settings_free(&s);
    return rc;
}

void gs_gen_result_free(gs_gen_result *r)
{
    if (!r)
        return;
    free(r->home);
    free(r->config_path);
    free(r->settings_path);
    free(r->listen);
    free(r->llama_server);
    gs_strv_free(r->looked);
    gs_strv_free(r->dirs);
    gs_strv_free(r->problems);
    free(r->error);
    gs_gen_plan_free(r->plan);
    free(r->plan);
    free(r->text);
    memset(r, 0, sizeof(*r));
}

/* ------------------------------------------------------------------ commands */

static int usage_gen(FILE *f)
{
    fprintf(f, "usage: ggswap config generate [--home DIR] [--models-dir DIR]... "
               "[--llama-server PATH] [--output FILE|-]\n");
    return f == stdout ? 0 : 2;
}

/* "--opt VALUE" or "--opt=VALUE" at argv[*i]; NULL when argv[*i] is not opt. */
static const char *opt_val(int argc, char **argv, int *i, const char *opt, bool *missing)
{
    size_t n = strlen(opt);
    if (strncmp(argv[*i], opt, n))
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n])
        return NULL;
    if (*i + 1 >= argc) {
        *missing = true;
        return NULL;
    }
    return argv[++*i];
}

int gs_gen_main(int argc, char **argv)
{
    gs_gen_opts o = {0};
    const char **dirs = gs_mem_calloc((size_t)argc + 1, sizeof(*dirs));
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        bool missing = false;
        const char *v;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            rc = usage_gen(stdout);
            goto done;
        } else if ((v = opt_val(argc, argv, &i, "--home", &missing))) {
            o.home = v;
        } else if ((v = opt_val(argc, argv, &i, "--models-dir", &missing))) {
            dirs[o.nmodels_dirs++] = v;
        } else if ((v = opt_val(argc, argv, &i, "--llama-server", &missing))) {
            o.llama_server = v;
        } else if ((v = opt_val(argc, argv, &i, "--output", &missing))) {
            o.output = v;
        } else {
            fprintf(stderr, missing ? "ggswap config generate: %s needs a value\n"
                                    : "ggswap config generate: unknown argument '%s'\n", argv[i]);
            rc = usage_gen(stderr);
            goto done;
        }
    }
    o.models_dirs = dirs;
    gs_gen_result r;
    int g = gs_gen_integrated(&o, &r);
    for (int i = 0; i < r.nproblems; i++)
        fprintf(stderr, "%s\n", r.problems[i]);
    if (g < 0) {
        fprintf(stderr, "%s\n", r.error ? r.error : "config generate failed");
        rc = g == -EINVAL ? 2 : 1;
    } else if (strcmp(r.config_path, "-")) {
        fprintf(stderr, "Wrote %s: %d model%s from %d folder%s; llama-server: %s\n", r.config_path,
                r.nmodels, r.nmodels == 1 ? "" : "s", r.ndirs, r.ndirs == 1 ? "" : "s",
                r.llama_server ? r.llama_server : "not found");
    }
    gs_gen_result_free(&r);
done:
    free(dirs);
    return rc;
}

static char *human_size(uint64_t n)
{
    if (n >= 1000000000ULL)
        return gs_mem_printf("%.1f GB", (double)n / 1e9);
    if (n >= 1000000ULL)
        return gs_mem_printf("%.0f MB", (double)n / 1e6);
    if (n >= 1000ULL)
        return gs_mem_printf("%.0f kB", (double)n / 1e3);
    return gs_mem_printf("%llu B", (unsigned long long)n);
}

static const char *file_base(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* The memory estimate of a model from its generated command line (memest.h); pm NULL (a
 * disabled model) has none. */
static bool scan_estimate(const gs_gen_model *pm, gs_memest *e)
{
    if (!pm)
        return false;
    char *err = NULL;
    int rc = gs_memest_argv(pm->argv, pm->argc, gs_memdev_gpu_count(), e, &err);
    free(err);
    return rc == 0;
}

/* For each scanned model its planned one, or NULL when disabled (the plan keeps the scan's order). */
static const gs_gen_model **planned(const gs_scan_result *r, const gs_gen_plan *p)
{
    const gs_gen_model **pm = gs_mem_calloc((size_t)r->nmodels + 1, sizeof *pm);
    for (int i = 0, j = 0; i < r->nmodels; i++)
        if (j < p->nmodels && !strcmp(p->models[j].name, r->models[i].name))
            pm[i] = &p->models[j++];
    return pm;
}

int gs_scan_main(int argc, char **argv)
{
    const char **dirs = gs_mem_calloc((size_t)argc + 1, sizeof(*dirs));
    int ndirs = 0, rc = 0;
    bool json = false;
    const char *home_opt = NULL;
    for (int i = 1; i < argc; i++) {
        bool missing = false;
        const char *v;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: ggswap scan [--models-dir DIR]... [--home DIR] [--json]\n");
            goto done;
        } else if (!strcmp(argv[i], "--json")) {
            json = true;
        } else if ((v = opt_val(argc, argv, &i, "--models-dir", &missing))) {
            dirs[ndirs++] = v;
        } else if ((v = opt_val(argc, argv, &i, "--home", &missing))) {
            home_opt = v;
        } else {
            fprintf(stderr, missing ? "ggswap scan: %s needs a value\n" : "ggswap scan: unknown argument '%s'\n",
                    argv[i]);
            fprintf(stderr, "usage: ggswap scan [--models-dir DIR]... [--home DIR] [--json]\n");
            rc = 2;
            goto done;
        }
    }
    char *home = gs_gen_home(home_opt);
    char *spath = gs_mem_printf("%s/settings.yaml", home);
    gs_settings s;
    gs_settings_init(&s);
    gs_diag d = {0};
    if (gs_settings_load(spath, &s, &d) < 0) {
        char *j = gs_diag_join(&d);
        fprintf(stderr, "%s\n", j);
        free(j);
        rc = 2;
        goto out_settings;
    }
    gs_scan_result r;
    if (ndirs > 0) {
        gs_scan_dirs(dirs, ndirs, &r);
    } else if (s.nmodels_dirs > 0) {
        gs_scan_dirs((const char *const *)s.models_dirs, s.nmodels_dirs, &r);
    } else {
        int nd = 0;
        char **dd = gs_scan_default_dirs(&nd);
        gs_scan_dirs((const char *const *)dd, nd, &r);
        gs_strv_free(dd);
    }
    /* The aliases and disabled models exactly as the generated config would have them; the
     * memory estimates from each model's generated command line. */
    gs_gen_plan plan;
    gs_gen_plan_make(&r, &s, NULL, spath, NULL, &d, &plan);
    const gs_gen_model **pm = planned(&r, &plan);
    for (int i = 0; i < d.n; i++)
        fprintf(stderr, "%s\n", d.msgs[i]);
    for (int i = 0; i < r.nproblems; i++)
        fprintf(stderr, "%s\n", r.problems[i]);
    if (json) {
        json_t *a = json_array();
        for (int i = 0; i < r.nmodels; i++) {
            gs_scan_model *m = &r.models[i];
            const gs_model_settings *x = gs_settings_model(&s, m->name);
            json_t *al = json_array();
            for (int k = 0; k < m->naliases; k++)
                json_array_append_new(al, json_string(m->aliases[k]));
            gs_memest e;
            bool have_e = scan_estimate(pm[i], &e);
            json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:I, s:s, s:s*, s:I, s:s*, s:s*, s:o, s:I, s:b}",
                                  "name", m->name, "file", m->path, "size", (json_int_t)m->file_size,
                                  "parameters", m->params_label ? m->params_label : "",
                                  "params", (json_int_t)m->params, "kind", gs_kind_name(m->kind),
                                  "quantization", m->quant, "context", (json_int_t)m->ctx,
                                  "architecture", m->info.architecture, "mmproj", m->mmproj,
                                  "aliases", al, "parts", (json_int_t)m->split_total,
                                  "disabled", x && x->disabled);
            if (o) {
                json_object_set_new(o, "memory", have_e ? json_integer((json_int_t)gs_memest_total(&e)) : json_null());
                json_t *by = json_object();
                for (int k = 0; have_e && k < e.ndev; k++) {
                    char dn[16];
                    snprintf(dn, sizeof dn, k ? "gpu%d" : "ram", k - 1);
                    json_object_set_new(by, dn, json_integer((json_int_t)e.dev[k]));
                }
                json_object_set_new(o, "memoryByDevice", by);
                json_array_append_new(a, o);
            }
        }
        char *t = json_dumps(a, JSON_INDENT(2) | JSON_ENSURE_ASCII);
        if (t)
            printf("%s\n", t);
        free(t);
        json_decref(a);
    } else if (r.nmodels == 0) {
        char *l = join_list(r.dirs, r.ndirs);
        fprintf(stderr, "No .gguf models found in: %s. Put .gguf files there, or set modelsDirs in %s.\n", l, spath);
        free(l);
    } else {
        int wn = 4, wf = 4;
        for (int i = 0; i < r.nmodels; i++) {
            int a = (int)strlen(r.models[i].name), b = (int)strlen(file_base(r.models[i].path));
            wn = a > wn ? a : wn;
            wf = b > wf ? b : wf;
        }
        wn = wn > 40 ? 40 : wn;
        wf = wf > 50 ? 50 : wf;
        printf("%-*s  %-*s  %8s  %6s  %-9s  %7s  %8s  %s\n", wn, "NAME", wf, "FILE", "SIZE", "PARAMS", "KIND",
               "CONTEXT", "MEMORY", "ALIASES");
        for (int i = 0; i < r.nmodels; i++) {
            gs_scan_model *m = &r.models[i];
            const gs_model_settings *x = gs_settings_model(&s, m->name);
            char *sz = human_size(m->file_size);
            char *al = join_list(m->aliases, m->naliases);
            gs_memest e;
            char mem[16] = "?";
            if (scan_estimate(pm[i], &e))
                gs_memest_human(gs_memest_total(&e), mem, sizeof mem);
            printf("%-*s  %-*s  %8s  %6s  %-9s  %7llu  %8s  %s%s\n", wn, m->name, wf, file_base(m->path), sz,
                   m->params_label && *m->params_label ? m->params_label : "?", gs_kind_name(m->kind),
                   (unsigned long long)m->ctx, mem, al, x && x->disabled ? " (disabled)" : "");
            if (m->mmproj)
                printf("%-*s  + mmproj %s\n", wn, "", m->mmproj);
            if (m->split_total > 1)
                printf("%-*s  + %d parts\n", wn, "", m->split_total);
            free(sz);
            free(al);
        }
        printf("%d model%s in %d folder%s\n", r.nmodels, r.nmodels == 1 ? "" : "s", r.ndirs,
               r.ndirs == 1 ? "" : "s");
    }
    gs_scan_result_free(&r);
    free(pm);
    gs_gen_plan_free(&plan);
out_settings:
    gs_diag_free(&d);
    gs_settings_free(&s);
    free(spath);
    free(home);
done:
    free(dirs);
    return rc;
}
