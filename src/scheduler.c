#include "scheduler.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "forward.h"
#include "loading.h"
#include "log.h"
#include "mem.h"
#include "prefetch.h"
#include "memest.h"
#include "reply.h"
#include "retry.h"
#include "router.h"
#include "slotcache.h"

/* Which list a request is on; kept apart from its state (a HELD request is on the queue, a
 * request being failed is on none by the time it is DONE). */
enum { ON_NONE = 0, ON_QUEUE, ON_ACTIVE };

struct gs_sched_req {
    gs_sched *s;
    gs_proc *proc;
    gs_sched_req_state state;
    int list;
    gs_sched_req *next, *prev;
    unsigned fails_seen;   /* proc->fails when queued: a newer failure is ours */
    uint64_t t0;           /* ns: when it arrived */
    uint64_t hold_until;   /* ns: not before then (a crash is being noticed) */
    bool load_only;        /* /api/models/load or preload: answer once the model is ready */
    bool retried;          /* sent again once after the upstream vanished before answering */
    bool stream;           /* the body asks for a stream (looked at only once it must wait) */
    bool stream_known;
    gs_loading *loading;   /* early bytes while it waits for its model's load, or NULL */
    gs_fwd fwd;
};

const char *gs_sched_req_state_name(gs_sched_req_state st)
{
    switch (st) {
    case GS_SCHED_QUEUED: return "queued";
    case GS_SCHED_HELD: return "held";
    case GS_SCHED_SENT: return "sent";
    case GS_SCHED_STREAMING: return "streaming";
    case GS_SCHED_DONE: return "done";
    }
    return "?";
}

static void rset(gs_sched_req *r, gs_sched_req_state st)
{
    if (r->state == st)
        return;
    if (gs_log_get_level() == GS_LOG_DEBUG)
        gs_debug("request %s %s for %s: %s -> %s", r->fwd.method[0] ? r->fwd.method : "-",
                 r->fwd.upath, r->proc->id, gs_sched_req_state_name(r->state),
                 gs_sched_req_state_name(st));
    r->state = st;
}

static bool in_flight(const gs_sched_req *r)
{
    return r->state == GS_SCHED_SENT || r->state == GS_SCHED_STREAMING;
}

/* ---- lists ---- */

static void unlink_r(gs_sched_req *r)
{
    gs_sched *s = r->s;
    if (r->list == ON_NONE)
        return;
    gs_sched_req **head = r->list == ON_QUEUE ? &s->queue_head : &s->active;
    if (r->prev)
        r->prev->next = r->next;
    else
        *head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else if (r->list == ON_QUEUE)
        s->queue_tail = r->prev;
    r->next = r->prev = NULL;
    r->list = ON_NONE;
}

static void push_active(gs_sched_req *r)
{
    gs_sched *s = r->s;
    r->prev = NULL;
    r->next = s->active;
    if (s->active)
        s->active->prev = r;
    s->active = r;
    r->list = ON_ACTIVE;
}

static void push_queue(gs_sched_req *r, bool front)
{
    gs_sched *s = r->s;
    if (front) {
        r->prev = NULL;
        r->next = s->queue_head;
        if (s->queue_head)
            s->queue_head->prev = r;
        else
            s->queue_tail = r;
        s->queue_head = r;
    } else {
        r->next = NULL;
        r->prev = s->queue_tail;
        if (s->queue_tail)
            s->queue_tail->next = r;
        else
            s->queue_head = r;
        s->queue_tail = r;
    }
    r->list = ON_QUEUE;
}

/* ---- the one way out ---- */

/* A bounded copy (snprintf's "%s" without printf: this runs once per request). */
static void copy_str(char *d, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);
    memcpy(d, src, n);
    d[n] = 0;
}

static void record(gs_sched_req *r, int status)
{
    gs_sched *s = r->s;
    if (!s->hooks.request_done)
        return;
    gs_request_log l;
    memset(&l, 0, sizeof l);
    l.time_ms = gs_clock_wall_ms();
    copy_str(l.model, sizeof l.model, r->proc->id);
    copy_str(l.method, sizeof l.method, r->fwd.method);
    copy_str(l.path, sizeof l.path, r->fwd.upath);
    char *q = strchr(l.path, '?');
    if (q)
        *q = 0;
    l.status = status;
    l.duration_ms = (double)(gs_clock_ns() - r->t0) / 1e6;
    l.tokens = status == 200 ? gs_fwd_tokens(&r->fwd) : -1;
    l.queue_ms = r->fwd.wait.queue_ms;
    l.load_ms = r->fwd.wait.load_ms;
    l.ttft_ms = r->fwd.first_event_ns ? (double)(r->fwd.first_event_ns - r->t0) / 1e6 : -1;
    if (l.ttft_ms >= 0 && s->timing)
        gs_hist_observe(&gs_timing_get(s->timing, r->proc->id)->ttft, l.ttft_ms / 1000);
    s->hooks.request_done(&l, s->hooks.ud);
}

/* Every request ends here, whatever its state: off its list and its model's count of requests
 * in flight, into the history (loads are not requests), freed. The client has been answered, or
 * is gone, before. The caller pumps when the queue may now move. */
static void req_exit(gs_sched_req *r, int status)
{
    gs_sched *s = r->s;
    bool was_in_flight = in_flight(r);
    unlink_r(r);
    rset(r, GS_SCHED_DONE);
    if (was_in_flight)
        gs_proc_request_end(r->proc);
    if (!r->load_only)
        record(r, status);
    if (was_in_flight && s->hooks.model_changed)
        s->hooks.model_changed(r->proc, s->hooks.ud); /* inflight and the TTL countdown moved */
    gs_loading_release(r->loading);
    gs_fwd_free(&r->fwd);
    free(r);
}

/* A request answered before it was sent (a failed start, a removed model, no room): its wait
 * so far, split as at a dispatch, for its Server-Timing. */
static void wait_until_now(gs_sched_req *r)
{
    if (in_flight(r))
        return; /* dispatch split it already */
    gs_proc *m = r->proc;
    /* A model that is not starting any more stopped waiting for its load when its state
     * changed (failed, stopped); one still starting has loaded until now. */
    double ready = m->state == GS_PROC_STARTING ? 0 : (double)m->state_since_ms;
    r->fwd.wait = gs_timing_split((double)r->t0 / 1e6, (double)gs_clock_ns() / 1e6,
                                  (double)m->start_ms, ready);
}

static void req_fail(gs_sched_req *r, int status, const char *code, const char *msg)
{
    gs_http_req *req = r->fwd.req;
    if (req)
        wait_until_now(r);
    if (req && r->loading) {
        /* Its head went out early: the error travels as an event, then the stream ends. */
        gs_fwd_detach(&r->fwd);
        r->fwd.req = NULL;
        gs_loading_release(r->loading);
        r->loading = NULL;
        gs_buf b;
        gs_buf_init(&b, 0);
        gs_loading_error_event(&b, status, status >= 500 ? "server_error" : "invalid_request_error",
                               msg);
        gs_http_write(req, b.data, b.len);
        gs_buf_free(&b);
        gs_fwd_end_early(&r->fwd, req);
    } else if (req) {
        gs_fwd_detach(&r->fwd);
        r->fwd.req = NULL;
        gs_timing_tag(req, r->fwd.wait.queue_ms, r->fwd.wait.load_ms, 0);
        gs_reply_error(req, status, code, "%s", msg);
    } else if (r->load_only) {
        gs_warn("preload of %s failed: %s", r->proc->id, msg);
    }
    req_exit(r, status);
}

void gs_sched_fail_queued(gs_sched *s, gs_proc *proc, int status, const char *msg)
{
    gs_sched_req *n;
    for (gs_sched_req *r = s->queue_head; r; r = n) {
        n = r->next;
        if (!proc || r->proc == proc)
            req_fail(r, status, status == 503 ? "service_unavailable" : "bad_gateway", msg);
    }
}

int gs_sched_queued(const gs_sched *s, const gs_proc *proc)
{
    int n = 0;
    for (const gs_sched_req *r = s->queue_head; r; r = r->next)
        n += r->proc == proc;
    return n;
}

bool gs_sched_busy(const gs_sched *s)
{
    return s->active != NULL;
}

/* ---- in flight ---- */

static void retry_cb(uv_timer_t *t)
{
    gs_sched *s = t->data;
    s->retry_due_ns = 0;
    gs_sched_pump(s);
}

/* Pump again in ms at the latest (one timer for every reason to come back). */
static void wake_in(gs_sched *s, uint64_t ms)
{
    uint64_t due = gs_clock_ns() + ms * 1000000ull;
    if (s->retry_due_ns && s->retry_due_ns <= due)
        return;
    s->retry_due_ns = due;
    uv_timer_start(&s->retry_timer, retry_cb, ms, 0);
}

/* Queue the request again (at the front), held as the retry policy says (retry.h): by then the
 * model is either seen stopped (and restarted) or answers again. */
static void requeue(gs_sched_req *r, const gs_retry *how)
{
    gs_sched *s = r->s;
    unlink_r(r);
    gs_proc_request_end(r->proc);
    r->retried = true;
    r->fails_seen = r->proc->fails;
    r->hold_until = gs_clock_ns() + (uint64_t)how->hold_ms * 1000000ull;
    rset(r, GS_SCHED_HELD);
    push_queue(r, true);
    wake_in(s, how->wake_ms);
}

static void fwd_head(gs_fwd *f)
{
    rset(GS_CONTAINER_OF(f, gs_sched_req, fwd), GS_SCHED_STREAMING);
}

static void fwd_done(gs_fwd *f, int err, const char *msg)
{
    gs_sched_req *r = GS_CONTAINER_OF(f, gs_sched_req, fwd);
    gs_sched *s = r->s;
    gs_proc *proc = r->proc;
    gs_retry_case rc = {.err = err, .since_sent_ns = gs_clock_ns() - f->sent_ns,
                        .answered = f->head_sent, .retried = r->retried};
    gs_retry how = gs_retry_decide(&rc);
    if (how.kind == GS_RETRY_HOLD) {
        gs_info("model %s: %s; trying the request again shortly", proc->id, msg);
        requeue(r, &how);
        /* After the request is out of the active list: a dead child makes the model DYING,
         * and that change pumps the queue, which must not see this request still in flight. */
        gs_proc_check_dead(proc);
        return;
    }
    if (err) {
        gs_warn("model %s: %s %s: %s", r->proc->id, f->method, f->upath, msg);
        gs_fwd_fail(f, msg);
        req_exit(r, f->head_sent ? f->status : 502);
        gs_proc_check_dead(proc);
    } else {
        req_exit(r, f->status);
    }
    gs_sched_pump(s);
}

static const gs_fwd_cbs fwd_cbs = {fwd_head, fwd_done};

static void on_abort(gs_http_req *req, void *ud)
{
    gs_sched_req *r = GS_CONTAINER_OF((gs_fwd *)ud, gs_sched_req, fwd);
    gs_sched *s = r->s;
    r->fwd.req = NULL;
    if (in_flight(r)) {
        gs_info("model %s: client went away; closing the upstream request", r->proc->id);
        gs_fwd_cancel(&r->fwd);
    } else {
        gs_debug("request for %s: client went away while queued", r->proc->id);
    }
    req_exit(r, 499);
    gs_sched_pump(s);
}

static gs_timing *s_timing(const gs_sched_req *r)
{
    return r->s->timing;
}

static void dispatch(gs_sched_req *r)
{
    unlink_r(r);
    if (r->load_only) {
        gs_http_req *req = r->fwd.req;
        if (req) {
            gs_fwd_detach(&r->fwd);
            r->fwd.req = NULL;
            char body[600];
            int k = snprintf(body, sizeof body, "{\"ok\":true,\"model\":\"%s\",\"state\":\"ready\"}\n",
                             r->proc->id);
            gs_http_respond(req, 200, "application/json", body, (size_t)k, NULL);
        }
        req_exit(r, 200);
        return;
    }
    rset(r, GS_SCHED_SENT);
    push_active(r);
    if (!r->retried) {
        gs_proc *m = r->proc;
        r->fwd.wait = gs_timing_split((double)r->t0 / 1e6, (double)gs_clock_ns() / 1e6,
                                      (double)m->start_ms, (double)m->state_since_ms);
        if (s_timing(r))
            gs_hist_observe(&gs_timing_get(s_timing(r), m->id)->queue, r->fwd.wait.queue_ms / 1000);
    }
    if (r->loading) {
        gs_loading_finish(r->loading); /* the closing lines; the answer follows on the stream */
        r->loading = NULL;
        r->fwd.early = true;
    }
    gs_proc_request_begin(r->proc);
    const gs_model_cfg *mc = r->proc->cfg;
    if (r->fwd.req && r->fwd.req->upgrade)
        /* A WebSocket through /upstream/: in flight (swaps wait for it) until either side
         * closes, as llama-swap counts it. */
        gs_fwd_tunnel(&r->fwd, r->s->loop, r->proc->id, mc->proxy_host, mc->proxy_port,
                      mc->proxy_path, &fwd_cbs);
    else
        gs_fwd_send(&r->fwd, r->proc->id, r->proc->pool, &fwd_cbs);
}

void gs_sched_cancel_active(gs_sched *s, gs_proc *proc, const char *msg)
{
    gs_sched_req *n;
    for (gs_sched_req *r = s->active; r; r = n) {
        n = r->next;
        if (proc && r->proc != proc)
            continue;
        gs_fwd_cancel(&r->fwd);
        gs_fwd_fail(&r->fwd, msg);
        req_exit(r, r->fwd.head_sent ? r->fwd.status : 502);
    }
}

/* ---- the pump: view, plan, actions ---- */

static gs_plan_mstate mstate(gs_proc_state st)
{
    switch (st) {
    case GS_PROC_STOPPED: return GS_PLAN_STOPPED;
    case GS_PROC_STARTING: return GS_PLAN_STARTING;
    case GS_PROC_READY: return GS_PLAN_READY;
    case GS_PROC_DYING: return GS_PLAN_DYING;
    case GS_PROC_STOPPING: return GS_PLAN_STOPPING;
    case GS_PROC_FAILED: return GS_PLAN_FAILED;
    }
    return GS_PLAN_STOPPED;
}

/* A model keeps its place after a load for 4 times what the load took (at most the plan's 5 s):
 * then at most a fifth of the time goes to loading, and a model that loads in 200 ms is not
 * held for 5 s while others queue behind it. At least 1 ms: 0 means "the view's". */
static uint64_t residency_of(const gs_proc *p)
{
    if (p->state != GS_PROC_READY || p->state_since_ms < p->start_ms)
        return 0;
    uint64_t ns = (p->state_since_ms - p->start_ms) * 4 * 1000000ull;
    return ns ? ns : 1000000ull;
}

static int index_of(const gs_sched *s, const gs_proc *proc)
{
    for (int i = 0; s->cfg && i < s->cfg->nmodels; i++)
        if (s->procs[i] == proc)
            return i;
    return -1;
}

/* A request waits for a model that is not even starting: others must make way first (or a
 * crash is being noticed). Read its file into the page cache meanwhile, so the load starts
 * warm. */
static void maybe_prefetch(gs_proc *p)
{
    static int off = -1;
    if (off < 0)
        off = getenv("GGSWAP_NO_PREFETCH") != NULL; /* for the benchmark's baseline */
    if (off || p->prefetch || gs_proc_alive(p) ||
        (p->state != GS_PROC_STOPPED && p->state != GS_PROC_FAILED))
        return;
    const char *file = gs_slotcache_model_file(p->cfg->argv, p->cfg->argc);
    if (file && (p->prefetch = gs_prefetch_start(p->loop, file)))
        gs_debug("model %s: reading %s ahead of its start", p->id, file);
}

static void fail_memory(gs_sched *s, gs_sched_req *r, const gs_plan_action *a)
{
    char *msg = s->hooks.refuse ? s->hooks.refuse(a->model, s->hooks.ud) : NULL;
    if (!msg) {
        char need[16], avail[16];
        msg = gs_mem_printf("model %s needs %s of %s but at most %s can be had there (the memory "
                            "budget less what models that are never swapped out hold)",
                            r->proc->id, gs_memest_human(a->need, need, sizeof need),
                            a->device ? "gpu memory" : "ram",
                            gs_memest_human(a->avail, avail, sizeof avail));
    }
    req_fail(r, 503, "insufficient_memory", msg);
    free(msg);
}

static void carry_out(gs_sched *s, const gs_plan_action *a, gs_sched_req **items)
{
    gs_sched_req *r = a->item >= 0 ? items[a->item] : NULL;
    switch (a->verb) {
    case GS_PLAN_DISPATCH:
        dispatch(r);
        break;
    case GS_PLAN_FAIL_REMOVED:
        req_fail(r, 503, "service_unavailable", "the model was removed by a reload");
        break;
    case GS_PLAN_FAIL_START: {
        gs_proc *p = r->proc;
        char *msg = p->error ? gs_mem_strdup(p->error)
                             : gs_mem_printf("model %s failed to start", p->id);
        req_fail(r, 502, "model_start_failed", msg);
        free(msg);
        break;
    }
    case GS_PLAN_FAIL_MEMORY:
        fail_memory(s, r, a);
        break;
    case GS_PLAN_WAIT:
        maybe_prefetch(r->proc);
        break;
    case GS_PLAN_STOP: {
        char why[300];
        gs_proc *m = s->procs[a->model];
        snprintf(why, sizeof why, "making way for %s", s->procs[a->for_model]->id);
        if (s->hooks.stopping)
            s->hooks.stopping(a->model, a->for_model, s->hooks.ud);
        gs_proc_state before = m->state;
        /* A swap eviction gets healthCheckTimeout to stop, as in llama-swap. */
        gs_proc_stop_within(m, why, s->cfg->health_check_timeout * 1000);
        if (s->timing && m->state != before)
            gs_timing_get(s->timing, s->procs[a->for_model]->id)->evicted = true;
        break;
    }
    case GS_PLAN_WAKE: {
        uint64_t now = gs_clock_ns();
        wake_in(s, a->at_ns > now ? (a->at_ns - now) / 1000000ull + 1 : 1);
        break;
    }
    case GS_PLAN_START: {
        gs_proc *m = s->procs[a->model];
        if (s->timing) {
            gs_model_timing *t = gs_timing_get(s->timing, m->id);
            t->swaps += t->evicted; /* one swap per start that had to stop others first */
            t->evicted = false;
        }
        gs_proc_start(m);
        break;
    }
    }
}

#define SMALL 64

static void pump_once(gs_sched *s)
{
    int n = s->cfg ? s->cfg->nmodels : 0, nq = 0;
    for (gs_sched_req *r = s->queue_head; r; r = r->next)
        nq++;
    if (nq == 0)
        return;
    if (s->hooks.before_plan)
        s->hooks.before_plan(s->hooks.ud);
    /* Runs twice per request: no allocation for everyday sizes. */
    gs_plan_model models_s[SMALL];
    gs_plan_item items_s[SMALL];
    gs_sched_req *reqs_s[SMALL];
    gs_plan_action acts_s[3 * SMALL + 1];
    int cap = nq + 2 * n + 1;
    bool small = n <= SMALL && nq <= SMALL;
    gs_plan_model *models = small ? models_s : gs_mem_calloc((size_t)n + 1, sizeof *models);
    gs_plan_item *items = small ? items_s : gs_mem_calloc((size_t)nq, sizeof *items);
    gs_sched_req **reqs = small ? reqs_s : gs_mem_calloc((size_t)nq, sizeof *reqs);
    gs_plan_action *acts = small ? acts_s : gs_mem_calloc((size_t)cap, sizeof *acts);
    for (int i = 0; i < n; i++) {
        const gs_proc *p = s->procs[i];
        models[i] = (gs_plan_model){
            .state = mstate(p->state),
            .alive = gs_proc_alive(p),
            .port_busy = s->hooks.port_busy && s->hooks.port_busy(p, s->hooks.ud),
            .inflight = p->inflight,
            .fails = p->fails,
            /* not DYING: a dead process has no residency worth protecting */
            .ready_ns = p->state == GS_PROC_READY ? p->state_since_ms * 1000000ull : 0,
            .residency_ns = residency_of(p),
            .priority = p->cfg ? p->cfg->priority : 0,
        };
    }
    gs_sched_pass pass = {
        .constraint = {s->evictions ? s->evictions : gs_router_evictions,
                       s->evictions ? s->evictions_ud : (const void *)s->cfg},
        .models = models,
        .nmodels = n,
    };
    if (s->hooks.prepare)
        s->hooks.prepare(&pass, s->hooks.ud);
    int k = 0;
    for (gs_sched_req *r = s->queue_head; r; r = r->next, k++) {
        reqs[k] = r;
        items[k] = (gs_plan_item){index_of(s, r->proc), r->fails_seen, r->t0, r->hold_until};
    }
    gs_plan_view v = {
        .models = models,
        .nmodels = n,
        .items = items,
        .nitems = nq,
        .now_ns = gs_clock_ns(),
        .window_ns = GS_PLAN_WINDOW_NS,
        .constraint = pass.constraint,
        .devices = pass.ndevices ? pass.devices : NULL,
        .ndevices = pass.ndevices,
        .residency_ns = GS_PLAN_RESIDENCY_NS,
        .starve_ns = GS_PLAN_STARVE_NS,
    };
    int na = gs_plan_decide(&v, acts, cap);
    for (int i = 0; i < na; i++)
        carry_out(s, &acts[i], reqs);
    if (!small) {
        free(models);
        free(items);
        free(reqs);
        free(acts);
    }
}

void gs_sched_pump(gs_sched *s)
{
    /* Stopping or starting a process calls back into the server, which pumps again: run the
     * loop here instead of recursing. */
    if (s->pumping) {
        s->pump_again = true;
        return;
    }
    s->pumping = true;
    do {
        s->pump_again = false;
        pump_once(s);
    } while (s->pump_again);
    s->pumping = false;
}

/* ---- arrival ---- */

static gs_sched_req *req_new(gs_sched *s, gs_http_req *req, gs_proc *proc, const char *upath,
                             char *body, size_t body_len)
{
    gs_sched_req *r = gs_mem_calloc(1, sizeof *r);
    r->s = s;
    r->proc = proc;
    r->state = GS_SCHED_QUEUED;
    r->fails_seen = proc->fails;
    r->t0 = req && req->start_ns ? req->start_ns : gs_clock_ns();
    gs_fwd_init(&r->fwd, req, upath, body, body_len);
    return r;
}

/* The load's progress for the early bytes: how much of the model file is read ahead, and the
 * model's own last log line. */
static void load_progress(void *ud, char *out, size_t cap)
{
    gs_sched_req *r = ud;
    gs_proc *p = r->proc;
    size_t k = 0;
    out[0] = 0;
    if (p->prefetch && gs_prefetch_size(p->prefetch))
        k = (size_t)snprintf(out, cap, "model file %.0f%% read",
                             100.0 * (double)gs_prefetch_done(p->prefetch) /
                                 (double)gs_prefetch_size(p->prefetch));
    if (k < cap && p->state == GS_PROC_STARTING) {
        char *tail = gs_proc_log_tail(p, 160);
        char *nl;
        while ((nl = strrchr(tail, '\n')) && nl[1] == 0)
            *nl = 0;
        char *last = strrchr(tail, '\n');
        last = last ? last + 1 : tail;
        if (*last)
            snprintf(out + k, cap - k, "%s%s", k ? "; " : "", last);
        free(tail);
    }
}

/* A streamed request that must wait for its model's load gets its head and progress lines now,
 * so a client's first-byte timeout does not fire during a long load. */
static void maybe_early_bytes(gs_sched_req *r)
{
    gs_http_req *req = r->fwd.req;
    if (!req || r->load_only || r->loading || r->proc->state == GS_PROC_READY ||
        r->proc->state == GS_PROC_DYING)
        return;
    if (!r->stream_known) {
        const char *body = r->fwd.body ? r->fwd.body : req->body.data;
        size_t len = r->fwd.body ? r->fwd.body_len : req->body.len;
        r->stream = gs_loading_wants_stream(body, len);
        r->stream_known = true;
    }
    if (!r->stream)
        return;
    /* llama-swap's chunks only make sense in a chat completion stream. */
    bool swap_style = r->proc->cfg->send_loading_state &&
                      strncmp(r->fwd.upath, "/v1/chat/completions", 20) == 0;
    r->loading = gs_loading_start(r->s->loop, req, r->proc->id,
                                  swap_style ? GS_LOADING_LLAMA_SWAP : GS_LOADING_COMMENTS,
                                  "Trailer: Server-Timing\r\n", load_progress, r);
}

static void enqueue(gs_sched *s, gs_sched_req *r)
{
    if (r->fwd.req)
        r->fwd.req->on_abort = on_abort;
    push_queue(r, false);
    gs_sched_pump(s);
    /* The pump may have answered and freed r: only a request still queued waits. */
    for (gs_sched_req *q = s->queue_head; q; q = q->next)
        if (q == r) {
            maybe_early_bytes(r);
            break;
        }
}

void gs_sched_load(gs_sched *s, gs_http_req *req, int idx)
{
    gs_sched_req *r = req_new(s, req, s->procs[idx], "(load)", NULL, 0);
    r->load_only = true;
    r->t0 = gs_clock_ns();
    enqueue(s, r);
}

void gs_sched_request(gs_sched *s, gs_http_req *req, int idx, const char *upath, char *body,
                      size_t body_len)
{
    gs_proc *proc = s->procs[idx];
    gs_sched_req *r = req_new(s, req, proc, upath, body, body_len);
    int limit = proc->cfg->concurrency_limit > 0 ? proc->cfg->concurrency_limit : 10;
    int load = proc->inflight + gs_sched_queued(s, proc);
    if (load >= limit) {
        r->fwd.req = NULL;
        gs_timing_tag_now(req);
        gs_reply_error(req, 429, "concurrency_limit",
                       "model %s is at its concurrency limit (%d requests); retry shortly",
                       proc->id, limit);
        req_exit(r, 429);
        return;
    }
    enqueue(s, r);
}

void gs_sched_forgive(gs_sched *s, const gs_proc *p)
{
    for (gs_sched_req *r = s->queue_head; r; r = r->next)
        if (r->proc == p)
            r->fails_seen = p->fails;
}

void gs_sched_retarget(gs_sched *s, gs_proc *old, gs_proc *now)
{
    for (gs_sched_req *r = s->queue_head; r; r = r->next)
        if (r->proc == old && now) {
            r->proc = now;
            r->fails_seen = now->fails;
        }
}

/* ---- setup ---- */

void gs_sched_init(gs_sched *s, uv_loop_t *loop, const gs_sched_hooks *hooks)
{
    memset(s, 0, sizeof *s);
    s->loop = loop;
    if (hooks)
        s->hooks = *hooks;
    uv_timer_init(loop, &s->retry_timer);
    s->retry_timer.data = s;
}

void gs_sched_set_models(gs_sched *s, const gs_config *cfg, gs_proc **procs)
{
    s->cfg = cfg;
    s->procs = procs;
}

void gs_sched_set_constraint(gs_sched *s, gs_plan_evict_fn fn, const void *ud)
{
    s->evictions = fn;
    s->evictions_ud = ud;
}
