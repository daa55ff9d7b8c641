#include "memfit.h"

#include <stdlib.h>
#include <string.h>

#include "mem.h"

/* What a start costs when nothing was measured yet. */
#define DEFAULT_LOAD_MS 1000

/* The first device where target does not fit beside `stay`, or -1. */
static int short_device(const gs_memfit *f, int target, const bool *stay, uint64_t *free)
{
    for (int d = 0; d < f->ndev && d < GS_MEMEST_MAX_DEV; d++) {
        uint64_t used = 0;
        for (int i = 0; i < f->n; i++)
            if (stay[i] && i != target)
                used += f->models[i].need[d];
        uint64_t left = used < f->budget[d] ? f->budget[d] - used : 0;
        if (f->models[target].need[d] > left) {
            if (free)
                *free = left;
            return d;
        }
    }
    return -1;
}

/* LRU weighted by the reload time: what stopping it costs per second it has been idle. A
 * model just used costs its whole load time; one idle for a minute a sixtieth of it. */
static double cost(const gs_memfit_model *m)
{
    double load = m->load_ms ? (double)m->load_ms : DEFAULT_LOAD_MS;
    return load / (1000.0 + (double)m->idle_ms);
}

/* The model to stop next to make room on device d, short by `need` bytes: idle before busy;
 * among those, the cheapest to reload of the ones whose stop alone makes the room, else the
 * one that frees the most there (fewest stops). -1 when none may be stopped. */
static int pick(const gs_memfit *f, const bool *stay, int target, int d, uint64_t need)
{
    int best = -1;
    for (int i = 0; i < f->n; i++) {
        const gs_memfit_model *m = &f->models[i];
        if (!stay[i] || i == target || m->pinned || !m->need[d])
            continue;
        if (best < 0) {
            best = i;
            continue;
        }
        const gs_memfit_model *b = &f->models[best];
        if (m->busy != b->busy) {
            if (!m->busy)
                best = i;
            continue;
        }
        bool me = m->need[d] >= need, be = b->need[d] >= need;
        if (me != be) {
            if (me)
                best = i;
            continue;
        }
        double cm = cost(m), cb = cost(b);
        if (me ? (cm < cb || (cm == cb && m->need[d] > b->need[d]))
               : (m->need[d] > b->need[d] || (m->need[d] == b->need[d] && cm < cb)))
            best = i;
    }
    return best;
}

void gs_memfit_evictions(const void *ud, int target, const bool *running, int n, bool *evict)
{
    const gs_memfit *f = ud;
    if (f->inner)
        f->inner(f->inner_ud, target, running, n, evict);
    if (target < 0 || target >= f->n || n != f->n)
        return;
    bool stay_small[64] = {false}, *stay = n <= 64 ? stay_small : gs_mem_calloc((size_t)n, sizeof *stay);
    for (int i = 0; i < n; i++)
        stay[i] = running[i] && !evict[i] && i != target;
    int d;
    uint64_t left;
    while ((d = short_device(f, target, stay, &left)) >= 0) {
        int v = pick(f, stay, target, d, f->models[target].need[d] - left);
        if (v < 0)
            break;
        stay[v] = false;
        evict[v] = true;
    }
    if (stay != stay_small)
        free(stay);
}

bool gs_memfit_too_big(const gs_memfit *f, int target, const bool *running, int *dev)
{
    if (target < 0 || target >= f->n)
        return false;
    bool stay_small[64] = {false}, *stay = f->n <= 64 ? stay_small : gs_mem_calloc((size_t)f->n, sizeof *stay);
    for (int i = 0; i < f->n; i++)
        stay[i] = running && running[i] && f->models[i].pinned && i != target;
    int d = short_device(f, target, stay, NULL);
    if (stay != stay_small)
        free(stay);
    if (dev)
        *dev = d;
    return d >= 0;
}

uint64_t gs_memfit_shortfall(const gs_memfit *f, int target, const bool *running, int *dev,
                             uint64_t *free_left)
{
    uint64_t left = 0;
    bool stay_small[64] = {false}, *stay = f->n <= 64 ? stay_small : gs_mem_calloc((size_t)f->n, sizeof *stay);
    for (int i = 0; i < f->n; i++)
        stay[i] = running[i] && i != target;
    int d = short_device(f, target, stay, &left);
    if (stay != stay_small)
        free(stay);
    if (dev)
        *dev = d;
    if (free_left)
        *free_left = d >= 0 ? left : 0;
    return d >= 0 ? f->models[target].need[d] - left : 0;
}
