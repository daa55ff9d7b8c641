/* fuzz_settings: settings.yaml text into gs_settings_parse, and when it is accepted, the config
 * that generation makes of it (three scanned models, no files) into gs_config_parse: it must
 * load without an error or a warning (issue 10, item 3: what `config generate` accepts, `serve`
 * loads). A refusal must come with an error naming settings.yaml. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "gen.h"
#include "mem.h"
#include "settings.h"

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    if (len > 16 * 1024)
        return 0;
    char *text = malloc(len ? len : 1);
    if (len)
        memcpy(text, data, len);
    gs_settings s;
    gs_settings_init(&s);
    gs_diag d = {0};
    int rc = gs_settings_parse(text, len, "settings.yaml", &s, &d);
    if (rc < 0) {
        if (d.errors == 0 || strncmp(d.msgs[0], "settings.yaml", 13) != 0)
            abort();
    } else {
        gs_scan_result r;
        scan3(&r);
        gs_diag gd = {0};
        char *yaml = gs_gen_config_text(&r, &s, "/usr/bin/llama-server", "settings.yaml", &gd);
        gs_config *c = NULL;
        gs_diag cd = {0};
        if (gs_config_parse(yaml, strlen(yaml), "config.yaml", &c, &cd) != 0 || cd.warnings)
            abort();
        gs_config_free(c);
        gs_diag_free(&cd);
        gs_diag_free(&gd);
        free(yaml);
        gs_scan_result_free(&r);
    }
    gs_settings_free(&s);
    gs_diag_free(&d);
    free(text);
    return 0;
}
