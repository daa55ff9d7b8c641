#include "confroute.h"

#include <ctype.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "matrix.h"
#include "mem.h"
#include "strv.h"

/* ---------------------------------------------------------------- routing: */

static void ref_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, gs_confref *r)
{
    r->val = e->val;
    r->line = e->line;
    r->set = !gs_yaml_is_null(gs_yaml_deref(y, e->val, e->line, key));
}

static void rgroups_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base, void *ud)
{
    ref_fn(y, e, key, &((gs_confroute *)base)->rgroups);
}

static void rmatrix_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base, void *ud)
{
    ref_fn(y, e, key, &((gs_confroute *)base)->rmatrix);
}

static void priority_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base, void *ud)
{
    ref_fn(y, e, key, &((gs_confroute *)base)->priority);
}

static void use_line_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base, void *ud)
{
    ((gs_confroute *)base)->use_line = e->line;
}

static void sched_use_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base, void *ud)
{
    char *s;
    if (gs_yaml_xstr(y, e->val, e->line, key, &s) > 0 && strcmp(s, "fifo"))
        gs_yaml_err(y, e->line, key, "unknown scheduler \"%s\" (valid: fifo)", s);
    free(s);
}

static const gs_yaml_key router_settings_keys[] = {
    {"groups", GS_YT_FN, 0, 0, 0, 0, rgroups_fn, 0},
    {"matrix", GS_YT_FN, 0, 0, 0, 0, rmatrix_fn, 0},
};

static const gs_yaml_key fifo_keys[] = {
    {"priority", GS_YT_FN, 0, 0, 0, 0, priority_fn, 0},
};

static void fifo_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base, void *ud)
{
    gs_yaml_apply(y, fifo_keys, GS_ARRAY_LEN(fifo_keys), e->val, e->line, key, "with priority",
                  base, ud);
}

static const gs_yaml_key sched_settings_keys[] = {
    {"fifo", GS_YT_FN, 0, 0, 0, 0, fifo_fn, 0},
};

static void router_settings_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base,
                               void *ud)
{
    gs_yaml_apply(y, router_settings_keys, GS_ARRAY_LEN(router_settings_keys), e->val, e->line,
                  key, NULL, base, ud);
}

static void sched_settings_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base,
                              void *ud)
{
    gs_yaml_apply(y, sched_settings_keys, GS_ARRAY_LEN(sched_settings_keys), e->val, e->line,
                  key, NULL, base, ud);
}

static const gs_yaml_key router_keys[] = {
    {"use", GS_YT_XSTR, offsetof(gs_confroute, use), 0, 0, 0, use_line_fn, 0},
    {"settings", GS_YT_FN, 0, 0, 0, 0, router_settings_fn, 0},
};

static const gs_yaml_key sched_keys[] = {
    {"use", GS_YT_FN, 0, 0, 0, 0, sched_use_fn, 0},
    {"settings", GS_YT_FN, 0, 0, 0, 0, sched_settings_fn, 0},
};

static void router_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base, void *ud)
{
    gs_yaml_apply(y, router_keys, GS_ARRAY_LEN(router_keys), e->val, e->line, key,
                  "with use and settings", base, ud);
}

static void sched_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base, void *ud)
{
    gs_yaml_apply(y, sched_keys, GS_ARRAY_LEN(sched_keys), e->val, e->line, key,
                  "with use and settings", base, ud);
}

static const gs_yaml_key routing_keys[] = {
    {"router", GS_YT_FN, 0, 0, 0, 0, router_fn, 0},
    {"scheduler", GS_YT_FN, 0, 0, 0, 0, sched_fn, 0},
};

/* routing: {router: {use, settings: {groups, matrix}}, scheduler: {use, settings: {fifo:
 * {priority}}}}. What names models is kept in rt for later. */
void gs_confroute_read(gs_confld *L, const gs_yaml_kv *e, gs_confroute *rt)
{
    rt->routing_line = e->line;
    gs_yaml_apply(&L->y, routing_keys, GS_ARRAY_LEN(routing_keys), e->val, e->line, "routing",
                  "with router and scheduler", rt, L);
}

/* ---------------------------------------------------------------- groups */

static void group_add_member(gs_group_cfg *g, int idx)
{
    g->members = gs_mem_realloc(g->members, (size_t)(g->nmembers + 1) * sizeof(int));
    g->members[g->nmembers++] = idx;
}

/* What a group's keys need besides the group: which group each model is in so far. */
typedef struct gctx {
    gs_confld *L;
    int *owner;  /* per model: its group, -1 while none */
} gctx;

static void members_fn(gs_yaml *y, const gs_yaml_kv *e, const char *key, void *base, void *ud)
{
    gs_group_cfg *g = base;
    gctx *G = ud;
    gs_config *c = G->L->c;
    int gi = (int)(g - c->groups);
    char **list;
    int nl;
    gs_yaml_strlist(y, e->val, e->line, key, &list, &nl);
    for (int m = 0; m < nl; m++) {
        char *ik = gs_yaml_path_index(key, m);
        int idx = gs_confload_find(c, list[m]);
        if (idx < 0) {
            gs_yaml_err(y, e->line, ik, "unknown model %s", list[m]);
        } else if (G->owner[idx] == gi) {
            gs_yaml_err(y, e->line, ik, "duplicate member %s in group %s", list[m], g->id);
        } else if (G->owner[idx] >= 0) {
            gs_yaml_err(y, e->line, ik, "model %s is in two groups: %s and %s", c->models[idx].id,
                        c->groups[G->owner[idx]].id, g->id);
        } else {
            G->owner[idx] = gi;
            group_add_member(g, idx);
        }
        free(ik);
    }
    gs_strv_free_n(list, nl);
}

static const gs_yaml_key group_keys[] = {
    {"swap", GS_YT_BOOL, offsetof(gs_group_cfg, swap), 0, 0, 0, NULL, 0},
    {"exclusive", GS_YT_BOOL, offsetof(gs_group_cfg, exclusive), 0, 0, 0, NULL, 0},
    {"persistent", GS_YT_BOOL, offsetof(gs_group_cfg, persistent), 0, 0, 0, NULL, 0},
    {"members", GS_YT_FN, 0, 0, 0, 0, members_fn, 0},
};

/* The groups mapping (r unset: none), then "(default)" for the models no group lists. */
static void load_groups(gs_confld *L, const gs_confref *r, const char *gpath, int *owner)
{
    gs_config *c = L->c;
    struct fy_node *n = r->set ? gs_yaml_deref(&L->y, r->val, r->line, gpath) : NULL;
    if (n && !gs_yaml_is_null(n) && !fy_node_is_mapping(n)) {
        gs_yaml_err(&L->y, r->line, gpath, "expected a mapping of group names to groups");
        n = NULL;
    }
    gs_yaml_kvs items = {0};
    if (n && !gs_yaml_is_null(n))
        gs_yaml_items(&L->y, n, gpath, &items);
    c->groups = gs_mem_calloc((size_t)items.n + 1, sizeof(*c->groups));
    gctx G = {L, owner};
    for (int i = 0; i < items.n; i++) {
        gs_yaml_kv *e = &items.v[i];
        char *path = gs_yaml_path_join(gpath, e->key);
        gs_group_cfg *g = &c->groups[c->ngroups++];
        g->id = gs_mem_strdup(e->key);
        g->swap = true;
        g->exclusive = true;
        g->persistent = false;
        if (!strcmp(e->key, "(default)"))
            gs_yaml_err(&L->y, e->line, path, "the name (default) is reserved for models in no group");
        if (!gs_confload_name_ok(e->key, strlen(e->key)))
            gs_yaml_err(&L->y, e->line, path,
                        "a group id cannot hold control characters, quotes or backslashes");
        gs_yaml_apply(&L->y, group_keys, GS_ARRAY_LEN(group_keys), e->val, e->line, path,
                      "with members", g, &G);
        free(path);
    }
    gs_yaml_kvs_free(&items);

    /* As llama-swap: all models that name no group share one "(default)" group, swap and
     * exclusive, so only one of them runs at a time. */
    int ungrouped = 0;
    for (int i = 0; i < c->nmodels; i++)
        ungrouped += owner[i] < 0;
    if (ungrouped) {
        c->groups = gs_mem_realloc(c->groups, (size_t)(c->ngroups + 1) * sizeof(*c->groups));
        gs_group_cfg *g = &c->groups[c->ngroups++];
        memset(g, 0, sizeof(*g));
        g->id = gs_mem_strdup("(default)");
        g->swap = true;
        g->exclusive = true;
        for (int i = 0; i < c->nmodels; i++)
            if (owner[i] < 0) {
                owner[i] = c->ngroups - 1;
                group_add_member(g, i);
            }
    }
    for (int i = 0; i < c->nmodels; i++)
        c->models[i].group = owner[i];
}


/* ---------------------------------------------------------------- matrix, router, priority */

/* Index of the model with exactly this id (not an alias), or -1. */
static int model_by_id(const gs_config *c, const char *id)
{
    int i = gs_confload_find(c, id);
    return i >= 0 && !strcmp(c->models[i].id, id) ? i : -1;
}

static bool var_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 32)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '-')
            return false;
    return true;
}

void gs_confroute_matrix_free(gs_matrix_cfg *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->nvars; i++)
        free(m->vars[i].name);
    for (int i = 0; i < m->ncosts; i++)
        free(m->costs[i].name);
    for (int i = 0; i < m->nsets; i++) {
        free(m->sets[i].name);
        free(m->sets[i].dsl);
    }
    free(m->vars);
    free(m->costs);
    free(m->sets);
    gs_matrix_free(m->prog);
    free(m->cost_of);
    free(m);
}

static int matrix_resolve(const gs_config *c, const gs_matrix_cfg *m, const char *name)
{
    for (int i = 0; i < m->nvars; i++)
        if (!strcmp(m->vars[i].name, name))
            return m->vars[i].model;
    return model_by_id(c, name);
}

struct mres {
    const gs_config *c;
    const gs_matrix_cfg *m;
};

static int matrix_ident(const char *ident, void *ud)
{
    const struct mres *r = ud;
    return matrix_resolve(r->c, r->m, ident);
}

/* The set expressions, parsed and linked by the matrix module (matrix.h): a set that does not
 * parse or names an unknown model is an error at its own line. */
static void matrix_compile(gs_confld *L, gs_matrix_cfg *m, const char *path)
{
    gs_matrix_set_def *defs = gs_mem_calloc((size_t)m->nsets, sizeof *defs);
    for (int i = 0; i < m->nsets; i++)
        defs[i] = (gs_matrix_set_def){m->sets[i].name, m->sets[i].dsl};
    struct mres r = {L->c, m};
    char why[512];
    int bad = -1;
    if (gs_matrix_compile(defs, m->nsets, L->c->nmodels, matrix_ident, &r, &m->prog, &bad, why,
                          sizeof why) < 0) {
        char *sets = gs_yaml_path_join(path, "sets");
        char *key = bad >= 0 ? gs_yaml_path_join(sets, m->sets[bad].name) : gs_mem_strdup(sets);
        gs_yaml_err(&L->y, bad >= 0 ? m->sets[bad].line : m->line, key, "%s", why);
        free(key);
        free(sets);
    }
    free(defs);
    m->cost_of = gs_mem_calloc((size_t)(L->c->nmodels ? L->c->nmodels : 1), sizeof(int));
    for (int i = 0; i < L->c->nmodels; i++)
        m->cost_of[i] = 1;
    for (int i = 0; i < m->ncosts; i++)
        if (m->costs[i].model >= 0 && m->costs[i].model < L->c->nmodels)
            m->cost_of[m->costs[i].model] = m->costs[i].cost;
}

/* vars first (evict_costs may name them), then evict_costs and sets. */
static void load_matrix(gs_confld *L, const gs_confref *r, const char *path)
{
    gs_config *c = L->c;
    struct fy_node *n = gs_yaml_map(&L->y, r->val, r->line, path, "with vars, evict_costs and sets");
    gs_matrix_cfg *m = gs_mem_calloc(1, sizeof(*m));
    m->line = r->line;
    gs_yaml_kvs items = {0};
    if (n)
        gs_yaml_items(&L->y, n, path, &items);
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < items.n; i++) {
            gs_yaml_kv *e = &items.v[i];
            bool vars = !strcmp(e->key, "vars");
            if (vars != (pass == 0))
                continue;
            char *key = gs_yaml_path_join(path, e->key);
            bool costs = !strcmp(e->key, "evict_costs"), sets = !strcmp(e->key, "sets");
            struct fy_node *v = vars || costs || sets ? gs_yaml_map(&L->y, e->val, e->line, key, NULL)
                                                      : NULL;
            if (!vars && !costs && !sets)
                gs_yaml_warn(&L->y, e->line, key, "unknown key, ignored");
            gs_yaml_kvs sub = {0};
            if (v)
                gs_yaml_items(&L->y, v, key, &sub);
            for (int j = 0; j < sub.n; j++) {
                gs_yaml_kv *f = &sub.v[j];
                char *fk = gs_yaml_path_join(key, f->key);
                char *s = NULL;
                int cost = 1;
                if (vars && gs_yaml_xstr(&L->y, f->val, f->line, fk, &s) >= 0) {
                    int idx = s ? model_by_id(c, s) : -1;
                    if (!var_name_ok(f->key))
                        gs_yaml_err(&L->y, f->line, fk, "a var name holds 1 to 32 letters, digits, '-' or '.'");
                    else if (idx < 0)
                        gs_yaml_err(&L->y, f->line, fk, "references unknown model \"%s\" (a model id, not an "
                                            "alias)", s ? s : "");
                    else {
                        m->vars = gs_mem_realloc(m->vars, (size_t)(m->nvars + 1) * sizeof(*m->vars));
                        m->vars[m->nvars++] = (gs_matrix_var){gs_mem_strdup(f->key), idx, f->line};
                    }
                } else if (costs && gs_yaml_int(&L->y, f->val, f->line, fk, 1, INT_MAX, &cost) > 0) {
                    int idx = matrix_resolve(c, m, f->key);
                    if (idx < 0) {
                        gs_yaml_err(&L->y, f->line, fk, "unknown var or model \"%s\"", f->key);
                    } else {
                        m->costs = gs_mem_realloc(m->costs,
                                                  (size_t)(m->ncosts + 1) * sizeof(*m->costs));
                        m->costs[m->ncosts++] =
                            (gs_matrix_cost){gs_mem_strdup(f->key), idx, cost, f->line};
                    }
                } else if (sets && gs_yaml_xstr(&L->y, f->val, f->line, fk, &s) >= 0) {
                    if (!s || !*s) {
                        gs_yaml_err(&L->y, f->line, fk, "empty expression");
                    } else {
                        m->sets = gs_mem_realloc(m->sets, (size_t)(m->nsets + 1) * sizeof(*m->sets));
                        m->sets[m->nsets++] = (gs_matrix_set){gs_mem_strdup(f->key), s, f->line};
                        s = NULL;
                    }
                }
                free(s);
                free(fk);
            }
            gs_yaml_kvs_free(&sub);
            free(key);
        }
    }
    gs_yaml_kvs_free(&items);
    if (!m->nsets)
        gs_yaml_err(&L->y, r->line, path, "a matrix must define at least one set");
    else
        matrix_compile(L, m, path);
    gs_confroute_matrix_free(c->matrix);
    c->matrix = m;
    c->router = GS_ROUTER_MATRIX;
}


/* Which router, from the legacy keys or routing.router; then groups (always: every model has
 * one) and the matrix. */
static void load_router(gs_confld *L, gs_confroute *lt, int *owner)
{
    bool top = lt->groups.set || lt->matrix.set;
    bool routing = lt->use || lt->rgroups.set || lt->rmatrix.set;
    gs_confref none = {0};
    if (top && routing) {
        gs_yaml_err(&L->y, lt->routing_line, "routing",
            "the legacy top-level groups/matrix and routing.router are both set; move them into "
            "routing.router.settings");
        load_groups(L, &none, "groups", owner);
        return;
    }
    if (top) {
        if (lt->groups.set && lt->matrix.set)
            gs_yaml_err(&L->y, lt->matrix.line, "matrix", "a config cannot use both groups and matrix");
        if (lt->matrix.set)
            load_matrix(L, &lt->matrix, "matrix");
        load_groups(L, lt->matrix.set ? &none : &lt->groups, "groups", owner);
        return;
    }
    const char *use = lt->use ? lt->use : "group";
    if (!strcmp(use, "matrix")) {
        if (!lt->rmatrix.set)
            gs_yaml_err(&L->y, lt->use_line, "routing.router.use",
                "is 'matrix' but routing.router.settings.matrix is not set");
        else
            load_matrix(L, &lt->rmatrix, "routing.router.settings.matrix");
        load_groups(L, &none, "groups", owner);
        return;
    }
    if (strcmp(use, "group"))
        gs_yaml_err(&L->y, lt->use_line, "routing.router.use", "unknown router \"%s\" (valid: group, matrix)",
            use);
    else if (lt->rmatrix.set)
        gs_yaml_warn(&L->y, lt->rmatrix.line, "routing.router.settings.matrix",
             "not used: routing.router.use is group");
    load_groups(L, &lt->rgroups, "routing.router.settings.groups", owner);
}

static void load_priority(gs_confld *L, const gs_confref *r)
{
    const char *path = "routing.scheduler.settings.fifo.priority";
    struct fy_node *n = gs_yaml_map(&L->y, r->val, r->line, path, "of model names to numbers");
    if (!n)
        return;
    gs_yaml_kvs items = {0};
    gs_yaml_items(&L->y, n, path, &items);
    for (int i = 0; i < items.n; i++) {
        gs_yaml_kv *e = &items.v[i];
        char *key = gs_yaml_path_join(path, e->key);
        int v = 0, idx = gs_confload_find(L->c, e->key);
        if (gs_yaml_int(&L->y, e->val, e->line, key, INT_MIN, INT_MAX, &v) >= 0) {
            if (idx < 0)
                gs_yaml_err(&L->y, e->line, key, "references unknown model \"%s\"", e->key);
            else
                L->c->models[idx].priority = v;
        }
        free(key);
    }
    gs_yaml_kvs_free(&items);
}

void gs_confroute_load(gs_confld *L, gs_confroute *rt)
{
    int nml = L->c->nmodels;
    int *owner = gs_mem_alloc(((size_t)nml + 1) * sizeof(int));
    for (int i = 0; i < nml; i++)
        owner[i] = -1;
    load_router(L, rt, owner);
    if (rt->priority.set)
        load_priority(L, &rt->priority);
    free(owner);
    free(rt->use);
    rt->use = NULL;
}
