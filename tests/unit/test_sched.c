/* The scheduler's decision (plan.h), as tables: a view of the models and the queue in, the
 * actions out, without any process. Each case names the actions it expects, in order:
 * "dispatch#i", "wait#i", "fail-start#i", "fail-removed#i" for queued request i, and
 * "stop X for Y", "start X" for models. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "helpers.h"
#include "plan.h"
#include "mem.h"
#include "memfit.h"
#include "router.h"

/* The tables give only the fields a case needs; the rest are zero on purpose. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define MS 1000000ull

typedef struct mspec {
    const char *id;
    gs_plan_mstate st;
    int inflight;
    bool nochild;   /* no process although not stopped (a stop ends at once) */
    bool child;     /* a process still going away although stopped/failed */
    unsigned fails;
    bool port_busy;
    /* memory cases */
    uint64_t need;  /* MiB */
    bool pinned;
    int prio;
    uint64_t ready_ago_ms; /* READY since (0: long ago) */
    uint64_t resid_ms;     /* its own residency (0: the view's) */
    uint64_t idle_s;       /* since its last request */
} mspec;

typedef struct ispec {
    const char *model; /* NULL: removed by a reload */
    uint64_t t0_ms;
    unsigned fails_seen;
    uint64_t hold_ms;
} ispec;

typedef struct pcase {
    const char *name;
    const char *yaml;
    mspec m[6];
    ispec q[8];
    uint64_t now_ms;
    const char *want;
    uint64_t budget; /* MiB of RAM; 0: memory off (unless no_room) */
    bool no_room;    /* memory on with a RAM budget of 0 */
} pcase;

/* Two models sharing the default group (swap, exclusive): one at a time. */
#define AB                                                                                    \
    "models:\n"                                                                               \
    "  a: {cmd: \"x --port ${PORT}\"}\n"                                                       \
    "  b: {cmd: \"x --port ${PORT}\"}\n"

/* llama-swap's groups: an exclusive swap group, a persistent one, a side group. */
#define GROUPS                                                                                \
    "models:\n"                                                                               \
    "  a: {cmd: \"x --port ${PORT}\"}\n"                                                       \
    "  b: {cmd: \"x --port ${PORT}\"}\n"                                                       \
    "  e: {cmd: \"x --port ${PORT}\"}\n"                                                       \
    "  r: {cmd: \"x --port ${PORT}\"}\n"                                                       \
    "groups:\n"                                                                               \
    "  chat: {swap: true, exclusive: true, members: [a, b]}\n"                                \
    "  emb: {swap: true, exclusive: false, persistent: true, members: [e]}\n"                 \
    "  side: {swap: false, exclusive: false, members: [r]}\n"

/* No group rules in the way: memory alone decides. */
#define FREE3                                                                                 \
    "models:\n"                                                                               \
    "  a: {cmd: \"x --port ${PORT}\"}\n"                                                       \
    "  b: {cmd: \"x --port ${PORT}\"}\n"                                                       \
    "  c: {cmd: \"x --port ${PORT}\"}\n"                                                       \
    "groups:\n"                                                                               \
    "  all: {swap: false, exclusive: false, members: [a, b, c]}\n"

#define R GS_PLAN_READY
#define S GS_PLAN_STOPPED
#define ST GS_PLAN_STARTING
#define SP GS_PLAN_STOPPING
#define F GS_PLAN_FAILED
#define DY GS_PLAN_DYING

static const pcase cases[] = {
    {"ready model, nothing in the way: dispatch", AB, {{"a", R}}, {{"a", 1}}, 10, "dispatch#0"},
    {"cold model: start it", AB, {{"a", S}}, {{"a", 1}}, 10, "start a, wait#0"},
    {"starting model: requests share the start", AB, {{"a", ST}}, {{"a", 1}, {"a", 2}}, 10,
     "wait#0, wait#1"},
    /* A B A B while a is busy: the a's ride along while a drains, the b's wait: A A B B. */
    {"batching ABAB -> AABB", AB, {{"a", R, 1}}, {{"b", 1}, {"a", 2}, {"b", 3}, {"a", 4}}, 10,
     "wait#0, dispatch#1, wait#2, dispatch#3"},
    /* Once a is idle the first b swaps it out; later a's no longer get in. */
    {"batching: idle swap stops and holds later requests", AB, {{"a", R}},
     {{"b", 1}, {"a", 2}, {"b", 3}}, 10, "stop a for b, wait#0, wait#1, wait#2"},
    {"batching: the stop ends at once when a has no process", AB, {{"a", R, 0, .nochild = true}},
     {{"b", 1}, {"a", 2}}, 10, "stop a for b, start b, wait#0, wait#1"},
    /* The window: new a's ride along only within 5 s of the oldest b that waits. */
    {"window: within 5 s a still takes requests", AB, {{"a", R, 1}}, {{"b", 1000}, {"a", 5000}},
     5999, "wait#0, dispatch#1"},
    {"window: past 5 s a takes no more", AB, {{"a", R, 1}}, {{"b", 1000}, {"a", 5000}}, 6000,
     "wait#0, wait#1"},
    /* Contested: a is starting for an earlier request; a later b must not stop it. */
    {"contested: no stop of a model an earlier request waits for", AB, {{"a", ST}},
     {{"a", 1}, {"b", 2}}, 10, "wait#0, wait#1"},
    {"uncontested: the same b stops a starting a nobody waits for", AB, {{"a", ST}}, {{"b", 2}},
     10, "stop a for b, wait#0"},
    {"a request for the running model goes first, b waits", AB, {{"a", R, 1}, {"b", S}},
     {{"a", 1}, {"b", 2}, {"a", 3}}, 10, "dispatch#0, wait#1, dispatch#2"},
    /* Group rules: exclusive chat evicts the side group, spares the persistent one. */
    {"exclusive evicts other groups, persistent is kept", GROUPS, {{"e", R}, {"r", R}},
     {{"a", 1}}, 10, "stop r for a, wait#0"},
    {"exclusive: start once the evicted model is gone", GROUPS,
     {{"e", R}, {"r", R, 0, .nochild = true}}, {{"a", 1}}, 10, "stop r for a, start a, wait#0"},
    {"swap group: one member at a time", GROUPS, {{"a", R}, {"e", R}}, {{"b", 1}}, 10,
     "stop a for b, wait#0"},
    {"non-exclusive group evicts nobody", GROUPS, {{"a", R}}, {{"e", 1}, {"r", 2}}, 10,
     "start e, wait#0, start r, wait#1"},
    {"evicted model busy: wait, no stop", GROUPS, {{"r", R, 2}}, {{"a", 1}}, 10, "wait#0"},
    {"stopping model still counts as running", AB, {{"a", SP}}, {{"b", 1}}, 10, "wait#0"},
    {"stopped model whose process lingers: no start yet", AB, {{"a", S, .child = true}},
     {{"b", 1}}, 10, "wait#0"},
    /* A failed start fails the requests queued before it, not the ones after. */
    {"failed start fails earlier requests", AB, {{"a", F, .fails = 2}},
     {{"a", 1, 1}, {"a", 2, 2}}, 10, "fail-start#0, start a, wait#1"},
    {"failed model is started again for a new request", AB, {{"a", F, .fails = 1}},
     {{"a", 1, 1}}, 10, "start a, wait#0"},
    {"model removed by a reload: fail, others go on", AB, {{"a", R}}, {{NULL, 1}, {"a", 2}}, 10,
     "fail-removed#0, dispatch#1"},
    {"held request waits for its hold", AB, {{"a", R}}, {{"a", 1, 0, 20}, {"a", 2}}, 10,
     "wait#0, dispatch#1"},
    {"held request goes once the hold is over", AB, {{"a", R}}, {{"a", 1, 0, 20}}, 20,
     "dispatch#0"},
    {"dying model takes no requests", AB, {{"a", DY}}, {{"a", 1}}, 10, "wait#0"},
    {"dying model is stopped for another", AB, {{"a", DY}}, {{"b", 1}}, 10,
     "stop a for b, wait#0"},
    {"dying model just loaded keeps no residency", FREE3,
     {{"a", DY, .need = 600, .ready_ago_ms = 1}, {"c", S, .need = 600}}, {{"c", 1}}, 10,
     "stop a for c, wait#0", 1000},
    {"old process on the port: no start", AB, {{"a", S, .port_busy = true}}, {{"a", 1}}, 10,
     "wait#0"},
    /* Memory (budget in MiB; the memory constraint composed with the group rules). */
    {"memory: fits beside the running one", FREE3, {{"a", R, .need = 400}, {"c", S, .need = 400}},
     {{"c", 1}}, 10, "start c, wait#0", 1000},
    {"memory off: the same view starts regardless of sizes", FREE3,
     {{"a", R, .need = 900}, {"c", S, .need = 900}}, {{"c", 1}}, 10, "start c, wait#0", 0},
    {"memory: the idle model long unused goes, not the recent one", FREE3,
     {{"a", R, .need = 600, .idle_s = 600}, {"b", R, .need = 300, .idle_s = 10},
      {"c", S, .need = 500}},
     {{"c", 1}}, 1000000, "stop a for c, wait#0", 1000},
    {"memory: a busy model is waited for, never stopped", FREE3,
     {{"a", R, 1, .need = 600}, {"c", S, .need = 500}}, {{"c", 1}}, 10, "wait#0", 1000},
    {"memory: pinned model kept; too big beside it fails at once", FREE3,
     {{"a", R, .need = 600, .pinned = true}, {"b", R, .need = 300}, {"c", S, .need = 500}},
     {{"c", 1}, {"c", 2}}, 10, "fail-memory#0, fail-memory#1", 1000},
    {"memory: too big even alone fails at once", FREE3, {{"c", S, .need = 1200}}, {{"c", 1}}, 10,
     "fail-memory#0", 1000},
    {"memory: a model that just loaded keeps its place, wake when that ends", FREE3,
     {{"a", R, .need = 600, .ready_ago_ms = 2000}, {"c", S, .need = 500}}, {{"c", 9000}}, 10000,
     "wait#0, wake", 1000},
    {"memory: after the residency it may go", FREE3,
     {{"a", R, .need = 600, .ready_ago_ms = 6000}, {"c", S, .need = 500}}, {{"c", 9000}}, 10000,
     "stop a for c, wait#0", 1000},
    {"memory: a model that loads fast keeps its place only its own, shorter residency", FREE3,
     {{"a", R, .need = 600, .ready_ago_ms = 500, .resid_ms = 400}, {"c", S, .need = 500}},
     {{"c", 9000}}, 10000, "stop a for c, wait#0", 1000},
    {"memory: within its own residency it stays, wake when that ends", FREE3,
     {{"a", R, .need = 600, .ready_ago_ms = 300, .resid_ms = 400}, {"c", S, .need = 500}},
     {{"c", 9000}}, 10000, "wait#0, wake", 1000},
    {"memory: an own residency longer than the view's counts as the view's", FREE3,
     {{"a", R, .need = 600, .ready_ago_ms = 6000, .resid_ms = 60000}, {"c", S, .need = 500}},
     {{"c", 9000}}, 10000, "stop a for c, wait#0", 1000},
    {"memory: a waiting request holds its room against later ones", FREE3,
     {{"a", R, 1, .need = 600}, {"b", S, .need = 300}, {"c", S, .need = 500}},
     {{"c", 1}, {"b", 2}}, 10, "wait#0, wait#1", 1000},
    {"memory: without the earlier request the later one fits", FREE3,
     {{"a", R, 1, .need = 600}, {"b", S, .need = 300}}, {{"b", 2}}, 10, "start b, wait#0", 1000},
    {"memory: a model stopping still holds its room", FREE3,
     {{"a", SP, .need = 600}, {"c", S, .need = 500}}, {{"c", 1}}, 10, "wait#0", 1000},
    /* A budget of 0 is no room (plan and memfit agree); no limit is memory off. */
    {"memory: a 0 budget is no room: a model that needs memory fails at once", FREE3,
     {{"c", S, .need = 100}}, {{"c", 1}}, 10, "fail-memory#0", 0, true},
    {"memory: a 0 budget still takes a model that needs none of it", FREE3, {{"c", S, .need = 0}},
     {{"c", 1}}, 10, "start c, wait#0", 0, true},
    /* Priorities order the queue; a request waiting past the bound goes first anyway. */
    {"priority: higher first", FREE3, {{"a", R}, {"b", R, .prio = 5}}, {{"a", 1000}, {"b", 2000}},
     3000, "dispatch#1, dispatch#0"},
    {"priority: FIFO within one priority", FREE3, {{"a", R, .prio = 5}, {"b", R, .prio = 5}},
     {{"a", 1000}, {"b", 2000}}, 3000, "dispatch#0, dispatch#1"},
    {"priority: starvation bound", FREE3, {{"a", R}, {"b", R, .prio = 5}},
     {{"a", 1000}, {"b", 69000}}, 70000, "dispatch#0, dispatch#1"},
};

static void describe(const gs_config *c, const gs_plan_action *a, int n, char *out, size_t cap)
{
    size_t k = 0;
    out[0] = 0;
    for (int i = 0; i < n && k < cap; i++) {
        const char *sep = i ? ", " : "";
        int w;
        if (a[i].verb == GS_PLAN_STOP)
            w = snprintf(out + k, cap - k, "%sstop %s for %s", sep, c->models[a[i].model].id,
                         c->models[a[i].for_model].id);
        else if (a[i].verb == GS_PLAN_WAKE)
            w = snprintf(out + k, cap - k, "%swake", sep);
        else if (a[i].verb == GS_PLAN_START)
            w = snprintf(out + k, cap - k, "%sstart %s", sep, c->models[a[i].model].id);
        else
            w = snprintf(out + k, cap - k, "%s%s#%d", sep, gs_plan_verb_name(a[i].verb), a[i].item);
        k += (size_t)(w > 0 ? w : 0);
    }
}

static void run_case(const pcase *pc)
{
    gs_config *c = test_config(pc->yaml);
    gs_plan_model models[8];
    gs_memfit_model fm[8];
    memset(models, 0, sizeof models);
    memset(fm, 0, sizeof fm);
    cr_assert_leq(c->nmodels, 8);
    for (int i = 0; i < (int)GS_ARRAY_LEN(pc->m) && pc->m[i].id; i++) {
        const mspec *m = &pc->m[i];
        int x = gs_config_find(c, m->id);
        cr_assert_geq(x, 0, "%s: no model %s", pc->name, m->id);
        bool up = m->st == R || m->st == ST || m->st == SP || m->st == DY;
        models[x] = (gs_plan_model){m->st, (up && !m->nochild) || m->child, m->port_busy,
                                    m->inflight, m->fails};
        models[x].need[0] = m->need << 20;
        models[x].pinned = m->pinned;
        models[x].priority = m->prio;
        if (m->ready_ago_ms)
            models[x].ready_ns = (pc->now_ms - m->ready_ago_ms) * MS;
        models[x].residency_ns = m->resid_ms * MS;
        fm[x] = (gs_memfit_model){.pinned = m->pinned, .busy = m->inflight > 0,
                                  .idle_ms = m->idle_s * 1000};
        fm[x].need[0] = m->need << 20;
    }
    gs_plan_device dev = {.budget = pc->budget << 20};
    gs_memfit fit = {.models = fm, .n = c->nmodels, .ndev = 1, .inner = gs_router_evictions,
                     .inner_ud = c};
    fit.budget[0] = dev.budget;
    gs_plan_item items[8];
    int nq = 0;
    for (; nq < (int)GS_ARRAY_LEN(pc->q) && pc->q[nq].t0_ms; nq++) {
        const ispec *q = &pc->q[nq];
        items[nq] = (gs_plan_item){q->model ? gs_config_find(c, q->model) : -1, q->fails_seen,
                                   q->t0_ms * MS, q->hold_ms * MS};
    }
    gs_plan_view v = {models, c->nmodels, items, nq, pc->now_ms * MS, GS_PLAN_WINDOW_NS,
                      {gs_router_evictions, c}};
    v.starve_ns = GS_PLAN_STARVE_NS;
    if (pc->budget || pc->no_room) {
        v.constraint = (gs_plan_constraint){gs_memfit_evictions, &fit};
        v.devices = &dev;
        v.ndevices = 1;
        v.residency_ns = GS_PLAN_RESIDENCY_NS;
    }
    gs_plan_action acts[32];
    cr_assert_leq(gs_plan_capacity(&v), 32);
    int n = gs_plan_decide(&v, acts, gs_plan_capacity(&v));
    char got[512];
    describe(c, acts, n, got, sizeof got);
    cr_expect_str_eq(got, pc->want, "%s:\n  got  %s\n  want %s", pc->name, got, pc->want);
    gs_config_free(c);
}

Test(sched, plan_table)
{
    for (size_t i = 0; i < GS_ARRAY_LEN(cases); i++)
        run_case(&cases[i]);
}

/* Each item gets exactly one item action, whatever the view: a property over many views. */
Test(sched, one_item_action_per_request)
{
    gs_config *c = test_config(GROUPS);
    unsigned seed = 12345;
    for (int round = 0; round < 2000; round++) {
        gs_plan_model models[4];
        for (int i = 0; i < 4; i++) {
            seed = seed * 1103515245u + 12345u;
            models[i] = (gs_plan_model){(gs_plan_mstate)((seed >> 8) % 6), (seed >> 12) & 1,
                                        (seed >> 14) & 1, (int)((seed >> 15) % 3),
                                        (seed >> 17) & 1};
        }
        gs_plan_item items[6];
        for (int i = 0; i < 6; i++) {
            seed = seed * 1103515245u + 12345u;
            items[i] = (gs_plan_item){(int)((seed >> 8) % 5) - 1, (seed >> 11) & 1,
                                      (uint64_t)i * 1000 * MS, ((seed >> 12) & 1) * 20000 * MS};
        }
        gs_plan_view v = {models, 4, items, 6, 10000 * MS, GS_PLAN_WINDOW_NS,
                          {gs_router_evictions, c}};
        gs_plan_action acts[16];
        int n = gs_plan_decide(&v, acts, gs_plan_capacity(&v));
        int per_item[6] = {0}, starts[4] = {0}, stops[4] = {0};
        for (int i = 0; i < n; i++) {
            if (acts[i].verb == GS_PLAN_WAKE)
                continue;
            if (acts[i].verb == GS_PLAN_START)
                starts[acts[i].model]++;
            else if (acts[i].verb == GS_PLAN_STOP)
                stops[acts[i].model]++;
            else
                per_item[acts[i].item]++;
        }
        for (int i = 0; i < 6; i++)
            cr_assert_eq(per_item[i], 1, "round %d item %d: %d item actions", round, i,
                         per_item[i]);
        for (int i = 0; i < 4; i++)
            cr_assert(starts[i] <= 1 && stops[i] <= 1, "round %d model %d", round, i);
    }
    gs_config_free(c);
}

/* Another constraint (a swap-matrix solver would be one) plugs in the same way. */
static void keep_b_only(const void *ud, int target, const bool *running, int n, bool *evict)
{
    (void)ud;
    (void)target;
    for (int r = 0; r < n; r++)
        evict[r] = running[r] && r != 1; /* everything but model 1 makes way */
}

Test(sched, other_constraint_plugs_in)
{
    gs_plan_model models[3] = {{R, true}, {R, true}, {S}};
    gs_plan_item items[1] = {{2, 0, 1 * MS, 0}};
    gs_plan_view v = {models, 3, items, 1, 10 * MS, GS_PLAN_WINDOW_NS, {keep_b_only, NULL}};
    gs_plan_action acts[8];
    int n = gs_plan_decide(&v, acts, gs_plan_capacity(&v));
    cr_assert_eq(n, 2);
    cr_assert_eq(acts[0].verb, GS_PLAN_STOP);
    cr_assert_eq(acts[0].model, 0);
    cr_assert_eq(acts[0].for_model, 2);
    cr_assert_eq(acts[1].verb, GS_PLAN_WAIT);
}

Test(sched, too_small_output_never_overruns)
{
    gs_plan_model models[2] = {{R, true, false, false, 1}, {S}};
    gs_plan_item items[4] = {{1, 0, 1 * MS}, {0, 0, 2 * MS}, {1, 0, 3 * MS}, {0, 0, 4 * MS}};
    gs_config *c = test_config(AB);
    gs_plan_view v = {models, 2, items, 4, 10 * MS, GS_PLAN_WINDOW_NS, {gs_router_evictions, c}};
    gs_plan_action acts[3];
    cr_assert_eq(gs_plan_decide(&v, acts, 3), 3);
    gs_config_free(c);
}
