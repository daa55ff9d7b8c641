#include "server.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "clock.h"
#include "confdir.h"
#include "sdnotify.h"
#include "events.h"
#include "log.h"
#include "peer.h"
#include "memory.h"
#include "mem.h"
#include "pullapi.h"
#include "scheduler.h"
#include "slotcache.h"
#include "store.h"
#include "strv.h"

static void on_proc_state(gs_proc *p, gs_proc_state old, void *ud);

/* ---- helpers ---- */

gs_proc *gs_server_find(gs_server *s, const char *name, int *idx)
{
    int i = name ? gs_config_find(s->cfg, name) : -1;
    if (idx)
        *idx = i;
    return i >= 0 ? s->procs[i] : NULL;
}

static void publish_json(gs_server *s, const char *event, json_t *o)
{
    char *d = json_dumps(o, JSON_COMPACT);
    gs_events_publish(s->events, event, d);
    free(d);
    json_decref(o);
}

void gs_server_publish_service(gs_server *s)
{
    if (gs_events_count(s->events))
        publish_json(s, "service", gs_api_service_json(s));
}

void gs_server_log_request(gs_server *s, const gs_request_log *r)
{
    const gs_request_log *slot = gs_stats_record(&s->stats, r);
    gs_store_add(s->store, slot);
    if (gs_events_count(s->events))
        publish_json(s, "request", gs_stats_request_json(slot));
}

void gs_server_set_problems(gs_server *s, char **problems, int n)
{
    gs_strv_free_n(s->problems, s->nproblems);
    s->problems = problems;
    s->nproblems = n;
}

/* ---- processes ---- */

static void shutdown_kick(gs_server *s, uint64_t after_ms);

static int proc_index(gs_server *s, const gs_proc *p)
{
    for (int i = 0; i < s->cfg->nmodels; i++)
        if (s->procs[i] == p)
            return i;
    return -1;
}

static void reap_retired(gs_server *s)
{
    for (int i = 0; i < s->nretired;) {
        gs_proc *p = s->retired[i];
        if (p->inflight == 0 && (p->state == GS_PROC_STARTING || p->state == GS_PROC_READY))
            gs_proc_stop(p, "its definition changed or it was removed (reload)");
        if (p->inflight == 0 && !gs_proc_alive(p) &&
            (p->state == GS_PROC_STOPPED || p->state == GS_PROC_FAILED)) {
            gs_proc_free(p);
            s->retired[i] = s->retired[--s->nretired];
            continue;
        }
        i++;
    }
    if (s->nretired == 0 && s->nold_configs) {
        for (int i = 0; i < s->nold_configs; i++)
            gs_config_free(s->old_configs[i]);
        s->nold_configs = 0;
    }
}

void gs_server_model_changed(gs_server *s, gs_proc *p)
{
    int idx = proc_index(s, p);
    if (idx >= 0 && gs_events_count(s->events))
        publish_json(s, "model", gs_api_model_json(s, idx));
    if (idx < 0)
        reap_retired(s); /* a retired process's last request ended: stop it now */
}

static void on_proc_state(gs_proc *p, gs_proc_state old, void *ud)
{
    gs_server *s = ud;
    int idx = proc_index(s, p);
    if (gs_memory_proc_state(s, p, (int)old))
        gs_sched_forgive(&s->sched, p); /* out of memory: tried once more, with more room */
    if (old == GS_PROC_STARTING && p->state == GS_PROC_READY)
        gs_hist_observe(&gs_timing_get(&s->stats.timing, p->id)->load,
                        (double)(gs_clock_ms() - p->start_ms) / 1000.0);
    if (idx >= 0 && gs_events_count(s->events))
        publish_json(s, "model", gs_api_model_json(s, idx));
    reap_retired(s);
    gs_api_unload_waits_check(s);
    gs_sched_pump(&s->sched);
    shutdown_kick(s, 0);
}

static void sched_request_done(const gs_request_log *r, void *ud)
{
    gs_server_log_request(ud, r);
    shutdown_kick(ud, 0);
}

static void sched_model_changed(gs_proc *p, void *ud)
{
    gs_server_model_changed(ud, p);
}

/* A retired process (reload) listening on the same port must be gone before a start. */
static bool sched_port_busy(const gs_proc *p, void *ud)
{
    gs_server *s = ud;
    for (int i = 0; i < s->nretired; i++) {
        const gs_proc *r = s->retired[i];
        if (gs_proc_alive(r) && r->cfg && r->cfg->proxy_port == p->cfg->proxy_port)
            return true;
    }
    return false;
}

/* Memory-aware scheduling: the figures the plan checks starts against, from the snapshot that
 * gs_memory_before_plan made the pass's constraint. Off: the pass stays as preset. */
static void sched_prepare(gs_sched_pass *pass, void *ud)
{
    gs_server *s = ud;
    if (!gs_memory_enabled(s->memory) || pass->constraint.evictions != gs_memfit_evictions)
        return;
    const gs_memfit *f = pass->constraint.ud;
    int nd = f->ndev < GS_PLAN_MAX_DEVICES ? f->ndev : GS_PLAN_MAX_DEVICES;
    for (int d = 0; d < nd; d++)
        pass->devices[d] = (gs_plan_device){.budget = f->budget[d]};
    pass->ndevices = nd;
    for (int i = 0; i < pass->nmodels && i < f->n; i++) {
        for (int d = 0; d < nd; d++)
            pass->models[i].need[d] = f->models[i].need[d];
        pass->models[i].pinned = f->models[i].pinned;
    }
}

static char *sched_refuse(int idx, void *ud)
{
    return gs_memory_refuse(ud, idx);
}

static void free_procs(gs_server *s)
{
    for (int i = 0; s->cfg && i < s->cfg->nmodels; i++)
        if (s->procs[i])
            gs_proc_free(s->procs[i]);
    free(s->procs);
    s->procs = NULL;
}

static bool str_eq(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static bool json_eq(json_t *a, json_t *b)
{
    return a == b || (a && b && json_equal(a, b));
}

/* Beyond the process: what else a reload may change in a kept model (reported as changed). */
static bool same_settings(const gs_config *ca, const gs_model_cfg *a, const gs_config *cb,
                          const gs_model_cfg *b)
{
    if (a->ttl != b->ttl || a->unlisted != b->unlisted || a->naliases != b->naliases ||
        a->concurrency_limit != b->concurrency_limit || a->nstrip != b->nstrip ||
        !str_eq(a->use_model_name, b->use_model_name) || !str_eq(a->name, b->name) ||
        !str_eq(a->description, b->description) ||
        !str_eq(ca->groups[a->group].id, cb->groups[b->group].id) ||
        !json_eq(a->set_params, b->set_params) || !json_eq(a->metadata, b->metadata))
        return false;
    for (int i = 0; i < a->naliases; i++)
        if (strcmp(a->aliases[i], b->aliases[i]) != 0)
            return false;
    for (int i = 0; i < a->nstrip; i++)
        if (strcmp(a->strip_params[i], b->strip_params[i]) != 0)
            return false;
    return true;
}

void gs_server_apply_config(gs_server *s, gs_config *cfg)
{
    gs_config *old = s->cfg;
    s->active_profile = -1; /* as llama-swap: no profile is active after a (re)load */
    gs_proc **procs = gs_mem_calloc((size_t)cfg->nmodels + 1, sizeof *procs);
    json_t *added = json_array(), *removed = json_array(), *changed = json_array();
    bool *kept = old ? gs_mem_calloc((size_t)old->nmodels + 1, sizeof *kept) : NULL;
    for (int i = 0; i < cfg->nmodels; i++) {
        const gs_model_cfg *m = &cfg->models[i];
        int j = old ? gs_config_find(old, m->id) : -1;
        if (j >= 0 && strcmp(old->models[j].id, m->id) != 0)
            j = -1; /* matched an alias, not the same model */
        if (j >= 0 && gs_config_model_same_process(&old->models[j], m)) {
            if (!same_settings(old, &old->models[j], cfg, m))
                json_array_append_new(changed, json_string(m->id));
            procs[i] = s->procs[j];
            procs[i]->cfg = m;
            procs[i]->health_timeout_s = cfg->health_check_timeout;
            gs_upstream_pool_set_timeouts(procs[i]->pool, &m->timeouts);
            kept[j] = true;
        } else {
            procs[i] = gs_proc_new(s->loop, m, cfg->health_check_timeout, on_proc_state, s);
        }
    }
    for (int i = 0; i < cfg->nmodels; i++) {
        gs_slotcache_configure(procs[i], cfg, s->home);
        gs_timing_get(&s->stats.timing, cfg->models[i].id); /* in /metrics from the start */
    }
    for (int j = 0; old && j < old->nmodels; j++) {
        if (kept[j])
            continue;
        gs_proc *p = s->procs[j];
        int i = gs_config_find(cfg, p->id);
        json_array_append_new(i >= 0 ? changed : removed, json_string(p->id));
        gs_sched_retarget(&s->sched, p, i >= 0 ? procs[i] : NULL);
        s->retired = gs_mem_realloc(s->retired, sizeof *s->retired * (size_t)(s->nretired + 1));
        s->retired[s->nretired++] = p;
    }
    for (int i = 0; i < cfg->nmodels; i++)
        if (!old || gs_config_find(old, cfg->models[i].id) < 0)
            json_array_append_new(added, json_string(cfg->models[i].id));
    free(kept);
    free(s->procs);
    s->procs = procs;
    s->cfg = cfg;
    gs_sched_set_models(&s->sched, cfg, procs);
    gs_memory_attach(s);
    if (old) {
        /* Retired processes still read their model's definition until they are gone. */
        s->old_configs = gs_mem_realloc(s->old_configs,
                                        sizeof *s->old_configs * (size_t)(s->nold_configs + 1));
        s->old_configs[s->nold_configs++] = old;
        gs_info("config: %d models (%zu added, %zu removed, %zu changed, the rest kept running)",
                cfg->nmodels, json_array_size(added), json_array_size(removed),
                json_array_size(changed));
    }
    json_decref(s->last_diff);
    s->last_diff = json_pack("{s:o, s:o, s:o}", "added", added, "removed", removed, "changed",
                             changed);
    gs_log_level lvl;
    if (cfg->log_level && gs_log_parse_level(cfg->log_level, &lvl) == 0 && !s->log_level_forced)
        gs_log_set_level(lvl);
    gs_log_stdout out = cfg->log_to_stdout;
    gs_log_set_outputs(out == GS_LOG_STDOUT_PROXY || out == GS_LOG_STDOUT_BOTH,
                       out == GS_LOG_STDOUT_UPSTREAM || out == GS_LOG_STDOUT_BOTH);
    reap_retired(s);
    gs_sched_pump(&s->sched);
    gs_server_publish_service(s);
}

/* ---- service control ---- */

const char *gs_server_state_name(gs_service_state st)
{
    switch (st) {
    case GS_SERVICE_STOPPED: return "stopped";
    case GS_SERVICE_RUNNING: return "running";
    case GS_SERVICE_DRAINING: return "draining";
    case GS_SERVICE_STOPPING: return "stopping children";
    case GS_SERVICE_KILLING: return "killing";
    }
    return "?";
}

bool gs_server_shutting_down(const gs_server *s)
{
    return s->state >= GS_SERVICE_DRAINING;
}

/* The one setter of the service's state. */
static void service_set(gs_server *s, gs_service_state st, const char *why)
{
    if (s->state == st)
        return;
    gs_info("service: %s -> %s: %s", gs_server_state_name(s->state), gs_server_state_name(st), why);
    s->state = st;
}

void gs_server_service_stop(gs_server *s)
{
    if (s->state != GS_SERVICE_RUNNING)
        return;
    service_set(s, GS_SERVICE_STOPPED, "asked to stop");
    gs_info("service stopped: unloading every model; inference answers 503 until started");
    gs_sched_fail_queued(&s->sched, NULL, 503, "the service is stopped");
    gs_sched_cancel_active(&s->sched, NULL, "the service was stopped");
    for (int i = 0; i < s->cfg->nmodels; i++)
        gs_proc_stop_within(s->procs[i], "service stopped",
                            s->procs[i]->cfg->unload_timeout * 1000);
    gs_server_publish_service(s);
}

static void run_preload(gs_server *s)
{
    for (int i = 0; i < s->cfg->npreload; i++) {
        int idx = gs_config_find(s->cfg, s->cfg->preload[i]);
        if (idx >= 0) {
            gs_info("preloading %s (hooks.on_startup.preload)", s->cfg->models[idx].id);
            gs_sched_load(&s->sched, NULL, idx);
        }
    }
}

void gs_server_service_start(gs_server *s)
{
    if (s->state != GS_SERVICE_STOPPED)
        return; /* running already, or shutting down: no way back */
    service_set(s, GS_SERVICE_RUNNING, "started");
    s->started_ms = gs_clock_ms();
    gs_info("service running: %d models, listening on %s", s->cfg->nmodels, s->listen);
    run_preload(s);
    gs_server_publish_service(s);
}

/* The activity store of a config, with what it kept put back into the recent requests. */
static int open_store(gs_server *s, const char *path, gs_store **out, char **msg)
{
    int rc = gs_store_open(s->loop, path, 0, out, msg);
    if (rc < 0)
        return rc;
    gs_request_log *rows = gs_mem_calloc(GS_REQUEST_HISTORY, sizeof *rows);
    uint64_t last = 0;
    int n = gs_store_load(*out, rows, GS_REQUEST_HISTORY, &last);
    if (n >= 0 && s->stats.nhistory == 0)
        gs_stats_restore(&s->stats, rows, n, last);
    else if (n >= 0 && last > s->stats.id_offset + s->stats.nhistory)
        s->stats.id_offset = last - s->stats.nhistory; /* ids stay unique in the new file */
    free(rows);
    return 0;
}

/* A reload that names another store.path: as llama-swap, a new file that cannot be used is a
 * warning and the store in force stays; none means the ring alone from now on. */
static void reopen_store(gs_server *s, const char *path)
{
    const char *now = s->store ? gs_store_path(s->store) : NULL;
    if ((!now && !path) || (now && path && strcmp(now, path) == 0))
        return;
    gs_store *st = NULL;
    char *msg = NULL;
    if (path && open_store(s, path, &st, &msg) < 0) {
        gs_warn("reload: %s; keeping %s", msg, now ? now : "the activity in memory only");
        free(msg);
        return;
    }
    gs_store_close(s->store);
    s->store = st;
}

/* systemd's Type=notify-reload wants the monotonic time with RELOADING=1. */
static void reloading_notify(void)
{
    char st[96];
    snprintf(st, sizeof st, "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)(gs_clock_ns() / 1000));
    gs_sd_notify(st);
}

/* Put cfg (owned) in force: the store it names, the models it adds, changes and removes. */
static void adopt(gs_server *s, gs_config *cfg)
{
    reopen_store(s, cfg->store_path);
    gs_server_apply_config(s, cfg);
}

int gs_server_reload(gs_server *s, char **msg)
{
    gs_config *cfg = NULL;
    gs_diag d = {0};
    int rc;
    if (msg)
        *msg = NULL;
    const char *name = s->config_dir ? s->config_dir : s->config_path;
    if (!name) {
        rc = -EINVAL;
        if (msg)
            *msg = gs_mem_strdup("no config file to reload");
        goto out;
    }
    reloading_notify();
    rc = gs_confdir_load(s->config_path, s->config_dir, &cfg, &d);
    if (d.n) {
        char *all = gs_diag_join(&d);
        if (rc < 0)
            gs_error("reload of %s failed; keeping the config in force:\n%s", name, all);
        else
            gs_warn("%s", all);
        if (msg && rc < 0)
            *msg = all;
        else
            free(all);
    }
    if (rc < 0) {
        if (msg && !*msg)
            *msg = gs_mem_printf("cannot load %s: %s", name, strerror(-rc));
        goto out;
    }
    adopt(s, cfg);
    gs_info("reloaded %s", name);
out:
    if (name)
        gs_sd_notify("READY=1");
    gs_diag_free(&d);
    return rc;
}

int gs_server_regenerate(gs_server *s, char **msg)
{
    gs_config *cfg = NULL;
    if (msg)
        *msg = NULL;
    if (!s->integrated || !s->regenerate)
        return gs_server_reload(s, msg);
    int rc = s->regenerate(s, &cfg, msg);
    if (rc < 0)
        return rc;
    if (!cfg)
        return gs_server_reload(s, msg); /* not built in memory: read the file written */
    reloading_notify();
    adopt(s, cfg);
    gs_info("regenerated %s; the config built in memory is in force", s->config_path);
    gs_sd_notify("READY=1");
    return 0;
}


/* ---- signals, watching, shutdown ---- */

static void on_hup(uv_signal_t *h, int sig)
{
    gs_server *s = h->data;
    gs_info("SIGHUP: %s", s->integrated ? "regenerating the config" : "reloading the config");
    char *msg = NULL;
    if (gs_server_regenerate(s, &msg) < 0 && s->integrated)
        gs_error("SIGHUP: %s", msg ? msg : "cannot regenerate the config");
    free(msg);
}

static void close_walk(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static bool children_gone(gs_server *s)
{
    for (int i = 0; i < s->cfg->nmodels; i++)
        if (gs_proc_alive(s->procs[i]))
            return false;
    for (int i = 0; i < s->nretired; i++)
        if (gs_proc_alive(s->retired[i]))
            return false;
    return true;
}

static void final_close(gs_server *s)
{
    if (s->http)
        gs_http_server_close(s->http);
    s->http = NULL; /* peer requests still in flight were aborted with their connections */
    gs_peers_free(s->peers);
    s->peers = NULL;
    gs_store_close(s->store); /* writes what is still queued */
    s->store = NULL;
    free_procs(s);
    for (int i = 0; i < s->nretired; i++)
        gs_proc_free(s->retired[i]);
    s->nretired = 0;
    gs_log_set_sink(NULL, NULL);
    gs_events_free(s->events);
    s->events = NULL;
    /* Signal watchers, timers, the config poll: close whatever is left so the loop ends. */
    gs_pullapi_detach(s);
    uv_walk(s->loop, close_walk, NULL);
}

#define DRAIN_MS 10000
#define KILL_AFTER_MS 20000
#define GIVE_UP_MS 30000

static void shutdown_step(uv_timer_t *t);

/* Shutdown moves on events (a request ended, a child changed state or went away) and at its
 * deadlines. Both only (re)arm the one shutdown timer: the step may free processes and close
 * the listener, so it never runs inside the callback of an object it frees. */
static void shutdown_kick(gs_server *s, uint64_t after_ms)
{
    if (gs_server_shutting_down(s) && !uv_is_closing((uv_handle_t *)&s->shutdown_timer))
        uv_timer_start(&s->shutdown_timer, shutdown_step, after_ms, 0);
}

static void stop_children(gs_server *s, bool kill)
{
    for (int i = 0; i < s->cfg->nmodels; i++) {
        gs_proc_stop(s->procs[i], "ggswap is shutting down");
        if (kill)
            gs_proc_kill(s->procs[i]);
    }
    for (int i = 0; i < s->nretired; i++) {
        gs_proc_stop(s->retired[i], "ggswap is shutting down");
        if (kill)
            gs_proc_kill(s->retired[i]);
    }
}

/* The one place the shutdown advances: draining -> stopping children -> killing -> closed.
 * The loop ends only once every child is gone (or at 30 s), so nothing is left behind. */
static void shutdown_step(uv_timer_t *t)
{
    gs_server *s = t->data;
    uint64_t el = gs_clock_ms() - s->shutdown_since_ms;
    bool busy = gs_sched_busy(&s->sched);
    if (s->state == GS_SERVICE_DRAINING) {
        if (busy && el < DRAIN_MS) {
            shutdown_kick(s, DRAIN_MS - el);
            return;
        }
        service_set(s, GS_SERVICE_STOPPING,
                    busy ? "requests still in flight after 10 s" : "no request in flight");
    }
    if (s->state == GS_SERVICE_STOPPING && el >= KILL_AFTER_MS)
        service_set(s, GS_SERVICE_KILLING, "children still alive after 20 s");
    if (busy)
        gs_sched_cancel_active(&s->sched, NULL, "ggswap is shutting down");
    stop_children(s, s->state == GS_SERVICE_KILLING);
    if (children_gone(s) || el >= GIVE_UP_MS) {
        uv_timer_stop(t);
        final_close(s);
        return;
    }
    shutdown_kick(s, (s->state == GS_SERVICE_STOPPING ? KILL_AFTER_MS : GIVE_UP_MS) - el);
}

void gs_server_shutdown(gs_server *s)
{
    if (gs_server_shutting_down(s)) {
        /* A second signal: no more waiting for requests or polite stops. */
        gs_info("second signal: cutting requests and killing models now");
        service_set(s, GS_SERVICE_KILLING, "second signal");
        shutdown_kick(s, 0);
        return;
    }
    s->shutdown_since_ms = gs_clock_ms();
    uv_timer_init(s->loop, &s->shutdown_timer);
    s->shutdown_timer.data = s;
    service_set(s, GS_SERVICE_DRAINING, "signal");
    gs_sd_notify("STOPPING=1");
    gs_info("shutting down: no new connections; letting requests in flight finish");
    if (s->http)
        gs_http_server_stop_listening(s->http);
    gs_sched_fail_queued(&s->sched, NULL, 503, "ggswap is shutting down");
    gs_events_close_all(s->events);
    shutdown_kick(s, 0);
}

static void on_term(uv_signal_t *h, int sig)
{
    gs_server *s = h->data;
    gs_info("signal %d received", sig);
    gs_server_shutdown(s);
}

static void watch_cb(uv_fs_poll_t *h, int status, const uv_stat_t *prev, const uv_stat_t *curr)
{
    gs_server *s = h->data;
    if (status < 0)
        return;
    gs_info("config file %s changed; reloading", s->config_path);
    gs_server_reload(s, NULL);
}

/* -config-dir: files come and go, so compare a fingerprint of every source each second. */
static void watch_dir_tick(uv_timer_t *t)
{
    gs_server *s = t->data;
    uint64_t fp = gs_confdir_fingerprint(s->config_path, s->config_dir);
    if (fp == s->watch_fingerprint)
        return;
    s->watch_fingerprint = fp;
    gs_info("a config file in %s changed; reloading", s->config_dir);
    gs_server_reload(s, NULL);
}

void gs_server_watch_config(gs_server *s)
{
    if (s->watching)
        return;
    if (s->config_dir) {
        s->watch_fingerprint = gs_confdir_fingerprint(s->config_path, s->config_dir);
        uv_timer_init(s->loop, &s->watch_timer);
        s->watch_timer.data = s;
        uv_timer_start(&s->watch_timer, watch_dir_tick, 1000, 1000);
        s->watching = true;
        return;
    }
    if (!s->config_path)
        return;
    uv_fs_poll_init(s->loop, &s->watch);
    s->watch.data = s;
    /* Polling (like llama-swap) survives editors that replace the file and bind mounts. */
    if (uv_fs_poll_start(&s->watch, watch_cb, s->config_path, 1000) == 0)
        s->watching = true;
}

static void log_sink(const char *source, const char *line, size_t len, void *ud)
{
    gs_server *s = ud;
    gs_events_log_line(s->events, source, line, len);
}

int gs_server_start(gs_server *s, uv_loop_t *loop, gs_config *cfg, const char *listen)
{
    int rc;
    s->loop = loop;
    s->listen = gs_mem_strdup(listen);

    gs_sched_hooks hooks = {
        .request_done = sched_request_done,
        .model_changed = sched_model_changed,
        .port_busy = sched_port_busy,
        .before_plan = gs_memory_before_plan,
        .stopping = gs_memory_stopping,
        .prepare = sched_prepare,
        .refuse = sched_refuse,
        .ud = s,
    };
    gs_sched_init(&s->sched, loop, &hooks);
    s->sched.timing = &s->stats.timing;
    s->events = gs_events_new(loop);
    s->peers = gs_peers_new(loop);
    gs_log_set_sink(log_sink, s);
    gs_server_apply_config(s, cfg);
    gs_pullapi_attach(s);
    if (cfg->store_path) {
        char *msg = NULL;
        rc = open_store(s, cfg->store_path, &s->store, &msg);
        if (rc < 0) {
            gs_error("%s", msg);
            free(msg);
            goto out;
        }
    }
    gs_http_limits lim = {.tls_cert = s->tls_cert, .tls_key = s->tls_key};
    rc = gs_http_server_start(loop, listen, &lim, gs_api_handle, s, &s->http);
    if (rc < 0) {
        gs_error("cannot listen on %s: %s (is another ggswap or llama-swap running? use --listen)",
                 listen, uv_strerror(rc));
        goto out;
    }
    uv_signal_init(loop, &s->sig_term);
    uv_signal_init(loop, &s->sig_int);
    uv_signal_init(loop, &s->sig_hup);
    s->sig_term.data = s->sig_int.data = s->sig_hup.data = s;
    uv_signal_start(&s->sig_term, on_term, SIGTERM);
    uv_signal_start(&s->sig_int, on_term, SIGINT);
    uv_signal_start(&s->sig_hup, on_hup, SIGHUP);
    gs_info("listening on %s://%s (%d models; page at /ui/)", s->tls_cert ? "https" : "http",
            listen, cfg->nmodels);
    gs_server_service_start(s);
out:
    return rc;
}

void gs_server_cleanup(gs_server *s)
{
    gs_store_close(s->store); /* NULL after a shutdown: final_close closed it */
    s->store = NULL;
    gs_peers_free(s->peers); /* NULL after a shutdown: final_close freed them */
    s->peers = NULL;
    for (int i = 0; i < s->nold_configs; i++)
        gs_config_free(s->old_configs[i]);
    free(s->old_configs);
    gs_config_free(s->cfg);
    s->cfg = NULL;
    gs_memory_free(s->memory);
    s->memory = NULL;
    gs_server_set_problems(s, NULL, 0);
    gs_strv_free_n(s->models_dirs, s->nmodels_dirs);
    free(s->retired);
    free(s->llama_server);
    free(s->listen);
    free(s->config_path);
    free(s->config_dir);
    free(s->tls_cert);
    free(s->tls_key);
    free(s->home);
    gs_timing_free(&s->stats.timing);
    json_decref(s->last_diff);
}
