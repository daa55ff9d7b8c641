#include "genconf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmdline.h"
#include "mem.h"
#include "strv.h"

/* What a template model looks like in text: the loader fills in its defaults. */
#define TEMPLATE_MODEL "models:\n  \"t\":\n    cmd: t\n    proxy: \"http://127.0.0.1:1\"\n"

/* The top-level config and the template model, both from the loader. */
static int parse_top(const gs_gen_plan *p, const char *name, gs_config **c, gs_config **t, gs_diag *d)
{
    char *top = gs_gen_emit_top(p);
    int rc = gs_config_parse(top, strlen(top), name, c, d);
    const char *at = strstr(top, "models: {}\n");
    if (rc == 0 && !at) {
        gs_diag_add(d, true, name, 0, "the generated top-level text has no 'models: {}' line");
        rc = -EINVAL;
    }
    if (rc == 0) {
        char *tt = gs_mem_printf("%.*s" TEMPLATE_MODEL "%s", (int)(at - top), top,
                                 at + strlen("models: {}\n"));
        rc = gs_config_parse(tt, strlen(tt), name, t, d);
        free(tt);
        if (rc == 0 && (*t)->nmodels != 1) {
            gs_diag_add(d, true, name, 0, "the template config has %d models, not 1", (*t)->nmodels);
            rc = -EINVAL;
        }
    }
    free(top);
    return rc;
}

/* One model: the template's defaults, then what the plan says. Every pointer is set here, so
 * that nothing is shared with the template. */
static int build_model(gs_model_cfg *m, const gs_gen_model *g, const gs_model_cfg *tpl, int line,
                       const char *name, gs_diag *d)
{
    *m = *tpl;
    /* every pointer first, so that a failure half-way frees nothing of the template's */
    m->cmd_stop = m->proxy = m->proxy_host = m->proxy_path = m->check_endpoint = NULL;
    m->use_model_name = m->name = m->description = NULL;
    m->aliases = m->env = m->strip_params = NULL;
    m->naliases = m->naliases_written = m->nenv = m->nstrip = 0;
    m->set_params = m->metadata = m->set_params_by_id = NULL;
    m->argv = NULL;
    m->argc = 0;
    m->id = gs_mem_strdup(g->name);
    m->proxy = gs_mem_printf("http://127.0.0.1:%d", g->port);
    m->proxy_host = gs_mem_strdup("127.0.0.1");
    m->proxy_port = g->port;
    m->proxy_path = gs_mem_strdup("");
    m->aliases = gs_strv_dup(g->aliases, g->naliases);
    m->naliases = m->naliases_written = g->naliases;
    m->check_endpoint = tpl->check_endpoint ? gs_mem_strdup(tpl->check_endpoint) : NULL;
    m->ttl = g->ttl;
    m->metadata = json_deep_copy(g->metadata);
    /* The loader's cmd: the block as written, cleaned. Its words are the plan's (emit quotes
     * them so that they split back; test_gen and test_genconf hold that). */
    m->cmd = gs_cmdline_clean(g->cmd);
    m->argv = gs_strv_dup(g->argv, g->argc);
    m->argc = g->argc;
    m->memory = 0;
    if (g->memory && (m->memory = gs_config_parse_size(g->memory)) < 0) {
        gs_diag_add(d, true, name, line, "models.%s.memory: '%s' is not a size", g->name, g->memory);
        return -EINVAL;
    }
    m->swappable = !g->unswappable;
    m->line = line;
    return 0;
}

typedef struct order {
    const char *name;
    int plan;   /* index into the plan */
} order;

static int order_cmp(const void *a, const void *b)
{
    return strcmp(((const order *)a)->name, ((const order *)b)->name);
}

/* The line of each model's key in text (the k-th key of the models block is the plan's k-th
 * model); 0 without text. */
static void key_lines(const char *text, int *lines, int n)
{
    if (!text)
        return;
    bool in_models = false;
    int line = 1, k = 0;
    for (const char *s = text; *s && k < n; line++) {
        const char *nl = strchr(s, '\n');
        if (!strncmp(s, "models:", 7))
            in_models = true;
        else if (in_models && s[0] != ' ' && s[0] != '#')
            in_models = false;
        else if (in_models && s[0] == ' ' && s[1] == ' ' && s[2] != ' ')
            lines[k++] = line;
        if (!nl)
            break;
        s = nl + 1;
    }
}

static void add_group(gs_config *c, const char *id, bool swap, bool exclusive, bool persistent,
                      const gs_gen_plan *p, const int *slot, bool chat)
{
    gs_group_cfg *g = &c->groups[c->ngroups];
    g->id = gs_mem_strdup(id);
    g->swap = swap;
    g->exclusive = exclusive;
    g->persistent = persistent;
    g->members = gs_mem_calloc((size_t)p->nmodels + 1, sizeof *g->members);
    for (int i = 0; i < p->nmodels; i++)
        if (p->models[i].chat == chat) {
            g->members[g->nmembers++] = slot[i];
            c->models[slot[i]].group = c->ngroups;
        }
    if (g->nmembers)
        c->ngroups++;
    else {
        free(g->id);
        free(g->members);
        memset(g, 0, sizeof *g);
    }
}

int gs_genconf_build(const gs_gen_plan *p, const char *text, const char *name, gs_config **out,
                     gs_diag *d)
{
    gs_config *c = NULL, *t = NULL;
    int n = p->nmodels;
    order *ord = gs_mem_calloc((size_t)n + 1, sizeof *ord);
    int *slot = gs_mem_calloc((size_t)n + 1, sizeof *slot);
    int *lines = gs_mem_calloc((size_t)n + 1, sizeof *lines);
    *out = NULL;
    int rc = parse_top(p, name, &c, &t, d);
    if (rc < 0)
        goto out;
    /* The loader keeps models sorted by id. */
    for (int i = 0; i < n; i++)
        ord[i] = (order){p->models[i].name, i};
    qsort(ord, (size_t)n, sizeof *ord, order_cmp);
    for (int k = 0; k < n; k++)
        slot[ord[k].plan] = k;
    key_lines(text, lines, n);
    free(c->models);
    c->models = gs_mem_calloc((size_t)n + 1, sizeof *c->models);
    for (int k = 0; k < n && rc == 0; k++) {
        rc = build_model(&c->models[k], &p->models[ord[k].plan], &t->models[0], lines[ord[k].plan],
                         name, d);
        c->nmodels = k + 1;
    }
    if (rc < 0)
        goto out;
    for (int i = 0; i < c->ngroups; i++) {
        free(c->groups[i].id);
        free(c->groups[i].members);
    }
    free(c->groups);
    c->groups = gs_mem_calloc(3, sizeof *c->groups);
    c->ngroups = 0;
    /* As gs_gen_emit: with memory on, chat models share the machine while they fit. */
    add_group(c, "default_group", !p->memory_on, true, false, p, slot, true);
    add_group(c, "embedding_group", true, false, true, p, slot, false);
    *out = c;
    c = NULL;
out:
    gs_config_free(c);
    gs_config_free(t);
    free(ord);
    free(slot);
    free(lines);
    return rc;
}
