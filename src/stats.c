#include "stats.h"

#include <jansson.h>
#include <stdlib.h>


const gs_request_log *gs_stats_record(gs_stats *st, const gs_request_log *r)
{
    gs_request_log *slot = &st->history[st->nhistory % GS_REQUEST_HISTORY];
    *slot = *r;
    slot->id = st->id_offset + ++st->nhistory;
    st->requests_total++;
    int cls = r->status / 100;
    if (cls >= 1 && cls <= 5)
        st->responses_by_class[cls]++;
    else
        st->responses_by_class[0]++;
    return slot;
}

void gs_stats_restore(gs_stats *st, const gs_request_log *rows, int n, uint64_t last_id)
{
    if (n > GS_REQUEST_HISTORY) {
        rows += n - GS_REQUEST_HISTORY;
        n = GS_REQUEST_HISTORY;
    }
    for (int i = 0; i < n; i++)
        st->history[i] = rows[i];
    st->nhistory = (uint64_t)n;
    st->id_offset = last_id > (uint64_t)n ? last_id - (uint64_t)n : 0;
}

json_t *gs_stats_request_json(const gs_request_log *r)
{
    json_t *o = json_pack("{s:I, s:I, s:s, s:s, s:s, s:i, s:f}", "id", (json_int_t)r->id, "time",
                          (json_int_t)r->time_ms, "model", r->model, "method", r->method, "path",
                          r->path, "status", r->status, "duration_ms", r->duration_ms);
    if (!o)
        return json_object();
    json_object_set_new(o, "tokens", r->tokens >= 0 ? json_integer(r->tokens) : json_null());
    double tps = r->tokens > 0 && r->duration_ms > 0 ? (double)r->tokens / (r->duration_ms / 1000.0)
                                                     : -1;
    json_object_set_new(o, "tps", tps >= 0 ? json_real(tps) : json_null());
    json_object_set_new(o, "queue_ms", json_real(r->queue_ms));
    json_object_set_new(o, "load_ms", json_real(r->load_ms));
    json_object_set_new(o, "ttft_ms", r->ttft_ms >= 0 ? json_real(r->ttft_ms) : json_null());
    return o;
}

void gs_stats_history_sse(const gs_stats *st, gs_buf *out)
{
    uint64_t first = st->nhistory > GS_REQUEST_HISTORY ? st->nhistory - GS_REQUEST_HISTORY : 0;
    for (uint64_t i = first; i < st->nhistory; i++) {
        json_t *o = gs_stats_request_json(&st->history[i % GS_REQUEST_HISTORY]);
        char *d = json_dumps(o, JSON_COMPACT);
        gs_buf_printf(out, "event: request\ndata: %s\n\n", d);
        free(d);
        json_decref(o);
    }
}
