#include "memory.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "clock.h"
#include "gen.h"
#include "log.h"
#include "mem.h"
#include "memlearn.h"
#include "proc.h"
#include "router.h"
#include "server.h"

#define MAX_EVENTS 32

typedef struct mmodel {
    char *id;
    char key[17];
    uint64_t estimate[GS_MEMEST_MAX_DEV];
    bool have_estimate;
    char *why_none;                       /* no estimate: the reason */
    uint64_t override;                    /* `memory` bytes, 0 unset */
    gs_memlearn_entry learned;            /* dev all 0: nothing measured yet */
    bool have_learned;
    /* The estimate reads the model's GGUF header and tensor table, the key stats the files its
     * command line names, the learned figure reads memory.json: all on first use (fill()), not
     * for every model at start. */
    bool filled;
    char **argv;                          /* the model's command line, for fill() */
    int argc;
    bool pinned;
    bool retried;                         /* an out-of-memory start was retried */
} mmodel;

struct gs_memory {
    gs_memory_settings set;
    char *home;
    int ndev;
    mmodel *models;
    int nmodels;
    struct { time_t at; char *msg; } events[MAX_EVENTS];
    gs_memfit fit;                        /* the plan's snapshot (gs_memory_fit) */
    gs_memfit_model *fit_models;
    uint64_t budget[GS_MEMEST_MAX_DEV];   /* cached for BUDGET_TTL_MS */
    uint64_t budget_at_ms;
    bool have_budget;
    int nevents, next_event;
};

static void dev_name(int d, char *b, size_t cap)
{
    if (d)
        snprintf(b, cap, "gpu%d", d - 1);
    else
        snprintf(b, cap, "ram");
}

gs_memory *gs_memory_new(const gs_config *cfg, const gs_memory_settings *set, const char *home)
{
    gs_memory *m = gs_mem_calloc(1, sizeof *m);
    if (set)
        m->set = *set;
    m->home = home ? gs_mem_strdup(home) : gs_gen_home(NULL);
    m->nmodels = cfg ? cfg->nmodels : 0;
    m->models = gs_mem_calloc(m->nmodels ? (size_t)m->nmodels : 1, sizeof *m->models);
    for (int i = 0; i < m->nmodels; i++) {
        const gs_model_cfg *c = &cfg->models[i];
        mmodel *x = &m->models[i];
        x->id = gs_mem_strdup(c->id);
        x->argc = c->argv ? c->argc : 0;
        x->argv = gs_mem_calloc((size_t)x->argc + 1, sizeof *x->argv);
        for (int k = 0; k < x->argc; k++)
            x->argv[k] = gs_mem_strdup(c->argv[k]);
    }
    return m;
}

/* The devices: RAM and the GPUs, asked of the drivers (NVML by dlopen) on first use only, so a
 * daemon that never plans with memory never loads them. A cache: const callers may fill it. */
static int ndev(const gs_memory *cm)
{
    gs_memory *m = (gs_memory *)cm;
    if (!m->ndev)
        m->ndev = 1 + gs_memdev_gpu_count();
    return m->ndev;
}

/* Model i with its estimate and learned figure (a cache, as ndev()). */
static mmodel *fill(const gs_memory *cm, int i)
{
    mmodel *x = &((gs_memory *)cm)->models[i];
    if (x->filled)
        return x;
    x->filled = true;
    /* the key stats the files the command line names */
    gs_memlearn_key(x->argv, x->argc, x->key);
    gs_memest e;
    char *err = NULL;
    if (x->argc && gs_memest_argv(x->argv, x->argc, ndev(cm) - 1, &e, &err) == 0) {
        memcpy(x->estimate, e.dev, sizeof x->estimate);
        x->have_estimate = true;
    } else {
        x->why_none = err ? err : gs_mem_strdup("no estimate");
        err = NULL;
    }
    free(err);
    /* a figure measured in this run (on_ready, poll, a failure) is newer than the file's */
    if (!x->have_learned)
        x->have_learned = gs_memlearn_get(cm->home, x->key, &x->learned) == 0 && x->learned.dev[0];
    return x;
}

void gs_memory_free(gs_memory *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->nmodels; i++) {
        free(m->models[i].id);
        free(m->models[i].why_none);
        for (int k = 0; k < m->models[i].argc; k++)
            free(m->models[i].argv[k]);
        free(m->models[i].argv);
    }
    for (int i = 0; i < MAX_EVENTS; i++)
        free(m->events[i].msg);
    free(m->models);
    free(m->fit_models);
    free(m->home);
    free(m);
}

bool gs_memory_enabled(const gs_memory *m)
{
    return m && m->set.enabled;
}

int gs_memory_ndev(const gs_memory *m)
{
    return ndev(m);
}

void gs_memory_set_pinned(gs_memory *m, int i, bool pinned)
{
    if (i >= 0 && i < m->nmodels)
        m->models[i].pinned = pinned;
}

void gs_memory_set_override(gs_memory *m, int i, uint64_t bytes)
{
    if (i >= 0 && i < m->nmodels)
        m->models[i].override = bytes;
}

void gs_memory_need(const gs_memory *m, int i, uint64_t *dev)
{
    memset(dev, 0, sizeof *dev * (size_t)ndev(m));
    if (i < 0 || i >= m->nmodels)
        return;
    const mmodel *x = fill(m, i);
    if (x->override) {
        /* what the user said, unless a start ran out of memory with it */
        dev[0] = x->learned.ooms && x->learned.dev[0] > x->override ? x->learned.dev[0] : x->override;
        return;
    }
    for (int d = 0; d < ndev(m); d++)
        /* a device the measurement did not see (no driver figure) keeps its estimate */
        dev[d] = x->have_learned && x->learned.dev[d] ? x->learned.dev[d] : x->estimate[d];
}

uint64_t gs_memory_need_total(const gs_memory *m, int i)
{
    uint64_t dev[GS_MEMEST_MAX_DEV], t = 0;
    gs_memory_need(m, i, dev);
    for (int d = 0; d < ndev(m); d++)
        t += dev[d];
    return t;
}

/* What a running child holds now, per device. */
static void usage_of(const gs_memory *m, int pid, uint64_t *dev)
{
    memset(dev, 0, sizeof *dev * GS_MEMEST_MAX_DEV);
    if (pid <= 0)
        return;
    dev[0] = gs_memdev_rss("/proc", pid);
    if (ndev(m) > 1)
        gs_memdev_gpu_used(pid, dev, ndev(m));
    dev[0] = gs_memdev_rss("/proc", pid); /* gpu_used clears every entry */
}

void gs_memory_budgets(gs_memory *m, const gs_memory_live *live, uint64_t *budget)
{
    gs_memdevs ds;
    gs_memdev_probe(&ds);
    uint64_t ours[GS_MEMEST_MAX_DEV] = {0};
    for (int i = 0; live && i < m->nmodels; i++) {
        uint64_t u[GS_MEMEST_MAX_DEV];
        usage_of(m, live[i].pid, u);
        for (int d = 0; d < ndev(m); d++)
            ours[d] += u[d];
    }
    for (int d = 0; d < ndev(m); d++) {
        uint64_t conf = d == 0 ? m->set.ram
                        : m->set.ngpu >= d ? m->set.gpu[d - 1] : 0;
        uint64_t free_now = d < ds.n ? ds.dev[d].free : 0;
        budget[d] = gs_memdev_budget(conf, free_now, ours[d], m->set.margin);
        if (d > 0 && m->set.ngpu >= 0 && d > m->set.ngpu)
            budget[d] = 0; /* `gpu: [..]` lists fewer GPUs: the others are not used */
    }
}

static void store(gs_memory *m, mmodel *x, bool replace)
{
    int rc = gs_memlearn_put(m->home, x->key, x->id, &x->learned, replace);
    if (rc)
        gs_log_msg(GS_LOG_WARN, "memory: cannot write %s/memory.json: %s (measured figures "
                   "are kept until ggswap exits)", m->home, strerror(-rc));
}

void gs_memory_on_ready(gs_memory *m, int i, int pid, const char *log, size_t len,
                        uint64_t load_ms)
{
    if (i < 0 || i >= m->nmodels)
        return;
    mmodel *x = fill(m, i);
    x->retried = false;
    gs_memlearn_log l = {0};
    uint64_t from_log[GS_MEMEST_MAX_DEV] = {0}, now[GS_MEMEST_MAX_DEV];
    if (log)
        gs_memlearn_parse(&l, log, len);
    gs_memlearn_log_figure(&l, from_log);
    usage_of(m, pid, now);
    gs_memlearn_entry e = {.load_ms = load_ms, .ooms = x->learned.ooms};
    for (int d = 0; d < ndev(m); d++)
        e.dev[d] = now[d] > from_log[d] ? now[d] : from_log[d];
    /* After an out-of-memory failure the raised figure stays until a start succeeds with
     * less; a fresh measurement then replaces it. */
    x->learned = e;
    x->have_learned = e.dev[0] > 0;
    if (x->have_learned)
        store(m, x, true);
    char a[16], b[16];
    gs_log_msg(GS_LOG_DEBUG, "memory: %s measured %s in RAM (estimate %s) after %llu ms", x->id,
               gs_memest_human(e.dev[0], a, sizeof a), gs_memest_human(x->estimate[0], b, sizeof b),
               (unsigned long long)load_ms);
}

void gs_memory_poll(gs_memory *m, int i, int pid)
{
    if (i < 0 || i >= m->nmodels || pid <= 0)
        return;
    mmodel *x = fill(m, i);
    uint64_t now[GS_MEMEST_MAX_DEV];
    usage_of(m, pid, now);
    bool grew = false;
    for (int d = 0; d < ndev(m); d++)
        if (now[d] > x->learned.dev[d] + x->learned.dev[d] / 20) { /* 5 %: worth a write */
            x->learned.dev[d] = now[d];
            grew = true;
        }
    if (grew) {
        x->have_learned = x->learned.dev[0] > 0;
        store(m, x, false);
    }
}

bool gs_memory_on_failed(gs_memory *m, int i, const char *log, size_t len, bool killed)
{
    if (i < 0 || i >= m->nmodels)
        return false;
    mmodel *x = fill(m, i);
    gs_memlearn_log l = {0};
    if (log)
        gs_memlearn_parse(&l, log, len);
    if (!l.oom && !killed)
        return false;
    uint64_t before = gs_memory_need_total(m, i), need[GS_MEMEST_MAX_DEV];
    gs_memory_need(m, i, need);
    gs_memlearn_raise(&x->learned, need, ndev(m));
    x->have_learned = x->learned.dev[0] > 0;
    store(m, x, true);
    char a[16], b[16];
    bool retry = !x->retried;
    x->retried = true;
    gs_memory_note(m, "%s ran out of memory while loading (%s); its figure is raised from %s to %s%s",
                   x->id, l.oom ? l.oom_line : "killed by SIGKILL, the kernel's OOM killer",
                   gs_memest_human(before, a, sizeof a),
                   gs_memest_human(gs_memory_need_total(m, i), b, sizeof b),
                   retry ? "; trying once more with that much room" : "; not retried again");
    return retry;
}

void gs_memory_note(gs_memory *m, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    gs_log_msg(GS_LOG_INFO, "memory: %s", msg);
    int k = m->next_event;
    free(m->events[k].msg);
    m->events[k].msg = gs_mem_strdup(msg);
    m->events[k].at = time(NULL);
    m->next_event = (k + 1) % MAX_EVENTS;
    if (m->nevents < MAX_EVENTS)
        m->nevents++;
}

void gs_memory_note_eviction(gs_memory *m, int victim, int target, int dev, uint64_t need,
                             uint64_t free)
{
    char a[16], b[16], dn[24] = "";
    if (dev > 0)
        snprintf(dn, sizeof dn, " on gpu%d", dev - 1);
    const char *v = victim >= 0 && victim < m->nmodels ? m->models[victim].id : "?";
    const char *t = target >= 0 && target < m->nmodels ? m->models[target].id : "?";
    gs_memory_note(m, "stopped %s to make room for %s: needs %s, %s free%s", v, t,
                   gs_memest_human(need, a, sizeof a), gs_memest_human(free, b, sizeof b), dn);
}

char *gs_memory_too_big(const gs_memory *m, int i, const uint64_t *budget)
{
    uint64_t need[GS_MEMEST_MAX_DEV];
    gs_memory_need(m, i, need);
    for (int d = 0; d < ndev(m); d++)
        if (need[d] > budget[d]) {
            char a[16], b[16], dn[16];
            dev_name(d, dn, sizeof dn);
            return gs_mem_printf("model %s needs %s of %s but the memory budget there is %s, "
                                 "even with every other model stopped; give it a smaller "
                                 "context (-c) or set memory.%s higher", m->models[i].id,
                                 gs_memest_human(need[d], a, sizeof a), dn,
                                 gs_memest_human(budget[d], b, sizeof b), d ? "gpu" : "ram");
        }
    return NULL;
}

static json_t *dev_object(const gs_memory *m, const uint64_t *v)
{
    json_t *o = json_object();
    for (int d = 0; d < ndev(m); d++) {
        char n[16];
        dev_name(d, n, sizeof n);
        json_object_set_new(o, n, json_integer((json_int_t)v[d]));
    }
    return o;
}

json_t *gs_memory_json(gs_memory *m, const gs_memory_live *live)
{
    gs_memdevs ds;
    gs_memdev_probe(&ds);
    uint64_t budget[GS_MEMEST_MAX_DEV], used[GS_MEMEST_MAX_DEV] = {0};
    gs_memory_budgets(m, live, budget);
    json_t *models = json_array();
    for (int i = 0; i < m->nmodels; i++) {
        mmodel *x = fill(m, i);
        uint64_t need[GS_MEMEST_MAX_DEV], now[GS_MEMEST_MAX_DEV];
        gs_memory_need(m, i, need);
        usage_of(m, live ? live[i].pid : 0, now);
        uint64_t est = 0, meas = 0, nt = 0, cur = 0;
        for (int d = 0; d < ndev(m); d++) {
            est += x->override ? 0 : x->estimate[d];
            meas += x->learned.dev[d];
            nt += need[d];
            cur += now[d];
            used[d] += now[d];
        }
        if (x->override)
            est = x->override;
        json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:s}", "model", x->id, "state",
                              live && live[i].state ? live[i].state : "stopped", "estimate",
                              (json_int_t)est, "need", (json_int_t)nt, "source",
                              x->override ? "config" : x->have_learned ? "measured" : "estimate");
        json_object_set_new(o, "measured", x->have_learned ? json_integer((json_int_t)meas)
                                                           : json_null());
        json_object_set_new(o, "used", cur ? json_integer((json_int_t)cur) : json_null());
        json_object_set_new(o, "byDevice", json_pack("{s:o, s:o, s:o}", "estimate",
                                                     dev_object(m, x->estimate), "measured",
                                                     dev_object(m, x->learned.dev), "need",
                                                     dev_object(m, need)));
        if (x->learned.load_ms)
            json_object_set_new(o, "loadMs", json_integer((json_int_t)x->learned.load_ms));
        if (x->learned.ooms)
            json_object_set_new(o, "ooms", json_integer(x->learned.ooms));
        if (!x->have_estimate && !x->override)
            json_object_set_new(o, "why", json_string(x->why_none));
        json_array_append_new(models, o);
    }
    json_t *devs = json_array();
    for (int d = 0; d < ndev(m); d++) {
        char n[16];
        dev_name(d, n, sizeof n);
        uint64_t fr = budget[d] > used[d] ? budget[d] - used[d] : 0;
        json_array_append_new(devs, json_pack("{s:s, s:s, s:I, s:I, s:I, s:I}", "name", n,
                                              "desc", d < ds.n ? ds.dev[d].desc : "",
                                              "total", (json_int_t)(d < ds.n ? ds.dev[d].total : 0),
                                              "budget", (json_int_t)budget[d],
                                              "used", (json_int_t)used[d], "free", (json_int_t)fr));
    }
    json_t *ev = json_array();
    for (int k = 0; k < m->nevents; k++) {
        int at = (m->next_event - m->nevents + k + MAX_EVENTS) % MAX_EVENTS;
        char ts[32];
        struct tm tm;
        gmtime_r(&m->events[at].at, &tm);
        strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
        json_array_append_new(ev, json_pack("{s:s, s:s}", "time", ts, "message",
                                            m->events[at].msg));
    }
    return json_pack("{s:b, s:I, s:o, s:o, s:o}", "enabled", m->set.enabled, "margin",
                     (json_int_t)m->set.margin, "devices", devs, "models", models, "events", ev);
}

void gs_memory_metrics(const gs_memory *m, gs_buf *b)
{
    gs_buf_puts(b, "# HELP ggswap_model_memory_bytes Memory per model: the estimate before it "
                   "starts and what it was measured to use.\n"
                   "# TYPE ggswap_model_memory_bytes gauge\n");
    for (int i = 0; i < m->nmodels; i++) {
        const mmodel *x = fill(m, i);
        uint64_t e = x->override, me = 0;
        for (int d = 0; d < ndev(m); d++) {
            e += x->override ? 0 : x->estimate[d];
            me += x->learned.dev[d];
        }
        gs_buf_printf(b, "ggswap_model_memory_bytes{model=\"%s\",kind=\"estimate\"} %llu\n",
                      x->id, (unsigned long long)e);
        if (x->have_learned)
            gs_buf_printf(b, "ggswap_model_memory_bytes{model=\"%s\",kind=\"measured\"} %llu\n",
                          x->id, (unsigned long long)me);
    }
}

/* ---- the daemon's side ------------------------------------------------------------------- */

static int proc_index(gs_server *s, gs_proc *p)
{
    for (int i = 0; s->cfg && i < s->cfg->nmodels; i++)
        if (s->procs[i] == p)
            return i;
    return -1;
}

bool gs_memory_proc_state(gs_server *s, gs_proc *p, int old_state)
{
    int i = proc_index(s, p);
    if (!s->memory || i < 0 || old_state != GS_PROC_STARTING)
        return false;
    bool oom = false;
    size_t len = 0;
    char *log = NULL;
    if (p->state == GS_PROC_READY) {
        log = gs_proc_log_tail(p, 256 * 1024);
        len = log ? strlen(log) : 0;
        uint64_t now = gs_clock_ms();
        gs_memory_on_ready(s->memory, i, p->pid, log, len,
                           now > p->start_ms ? now - p->start_ms : 0);
    } else if (p->state == GS_PROC_FAILED || p->state == GS_PROC_STOPPED) {
        log = gs_proc_log_tail(p, 256 * 1024);
        len = log ? strlen(log) : 0;
        /* SIGKILL during a start that ggswap did not stop: the kernel's OOM killer */
        bool killed = p->error && strstr(p->error, "killed by signal 9");
        oom = gs_memory_on_failed(s->memory, i, log, len, killed);
    }
    free(log);
    return oom && gs_memory_enabled(s->memory); /* a retry helps only if more room is made */
}

gs_memory_live *gs_memory_live_of(gs_server *s)
{
    int n = s->cfg ? s->cfg->nmodels : 0;
    gs_memory_live *l = gs_mem_calloc(n ? (size_t)n : 1, sizeof *l);
    for (int i = 0; i < n; i++) {
        l[i].state = gs_proc_state_name(s->procs[i]->state);
        l[i].pid = gs_proc_alive(s->procs[i]) ? s->procs[i]->pid : 0;
    }
    return l;
}

static void poll_tick(uv_timer_t *t)
{
    gs_server *s = t->data;
    for (int i = 0; s->memory && s->cfg && i < s->cfg->nmodels; i++)
        if (s->procs[i]->state == GS_PROC_READY && s->procs[i]->pid > 0)
            gs_memory_poll(s->memory, i, s->procs[i]->pid);
}

void gs_memory_attach(gs_server *s)
{
    gs_memory_settings set = {.enabled = false, .ngpu = -1, .margin = 1024ull * 1024 * 1024};
    const gs_memory_cfg *mc = s->cfg ? &s->cfg->memory : NULL;
    if (mc && mc->enabled) {
        set.enabled = true;
        set.ram = mc->ram_auto || mc->ram < 0 ? 0 : (uint64_t)mc->ram;
        if (!mc->gpu_auto) {
            set.ngpu = mc->ngpu < GS_MEMEST_MAX_GPUS ? mc->ngpu : GS_MEMEST_MAX_GPUS;
            for (int i = 0; i < set.ngpu; i++)
                set.gpu[i] = mc->gpu[i] > 0 ? (uint64_t)mc->gpu[i] : 0;
        }
        set.margin = mc->margin >= 0 ? (uint64_t)mc->margin : 0;
    }
    if (s->memory && s->sched.evictions == gs_memfit_evictions) {
        /* hand the constraint memory composed with back before its snapshot goes */
        bool dflt = s->memory->fit.inner == gs_router_evictions;
        gs_sched_set_constraint(&s->sched, dflt ? NULL : s->memory->fit.inner,
                                dflt ? NULL : s->memory->fit.inner_ud);
    }
    gs_memory_free(s->memory);
    s->memory = gs_memory_new(s->cfg, &set, NULL);
    for (int i = 0; s->cfg && i < s->cfg->nmodels; i++) {
        const gs_model_cfg *c = &s->cfg->models[i];
        if (c->memory > 0)
            gs_memory_set_override(s->memory, i, (uint64_t)c->memory);
        gs_memory_set_pinned(s->memory, i, !c->swappable || s->cfg->groups[c->group].persistent);
    }
    if (!s->memory_timer_on) {
        uv_timer_init(s->loop, &s->memory_timer);
        s->memory_timer.data = s;
        uv_timer_start(&s->memory_timer, poll_tick, 2000, 2000);
        uv_unref((uv_handle_t *)&s->memory_timer); /* never what keeps the loop alive */
        s->memory_timer_on = true;
    }
}

#define BUDGET_TTL_MS 250

static void fit_budgets(gs_server *s, uint64_t *budget)
{
    gs_memory *m = s->memory;
    uint64_t now = gs_clock_ms();
    if (!m->have_budget || now - m->budget_at_ms >= BUDGET_TTL_MS) {
        gs_memory_live *live = gs_memory_live_of(s);
        gs_memory_budgets(m, live, m->budget);
        free(live);
        m->budget_at_ms = now;
        m->have_budget = true;
    }
    memcpy(budget, m->budget, sizeof m->budget);
}

const gs_memfit *gs_memory_fit(gs_server *s, gs_memfit_inner_fn inner, const void *inner_ud)
{
    gs_memory *m = s->memory;
    if (!m->fit_models)
        m->fit_models = gs_mem_calloc(m->nmodels ? (size_t)m->nmodels : 1, sizeof *m->fit_models);
    uint64_t now = gs_clock_ms();
    for (int i = 0; i < m->nmodels; i++) {
        gs_memfit_model *f = &m->fit_models[i];
        const gs_proc *p = s->procs[i];
        gs_memory_need(m, i, f->need);
        f->pinned = m->models[i].pinned;
        f->busy = p->inflight > 0;
        f->load_ms = fill(m, i)->learned.load_ms;
        f->idle_ms = p->last_used_ms && now > p->last_used_ms ? now - p->last_used_ms : 0;
    }
    m->fit.models = m->fit_models;
    m->fit.n = m->nmodels;
    m->fit.ndev = ndev(m);
    fit_budgets(s, m->fit.budget);
    m->fit.inner = inner;
    m->fit.inner_ud = inner_ud;
    return &m->fit;
}

static void running_set(gs_server *s, bool *running)
{
    for (int i = 0; i < s->memory->nmodels; i++)
        running[i] = gs_proc_alive(s->procs[i]) || s->procs[i]->state == GS_PROC_STARTING ||
                     s->procs[i]->state == GS_PROC_READY;
}

char *gs_memory_refuse(gs_server *s, int i)
{
    gs_memory *m = s->memory;
    if (!gs_memory_enabled(m) || i < 0 || i >= m->nmodels)
        return NULL;
    const gs_memfit *f = gs_memory_fit(s, NULL, NULL);
    bool running_s[64] = {false}, *running = m->nmodels <= 64 ? running_s
                                            : gs_mem_calloc((size_t)m->nmodels, sizeof *running);
    running_set(s, running);
    int dev = -1;
    char *msg = NULL;
    if (gs_memfit_too_big(f, i, running, &dev)) {
        uint64_t pinned = 0;
        for (int k = 0; k < m->nmodels; k++)
            if (running[k] && k != i && f->models[k].pinned)
                pinned += f->models[k].need[dev];
        char a[16], b[16], c[16], dn[16];
        dev_name(dev, dn, sizeof dn);
        msg = gs_mem_printf("model %s needs %s of %s but the memory budget there is %s%s%s%s; "
                            "give it a smaller context (-c), set memory.%s higher, or a smaller "
                            "`memory` for it", m->models[i].id,
                            gs_memest_human(f->models[i].need[dev], a, sizeof a), dn,
                            gs_memest_human(f->budget[dev], b, sizeof b),
                            pinned ? " and models that are never swapped out hold " : "",
                            pinned ? gs_memest_human(pinned, c, sizeof c) : "",
                            pinned ? " of it" : "", dev ? "gpu" : "ram");
        gs_memory_note(m, "refused %s: %s", m->models[i].id, msg);
    }
    if (running != running_s)
        free(running);
    return msg;
}

void gs_memory_stopped_for(gs_server *s, int victim, int target, bool by_groups)
{
    gs_memory *m = s->memory;
    if (!gs_memory_enabled(m) || by_groups || target < 0 || target >= m->nmodels)
        return;
    const gs_memfit *f = gs_memory_fit(s, NULL, NULL);
    bool running_s[64] = {false}, *running = m->nmodels <= 64 ? running_s
                                            : gs_mem_calloc((size_t)m->nmodels, sizeof *running);
    running_set(s, running);
    running[victim] = true; /* as it was when the plan chose */
    int dev = 0;
    uint64_t free_left = 0;
    gs_memfit_shortfall(f, target, running, &dev, &free_left);
    gs_memory_note_eviction(m, victim, target, dev < 0 ? 0 : dev,
                            f->models[target].need[dev < 0 ? 0 : dev], free_left);
    if (running != running_s)
        free(running);
}

void gs_memory_before_plan(void *ud)
{
    gs_server *s = ud;
    gs_sched *q = &s->sched;
    /* Another constraint (a swap-matrix solver) may be set: memory composes with it. */
    gs_plan_evict_fn base = q->evictions == gs_memfit_evictions ? s->memory->fit.inner : q->evictions;
    const void *base_ud = q->evictions == gs_memfit_evictions ? s->memory->fit.inner_ud : q->evictions_ud;
    if (base == gs_router_evictions && base_ud == s->cfg) {
        base = NULL; /* the default: stays the default when memory is off */
        base_ud = NULL;
    }
    if (!gs_memory_enabled(s->memory)) {
        if (q->evictions == gs_memfit_evictions)
            gs_sched_set_constraint(q, base, base_ud);
        return;
    }
    const gs_memfit *f = gs_memory_fit(s, base ? base : gs_router_evictions,
                                       base ? base_ud : (const void *)s->cfg);
    gs_sched_set_constraint(q, gs_memfit_evictions, f);
}

void gs_memory_stopping(int victim, int target, void *ud)
{
    gs_server *s = ud;
    if (!gs_memory_enabled(s->memory) || !s->cfg || victim < 0 || victim >= s->cfg->nmodels)
        return;
    int n = s->cfg->nmodels;
    bool small_r[64] = {false}, small_e[64] = {false};
    bool *running = n <= 64 ? small_r : gs_mem_calloc((size_t)n, sizeof *running);
    bool *evict = n <= 64 ? small_e : gs_mem_calloc((size_t)n, sizeof *evict);
    running_set(s, running);
    running[victim] = true;
    running[target] = false;
    gs_router_evictions(s->cfg, target, running, n, evict);
    gs_memory_stopped_for(s, victim, target, evict[victim]);
    if (running != small_r)
        free(running);
    if (evict != small_e)
        free(evict);
}

void gs_memory_handle_api(gs_server *s, gs_http_req *req, const char *rest)
{
    (void)rest;
    gs_memory_live *live = gs_memory_live_of(s);
    gs_api_respond_json(req, 200, gs_memory_json(s->memory, live));
    free(live);
}
