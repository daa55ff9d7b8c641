/* upstream: the HTTP/1.1 client side, towards llama-server processes.
 *
 * Each model has a pool of keep-alive connections to its server, so a proxied request usually
 * costs one write and one read on an open socket. Responses are parsed by llhttp and handed on
 * as they arrive: the head once, then each piece of body (de-chunked), then done. The caller
 * can pause reading (backpressure from a slow client) and cancel (the client went away), which
 * closes the connection so that llama-server notices and stops generating. A reused connection
 * that the server had closed in the meantime is retried once on a fresh one, before any byte of
 * response was seen.
 *
 * A connection's lifecycle is one enum (connecting, sending, awaiting head, streaming, idle,
 * closed; handshaking for https) with one setter that logs the change at debug level, and one timer that guards the
 * state it is in with llama-swap's `timeouts` (connect, tlsHandshake, responseHeader, idleConn; keepalive is
 * the TCP keep-alive period). A timeout ends the request with UV_ETIMEDOUT and a message that
 * names the address, the seconds and the key. */
#ifndef GS_UPSTREAM_H
#define GS_UPSTREAM_H
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "buf.h"
#include "http.h"
#include "tls.h"

typedef struct gs_upstream_pool gs_upstream_pool;
typedef struct gs_upstream_req gs_upstream_req;

typedef struct gs_upstream_cbs {
    /* Status and headers; content_length is -1 when unknown (chunked or until close). */
    void (*on_head)(gs_upstream_req *r, int status, const gs_http_header *h, int n,
                    int64_t content_length, void *ud);
    void (*on_body)(gs_upstream_req *r, const char *data, size_t len, void *ud);
    /* Exactly once, unless cancelled; err is 0 or a negative errno with msg saying what
     * happened ("connection refused", "upstream closed the connection mid-response"). The
     * request handle is invalid after this returns. */
    void (*on_done)(gs_upstream_req *r, int err, const char *msg, void *ud);
    /* Optional: what one read from the socket brought has been handed on (head and body
     * pieces), and the request goes on. A forwarder writes the pieces out together here. */
    void (*on_read_end)(gs_upstream_req *r, void *ud);
} gs_upstream_cbs;

/* A pool for http://host:port<base>: base ("" or "/prefix") goes before every request path. */
gs_upstream_pool *gs_upstream_pool_new(uv_loop_t *loop, const char *host, int port,
                                       const char *base);
/* The `timeouts` of the model or peer the pool reaches (seconds, 0 = none; keepalive 0 = 15 s,
 * as Go's dialer). New pools have none. Applies to connections opened or pooled from now on. */
struct gs_timeouts_cfg;
void gs_upstream_pool_set_timeouts(gs_upstream_pool *p, const struct gs_timeouts_cfg *t);
/* https: connections run TLS with ctx (a client context, gs_tls_client_ctx_new; the pool keeps a
 * reference), the certificate verified for the pool's host. NULL: plain HTTP. */
void gs_upstream_pool_set_tls(gs_upstream_pool *p, gs_tls_ctx *ctx);
/* Start a request head in b: the request line for `path` (below the pool's base) and the Host
 * header; the caller adds its headers and the blank line. */
void gs_upstream_head(const gs_upstream_pool *p, gs_buf *b, const char *method, const char *path);
/* Close idle connections (before stopping the server they point at). */
void gs_upstream_pool_drain(gs_upstream_pool *p);
/* Close idle connections and free the pool once they are closed. Requests in progress must
 * have been cancelled or finished. */
void gs_upstream_pool_free(gs_upstream_pool *p);

/* Send a request: `head` is the complete request head (request line, headers, blank line),
 * body may be NULL. Returns the handle; callbacks may fire only from the loop, never from
 * inside this call. */
gs_upstream_req *gs_upstream_send(gs_upstream_pool *p, const char *head, size_t head_len,
                                  const void *body, size_t body_len, const gs_upstream_cbs *cbs,
                                  void *ud);
void gs_upstream_pause(gs_upstream_req *r);
void gs_upstream_resume(gs_upstream_req *r);
/* Abandon the request: the connection is closed, no further callback fires. */
void gs_upstream_cancel(gs_upstream_req *r);

#endif
