/* metrics: the routes that show what the daemon counted: GET /api/requests (the ring of recent
 * requests as JSON) and GET /metrics (Prometheus text: service up, responses by class, each
 * model's state and requests in flight, connections, the timing histograms, memory gauges).
 *
 * Kept apart from stats.c, which only records: these views read the whole server, and the
 * server embeds the stats, so one module doing both made server.h and stats.c need each other. */
#ifndef GS_METRICS_H
#define GS_METRICS_H

#include "http.h"

typedef struct gs_server gs_server;

/* Routes (see api.c's table): GET /api/requests and GET /metrics. */
void gs_metrics_handle_requests(gs_server *s, gs_http_req *req, const char *rest);
void gs_metrics_handle(gs_server *s, gs_http_req *req, const char *rest);

#endif
