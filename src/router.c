#include "router.h"

#include "matrix.h"

bool gs_router_must_evict(const gs_config *c, int target, int running)
{
    if (target == running || target < 0 || running < 0 || target >= c->nmodels ||
        running >= c->nmodels)
        return false;
    int gt = c->models[target].group, gr = c->models[running].group;
    if (gt < 0 || gt >= c->ngroups || gr < 0 || gr >= c->ngroups)
        return false;
    const gs_group_cfg *g = &c->groups[gt];
    if (gt == gr)
        return g->swap;
    return g->exclusive && !c->groups[gr].persistent;
}

void gs_router_evictions(const void *ud, int target, const bool *running, int n, bool *evict)
{
    const gs_config *c = ud;
    if (c->router == GS_ROUTER_MATRIX && c->matrix && c->matrix->prog && n == c->nmodels) {
        /* The matrix keeps the cheapest combination that holds the target. */
        gs_matrix_solve(c->matrix->prog, target, running, c->matrix->cost_of, evict);
        return;
    }
    /* Pairwise rules: whether r must go does not depend on what else runs. */
    for (int r = 0; r < n; r++)
        evict[r] = running[r] && gs_router_must_evict(c, target, r);
}
