#include "plan.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"

/* What an earlier request in this pass needs of a model: nothing, gone once its requests in
 * flight drain (DRAINING, new requests allowed within the window), or gone now (STOPPING). */
enum { FREE = 0, DRAINING = 1, STOPPING = 2 };

#define SMALL 64

/* The plan's working copy: the view's models as the actions so far leave them. */
typedef struct scratch {
    int n;
    gs_plan_model *m;
    unsigned char *wanted; /* an earlier request waits for it */
    unsigned char *doomed;
    uint64_t *since;       /* arrival of the oldest request that dooms it */
    bool *running, *evict;
    gs_plan_action *out;
    int nout, cap;
    /* memory */
    bool *reserved;        /* a waiting request holds room for this model */
    uint64_t reserve[GS_PLAN_MAX_DEVICES];
    uint64_t wake_ns;      /* earliest end of a residency that kept a model in place */
} scratch;

const char *gs_plan_verb_name(gs_plan_verb v)
{
    switch (v) {
    case GS_PLAN_DISPATCH: return "dispatch";
    case GS_PLAN_FAIL_REMOVED: return "fail-removed";
    case GS_PLAN_FAIL_START: return "fail-start";
    case GS_PLAN_WAIT: return "wait";
    case GS_PLAN_STOP: return "stop";
    case GS_PLAN_START: return "start";
    case GS_PLAN_FAIL_MEMORY: return "fail-memory";
    case GS_PLAN_WAKE: return "wake";
    }
    return "?";
}

int gs_plan_capacity(const gs_plan_view *v)
{
    return v->nitems + 2 * v->nmodels + 1;
}

static bool occupied(const gs_plan_model *m)
{
    /* Counts as running for the constraint until its child is really gone. */
    return (m->state != GS_PLAN_STOPPED && m->state != GS_PLAN_FAILED) || m->alive;
}

static bool ready(const gs_plan_model *m)
{
    return m->state == GS_PLAN_READY;
}

static gs_plan_action *emit(scratch *w, gs_plan_verb verb, int item, int model, int for_model)
{
    static gs_plan_action sink;
    if (w->nout >= w->cap)
        return &sink; /* the caller gave less than gs_plan_capacity: drop, never overrun */
    gs_plan_action *a = &w->out[w->nout++];
    *a = (gs_plan_action){.verb = verb, .item = item, .model = model, .for_model = for_model};
    return a;
}

/* The evictions for target against the models running now, into w->evict. */
static void evictions(const gs_plan_view *v, scratch *w, int target)
{
    for (int r = 0; r < w->n; r++) {
        w->running[r] = r != target && occupied(&w->m[r]);
        w->evict[r] = false;
    }
    if (v->constraint.evictions)
        v->constraint.evictions(v->constraint.ud, target, w->running, w->n, w->evict);
    for (int r = 0; r < w->n; r++)
        w->evict[r] = w->evict[r] && w->running[r]; /* a constraint cannot stop what is not up */
}

/* Stop what must make way for m and start m once nothing of it is left running. */
static void make_way(scratch *w, int item, int m)
{
    bool left = false;
    for (int r = 0; r < w->n; r++) {
        if (!w->evict[r])
            continue;
        gs_plan_model *e = &w->m[r];
        if (e->state == GS_PLAN_STARTING || e->state == GS_PLAN_READY ||
            e->state == GS_PLAN_DYING) {
            emit(w, GS_PLAN_STOP, item, r, m);
            e->state = e->alive ? GS_PLAN_STOPPING : GS_PLAN_STOPPED;
        }
        left |= occupied(e);
    }
    gs_plan_model *t = &w->m[m];
    if (!left && (t->state == GS_PLAN_STOPPED || t->state == GS_PLAN_FAILED) && !t->alive &&
        !t->port_busy) {
        /* A start that fails at once bumps the model's fails: the requests queued now see it
         * as theirs on the next pass (the state change asks for one). */
        emit(w, GS_PLAN_START, item, m, -1);
        t->state = GS_PLAN_STARTING;
        t->alive = true;
    }
}

/* ---- memory ---- */

static bool memory_on(const gs_plan_view *v)
{
    return v->ndevices > 0 && v->devices;
}

static int ndev(const gs_plan_view *v)
{
    return v->ndevices < GS_PLAN_MAX_DEVICES ? v->ndevices : GS_PLAN_MAX_DEVICES;
}

static uint64_t room(uint64_t budget, uint64_t held)
{
    return held >= budget ? 0 : budget - held;
}

/* The first device where need does not fit beside held, or -1. */
static int misfit(const gs_plan_view *v, const uint64_t *need, const uint64_t *held)
{
    for (int d = 0; d < ndev(v); d++) {
        /* A budget of 0 is no room, as in memfit: "not limited" is memory off (no devices). */
        if (need[d] > room(v->devices[d].budget, held[d]))
            return d;
    }
    return -1;
}

static uint64_t residency(const gs_plan_view *v, const gs_plan_model *r)
{
    return r->residency_ns && r->residency_ns < v->residency_ns ? r->residency_ns
                                                                : v->residency_ns;
}

static bool resident(const gs_plan_view *v, const gs_plan_model *r)
{
    return r->state == GS_PLAN_READY && v->residency_ns && r->ready_ns &&
           v->now_ns < r->ready_ns + residency(v, r);
}

enum { FITS = 0, NO_ROOM_YET = 1, NEVER = 2 };

/* May m (not running) start once the evictions in w->evict are done? NEVER: not even beside
 * the pinned models alone (*a gets the device and the sizes). NO_ROOM_YET: what stays running
 * and the room earlier requests hold leave too little, or a model to stop has just loaded. */
static int memory_check(const gs_plan_view *v, scratch *w, int m, gs_plan_action *a)
{
    const gs_plan_model *t = &w->m[m];
    uint64_t held[GS_PLAN_MAX_DEVICES], fixed[GS_PLAN_MAX_DEVICES];
    for (int d = 0; d < ndev(v); d++) {
        held[d] = v->devices[d].used + w->reserve[d] - (w->reserved[m] ? t->need[d] : 0);
        fixed[d] = v->devices[d].used;
    }
    int rc = FITS;
    for (int r = 0; r < w->n; r++) {
        const gs_plan_model *e = &w->m[r];
        if (r == m || !occupied(e))
            continue;
        if (w->evict[r] && resident(v, e)) {
            /* Just loaded: it keeps its place a while; come back when that ends. */
            uint64_t end = e->ready_ns + residency(v, e);
            if (!w->wake_ns || end < w->wake_ns)
                w->wake_ns = end;
            rc = NO_ROOM_YET;
        }
        for (int d = 0; d < ndev(v); d++) {
            held[d] += w->evict[r] ? 0 : e->need[d];
            fixed[d] += e->pinned && !w->evict[r] ? e->need[d] : 0;
        }
    }
    int d = misfit(v, t->need, fixed);
    if (d >= 0) {
        a->device = d;
        a->need = t->need[d];
        a->avail = room(v->devices[d].budget, fixed[d]);
        return NEVER;
    }
    return misfit(v, t->need, held) >= 0 ? NO_ROOM_YET : rc;
}

static void decide_item(const gs_plan_view *v, scratch *w, int i)
{
    const gs_plan_item *it = &v->items[i];
    int m = it->model;
    if (m < 0 || m >= w->n) {
        emit(w, GS_PLAN_FAIL_REMOVED, i, -1, -1);
        return;
    }
    gs_plan_model *t = &w->m[m];
    if (t->state == GS_PLAN_FAILED && t->fails != it->fails_seen) {
        emit(w, GS_PLAN_FAIL_START, i, m, -1);
        return;
    }
    if (it->hold_ns > v->now_ns) {
        w->wanted[m] = 1;
        emit(w, GS_PLAN_WAIT, i, m, -1);
        return;
    }
    evictions(v, w, m);
    bool blocked = false;
    if (memory_on(v) && !occupied(t)) {
        gs_plan_action fail = {0};
        int rc = memory_check(v, w, m, &fail);
        if (rc == NEVER) {
            gs_plan_action *a = emit(w, GS_PLAN_FAIL_MEMORY, i, m, -1);
            a->device = fail.device;
            a->need = fail.need;
            a->avail = fail.avail;
            return;
        }
        blocked = rc == NO_ROOM_YET;
    }
    bool any = false, busy = false, contested = false;
    for (int r = 0; r < w->n; r++) {
        if (!w->evict[r])
            continue;
        any = true;
        busy |= w->m[r].inflight > 0;
        contested |= w->wanted[r] != 0;
    }
    if (w->doomed[m]) {
        /* An earlier request waits to swap m out: new requests ride along only while m drains,
         * within the window. */
        if (w->doomed[m] == DRAINING && !any && ready(t) && v->now_ns - w->since[m] < v->window_ns) {
            emit(w, GS_PLAN_DISPATCH, i, m, -1);
            t->inflight++;
            return;
        }
        w->wanted[m] = 1;
        emit(w, GS_PLAN_WAIT, i, m, -1);
        return;
    }
    if (!any && ready(t)) {
        emit(w, GS_PLAN_DISPATCH, i, m, -1);
        t->inflight++;
        return;
    }
    if (!busy && !contested && !blocked)
        make_way(w, i, m);
    if (memory_on(v) && !occupied(t) && !w->reserved[m]) {
        /* Waiting for room: hold it, so that later requests do not take it first. */
        w->reserved[m] = true;
        for (int d = 0; d < ndev(v); d++)
            w->reserve[d] += t->need[d];
    }
    w->wanted[m] = 1;
    int how = busy || contested ? DRAINING : STOPPING;
    for (int r = 0; r < w->n; r++) {
        if (!w->evict[r] || !occupied(&w->m[r]))
            continue;
        if (how == STOPPING || w->doomed[r] == FREE) {
            if (w->doomed[r] == FREE || it->t0_ns < w->since[r])
                w->since[r] = it->t0_ns;
            w->doomed[r] = (unsigned char)(how > w->doomed[r] ? how : w->doomed[r]);
        }
    }
    emit(w, GS_PLAN_WAIT, i, m, -1);
}

/* The order requests are looked at: FIFO, unless priorities differ (then higher first, FIFO
 * within one); a request past the starvation bound counts as the highest priority. */
typedef struct ord {
    int eff;
    int i;
} ord;

static int ord_cmp(const void *a, const void *b)
{
    const ord *x = a, *y = b;
    if (x->eff != y->eff)
        return x->eff > y->eff ? -1 : 1;
    return x->i - y->i;
}

/* NULL: the queue's own order (one priority throughout, the everyday case: no allocation). */
static ord *order(const gs_plan_view *v)
{
    int first = 0;
    bool mixed = false;
    for (int i = 0; i < v->nitems && !mixed; i++) {
        const gs_plan_item *it = &v->items[i];
        int p = it->model >= 0 && it->model < v->nmodels ? v->models[it->model].priority : 0;
        if (i == 0)
            first = p;
        mixed = p != first;
    }
    if (!mixed)
        return NULL;
    ord *o = gs_mem_alloc((size_t)v->nitems * sizeof *o);
    for (int i = 0; i < v->nitems; i++) {
        const gs_plan_item *it = &v->items[i];
        int p = it->model >= 0 && it->model < v->nmodels ? v->models[it->model].priority : 0;
        if (v->starve_ns && v->now_ns > it->t0_ns && v->now_ns - it->t0_ns >= v->starve_ns)
            p = INT_MAX;
        o[i] = (ord){p, i};
    }
    qsort(o, (size_t)v->nitems, sizeof *o, ord_cmp);
    return o;
}

int gs_plan_decide(const gs_plan_view *v, gs_plan_action *out, int cap)
{
    int n = v->nmodels > 0 ? v->nmodels : 0;
    /* Runs twice per request: no allocation for configs of everyday size. */
    gs_plan_model m_s[SMALL];
    unsigned char wanted_s[SMALL], doomed_s[SMALL];
    uint64_t since_s[SMALL];
    bool running_s[SMALL], evict_s[SMALL], reserved_s[SMALL];
    bool small = n <= SMALL;
    scratch w = {
        .n = n,
        .m = small ? m_s : gs_mem_alloc((size_t)n * sizeof(gs_plan_model)),
        .wanted = small ? wanted_s : gs_mem_alloc((size_t)n),
        .doomed = small ? doomed_s : gs_mem_alloc((size_t)n),
        .since = small ? since_s : gs_mem_alloc((size_t)n * sizeof(uint64_t)),
        .running = small ? running_s : gs_mem_alloc((size_t)n * sizeof(bool)),
        .evict = small ? evict_s : gs_mem_alloc((size_t)n * sizeof(bool)),
        .reserved = small ? reserved_s : gs_mem_alloc((size_t)n * sizeof(bool)),
        .out = out,
        .cap = cap,
    };
    if (n) {
        memcpy(w.m, v->models, (size_t)n * sizeof *w.m);
        memset(w.wanted, 0, (size_t)n);
        memset(w.doomed, 0, (size_t)n);
        memset(w.since, 0, (size_t)n * sizeof *w.since);
        memset(w.reserved, 0, (size_t)n * sizeof *w.reserved);
    }
    ord *o = order(v);
    for (int k = 0; k < v->nitems; k++)
        decide_item(v, &w, o ? o[k].i : k);
    free(o);
    if (w.wake_ns) {
        gs_plan_action *a = emit(&w, GS_PLAN_WAKE, -1, -1, -1);
        a->at_ns = w.wake_ns;
    }
    if (!small) {
        free(w.m);
        free(w.wanted);
        free(w.doomed);
        free(w.since);
        free(w.running);
        free(w.evict);
        free(w.reserved);
    }
    return w.nout;
}
