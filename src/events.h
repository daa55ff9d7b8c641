/* events: live streams to clients: /api/events (SSE) and /logs/stream (plain text).
 *
 * The page never polls; it holds one SSE stream on which the server publishes model state
 * changes, log lines, request summaries and service changes. A subscriber whose socket is
 * congested misses events instead of making the daemon buffer for it (memory stays bounded;
 * the page resynchronises from the next `service` event). A comment line every 15 s keeps idle
 * streams alive through proxies and finds clients that went away. */
#ifndef GS_EVENTS_H
#define GS_EVENTS_H
#include <stddef.h>
#include <uv.h>

#include "http.h"

typedef struct gs_events gs_events;

gs_events *gs_events_new(uv_loop_t *loop);
/* Close every stream and free (the timer's close callback does the free). */
void gs_events_free(gs_events *e);
/* Start an SSE response on req and keep it. `hello` is raw SSE text sent first (may be NULL). */
void gs_events_add_sse(gs_events *e, gs_http_req *req, const char *hello);
/* Start a text/plain log stream; filter NULL means every source (model lines as "[id] line"),
 * else "proxy", "upstream" (every model's lines as they came) or a model id.
 * `history` is sent first (may be NULL). */
void gs_events_add_log(gs_events *e, gs_http_req *req, const char *filter, const char *history);
/* Publish `event` with JSON `data` (one line) to SSE subscribers. */
void gs_events_publish(gs_events *e, const char *event, const char *data);
/* A log line from source ("proxy" or a model id): to log streams and as a `log` event. */
void gs_events_log_line(gs_events *e, const char *source, const char *line, size_t len);
int gs_events_count(const gs_events *e);
/* End every stream cleanly (service shutdown). */
void gs_events_close_all(gs_events *e);

#endif
