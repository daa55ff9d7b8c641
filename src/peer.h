/* peer: requests for the models of `peers` (other OpenAI-compatible servers, llama-swap's
 * peers), forwarded as they come: no queue, no process, no concurrency limit (as llama-swap).
 *
 * The request path goes below the peer's `proxy` URL, the body's model becomes the peer's own
 * name for it, the peer's filters apply, and its apiKey replaces the client's Authorization
 * and x-api-key. A peer that cannot be reached answers 502 "peer proxy error: ...". One
 * keep-alive pool per peer address lives as long as the gs_peers. Peers over https run TLS
 * (OpenSSL), their certificate verified against the system's CA store, or $SSL_CERT_FILE /
 * $SSL_CERT_DIR (tls.h); a handshake that fails answers 502 saying why. */
#ifndef GS_PEER_H
#define GS_PEER_H
#include <stddef.h>
#include <uv.h>

#include "config.h"
#include "http.h"

typedef struct gs_peers gs_peers;

gs_peers *gs_peers_new(uv_loop_t *loop);
/* After the loop ended (no peer request in flight). */
void gs_peers_free(gs_peers *ps);
/* Take req over for model `model` of `peer`: body is the request's JSON (or NULL when it is not
 * JSON); ownership of nothing passes. */
void gs_peers_forward(gs_peers *ps, const gs_peer_cfg *peer, const char *model,
                      gs_http_req *req, json_t *body);

#endif
