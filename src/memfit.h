/* memfit: which running models must stop so that another fits in memory (a plan constraint).
 *
 * The scheduler's plan (plan.h) asks a constraint which running models must stop before a
 * model may start. memfit answers for memory, composed with another constraint (llama-swap's
 * group rules) that it asks first: the target starts beside the running models while, on
 * every device, their figures and its own stay within the budget; otherwise running models
 * are chosen to stop, idle ones first, cheapest to reload first (least recently used, weighted
 * by its measured load time), until it fits. Models pinned (`swappable: false`) or in a
 * persistent group are never chosen. A model with requests in flight is chosen only when the
 * idle ones are not enough, and the plan then waits for it rather than cutting it off. Pure:
 * the caller fills a gs_memfit snapshot per pass; tables in tests/unit/test_memfit.c. */
#ifndef GS_MEMFIT_H
#define GS_MEMFIT_H
#include <stdbool.h>
#include <stdint.h>

#include "memest.h"

typedef void (*gs_memfit_inner_fn)(const void *ud, int target, const bool *running, int n,
                                   bool *evict);

typedef struct gs_memfit_model {
    uint64_t need[GS_MEMEST_MAX_DEV]; /* bytes to plan with (memory.h) */
    bool pinned;        /* swappable: false, or a persistent group's member */
    bool busy;          /* requests in flight */
    uint64_t load_ms;   /* how long it takes to start (measured; 0 unknown) */
    uint64_t idle_ms;   /* since its last request ended */
} gs_memfit_model;

typedef struct gs_memfit {
    const gs_memfit_model *models;
    int n;
    int ndev;
    uint64_t budget[GS_MEMEST_MAX_DEV];
    gs_memfit_inner_fn inner; /* may be NULL */
    const void *inner_ud;
} gs_memfit;

/* The plan's constraint (gs_plan_evict_fn): ud is a const gs_memfit *. evict[] gets the inner
 * constraint's choices and memory's. When even all that may be chosen is not enough, it
 * chooses all of it (the plan then waits; gs_memfit_too_big tells the hopeless case). */
void gs_memfit_evictions(const void *ud, int target, const bool *running, int n, bool *evict);
/* True when the target cannot fit even with every model that may be stopped stopped: it
 * alone exceeds the budget, or the pinned models running (running may be NULL) leave too
 * little. *dev says which device. */
bool gs_memfit_too_big(const gs_memfit *f, int target, const bool *running, int *dev);
/* How much more the target needs than is free on the device where it is shortest, given the
 * running set (0 when it fits); for the eviction message. */
uint64_t gs_memfit_shortfall(const gs_memfit *f, int target, const bool *running, int *dev,
                             uint64_t *free_left);

#endif
