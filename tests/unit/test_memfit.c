#include <criterion/criterion.h>
#include <string.h>

#include "memfit.h"

#define MiB (1024ull * 1024)

TestSuite(memfit, .timeout = 30);

/* One table row: models (RAM need in MiB, flags), which run, the budget, the target, and the
 * models that must stop. Flags: p pinned, b busy; load_ms and idle_ms per model. */
typedef struct row {
    const char *what;
    int n;
    unsigned need[6];
    const char *flags[6];
    unsigned load_ms[6], idle_s[6];
    const char *running; /* "1100": models 0 and 1 run */
    unsigned budget;
    int target;
    const char *want;    /* "0100": model 1 must stop */
} row;

static void run_row(const row *r, bool *evict)
{
    gs_memfit_model m[6];
    memset(m, 0, sizeof m);
    for (int i = 0; i < r->n; i++) {
        m[i].need[0] = r->need[i] * MiB;
        m[i].pinned = r->flags[i] && strchr(r->flags[i], 'p');
        m[i].busy = r->flags[i] && strchr(r->flags[i], 'b');
        m[i].load_ms = r->load_ms[i];
        m[i].idle_ms = r->idle_s[i] * 1000ull;
    }
    gs_memfit f = {.models = m, .n = r->n, .ndev = 1, .budget = {r->budget * MiB}};
    bool running[6] = {false};
    for (int i = 0; i < r->n; i++)
        running[i] = r->running[i] == '1';
    memset(evict, 0, 6);
    gs_memfit_evictions(&f, r->target, running, r->n, evict);
}

Test(memfit, decisions_table)
{
    static const row t[] = {
        {"fits beside the running ones", 3, {200, 200, 200}, {0}, {0}, {0}, "110", 4096, 2, "000"},
        {"450 MiB: the third does not fit, one goes", 3, {200, 200, 200}, {0}, {0}, {0}, "110", 450, 2, "100"},
        {"cheapest to reload goes first", 3, {200, 200, 200}, {0}, {5000, 500, 0}, {0}, "110", 450, 2, "010"},
        {"a long-idle model is cheaper", 3, {200, 200, 200}, {0}, {1000, 1000, 0}, {600, 0, 0}, "110", 450, 2, "100"},
        {"idle before busy", 3, {200, 200, 200}, {"b", 0, 0}, {100, 5000, 0}, {0}, "110", 450, 2, "010"},
        {"busy only when idle is not enough (plan waits)", 3, {200, 200, 300}, {"b", 0, 0}, {0}, {0}, "110", 450, 2, "110"},
        {"pinned is never chosen", 3, {200, 200, 200}, {"p", 0, 0}, {0, 9000, 0}, {0}, "110", 450, 2, "010"},
        {"two must go for a big one", 4, {100, 100, 100, 300}, {0}, {0}, {0}, "1110", 450, 3, "110" "0"},
        {"only as many as needed", 4, {100, 100, 100, 200}, {0}, {10, 20, 30, 0}, {0}, "1110", 450, 3, "1000"},
        {"least recently used, loads alike", 3, {200, 200, 200}, {0}, {1000, 1100, 0}, {2, 30, 0}, "110", 450, 2, "010"},
        {"a slow reload outweighs a little idleness", 3, {200, 200, 200}, {0}, {500, 20000, 0}, {1, 5, 0}, "110", 450, 2, "100"},
        {"stopped models cost nothing", 3, {200, 200, 200}, {0}, {0}, {0}, "100", 450, 2, "000"},
        {"exactly the budget fits", 2, {225, 225}, {0}, {0}, {0}, "10", 450, 1, "00"},
        {"a 0 budget is no room: all that may go goes (the plan then fails it)", 3, {200, 200, 100},
         {0}, {0}, {0}, "110", 0, 2, "110"},
        {"a 0 budget: a model needing none of it stops nothing", 3, {200, 200, 0}, {0}, {0}, {0},
         "110", 0, 2, "000"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        bool ev[6];
        run_row(&t[i], ev);
        char got[7] = {0};
        for (int k = 0; k < t[i].n; k++)
            got[k] = ev[k] ? '1' : '0';
        cr_expect_str_eq(got, t[i].want, "%s: stops %s, want %s", t[i].what, got, t[i].want);
    }
}

static void inner_evict_first(const void *ud, int target, const bool *running, int n, bool *evict)
{
    (void)ud;
    (void)target;
    if (n > 0 && running[0])
        evict[0] = true; /* as a group rule would */
}

Test(memfit, composes_with_group_rules)
{
    gs_memfit_model m[3] = {{.need = {200 * MiB}}, {.need = {200 * MiB}}, {.need = {200 * MiB}}};
    gs_memfit f = {.models = m, .n = 3, .ndev = 1, .budget = {450 * MiB}, .inner = inner_evict_first};
    bool running[3] = {true, true, false}, ev[3] = {false};
    gs_memfit_evictions(&f, 2, running, 3, ev);
    /* the group rule stops model 0; that alone makes room */
    cr_expect(ev[0] && !ev[1] && !ev[2]);
}

Test(memfit, per_device)
{
    /* model 1 holds only GPU memory: stopping it frees no RAM */
    gs_memfit_model m[3] = {
        {.need = {100 * MiB, 0}, .load_ms = 9000},
        {.need = {10 * MiB, 4000 * MiB}, .load_ms = 10},
        {.need = {300 * MiB, 3000 * MiB}},
    };
    gs_memfit f = {.models = m, .n = 3, .ndev = 2, .budget = {350 * MiB, 8000 * MiB}};
    bool running[3] = {true, true, false}, ev[3] = {false};
    gs_memfit_evictions(&f, 2, running, 3, ev);
    cr_expect(ev[0] && !ev[1], "RAM is short: the RAM user goes although it is dearer");
    memset(ev, 0, sizeof ev);
    f.budget[0] = 8000 * MiB;
    f.budget[1] = 6000 * MiB;
    gs_memfit_evictions(&f, 2, running, 3, ev);
    cr_expect(!ev[0] && ev[1], "GPU is short: the GPU user goes");
    int dev = -1;
    uint64_t fr = 0;
    cr_expect_eq(gs_memfit_shortfall(&f, 2, running, &dev, &fr), 1000 * MiB);
    cr_expect_eq(dev, 1);
    cr_expect_eq(fr, 2000 * MiB);
}

Test(memfit, too_big)
{
    gs_memfit_model m[2] = {{.need = {300 * MiB}, .pinned = true}, {.need = {500 * MiB}}};
    gs_memfit f = {.models = m, .n = 2, .ndev = 1, .budget = {450 * MiB}};
    int dev = -1;
    cr_expect(gs_memfit_too_big(&f, 1, NULL, &dev), "500 MiB in a 450 MiB budget");
    cr_expect_eq(dev, 0);
    m[1].need[0] = 200 * MiB;
    bool running[2] = {true, false};
    cr_expect(gs_memfit_too_big(&f, 1, running, &dev), "the pinned model leaves 150 MiB");
    running[0] = false;
    cr_expect(!gs_memfit_too_big(&f, 1, running, &dev));
    cr_expect(!gs_memfit_too_big(&f, 0, NULL, &dev));
}

Test(memfit, a_zero_budget_is_no_room)
{
    gs_memfit_model m[2] = {{.need = {0, 300 * MiB}}, {.need = {1 * MiB, 0}}};
    gs_memfit f = {.models = m, .n = 2, .ndev = 2, .budget = {4096 * MiB, 0}};
    int dev = -1;
    cr_expect(gs_memfit_too_big(&f, 0, NULL, &dev), "300 MiB of GPU in a 0 budget");
    cr_expect_eq(dev, 1);
    cr_expect_not(gs_memfit_too_big(&f, 1, NULL, &dev), "needs none of the 0-budget GPU");
    cr_expect_eq(dev, -1);
}
