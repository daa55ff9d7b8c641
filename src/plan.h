/* plan: the scheduler's decision, as a pure function over a view of the models and the queue.
 *
 * The scheduler (scheduler.c) copies what matters of each model (state, requests in flight, ...)
 * and of each queued request (its model, when it came) into a gs_plan_view, asks
 * gs_plan_decide, and carries out the actions it returns, in order. The plan walks the queue in
 * FIFO order and, for each request, decides: dispatch it (its model is ready and nothing must
 * make way), fail it (its model was removed by a reload, or failed to start since it was
 * queued), or let it wait, possibly after stopping what must make way and starting its model.
 * A request never jumps ahead of an earlier one that needs its model stopped, so two models
 * wanted in turn are served in batches (A B A B -> A A B B) instead of thrashing; but a model an
 * earlier request waits to swap out takes new requests for at most the batching window, so a
 * steady stream of A cannot starve B. Two requests whose models must evict each other while
 * both are wanted are "contested": nothing is stopped while the loser still has work in flight.
 * The plan simulates the effect of each action on its copy of the view (a stopped model is
 * stopping, a dispatched request is in flight), so later requests in the same pass see them.
 *
 * Memory (only when the view has devices; without, the decision is exactly llama-swap's): which
 * running models must stop so that a model fits is the constraint's answer (memfit.h composes
 * it with the group rules). The plan adds what a constraint cannot say: a model that cannot fit
 * even alone, or beside the pinned models (`swappable: false`, persistent groups), fails its
 * requests at once (FAIL_MEMORY) instead of waiting forever; a model starts only when its need
 * fits beside what stays running and the room that earlier waiting requests hold (a request
 * waiting for room reserves it, so later ones cannot take it first: no starvation); a model
 * that has just loaded keeps its place for the residency time (no thrashing): nothing is
 * stopped for another until then, and the plan asks to be woken (WAKE) when it ends. A model
 * with requests in flight is never stopped: the plan waits for it (as for the group rules).
 *
 * Priorities (routing.scheduler) order the queue: higher first, FIFO within a priority; a request
 * that has waited longer than the starvation bound goes first whatever its priority.
 *
 * Which running models must stop before a model may run is not decided here: the view carries a
 * gs_plan_constraint, a function over the set of running models. llama-swap's group rules
 * (router.c) are one; a swap-matrix solver is another. No I/O, no clock, no allocation for
 * views of up to 64 models: the unit tests drive it with tables. */
#ifndef GS_PLAN_H
#define GS_PLAN_H
#include <stdbool.h>
#include <stdint.h>

/* A model's state as the plan sees it (mirrors gs_proc_state). */
typedef enum gs_plan_mstate {
    GS_PLAN_STOPPED = 0,
    GS_PLAN_STARTING,
    GS_PLAN_READY,
    GS_PLAN_STOPPING,
    GS_PLAN_FAILED,
    GS_PLAN_DYING,     /* was ready, its process is seen dead: takes no request, may be stopped */
} gs_plan_mstate;

/* The constraint: which running models must stop before `target` may run.
 *
 * running[r] is true for every model that counts as running (not stopped, or whose process is
 * still going away), never for target itself; n is the number of models. The function sets
 * evict[r] (all false on entry) for each running model that must stop first; it may only mark
 * models that are running. It must be pure: the plan calls it once per queued request and
 * relies on the same answer for the same arguments. ud is the constraint's own data (the config
 * for the group rules, a solved matrix for a solver). */
typedef void (*gs_plan_evict_fn)(const void *ud, int target, const bool *running, int n,
                                 bool *evict);

typedef struct gs_plan_constraint {
    gs_plan_evict_fn evictions;
    const void *ud;
} gs_plan_constraint;

/* Devices the models' memory lives on: index 0 is RAM, then one per GPU (up to 8). */
#define GS_PLAN_MAX_DEVICES 9

typedef struct gs_plan_device {
    uint64_t budget;   /* bytes the view's models may occupy on it; 0: no room (a model that
                        * needs none there still fits). No limit = memory off: no devices */
    uint64_t used;     /* bytes taken on it by anything else than the view's models */
} gs_plan_device;

typedef struct gs_plan_model {
    gs_plan_mstate state;
    bool alive;        /* a child process exists (it may outlive STOPPED/FAILED briefly) */
    bool port_busy;    /* an older process on the same port is still alive (reload) */
    int inflight;      /* requests being served */
    unsigned fails;    /* count of failed starts, compared with an item's fails_seen */
    /* Memory-aware scheduling (read only when the view has devices): */
    uint64_t need[GS_PLAN_MAX_DEVICES]; /* bytes per device while it runs; 0: unknown (nothing) */
    bool pinned;       /* never stopped for memory: swappable: false, or a persistent group */
    int priority;      /* routing.scheduler priority: higher is served first; default 0 */
    uint64_t ready_ns; /* when it became ready (READY only; monotonic ns), for the residency */
    uint64_t residency_ns; /* its own residency, when shorter than the view's (a model that
                            * loads fast loses little to a swap); 0: the view's */
} gs_plan_model;

typedef struct gs_plan_item {
    int model;           /* index into the view's models; -1: removed by a reload */
    unsigned fails_seen; /* the model's fails when the request was queued */
    uint64_t t0_ns;      /* when the request arrived (monotonic ns) */
    uint64_t hold_ns;    /* not before then: the model it hit had just died */
} gs_plan_item;

typedef struct gs_plan_view {
    const gs_plan_model *models;
    int nmodels;
    const gs_plan_item *items; /* the queue, oldest first */
    int nitems;
    uint64_t now_ns;
    uint64_t window_ns;  /* the batching window; GS_PLAN_WINDOW_NS in the daemon */
    gs_plan_constraint constraint;
    /* Memory: ndevices 0 = off (the decision is exactly llama-swap's). */
    const gs_plan_device *devices;
    int ndevices;
    uint64_t residency_ns; /* a model that just loaded keeps its place this long (at most) */
    uint64_t starve_ns;    /* a request waiting this long goes first, whatever its priority;
                            * 0: no bound */
} gs_plan_view;

/* llama-swap's FIFO batching bound: 5 s. */
#define GS_PLAN_WINDOW_NS (5ull * 1000 * 1000 * 1000)
/* Memory: a freshly loaded model is not stopped for another within 5 s, or within its own
 * shorter residency (the daemon gives it 4x its load time). */
#define GS_PLAN_RESIDENCY_NS (5ull * 1000 * 1000 * 1000)
/* Priorities: nobody waits more than 60 s behind higher-priority requests. */
#define GS_PLAN_STARVE_NS (60ull * 1000 * 1000 * 1000)

typedef enum gs_plan_verb {
    GS_PLAN_DISPATCH = 0, /* send item to its model now */
    GS_PLAN_FAIL_REMOVED, /* item's model was removed by a reload: 503 */
    GS_PLAN_FAIL_START,   /* item's model failed to start since it was queued: 502 */
    GS_PLAN_WAIT,         /* item stays queued */
    GS_PLAN_STOP,         /* stop model, making way for for_model */
    GS_PLAN_START,        /* start model */
    GS_PLAN_FAIL_MEMORY,  /* item's model cannot fit even alone (or beside pinned ones): 503 */
    GS_PLAN_WAKE,         /* pump again at at_ns (a residency ends); at most one, last */
} gs_plan_verb;

typedef struct gs_plan_action {
    gs_plan_verb verb;
    int item;      /* the queued request this action is for (the one that caused a stop/start) */
    int model;     /* the model acted on (for item actions: the item's model, -1 if removed) */
    int for_model; /* STOP: the model it makes way for; else -1 */
    /* FAIL_MEMORY: the device where the model does not fit, what it needs there and what could
     * ever be had there (the budget less what others and the pinned models use). */
    int device;
    uint64_t need, avail;
    uint64_t at_ns; /* WAKE */
} gs_plan_action;

/* The most actions gs_plan_decide can return for v: one per item plus a stop and a start per
 * model, and a WAKE. */
int gs_plan_capacity(const gs_plan_view *v);
/* Decide; writes at most cap actions (cap >= gs_plan_capacity(v)) to out, in the order they
 * must be carried out, and returns how many. Each item gets exactly one of DISPATCH, FAIL_*,
 * WAIT; STOP and START come right before the WAIT of the item that caused them. */
int gs_plan_decide(const gs_plan_view *v, gs_plan_action *out, int cap);
const char *gs_plan_verb_name(gs_plan_verb v);

#endif
