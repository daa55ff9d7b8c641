/* metrics: GET /api/requests and GET /metrics, views of the server's counters (see metrics.h). */
#include "metrics.h"

#include <jansson.h>
#include <stdlib.h>

#include "api.h"
#include "buf.h"
#include "memory.h"
#include "server.h"
#include "stats.h"
#include "timing.h"

void gs_metrics_handle_requests(gs_server *s, gs_http_req *req, const char *rest)
{
    const gs_stats *st = &s->stats;
    json_t *arr = json_array();
    uint64_t first = st->nhistory > GS_REQUEST_HISTORY ? st->nhistory - GS_REQUEST_HISTORY : 0;
    for (uint64_t i = first; i < st->nhistory; i++)
        json_array_append_new(arr, gs_stats_request_json(&st->history[i % GS_REQUEST_HISTORY]));
    gs_api_respond_json(req, 200, json_pack("{s:o}", "requests", arr));
}

void gs_metrics_handle(gs_server *s, gs_http_req *req, const char *rest)
{
    gs_buf b;
    gs_buf_init(&b, 0);
    gs_buf_puts(&b, "# HELP ggswap_up 1 while the service is running.\n# TYPE ggswap_up gauge\n");
    gs_buf_printf(&b, "ggswap_up %d\n", s->state == GS_SERVICE_RUNNING);
    gs_buf_puts(&b, "# HELP ggswap_requests_total Proxied requests by status class.\n"
                    "# TYPE ggswap_requests_total counter\n");
    static const char *cls[] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};
    for (int i = 0; i < 6; i++)
        gs_buf_printf(&b, "ggswap_requests_total{class=\"%s\"} %llu\n", cls[i],
                      (unsigned long long)s->stats.responses_by_class[i]);
    gs_buf_puts(&b, "# HELP ggswap_model_state 1 for the state each model is in.\n"
                    "# TYPE ggswap_model_state gauge\n");
    for (int i = 0; i < s->cfg->nmodels; i++)
        for (int st = GS_PROC_STOPPED; st <= GS_PROC_DYING; st++)
            gs_buf_printf(&b, "ggswap_model_state{model=\"%s\",state=\"%s\"} %d\n",
                          s->procs[i]->id, gs_proc_state_name((gs_proc_state)st),
                          s->procs[i]->state == (gs_proc_state)st);
    gs_buf_puts(&b, "# HELP ggswap_model_inflight Requests in flight per model.\n"
                    "# TYPE ggswap_model_inflight gauge\n");
    for (int i = 0; i < s->cfg->nmodels; i++)
        gs_buf_printf(&b, "ggswap_model_inflight{model=\"%s\"} %d\n", s->procs[i]->id,
                      s->procs[i]->inflight);
    gs_buf_puts(&b, "# HELP ggswap_connections Open client connections.\n"
                    "# TYPE ggswap_connections gauge\n");
    gs_buf_printf(&b, "ggswap_connections %d\n", gs_http_server_connections(s->http));
    gs_timing_render(&s->stats.timing, &b);
    if (s->memory)
        gs_memory_metrics(s->memory, &b);
    gs_http_respond(req, 200, "text/plain; version=0.0.4", b.data, b.len, NULL);
    gs_buf_free(&b);
}

