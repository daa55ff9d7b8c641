/* proc: one supervised llama-server (or any upstream command) per model.
 *
 * Each model has one gs_proc with an explicit state machine: STOPPED -> STARTING -> READY ->
 * STOPPING -> STOPPED, FAILED when a start did not reach READY, and READY -> DYING -> STOPPED
 * when a request found the child dead before libuv reported its exit. All transitions go
 * through one function that logs them and calls the owner back, so the router and the event
 * stream see every change. Each timed concern has a timer of its own (health poll, start
 * deadline, stop grace, TTL), so none has to guess from elapsed time which one fired. Children run through ggswap's own binary as a tiny shim that asks the kernel to
 * kill them when ggswap dies (PR_SET_PDEATHSIG, which survives exec), in a session and process
 * group of their own, so a stop signals the whole group: SIGTERM (or cmdStop), then SIGKILL after
 * a timeout. Readiness is polled on the health endpoint with a short, growing interval and also
 * checked the moment the child prints anything, which is when llama-server reports it is ready:
 * a model is usually seen ready within a millisecond or two of its /health turning 200. Child
 * stdout and stderr go into a bounded per-model log ring. */
#ifndef GS_PROC_H
#define GS_PROC_H
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "log.h"
#include "upstream.h"

typedef enum gs_proc_state {
    GS_PROC_STOPPED = 0,
    GS_PROC_STARTING,
    GS_PROC_READY,
    GS_PROC_STOPPING,
    GS_PROC_FAILED,
    GS_PROC_DYING,   /* was READY; its process is seen dead and the exit is on its way: takes
                      * no request, and becomes STOPPED when the exit is handled */
} gs_proc_state;

typedef struct gs_proc gs_proc;
typedef struct gs_proc_run gs_proc_run;
/* Called after every state change (p->state is the new state). */
typedef void (*gs_proc_state_cb)(gs_proc *p, gs_proc_state old, void *ud);

/* Work around a start and a planned stop (the slot cache, slotcache.h). before_ready runs once
 * the health check passed, before READY; before_stop when a READY process is asked to stop,
 * before its signal. Each returns true when it began asynchronous work, and then calls
 * gs_proc_hook_done(p) exactly once when it is over (it bounds its own time); the process stays
 * STARTING or STOPPING meanwhile. abandon: that work must stop now, without calling back (the
 * child died, or the proc is going away). release: the proc is freed. */
typedef struct gs_proc_hooks {
    void (*before_start)(gs_proc *p, void *ud);
    bool (*before_ready)(gs_proc *p, void *ud);
    bool (*before_stop)(gs_proc *p, void *ud);
    void (*abandon)(gs_proc *p, void *ud);
    void (*release)(gs_proc *p, void *ud);
} gs_proc_hooks;

struct gs_proc {
    char *id;
    const gs_model_cfg *cfg;   /* owned by the config in force; swapped on reload */
    gs_proc_state state;
    uv_loop_t *loop;
    uv_timer_t health_timer;   /* STARTING: the next health poll (a short, growing interval) */
    uv_timer_t start_timer;    /* STARTING: healthCheckTimeout, then the start has failed */
    uv_timer_t stop_timer;     /* STOPPING: the grace before SIGKILL */
    uv_timer_t ttl_timer;      /* READY and idle: the TTL unload */
    gs_proc_run *run;          /* the child of the current start, NULL when none is alive */
    gs_upstream_pool *pool;    /* keep-alive connections to cfg->proxy */
    gs_upstream_req *health;   /* health request in flight */
    gs_ring log;
    int inflight;              /* requests being served by this process */
    int waiting;               /* requests queued for it (router bookkeeping) */
    uint64_t last_used_ms;     /* end of the last request */
    uint64_t state_since_ms;
    uint64_t start_ms;
    unsigned health_interval_ms;
    int health_timeout_s;
    int pid;
    int stop_grace_ms;         /* of the stop in progress */
    char *error;               /* why the last start failed, or NULL */
    unsigned fails;            /* count of FAILED transitions: tells old failures from new */
    bool freeing;
    int timers_open;           /* of the four above; freed once all are closed */
    gs_proc_state_cb on_state;
    void *ud;
    struct gs_proc *successor_of; /* an old process for the same port still alive (reload) */
    const gs_proc_hooks *hooks; /* NULL: none */
    void *hooks_ud;
    char **extra_argv;         /* appended to cfg->argv at spawn (owned by the hooks), or NULL */
    bool in_hook;              /* a hook's asynchronous work is under way */
    struct gs_prefetch *prefetch; /* its model file being read ahead (prefetch.h), or NULL */
};

/* Where ggswap's own binary is, for the shim; NULL runs children directly (unit tests). */
void gs_proc_set_shim(const char *self_exe);
/* The shim's entry point (`ggswap __child PPID ARGV...`); never returns on success. */
int gs_proc_shim_main(int argc, char **argv);

gs_proc *gs_proc_new(uv_loop_t *loop, const gs_model_cfg *cfg, int health_timeout_s,
                     gs_proc_state_cb on_state, void *ud);
/* Start the child (STOPPED or FAILED only). Returns 0, or a negative errno when it could not
 * even be spawned (the state is then FAILED with the reason in p->error). */
int gs_proc_start(gs_proc *p);
/* Stop the child (STARTING or READY); `why` goes to the log. */
void gs_proc_stop(gs_proc *p, const char *why);
/* The same with its own grace before SIGKILL: unloadTimeout for unloads and the TTL,
 * healthCheckTimeout for a swap eviction (as llama-swap); grace_ms <= 0 means 5 s (reloads and
 * shutdown, which has its own bound). */
void gs_proc_stop_within(gs_proc *p, const char *why, int grace_ms);
/* A hook's asynchronous work is over: go on to READY, or to the stop signal. */
void gs_proc_hook_done(gs_proc *p);
/* An upstream request failed: if the child is already dead (a zombie whose exit libuv has not
 * reported yet), READY becomes DYING so that no request is sent to it in the meantime. */
void gs_proc_check_dead(gs_proc *p);
/* SIGKILL the child's process group now (shutdown with no more patience). */
void gs_proc_kill(gs_proc *p);
/* Bookkeeping for TTL: call when a request starts / ends being served by this process. */
void gs_proc_request_begin(gs_proc *p);
void gs_proc_request_end(gs_proc *p);
/* Seconds until the TTL unloads an idle READY model, or -1 when not counting down. */
double gs_proc_ttl_left(const gs_proc *p);
/* Stop if needed and free once the child is gone and every handle is closed. */
void gs_proc_free(gs_proc *p);
/* True while a child of this process is still alive (even in STOPPED, briefly). */
bool gs_proc_alive(const gs_proc *p);
const char *gs_proc_state_name(gs_proc_state s);
/* The last lines of the model's log, at most max bytes (caller frees). */
char *gs_proc_log_tail(const gs_proc *p, size_t max);

#endif
