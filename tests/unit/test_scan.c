#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "gen.h"
#include "buf.h"
#include "ggufw.h"
#include "log.h"
#include "mem.h"
#include "scan.h"
#include "strv.h"

static char root[256];

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st, (void)flag, (void)f;
    chmod(p, 0755);
    return remove(p);
}

static void setup(void)
{
    gs_log_set_quiet(1);
    strcpy(root, "/tmp/ggswap-scan-XXXXXX");
    cr_assert_not_null(mkdtemp(root));
}

static void teardown(void)
{
    /* unreadable entries first get their permissions back so that nftw can enter them */
    char cmd[300];
    snprintf(cmd, sizeof cmd, "chmod -R u+rwx '%s' 2>/dev/null", root);
    if (system(cmd)) {
    }
    nftw(root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* As root every file is readable; to see permission errors, become nobody (the test runs in
 * its own process) after handing the tree over, so that teardown can still remove it. */
static bool drop_root(void)
{
    if (geteuid() != 0)
        return true;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "chown -R 65534:65534 '%s'", root);
    if (system(cmd) != 0 || setgroups(0, NULL) != 0 || setresgid(65534, 65534, 65534) != 0 ||
        setresuid(65534, 65534, 65534) != 0)
        return false;
    return true;
}

static char *P(const char *rel) { return gs_mem_printf("%s/%s", root, rel); }

static void mkdirs(const char *rel)
{
    char *p = P(rel);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "mkdir -p \"%s\"", p);
    cr_assert_eq(system(cmd), 0);
    free(p);
}

/* A header-only GGUF with the facts discovery reads. */
static void mk(const char *rel, const char *arch, const char *label, uint32_t ctx, int pooling, bool tmpl)
{
    char *path = P(rel);
    gs_gguf_writer *w = gs_gguf_writer_new();
    gs_gguf_writer_str(w, "general.architecture", arch);
    if (label)
        gs_gguf_writer_str(w, "general.size_label", label);
    char k[128];
    if (ctx) {
        snprintf(k, sizeof k, "%s.context_length", arch);
        gs_gguf_writer_u32(w, k, ctx);
    }
    if (pooling >= 0) {
        snprintf(k, sizeof k, "%s.pooling_type", arch);
        gs_gguf_writer_u32(w, k, (uint32_t)pooling);
    }
    if (tmpl)
        gs_gguf_writer_str(w, "tokenizer.chat_template", "{% for m in messages %}{{ m.content }}{% endfor %}");
    cr_assert_eq(gs_gguf_writer_save(w, path), 0, "%s", path);
    gs_gguf_writer_free(w);
    free(path);
}

static void write_bytes(const char *rel, const void *data, size_t n)
{
    char *p = P(rel);
    FILE *f = fopen(p, "wb");
    cr_assert_not_null(f);
    fwrite(data, 1, n, f);
    fclose(f);
    free(p);
}

static void make_library(void)
{
    mkdirs("models/vision");
    mkdirs("models/big");
    mkdirs("models/.hidden");
    mk("models/llama-3.2-1b-instruct-q4_k_m.gguf", "llama", "1B", 131072, -1, true);
    mk("models/Qwen2.5-7B-Instruct-Q4_K_M.gguf", "qwen2", "7B", 32768, -1, true);
    mk("models/nomic-embed-text-v1.5.Q8_0.gguf", "nomic-bert", "137M", 2048, 1, false);
    mk("models/bge-reranker-v2-m3-Q8_0.gguf", "bert", "568M", 8192, 4, false);
    mk("models/vision/gemma-3-4b-it-Q4_K_M.gguf", "gemma3", "4B", 131072, -1, true);
    mk("models/vision/mmproj-model-f16.gguf", "clip", NULL, 0, -1, false);
    mk("models/big/Llama-3.3-70B-Instruct-Q4_K_M-00001-of-00002.gguf", "llama", "70B", 131072, -1, true);
    write_bytes("models/big/Llama-3.3-70B-Instruct-Q4_K_M-00002-of-00002.gguf", "not a header", 12);
    mk("models/SmolLM2-360M-Instruct-Q8_0.GGUF", "llama", "360M", 8192, -1, true);
    mk("models/.hidden/secret-7b.gguf", "llama", "7B", 4096, -1, true);
    write_bytes("models/README.txt", "hello", 5);
    write_bytes("models/corrupt.gguf", "GGUF\x03\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff", 16);
}

static gs_scan_model *find(gs_scan_result *r, const char *name)
{
    for (int i = 0; i < r->nmodels; i++)
        if (!strcmp(r->models[i].name, name))
            return &r->models[i];
    return NULL;
}

static bool has_alias(const gs_scan_model *m, const char *a)
{
    for (int i = 0; m && i < m->naliases; i++)
        if (!strcmp(m->aliases[i], a))
            return true;
    return false;
}

static bool has_problem(const gs_scan_result *r, const char *needle)
{
    for (int i = 0; i < r->nproblems; i++)
        if (strstr(r->problems[i], needle))
            return true;
    return false;
}

TestSuite(scan, .init = setup, .fini = teardown);

Test(scan, finds_names_kinds_pairs_and_aliases)
{
    make_library();
    char *models = P("models");
    const char *dirs[] = {models};
    gs_scan_result r;
    cr_assert_eq(gs_scan_dirs(dirs, 1, &r), 0);
    cr_expect_eq(r.nmodels, 7, "models: %d", r.nmodels);
    /* sorted by name */
    for (int i = 1; i < r.nmodels; i++)
        cr_expect_lt(strcmp(r.models[i - 1].name, r.models[i].name), 0);

    gs_scan_model *llama = find(&r, "llama3.2:1b-instruct");
    cr_assert_not_null(llama);
    cr_expect_eq(llama->kind, GS_KIND_CHAT);
    cr_expect_eq(llama->params, 1000000000ULL);
    cr_expect_str_eq(llama->params_label, "1B");
    cr_expect_str_eq(llama->quant, "q4_k_m");
    cr_expect_eq(llama->ctx, 131072);

    gs_scan_model *emb = find(&r, "nomic-embed-text");
    cr_assert_not_null(emb);
    cr_expect_eq(emb->kind, GS_KIND_EMBEDDING);
    cr_expect_str_eq(emb->pooling, "mean");
    cr_expect(has_alias(emb, "text-embedding-ada-002"));

    gs_scan_model *rr = find(&r, "bge-reranker-v2:m3");
    cr_assert_not_null(rr);
    cr_expect_eq(rr->kind, GS_KIND_RERANKER);

    gs_scan_model *gem = find(&r, "gemma3:4b-it");
    cr_assert_not_null(gem);
    cr_expect_eq(gem->kind, GS_KIND_VISION);
    cr_assert_not_null(gem->mmproj);
    cr_expect(strstr(gem->mmproj, "vision/mmproj-model-f16.gguf"));

    gs_scan_model *big = find(&r, "llama3.3:70b-instruct");
    cr_assert_not_null(big, "split part 1 is a model");
    cr_expect_eq(big->split_total, 2);
    cr_expect_gt(big->file_size, 12, "both parts counted");
    cr_expect(has_alias(big, "gpt-4"));
    cr_expect(has_alias(big, "text-davinci-003"));

    gs_scan_model *smol = find(&r, "smollm2:360m-instruct");
    cr_assert_not_null(smol, "upper-case .GGUF is found");
    cr_expect(has_alias(smol, "gpt-3.5-turbo"));
    cr_expect_not(has_alias(llama, "gpt-3.5-turbo"));

    cr_expect_null(find(&r, "secret:7b"), "hidden folders are skipped");
    cr_expect(has_problem(&r, "corrupt.gguf"), "the corrupt file is reported");
    cr_expect_eq(r.nproblems, 1);
    cr_expect_eq(r.nmmproj, 1);
    gs_scan_result_free(&r);
    free(models);
}

Test(scan, symlink_loops_links_unreadable_and_truncated)
{
    mkdirs("lib/a/b");
    mk("lib/a/b/phi-2.Q4_K_M.gguf", "phi2", "2.7B", 2048, -1, false);
    char *t = P("lib/a/b/loop");
    cr_assert_eq(symlink("../..", t), 0); /* lib/a/b/loop -> lib/a */
    free(t);
    t = P("lib/again.gguf");
    cr_assert_eq(symlink("a/b/phi-2.Q4_K_M.gguf", t), 0); /* the same file twice */
    free(t);
    t = P("lib/broken.gguf");
    cr_assert_eq(symlink("nowhere.gguf", t), 0);
    free(t);
    /* a model outside the folder, reached through a symlinked folder */
    mkdirs("elsewhere");
    mk("elsewhere/qwen3-4b-Q8_0.gguf", "qwen3", "4B", 40960, -1, true);
    t = P("lib/linked");
    char *e = P("elsewhere");
    cr_assert_eq(symlink(e, t), 0);
    free(t);
    free(e);
    /* truncated: a valid header cut in the middle */
    mk("lib/truncated-1b.gguf", "llama", "1B", 2048, -1, true);
    t = P("lib/truncated-1b.gguf");
    struct stat st;
    cr_assert_eq(stat(t, &st), 0);
    cr_assert_eq(truncate(t, st.st_size / 2), 0);
    free(t);
    mk("lib/locked-3b.gguf", "llama", "3B", 2048, -1, true);
    t = P("lib/locked-3b.gguf");
    chmod(t, 0);
    free(t);
    mkdirs("lib/closed");
    mk("lib/closed/inside-1b.gguf", "llama", "1B", 2048, -1, true);
    t = P("lib/closed");
    chmod(t, 0);
    free(t);

    char *lib = P("lib");
    const char *dirs[] = {lib, lib}; /* the same folder twice is scanned once */
    gs_scan_result r;
    bool root_user = !drop_root();
    cr_assert_eq(gs_scan_dirs(dirs, 2, &r), 0);
    cr_expect_eq(r.nmodels, root_user ? 4 : 2, "models: %d", r.nmodels);
    for (int i = 0; i < r.nproblems; i++)
        cr_log_info("%s", r.problems[i]);
    cr_assert_not_null(find(&r, "phi2"));
    cr_assert_not_null(find(&r, "qwen3:4b"));
    cr_expect(has_problem(&r, "truncated-1b.gguf"));
    cr_expect(has_problem(&r, "broken.gguf"));
    if (!root_user) {
        cr_expect(has_problem(&r, "locked-3b.gguf"));
        cr_expect(has_problem(&r, "closed"));
    }
    gs_scan_result_free(&r);
    free(lib);
}

Test(scan, missing_folders_are_quiet)
{
    char *m = P("nothing-here");
    const char *dirs[] = {m};
    gs_scan_result r;
    cr_assert_eq(gs_scan_dirs(dirs, 1, &r), 0);
    cr_expect_eq(r.nmodels, 0);
    cr_expect_eq(r.nproblems, 0);
    cr_expect_eq(r.ndirs, 1);
    cr_expect_str_eq(r.dirs[0], m);
    gs_scan_result_free(&r);
    free(m);
}

Test(scan, mmproj_pairs_with_the_model_it_names)
{
    mkdirs("v");
    mk("v/gemma-3-4b-it-Q4_K_M.gguf", "gemma3", "4B", 8192, -1, true);
    mk("v/Qwen2.5-VL-7B-Instruct-Q4_K_M.gguf", "qwen2vl", "7B", 8192, -1, true);
    mk("v/mmproj-Qwen2.5-VL-7B-Instruct-f16.gguf", "clip", NULL, 0, -1, false);
    char *v = P("v");
    const char *dirs[] = {v};
    gs_scan_result r;
    gs_scan_dirs(dirs, 1, &r);
    gs_scan_model *q = find(&r, "qwen2.5:vl-7b-instruct");
    cr_assert_not_null(q);
    cr_expect_not_null(q->mmproj);
    cr_expect_eq(q->kind, GS_KIND_VISION);
    gs_scan_model *g = find(&r, "gemma3:4b-it");
    cr_assert_not_null(g);
    cr_expect_null(g->mmproj, "the first by name only gets it when no name matches");
    cr_expect_eq(g->kind, GS_KIND_CHAT);
    gs_scan_result_free(&r);
    free(v);
}

/* ---- the generated config ---- */

static gs_config *parse_ok(const char *text)
{
    gs_config *c = NULL;
    gs_diag d = {0};
    int rc = gs_config_parse(text, strlen(text), "config.yaml", &c, &d);
    char *j = gs_diag_join(&d);
    cr_assert_eq(rc, 0, "%s\n---\n%s", j, text);
    cr_expect_eq(d.warnings, 0, "%s\n---\n%s", j, text);
    free(j);
    gs_diag_free(&d);
    return c;
}

static const gs_model_cfg *model(const gs_config *c, const char *id)
{
    int i = gs_config_find(c, id);
    cr_assert_geq(i, 0, "%s not in config", id);
    return &c->models[i];
}

static int argv_index(const gs_model_cfg *m, const char *w)
{
    for (int i = 0; i < m->argc; i++)
        if (!strcmp(m->argv[i], w))
            return i;
    return -1;
}

/* The last occurrence: extra arguments come after the generated ones (and win). */
static int argv_last(const gs_model_cfg *m, const char *w)
{
    for (int i = m->argc - 1; i >= 0; i--)
        if (!strcmp(m->argv[i], w))
            return i;
    return -1;
}

static const gs_group_cfg *group_of(const gs_config *c, const gs_model_cfg *m)
{
    return &c->groups[m->group];
}

Test(scan, generated_config_loads_and_has_the_flags)
{
    make_library();
    char *models = P("models");
    const char *dirs[] = {models};
    gs_scan_result r;
    gs_scan_dirs(dirs, 1, &r);
    gs_settings s;
    gs_settings_init(&s);
    gs_diag d = {0};
    char *text = gs_gen_config_text(&r, &s, "/opt/llama/llama-server", "/h/settings.yaml", &d);
    cr_expect_eq(d.n, 0);
    cr_expect(strncmp(text, "# Generated by ggswap", 21) == 0);
    cr_expect(strstr(text, "\nhealthCheckTimeout: 120\nlogLevel: info\nmodels:\n"));
    gs_config *c = parse_ok(text);
    cr_expect_eq(c->nmodels, 7);

    const gs_model_cfg *l = model(c, "llama3.2:1b-instruct");
    cr_expect_str_eq(l->argv[0], "/opt/llama/llama-server");
    cr_expect_str_eq(l->argv[1], "-m");
    cr_expect(strstr(l->argv[2], "/models/llama-3.2-1b-instruct-q4_k_m.gguf"));
    int pi = argv_index(l, "--port");
    cr_assert_gt(pi, 0);
    cr_expect_eq(atoi(l->argv[pi + 1]), l->proxy_port);
    int ci = argv_index(l, "--ctx-size");
    cr_assert_gt(ci, 0);
    cr_expect_str_eq(l->argv[ci + 1], "8192", "capped by ctxSizeMax");
    cr_expect_geq(argv_index(l, "--jinja"), 0);
    cr_expect_eq(l->ttl, 300);
    cr_expect_str_eq(json_string_value(json_object_get(l->metadata, "kind")), "chat");
    cr_expect_str_eq(json_string_value(json_object_get(l->metadata, "parameters")), "1B");
    cr_expect_str_eq(json_string_value(json_object_get(l->metadata, "quantization")), "q4_k_m");
    cr_expect_eq(json_integer_value(json_object_get(l->metadata, "context")), 8192);
    cr_expect_str_eq(group_of(c, l)->id, "default_group");
    cr_expect(group_of(c, l)->exclusive);

    const gs_model_cfg *e = model(c, "nomic-embed-text");
    int ei = argv_index(e, "--embeddings");
    cr_assert_geq(ei, 0);
    cr_expect_str_eq(e->argv[ei + 1], "--pooling");
    cr_expect_str_eq(e->argv[ei + 2], "mean");
    cr_expect_lt(argv_index(e, "--jinja"), 0);
    cr_expect_str_eq(group_of(c, e)->id, "embedding_group");
    cr_expect(group_of(c, e)->persistent);
    cr_expect_not(group_of(c, e)->exclusive);
    cr_expect(group_of(c, e)->swap);
    cr_expect_eq(gs_config_find(c, "text-embedding-ada-002"), gs_config_find(c, "nomic-embed-text"));

    const gs_model_cfg *rk = model(c, "bge-reranker-v2:m3");
    cr_expect_geq(argv_index(rk, "--reranking"), 0);
    cr_expect_str_eq(group_of(c, rk)->id, "embedding_group");

    const gs_model_cfg *g = model(c, "gemma3:4b-it");
    int mi = argv_index(g, "--mmproj");
    cr_assert_gt(mi, 0);
    cr_expect(strstr(g->argv[mi + 1], "vision/mmproj-model-f16.gguf"));
    cr_expect_geq(argv_index(g, "--jinja"), 0);
    cr_expect_str_eq(group_of(c, g)->id, "default_group");

    cr_expect_eq(gs_config_find(c, "gpt-4"), gs_config_find(c, "llama3.3:70b-instruct"));
    cr_expect_eq(gs_config_find(c, "gpt-3.5-turbo"), gs_config_find(c, "smollm2:360m-instruct"));

    /* one port per model, from startPort in name order */
    for (int i = 0; i < c->nmodels; i++)
        cr_expect_eq(c->models[i].proxy_port, 5800 + i, "%s", c->models[i].id);

    /* byte-for-byte stable */
    char *again = gs_gen_config_text(&r, &s, "/opt/llama/llama-server", "/h/settings.yaml", &d);
    cr_expect_str_eq(text, again);
    free(again);
    gs_config_free(c);
    free(text);
    gs_diag_free(&d);
    gs_settings_free(&s);
    gs_scan_result_free(&r);
    free(models);
}

Test(scan, hostile_paths_round_trip)
{
    const char *weird = "we ird \"q\" it's $HOME ${PORT} ${nope} `x` back\\slash #h";
    char *dir = P(weird);
    cr_assert_eq(mkdir(dir, 0755), 0);
    char *rel = gs_mem_printf("%s/Mistral-7B-Instruct-v0.3.Q4_K_M.gguf", weird);
    mk(rel, "llama", "7B", 32768, -1, true);
    char *rel2 = gs_mem_printf("%s/mmproj-$x-f16.gguf", weird);
    mk(rel2, "clip", NULL, 0, -1, false);
    const char *dirs[] = {dir};
    gs_scan_result r;
    gs_scan_dirs(dirs, 1, &r);
    cr_assert_eq(r.nmodels, 1);
    gs_settings s;
    gs_settings_init(&s);
    const char *extra[] = {"--alias", "${MODEL_ID} it's", NULL};
    s.extra_args = gs_mem_calloc(3, sizeof(char *));
    s.extra_args[0] = gs_mem_strdup(extra[0]);
    s.extra_args[1] = gs_mem_strdup(extra[1]);
    s.nextra = 2;
    gs_diag d = {0};
    const char *srv = "/opt/my $dir/llama \"server\"";
    char *text = gs_gen_config_text(&r, &s, srv, NULL, &d);
    gs_config *c = parse_ok(text);
    const gs_model_cfg *m = model(c, "mistral:7b-instruct");
    char *want = gs_mem_printf("%s/Mistral-7B-Instruct-v0.3.Q4_K_M.gguf", dir);
    cr_assert_geq(m->argc, 3);
    cr_expect_str_eq(m->argv[0], srv);
    cr_expect_str_eq(m->argv[1], "-m");
    cr_expect_str_eq(m->argv[2], want);
    int mi = argv_index(m, "--mmproj");
    cr_assert_gt(mi, 0);
    char *want2 = gs_mem_printf("%s/mmproj-$x-f16.gguf", dir);
    cr_expect_str_eq(m->argv[mi + 1], want2);
    cr_expect_str_eq(m->argv[argv_index(m, "--alias") + 1], m->id, "the generated --alias");
    int ai = argv_last(m, "--alias");
    cr_assert_gt(ai, 0);
    cr_expect_str_eq(m->argv[ai + 1], "${MODEL_ID} it's", "extra args are literal words");
    gs_config_free(c);
    free(want);
    free(want2);
    free(text);
    gs_diag_free(&d);
    gs_settings_free(&s);
    gs_scan_result_free(&r);
    free(rel);
    free(rel2);
    free(dir);
}

Test(scan, settings_override_ttl_args_aliases_disabled)
{
    make_library();
    static const char settings[] =
        "listen: 127.0.0.1:9000\n"
        "ttl: 120\n"
        "ctxSizeMax: 4096\n"
        "extraArgs: [-ngl, \"99\"]\n"
        "startPort: 6000\n"
        "healthCheckTimeout: 60\n"
        "models:\n"
        "  \"llama3.2:1b-instruct\": {ttl: 900, extraArgs: [--temp, \"0.2\"], aliases: [my-small, gpt-4], ctxSize: 16384}\n"
        "  \"smollm2:360m-instruct\": {disabled: true}\n"
        "  \"not-there\": {ttl: 5}\n";
    gs_settings s;
    gs_settings_init(&s);
    gs_diag d = {0};
    cr_assert_eq(gs_settings_parse(settings, strlen(settings), "settings.yaml", &s, &d), 0);
    cr_expect_eq(d.n, 0);
    cr_expect_str_eq(s.listen, "127.0.0.1:9000");
    char *models = P("models");
    const char *dirs[] = {models};
    gs_scan_result r;
    gs_scan_dirs(dirs, 1, &r);
    char *text = gs_gen_config_text(&r, &s, "/usr/bin/llama-server", "settings.yaml", &d);
    cr_expect_eq(d.warnings, 1, "not-there is reported");
    cr_expect(d.n && strstr(d.msgs[0], "settings.yaml:10:") && strstr(d.msgs[0], "not-there"),
              "%s", d.n ? d.msgs[0] : "");
    gs_config *c = parse_ok(text);
    cr_expect_eq(c->health_check_timeout, 60);
    cr_expect_lt(gs_config_find(c, "smollm2:360m-instruct"), 0, "disabled models are omitted");
    const gs_model_cfg *l = model(c, "llama3.2:1b-instruct");
    cr_expect_eq(l->ttl, 900);
    cr_expect_eq(gs_config_find(c, "my-small"), gs_config_find(c, "llama3.2:1b-instruct"));
    cr_expect_eq(gs_config_find(c, "gpt-4"), gs_config_find(c, "llama3.2:1b-instruct"),
                 "a user alias wins over the automatic one");
    int ng = argv_index(l, "-ngl"), tp = argv_index(l, "--temp");
    cr_assert_gt(ng, 0);
    cr_assert_gt(tp, ng, "global extraArgs come first");
    cr_expect_str_eq(l->argv[ng + 1], "99");
    cr_expect_str_eq(l->argv[tp + 1], "0.2");
    cr_expect_str_eq(l->argv[argv_index(l, "--ctx-size") + 1], "16384");
    const gs_model_cfg *q = model(c, "qwen2.5:7b-instruct");
    cr_expect_eq(q->ttl, 120);
    cr_expect_str_eq(q->argv[argv_index(q, "--ctx-size") + 1], "4096");
    cr_expect_eq(c->models[0].proxy_port, 6000);
    /* the smallest chat model under 4B is now the 1B one */
    cr_expect_eq(gs_config_find(c, "gpt-3.5-turbo"), gs_config_find(c, "llama3.2:1b-instruct"));
    gs_config_free(c);
    free(text);
    gs_diag_free(&d);
    gs_settings_free(&s);
    gs_scan_result_free(&r);
    free(models);
}

Test(scan, settings_errors_name_file_line_and_key)
{
    static const char bad[] = "ttl: soon\nmodels:\n  x: {disabled: maybe, colour: red}\nfoo: 1\n";
    gs_settings s;
    gs_settings_init(&s);
    gs_diag d = {0};
    cr_expect_eq(gs_settings_parse(bad, strlen(bad), "/h/settings.yaml", &s, &d), -EINVAL);
    char *j = gs_diag_join(&d);
    cr_expect(strstr(j, "/h/settings.yaml:1: error: ttl:"), "%s", j);
    cr_expect(strstr(j, "/h/settings.yaml:3: error: models.x.disabled:"), "%s", j);
    cr_expect(strstr(j, "/h/settings.yaml:3: warning: models.x.colour: unknown key"), "%s", j);
    cr_expect(strstr(j, "/h/settings.yaml:4: warning: foo: unknown key"), "%s", j);
    cr_expect_eq(s.ttl, 300);
    free(j);
    gs_diag_free(&d);
    gs_settings_free(&s);

    static const char syn[] = "ttl: 1\n  - [\n";
    gs_settings_init(&s);
    cr_expect_eq(gs_settings_parse(syn, strlen(syn), "s.yaml", &s, &d), -EINVAL);
    cr_expect_gt(d.errors, 0);
    cr_expect(strstr(d.msgs[0], "s.yaml:"));
    gs_diag_free(&d);
    gs_settings_free(&s);
}

static void make_exe(const char *rel)
{
    char *p = P(rel);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0755);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, "#!/bin/sh\n", 10), 10);
    close(fd);
    free(p);
}

Test(scan, llama_server_lookup_order)
{
    mkdirs("bin1");
    mkdirs("bin2");
    mkdirs("envdir");
    make_exe("bin2/llama-server");
    make_exe("envdir/llama-server");
    char *b1 = P("bin1"), *b2 = P("bin2"), *path = gs_mem_printf("%s:%s", b1, b2);
    setenv("PATH", path, 1);
    unsetenv("GGSWAP_LLAMA_SERVER");
    char **looked = NULL;
    int nl = 0;
    char *f = gs_gen_find_llama_server(NULL, NULL, &looked, &nl);
    char *want = gs_mem_printf("%s/llama-server", b2);
    cr_expect_str_eq(f, want);
    cr_expect_geq(nl, 2);
    free(f);
    gs_strv_free(looked);

    char *envp = P("envdir/llama-server");
    setenv("GGSWAP_LLAMA_SERVER", envp, 1);
    gs_settings s;
    gs_settings_init(&s);
    s.llama_server = gs_mem_strdup("/nonexistent/llama-server");
    f = gs_gen_find_llama_server(NULL, &s, NULL, NULL);
    cr_expect_str_eq(f, envp, "the environment comes before settings");
    free(f);
    f = gs_gen_find_llama_server(want, &s, NULL, NULL);
    cr_expect_str_eq(f, want, "an explicit path comes first");
    free(f);

    setenv("PATH", b1, 1);
    unsetenv("GGSWAP_LLAMA_SERVER");
    f = gs_gen_find_llama_server(NULL, &s, &looked, &nl);
    cr_expect_null(f);
    bool saw_settings = false;
    for (int i = 0; i < nl; i++)
        saw_settings |= strstr(looked[i], "/nonexistent/llama-server (llamaServer in settings.yaml)") != NULL;
    cr_expect(saw_settings);
    gs_strv_free(looked);
    gs_settings_free(&s);
    free(b1);
    free(b2);
    free(path);
    free(want);
    free(envp);
}

static char *slurp(const char *p)
{
    FILE *f = fopen(p, "rb");
    if (!f)
        return NULL;
    gs_buf b;
    gs_buf_init(&b, 0);
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        gs_buf_append(&b, tmp, n);
    fclose(f);
    gs_buf_append(&b, "", 0);
    return gs_buf_steal(&b);
}

Test(scan, integrated_writes_home_and_says_what_is_missing)
{
    make_library();
    mkdirs("empty-bin");
    char *eb = P("empty-bin");
    setenv("PATH", eb, 1);
    unsetenv("GGSWAP_LLAMA_SERVER");
    char *home = P("home/deep/ggswap");
    char *models = P("models");
    const char *dirs[] = {models};
    gs_gen_opts o = {.home = home, .models_dirs = dirs, .nmodels_dirs = 1};
    gs_gen_result r;
    cr_assert_eq(gs_gen_integrated(&o, &r), 0, "%s", r.error ? r.error : "");
    char *cfg = gs_mem_printf("%s/config.yaml", home);
    cr_expect_str_eq(r.config_path, cfg);
    cr_expect_null(r.llama_server);
    cr_expect_eq(r.nmodels, 7);
    bool no_server = false, corrupt = false;
    for (int i = 0; i < r.nproblems; i++) {
        no_server |= strstr(r.problems[i], "No llama-server found") && strstr(r.problems[i], "settings.yaml");
        corrupt |= strstr(r.problems[i], "corrupt.gguf") != NULL;
    }
    cr_expect(no_server);
    cr_expect(corrupt);
    char *first = slurp(cfg);
    cr_assert_not_null(first);
    gs_config *c = parse_ok(first);
    gs_config_free(c);
    char *sp = gs_mem_printf("%s/settings.yaml", home);
    cr_expect_eq(access(sp, F_OK), 0, "a commented settings.yaml is created");
    gs_gen_result_free(&r);

    /* again: the same bytes, and the commented settings file changes nothing */
    cr_assert_eq(gs_gen_integrated(&o, &r), 0);
    char *second = slurp(cfg);
    cr_expect_str_eq(first, second);
    gs_gen_result_free(&r);

    /* no models: the sentence names the folders and the setting */
    char *none = P("empty-models");
    const char *nd[] = {none};
    gs_gen_opts o2 = {.home = home, .models_dirs = nd, .nmodels_dirs = 1};
    cr_assert_eq(gs_gen_integrated(&o2, &r), 0);
    cr_expect_eq(r.nmodels, 0);
    bool said = false;
    for (int i = 0; i < r.nproblems; i++)
        said |= strstr(r.problems[i], "No .gguf models found in: ") && strstr(r.problems[i], none) &&
                strstr(r.problems[i], "modelsDirs");
    cr_expect(said);
    char *empty = slurp(cfg);
    c = parse_ok(empty);
    cr_expect_eq(c->nmodels, 0);
    gs_config_free(c);
    gs_gen_result_free(&r);

    /* a broken settings.yaml stops generation with file:line */
    FILE *f = fopen(sp, "w");
    fputs("ttl: -5\n", f);
    fclose(f);
    cr_expect_eq(gs_gen_integrated(&o, &r), -EINVAL);
    cr_expect(r.error && strstr(r.error, "settings.yaml:1:"), "%s", r.error ? r.error : "");
    gs_gen_result_free(&r);

    free(first);
    free(second);
    free(empty);
    free(none);
    free(sp);
    free(cfg);
    free(home);
    free(models);
    free(eb);
}

Test(scan, cli_usage_and_outputs)
{
    make_library();
    char *models = P("models");
    char *home = P("h");
    char *out = P("out.yaml");
    char *argv1[] = {"generate", "--home", home, "--models-dir", models, "--output", out, NULL};
    cr_expect_eq(gs_gen_main(7, argv1), 0);
    char *text = slurp(out);
    cr_assert_not_null(text);
    gs_config_free(parse_ok(text));
    free(text);
    char *argv2[] = {"generate", "--bogus", NULL};
    cr_expect_eq(gs_gen_main(2, argv2), 2);
    char *argv3[] = {"scan", "--models-dir", NULL};
    cr_expect_eq(gs_scan_main(2, argv3), 2);
    setenv("GGSWAP_HOME", home, 1);
    char *argv4[] = {"scan", "--models-dir", models, "--json", NULL};
    cr_expect_eq(gs_scan_main(4, argv4), 0);
    char *argv5[] = {"scan", "--models-dir", models, NULL};
    cr_expect_eq(gs_scan_main(3, argv5), 0);
    free(models);
    free(home);
    free(out);
}

/* ---- ports stay with their model across regenerations ---- */

static int port_in(const char *text, const char *id)
{
    gs_config *c = parse_ok(text);
    int i = gs_config_find(c, id);
    int p = i >= 0 ? c->models[i].proxy_port : -1;
    if (i >= 0) {
        const gs_model_cfg *m = &c->models[i];
        int pi = argv_index(m, "--port");
        cr_expect(pi > 0 && atoi(m->argv[pi + 1]) == p, "%s: --port matches proxy", id);
    }
    gs_config_free(c);
    return p;
}

static char *generate_into(const char *home, const char *models)
{
    const char *dirs[] = {models};
    gs_gen_opts o = {.home = home, .models_dirs = dirs, .nmodels_dirs = 1, .llama_server = "/bin/sh"};
    gs_gen_result r;
    cr_assert_eq(gs_gen_integrated(&o, &r), 0, "%s", r.error ? r.error : "");
    char *text = slurp(r.config_path);
    cr_assert_not_null(text);
    gs_gen_result_free(&r);
    return text;
}

Test(scan, regenerating_keeps_ports_of_models_still_there)
{
    mkdirs("m");
    mk("m/alpha-1b.Q4_K_M.gguf", "llama", "1B", 2048, -1, true);
    mk("m/charlie-1b.Q4_K_M.gguf", "llama", "1B", 2048, -1, true);
    char *home = P("home"), *models = P("m");

    char *t1 = generate_into(home, models);
    int a = port_in(t1, "alpha:1b"), c = port_in(t1, "charlie:1b");
    cr_expect_eq(a, 5800);
    cr_expect_eq(c, 5801);

    /* bravo sorts between them: it gets a new port, the others keep theirs */
    mk("m/bravo-1b.Q4_K_M.gguf", "llama", "1B", 2048, -1, true);
    char *t2 = generate_into(home, models);
    cr_expect_eq(port_in(t2, "alpha:1b"), a);
    cr_expect_eq(port_in(t2, "charlie:1b"), c);
    int b = port_in(t2, "bravo:1b");
    cr_expect_eq(b, 5802);

    /* an unchanged rescan gives the same bytes */
    char *t3 = generate_into(home, models);
    cr_expect_str_eq(t2, t3);

    /* alpha goes: charlie and bravo keep theirs; alpha's port is free for the next new model */
    char *f = P("m/alpha-1b.Q4_K_M.gguf");
    cr_assert_eq(unlink(f), 0);
    free(f);
    char *t4 = generate_into(home, models);
    cr_expect_lt(port_in(t4, "alpha:1b"), 0);
    cr_expect_eq(port_in(t4, "charlie:1b"), c);
    cr_expect_eq(port_in(t4, "bravo:1b"), b);
    mk("m/delta-1b.Q4_K_M.gguf", "llama", "1B", 2048, -1, true);
    char *t5 = generate_into(home, models);
    cr_expect_eq(port_in(t5, "delta:1b"), 5800, "the lowest free port");
    cr_expect_eq(port_in(t5, "charlie:1b"), c);
    cr_expect_eq(port_in(t5, "bravo:1b"), b);

    /* a changed startPort (up or down) assigns every port again, in name order */
    char *sp = gs_mem_printf("%s/settings.yaml", home);
    FILE *sf = fopen(sp, "w");
    cr_assert_not_null(sf);
    fputs("startPort: 5700\n", sf);
    fclose(sf);
    char *t6 = generate_into(home, models);
    cr_expect_eq(port_in(t6, "bravo:1b"), 5700);
    cr_expect_eq(port_in(t6, "charlie:1b"), 5701);
    cr_expect_eq(port_in(t6, "delta:1b"), 5702);
    sf = fopen(sp, "w");
    fputs("startPort: 6000\n", sf);
    fclose(sf);
    char *t7 = generate_into(home, models);
    cr_expect_eq(port_in(t7, "bravo:1b"), 6000);
    cr_expect_eq(port_in(t7, "delta:1b"), 6002);

    free(t1);
    free(t2);
    free(t3);
    free(t4);
    free(t5);
    free(t6);
    free(t7);
    free(sp);
    free(home);
    free(models);
}

Test(scan, previous_ports_from_text_and_from_an_output_file)
{
    mkdirs("m");
    mk("m/alpha-1b.Q4_K_M.gguf", "llama", "1B", 2048, -1, true);
    mk("m/charlie-1b.Q4_K_M.gguf", "llama", "1B", 2048, -1, true);
    char *models = P("m");
    const char *dirs[] = {models};
    gs_settings s;
    gs_settings_init(&s);
    gs_diag d = {0};

    /* a previous file without the startPort line (an older ggswap), hand-made ports, one of them
     * taken twice: the first keeps it, the other gets the lowest free port */
    static const char old[] =
        "models:\n"
        "  \"alpha:1b\":\n    proxy: \"http://127.0.0.1:5900\"\n    cmd: llama-server --port 5900\n"
        "  \"charlie:1b\":\n    proxy: \"http://127.0.0.1:5900\"\n    cmd: llama-server --port 5900\n"
        "  \"gone:1b\":\n    proxy: \"http://127.0.0.1:5800\"\n    cmd: llama-server --port 5800\n";
    gs_genports prev;
    cr_assert_eq(gs_genports_parse(old, strlen(old), "old.yaml", &prev), 0);
    cr_expect_eq(prev.n, 3);
    cr_expect_eq(prev.start_port, 0);
    gs_scan_result r;
    gs_scan_dirs(dirs, 1, &r);
    char *t = gs_gen_config_text_prev(&r, &s, "/bin/sh", "settings.yaml", &prev, &d);
    cr_expect_eq(port_in(t, "alpha:1b"), 5900);
    cr_expect_eq(port_in(t, "charlie:1b"), 5800);
    gs_genports_free(&prev);

    /* the generated text says its startPort and gives back its own ports */
    cr_assert_eq(gs_genports_parse(t, strlen(t), "t.yaml", &prev), 0);
    cr_expect_eq(prev.start_port, 5800);
    cr_expect_eq(prev.n, 2);
    char *again = gs_gen_config_text_prev(&r, &s, "/bin/sh", "settings.yaml", &prev, &d);
    cr_expect_str_eq(t, again);
    gs_genports_free(&prev);
    free(again);
    free(t);

    /* a previous file that does not load, and one that is not there: from scratch */
    cr_expect_lt(gs_genports_parse("models: [", 9, "bad.yaml", &prev), 0);
    cr_expect_eq(prev.n, 0);
    gs_genports_free(&prev);
    char *nowhere = P("nowhere.yaml");
    cr_expect_eq(gs_genports_load(nowhere, &prev, NULL), 0);
    cr_expect_eq(prev.n, 0);
    gs_genports_free(&prev);
    free(nowhere);
    gs_scan_result_free(&r);

    /* `config generate --output X` keeps X's ports */
    char *home = P("h"), *out = P("out.yaml");
    char *argv[] = {"generate", "--home", home, "--models-dir", models, "--output", out, NULL};
    cr_expect_eq(gs_gen_main(7, argv), 0);
    mk("m/bravo-1b.Q4_K_M.gguf", "llama", "1B", 2048, -1, true);
    cr_expect_eq(gs_gen_main(7, argv), 0);
    char *text = slurp(out);
    cr_assert_not_null(text);
    cr_expect_eq(port_in(text, "alpha:1b"), 5800);
    cr_expect_eq(port_in(text, "charlie:1b"), 5801);
    cr_expect_eq(port_in(text, "bravo:1b"), 5802);
    free(text);
    free(home);
    free(out);
    gs_diag_free(&d);
    gs_settings_free(&s);
    free(models);
}

/* Issue 10: an alias that settings.yaml accepts must give a config.yaml that loads, and one
 * the config would refuse is refused in settings.yaml, naming its line. */
Test(scan, settings_alias_with_a_quote_is_refused_with_its_line)
{
    static const char bad[] = "ttl: 60\nmodels:\n  \"llama3.2:1b-instruct\": {aliases: [my\"alias]}\n";
    gs_settings s;
    gs_settings_init(&s);
    gs_diag d = {0};
    cr_expect_eq(gs_settings_parse(bad, strlen(bad), "/h/settings.yaml", &s, &d), -EINVAL);
    char *j = gs_diag_join(&d);
    cr_expect(strstr(j, "/h/settings.yaml:3: error: ") && strstr(j, "my\"alias"), "%s", j);
    free(j);
    gs_diag_free(&d);
    gs_settings_free(&s);
}

static void yaml_dq(char *out, size_t cap, const char *s)
{
    size_t k = 0;
    out[k++] = '"';
    for (; *s && k + 8 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            k += (size_t)snprintf(out + k, cap - k, "\\%c", ch);
        else if (ch < 0x20 || ch == 0x7f)
            k += (size_t)snprintf(out + k, cap - k, "\\x%02x", ch);
        else
            out[k++] = (char)ch;
    }
    out[k++] = '"';
    out[k] = 0;
}

Test(scan, property_every_accepted_alias_gives_a_config_that_loads)
{
    make_library();
    char *models = P("models");
    const char *dirs[] = {models};
    gs_scan_result r;
    gs_scan_dirs(dirs, 1, &r);
    static const char *const pieces[] = {
        "a", "Z", "7", "-", "_", ".", ":", "\"", "\\", "'", "#", " ", "/", "$", "${", "{", "}",
        "[", "]", ",", "&", "*", "!", "|", ">", "%", "@", "`", "?", "\t", "\n", "\xc3\xa9",
        "gpt-4", "~", "=", "null", "true", "0x1",
    };
    unsigned seed = 12345;
    int accepted = 0;
    for (int iter = 0; iter < 400; iter++) {
        char alias[64] = "";
        int len = 1 + (int)((seed = seed * 1103515245u + 12345u) >> 16) % 5;
        for (int i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            strncat(alias, pieces[(seed >> 16) % (sizeof(pieces) / sizeof(pieces[0]))],
                    sizeof(alias) - strlen(alias) - 1);
        }
        char q[256], yaml[512];
        yaml_dq(q, sizeof(q), alias);
        snprintf(yaml, sizeof(yaml), "models:\n  \"llama3.2:1b-instruct\": {aliases: [%s]}\n", q);
        gs_settings s;
        gs_settings_init(&s);
        gs_diag d = {0};
        int rc = gs_settings_parse(yaml, strlen(yaml), "settings.yaml", &s, &d);
        if (rc == 0) {
            accepted++;
            gs_diag gd = {0};
            char *text = gs_gen_config_text(&r, &s, "/usr/bin/llama-server", "settings.yaml", &gd);
            gs_config *c = NULL;
            gs_diag cd = {0};
            int crc = gs_config_parse(text, strlen(text), "config.yaml", &c, &cd);
            char *why = gs_diag_join(&cd);
            cr_expect_eq(crc, 0, "alias %s accepted by settings.yaml, but config.yaml fails: %s", q,
                         why);
            free(why);
            gs_config_free(c);
            gs_diag_free(&cd);
            gs_diag_free(&gd);
            free(text);
        } else {
            char *j = gs_diag_join(&d);
            cr_expect(strstr(j, "settings.yaml:2: error: "), "alias %s refused without its line: %s",
                      q, j);
            free(j);
        }
        gs_diag_free(&d);
        gs_settings_free(&s);
    }
    cr_expect_gt(accepted, 20, "the property ran on accepted aliases too");
    gs_scan_result_free(&r);
    free(models);
}

/* Memory-aware scheduling is on in the integrated mode unless settings say memory: false; its
 * sizes, and each model's memory and swappable, reach the generated config. */
Test(scan, settings_memory_reach_the_config)
{
    make_library();
    char *models = P("models");
    const char *dirs[] = {models};
    static const struct { const char *settings; bool on; long long ram, margin, mem; bool pinned; } t[] = {
        {"ttl: 60\n", true, -1, 1ll << 30, 0, false},
        {"memory: {ram: 24GiB, gpu: [8GiB, 4GiB], margin: 512MiB}\n"
         "models:\n  \"llama3.2:1b-instruct\": {memory: 6GiB, swappable: false}\n",
         true, 24ll << 30, 512ll << 20, 6ll << 30, true},
        {"memory: false\nmodels:\n  \"llama3.2:1b-instruct\": {memory: 6GiB}\n", false, 0, 0, 0, false},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        gs_settings s;
        gs_settings_init(&s);
        gs_diag d = {0};
        cr_assert_eq(gs_settings_parse(t[i].settings, strlen(t[i].settings), "settings.yaml", &s, &d), 0,
                     "%zu", i);
        gs_scan_result r;
        gs_scan_dirs(dirs, 1, &r);
        char *text = gs_gen_config_text(&r, &s, "/usr/bin/llama-server", "settings.yaml", &d);
        gs_config *c = parse_ok(text);
        cr_expect_eq(c->memory.enabled, t[i].on, "%zu", i);
        const gs_model_cfg *l = model(c, "llama3.2:1b-instruct");
        cr_expect_eq(c->groups[l->group].swap, !t[i].on, "%zu: chat models share the machine with memory on", i);
        cr_expect(c->groups[l->group].exclusive);
        if (t[i].on) {
            cr_expect_eq(c->memory.ram_auto, t[i].ram < 0, "%zu", i);
            if (t[i].ram >= 0)
                cr_expect_eq(c->memory.ram, t[i].ram, "%zu", i);
            cr_expect_eq(c->memory.margin, t[i].margin, "%zu", i);
        }
        cr_expect_eq(l->memory, t[i].mem, "%zu", i);
        cr_expect_eq(l->swappable, !t[i].pinned, "%zu", i);
        if (i == 1) {
            cr_expect(!c->memory.gpu_auto);
            cr_assert_eq(c->memory.ngpu, 2);
            cr_expect_eq(c->memory.gpu[1], 4ll << 30);
        }
        gs_config_free(c);
        free(text);
        gs_diag_free(&d);
        gs_settings_free(&s);
        gs_scan_result_free(&r);
    }
    /* bad values name the key */
    static const char *const bad[] = {"memory: {ram: lots}\n", "memory: {gpu: some}\n", "memory: 5\n",
                                      "models:\n  x: {memory: big}\n", "memory: [1]\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gs_settings s;
        gs_settings_init(&s);
        gs_diag d = {0};
        cr_expect_eq(gs_settings_parse(bad[i], strlen(bad[i]), "settings.yaml", &s, &d), -EINVAL, "%s", bad[i]);
        cr_expect(d.n && strstr(d.msgs[0], "memory"), "%s: %s", bad[i], d.n ? d.msgs[0] : "");
        gs_diag_free(&d);
        gs_settings_free(&s);
    }
    free(models);
}
