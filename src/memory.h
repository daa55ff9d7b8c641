/* memory: the figures memory-aware scheduling decides with, for the config in force.
 *
 * One gs_memory per config: for each model its estimate per device (memest.h, from its GGUF
 * header and command line, or the model's `memory` key), what it was measured to use
 * (memlearn.h: remembered from earlier runs, updated when it becomes ready and while it runs),
 * and the figure to plan with (measured where known, else the estimate; raised after an
 * out-of-memory failure). Per device (memdev.h) the budget: `memory.ram` / `memory.gpu` (auto
 * or sizes) bounded by what is free now plus what ggswap's children hold, less the margin. The
 * scheduler's plan reads gs_memory_need and gs_memory_budgets; this module also answers GET
 * /api/memory, writes the memory gauges of /metrics, and keeps the recent memory events
 * (evictions and out-of-memory failures, with their reasons) for the page and the log. */
#ifndef GS_MEMORY_H
#define GS_MEMORY_H
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "memdev.h"
#include "memest.h"
#include "memfit.h"

typedef struct gs_memory gs_memory;

/* What `memory:` says (SPEC §2); sizes in bytes, 0 = auto. */
typedef struct gs_memory_settings {
    bool enabled;
    uint64_t ram;
    uint64_t gpu[GS_MEMEST_MAX_GPUS];
    int ngpu;          /* -1: auto for every GPU */
    uint64_t margin;
} gs_memory_settings;

/* What the caller knows of a model right now. */
typedef struct gs_memory_live {
    const char *state; /* "stopped", "ready", ... */
    int pid;           /* > 0 while a child runs */
} gs_memory_live;

/* Estimates for every model of cfg (reads each model's GGUF header once; a model whose
 * command line names no readable model file gets none: it counts as 0 unless `memory` gives
 * it). home holds memory.json (NULL: gs_gen_home's default). */
gs_memory *gs_memory_new(const gs_config *cfg, const gs_memory_settings *set, const char *home);
void gs_memory_free(gs_memory *m);
bool gs_memory_enabled(const gs_memory *m);
/* Devices: 1 + GPUs. */
int gs_memory_ndev(const gs_memory *m);
/* Model i's `memory` key (bytes in RAM), overriding the estimate. */
void gs_memory_set_override(gs_memory *m, int i, uint64_t bytes);
/* The bytes per device to plan with for model i (ndev entries). */
void gs_memory_need(const gs_memory *m, int i, uint64_t *dev);
uint64_t gs_memory_need_total(const gs_memory *m, int i);
/* Budgets per device now (ndev entries); live[i] for each model (pid > 0: its usage counts
 * as ggswap's own). */
void gs_memory_budgets(gs_memory *m, const gs_memory_live *live, uint64_t *budget);

/* Model i became ready: read its log, measure the child, remember the figure. */
void gs_memory_on_ready(gs_memory *m, int i, int pid, const char *log, size_t len,
                        uint64_t load_ms);
/* While it runs (the caller polls every few seconds): the highest RSS is kept. */
void gs_memory_poll(gs_memory *m, int i, int pid);
/* Model i failed to start: when it ran out of memory (its log says so, or the kernel's OOM
 * killer sent SIGKILL) its figure is raised and the reason noted; returns true when it should
 * be tried once more (the first such failure since it was last ready). */
bool gs_memory_on_failed(gs_memory *m, int i, const char *log, size_t len, bool killed);
/* An eviction for room: logs and keeps "stopped X to make room for Y: needs 4.1 GiB, 2.3
 * free" (device named when it is not RAM). */
void gs_memory_note_eviction(gs_memory *m, int victim, int target, int dev, uint64_t need,
                             uint64_t free);
/* A model that cannot fit even alone: the 503 message naming both sizes (caller frees). */
char *gs_memory_too_big(const gs_memory *m, int i, const uint64_t *budget);
/* Any other line worth showing (kept and logged). */
void gs_memory_note(gs_memory *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- the daemon's side (server.h) ---- */
struct gs_server;
struct gs_proc;
struct gs_http_req;
/* A model's process changed state (server's on_proc_state): learn on READY, and after a start
 * that failed for lack of memory raise the figure. Returns true when the start should be
 * tried once more (gs_sched_forgive). */
bool gs_memory_proc_state(struct gs_server *s, struct gs_proc *p, int old_state);
/* (Re)build s->memory for s->cfg (after every config change) and start the poll timer. */
void gs_memory_attach(struct gs_server *s);
/* The live view of every model of s (caller frees). */
gs_memory_live *gs_memory_live_of(struct gs_server *s);
/* Model i is never stopped for memory (swappable: false, or a persistent group's member). */
void gs_memory_set_pinned(gs_memory *m, int i, bool pinned);
/* The plan's memory constraint for this pass (memfit.h): needs, budgets (measured at most
 * every 250 ms), pins, requests in flight and load times of s's models, composed with inner
 * (the group rules). The snapshot lives in m until the next call. */
const struct gs_memfit *gs_memory_fit(struct gs_server *s, gs_memfit_inner_fn inner,
                                      const void *inner_ud);
/* Before a request for model i is queued: NULL when it may wait for room, else the 503
 * insufficient_memory message (caller frees): it cannot fit even with every other model
 * that may be stopped stopped. */
char *gs_memory_refuse(struct gs_server *s, int i);
/* The plan stopped victim to make way for target: when memory made it (not the group
 * rules), say so in the log and on the page. */
void gs_memory_stopped_for(struct gs_server *s, int victim, int target, bool by_groups);
/* The scheduler's hooks (scheduler.h; ud is the server): before each plan pass, the memory
 * constraint composed with the group rules when memory is on, else the group rules alone;
 * and a note when the plan stops a model for memory. */
void gs_memory_before_plan(void *ud);
void gs_memory_stopping(int victim, int target, void *ud);
/* GET /api/memory */
void gs_memory_handle_api(struct gs_server *s, struct gs_http_req *req, const char *rest);

/* GET /api/memory (SPEC §4) */
json_t *gs_memory_json(gs_memory *m, const gs_memory_live *live);
/* ggswap_model_memory_bytes{model,kind="estimate"|"measured"} and per-device gauges. */
void gs_memory_metrics(const gs_memory *m, gs_buf *b);

#endif
