/* The group rules of llama-swap, as gs_router_must_evict decides them. */
#include <criterion/criterion.h>
#include <string.h>

#include "config.h"
#include "helpers.h"
#include "router.h"

static int idx(gs_config *c, const char *id)
{
    int i = gs_config_find(c, id);
    cr_assert_geq(i, 0, "no model %s", id);
    return i;
}

static const char *two_groups = "models:\n"
                                "  a: {cmd: \"x --port ${PORT}\"}\n"
                                "  b: {cmd: \"x --port ${PORT}\"}\n"
                                "  e: {cmd: \"x --port ${PORT}\"}\n"
                                "  r: {cmd: \"x --port ${PORT}\"}\n"
                                "  solo: {cmd: \"x --port ${PORT}\"}\n"
                                "groups:\n"
                                "  chat: {swap: true, exclusive: true, members: [a, b]}\n"
                                "  emb: {swap: true, exclusive: false, persistent: true, members: [e]}\n"
                                "  side: {swap: false, exclusive: false, members: [r]}\n";

Test(router, swap_group_runs_one_member)
{
    gs_config *c = test_config(two_groups);
    cr_assert(gs_router_must_evict(c, idx(c, "a"), idx(c, "b")));
    cr_assert(gs_router_must_evict(c, idx(c, "b"), idx(c, "a")));
    gs_config_free(c);
}

Test(router, exclusive_spares_persistent_groups)
{
    gs_config *c = test_config(two_groups);
    cr_assert_not(gs_router_must_evict(c, idx(c, "a"), idx(c, "e")), "persistent e survives");
    cr_assert(gs_router_must_evict(c, idx(c, "a"), idx(c, "r")), "exclusive chat evicts side");
    gs_config_free(c);
}

Test(router, exclusivity_is_one_way)
{
    gs_config *c = test_config(two_groups);
    /* Loading the embedding model (non-exclusive group) never evicts chat models. */
    cr_assert_not(gs_router_must_evict(c, idx(c, "e"), idx(c, "a")));
    cr_assert_not(gs_router_must_evict(c, idx(c, "r"), idx(c, "a")));
    gs_config_free(c);
}

Test(router, non_swap_group_keeps_members_together)
{
    const char *y = "models:\n"
                    "  x: {cmd: \"s --port ${PORT}\"}\n"
                    "  y: {cmd: \"s --port ${PORT}\"}\n"
                    "groups:\n"
                    "  g: {swap: false, exclusive: true, members: [x, y]}\n";
    gs_config *c = test_config(y);
    cr_assert_not(gs_router_must_evict(c, idx(c, "x"), idx(c, "y")));
    gs_config_free(c);
}

Test(router, ungrouped_models_share_the_default_group)
{
    gs_config *c = test_config(two_groups);
    int solo = idx(c, "solo");
    /* (default) swaps and is exclusive: loading solo evicts chat and side, not persistent e. */
    cr_assert(gs_router_must_evict(c, solo, idx(c, "a")));
    cr_assert(gs_router_must_evict(c, solo, idx(c, "r")));
    cr_assert_not(gs_router_must_evict(c, solo, idx(c, "e")));
    /* and chat (exclusive) evicts solo */
    cr_assert(gs_router_must_evict(c, idx(c, "a"), solo));
    gs_config_free(c);
}

Test(router, no_groups_means_one_model_at_a_time)
{
    gs_config *c = test_config("models:\n  p: {cmd: \"s --port ${PORT}\"}\n  q: {cmd: \"s --port ${PORT}\"}\n");
    cr_assert(gs_router_must_evict(c, idx(c, "p"), idx(c, "q")));
    cr_assert(gs_router_must_evict(c, idx(c, "q"), idx(c, "p")));
    cr_assert_not(gs_router_must_evict(c, idx(c, "q"), idx(c, "q")));
    gs_config_free(c);
}

Test(router, matrix_config_plugs_the_solver_into_the_constraint)
{
    const char *y = "models:\n"
                    "  a: {cmd: \"x --port ${PORT}\"}\n"
                    "  b: {cmd: \"x --port ${PORT}\"}\n"
                    "  org/c: {cmd: \"x --port ${PORT}\"}\n"
                    "routing:\n"
                    "  router:\n"
                    "    use: matrix\n"
                    "    settings:\n"
                    "      matrix:\n"
                    "        vars: {c: org/c}\n"
                    "        evict_costs: {b: 3}\n"
                    "        sets: {ab: \"a & b\", ac: \"a & c\"}\n";
    gs_config *c = test_config(y);
    int a = idx(c, "a"), b = idx(c, "b"), oc = idx(c, "org/c");
    bool running[3] = {0}, evict[3] = {0};
    running[b] = running[oc] = true;
    gs_router_evictions(c, a, running, c->nmodels, evict);
    cr_expect(evict[oc] && !evict[b], "b costs 3: org/c goes");
    memset(evict, 0, sizeof evict);
    running[b] = false;
    running[a] = true;
    gs_router_evictions(c, b, running, c->nmodels, evict);
    cr_expect(evict[oc] && !evict[a], "a & b: org/c goes");
    gs_config_free(c);
}
