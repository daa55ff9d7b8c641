#include "tunnel.h"

#include <errno.h>
#include <llhttp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "forward.h"
#include "log.h"
#include "mem.h"
#include "netaddr.h"
#include "reply.h"

/* Reading resumes once a queue fell below this. */
#define LOW_WATER (GS_TUNNEL_HIGH_WATER / 4)

struct gs_tunnel {
    uv_loop_t *loop;
    uv_tcp_t tcp;
    uv_connect_t connect;
    uv_timer_t timer;        /* the handshake's deadline; also reports a failed connect */
    int handles;             /* open libuv handles; freed when it drops to 0 */
    gs_tunnel_state state;
    gs_http_req *req;        /* NULL once cancelled or ended */
    char *name;
    const gs_tunnel_cbs *cbs;
    void *ud;
    gs_buf out;              /* the upgrade request head, sent once connected */
    gs_buf head;             /* the server's bytes until its answer head is complete */
    llhttp_t parser;
    int status;
    bool head_done;          /* the parser saw the whole answer head */
    bool msg_done;           /* RELAY: the answer is complete */
    bool up_reading;
    bool up_paused;          /* not reading the server: the client is congested */
    bool client_paused;      /* not reading the client: the server's queue is full */
    size_t up_queued;        /* bytes handed to the server socket, not yet written */
    int fail_err;            /* a failure to report from the loop (connect error) */
    const char *fail_msg;
    uint64_t bytes_up, bytes_down;
};

typedef struct wreq {
    uv_write_t w;
    gs_tunnel *t;
    size_t len;
    char data[];
} wreq;

const char *gs_tunnel_state_name(gs_tunnel_state st)
{
    switch (st) {
    case GS_TUNNEL_CONNECTING: return "connecting";
    case GS_TUNNEL_HANDSHAKE: return "handshake";
    case GS_TUNNEL_OPEN: return "open";
    case GS_TUNNEL_RELAY: return "relay";
    case GS_TUNNEL_CLOSED: return "closed";
    }
    return "?";
}

gs_tunnel_state gs_tunnel_get_state(const gs_tunnel *t)
{
    return t->state;
}

static void tset(gs_tunnel *t, gs_tunnel_state st)
{
    if (t->state == st)
        return;
    gs_debug("tunnel to %s: %s -> %s", t->name, gs_tunnel_state_name(t->state),
             gs_tunnel_state_name(st));
    t->state = st;
}

bool gs_tunnel_has_token(const char *value, const char *token)
{
    size_t tl = strlen(token);
    const char *p = value;
    while (p && *p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        const char *end = e;
        while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        if ((size_t)(end - p) == tl && strncasecmp(p, token, tl) == 0)
            return true;
        p = e;
    }
    return false;
}

static bool any_header_has(const gs_http_req *req, const char *name, const char *token)
{
    size_t n = strlen(name);
    for (int i = 0; i < req->nheaders; i++)
        if (req->headers[i].name_len == n && strcasecmp(req->headers[i].name, name) == 0 &&
            gs_tunnel_has_token(req->headers[i].value, token))
            return true;
    return false;
}

bool gs_tunnel_is_websocket(const gs_http_req *req)
{
    return any_header_has(req, "connection", "upgrade") &&
           any_header_has(req, "upgrade", "websocket");
}

/* ---- teardown ---- */

static void handle_closed(uv_handle_t *h)
{
    gs_tunnel *t = h->data;
    if (--t->handles > 0)
        return;
    gs_buf_free(&t->out);
    gs_buf_free(&t->head);
    free(t->name);
    free(t);
}

static void close_handles(gs_tunnel *t)
{
    tset(t, GS_TUNNEL_CLOSED);
    if (!uv_is_closing((uv_handle_t *)&t->timer))
        uv_close((uv_handle_t *)&t->timer, handle_closed);
    if (!uv_is_closing((uv_handle_t *)&t->tcp))
        uv_close((uv_handle_t *)&t->tcp, handle_closed);
}

/* The end, whichever side closed: the client's connection is ended after what was written to it
 * has left (after on_open), the server's is closed, the owner hears of it once. */
static void finish(gs_tunnel *t, int err, const char *msg)
{
    if (t->state == GS_TUNNEL_CLOSED)
        return;
    bool opened = t->state == GS_TUNNEL_OPEN || t->state == GS_TUNNEL_RELAY;
    gs_http_req *req = t->req;
    t->req = NULL;
    if (req && opened) {
        req->on_data = NULL;
        gs_info("tunnel to %s closed (%s): %llu bytes up, %llu down", t->name,
                msg ? msg : "done", (unsigned long long)t->bytes_up,
                (unsigned long long)t->bytes_down);
        gs_http_end(req);
    }
    close_handles(t);
    if (t->cbs && t->cbs->on_done)
        t->cbs->on_done(t, opened ? 0 : err, msg, t->ud);
}

void gs_tunnel_cancel(gs_tunnel *t)
{
    if (!t || t->state == GS_TUNNEL_CLOSED)
        return;
    if (t->req)
        t->req->on_data = NULL;
    t->req = NULL;
    close_handles(t);
}

/* ---- towards the server ---- */

static void up_write_cb(uv_write_t *w, int status)
{
    wreq *wr = (wreq *)w;
    gs_tunnel *t = wr->t;
    t->up_queued -= wr->len;
    free(wr);
    if (t->state == GS_TUNNEL_CLOSED)
        return;
    if (status < 0) {
        finish(t, status, "writing to the model's server failed");
        return;
    }
    if (t->client_paused && t->up_queued < LOW_WATER && t->req) {
        t->client_paused = false;
        gs_http_raw_pause(t->req, false);
    }
}

static int up_write(gs_tunnel *t, const char *data, size_t len)
{
    wreq *wr = gs_mem_alloc(sizeof *wr + len);
    wr->t = t;
    wr->len = len;
    memcpy(wr->data, data, len);
    uv_buf_t b = uv_buf_init(wr->data, (unsigned)len);
    int rc = uv_write(&wr->w, (uv_stream_t *)&t->tcp, &b, 1, up_write_cb);
    if (rc < 0) {
        free(wr);
        return rc;
    }
    t->up_queued += len;
    return 0;
}

/* What the client sends once its connection is raw. */
static void on_client_data(gs_http_req *req, const char *data, size_t len, void *ud)
{
    gs_tunnel *t = ud;
    if (t->state != GS_TUNNEL_OPEN)
        return; /* RELAY: the server answered without switching; nothing more goes to it */
    t->bytes_up += len;
    if (up_write(t, data, len) < 0) {
        finish(t, -EPIPE, "writing to the model's server failed");
        return;
    }
    if (t->up_queued > GS_TUNNEL_HIGH_WATER && !t->client_paused) {
        t->client_paused = true;
        gs_http_raw_pause(req, true);
    }
}

/* ---- from the server ---- */

static int on_headers_complete(llhttp_t *p)
{
    gs_tunnel *t = p->data;
    t->status = p->status_code;
    t->head_done = true;
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    gs_tunnel *t = p->data;
    t->msg_done = true;
    return 0;
}

static const llhttp_settings_t *settings(void)
{
    static llhttp_settings_t s;
    static bool init;
    if (!init) {
        llhttp_settings_init(&s);
        s.on_headers_complete = on_headers_complete;
        s.on_message_complete = on_message_complete;
        init = true;
    }
    return &s;
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char slab[64 * 1024];
    /* Copied on (client write or head buffer) before the next read can run. */
    buf->base = slab;
    buf->len = sizeof slab;
}

static void up_pause(gs_tunnel *t)
{
    if (t->up_reading) {
        uv_read_stop((uv_stream_t *)&t->tcp);
        t->up_reading = false;
    }
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static void up_resume(gs_tunnel *t)
{
    if (!t->up_reading && t->state != GS_TUNNEL_CLOSED &&
        uv_read_start((uv_stream_t *)&t->tcp, alloc_cb, read_cb) == 0)
        t->up_reading = true;
}

void gs_tunnel_drain(gs_tunnel *t)
{
    if (t && t->up_paused) {
        t->up_paused = false;
        up_resume(t);
    }
}

/* Server bytes for the client (raw). */
static void to_client(gs_tunnel *t, const char *data, size_t len)
{
    if (!t->req || !len)
        return;
    t->bytes_down += len;
    gs_http_write(t->req, data, len);
    if (t->req && gs_http_congested(t->req)) {
        t->up_paused = true;
        up_pause(t);
    }
}

/* The answer head is complete (its bytes and any after it are in t->head): raw mode. */
static void opened(gs_tunnel *t)
{
    uv_timer_stop(&t->timer);
    bool upgraded = t->status == 101;
    tset(t, upgraded ? GS_TUNNEL_OPEN : GS_TUNNEL_RELAY);
    if (gs_http_raw_start(t->req, on_client_data, t) < 0) {
        finish(t, -EPIPE, "the client's connection is gone");
        return;
    }
    if (upgraded)
        gs_info("tunnel to %s open: %s %s", t->name, t->req->method, t->req->url);
    else
        gs_info("tunnel to %s: the server answered %d, not 101", t->name, t->status);
    if (t->cbs && t->cbs->on_open)
        t->cbs->on_open(t, t->status, t->ud);
    gs_buf head = t->head;
    gs_buf_init(&t->head, 0);
    to_client(t, head.data, head.len);
    gs_buf_free(&head);
}

/* Parse the server's answer until its head is complete (RELAY: until the answer is); returns
 * -1 on a malformed answer. */
static int parse(gs_tunnel *t, const char *data, size_t len)
{
    llhttp_errno_t e = llhttp_execute(&t->parser, data, len);
    if (e == HPE_OK || e == HPE_PAUSED_UPGRADE)
        return 0;
    return -1;
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    gs_tunnel *t = s->data;
    if (n == 0 || t->state == GS_TUNNEL_CLOSED)
        return;
    if (n < 0) {
        if (t->state == GS_TUNNEL_RELAY && !t->msg_done)
            llhttp_finish(&t->parser); /* an answer delimited by the close */
        finish(t, (int)n, t->state == GS_TUNNEL_HANDSHAKE
                              ? "the model's server closed the connection without answering "
                                "the upgrade"
                              : n == UV_EOF ? "the model's server closed" : uv_strerror((int)n));
        return;
    }
    size_t len = (size_t)n;
    switch (t->state) {
    case GS_TUNNEL_HANDSHAKE:
        if (gs_buf_append(&t->head, buf->base, len) < 0) {
            finish(t, -E2BIG, "the model's answer head to the upgrade is over 64 KiB");
            return;
        }
        if (parse(t, buf->base, len) < 0) {
            finish(t, -EPROTO, "the model's server sent a malformed answer to the upgrade");
            return;
        }
        if (t->head_done)
            opened(t);
        if (t->state == GS_TUNNEL_RELAY && t->msg_done)
            finish(t, 0, "answer complete");
        return;
    case GS_TUNNEL_RELAY:
        parse(t, buf->base, len);
        to_client(t, buf->base, len);
        if (t->msg_done)
            finish(t, 0, "answer complete");
        return;
    case GS_TUNNEL_OPEN:
        to_client(t, buf->base, len);
        return;
    default:
        return;
    }
}

static void connect_cb(uv_connect_t *cr, int status)
{
    gs_tunnel *t = cr->data;
    if (t->state == GS_TUNNEL_CLOSED)
        return;
    if (status < 0) {
        finish(t, status, status == UV_ECONNREFUSED ? "connection refused" : uv_strerror(status));
        return;
    }
    tset(t, GS_TUNNEL_HANDSHAKE);
    wreq *wr = gs_mem_alloc(sizeof *wr + t->out.len);
    wr->t = t;
    wr->len = t->out.len;
    memcpy(wr->data, t->out.data, t->out.len);
    gs_buf_free(&t->out);
    uv_buf_t b = uv_buf_init(wr->data, (unsigned)wr->len);
    int rc = uv_write(&wr->w, (uv_stream_t *)&t->tcp, &b, 1, up_write_cb);
    if (rc < 0) {
        free(wr);
        finish(t, rc, uv_strerror(rc));
        return;
    }
    t->up_queued += wr->len;
    up_resume(t);
}

static void timer_cb(uv_timer_t *h)
{
    gs_tunnel *t = h->data;
    if (t->fail_err) {
        finish(t, t->fail_err, t->fail_msg);
        return;
    }
    finish(t, -ETIMEDOUT, "the model's server did not answer the upgrade within 30 s");
}

void gs_tunnel_head(gs_buf *b, const gs_http_req *req, const char *host, int port,
                    const char *base, const char *upath)
{
    gs_buf_puts(b, req->method);
    gs_buf_append(b, " ", 1);
    gs_buf_puts(b, base);
    gs_buf_puts(b, *upath == '/' ? "" : "/");
    gs_buf_puts(b, upath);
    gs_buf_puts(b, " HTTP/1.1\r\n");
    const char *h = gs_http_header_get(req, "host");
    if (h) {
        gs_buf_printf(b, "Host: %s\r\n", h);
    } else {
        bool v6 = strchr(host, ':') != NULL;
        gs_buf_printf(b, "Host: %s%s%s:%d\r\n", v6 ? "[" : "", host, v6 ? "]" : "", port);
    }
    for (int i = 0; i < req->nheaders; i++) {
        const gs_http_header *x = &req->headers[i];
        if (gs_fwd_is_hop(x->name))
            continue;
        gs_buf_append(b, x->name, x->name_len);
        gs_buf_append(b, ": ", 2);
        gs_buf_append(b, x->value, x->value_len);
        gs_buf_append(b, "\r\n", 2);
    }
    const char *up = gs_http_header_get(req, "upgrade");
    gs_buf_printf(b, "Connection: Upgrade\r\nUpgrade: %s\r\n\r\n", up ? up : "websocket");
}

gs_tunnel *gs_tunnel_open(uv_loop_t *loop, gs_http_req *req, const char *name, const char *host,
                          int port, const char *base, const char *upath, const gs_tunnel_cbs *cbs,
                          void *ud)
{
    gs_tunnel *t = gs_mem_calloc(1, sizeof *t);
    t->loop = loop;
    t->req = req;
    t->name = gs_mem_strdup(name);
    t->cbs = cbs;
    t->ud = ud;
    gs_buf_init(&t->out, GS_TUNNEL_MAX_HEAD + 8192);
    gs_buf_init(&t->head, GS_TUNNEL_MAX_HEAD);
    llhttp_init(&t->parser, HTTP_RESPONSE, settings());
    t->parser.data = t;
    uv_tcp_init(loop, &t->tcp);
    uv_timer_init(loop, &t->timer);
    t->tcp.data = t->timer.data = t->connect.data = t;
    t->handles = 2;
    gs_tunnel_head(&t->out, req, host, port, base ? base : "", upath ? upath : "/");
    uv_timer_start(&t->timer, timer_cb, GS_TUNNEL_HANDSHAKE_MS, 0);
    struct sockaddr_storage ss;
    int rc = gs_netaddr_resolve(host, port, &ss, NULL);
    if (rc == 0)
        rc = uv_tcp_connect(&t->connect, &t->tcp, (const struct sockaddr *)&ss, connect_cb);
    if (rc < 0) {
        /* Reported from the loop: the caller is still setting up. */
        t->fail_err = rc;
        t->fail_msg = rc == -EHOSTUNREACH ? "cannot resolve the model's host" : uv_strerror(rc);
        uv_timer_start(&t->timer, timer_cb, 0, 0);
    }
    return t;
}

/* ---- without a scheduler (compat.ignoreWebsockets) ---- */

typedef struct served {
    gs_tunnel *t;
    gs_http_req *req;
} served;

static void served_abort(gs_http_req *req, void *ud)
{
    served *sv = ud;
    gs_tunnel_cancel(sv->t);
    free(sv);
}

static void served_drain(gs_http_req *req, void *ud)
{
    served *sv = ud;
    gs_tunnel_drain(sv->t);
}

static void served_done(gs_tunnel *t, int err, const char *msg, void *ud)
{
    served *sv = ud;
    gs_http_req *req = sv->req;
    req->on_abort = NULL;
    req->on_drain = NULL;
    if (err) {
        gs_warn("tunnel to %s: %s", t->name, msg);
        gs_reply_error(req, 502, "bad_gateway", "model %s: %s", t->name, msg);
    }
    free(sv);
}

static const gs_tunnel_cbs served_cbs = {NULL, served_done};

void gs_tunnel_serve(uv_loop_t *loop, gs_http_req *req, const char *name, const char *host,
                     int port, const char *base, const char *upath)
{
    served *sv = gs_mem_calloc(1, sizeof *sv);
    sv->req = req;
    req->ud = sv;
    req->on_abort = served_abort;
    req->on_drain = served_drain;
    sv->t = gs_tunnel_open(loop, req, name, host, port, base, upath, &served_cbs, sv);
}
