#include "upstream.h"

#include <errno.h>
#include <llhttp.h>
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "clock.h"
#include "log.h"
#include "config.h"
#include "mem.h"
#include "netaddr.h"
#include "tls.h"
#include "retry.h"

#define MAX_IDLE 1024
#define MAX_RESP_HEAD (64 * 1024)

typedef struct uconn uconn;

/* A connection's lifecycle. It carries at most one request at a time; every change goes
 * through cset(), which logs it, and every request ends in req_end(). */
typedef enum ustate {
    U_CONNECTING,    /* TCP connect in progress (or its synchronous failure, reported by timer) */
    U_HANDSHAKING,   /* TLS handshake in progress (https peers) */
    U_SENDING,       /* the request is being written */
    U_AWAITING_HEAD, /* written whole, no response head yet */
    U_STREAMING,     /* response head seen, body arriving */
    U_IDLE,          /* in the pool, between requests */
    U_CLOSED,        /* done with: its handles are closing, freed by their close callbacks */
} ustate;

static const char *const ustate_name[] = {"connecting", "handshaking", "sending", "awaiting head",
                                          "streaming", "idle", "closed"};

struct gs_upstream_pool {
    uv_loop_t *loop;
    struct sockaddr_storage addr;
    char *host;
    int port;
    char *head;              /* the base path before every request path ("" or "/prefix") */
    char *host_line;         /* "Host: h:p\r\n", IPv6 in brackets */
    uconn *idle;             /* singly linked through next */
    int nidle;
    int nconns;              /* all connections alive (idle, busy, closing) */
    bool freeing;
    gs_timeouts_cfg to;      /* seconds, 0 = none (keepalive 0 = 15 s, as Go's dialer) */
    gs_tls_ctx *tls;         /* https: the client context (a reference held), else NULL */
    gs_arena_pool blocks;    /* lent to the connections' response-head arenas */
};

struct gs_upstream_req {
    uconn *c;                /* NULL once finished */
    const gs_upstream_cbs *cbs;
    void *ud;
    char *out;               /* what to send, kept for one retry */
    size_t out_len;
    bool retried;
    bool paused;
};

struct uconn {
    uv_tcp_t tcp;
    uv_connect_t connect;
    /* The one timer guards the state the connection is in: a connect that failed synchronously
     * (fired at once), timeouts.connect, timeouts.responseHeader, timeouts.idleConn. */
    uv_timer_t timer;
    uv_idle_t flush;         /* sends the request once the loop turn's callbacks have run */
    gs_upstream_pool *pool;
    uconn *next;
    gs_upstream_req *req;
    llhttp_t parser;
    ustate state;
    int handles;
    bool reused;
    bool got_bytes;
    uint64_t sent_ns;
    bool keep;               /* the connection may go back to the pool */
    int deferred_err;
    gs_arena arena;          /* the response's header lines, given back when it ends */
    gs_hdrs hdrs;
    size_t head_bytes;
    SSL *ssl;                /* https: TLS in memory BIOs under the socket, else NULL */
    BIO *rbio, *wbio;        /* ciphertext from / to the socket (owned by ssl) */
};

/* A write of ciphertext (TLS): the bytes travel with the request. */
typedef struct twrite {
    uv_write_t w;
    uconn *c;
    bool last;               /* the request's end: timeouts.responseHeader starts after it */
    char data[];
} twrite;

static llhttp_settings_t g_settings;
static const char SEND_FAILED[] = "could not send the request upstream";
static void conn_close(uconn *c);
static void dispatch(gs_upstream_pool *p, gs_upstream_req *r, bool fresh);
static void send_req(uconn *c);
static void connect_cb(uv_connect_t *cr, int status);
static void timer_cb(uv_timer_t *t);
static void sent(uconn *c);

/* The one setter of a connection's state; seconds > 0 arms the timer for the new state, 0
 * leaves it stopped. */
static void cset(uconn *c, ustate s, int seconds)
{
    if (c->state != s)
        gs_debug("upstream %s:%d: connection %p %s -> %s", c->pool->host, c->pool->port,
                 (void *)c, ustate_name[c->state], ustate_name[s]);
    c->state = s;
    if (s == U_CLOSED)
        return;
    if (seconds > 0)
        uv_timer_start(&c->timer, timer_cb, (uint64_t)seconds * 1000, 0);
    else
        uv_timer_stop(&c->timer);
}

/* ---- pool ---- */

gs_upstream_pool *gs_upstream_pool_new(uv_loop_t *loop, const char *host, int port,
                                       const char *base)
{
    gs_upstream_pool *p = gs_mem_calloc(1, sizeof *p);
    gs_arena_pool_init(&p->blocks, 64);
    p->loop = loop;
    p->host = gs_mem_strdup(host);
    p->port = port;
    p->head = gs_mem_strdup(base ? base : "");
    bool v6 = strchr(host, ':') != NULL;
    p->host_line = gs_mem_printf("Host: %s%s%s:%d\r\n", v6 ? "[" : "", host, v6 ? "]" : "", port);
    /* A host name is resolved once, when the config is loaded (models rarely move). */
    const char *why = NULL;
    if (gs_netaddr_resolve(host, port, &p->addr, &why) < 0)
        gs_warn("upstream %s:%d: cannot resolve the host name (%s); requests will fail", host,
                port, why);
    return p;
}

static void maybe_free_pool(gs_upstream_pool *p)
{
    if (p->freeing && p->nconns == 0) {
        gs_arena_pool_free(&p->blocks);
        SSL_CTX_free(p->tls);
        free(p->host);
        free(p->head);
        free(p->host_line);
        free(p);
    }
}

void gs_upstream_pool_set_timeouts(gs_upstream_pool *p, const gs_timeouts_cfg *t)
{
    p->to = *t;
}

void gs_upstream_pool_set_tls(gs_upstream_pool *p, gs_tls_ctx *ctx)
{
    if (ctx)
        SSL_CTX_up_ref(ctx);
    SSL_CTX_free(p->tls);
    p->tls = ctx;
}

void gs_upstream_head(const gs_upstream_pool *p, gs_buf *b, const char *method, const char *path)
{
    gs_buf_puts(b, method);
    gs_buf_append(b, " ", 1);
    gs_buf_puts(b, p->head);
    gs_buf_puts(b, path);
    gs_buf_append(b, " HTTP/1.1\r\n", 11);
    gs_buf_puts(b, p->host_line);
}

void gs_upstream_pool_drain(gs_upstream_pool *p)
{
    while (p->idle)
        conn_close(p->idle);
}

void gs_upstream_pool_free(gs_upstream_pool *p)
{
    if (!p)
        return;
    p->freeing = true;
    gs_upstream_pool_drain(p);
    maybe_free_pool(p);
}

static void remove_idle(uconn *c)
{
    gs_upstream_pool *p = c->pool;
    for (uconn **pp = &p->idle; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            p->nidle--;
            c->next = NULL;
            return;
        }
    }
}

/* ---- connection ---- */

static void clear_headers(uconn *c)
{
    gs_arena_reset(&c->arena);
    gs_hdrs_init(&c->hdrs, &c->arena, 200);
    c->head_bytes = 0;
}

/* The connection is freed here only, once all its handles are closed (libuv's rule). */
static void handle_closed(uv_handle_t *h)
{
    uconn *c = h->data;
    if (--c->handles > 0)
        return;
    gs_upstream_pool *p = c->pool;
    clear_headers(c);
    SSL_free(c->ssl);
    free(c);
    p->nconns--;
    maybe_free_pool(p);
}

static void conn_close(uconn *c)
{
    if (c->state == U_CLOSED)
        return;
    if (c->state == U_IDLE)
        remove_idle(c);
    cset(c, U_CLOSED, 0);
    if (c->req)
        c->req->c = NULL;
    c->req = NULL;
    uv_close((uv_handle_t *)&c->flush, handle_closed);
    uv_close((uv_handle_t *)&c->timer, handle_closed);
    uv_close((uv_handle_t *)&c->tcp, handle_closed);
}

static void req_free(gs_upstream_req *r)
{
    free(r->out);
    free(r);
}

/* A reused keep-alive connection may have been closed by the server just as we wrote to it;
 * then nothing was processed, and one more try on a fresh connection is safe. The policy
 * (retry.h) says when: only right after the write, never for a timeout. */
static bool stale_reuse(const uconn *c, int err)
{
    const gs_upstream_req *r = c->req;
    if (!r)
        return false;
    gs_retry_case rc = {.err = err, .since_sent_ns = gs_clock_ns() - c->sent_ns,
                        .answered = c->got_bytes, .retried = r->retried, .reused_conn = c->reused};
    return gs_retry_decide(&rc).kind == GS_RETRY_CONN;
}

/* The one exit of a request on c, well (err 0) or not: tell the caller, then pool or close c;
 * or, for a stale keep-alive connection, send it again on a fresh one. */
static void req_end(uconn *c, int err, const char *msg)
{
    gs_upstream_req *r = c->req;
    if (stale_reuse(c, err)) {
        gs_upstream_pool *p = c->pool;
        r->retried = true;
        conn_close(c);
        dispatch(p, r, true);
        return;
    }
    gs_upstream_pool *p = c->pool;
    bool keep = err == 0 && c->keep && !p->freeing && p->nidle < MAX_IDLE;
    c->req = NULL;
    if (r) {
        r->c = NULL;
        r->cbs->on_done(r, err, msg, r->ud);
        req_free(r);
    }
    if (c->state == U_CLOSED)
        return;
    if (!keep) {
        conn_close(c);
        return;
    }
    clear_headers(c);
    cset(c, U_IDLE, p->to.idle_conn);
    c->got_bytes = false;
    /* Keep reading while idle so that a close by the server is noticed at once. */
    c->next = p->idle;
    p->idle = c;
    p->nidle++;
}

static void timer_cb(uv_timer_t *t)
{
    uconn *c = t->data;
    gs_upstream_pool *p = c->pool;
    char msg[200];
    switch (c->state) {
    case U_CONNECTING:
        if (c->deferred_err) {
            snprintf(msg, sizeof msg, "cannot connect to %s:%d: %s", p->host, p->port,
                     uv_strerror(c->deferred_err));
            req_end(c, c->deferred_err, msg);
            return;
        }
        snprintf(msg, sizeof msg, "cannot connect to %s:%d within %d s (timeouts.connect)",
                 p->host, p->port, p->to.connect);
        req_end(c, UV_ETIMEDOUT, msg);
        return;
    case U_HANDSHAKING:
        snprintf(msg, sizeof msg,
                 "TLS handshake with %s:%d did not finish within %d s (timeouts.tlsHandshake)",
                 p->host, p->port, p->to.tls_handshake);
        req_end(c, UV_ETIMEDOUT, msg);
        return;
    case U_AWAITING_HEAD:
        snprintf(msg, sizeof msg,
                 "no response head from %s:%d within %d s (timeouts.responseHeader)", p->host,
                 p->port, p->to.response_header);
        req_end(c, UV_ETIMEDOUT, msg);
        return;
    case U_IDLE:
        conn_close(c); /* timeouts.idleConn */
        return;
    case U_SENDING:
    case U_STREAMING:
    case U_CLOSED:
        return;
    }
}

/* ---- response parsing ---- */

static int cb_header_field(llhttp_t *p, const char *at, size_t len)
{
    uconn *c = p->data;
    c->head_bytes += len;
    if (c->head_bytes > MAX_RESP_HEAD)
        return -1;
    return gs_hdrs_name(&c->hdrs, at, len) ? -1 : 0;
}

static int cb_header_value(llhttp_t *p, const char *at, size_t len)
{
    uconn *c = p->data;
    c->head_bytes += len;
    if (c->head_bytes > MAX_RESP_HEAD)
        return -1;
    return gs_hdrs_value(&c->hdrs, at, len) ? -1 : 0;
}

static int cb_header_value_complete(llhttp_t *p)
{
    uconn *c = p->data;
    return gs_hdrs_line(&c->hdrs) < 0 ? -1 : 0;
}

static int cb_headers_complete(llhttp_t *p)
{
    uconn *c = p->data;
    cset(c, U_STREAMING, 0);
    int64_t clen = (p->flags & F_CONTENT_LENGTH) ? (int64_t)p->content_length : -1;
    if (p->status_code == 204 || p->status_code == 304)
        clen = 0;
    c->keep = llhttp_should_keep_alive(p);
    if (c->req)
        c->req->cbs->on_head(c->req, p->status_code, c->hdrs.v, c->hdrs.n, clen, c->req->ud);
    return c->state == U_CLOSED ? -1 : 0;
}

static int cb_body(llhttp_t *p, const char *at, size_t len)
{
    uconn *c = p->data;
    if (c->req)
        c->req->cbs->on_body(c->req, at, len, c->req->ud);
    return c->state == U_CLOSED ? -1 : 0;
}

static int cb_message_complete(llhttp_t *p)
{
    uconn *c = p->data;
    c->keep = c->keep && llhttp_should_keep_alive(p);
    return HPE_PAUSED;
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    /* Data is consumed before the next read callback (single thread), so one slab does. */
    static char slab[64 * 1024];
    buf->base = slab;
    buf->len = sizeof slab;
}

/* Response bytes (plaintext) for the request on c. */
static void conn_in(uconn *c, const char *data, size_t n)
{
    c->got_bytes = true;
    llhttp_errno_t e = llhttp_execute(&c->parser, data, n);
    if (c->state == U_CLOSED)
        return;
    if (e == HPE_PAUSED)
        req_end(c, 0, NULL);
    else if (e != HPE_OK)
        req_end(c, -EPROTO, "upstream sent a malformed HTTP response");
    else if (c->req && c->req->cbs->on_read_end)
        c->req->cbs->on_read_end(c->req, c->req->ud);
}

/* The socket ended (EOF or an error) while c was busy. */
static void conn_eof(uconn *c, int n)
{
    if (c->state == U_STREAMING && n == UV_EOF && llhttp_finish(&c->parser) == HPE_OK) {
        /* A close-delimited body ends with EOF. */
        c->keep = false;
        req_end(c, 0, NULL);
        return;
    }
    if (c->state == U_CONNECTING || c->state == U_HANDSHAKING) {
        char msg[200];
        snprintf(msg, sizeof msg, "TLS handshake with %s:%d failed: the server closed the "
                 "connection (is it https?)", c->pool->host, c->pool->port);
        req_end(c, n, msg);
        return;
    }
    req_end(c, n,
            c->state == U_STREAMING ? "upstream closed the connection mid-response"
                                    : "upstream closed the connection before answering");
}

static void twrite_cb(uv_write_t *uw, int status)
{
    twrite *w = uw->data;
    uconn *c = w->c;
    bool last = w->last;
    free(w);
    if (c->state == U_CLOSED || status == UV_ECANCELED)
        return;
    if (status < 0)
        req_end(c, status, SEND_FAILED);
    else if (last)
        sent(c);
}

/* Send what TLS has ready for the socket; last marks the request's end. */
static int tls_flush(uconn *c, bool last)
{
    size_t n = (size_t)BIO_ctrl_pending(c->wbio);
    if (n == 0) {
        if (last)
            sent(c);
        return 0;
    }
    twrite *w = gs_mem_alloc(sizeof *w + n);
    w->c = c;
    w->last = last;
    w->w.data = w;
    int got = BIO_read(c->wbio, w->data, (int)n);
    uv_buf_t b = uv_buf_init(w->data, got > 0 ? (unsigned)got : 0);
    int rc = uv_write(&w->w, (uv_stream_t *)&c->tcp, &b, 1, twrite_cb);
    if (rc < 0)
        free(w);
    return rc;
}

static void tls_failed(uconn *c)
{
    char msg[400];
    if (c->state == U_HANDSHAKING)
        gs_tls_handshake_error(c->ssl, c->pool->host, c->pool->port, msg, sizeof msg);
    else
        snprintf(msg, sizeof msg, "TLS error from %s:%d: %s", c->pool->host, c->pool->port,
                 gs_tls_last_error());
    req_end(c, UV_EPROTO, msg);
}

static void handshake_step(uconn *c)
{
    int rc = SSL_do_handshake(c->ssl);
    int e = rc == 1 ? SSL_ERROR_NONE : SSL_get_error(c->ssl, rc);
    if (e != SSL_ERROR_NONE && e != SSL_ERROR_WANT_READ) {
        tls_flush(c, false); /* our alert, if any */
        tls_failed(c);
        return;
    }
    if (tls_flush(c, false) < 0) {
        req_end(c, UV_EPIPE, "could not send the TLS handshake upstream");
        return;
    }
    if (rc == 1)
        send_req(c);
}

/* Ciphertext from the socket: the handshake's, or records to decrypt for the response. */
static void tls_in(uconn *c, const char *data, size_t n)
{
    static char plain[16 * 1024];
    if (BIO_write(c->rbio, data, (int)n) != (int)n) {
        req_end(c, UV_ENOMEM, "TLS: cannot buffer the upstream's bytes");
        return;
    }
    if (c->state == U_HANDSHAKING) {
        handshake_step(c);
        if (c->state == U_CLOSED || c->state == U_HANDSHAKING)
            return;
    }
    for (;;) {
        int r = SSL_read(c->ssl, plain, (int)sizeof plain);
        if (r > 0) {
            if (c->state == U_IDLE) {
                conn_close(c); /* a server that speaks on an idle connection */
                return;
            }
            conn_in(c, plain, (size_t)r);
            if (c->state == U_CLOSED)
                return;
            continue;
        }
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            break; /* also after a TLS 1.3 session ticket, which carries no data */
        if (c->state == U_IDLE) {
            conn_close(c);
            return;
        }
        if (e == SSL_ERROR_ZERO_RETURN)
            conn_eof(c, UV_EOF); /* close_notify */
        else
            tls_failed(c);
        return;
    }
    tls_flush(c, false); /* key updates and the like */
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    uconn *c = s->data;
    if (n == 0 || c->state == U_CLOSED)
        return;
    if (n > 0 && c->ssl) {
        tls_in(c, buf->base, (size_t)n);
        return;
    }
    if (c->state == U_IDLE) {
        /* The server closed (or spoke on) an idle connection: it is no use any more. */
        conn_close(c);
        return;
    }
    if (n < 0)
        conn_eof(c, (int)n);
    else
        conn_in(c, buf->base, (size_t)n);
}

/* The request is out whole: from now on timeouts.responseHeader runs. */
static void sent(uconn *c)
{
    if (c->state == U_SENDING)
        cset(c, U_AWAITING_HEAD, c->pool->to.response_header);
}

static void write_cb(uv_write_t *w, int status)
{
    uconn *c = w->data;
    free(w);
    if (c->state == U_CLOSED || status == UV_ECANCELED)
        return;
    if (status < 0)
        req_end(c, status, SEND_FAILED);
    else
        sent(c);
}

/* Plaintext out through TLS; memory BIOs take it all at once. */
static int tls_send(uconn *c, const char *data, size_t len)
{
    if (SSL_write(c->ssl, data, (int)len) != (int)len)
        return UV_EPROTO;
    return tls_flush(c, true);
}

/* The request to the socket: usually one write() does it all, as requests are small and the
 * socket's buffer empty. */
static void write_req(uconn *c)
{
    gs_upstream_req *r = c->req;
    uv_buf_t b = uv_buf_init(r->out, (unsigned)r->out_len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n == (int)r->out_len) {
        sent(c);
        return;
    }
    if (n > 0)
        b = uv_buf_init(r->out + n, (unsigned)(r->out_len - (size_t)n));
    else if (n != UV_EAGAIN && n != UV_ENOSYS) {
        req_end(c, n, SEND_FAILED);
        return;
    }
    uv_write_t *w = gs_mem_alloc(sizeof *w);
    w->data = c;
    int rc = uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, write_cb);
    if (rc < 0) {
        free(w);
        req_end(c, rc, SEND_FAILED);
    }
}

/* Requests dispatched in one loop turn go out together once its callbacks have run (an idle
 * handle runs before the loop waits for I/O again), so the model's server is woken once per
 * turn rather than while ggswap still has client requests to read (http.c does the same for
 * answers). */
static void flush_cb(uv_idle_t *h)
{
    uconn *c = h->data;
    uv_idle_stop(h);
    if (c->state == U_SENDING && c->req)
        write_req(c);
}

/* Start sending the request: through TLS at once, in plain HTTP at the turn's end (flush_cb). */
static void send_req(uconn *c)
{
    gs_upstream_req *r = c->req;
    cset(c, U_SENDING, 0);
    /* From now on, not from the write a turn later: a reused connection that the server closed
     * meanwhile shows its EOF in the same turn, and the retry policy must see it as fresh. */
    c->sent_ns = gs_clock_ns();
    llhttp_init(&c->parser, HTTP_RESPONSE, &g_settings);
    c->parser.data = c;
    if (c->ssl) {
        int rc = tls_send(c, r->out, r->out_len);
        if (rc < 0) {
            req_end(c, rc, SEND_FAILED);
            return;
        }
    } else {
        uv_idle_start(&c->flush, flush_cb);
    }
    if (r->paused)
        uv_read_stop((uv_stream_t *)&c->tcp);
    else
        uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
}

/* https: the handshake, verifying the certificate for the pool's host (name or address). */
static void start_tls(uconn *c)
{
    gs_upstream_pool *p = c->pool;
    c->ssl = SSL_new(p->tls);
    c->rbio = BIO_new(BIO_s_mem());
    c->wbio = BIO_new(BIO_s_mem());
    if (!c->ssl || !c->rbio || !c->wbio) {
        if (!c->ssl) {
            BIO_free(c->rbio);
            BIO_free(c->wbio);
        }
        req_end(c, UV_ENOMEM, "cannot start TLS");
        return;
    }
    SSL_set_bio(c->ssl, c->rbio, c->wbio);
    SSL_set_connect_state(c->ssl);
    struct in6_addr ip;
    bool literal = inet_pton(AF_INET, p->host, &ip) == 1 || inet_pton(AF_INET6, p->host, &ip) == 1;
    if (literal) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), p->host);
    } else {
        SSL_set_tlsext_host_name(c->ssl, p->host);
        SSL_set1_host(c->ssl, p->host);
    }
    cset(c, U_HANDSHAKING, p->to.tls_handshake);
    uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
    handshake_step(c);
}

static void connect_cb(uv_connect_t *cr, int status)
{
    uconn *c = cr->data;
    gs_upstream_pool *p = c->pool;
    if (c->state == U_CLOSED)
        return;
    if (status < 0) {
        char msg[160];
        snprintf(msg, sizeof msg, "cannot connect to %s:%d: %s", p->host, p->port,
                 uv_strerror(status));
        req_end(c, status, msg);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_tcp_keepalive(&c->tcp, 1, (unsigned)(p->to.keepalive > 0 ? p->to.keepalive : 15));
    if (p->tls)
        start_tls(c);
    else
        send_req(c);
}

static uconn *new_conn(gs_upstream_pool *p)
{
    uconn *c = gs_mem_calloc(1, sizeof *c);
    c->pool = p;
    uv_tcp_init(p->loop, &c->tcp);
    uv_timer_init(p->loop, &c->timer);
    uv_idle_init(p->loop, &c->flush);
    c->tcp.data = c->timer.data = c->connect.data = c->flush.data = c;
    c->handles = 3;
    /* MAX_RESP_HEAD bounds the lines (head_bytes); twice that covers copies and the array. */
    gs_arena_init(&c->arena, &p->blocks, 2 * MAX_RESP_HEAD + 16 * 1024);
    gs_hdrs_init(&c->hdrs, &c->arena, 200);
    p->nconns++;
    return c;
}

/* Put r on an idle connection of the pool, or on a new one. */
static void dispatch(gs_upstream_pool *p, gs_upstream_req *r, bool fresh)
{
    uconn *c = fresh ? NULL : p->idle;
    if (c) {
        remove_idle(c);
        c->reused = true;
    } else {
        c = new_conn(p);
    }
    c->req = r;
    r->c = c;
    c->got_bytes = false;
    if (c->reused) {
        send_req(c); /* nothing calls back from inside the call */
        return;
    }
    cset(c, U_CONNECTING, p->to.connect);
    int rc = uv_tcp_connect(&c->connect, &c->tcp, (struct sockaddr *)&p->addr, connect_cb);
    if (rc < 0) {
        /* Reported from the loop: callbacks never fire inside gs_upstream_send. */
        c->deferred_err = rc;
        uv_timer_start(&c->timer, timer_cb, 0, 0);
    }
}

gs_upstream_req *gs_upstream_send(gs_upstream_pool *p, const char *head, size_t head_len,
                                  const void *body, size_t body_len, const gs_upstream_cbs *cbs,
                                  void *ud)
{
    if (!g_settings.on_message_complete) {
        llhttp_settings_init(&g_settings);
        g_settings.on_header_field = cb_header_field;
        g_settings.on_header_value = cb_header_value;
        g_settings.on_header_value_complete = cb_header_value_complete;
        g_settings.on_headers_complete = cb_headers_complete;
        g_settings.on_body = cb_body;
        g_settings.on_message_complete = cb_message_complete;
    }
    gs_upstream_req *r = gs_mem_calloc(1, sizeof *r);
    r->cbs = cbs;
    r->ud = ud;
    r->out_len = head_len + body_len;
    r->out = gs_mem_alloc(r->out_len);
    memcpy(r->out, head, head_len);
    if (body_len)
        memcpy(r->out + head_len, body, body_len);
    dispatch(p, r, false);
    return r;
}

void gs_upstream_pause(gs_upstream_req *r)
{
    r->paused = true;
    if (r->c && r->c->state > U_HANDSHAKING)
        uv_read_stop((uv_stream_t *)&r->c->tcp);
}

void gs_upstream_resume(gs_upstream_req *r)
{
    if (!r->paused)
        return;
    r->paused = false;
    if (r->c && r->c->state > U_HANDSHAKING)
        uv_read_start((uv_stream_t *)&r->c->tcp, alloc_cb, read_cb);
}

void gs_upstream_cancel(gs_upstream_req *r)
{
    if (r->c)
        conn_close(r->c);
    req_free(r);
}
