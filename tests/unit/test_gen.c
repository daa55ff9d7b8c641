/* gen: the plan (gs_gen_plan_make) as a table: a scan, settings and previous ports in, the
 * ports, command lines, ttl, aliases, memory and metadata of each model out. No files. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>

#include "gen.h"
#include "ggufw.h"
#include "mem.h"

/* One scanned model: "name|path|kind|params|ctx|quant|arch|mmproj". */
typedef struct srow {
    const char *name, *path;
    gs_kind kind;
    uint64_t params;
    uint64_t ctx;
    const char *quant, *arch, *mmproj;
    bool chat_template;
} srow;

static void scan_of(const srow *rows, int n, gs_scan_result *r)
{
    memset(r, 0, sizeof *r);
    r->models = gs_mem_calloc((size_t)n + 1, sizeof *r->models);
    r->nmodels = n;
    for (int i = 0; i < n; i++) {
        gs_scan_model *m = &r->models[i];
        m->name = gs_mem_strdup(rows[i].name);
        m->path = gs_mem_strdup(rows[i].path);
        m->kind = rows[i].kind;
        m->params = rows[i].params;
        m->params_label = gs_mem_strdup(rows[i].params ? "7B" : "");
        m->ctx = rows[i].ctx;
        m->quant = rows[i].quant ? gs_mem_strdup(rows[i].quant) : NULL;
        m->info.architecture = rows[i].arch ? gs_mem_strdup(rows[i].arch) : NULL;
        m->info.has_chat_template = rows[i].chat_template;
        m->info.pooling_type = m->info.file_type = -1;
        m->mmproj = rows[i].mmproj ? gs_mem_strdup(rows[i].mmproj) : NULL;
        m->pooling = m->kind == GS_KIND_EMBEDDING ? "cls" : NULL;
        m->file_size = 1000 + (uint64_t)i;
    }
    r->dirs = gs_mem_calloc(2, sizeof *r->dirs);
    r->dirs[0] = gs_mem_strdup("/m");
    r->ndirs = 1;
}

static char *joined(char *const *v, int n)
{
    size_t len = 1;
    for (int i = 0; i < n; i++)
        len += strlen(v[i]) + 1;
    char *s = gs_mem_calloc(len, 1);
    for (int i = 0; i < n; i++) {
        if (i)
            strcat(s, " ");
        strcat(s, v[i]);
    }
    return s;
}

static const gs_gen_model *find(const gs_gen_plan *p, const char *name)
{
    for (int i = 0; i < p->nmodels; i++)
        if (!strcmp(p->models[i].name, name))
            return &p->models[i];
    return NULL;
}

/* What one model of the plan must be; NULL fields are not checked, port 0 not checked. */
typedef struct want {
    const char *name;
    int port;
    const char *argv;      /* words joined by spaces */
    int ttl;               /* -1: not checked */
    const char *aliases;   /* joined by spaces; "" none */
    const char *memory;    /* "-": none */
    int chat;              /* 1 / 0 */
    const char *meta;      /* compact JSON of metadata */
} want;

typedef struct prow {
    const char *what;
    srow scan[4];
    int nscan;
    const char *settings;  /* settings.yaml text, or NULL for the defaults */
    const char *prev;      /* names=ports, "a=5810 b=5811"; NULL: none */
    int prev_start;        /* the previous file's startPort (0: it does not say) */
    int nmodels;           /* models in the plan */
    want w[4];
    int nwarn;             /* warnings to d */
    bool memory_on;
} prow;

#define CHAT(n, p) {n, "/m/" n ".gguf", GS_KIND_CHAT, 7000000000ull, 4096, "q4_k_m", "llama", NULL, true}
#define EMB(n) {n, "/m/" n ".gguf", GS_KIND_EMBEDDING, 100000000ull, 512, "f16", "bert", NULL, false}

static const prow rows[] = {
    {"defaults: ports from 5800 in scan order, the cap on ctx, chat and embedding kinds",
     {CHAT("a", 0), CHAT("b", 0), EMB("e")}, 3, NULL, NULL, 0, 3,
     {{"a", 5800, "llama-server -m /m/a.gguf --port 5800 --alias a --ctx-size 4096 --jinja", 300,
       NULL, "-", 1,
       "{\"kind\": \"chat\", \"parameters\": \"7B\", \"quantization\": \"q4_k_m\", \"file\": \"/m/a.gguf\", "
       "\"size\": 1000, \"context\": 4096, \"architecture\": \"llama\"}"},
      {"b", 5801, NULL, 300, NULL, "-", 1, NULL},
      {"e", 5802, "llama-server -m /m/e.gguf --port 5802 --alias e --ctx-size 512 --embeddings --pooling cls",
       300, "text-embedding-ada-002", "-", 0, NULL}},
     0, true},
    {"settings: ttl, ctxSize, extra args (global, then the model's), user alias appended, memory",
     {CHAT("a", 0), CHAT("b", 0)}, 2,
     "ttl: 60\nctxSizeMax: 2048\nextraArgs: [-ngl, \"99\"]\nstartPort: 6000\n"
     "models:\n  a: {ttl: 5, ctxSize: 100, extraArgs: \"--temp 0.2\", aliases: [mine], memory: 6GiB}\n",
     NULL, 0, 2,
     {{"a", 6000,
       "llama-server -m /m/a.gguf --port 6000 --alias a --ctx-size 100 --jinja -ngl 99 --temp 0.2", 5,
       NULL, "6GiB", 1, NULL},
      {"b", 6001, "llama-server -m /m/b.gguf --port 6001 --alias b --ctx-size 2048 --jinja -ngl 99", 60,
       NULL, "-", 1, NULL}},
     0, true},
    {"memory off drops the model's memory; disabled models are left out and free no port",
     {CHAT("a", 0), CHAT("b", 0), CHAT("c", 0)}, 3,
     "memory: false\nmodels:\n  a: {memory: 6GiB}\n  b: {disabled: true}\n", NULL, 0, 2,
     {{"a", 5800, NULL, 300, NULL, "-", 1, NULL}, {"c", 5801, NULL, 300, NULL, "-", 1, NULL}}, 0, false},
    {"previous ports are kept (same startPort), new models get the lowest free ones",
     {CHAT("a", 0), CHAT("b", 0), CHAT("c", 0)}, 3, NULL, "b=5800 c=5805", 5800, 3,
     {{"a", 5801, NULL, -1, NULL, NULL, 1, NULL},
      {"b", 5800, "llama-server -m /m/b.gguf --port 5800 --alias b --ctx-size 4096 --jinja", -1, NULL,
       NULL, 1, NULL},
      {"c", 5805, NULL, -1, NULL, NULL, 1, NULL}},
     0, true},
    {"a changed startPort gives every port again",
     {CHAT("a", 0), CHAT("b", 0)}, 2, "startPort: 7000\n", "a=5801 b=5800", 5800, 2,
     {{"a", 7000, NULL, -1, NULL, NULL, 1, NULL}, {"b", 7001, NULL, -1, NULL, NULL, 1, NULL}}, 0, true},
    {"an alias that is a model's name, one taken twice, settings for a missing model: warnings",
     {CHAT("a", 0), CHAT("b", 0)}, 2,
     "models:\n  a: {aliases: [b, x]}\n  b: {aliases: [x]}\n  gone: {ttl: 5}\n", NULL, 0, 2,
     {{"a", 5800, NULL, -1, NULL, NULL, 1, NULL}, {"b", 5801, NULL, -1, NULL, NULL, 1, NULL}}, 3, true},
    {"a vision model: --mmproj and its file in metadata; a ${ path stays out of metadata",
     {{"v", "/m/v.gguf", GS_KIND_VISION, 0, 0, NULL, NULL, "/m/mmproj-v.gguf", true},
      {"w", "/m/${x}.gguf", GS_KIND_CHAT, 0, 0, NULL, "l${y}", NULL, false}}, 2, "ctxSizeMax: 0\n", NULL, 0, 2,
     {{"v", 5800, "llama-server -m /m/v.gguf --port 5800 --alias v --jinja --mmproj /m/mmproj-v.gguf", -1,
       NULL, NULL, 1,
       "{\"kind\": \"vision\", \"file\": \"/m/v.gguf\", \"mmproj\": \"/m/mmproj-v.gguf\", \"size\": 1000}"},
      {"w", 5801, NULL, -1, NULL, NULL, 1, "{\"kind\": \"chat\", \"size\": 1001}"}},
     0, true},
};

static void prev_of(const char *spec, int start, gs_genports *p)
{
    memset(p, 0, sizeof *p);
    p->start_port = start;
    if (!spec)
        return;
    char *s = gs_mem_strdup(spec), *save = NULL;
    p->names = gs_mem_calloc(8, sizeof *p->names);
    p->ports = gs_mem_calloc(8, sizeof *p->ports);
    for (char *t = strtok_r(s, " ", &save); t && p->n < 7; t = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(t, '=');
        *eq = 0;
        p->names[p->n] = gs_mem_strdup(t);
        p->ports[p->n++] = atoi(eq + 1);
    }
    free(s);
}

Test(gen, plan_table)
{
    for (size_t k = 0; k < sizeof rows / sizeof rows[0]; k++) {
        const prow *t = &rows[k];
        gs_scan_result r;
        scan_of(t->scan, t->nscan, &r);
        gs_settings s;
        gs_settings_init(&s);
        gs_diag d = {0};
        if (t->settings)
            cr_assert_eq(gs_settings_parse(t->settings, strlen(t->settings), "s.yaml", &s, &d), 0, "%s",
                         t->what);
        gs_diag_free(&d);
        memset(&d, 0, sizeof d);
        gs_genports prev;
        prev_of(t->prev, t->prev_start, &prev);
        gs_gen_plan p;
        gs_gen_plan_make(&r, &s, NULL, "s.yaml", t->prev ? &prev : NULL, &d, &p);
        cr_expect_eq(p.nmodels, t->nmodels, "%s: %d models", t->what, p.nmodels);
        cr_expect_eq(d.warnings, t->nwarn, "%s: %d warnings", t->what, d.warnings);
        cr_expect_eq(p.memory_on, t->memory_on, "%s", t->what);
        for (int i = 0; i < 4 && t->w[i].name; i++) {
            const want *w = &t->w[i];
            const gs_gen_model *m = find(&p, w->name);
            cr_assert(m, "%s: %s not planned", t->what, w->name);
            if (w->port)
                cr_expect_eq(m->port, w->port, "%s: %s port %d", t->what, w->name, m->port);
            if (w->argv) {
                char *a = joined(m->argv, m->argc);
                cr_expect_str_eq(a, w->argv, "%s: %s", t->what, w->name);
                free(a);
            }
            if (w->ttl >= 0)
                cr_expect_eq(m->ttl, w->ttl, "%s: %s ttl %d", t->what, w->name, m->ttl);
            if (w->aliases) {
                char *a = joined(m->aliases, m->naliases);
                cr_expect_str_eq(a, w->aliases, "%s: %s", t->what, w->name);
                free(a);
            }
            if (w->memory && !strcmp(w->memory, "-"))
                cr_expect_null(m->memory, "%s: %s", t->what, w->name);
            else if (w->memory)
                cr_expect_str_eq(m->memory ? m->memory : "(none)", w->memory, "%s", t->what);
            cr_expect_eq(m->chat, w->chat == 1, "%s: %s", t->what, w->name);
            if (w->meta) {
                char *j = json_dumps(m->metadata, JSON_PRESERVE_ORDER);
                json_error_t e;
                json_t *x = json_loads(w->meta, 0, &e);
                cr_assert(x, "%s: bad expected JSON", t->what);
                cr_expect(json_equal(x, m->metadata), "%s: %s metadata %s", t->what, w->name, j);
                json_decref(x);
                free(j);
            }
        }
        gs_gen_plan_free(&p);
        gs_genports_free(&prev);
        gs_diag_free(&d);
        gs_settings_free(&s);
        gs_scan_result_free(&r);
    }
}

/* The user's alias comes after the scan's; an alias the user gave is never handed out by the
 * scan too. */
Test(gen, plan_user_alias_wins_over_the_openai_one)
{
    srow sc[] = {CHAT("a", 0), CHAT("b", 0)};
    gs_scan_result r;
    scan_of(sc, 2, &r);
    gs_settings s;
    gs_settings_init(&s);
    gs_diag d = {0};
    const char *y = "models:\n  b: {aliases: [gpt-4]}\n";
    cr_assert_eq(gs_settings_parse(y, strlen(y), "s.yaml", &s, &d), 0);
    gs_gen_plan p;
    gs_gen_plan_make(&r, &s, "/x/llama-server", "s.yaml", NULL, &d, &p);
    const gs_gen_model *a = find(&p, "a"), *b = find(&p, "b");
    cr_assert(a && b);
    for (int i = 0; i < a->naliases; i++)
        cr_expect_str_neq(a->aliases[i], "gpt-4");
    cr_assert_gt(b->naliases, 0);
    cr_expect_str_eq(b->aliases[b->naliases - 1], "gpt-4");
    cr_expect_str_eq(a->argv[0], "/x/llama-server");
    cr_expect_eq(a->wflags[0], GS_GEN_W_LINE | GS_GEN_W_PATH);
    gs_gen_plan_free(&p);
    gs_diag_free(&d);
    gs_settings_free(&s);
    gs_scan_result_free(&r);
}

/* emit writes the plan: every model's cmd block is the plan's words with their lines, and the
 * text loads with the model's argv equal to the plan's. */
Test(gen, emit_loads_with_the_plans_argv)
{
    srow sc[] = {CHAT("a", 0), EMB("e"), {"q", "/m/it's \"odd\" ${x}.gguf", GS_KIND_RERANKER, 0, 0, NULL,
                                          NULL, NULL, false}};
    gs_scan_result r;
    scan_of(sc, 3, &r);
    gs_gen_plan p;
    gs_gen_plan_make(&r, NULL, "/o p/llama-server", "s.yaml", NULL, NULL, &p);
    char *text = gs_gen_emit(&p);
    gs_config *c = NULL;
    gs_diag d = {0};
    int rc = gs_config_parse(text, strlen(text), "gen.yaml", &c, &d);
    char *all = gs_diag_join(&d);
    cr_assert_eq(rc, 0, "%s\n%s", all, text);
    cr_expect_eq(d.warnings, 0, "%s", all);
    free(all);
    for (int i = 0; i < p.nmodels; i++) {
        int k = gs_config_find(c, p.models[i].name);
        cr_assert_geq(k, 0);
        cr_assert_eq(c->models[k].argc, p.models[i].argc, "%s", p.models[i].name);
        for (int w = 0; w < p.models[i].argc; w++)
            cr_expect_str_eq(c->models[k].argv[w], p.models[i].argv[w]);
        char *ct = gs_gen_cmd_text(&p.models[i], "");
        cr_expect_eq(ct[strlen(ct) - 1], '\n');
        free(ct);
    }
    gs_config_free(c);
    gs_diag_free(&d);
    free(text);
    gs_gen_plan_free(&p);
    gs_scan_result_free(&r);
}

/* A restart with nothing changed leaves config.yaml as it is (no rewrite, no fsync: the inode
 * stays); a change writes it again. */
Test(gen, integrated_rewrites_config_only_when_it_changes)
{
    char dir[] = "/tmp/gs-gen-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char *models = gs_mem_printf("%s/models", dir), *home = gs_mem_printf("%s/home", dir);
    cr_assert_eq(mkdir(models, 0755), 0);
    char *f = gs_mem_printf("%s/tiny-chat-q8_0.gguf", models);
    cr_assert_eq(gs_gguf_write_tiny_llama(f, "t", 1, 64, 2, 128), 0);
    const char *dirs[] = {models};
    gs_gen_opts o = {.home = home, .models_dirs = dirs, .nmodels_dirs = 1, .llama_server = "/bin/true"};
    struct stat st[3];
    char *cfg = gs_mem_printf("%s/config.yaml", home);
    for (int k = 0; k < 3; k++) {
        if (k == 2) {
            char *sp = gs_mem_printf("%s/settings.yaml", home);
            FILE *sf = fopen(sp, "w");
            cr_assert(sf);
            fputs("ttl: 42\n", sf);
            fclose(sf);
            free(sp);
        }
        gs_gen_result r;
        cr_assert_eq(gs_gen_integrated(&o, &r), 0, "%s", r.error ? r.error : "");
        gs_gen_result_free(&r);
        cr_assert_eq(stat(cfg, &st[k]), 0);
    }
    cr_expect_eq(st[1].st_ino, st[0].st_ino, "unchanged: not rewritten");
    cr_expect_neq(st[2].st_ino, st[0].st_ino, "ttl changed: written again");
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_expect_eq(system(cmd), 0);
    free(cfg);
    free(f);
    free(models);
    free(home);
}
