/* scheduler: the queue of requests waiting for their model, the requests in flight, and
 * carrying out what the plan (plan.h) decides. Public names are gs_sched_*; the file is not
 * sched.h because -Isrc would then hide the system <sched.h>.
 *
 * A request that names a model is queued; gs_sched_pump copies the models and the queue into a
 * view, asks gs_plan_decide, and carries out its actions in order: dispatch a request (handed
 * to the forwarder, forward.h), fail one, stop a model that must make way, start one. The pump
 * runs again on every event that can change an answer: a new request, a request finished, a
 * process changed state (the server calls gs_sched_pump from its process callback), the retry
 * timer. Which running models must stop before another may run is the plan's constraint:
 * llama-swap's group rules (router.h) unless another is set (a swap-matrix solver).
 *
 * Each request has one lifecycle, changed by one setter that logs it:
 *   QUEUED -> SENT -> STREAMING -> DONE, with HELD (queued again for a moment after the model it
 *   was sent to had just died) and DONE straight from any state (answered, failed, client gone).
 * Which list a request is on (queue, active, none) is kept apart from its state. The server
 * hears of finished requests and changed counters through hooks, so this module does not know
 * the server. */
#ifndef GS_SCHEDULER_H
#define GS_SCHEDULER_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "http.h"
#include "plan.h"
#include "proc.h"
#include "timing.h"
#include "stats.h"

typedef enum gs_sched_req_state {
    GS_SCHED_QUEUED = 0, /* waiting for its model (start, swap, or an earlier request) */
    GS_SCHED_HELD,       /* queued again: its model had just died; not before hold time */
    GS_SCHED_SENT,       /* sent upstream; no response head yet */
    GS_SCHED_STREAMING,  /* the response head went to the client; body in progress */
    GS_SCHED_DONE,       /* answered or given up; freed right after */
} gs_sched_req_state;

typedef struct gs_sched_req gs_sched_req;

/* One pass's view, as the scheduler built it from the processes (state, requests in flight,
 * when each became ready), for the prepare hook to complete: the constraint (preset: the group
 * rules), and for memory-aware scheduling the devices and each model's need, pin and
 * priority. */
typedef struct gs_sched_pass {
    gs_plan_constraint constraint;
    gs_plan_model *models;  /* nmodels entries, parallel to the config's models */
    int nmodels;
    gs_plan_device devices[GS_PLAN_MAX_DEVICES];
    int ndevices;           /* 0: memory off (the preset) */
} gs_sched_pass;

typedef struct gs_sched_hooks {
    /* A request ended (answered, failed, or its client went away); not for loads. */
    void (*request_done)(const gs_request_log *r, void *ud);
    /* A model's counters changed: a request it was serving ended. */
    void (*model_changed)(gs_proc *p, void *ud);
    /* True while an older process on p's port is still alive (reload): p must not start. */
    bool (*port_busy)(const gs_proc *p, void *ud);
    /* Before each plan pass (may set the constraint for it: memory's snapshot); may be NULL. */
    void (*before_plan)(void *ud);
    /* The plan stops model `victim` to make way for `target`; may be NULL. */
    void (*stopping)(int victim, int target, void *ud);
    /* After before_plan: complete the pass's view (memory: devices, needs, pins); may be NULL. */
    void (*prepare)(gs_sched_pass *pass, void *ud);
    /* Why model idx can never run (503 insufficient_memory; caller frees), for the plan's
     * FAIL_MEMORY; NULL: the scheduler words it from the plan's sizes. May be NULL. */
    char *(*refuse)(int idx, void *ud);
    void *ud;
} gs_sched_hooks;

typedef struct gs_sched {
    uv_loop_t *loop;
    gs_sched_hooks hooks;
    const gs_config *cfg;        /* in force (gs_sched_set_models) */
    gs_proc **procs;             /* parallel to cfg->models */
    gs_plan_evict_fn evictions;  /* NULL: the group rules of cfg */
    const void *evictions_ud;
    gs_sched_req *queue_head, *queue_tail;
    gs_sched_req *active;        /* requests in flight */
    bool pumping;                /* a pump is running: re-entrant calls just ask again */
    bool pump_again;
    uv_timer_t retry_timer;      /* re-examines the queue after a request was held back, or
                                  * when a residency ends (the plan's WAKE) */
    uint64_t retry_due_ns;       /* when it fires; 0: not armed */
    gs_timing *timing;           /* per model histograms to feed (timing.h), or NULL */
} gs_sched;

void gs_sched_init(gs_sched *s, uv_loop_t *loop, const gs_sched_hooks *hooks);
/* The models in force, after every config change (procs parallel to cfg->models). */
void gs_sched_set_models(gs_sched *s, const gs_config *cfg, gs_proc **procs);
/* Replace the constraint of the plan (a swap-matrix solver); fn NULL: the group rules. */
void gs_sched_set_constraint(gs_sched *s, gs_plan_evict_fn fn, const void *ud);

/* Take over req for the model at index idx: `upath` is the path (and query) to request
 * upstream; body (ownership passes; NULL forwards req->body unchanged). */
void gs_sched_request(gs_sched *s, gs_http_req *req, int idx, const char *upath, char *body,
                      size_t body_len);
/* Load a model as a request would (swapping per the constraint) and answer req with
 * {"ok":true,...} once it is ready, or the error; req may be NULL (preload). */
void gs_sched_load(gs_sched *s, gs_http_req *req, int idx);
/* Re-examine the queue (after any event). Safe to call from any callback. */
void gs_sched_pump(gs_sched *s);
/* Answer queued requests for p (NULL: all) with an error, e.g. when the service stops. */
void gs_sched_fail_queued(gs_sched *s, gs_proc *p, int status, const char *msg);
/* Cut requests in flight on p (NULL: all): the client gets an error (event) and the upstream
 * connection is closed. */
void gs_sched_cancel_active(gs_sched *s, gs_proc *p, const char *msg);
/* Requests queued for p. */
int gs_sched_queued(const gs_sched *s, const gs_proc *p);
/* True while any request is in flight. */
bool gs_sched_busy(const gs_sched *s);
/* After a reload: queued requests follow their model to its new proc, or fail if it is gone
 * (now NULL: they fail on the next pump). */
void gs_sched_retarget(gs_sched *s, gs_proc *old, gs_proc *now);
const char *gs_sched_req_state_name(gs_sched_req_state st);
/* p's last failed start is not held against the requests queued for it: the next pass starts
 * it again instead of failing them (the retry after running out of memory). */
void gs_sched_forgive(gs_sched *s, const gs_proc *p);

#endif
