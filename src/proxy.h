/* proxy: the scheduler and the forwarding of inference requests to model processes.
 *
 * A request that names a model is queued, and one function (gs_proxy_pump) decides, in FIFO
 * order, what each queued request needs: served now (its model is ready and nothing must make
 * way), or a swap (stop what the group rules say must go, once their requests in flight have
 * finished, then start the model), or simply waiting. Requests for a model that is starting
 * share that one start; a request never jumps ahead of an earlier one that needs its model
 * stopped, so two models wanted in turn are served in batches instead of thrashing. The pump
 * runs again on every event that can change an answer: a new request, a request finished, a
 * process changed state.
 *
 * Forwarding never holds a whole response: each piece from the upstream goes to the client as
 * it arrives, and reading from the upstream pauses while the client's socket is congested. */
#ifndef GS_PROXY_H
#define GS_PROXY_H
#include <stddef.h>

#include "server.h"

/* Take over req for the model at index idx: `upath` is the path (and query) to request
 * upstream; body (ownership passes; NULL forwards req->body unchanged). */
void gs_proxy_request(gs_server *s, gs_http_req *req, int idx, const char *upath, char *body,
                      size_t body_len);
/* Load a model as a request would (swapping per the group rules) and answer req with
 * {"ok":true,...} once it is ready, or the error; req may be NULL (preload). */
void gs_proxy_load(gs_server *s, gs_http_req *req, int idx);
/* Re-examine the queue (after any event). Safe to call from any callback. */
void gs_proxy_pump(gs_server *s);
/* Answer queued requests for p (NULL: all) with an error, e.g. when the service stops. */
void gs_proxy_fail_queued(gs_server *s, gs_proc *p, int status, const char *msg);
/* Cut requests in flight on p (NULL: all): the client gets an error (event) and the upstream
 * connection is closed. */
void gs_proxy_cancel_active(gs_server *s, gs_proc *p, const char *msg);
/* Requests queued for p. */
int gs_proxy_queued(gs_server *s, const gs_proc *p);
/* After a reload: queued requests follow their model to its new proc, or fail if it is gone. */
void gs_proxy_retarget(gs_server *s, gs_proc *old, gs_proc *now);

#endif
