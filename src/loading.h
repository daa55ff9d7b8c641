/* loading: the early bytes of a streamed request that waits for its model to load.
 *
 * A client that asked for a stream and whose model is still loading gets the response head at
 * once (200, text/event-stream) and then, about every second, an SSE comment line saying how
 * the load goes (`: ggswap: loading model X: 2.0 s, model file 45% read`), which every SSE
 * client ignores, so that a client timeout on the first byte does not fire during a long load.
 * With sendLoadingState it speaks llama-swap's style instead: OpenAI chunks whose
 * delta.reasoning_content holds a rule, "loading model X", a dot per tick, progress now and
 * then, and "Done! (N.NNs)". Once the model is ready the caller streams the real answer on the
 * same response. The module owns a timer and is freed from its close callback. */
#ifndef GS_LOADING_H
#define GS_LOADING_H
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "buf.h"
#include "http.h"

typedef enum gs_loading_style {
    GS_LOADING_COMMENTS = 0, /* SSE comment lines */
    GS_LOADING_LLAMA_SWAP,   /* reasoning_content chunks, as llama-swap's sendLoadingState */
} gs_loading_style;

/* A short text on the load's progress ("model file 45% read"), written into out; "" when
 * nothing is known beyond the time. */
typedef void (*gs_loading_progress_fn)(void *ud, char *out, size_t cap);

typedef struct gs_loading gs_loading;

/* Send the head now (extra: more header lines ending in "\r\n", or NULL) and begin ticking. */
gs_loading *gs_loading_start(uv_loop_t *loop, gs_http_req *req, const char *model,
                             gs_loading_style style, const char *extra,
                             gs_loading_progress_fn progress, void *ud);
/* The model is ready: write the closing lines; the response stays open for the answer. */
void gs_loading_finish(gs_loading *l);
/* Stop without writing anything more (the client left, or the request ends otherwise). */
void gs_loading_release(gs_loading *l);
/* Seconds since the head went out. */
double gs_loading_elapsed(const gs_loading *l);

/* ---- formatting (pure) ---- */

/* ": text\n\n" (line breaks in text become spaces). */
void gs_loading_comment(gs_buf *b, const char *text);
/* data: {"choices":[{"delta":{"reasoning_content":text}}]}\n\n */
void gs_loading_chunk(gs_buf *b, const char *text);
/* An error event for a stream whose head already went out:
 * data: {"error":{"message":msg,"type":type,"code":status}}\n\n */
void gs_loading_error_event(gs_buf *b, int status, const char *type, const char *msg);
/* True for a JSON body that asks for a stream ("stream": true). */
bool gs_loading_wants_stream(const char *body, size_t len);

#endif
