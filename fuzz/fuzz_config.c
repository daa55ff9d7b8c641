/* fuzz_config: YAML text into gs_config_parse. On success the config must hold what config.h
 * promises (sorted ids that find themselves, aliases that find their model, argv of argc words,
 * every model in exactly the group it names); on failure there must be an error diagnostic. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    if (len > 64 * 1024)
        return 0;
    /* An exact-size copy, not NUL-terminated: the parser takes a length. */
    char *text = malloc(len ? len : 1);
    if (len)
        memcpy(text, data, len);
    gs_config *c = NULL;
    gs_diag d = {0};
    int rc = gs_config_parse(text, len, "fuzz.yaml", &c, &d);
    char *all = gs_diag_join(&d);
    free(all);
    if (rc < 0) {
        if (c || d.errors == 0)
            abort();
    } else {
        if (!c || d.errors != 0)
            abort();
        for (int i = 0; i < c->nmodels; i++) {
            const gs_model_cfg *m = &c->models[i];
            if (!m->id || gs_config_find(c, m->id) != i)
                abort();
            if (i > 0 && strcmp(c->models[i - 1].id, m->id) >= 0)
                abort();
            for (int a = 0; a < m->naliases; a++)
                if (gs_config_find(c, m->aliases[a]) != i)
                    abort();
            if (m->argc < 0 || (m->argv && m->argv[m->argc] != NULL))
                abort();
            for (int k = 0; k < m->argc; k++)
                if (!m->argv[k])
                    abort();
            if (!m->proxy || m->proxy_port <= 0 || m->proxy_port > 65535)
                abort();
            if (m->check_endpoint && m->check_endpoint[0] != '/')
                abort();
            if (m->group < 0 || m->group >= c->ngroups)
                abort();
            const gs_group_cfg *g = &c->groups[m->group];
            int seen = 0;
            for (int k = 0; k < g->nmembers; k++)
                seen += g->members[k] == i;
            if (seen != 1)
                abort();
            if (!gs_config_model_same_process(m, m))
                abort();
        }
        for (int g = 0; g < c->ngroups; g++)
            for (int k = 0; k < c->groups[g].nmembers; k++) {
                int mi = c->groups[g].members[k];
                if (mi < 0 || mi >= c->nmodels || c->models[mi].group != g)
                    abort();
            }
        for (int i = 0; i < c->npreload; i++)
            if (gs_config_find(c, c->preload[i]) < 0)
                abort();
        gs_config_free(c);
    }
    gs_diag_free(&d);
    free(text);
    return 0;
}
