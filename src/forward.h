/* forward: moves one client request to a model's server and its response back.
 *
 * It knows nothing of queues or models' states: the scheduler hands it a request that may go
 * now, with the pool of the model to send it to, and hears back when the response head went to
 * the client and when the upstream request is over. Forwarding never holds a whole response:
 * each piece from the upstream goes to the client as it arrives, and reading from the upstream
 * pauses while the client's socket is congested. Hop-by-hop headers are not forwarded. It also
 * keeps the last bytes of the body, where the token usage is reported. */
#ifndef GS_FORWARD_H
#define GS_FORWARD_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"
#include "timing.h"
#include "upstream.h"

typedef struct gs_fwd gs_fwd;
struct gs_tunnel;

typedef struct gs_fwd_cbs {
    /* The response head went to the client (body pieces follow). */
    void (*on_head)(gs_fwd *f);
    /* The upstream request is over. err 0: the client's response is complete and ended. err < 0
     * (msg says what happened): the client got only what head_sent says; the caller either
     * sends it again (gs_fwd_send) or ends it with gs_fwd_fail. */
    void (*on_done)(gs_fwd *f, int err, const char *msg);
} gs_fwd_cbs;

struct gs_fwd {
    gs_http_req *req;        /* NULL once the client went away */
    const char *model;       /* the model's id, for messages (the caller keeps it alive) */
    char *upath;             /* path and query to request upstream */
    char method[16];         /* copied: the request is reset when its response ends */
    char *body;              /* rewritten body, or NULL: req->body */
    size_t body_len;
    const char *api_key;     /* set: replaces the client's Authorization and x-api-key (a
                              * peer's apiKey); borrowed */
    gs_upstream_req *up;     /* in flight, or NULL */
    struct gs_tunnel *tun;   /* a protocol upgrade in progress (tunnel.h), or NULL */
    const gs_fwd_cbs *cbs;
    bool head_sent;
    bool sse;                /* the response is an event stream */
    bool paused;             /* upstream reading paused: the client is congested */
    int status;
    long events;             /* SSE data events seen */
    uint64_t sent_ns;        /* when it was last sent upstream */
    char tail[512 + 1];      /* the last bytes of the body, to find usage.completion_tokens;
                              * NUL-terminated, so the count after the key parses with strtol */
    size_t tail_len;
    gs_wait_split wait;      /* set by the caller before sending: goes into Server-Timing */
    double up_ms;            /* the model's time to its response head (0 before it) */
    uint64_t first_event_ns; /* when the first SSE data event came; 0 before */
    bool early;              /* the caller sent the client's head already (loading.h): the
                              * upstream's head is not sent again, an error answer becomes an
                              * error event */
    gs_buf early_err;        /* the upstream's error answer after an early head (bounded) */
};

/* End a response whose head went out early (loading.h) with Server-Timing as a trailer:
 * queue and load from f->wait, upstream f->up_ms or, before a head came, the time since it
 * was sent. The head declared it ("Trailer: Server-Timing"). */
void gs_fwd_end_early(gs_fwd *f, gs_http_req *req);

/* Take req over: req->ud becomes f (the owner finds itself with GS_CONTAINER_OF). body:
 * ownership passes; NULL forwards req->body unchanged. */
void gs_fwd_init(gs_fwd *f, gs_http_req *req, const char *upath, char *body, size_t body_len);
/* Send it to pool now; the callbacks come from the loop only. */
void gs_fwd_send(gs_fwd *f, const char *model, gs_upstream_pool *pool, const gs_fwd_cbs *cbs);
/* A protocol upgrade (req->upgrade, through /upstream/): a tunnel of its own to
 * http://host:port<base> instead of the pool. on_head comes with the server's answer head,
 * on_done when either side closed (err 0) or when the server could not be reached (err < 0,
 * nothing sent: the caller retries or answers with gs_fwd_fail). */
void gs_fwd_tunnel(gs_fwd *f, uv_loop_t *loop, const char *model, const char *host, int port,
                   const char *base, const gs_fwd_cbs *cbs);
/* Close the upstream request or tunnel, if any; no callback follows. */
void gs_fwd_cancel(gs_fwd *f);
/* The client's hooks are no longer ours (before answering it by other means). */
void gs_fwd_detach(gs_fwd *f);
/* End the client's response with an error: 502 when nothing was sent yet, else an error event
 * (event streams) or a cut connection. */
void gs_fwd_fail(gs_fwd *f, const char *msg);
/* Completion tokens the response reported, or counted stream deltas; -1 when unknown. */
long gs_fwd_tokens(const gs_fwd *f);
void gs_fwd_free(gs_fwd *f);
/* A hop-by-hop header (connection, te, host, content-length...), which is never forwarded. */
bool gs_fwd_is_hop(const char *name);

#endif
