/* genconf: the config built in memory from a plan equals, field by field, the config that the
 * loader makes of the plan's YAML text. If the loader's rules change (a new default, a new
 * field), this is where the two part. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "genconf.h"
#include "mem.h"

static void add_model(gs_scan_result *r, const char *name, const char *path, gs_kind kind,
                      uint64_t ctx, const char *mmproj)
{
    r->models = gs_mem_realloc(r->models, sizeof *r->models * (size_t)(r->nmodels + 1));
    gs_scan_model *m = &r->models[r->nmodels++];
    memset(m, 0, sizeof *m);
    m->name = gs_mem_strdup(name);
    m->path = gs_mem_strdup(path);
    m->kind = kind;
    m->params = 7000000000ull;
    m->params_label = gs_mem_strdup("7B");
    m->ctx = ctx;
    m->quant = gs_mem_strdup("q8_0");
    m->info.architecture = gs_mem_strdup("llama");
    m->info.has_chat_template = kind == GS_KIND_CHAT;
    m->info.pooling_type = m->info.file_type = -1;
    m->pooling = kind == GS_KIND_EMBEDDING ? "mean" : NULL;
    m->mmproj = mmproj ? gs_mem_strdup(mmproj) : NULL;
    m->file_size = 123456789ull * (uint64_t)r->nmodels;
}

static void expect_strv(char *const *a, int na, char *const *b, int nb, const char *what)
{
    cr_expect_eq(na, nb, "%s: %d vs %d", what, na, nb);
    for (int i = 0; i < na && i < nb; i++)
        cr_expect_str_eq(a[i], b[i], "%s[%d]", what, i);
}

static void expect_str(const char *a, const char *b, const char *what)
{
    if (!a || !b)
        cr_expect(a == b, "%s: %s vs %s", what, a ? a : "NULL", b ? b : "NULL");
    else
        cr_expect_str_eq(a, b, "%s", what);
}

static void expect_model(const gs_model_cfg *a, const gs_model_cfg *b)
{
    const char *id = b->id;
    expect_str(a->id, b->id, id);
    expect_str(a->cmd, b->cmd, id);
    expect_strv(a->argv, a->argc, b->argv, b->argc, id);
    expect_str(a->cmd_stop, b->cmd_stop, id);
    expect_str(a->proxy, b->proxy, id);
    expect_str(a->proxy_host, b->proxy_host, id);
    cr_expect_eq(a->proxy_port, b->proxy_port, "%s", id);
    expect_str(a->proxy_path, b->proxy_path, id);
    expect_strv(a->aliases, a->naliases, b->aliases, b->naliases, id);
    cr_expect_eq(a->naliases_written, b->naliases_written, "%s", id);
    expect_strv(a->env, a->nenv, b->env, b->nenv, id);
    expect_str(a->check_endpoint, b->check_endpoint, id);
    cr_expect_eq(a->ttl, b->ttl, "%s", id);
    cr_expect_eq(a->unlisted, b->unlisted, "%s", id);
    expect_str(a->use_model_name, b->use_model_name, id);
    expect_strv(a->strip_params, a->nstrip, b->strip_params, b->nstrip, id);
    cr_expect(a->set_params == b->set_params || json_equal(a->set_params, b->set_params), "%s", id);
    cr_expect_eq(a->concurrency_limit, b->concurrency_limit, "%s", id);
    expect_str(a->name, b->name, id);
    expect_str(a->description, b->description, id);
    cr_expect(json_equal(a->metadata, b->metadata), "%s: metadata", id);
    cr_expect(a->set_params_by_id == b->set_params_by_id ||
              json_equal(a->set_params_by_id, b->set_params_by_id), "%s", id);
    cr_expect_eq(a->unload_timeout, b->unload_timeout, "%s", id);
    cr_expect_eq(a->send_loading_state, b->send_loading_state, "%s", id);
    cr_expect(!memcmp(&a->timeouts, &b->timeouts, sizeof a->timeouts), "%s: timeouts", id);
    cr_expect_eq(a->ignore_websockets, b->ignore_websockets, "%s", id);
    cr_expect(!memcmp(&a->caps, &b->caps, sizeof a->caps), "%s: capabilities", id);
    cr_expect_eq(a->priority, b->priority, "%s", id);
    cr_expect_eq(a->memory, b->memory, "%s: memory %lld vs %lld", id, a->memory, b->memory);
    cr_expect_eq(a->swappable, b->swappable, "%s", id);
    cr_expect_eq(a->slot_cache, b->slot_cache, "%s", id);
    cr_expect_eq(a->group, b->group, "%s", id);
    cr_expect_eq(a->line, b->line, "%s: line %d vs %d", id, a->line, b->line);
    cr_expect(gs_config_model_same_process(a, b), "%s", id);
}

static void expect_config(const gs_config *a, const gs_config *b)
{
    expect_str(a->path, b->path, "path");
    cr_expect_eq(a->health_check_timeout, b->health_check_timeout);
    expect_str(a->log_level, b->log_level, "logLevel");
    cr_expect_eq(a->start_port, b->start_port);
    cr_expect_eq(a->global_ttl, b->global_ttl);
    cr_expect_eq(a->napi_keys, b->napi_keys);
    cr_expect_eq(a->npreload, b->npreload);
    cr_assert_eq(a->nmodels, b->nmodels);
    for (int i = 0; i < a->nmodels; i++)
        expect_model(&a->models[i], &b->models[i]);
    cr_assert_eq(a->ngroups, b->ngroups);
    for (int i = 0; i < a->ngroups; i++) {
        const gs_group_cfg *x = &a->groups[i], *y = &b->groups[i];
        expect_str(x->id, y->id, "group");
        cr_expect_eq(x->swap, y->swap, "%s", y->id);
        cr_expect_eq(x->exclusive, y->exclusive, "%s", y->id);
        cr_expect_eq(x->persistent, y->persistent, "%s", y->id);
        cr_assert_eq(x->nmembers, y->nmembers, "%s", y->id);
        for (int k = 0; k < x->nmembers; k++)
            cr_expect_eq(x->members[k], y->members[k], "%s[%d]", y->id, k);
    }
    cr_expect_eq(a->unload_timeout, b->unload_timeout);
    cr_expect_eq(a->send_loading_state, b->send_loading_state);
    cr_expect_eq(a->include_aliases_in_list, b->include_aliases_in_list);
    cr_expect_eq(a->log_to_stdout, b->log_to_stdout);
    expect_str(a->store_path, b->store_path, "store.path");
    expect_strv(a->ignore_paths, a->nignore_paths, b->ignore_paths, b->nignore_paths, "ignorePaths");
    cr_expect_eq(a->router, b->router);
    cr_expect_eq(a->npeers + a->nselectors + a->nprofiles, b->npeers + b->nselectors + b->nprofiles);
    cr_expect_eq(a->memory.enabled, b->memory.enabled);
    cr_expect_eq(a->memory.ram_auto, b->memory.ram_auto);
    cr_expect_eq(a->memory.ram, b->memory.ram);
    cr_expect_eq(a->memory.gpu_auto, b->memory.gpu_auto);
    cr_assert_eq(a->memory.ngpu, b->memory.ngpu);
    for (int i = 0; i < a->memory.ngpu; i++)
        cr_expect_eq(a->memory.gpu[i], b->memory.gpu[i]);
    cr_expect_eq(a->memory.margin, b->memory.margin);
    cr_expect_eq(a->slot_cache.enabled, b->slot_cache.enabled);
    cr_expect_eq(a->slot_cache.max_size, b->slot_cache.max_size);
    cr_expect_eq(a->slot_cache.save_timeout_ms, b->slot_cache.save_timeout_ms);
    expect_str(a->slot_cache.path, b->slot_cache.path, "slotCache.path");
    cr_expect_eq(a->ncors_origins, b->ncors_origins);
    cr_expect_eq(gs_config_ignore_path(a, "/x.js"), gs_config_ignore_path(b, "/x.js"));
    cr_expect_eq(gs_config_ignore_path(a, "/v1/chat"), gs_config_ignore_path(b, "/v1/chat"));
}

/* A scan of `n` models (chat, embedding, reranker and vision in turn, odd paths among them)
 * with settings text `st`, both ways. */
static void both_ways(int n, const char *st, const char *llama)
{
    gs_scan_result r = {0};
    for (int i = 0; i < n; i++) {
        char name[64], path[128];
        snprintf(name, sizeof name, "m%03d:%s", (i * 37) % 1000, i % 4 == 1 ? "embed" : "7b");
        snprintf(path, sizeof path, i % 5 == 3 ? "/m/it's \"q\" ${x} %d.gguf" : "/m/f%d.gguf", i);
        gs_kind k = i % 4 == 1 ? GS_KIND_EMBEDDING : i % 4 == 2 ? GS_KIND_RERANKER
                  : i % 4 == 3 ? GS_KIND_VISION : GS_KIND_CHAT;
        add_model(&r, name, path, k, i % 3 ? 4096 : 0, k == GS_KIND_VISION ? "/m/mmproj.gguf" : NULL);
    }
    r.dirs = gs_mem_calloc(2, sizeof *r.dirs);
    r.dirs[0] = gs_mem_strdup("/m");
    r.ndirs = 1;
    gs_settings s;
    gs_settings_init(&s);
    gs_diag d = {0};
    if (st)
        cr_assert_eq(gs_settings_parse(st, strlen(st), "s.yaml", &s, &d), 0, "%s", st);
    gs_gen_plan p;
    gs_gen_plan_make(&r, &s, llama, "/h/settings.yaml", NULL, &d, &p);
    char *text = gs_gen_emit(&p);
    gs_config *parsed = NULL, *built = NULL;
    gs_diag pd = {0}, bd = {0};
    int prc = gs_config_parse(text, strlen(text), "/h/config.yaml", &parsed, &pd);
    char *all = gs_diag_join(&pd);
    cr_assert_eq(prc, 0, "%s", all);
    free(all);
    int brc = gs_genconf_build(&p, text, "/h/config.yaml", &built, &bd);
    all = gs_diag_join(&bd);
    cr_assert_eq(brc, 0, "%s", all);
    free(all);
    cr_expect_eq(bd.n, pd.n, "the same warnings");
    expect_config(built, parsed);
    gs_config_free(built);
    gs_config_free(parsed);
    gs_diag_free(&pd);
    gs_diag_free(&bd);
    gs_diag_free(&d);
    free(text);
    gs_gen_plan_free(&p);
    gs_settings_free(&s);
    gs_scan_result_free(&r);
}

Test(genconf, equals_the_loaded_text_table)
{
    static const struct {
        int n;
        const char *settings;
        const char *llama;
    } t[] = {
        {0, NULL, NULL},
        {1, NULL, "/usr/bin/llama-server"},
        {7, NULL, "/o p/llama-server"},
        {12, "memory: false\nttl: 0\nlogLevel: debug\nhealthCheckTimeout: 30\n", NULL},
        {9, "memory: {ram: 24GiB, gpu: [8GiB, 512MiB], margin: 1.5GiB}\nextraArgs: \"-ngl 99 --x 'a b'\"\n"
            "models:\n  \"m000:7b\": {memory: 6GiB, swappable: false, ttl: 9, aliases: [mine, other]}\n"
            "  \"m037:embed\": {disabled: true}\n",
         "/x/llama-server"},
        {4, "memory: {gpu: auto}\nstartPort: 9000\nctxSizeMax: 0\n", NULL},
        {200, NULL, "/usr/bin/llama-server"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        both_ways(t[i].n, t[i].settings, t[i].llama);
}
