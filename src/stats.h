/* stats: what the daemon counts about the requests it served: the ring of recent requests (the
 * page's "recent requests", /api/requests, the history sent to a new /api/events client),
 * totals by status class (metrics.c serves them with /metrics).
 *
 * The counters live in a gs_stats embedded in gs_server; recording is O(1) and never allocates,
 * so the request path pays nothing for it. The JSON views are built on demand. This module
 * knows nothing of the server, so the server's header can embed it without a cycle. */
#ifndef GS_STATS_H
#define GS_STATS_H
#include <stdint.h>

#include "buf.h"
#include "timing.h"

/* One finished request. */
typedef struct gs_request_log {
    uint64_t id;
    uint64_t time_ms;        /* wall clock, ms since the epoch */
    char model[128];
    char method[16];
    char path[96];
    int status;
    double duration_ms;
    long tokens;             /* -1 when unknown */
    double queue_ms;         /* waiting in line, not counting its model's load (timing.h) */
    double load_ms;          /* waiting for its model's start */
    double ttft_ms;          /* arrival to the first streamed event; -1 when none */
} gs_request_log;

#define GS_REQUEST_HISTORY 200

typedef struct gs_stats {
    gs_request_log history[GS_REQUEST_HISTORY];
    uint64_t nhistory;            /* requests recorded (and restored); the ring holds the last 200 */
    uint64_t id_offset;           /* ids go on from a restored store's: id = offset + count */
    uint64_t requests_total;
    uint64_t responses_by_class[6]; /* [0] other, [1..5] 1xx..5xx */
    gs_timing timing;             /* per model histograms and swap counts (timing.h) */
} gs_stats;

/* Record r (its id is assigned here); returns the stored copy. */
const gs_request_log *gs_stats_record(gs_stats *st, const gs_request_log *r);
/* Put back the n requests a store kept (oldest first) at start-up; ids go on after last_id.
 * Counters start from zero: they count what this process served (Prometheus). */
void gs_stats_restore(gs_stats *st, const gs_request_log *rows, int n, uint64_t last_id);
/* JSON of one request (new reference). */
struct json_t *gs_stats_request_json(const gs_request_log *r);
/* Every request still in the ring, oldest first, as SSE "request" events. */
void gs_stats_history_sse(const gs_stats *st, gs_buf *out);

#endif
