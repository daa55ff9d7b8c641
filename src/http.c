#include "http.h"

#include <errno.h>
#include <llhttp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "log.h"
#include "mem.h"
#include "netaddr.h"
#include "status.h"
#include "tls.h"

#define HIGH_WATER (256 * 1024)
#define LOW_WATER (64 * 1024)
/* Bytes we accept beyond the current request (pipelining, or a client writing while we
 * answer) before we stop reading from the socket. */
#define MAX_PENDING_IN (64 * 1024)
#define MAX_HEADERS 100
/* Bodies of a known length up to this go into the request's arena. */
#define ARENA_BODY_MAX (64 * 1024)
/* Corked pieces past this go out at once. */
#define CORK_MAX (64 * 1024)
/* Plain-HTTP writes wait in conn.out for the end of the loop turn, up to this much. */
#define OUT_MAX (16 * 1024)

typedef struct conn conn;

struct gs_http_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    gs_http_limits lim;
    gs_http_req_cb handler;
    void *ud;
    conn *conns;
    int nconns;
    bool listening;
    bool listener_open;
    bool closing;
    gs_tls_ctx *tls;    /* HTTPS: every connection runs TLS */
    gs_arena_pool blocks; /* lent to the connections' request arenas */
};

struct conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_shutdown_t shutdown;
    uv_idle_t flush;    /* sends out once this loop turn's callbacks have run (flush_cb) */
    gs_http_server *srv;
    conn *next, *prev;
    llhttp_t parser;
    gs_http_req req;
    gs_arena arena;     /* the request's URL, header lines and a body of known length */
    gs_hdrs hdrs;
    size_t url_len;
    bool body_in_arena; /* req.body.data is arena memory, not the heap's */
    gs_buf in;          /* received, not yet parsed */
    gs_buf held;        /* a response head not written yet: it goes out with the first body
                         * bytes, so a small answer is one write (one packet, one wake-up) */
    size_t head_bytes;
    gs_buf out;         /* this turn's small writes, not yet handed to the socket */
    size_t queued;      /* bytes handed to uv_write, not yet written */
    int handles;        /* open libuv handles; freed when it drops to 0 */
    int err_status;     /* set by a parser callback: answer with this status and close */
    const char *err_msg;
    bool closing;
    bool reading;
    bool congested;
    bool reparse;       /* leftover pipelined bytes wait for the timer to be parsed */
    bool raw;           /* after a protocol upgrade: bytes go to req.on_data, not llhttp */
    bool shutting;
    bool close_asap;    /* a write failed: close from the loop, not under the caller's feet */
    bool corked;        /* body pieces gather in held until uncorked (gs_http_cork) */
    bool cork_pending;  /* held has corked body pieces (not only a head) */
    bool eager;         /* writes go at once: a stream, whose reader waits on each piece */
    uint64_t deadline;  /* loop ms when an idle or incomplete request is closed; 0: none */
    uint64_t timer_due; /* when the timer was last armed to fire */
    char peer[64];
    SSL *ssl;           /* HTTPS: TLS over memory BIOs (ciphertext in rbio, out of wbio) */
    BIO *rbio, *wbio;   /* owned by ssl */
};

typedef struct wreq {
    uv_write_t w;
    conn *c;
    size_t len;
    char data[];
} wreq;

static llhttp_settings_t g_settings;
static void conn_close(conn *c);
static void listener_closed(uv_handle_t *h);
static void maybe_free_server(gs_http_server *s);
static void parse_pending(conn *c);
static void start_read(conn *c);
static void timer_cb(uv_timer_t *t);

/* ---- request lifecycle ---- */

static void req_set_state(conn *c, gs_http_req_state st)
{
    /* Request transitions are too frequent for info logs; debug shows them. */
    if (gs_log_get_level() == GS_LOG_DEBUG)
        gs_debug("http %s: request %s %s state %d -> %d", c->peer, c->req.method,
                 c->req.url ? c->req.url : "-", c->req.state, st);
    c->req.state = st;
}

/* Forget the request that was answered: its arena goes back to the pool in one go. */
static void req_clear(conn *c)
{
    gs_http_req *r = &c->req;
    if (!c->body_in_arena)
        gs_buf_free(&r->body);
    c->body_in_arena = false;
    gs_arena_reset(&c->arena);
    gs_hdrs_init(&c->hdrs, &c->arena, MAX_HEADERS);
    c->url_len = 0;
    /* Not a memset of the whole request: head_extra alone is 768 bytes. */
    r->state = GS_REQ_READING;
    r->method[0] = 0;
    r->url = r->path = r->query = NULL;
    r->headers = NULL;
    r->nheaders = 0;
    gs_buf_init(&r->body, c->srv->lim.max_body);
    r->keep_alive = r->chunked_out = r->head_only = r->upgrade = false;
    r->status = 0;
    r->start_ns = 0;
    r->ud = NULL;
    r->on_abort = r->on_drain = NULL;
    r->on_data = NULL, r->data_ud = NULL;
    r->head_extra[0] = 0;
    c->corked = c->cork_pending = c->eager = false;
}

/* One timer per connection, armed lazily: a request moves the connection's deadline (a field),
 * not the timer, so a keep-alive request costs no timer-heap work. The timer fires at the
 * earliest deadline it was armed for and, if the deadline moved on since, re-arms for the rest
 * (h2o and nginx keep their timeouts the same way). deadline 0: none (a request is being
 * answered). The same timer also runs deferred work at once (close_asap, reparse). */
static void timer_start(conn *c, uint64_t ms)
{
    c->timer_due = uv_now(c->srv->loop) + ms;
    uv_timer_start(&c->timer, timer_cb, ms, 0);
}

static void set_deadline(conn *c, unsigned ms)
{
    c->deadline = uv_now(c->srv->loop) + ms;
    if (c->close_asap)
        return;
    if (!uv_is_active((uv_handle_t *)&c->timer) || c->timer_due > c->deadline)
        timer_start(c, ms);
}

/* Deferred work for the next loop turn. */
static void kick(conn *c)
{
    timer_start(c, 0);
}

static void timer_cb(uv_timer_t *t)
{
    conn *c = t->data;
    if (c->closing)
        return;
    if (c->close_asap) {
        conn_close(c);
        return;
    }
    if (c->reparse) {
        c->reparse = false;
        set_deadline(c, c->srv->lim.head_timeout_ms);
        parse_pending(c);
        return;
    }
    if (!c->deadline)
        return;
    uint64_t now = uv_now(c->srv->loop);
    if (now < c->deadline) {
        timer_start(c, c->deadline - now);
        return;
    }
    if (c->req.state == GS_REQ_READING) {
        /* Idle keep-alive connection, or a request that did not arrive in time (slowloris). */
        gs_debug("http %s: closing: %s", c->peer, c->head_bytes ? "request timeout" : "idle");
        conn_close(c);
    }
}

/* A write failed while a handler is on the stack (it called us): closing now would run its
 * on_abort and free its state under it. Close on the next loop turn instead. */
static void close_soon(conn *c)
{
    if (c->close_asap || c->closing)
        return;
    c->close_asap = true;
    kick(c);
}

/* ---- writing ---- */

static void write_cb(uv_write_t *w, int status)
{
    wreq *wr = (wreq *)w;
    conn *c = wr->c;
    c->queued -= wr->len;
    free(wr);
    if (status < 0) {
        if (!c->closing)
            conn_close(c);
        return;
    }
    if (c->congested && c->queued < LOW_WATER) {
        c->congested = false;
        if (!c->closing && c->req.state == GS_REQ_STREAMING && c->req.on_drain)
            c->req.on_drain(&c->req, c->req.ud);
    }
}

/* Hand a write request to the socket (below). */
static int send_raw(conn *c, wreq *wr, bool try_first);

/* What TLS produced (handshake records, encrypted data, alerts) to the socket. */
static int tls_flush(conn *c)
{
    size_t n;
    int rc = 0;
    while (rc == 0 && (n = (size_t)BIO_ctrl_pending(c->wbio)) > 0) {
        wreq *wr = gs_mem_alloc(sizeof *wr + n);
        wr->c = c;
        int got = BIO_read(c->wbio, wr->data, (int)n);
        if (got <= 0) {
            free(wr);
            break;
        }
        wr->len = (size_t)got;
        rc = send_raw(c, wr, true);
    }
    return rc;
}

/* Encrypt wr's plaintext (wr is freed) and send the records. */
static int tls_send(conn *c, wreq *wr)
{
    ERR_clear_error();
    int n = SSL_write(c->ssl, wr->data, (int)wr->len);
    free(wr);
    if (n <= 0) {
        gs_debug("http %s: TLS write: %s", c->peer, gs_tls_last_error());
        close_soon(c);
        return -EPIPE;
    }
    return tls_flush(c);
}

/* Copy the three pieces, less their first skip bytes, to out. */
static void gather(char *out, const uv_buf_t *v, int nv, size_t skip)
{
    for (int i = 0; i < nv; i++) {
        size_t l = v[i].len;
        if (skip >= l) {
            skip -= l;
            continue;
        }
        memcpy(out, v[i].base + skip, l - skip);
        out += l - skip;
        skip = 0;
    }
}

/* The nv pieces (len bytes in all) to the socket now, behind what is queued. */
static int send_now(conn *c, const uv_buf_t *v, int nv, size_t len)
{
    size_t done = 0;
    if (!c->ssl && c->queued == 0) {
        /* Most writes complete at once on loopback: one writev straight from the caller's
         * memory, and a copy only of what the socket did not take. */
        int n = uv_try_write((uv_stream_t *)&c->tcp, v, (unsigned)nv);
        if (n == (int)len)
            return 0;
        if (n > 0) {
            done = (size_t)n;
        } else if (n != UV_EAGAIN && n != UV_ENOSYS) {
            close_soon(c);
            return n;
        }
    }
    wreq *wr = gs_mem_alloc(sizeof *wr + (len - done));
    wr->c = c;
    wr->len = len - done;
    gather(wr->data, v, nv, done);
    if (c->ssl)
        return tls_send(c, wr);
    return send_raw(c, wr, false); /* tried above */
}

/* What waits in out, to the socket. Before a shutdown (which only waits for libuv's queue)
 * and before any write that does not wait. */
static int flush_out(conn *c)
{
    uv_idle_stop(&c->flush);
    if (!c->out.len || c->closing)
        return 0;
    uv_buf_t b = uv_buf_init(c->out.data, (unsigned)c->out.len);
    int rc = send_now(c, &b, 1, c->out.len);
    gs_buf_reset(&c->out);
    return rc;
}

/* An idle handle runs before the loop next waits for I/O: the answers to everything one poll
 * brought leave together, and a client (or the next process in a pipeline) is woken once per
 * turn, not while ggswap still has requests to read. On a busy machine that is fewer context
 * switches per request. Streams write at once (eager). */
static void flush_cb(uv_idle_t *h)
{
    flush_out(h->data);
}

static int write3(conn *c, const char *a, size_t alen, const void *b, size_t blen, const char *s,
                  size_t slen)
{
    if (c->closing || c->close_asap)
        return -EPIPE;
    size_t len = alen + blen + slen;
    if (len == 0)
        return 0;
    if (!c->ssl && !c->eager && len <= OUT_MAX - c->out.len) {
        /* TLS is left out: its records are cut per SSL_write, and the cork batches those. */
        gs_buf_append(&c->out, a, alen);
        gs_buf_append(&c->out, b, blen);
        gs_buf_append(&c->out, s, slen);
        uv_idle_start(&c->flush, flush_cb);
        return 0;
    }
    int rc = flush_out(c);
    if (rc < 0)
        return rc;
    uv_buf_t v[3];
    int nv = 0;
    if (alen)
        v[nv++] = uv_buf_init((char *)a, (unsigned)alen);
    if (blen)
        v[nv++] = uv_buf_init((char *)b, (unsigned)blen);
    if (slen)
        v[nv++] = uv_buf_init((char *)s, (unsigned)slen);
    return send_now(c, v, nv, len);
}

/* Hand wr (owned) to the socket. */
static int send_raw(conn *c, wreq *wr, bool try_first)
{
    size_t len = wr->len;
    uv_buf_t buf = uv_buf_init(wr->data, (unsigned)len);
    /* Most writes complete at once on loopback; try that first to skip a queue round trip. */
    if (try_first && c->queued == 0) {
        int n = uv_try_write((uv_stream_t *)&c->tcp, &buf, 1);
        if (n == (int)len) {
            free(wr);
            return 0;
        }
        if (n > 0) {
            memmove(wr->data, wr->data + n, len - (size_t)n);
            wr->len = len - (size_t)n;
            buf = uv_buf_init(wr->data, (unsigned)wr->len);
        } else if (n != UV_EAGAIN && n != UV_ENOSYS) {
            free(wr);
            close_soon(c);
            return n;
        }
    }
    int rc = uv_write(&wr->w, (uv_stream_t *)&c->tcp, &buf, 1, write_cb);
    if (rc < 0) {
        free(wr);
        close_soon(c);
        return rc;
    }
    c->queued += wr->len;
    if (c->queued > HIGH_WATER)
        c->congested = true;
    return 0;
}

bool gs_http_congested(const gs_http_req *req)
{
    const conn *c = GS_CONTAINER_OF(req, conn, req);
    return c->congested;
}

static void shutdown_cb(uv_shutdown_t *s, int status)
{
    conn_close(s->data);
}

/* End the sending side once what was written is out (uv_shutdown waits for libuv's queue
 * only, so the turn's waiting bytes join it first); the close follows in shutdown_cb. */
static void shutdown_once(conn *c)
{
    if (c->shutting)
        return;
    flush_out(c);
    c->shutting = true;
    c->shutdown.data = c;
    if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, shutdown_cb) < 0)
        conn_close(c);
}

/* After a response: next request on the same connection, or close. */
static void finish(conn *c)
{
    if (c->closing)
        return;
    req_set_state(c, GS_REQ_DONE);
    if (!c->req.keep_alive || c->srv->closing) {
        if (c->ssl && !c->shutting) {
            SSL_shutdown(c->ssl); /* close_notify, so the client knows the answer is whole */
            tls_flush(c);
        }
        shutdown_once(c);
        return;
    }
    req_clear(c);
    req_set_state(c, GS_REQ_READING);
    c->head_bytes = 0;
    c->congested = false;
    llhttp_resume(&c->parser);
    if (!c->reading)
        start_read(c);
    if (c->in.len) {
        /* Pipelined bytes: parse them from the loop, not from inside the handler's call. */
        c->reparse = true;
        kick(c);
    } else {
        set_deadline(c, c->srv->lim.idle_timeout_ms);
    }
}

/* Build the response head into c->held; the next write sends it. */
static void hold_head(conn *c, int status, const char *ctype, const char *extra, int64_t clen)
{
    gs_http_req *r = &c->req;
    gs_buf *h = &c->held;
    gs_buf_reset(h);
    /* Every response passes here: appends, no printf. */
    gs_buf_append(h, "HTTP/1.1 ", 9);
    gs_buf_put_u64(h, status > 0 && status < 1000 ? (unsigned)status : 500);
    gs_buf_append(h, " ", 1);
    gs_buf_puts(h, gs_status_text(status));
    gs_buf_append(h, "\r\n", 2);
    if (ctype) {
        gs_buf_append(h, "Content-Type: ", 14);
        gs_buf_puts(h, ctype);
        gs_buf_append(h, "\r\n", 2);
    }
    if (extra)
        gs_buf_puts(h, extra);
    if (r->head_extra[0])
        gs_buf_puts(h, r->head_extra);
    if (clen >= 0) {
        gs_buf_append(h, "Content-Length: ", 16);
        gs_buf_put_u64(h, (unsigned long long)clen);
        gs_buf_append(h, "\r\n", 2);
    } else if (r->keep_alive) {
        /* keep_alive implies HTTP/1.1 here (llhttp_should_keep_alive). */
        gs_buf_puts(h, "Transfer-Encoding: chunked\r\n");
        r->chunked_out = true;
    }
    gs_buf_puts(h, r->keep_alive && !c->srv->closing ? "Connection: keep-alive\r\n\r\n"
                                                     : "Connection: close\r\n\r\n");
    r->status = status;
    /* A body of unknown length is a stream (SSE tokens): its pieces come one per turn, so
     * gathering saves nothing, and holding each to the turn's end delays it behind the whole
     * poll's work while the reader could already be handling it on the other CPU (the
     * 1,000-stream p99 rose by half with every write deferred). */
    c->eager = clen < 0;
}

/* Write the held head (if any) followed by a, b and s. */
static int write_held(conn *c, const char *a, size_t alen, const void *b, size_t blen,
                      const char *s, size_t slen)
{
    if (!c->held.len)
        return write3(c, a, alen, b, blen, s, slen);
    if (alen)
        gs_buf_append(&c->held, a, alen);
    int rc = write3(c, c->held.data, c->held.len, b, blen, s, slen);
    gs_buf_reset(&c->held);
    c->cork_pending = false;
    return rc;
}

int gs_http_respond(gs_http_req *req, int status, const char *content_type, const void *body,
                    size_t len, const char *extra)
{
    conn *c = GS_CONTAINER_OF(req, conn, req);
    if (c->closing || req->state != GS_REQ_HANDLING)
        return -EINVAL;
    hold_head(c, status, content_type, extra, (int64_t)len);
    int rc = write_held(c, NULL, 0, body, req->head_only ? 0 : len, NULL, 0);
    finish(c);
    return rc;
}

int gs_http_start(gs_http_req *req, int status, const char *headers, int64_t content_length)
{
    conn *c = GS_CONTAINER_OF(req, conn, req);
    if (c->closing || req->state != GS_REQ_HANDLING)
        return -EINVAL;
    hold_head(c, status, NULL, headers, content_length);
    req_set_state(c, GS_REQ_STREAMING);
    return 0;
}

int gs_http_flush(gs_http_req *req)
{
    conn *c = GS_CONTAINER_OF(req, conn, req);
    if (c->closing || req->state != GS_REQ_STREAMING)
        return -EPIPE;
    return write_held(c, NULL, 0, NULL, 0, NULL, 0);
}

int gs_http_write(gs_http_req *req, const void *data, size_t len)
{
    conn *c = GS_CONTAINER_OF(req, conn, req);
    if (c->closing || req->state != GS_REQ_STREAMING)
        return -EPIPE;
    if (len == 0 || req->head_only)
        return c->corked ? 0 : write_held(c, NULL, 0, NULL, 0, NULL, 0);
    char pre[24];
    size_t n = 0;
    if (req->chunked_out) {
        n = gs_buf_fmt_u64(pre, len, 16);
        pre[n++] = '\r';
        pre[n++] = '\n';
    }
    const char *suf = req->chunked_out ? "\r\n" : NULL;
    size_t sl = req->chunked_out ? 2 : 0;
    if (c->corked && c->held.len + n + len + sl <= CORK_MAX) {
        gs_buf_append(&c->held, pre, n);
        gs_buf_append(&c->held, data, len);
        gs_buf_append(&c->held, suf, sl);
        c->cork_pending = true;
        return 0;
    }
    return write_held(c, pre, n, data, len, suf, sl);
}

void gs_http_cork(gs_http_req *req)
{
    GS_CONTAINER_OF(req, conn, req)->corked = true;
}

int gs_http_uncork(gs_http_req *req)
{
    conn *c = GS_CONTAINER_OF(req, conn, req);
    c->corked = false;
    if (c->closing || req->state != GS_REQ_STREAMING)
        return -EPIPE;
    /* A head alone stays held, as without the cork: it leaves with the first body bytes. */
    return c->cork_pending ? write_held(c, NULL, 0, NULL, 0, NULL, 0) : 0;
}

int gs_http_end(gs_http_req *req)
{
    return gs_http_end_trailers(req, NULL);
}

int gs_http_end_trailers(gs_http_req *req, const char *trailers)
{
    conn *c = GS_CONTAINER_OF(req, conn, req);
    if (c->closing || req->state != GS_REQ_STREAMING)
        return -EPIPE;
    int rc;
    if (req->chunked_out && !req->head_only && trailers && *trailers)
        rc = write_held(c, "0\r\n", 3, trailers, strlen(trailers), "\r\n", 2);
    else if (req->chunked_out && !req->head_only)
        rc = write_held(c, "0\r\n\r\n", 5, NULL, 0, NULL, 0);
    else
        rc = write_held(c, NULL, 0, NULL, 0, NULL, 0);
    finish(c);
    return rc;
}

void gs_http_abort(gs_http_req *req)
{
    conn *c = GS_CONTAINER_OF(req, conn, req);
    req->on_abort = NULL; /* the handler asked for it; it needs no notice */
    if (!c->closing) {
        write_held(c, NULL, 0, NULL, 0, NULL, 0);
        req_set_state(c, GS_REQ_DONE);
        /* Let what was written reach the client (e.g. an error event), then close. */
        shutdown_once(c);
    }
}

const char *gs_http_header_get(const gs_http_req *req, const char *name)
{
    /* Asked several times per request (content type, origin, keys): lengths first. */
    size_t n = strlen(name);
    for (int i = 0; i < req->nheaders; i++)
        if (req->headers[i].name_len == n && strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

/* ---- errors found while parsing ---- */

static void fail_request(conn *c, int status, const char *msg)
{
    char body[512];
    const char *type = status == 408 ? "timeout_error" : "invalid_request_error";
    int n = snprintf(body, sizeof body,
                     "{\"error\":{\"message\":\"%s\",\"type\":\"%s\",\"code\":%d}}\n", msg, type,
                     status);
    c->req.keep_alive = false;
    req_set_state(c, GS_REQ_HANDLING);
    gs_http_respond(&c->req, status, "application/json", body, (size_t)n, NULL);
}

/* ---- parsing ---- */

static int cb_message_begin(llhttp_t *p)
{
    conn *c = p->data;
    if (c->req.state != GS_REQ_READING)
        return -1;
    c->req.start_ns = gs_clock_ns();
    /* From its first byte, a request has head_timeout_ms to arrive whole (slowloris). */
    set_deadline(c, c->srv->lim.head_timeout_ms);
    return 0;
}

static int head_limit(conn *c, size_t n, const char *what)
{
    c->head_bytes += n;
    if (c->head_bytes > c->srv->lim.max_head) {
        c->err_status = 431;
        c->err_msg = what;
        return -1;
    }
    return 0;
}

static int cb_url(llhttp_t *p, const char *at, size_t len)
{
    conn *c = p->data;
    if (head_limit(c, len, "request line too long"))
        return -1;
    char *u = gs_arena_append(&c->arena, c->req.url, c->url_len, at, len);
    if (!u)
        return -1;
    c->req.url = u;
    c->url_len += len;
    return 0;
}

static int cb_header_field(llhttp_t *p, const char *at, size_t len)
{
    conn *c = p->data;
    if (head_limit(c, len, "request headers too large") || gs_hdrs_name(&c->hdrs, at, len))
        return -1;
    return 0;
}

static int cb_header_value(llhttp_t *p, const char *at, size_t len)
{
    conn *c = p->data;
    if (head_limit(c, len, "request headers too large") || gs_hdrs_value(&c->hdrs, at, len))
        return -1;
    return 0;
}

static int cb_header_value_complete(llhttp_t *p)
{
    conn *c = p->data;
    gs_http_req *r = &c->req;
    if (gs_hdrs_line(&c->hdrs) < 0) {
        c->err_status = 431;
        c->err_msg = "too many request headers";
        return -1;
    }
    r->headers = c->hdrs.v;
    r->nheaders = c->hdrs.n;
    return 0;
}

static int cb_headers_complete(llhttp_t *p)
{
    conn *c = p->data;
    gs_http_req *r = &c->req;
    const char *m = llhttp_method_name((llhttp_method_t)p->method);
    size_t ml = strlen(m);
    if (ml >= sizeof r->method)
        ml = sizeof r->method - 1;
    memcpy(r->method, m, ml);
    r->method[ml] = 0;
    r->head_only = p->method == HTTP_HEAD;
    if (!r->url && !(r->url = gs_arena_strndup(&c->arena, "", 0)))
        return -1;
    char *q = memchr(r->url, '?', c->url_len);
    /* path is a copy (it needs its own NUL); query points into url. */
    r->path = q ? gs_arena_strndup(&c->arena, r->url, (size_t)(q - r->url)) : r->url;
    r->query = q ? q + 1 : r->url + c->url_len;
    if (!r->path)
        return -1;
    /* llhttp stops after an upgrade's head: a plain answer ends the connection (or raw mode). */
    r->keep_alive = !(r->upgrade = p->upgrade) && llhttp_should_keep_alive(p);
    if ((p->flags & F_CONTENT_LENGTH) && p->content_length > c->srv->lim.max_body) {
        c->err_status = 413;
        c->err_msg = "request body too large";
        return -1;
    }
    if ((p->flags & F_CONTENT_LENGTH) && p->content_length > 0 &&
        p->content_length <= ARENA_BODY_MAX) {
        /* The length is known: one arena piece of that size, never grown (max is the length,
         * so no append can reach realloc). Chunked and big bodies grow on the heap as they
         * arrive, so a length that is announced but never sent costs nothing. */
        size_t n = (size_t)p->content_length;
        char *d = gs_arena_alloc(&c->arena, n + 1);
        if (!d) {
            c->err_status = 413;
            c->err_msg = "request body too large";
            return -1;
        }
        d[0] = 0;
        r->body.data = d;
        r->body.len = 0;
        r->body.cap = n + 1;
        r->body.max = n;
        c->body_in_arena = true;
    }
    const char *expect = gs_http_header_get(r, "expect");
    if (expect && strcasecmp(expect, "100-continue") == 0 && (p->flags & F_CONTENT_LENGTH) &&
        p->content_length > 0)
        /* curl waits a second for this before sending a body over 1 KiB. */
        write3(c, "HTTP/1.1 100 Continue\r\n\r\n", 25, NULL, 0, NULL, 0);
    if (p->upgrade && p->method == HTTP_CONNECT) {
        c->err_status = 501;
        c->err_msg = "CONNECT is not supported";
        return -1;
    }
    return 0;
}

static int cb_body(llhttp_t *p, const char *at, size_t len)
{
    conn *c = p->data;
    if (gs_buf_append(&c->req.body, at, len)) {
        c->err_status = 413;
        c->err_msg = "request body too large";
        return -1;
    }
    return 0;
}

static int cb_message_complete(llhttp_t *p)
{
    /* Stop here: the next pipelined request waits until this one is answered. */
    return HPE_PAUSED;
}

static void dispatch(conn *c)
{
    c->deadline = 0; /* no timeout while it is answered; the timer finds that when it fires */
    req_set_state(c, GS_REQ_HANDLING);
    c->srv->handler(&c->req, c->srv->ud);
}

/* llhttp stopped on an error: a limit one of our callbacks set (413, 431, ...) or bad syntax. */
static void parse_failed(conn *c, llhttp_errno_t e)
{
    if (c->err_status) {
        fail_request(c, c->err_status, c->err_msg);
        return;
    }
    char msg[160];
    snprintf(msg, sizeof msg, "malformed HTTP request: %s", llhttp_errno_name(e));
    fail_request(c, 400, msg);
}

static void parse_pending(conn *c)
{
    if (c->closing || c->req.state != GS_REQ_READING || c->in.len == 0)
        return;
    llhttp_errno_t e = llhttp_execute(&c->parser, c->in.data, c->in.len);
    if (e == HPE_OK) {
        gs_buf_reset(&c->in);
        return;
    }
    if (e == HPE_PAUSED) {
        const char *pos = llhttp_get_error_pos(&c->parser);
        gs_buf_consume(&c->in, (size_t)(pos - c->in.data));
        dispatch(c);
        return;
    }
    gs_buf_reset(&c->in);
    parse_failed(c, e);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char slab[64 * 1024];
    /* One static slab is enough: data is copied into the connection's buffer before the
     * next read callback can run (single thread). */
    buf->base = slab;
    buf->len = sizeof slab;
}

/* Plaintext request bytes, straight from the socket or out of TLS. */
static void plain_in(conn *c, const char *data, size_t n)
{
    uv_stream_t *s = (uv_stream_t *)&c->tcp;
    if (c->raw) {
        if (c->req.on_data)
            c->req.on_data(&c->req, data, n, c->req.data_ud);
        return;
    }
    if (c->req.state == GS_REQ_READING && c->in.len == 0) {
        /* Fast path: parse straight from the read buffer, keep only what is left over. */
        llhttp_errno_t e = llhttp_execute(&c->parser, data, n);
        if (e == HPE_OK)
            return;
        if (e == HPE_PAUSED) {
            const char *pos = llhttp_get_error_pos(&c->parser);
            size_t used = (size_t)(pos - data);
            gs_buf_append(&c->in, data + used, n - used);
            dispatch(c);
            return;
        }
        parse_failed(c, e);
        return;
    }
    if (gs_buf_append(&c->in, data, n) < 0 || c->in.len > MAX_PENDING_IN) {
        /* The client sends faster than we answer: stop reading until this request is done. */
        uv_read_stop(s);
        c->reading = false;
    }
    if (c->req.state == GS_REQ_READING)
        parse_pending(c);
}

/* Ciphertext from the socket: run the handshake, decrypt what is complete. */
static void tls_in(conn *c, const char *data, size_t n)
{
    static char plain[16 * 1024];
    if (BIO_write(c->rbio, data, (int)n) != (int)n) {
        conn_close(c);
        return;
    }
    for (;;) {
        ERR_clear_error();
        int r = SSL_read(c->ssl, plain, (int)sizeof plain);
        if (r > 0) {
            plain_in(c, plain, (size_t)r);
            if (c->closing || c->close_asap)
                return;
            continue;
        }
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            break;
        if (e != SSL_ERROR_ZERO_RETURN)
            gs_debug("http %s: TLS: %s", c->peer, gs_tls_last_error());
        tls_flush(c); /* an alert for the client, if any */
        close_soon(c);
        return;
    }
    tls_flush(c);
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    conn *c = s->data;
    if (n == 0)
        return;
    if (n < 0) {
        if (n != UV_EOF && n != UV_ECONNRESET)
            gs_debug("http %s: read error: %s", c->peer, uv_strerror((int)n));
        conn_close(c);
        return;
    }
    if (c->ssl)
        tls_in(c, buf->base, (size_t)n);
    else
        plain_in(c, buf->base, (size_t)n);
}

static void start_read(conn *c)
{
    if (uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb) == 0)
        c->reading = true;
}

/* Raw mode (after an upgrade): http.h. */
int gs_http_raw_start(gs_http_req *req, gs_http_data_cb on_data, void *data_ud)
{
    conn *c = GS_CONTAINER_OF(req, conn, req);
    if (c->closing || req->state != GS_REQ_HANDLING)
        return -EINVAL;
    c->raw = true;
    c->eager = true;
    req->keep_alive = req->chunked_out = false;
    req->on_data = on_data;
    req->data_ud = data_ud;
    req_set_state(c, GS_REQ_STREAMING);
    c->deadline = 0; /* no idle limit: a WebSocket may be quiet for hours */
    gs_http_raw_pause(req, false);
    gs_buf in = c->in; /* what came after the upgrade's head */
    gs_buf_init(&c->in, in.max);
    if (in.len)
        on_data(req, in.data, in.len, data_ud);
    gs_buf_free(&in);
    return 0;
}

void gs_http_raw_pause(gs_http_req *req, bool pause)
{
    conn *c = GS_CONTAINER_OF(req, conn, req);
    if (c->closing || !c->raw || c->reading == !pause)
        return;
    if (pause)
        uv_read_stop((uv_stream_t *)&c->tcp);
    else
        start_read(c); /* sets reading */
    c->reading = c->reading && !pause;
}

/* ---- connection lifetime ---- */

static void handle_closed(uv_handle_t *h)
{
    conn *c = h->data;
    if (--c->handles > 0)
        return;
    gs_http_server *s = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nconns--;
    req_clear(c);
    gs_buf_free(&c->req.body);
    gs_arena_reset(&c->arena);
    gs_buf_free(&c->in);
    gs_buf_free(&c->held);
    gs_buf_free(&c->out);
    SSL_free(c->ssl);
    free(c);
    maybe_free_server(s);
}

static void conn_close(conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    gs_http_req *r = &c->req;
    if ((r->state == GS_REQ_HANDLING || r->state == GS_REQ_STREAMING) && r->on_abort) {
        gs_http_req_cb cb = r->on_abort;
        r->on_abort = NULL;
        cb(r, r->ud);
    }
    if (c->out.len && c->queued == 0) {
        /* What was written before the close would have left at once without the deferral:
         * let it, as far as the socket takes it without waiting. */
        uv_buf_t b = uv_buf_init(c->out.data, (unsigned)c->out.len);
        uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    }
    uv_close((uv_handle_t *)&c->flush, handle_closed);
    uv_close((uv_handle_t *)&c->timer, handle_closed);
    uv_close((uv_handle_t *)&c->tcp, handle_closed);
}

/* A connection object, registered with the server; its socket comes next. */
static conn *conn_new(gs_http_server *s)
{
    conn *c = gs_mem_calloc(1, sizeof *c);
    c->srv = s;
    uv_tcp_init(s->loop, &c->tcp);
    uv_timer_init(s->loop, &c->timer);
    uv_idle_init(s->loop, &c->flush);
    c->tcp.data = c->timer.data = c->flush.data = c;
    c->handles = 3;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    gs_buf_init(&c->in, MAX_PENDING_IN + 64 * 1024);
    gs_buf_init(&c->held, 0);
    gs_buf_init(&c->out, OUT_MAX);
    gs_buf_init(&c->req.body, s->lim.max_body);
    /* The head limit is enforced by head_limit; this bound is the backstop for everything in
     * the arena: URL and lines (a copy each when split over reads), the array, the body. */
    gs_arena_init(&c->arena, &s->blocks, 3 * s->lim.max_head + s->lim.max_body + 64 * 1024);
    gs_hdrs_init(&c->hdrs, &c->arena, MAX_HEADERS);
    return c;
}

/* The socket is in place: wait for the first request. */
static void conn_begin(conn *c)
{
    llhttp_init(&c->parser, HTTP_REQUEST, &g_settings);
    c->parser.data = c;
    c->req.state = GS_REQ_READING;
    if (c->srv->tls && !c->ssl) {
        c->ssl = SSL_new(c->srv->tls);
        c->rbio = BIO_new(BIO_s_mem());
        c->wbio = BIO_new(BIO_s_mem());
        if (!c->ssl || !c->rbio || !c->wbio) {
            gs_warn("http %s: cannot start TLS: %s", c->peer, gs_tls_last_error());
            SSL_free(c->ssl);
            c->ssl = NULL;
            BIO_free(c->rbio);
            BIO_free(c->wbio);
            conn_close(c);
            return;
        }
        SSL_set_bio(c->ssl, c->rbio, c->wbio);
        SSL_set_accept_state(c->ssl);
    }
    start_read(c);
    set_deadline(c, c->srv->lim.idle_timeout_ms);
}

static void on_connection(uv_stream_t *ls, int status)
{
    gs_http_server *s = ls->data;
    if (status < 0) {
        gs_warn("http: accept failed: %s", uv_strerror(status));
        return;
    }
    conn *c = conn_new(s);
    if (uv_accept(ls, (uv_stream_t *)&c->tcp) < 0) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    struct sockaddr_storage ss;
    int len = sizeof ss;
    snprintf(c->peer, sizeof c->peer, "?");
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0)
        gs_netaddr_name(&ss, c->peer, sizeof c->peer);
    conn_begin(c);
}

int gs_http_server_start(uv_loop_t *loop, const char *addr, const gs_http_limits *limits,
                         gs_http_req_cb handler, void *ud, gs_http_server **out)
{
    int rc;
    struct sockaddr_storage ss;
    if ((rc = gs_netaddr_parse_listen(addr, &ss)) < 0)
        return rc;
    if (!g_settings.on_message_complete) {
        llhttp_settings_init(&g_settings);
        g_settings.on_message_begin = cb_message_begin;
        g_settings.on_url = cb_url;
        g_settings.on_header_field = cb_header_field;
        g_settings.on_header_value = cb_header_value;
        g_settings.on_header_value_complete = cb_header_value_complete;
        g_settings.on_headers_complete = cb_headers_complete;
        g_settings.on_body = cb_body;
        g_settings.on_message_complete = cb_message_complete;
    }
    gs_tls_ctx *tls = NULL;
    if (limits && limits->tls_cert) {
        char err[512];
        if (!(tls = gs_tls_ctx_new(limits->tls_cert, limits->tls_key, err, sizeof err))) {
            gs_error("%s", err);
            return -EINVAL;
        }
    }
    gs_http_server *s = gs_mem_calloc(1, sizeof *s);
    gs_arena_pool_init(&s->blocks, 0);
    s->tls = tls;
    s->loop = loop;
    s->handler = handler;
    s->ud = ud;
    s->lim.max_head = limits && limits->max_head ? limits->max_head : 64 * 1024;
    s->lim.max_body = limits && limits->max_body ? limits->max_body : 64u * 1024 * 1024;
    s->lim.head_timeout_ms = limits && limits->head_timeout_ms ? limits->head_timeout_ms : 30000;
    s->lim.idle_timeout_ms = limits && limits->idle_timeout_ms ? limits->idle_timeout_ms : 120000;
    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    s->listener_open = true;
    if ((rc = uv_tcp_bind(&s->listener, (struct sockaddr *)&ss, 0)) < 0)
        goto out;
    if ((rc = uv_listen((uv_stream_t *)&s->listener, 1024, on_connection)) < 0)
        goto out;
    s->listening = true;
    *out = s;
    return 0;
out:
    /* The listener was never used: free the server once libuv lets go of the handle. */
    s->closing = true;
    s->listening = true;
    gs_http_server_stop_listening(s);
    return rc;
}

static void maybe_free_server(gs_http_server *s)
{
    if (s->closing && !s->listener_open && s->nconns == 0) {
        gs_arena_pool_free(&s->blocks);
        gs_tls_ctx_free(s->tls);
        free(s);
    }
}

static void listener_closed(uv_handle_t *h)
{
    gs_http_server *s = h->data;
    s->listener_open = false;
    maybe_free_server(s);
}

void gs_http_server_stop_listening(gs_http_server *s)
{
    if (s->listening) {
        s->listening = false;
        uv_close((uv_handle_t *)&s->listener, listener_closed);
    }
}

void gs_http_server_close(gs_http_server *s)
{
    /* Connections point at the server until their close callbacks run; the last of those
     * (or the listener's) frees it. */
    s->closing = true;
    for (conn *c = s->conns; c; c = c->next)
        conn_close(c);
    gs_http_server_stop_listening(s);
    maybe_free_server(s);
}

int gs_http_server_connections(const gs_http_server *s)
{
    return s->nconns;
}

#ifdef GS_FUZZING
/* Test-only (fuzz/fuzz_http.c): adopt an already connected stream socket (one end of a
 * socketpair) as a client connection of s, exactly as on_connection sets one up after accept, so
 * the fuzzer drives the real read, parse, dispatch and write paths without the network. */
int gs_http_fuzz_adopt(gs_http_server *s, int fd)
{
    conn *c = conn_new(s);
    snprintf(c->peer, sizeof c->peer, "fuzz");
    int rc = uv_tcp_open(&c->tcp, fd);
    if (rc < 0) {
        conn_close(c);
        return rc;
    }
    conn_begin(c);
    return 0;
}
#endif
