#include "plan.h"

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
    }
    return "?";
}

int gs_plan_capacity(const gs_plan_view *v)
{
    return v->nitems + 2 * v->nmodels;
}

static bool occupied(const gs_plan_model *m)
{
    /* Counts as running for the constraint until its child is really gone. */
    return (m->state != GS_PLAN_STOPPED && m->state != GS_PLAN_FAILED) || m->alive;
}

static bool ready(const gs_plan_model *m)
{
    return m->state == GS_PLAN_READY && !m->dying;
}

static void emit(scratch *w, gs_plan_verb verb, int item, int model, int for_model)
{
    if (w->nout >= w->cap)
        return; /* the caller gave less than gs_plan_capacity: drop, never overrun */
    w->out[w->nout++] = (gs_plan_action){verb, item, model, for_model};
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
        if (e->state == GS_PLAN_STARTING || e->state == GS_PLAN_READY) {
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
    if (!busy && !contested)
        make_way(w, i, m);
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

int gs_plan_decide(const gs_plan_view *v, gs_plan_action *out, int cap)
{
    int n = v->nmodels > 0 ? v->nmodels : 0;
    /* Runs twice per request: no allocation for configs of everyday size. */
    gs_plan_model m_s[SMALL];
    unsigned char wanted_s[SMALL], doomed_s[SMALL];
    uint64_t since_s[SMALL];
    bool running_s[SMALL], evict_s[SMALL];
    bool small = n <= SMALL;
    scratch w = {
        .n = n,
        .m = small ? m_s : gs_mem_alloc((size_t)n * sizeof(gs_plan_model)),
        .wanted = small ? wanted_s : gs_mem_alloc((size_t)n),
        .doomed = small ? doomed_s : gs_mem_alloc((size_t)n),
        .since = small ? since_s : gs_mem_alloc((size_t)n * sizeof(uint64_t)),
        .running = small ? running_s : gs_mem_alloc((size_t)n * sizeof(bool)),
        .evict = small ? evict_s : gs_mem_alloc((size_t)n * sizeof(bool)),
        .out = out,
        .cap = cap,
    };
    if (n) {
        memcpy(w.m, v->models, (size_t)n * sizeof *w.m);
        memset(w.wanted, 0, (size_t)n);
        memset(w.doomed, 0, (size_t)n);
        memset(w.since, 0, (size_t)n * sizeof *w.since);
    }
    for (int i = 0; i < v->nitems; i++)
        decide_item(v, &w, i);
    if (!small) {
        free(w.m);
        free(w.wanted);
        free(w.doomed);
        free(w.since);
        free(w.running);
        free(w.evict);
    }
    return w.nout;
}
