/* What `config generate` accepts, the loader loads (issue 10, item 3): each settings.yaml below
 * either is refused by the settings reader with settings.yaml and a line, or gives a
 * config.yaml that gs_config_parse loads without an error or a warning. The rows hold the
 * values most likely to fall between the two readers' rules: quotes, backslashes, `#`, `:`,
 * `${...}`, spaces, newlines, non-ASCII, extremes. fuzz/fuzz_settings.c checks the same
 * property on inputs the fuzzer makes. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "gen.h"
#include "mem.h"
#include "settings.h"

/* Three scanned models (no files: generation only reads the scan). */
static void scan3(gs_scan_result *r)
{
    static const char *const names[] = {"chat:8b", "embed", "vision:2b"};
    static const gs_kind kinds[] = {GS_KIND_CHAT, GS_KIND_EMBEDDING, GS_KIND_VISION};
    memset(r, 0, sizeof *r);
    r->models = gs_mem_calloc(4, sizeof *r->models);
    r->nmodels = 3;
    for (int i = 0; i < 3; i++) {
        gs_scan_model *m = &r->models[i];
        m->name = gs_mem_strdup(names[i]);
        m->path = gs_mem_printf("/m/%s.gguf", names[i]);
        m->kind = kinds[i];
        m->params_label = gs_mem_strdup("");
        m->ctx = 4096;
        m->info.pooling_type = m->info.file_type = -1;
        m->pooling = m->kind == GS_KIND_EMBEDDING ? "mean" : NULL;
        m->mmproj = m->kind == GS_KIND_VISION ? gs_mem_strdup("/m/mmproj.gguf") : NULL;
        m->file_size = 1000;
    }
    r->dirs = gs_mem_calloc(2, sizeof *r->dirs);
    r->dirs[0] = gs_mem_strdup("/m");
    r->ndirs = 1;
}

/* 1: refused with settings.yaml named, 0: accepted and its config loads cleanly. Reports
 * (cr_assert) anything else. */
static int check(const char *settings)
{
    gs_settings s;
    gs_settings_init(&s);
    gs_diag d = {0};
    int rc = gs_settings_parse(settings, strlen(settings), "settings.yaml", &s, &d);
    if (rc < 0) {
        cr_assert_gt(d.errors, 0, "refused without a reason:\n%s", settings);
        cr_assert(strncmp(d.msgs[0], "settings.yaml:", 14) == 0,
                  "a refusal names settings.yaml and the line: %s", d.msgs[0]);
        gs_settings_free(&s);
        gs_diag_free(&d);
        return 1;
    }
    gs_scan_result r;
    scan3(&r);
    gs_diag gd = {0};
    char *text = gs_gen_config_text(&r, &s, "/usr/bin/llama-server", "settings.yaml", &gd);
    gs_config *c = NULL;
    gs_diag cd = {0};
    int crc = gs_config_parse(text, strlen(text), "config.yaml", &c, &cd);
    char *why = gs_diag_join(&cd);
    cr_assert_eq(crc, 0, "settings.yaml was accepted but its config.yaml does not load:\n%s\n"
                         "--- settings.yaml\n%s\n--- config.yaml\n%s",
                 why, settings, text);
    cr_assert_eq(cd.warnings, 0, "the generated config warns:\n%s\n--- settings.yaml\n%s", why,
                 settings);
    free(why);
    gs_config_free(c);
    gs_diag_free(&cd);
    gs_diag_free(&gd);
    free(text);
    gs_scan_result_free(&r);
    gs_settings_free(&s);
    gs_diag_free(&d);
    return 0;
}

static const char *const cases[] = {
    "",
    "ttl: 0\n",
    "ttl: 2147483647\n",
    "startPort: 65533\n",
    "startPort: 65535\n",
    "healthCheckTimeout: 1\n",
    "logLevel: debug\n",
    "logLevel: iNfo\n",   /* found by fuzz_settings: the loader warned on what settings took */
    "logLevel: warning\n",
    "logLevel: \"in\\\"fo\"\n",
    "ctxSizeMax: 0\n",
    "extraArgs: [\"--a\", \"b c\"]\n",
    "extraArgs: [\"it's\", 'say \"hi\"']\n",
    "extraArgs: [\"back\\\\slash\", \"#hash\", \"x # y\"]\n",
    "extraArgs: [\"${PORT}\", \"${MODEL_ID}\", \"${env.HOME}\", \"${nope}\"]\n",
    "extraArgs: [\"$\", \"${\", \"}\", \"$${x}\"]\n",
    "extraArgs: \"--flag 'quoted word' \\\"dq\\\"\"\n",
    "extraArgs: [\"line\\nbreak\"]\n",
    "extraArgs: [\"tab\\there\"]\n",
    "extraArgs: [\"\\u00e9t\\u00e9\", \"\\u2603\"]\n",
    "extraArgs: [\"\"]\n",
    "extraArgs: [\"-\", \"--\", \"\\\\\"]\n",
    "models:\n  chat:8b: {aliases: [my\"alias]}\n",
    "models:\n  chat:8b: {aliases: [\"a b\"]}\n",
    "models:\n  chat:8b: {aliases: [\"x#y\", \"x:y\", \"x/y\", \"x?y\"]}\n",
    "models:\n  chat:8b: {aliases: [\"back\\\\slash\"]}\n",
    "models:\n  chat:8b: {aliases: [\"\"]}\n",
    "models:\n  chat:8b: {aliases: [\"${PORT}\", \"${MODEL_ID}\"]}\n",
    "models:\n  chat:8b: {aliases: [\"\\u00e9\"]}\n",
    "models:\n  chat:8b: {aliases: [embed]}\n",
    "models:\n  chat:8b: {aliases: [dup]}\n  embed: {aliases: [dup]}\n",
    "models:\n  chat:8b: {aliases: [chat:8b]}\n",
    "models:\n  chat:8b: {aliases: [gpt-4, gpt-4]}\n",
    "models:\n  chat:8b: {ttl: -1}\n",
    "models:\n  chat:8b: {ttl: 99999999999}\n",
    "models:\n  chat:8b: {ctxSize: 1}\n",
    "models:\n  chat:8b: {ctxSize: 99999999999}\n",
    "models:\n  chat:8b: {disabled: true}\n  embed: {disabled: true}\n  vision:2b: {disabled: true}\n",
    "models:\n  chat:8b: {extraArgs: [\"--x\", \"${PORT}\"]}\n",
    "models:\n  chat:8b: {memory: 6GiB, swappable: false}\n",
    "models:\n  chat:8b: {memory: \"1.5 G\"}\n",
    "models:\n  chat:8b: {memory: lots}\n",
    "models:\n  missing: {ttl: 5}\n",
    "memory: false\n",
    "memory: {ram: 24GiB, margin: 512MiB, gpu: [8GiB, 4GiB]}\n",
    "memory: {ram: \"1e3\", gpu: auto}\n",
    "memory: {ram: huge}\n",
    "memory: {gpu: []}\n",
    "memory: {gpu: [+8GiB]}\n", /* found by fuzz_settings: settings had a size rule of its own */
    "memory: {margin: \" 8 gib \"}\n",
    "memory: {ram: auto, margin: auto}\n", /* fuzz_settings: margin has no auto in the config */
    "models:\n  chat:8b: {memory: \"1                                                                 \"}\n",
    "listen: \"127.0.0.1:9\"\n",
    "llamaServer: \"/x y/llama-server\"\n",
    "modelsDirs: [\"/a b\", \"~/m\"]\n",
    "hfToken: \"hf_x\"\n",
};

Test(genload, what_generate_accepts_the_loader_loads)
{
    int refused = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        refused += check(cases[i]);
    /* both sides of the property are exercised */
    cr_assert_gt(refused, 0);
    cr_assert_lt(refused, (int)(sizeof(cases) / sizeof(cases[0])));
}
