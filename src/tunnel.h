/* tunnel: a protocol upgrade (WebSocket) through /upstream/<model>/..., as llama-swap's reverse
 * proxy does it.
 *
 * The client's upgrade request goes to the model's server on a connection of its own (never the
 * keep-alive pool: after a 101 the socket belongs to the new protocol). Until the server's
 * answer head is complete nothing reaches the client, so a refused connection or a server that
 * closes without answering becomes an ordinary 502. Then the client's connection switches to raw
 * mode (http.h) and the server's bytes, head first, go to it as they are: after a 101 both ways
 * until either side closes; after any other status just that answer, then the connection ends.
 * Each direction holds at most GS_TUNNEL_HIGH_WATER bytes not yet written: past it, reading the
 * other side stops until the queue drains, so a fast sender and a slow reader cost bounded
 * memory. The tunnel does not parse WebSocket frames; their size is the endpoints' business.
 *
 * Lifecycle, one setter that logs: CONNECTING -> HANDSHAKE (request sent) -> OPEN (101) or
 * RELAY (another status) -> CLOSED. */
#ifndef GS_TUNNEL_H
#define GS_TUNNEL_H
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "buf.h"
#include "http.h"

#define GS_TUNNEL_HIGH_WATER (1024 * 1024)
#define GS_TUNNEL_MAX_HEAD (64 * 1024)
#define GS_TUNNEL_HANDSHAKE_MS 30000

typedef enum gs_tunnel_state {
    GS_TUNNEL_CONNECTING = 0, /* connecting to the model's server */
    GS_TUNNEL_HANDSHAKE,      /* the upgrade request is sent; its answer head is awaited */
    GS_TUNNEL_OPEN,           /* 101: bytes flow both ways */
    GS_TUNNEL_RELAY,          /* another status: that answer goes to the client, then the end */
    GS_TUNNEL_CLOSED,
} gs_tunnel_state;

typedef struct gs_tunnel gs_tunnel;

typedef struct gs_tunnel_cbs {
    /* The server's answer head (status) starts going to the client: raw mode from now on. */
    void (*on_open)(gs_tunnel *t, int status, void *ud);
    /* Once, unless cancelled. Before on_open, err < 0 (msg says why) and the client was sent
     * nothing: the caller answers it. After on_open, err is 0: the tunnel ended the client's
     * connection itself. */
    void (*on_done)(gs_tunnel *t, int err, const char *msg, void *ud);
} gs_tunnel_cbs;

/* Send req (an upgrade request) to http://host:port<base><upath>. The request keeps the client's
 * headers and Host (a server that compares Origin with Host, as ComfyUI does, sees what the
 * browser sent), less the hop-by-hop ones, plus Connection/Upgrade. `name` (the model's id) is
 * for messages. The owner keeps req's on_abort and on_drain and passes on_drain to
 * gs_tunnel_drain. Callbacks come from the loop only. */
gs_tunnel *gs_tunnel_open(uv_loop_t *loop, gs_http_req *req, const char *name, const char *host,
                          int port, const char *base, const char *upath, const gs_tunnel_cbs *cbs,
                          void *ud);
/* The client's queue drained (its on_drain): read from the server again. */
void gs_tunnel_drain(gs_tunnel *t);
/* Close the server side now (the client went away, or the model is unloaded); no callback
 * follows and req is not touched again. */
void gs_tunnel_cancel(gs_tunnel *t);
gs_tunnel_state gs_tunnel_get_state(const gs_tunnel *t);
const char *gs_tunnel_state_name(gs_tunnel_state st);

/* A tunnel with no scheduler behind it (compat.ignoreWebsockets): it answers 502 itself when
 * the server cannot be reached and frees itself at the end. */
void gs_tunnel_serve(uv_loop_t *loop, gs_http_req *req, const char *name, const char *host,
                     int port, const char *base, const char *upath);

/* A WebSocket upgrade request: Connection has the token "upgrade" and Upgrade the token
 * "websocket" (case-insensitive, comma-separated lists), as llama-swap tells them apart. */
bool gs_tunnel_is_websocket(const gs_http_req *req);
/* Token lists: true when the comma-separated header value holds token (any case). */
bool gs_tunnel_has_token(const char *value, const char *token);
/* The upgrade request's head for http://host:port<base><upath> into b: the client's method and
 * headers, the hop-by-hop ones left out but Host kept (the server's own host:port only when
 * the client sent none), then Connection: Upgrade and the client's Upgrade again. */
void gs_tunnel_head(gs_buf *b, const gs_http_req *req, const char *host, int port,
                    const char *base, const char *upath);

#endif
