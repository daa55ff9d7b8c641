#include "peer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forward.h"
#include "log.h"
#include "mem.h"
#include "reply.h"
#include "tls.h"
#include "upstream.h"

typedef struct pool_ent {
    char *key; /* host:port/path */
    gs_upstream_pool *pool;
} pool_ent;

struct gs_peers {
    uv_loop_t *loop;
    gs_tls_ctx *tls;   /* for https peers, made on first use */
    pool_ent *pools;
    int npools;
};

typedef struct peer_req {
    gs_fwd f;
    char *id; /* peer/model, for messages */
    char *key;
} peer_req;

gs_peers *gs_peers_new(uv_loop_t *loop)
{
    gs_peers *ps = gs_mem_calloc(1, sizeof *ps);
    ps->loop = loop;
    return ps;
}

void gs_peers_free(gs_peers *ps)
{
    if (!ps)
        return;
    for (int i = 0; i < ps->npools; i++) {
        gs_upstream_pool_free(ps->pools[i].pool);
        free(ps->pools[i].key);
    }
    free(ps->pools);
    gs_tls_ctx_free(ps->tls);
    free(ps);
}

/* Pools are kept by address, so a reload that keeps a peer keeps its connections; its timeouts
 * are the peer's of the config in force. NULL (err says why) when TLS cannot start. */
static gs_upstream_pool *pool_for(gs_peers *ps, const gs_peer_cfg *p, char *err, size_t errlen)
{
    if (p->tls && !ps->tls && !(ps->tls = gs_tls_client_ctx_new(err, errlen)))
        return NULL;
    char *key = gs_mem_printf("%s://%s:%d%s", p->tls ? "https" : "http", p->proxy_host,
                              p->proxy_port, p->proxy_path ? p->proxy_path : "");
    gs_upstream_pool *pool = NULL;
    for (int i = 0; i < ps->npools && !pool; i++)
        if (!strcmp(ps->pools[i].key, key))
            pool = ps->pools[i].pool;
    if (pool) {
        free(key);
    } else {
        pool = gs_upstream_pool_new(ps->loop, p->proxy_host, p->proxy_port,
                                    p->proxy_path ? p->proxy_path : "");
        if (p->tls)
            gs_upstream_pool_set_tls(pool, ps->tls);
        ps->pools = gs_mem_realloc(ps->pools, sizeof *ps->pools * (size_t)(ps->npools + 1));
        ps->pools[ps->npools++] = (pool_ent){key, pool};
    }
    gs_upstream_pool_set_timeouts(pool, &p->timeouts);
    return pool;
}

static void req_free(peer_req *r)
{
    gs_fwd_free(&r->f);
    free(r->id);
    free(r->key);
    free(r);
}

static void on_abort(gs_http_req *req, void *ud)
{
    peer_req *r = GS_CONTAINER_OF(ud, peer_req, f);
    gs_fwd_cancel(&r->f);
    req_free(r);
}

static void on_done(gs_fwd *f, int err, const char *msg)
{
    peer_req *r = GS_CONTAINER_OF(f, peer_req, f);
    if (err < 0) {
        char why[600];
        snprintf(why, sizeof why, "peer proxy error: %s", msg ? msg : "failed");
        gs_warn("%s: %s", r->id, why);
        gs_fwd_fail(f, why);
    }
    req_free(r);
}

static const gs_fwd_cbs cbs = {NULL, on_done};

/* The body for the peer: its own model name, its filters (stripParams, then setParams). */
static char *peer_body(const gs_peer_cfg *p, const char *model, json_t *body, size_t *len)
{
    json_t *b = json_deep_copy(body);
    json_object_set_new(b, "model", json_string(model));
    for (int i = 0; i < p->nstrip; i++)
        json_object_del(b, p->strip_params[i]);
    if (p->set_params && json_is_object(p->set_params)) {
        const char *k;
        json_t *v;
        json_object_foreach(p->set_params, k, v) if (strcmp(k, "model") != 0)
            json_object_set(b, k, v);
    }
    char *out = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    *len = out ? strlen(out) : 0;
    return out;
}

void gs_peers_forward(gs_peers *ps, const gs_peer_cfg *peer, const char *model,
                      gs_http_req *req, json_t *body)
{
    char err[300];
    gs_upstream_pool *pool = pool_for(ps, peer, err, sizeof err);
    if (!pool) {
        gs_reply_error(req, 502, "bad_gateway", "peer proxy error: peer %s (%s): %s", peer->id,
                       peer->proxy, err);
        return;
    }
    size_t len = 0;
    char *b = body && json_is_object(body) ? peer_body(peer, model, body, &len) : NULL;
    peer_req *r = gs_mem_calloc(1, sizeof *r);
    r->id = gs_mem_printf("%s/%s", peer->id, model);
    gs_fwd_init(&r->f, req, req->url, b, len);
    r->key = peer->api_key ? gs_mem_strdup(peer->api_key) : NULL; /* a reload may free peer */
    r->f.api_key = r->key;
    req->on_abort = on_abort;
    gs_fwd_send(&r->f, r->id, pool, &cbs);
}
