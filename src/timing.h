/* timing: where a proxied request's time went, per request and per model.
 *
 * A request's wait before it is sent upstream splits into two parts: the time its model spent
 * starting while the request waited (load) and the rest (queue: an earlier request, a swap that
 * waits for requests in flight, the concurrency of its model). Both come from the request's own
 * arrival and dispatch times and the model's start and ready times, so nothing needs to be
 * tracked while the request waits. Each answer then says so in a Server-Timing header, and per
 * model histograms (queue, load, time to first token) and a swap counter feed /metrics. The
 * per model table is keyed by model id and outlives reloads, so counters never go backwards. */
#ifndef GS_TIMING_H
#define GS_TIMING_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "http.h"

#define GS_HIST_NBUCKETS 17

/* A Prometheus histogram in seconds, with one fixed set of bucket bounds (1 ms to 5 min). */
typedef struct gs_hist {
    uint64_t buckets[GS_HIST_NBUCKETS]; /* count of observations <= each bound (cumulative) */
    uint64_t count;
    double sum;
} gs_hist;

extern const double gs_hist_bounds[GS_HIST_NBUCKETS];

void gs_hist_observe(gs_hist *h, double seconds);

typedef struct gs_model_timing {
    char *model;
    gs_hist queue;   /* ggswap_request_queue_seconds */
    gs_hist load;    /* ggswap_model_load_seconds: start to ready, once per start */
    gs_hist ttft;    /* ggswap_request_ttft_seconds: arrival to the first streamed token */
    uint64_t swaps;  /* ggswap_swaps_total: starts that had to stop another model first */
    bool evicted;    /* another model was stopped to make way for it since its last start */
} gs_model_timing;

typedef struct gs_timing {
    gs_model_timing *m;
    int n, cap;
    int *index;            /* hash of model ids: 1 + an index into m, 0 empty */
    size_t nindex;         /* a power of two, over twice n */
} gs_timing;

/* The entry for a model id, created when missing. */
gs_model_timing *gs_timing_get(gs_timing *t, const char *model);
void gs_timing_free(gs_timing *t);

/* The split of a request's wait, in ms. arrive and dispatch are the request's times;
 * start and ready the model's last start and the moment it became ready (0: unknown or not
 * ready yet; ready is then taken as dispatch). All on one monotonic clock, in ms. */
typedef struct gs_wait_split {
    double queue_ms;
    double load_ms;
} gs_wait_split;
gs_wait_split gs_timing_split(double arrive, double dispatch, double start, double ready);

/* "Server-Timing: queue;dur=1.2, load;dur=0, upstream;dur=35.1\r\n" into out (NUL-terminated).
 * Returns the length, or -1 when cap is too small. */
int gs_timing_header(char *out, size_t cap, double queue_ms, double load_ms, double upstream_ms);

/* For an answer ggswap gives itself (an error before, or instead of, the model's head): the
 * Server-Timing line goes into req's head_extra, which every response to it carries; at most
 * once, and only while it fits. */
void gs_timing_tag(gs_http_req *req, double queue_ms, double load_ms, double upstream_ms);
/* The same for an answer given before any wait: all of its time so far counts as queue. */
void gs_timing_tag_now(gs_http_req *req);

/* The histograms and the counter, for every model in the table, in Prometheus text format. */
void gs_timing_render(const gs_timing *t, gs_buf *b);

#endif
