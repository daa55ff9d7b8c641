/* server: the running daemon: config in force, one gs_proc per model, the HTTP listener, the
 * service state (running / stopped) and reloads.
 *
 * Everything the request handlers need hangs off one gs_server. Reload builds the new config
 * first and only then swaps it in: models whose process definition did not change keep their
 * running process; changed or removed ones are retired, finish their requests in flight, and
 * stop; a replacement for the same model waits until the old process is gone (same port). */
#ifndef GS_SERVER_H
#define GS_SERVER_H
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "http.h"
#include "proc.h"
#include "scheduler.h"
#include "stats.h"

typedef struct gs_events gs_events;
typedef struct gs_unload_wait gs_unload_wait;
typedef struct gs_server gs_server;

/* The service's one lifecycle, changed only by the setter in server.c, which logs each change.
 * STOPPED <-> RUNNING are the page's buttons (stopped: models unloaded, inference answers 503).
 * The last three are the daemon's way out (SIGTERM/SIGINT), from either: requests in flight
 * finish (DRAINING, at most 10 s), then children get SIGTERM (STOPPING, up to 20 s from the
 * start; their own escalation kills them after 5 s), then SIGKILL (KILLING; at once on a second
 * signal); the loop ends when every child is gone (or at 30 s). There is no way back from them.
 * The way out moves on events (a request ended, a child changed state) and at those deadlines,
 * through one timer: no polling. */
typedef enum gs_service_state {
    GS_SERVICE_STOPPED = 0,
    GS_SERVICE_RUNNING,
    GS_SERVICE_DRAINING,
    GS_SERVICE_STOPPING,
    GS_SERVICE_KILLING,
} gs_service_state;

/* Integrated mode: rescan the model folders and write a new config file. Returns 0 or a
 * negative errno with a message in *msg (caller frees); fills problems for the page. On success
 * *cfg is the new config built in memory (caller owns), or NULL: read the file written. */
typedef int (*gs_regenerate_fn)(gs_server *s, gs_config **cfg, char **msg);

struct gs_server {
    uv_loop_t *loop;
    gs_config *cfg;
    gs_proc **procs;         /* parallel to cfg->models */
    gs_proc **retired;       /* replaced or removed by a reload, on their way out */
    int nretired;
    gs_http_server *http;
    char *listen;
    char *config_path;
    char *config_dir;
    char *tls_cert, *tls_key; /* -tls-cert-file / -tls-key-file: HTTPS on the same port */        /* -config-dir: merged after config_path (confdir.h) */
    bool integrated;
    gs_service_state state;
    uint64_t started_ms;     /* when the service last started (monotonic) */
    gs_sched sched;          /* the queue, the requests in flight, the plan's actions */
    gs_events *events;
    /* integrated mode facts for /api/service and the page */
    char **models_dirs;
    int nmodels_dirs;
    char *llama_server;
    char **problems;
    int nproblems;
    gs_regenerate_fn regenerate;
    void *regenerate_ud;
    gs_stats stats;          /* recent requests and counters (/api/requests, /metrics) */
    struct gs_store *store;  /* store.path: the activity kept across restarts, or NULL */
    bool log_level_forced;   /* --log-level given: the config's logLevel does not apply */
    gs_config **old_configs; /* still read by retired processes */
    int nold_configs;
    uint64_t shutdown_since_ms; /* when shutdown (DRAINING) began (monotonic) */
    struct json_t *last_diff;  /* {"added":[...],"removed":[...],"changed":[...]} of the last apply */
    uv_signal_t sig_term, sig_int, sig_hup;
    uv_fs_poll_t watch;
    bool watching;
    uv_timer_t watch_timer;  /* -config-dir: compares the sources' fingerprint */
    uint64_t watch_fingerprint;
    uv_timer_t shutdown_timer;
    char *home;              /* ggswap's home folder (the slot cache lives there), or NULL */
    struct gs_memory *memory; /* memory figures for cfg (memory.h) */
    uv_timer_t memory_timer;  /* measures running children every 2 s */
    bool memory_timer_on;
    struct gs_dl_mgr *downloads; /* pulls from the Hub (pullapi.h) */
    struct gs_watch *folders;    /* the watched model folders, integrated mode (watch.h) */
    struct gs_peers *peers;  /* pools towards the config's peers (peer.h) */
    int active_profile;      /* profiles: the one in force, -1 none (also after a reload) */
    unsigned selector_turn;  /* spillover selectors take tied targets in turn */
    gs_unload_wait *unload_waits; /* unload requests answered once their processes are gone */
};

/* Start serving cfg (ownership passes) on listen. Returns 0 or a negative errno. */
int gs_server_start(gs_server *s, uv_loop_t *loop, gs_config *cfg, const char *listen);
/* Replace the config (ownership passes), keeping unchanged models running. */
void gs_server_apply_config(gs_server *s, gs_config *cfg);
/* Reload from s->config_path (after regenerate in integrated mode). Returns 0 or -errno, with
 * the reasons in *msg (caller frees) when not NULL. */
int gs_server_reload(gs_server *s, char **msg);
/* What SIGHUP, the page's regenerate/restart and a change in the model folders do: in
 * integrated mode rescan and put the config built in memory in force (no re-parsing of the file
 * just written), else reload the config files. Same returns as gs_server_reload. */
int gs_server_regenerate(gs_server *s, char **msg);
/* Service control (the page's buttons). */
void gs_server_service_stop(gs_server *s);
void gs_server_service_start(gs_server *s);
/* True from DRAINING on: ggswap is on its way out. */
bool gs_server_shutting_down(const gs_server *s);
const char *gs_server_state_name(gs_service_state st);
/* Graceful shutdown: stop listening, let requests in flight finish (bounded), stop children. */
void gs_server_shutdown(gs_server *s);
void gs_server_watch_config(gs_server *s);
/* Free what the server owns, after the loop has ended. */
void gs_server_cleanup(gs_server *s);

/* The proc of a model id or alias, or NULL; *idx gets its index when not NULL. */
gs_proc *gs_server_find(gs_server *s, const char *name, int *idx);
void gs_server_set_problems(gs_server *s, char **problems, int n);
/* Tell the page a model's counters changed (state changes are published on their own). */
void gs_server_model_changed(gs_server *s, gs_proc *p);
/* Tell the page the service's state or facts changed. */
void gs_server_publish_service(gs_server *s);
/* Record a finished request (history, metrics, events). */
void gs_server_log_request(gs_server *s, const gs_request_log *r);

#endif
