#include "forward.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "loading.h"
#include "mem.h"
#include "reply.h"
#include "tunnel.h"

static const struct {
    const char *name;
    size_t len;
} hop_headers[] = {
#define H(s) {s, sizeof s - 1}
    H("connection"), H("keep-alive"), H("proxy-connection"), H("transfer-encoding"), H("te"),
    H("trailer"), H("upgrade"), H("host"), H("content-length"), H("expect"),
#undef H
};

/* Every header line in both directions is checked: lengths first, so most lines cost no
 * strcasecmp at all. */
bool gs_fwd_is_hop(const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < GS_ARRAY_LEN(hop_headers); i++)
        if (hop_headers[i].len == n && strcasecmp(name, hop_headers[i].name) == 0)
            return true;
    return false;
}

/* Scratch for building a head: one per direction, reused (the loop is single-threaded and
 * neither is held past the call that fills it), so a request costs no malloc for them.
 * Bounds as before: the response head's own, none for the request (http.c bounds it). */
static gs_buf *scratch(gs_buf *b, size_t max)
{
    if (!b->max)
        gs_buf_init(b, max);
    else if (b->cap > 16 * 1024)
        gs_buf_free(b); /* after an unusually big head, do not keep its memory */
    gs_buf_reset(b);
    return b;
}

/* "Name: value\r\n" (on the request path: no printf). */
static void header_line(gs_buf *b, const gs_http_header *h)
{
    char *o = gs_buf_grow(b, h->name_len + h->value_len + 4);
    if (!o)
        return; /* past the head's bound: the line is left out, as an append would */
    memcpy(o, h->name, h->name_len);
    o += h->name_len;
    *o++ = ':';
    *o++ = ' ';
    memcpy(o, h->value, h->value_len);
    o += h->value_len;
    *o++ = '\r';
    *o = '\n';
}

void gs_fwd_init(gs_fwd *f, gs_http_req *req, const char *upath, char *body, size_t body_len)
{
    memset(f, 0, sizeof *f);
    f->req = req;
    f->upath = gs_mem_strdup(upath);
    if (req) {
        size_t n = strnlen(req->method, sizeof f->method - 1);
        memcpy(f->method, req->method, n);
        f->method[n] = 0;
        req->ud = f;
    }
    f->body = body;
    f->body_len = body_len;
}

void gs_fwd_free(gs_fwd *f)
{
    gs_fwd_cancel(f);
    gs_buf_free(&f->early_err);
    free(f->upath);
    free(f->body);
    f->upath = f->body = NULL;
}

void gs_fwd_detach(gs_fwd *f)
{
    if (f->req) {
        f->req->on_abort = NULL;
        f->req->on_drain = NULL;
    }
}

long gs_fwd_tokens(const gs_fwd *f)
{
    /* llama-server (and OpenAI) report usage at the end of the body or of the stream. */
    static const char key[] = "\"completion_tokens\":";
    const size_t kl = sizeof key - 1;
    const char *end = f->tail + f->tail_len, *hit = NULL;
    /* The last mention counts (a stream's final usage); memmem is far faster than a byte loop
     * over the 512 bytes every answer leaves here. */
    for (const char *p = f->tail; (p = memmem(p, (size_t)(end - p), key, kl)) != NULL; p += kl)
        hit = p;
    if (hit) {
        /* strtol skips the blanks JSON allows after the colon. */
        const char *v = hit + kl;
        char *num_end;
        long n = strtol(v, &num_end, 10);
        if (num_end != v && n >= 0)
            return n;
    }
    if (f->sse && f->events > 1)
        return f->events - 1; /* one delta per token, less the [DONE] marker */
    return -1;
}

static void on_head(gs_upstream_req *u, int status, const gs_http_header *h, int n,
                    int64_t clen, void *ud)
{
    gs_fwd *f = ud;
    double up_ms = (double)(gs_clock_ns() - f->sent_ns) / 1e6;
    f->up_ms = up_ms;
    if (f->early) {
        f->status = status;
        f->head_sent = true;
        f->sse = true; /* what the early head said */
        if (status != 200)
            gs_buf_init(&f->early_err, 16 * 1024);
        if (f->cbs->on_head)
            f->cbs->on_head(f);
        return;
    }
    static gs_buf hbuf;
    gs_buf *hb = scratch(&hbuf, 128 * 1024);
    for (int i = 0; i < n; i++) {
        if (gs_fwd_is_hop(h[i].name))
            continue;
        /* ggswap answers CORS itself: a second Access-Control-Allow-Origin fails the page. */
        if (f->req->head_extra[0] && strncasecmp(h[i].name, "access-control-", 15) == 0)
            continue;
        if (strcasecmp(h[i].name, "content-type") == 0 && strstr(h[i].value, "event-stream"))
            f->sse = true;
        header_line(hb, &h[i]);
    }
    char st[160];
    if (gs_timing_header(st, sizeof st, f->wait.queue_ms, f->wait.load_ms, up_ms) > 0)
        gs_buf_puts(hb, st);
    f->status = status;
    f->head_sent = true;
    gs_http_start(f->req, status, hb->data ? hb->data : "", clen);
    /* A stream's head goes out when this read has been handed on (on_read_end), with the
     * events that came with it: the first token may take a while, so it shows at once that it
     * began. Other heads wait for their first body bytes, as before. */
    gs_http_cork(f->req);
    if (f->cbs->on_head)
        f->cbs->on_head(f);
}

static void keep_tail(gs_fwd *f, const char *d, size_t n)
{
    size_t cap = sizeof f->tail - 1; /* the last byte is the terminator's */
    if (n >= cap) {
        memcpy(f->tail, d + n - cap, cap);
        f->tail_len = cap;
    } else {
        if (f->tail_len + n > cap) {
            size_t drop = f->tail_len + n - cap;
            memmove(f->tail, f->tail + drop, f->tail_len - drop);
            f->tail_len -= drop;
        }
        memcpy(f->tail + f->tail_len, d, n);
        f->tail_len += n;
    }
    f->tail[f->tail_len] = 0;
}

static void on_body(gs_upstream_req *u, const char *d, size_t n, void *ud)
{
    gs_fwd *f = ud;
    if (f->early && f->status != 200) {
        gs_buf_append(&f->early_err, d, n); /* past the bound the rest is dropped */
        return;
    }
    if (f->sse) {
        /* Every chunk of a stream passes here: memchr to each 'd' (vectorised) rather than
         * memmem, which was a third of the per-chunk user time. */
        const char *end = d + n;
        for (const char *q = d; end - q >= 5 && (q = memchr(q, 'd', (size_t)(end - q - 4)));
             q++)
            if (memcmp(q, "data:", 5) == 0)
                f->events++;
        if (f->events && !f->first_event_ns)
            f->first_event_ns = gs_clock_ns();
    }
    keep_tail(f, d, n);
    /* Corked: the pieces of one read (SSE events, the chunk end) leave in one write. */
    gs_http_cork(f->req);
    gs_http_write(f->req, d, n);
}

static void on_read_end(gs_upstream_req *u, void *ud)
{
    gs_fwd *f = ud;
    if (!f->req)
        return;
    if (f->sse)
        gs_http_flush(f->req); /* the head, even alone: show that the stream began */
    else
        gs_http_uncork(f->req);
    if (!f->paused && gs_http_congested(f->req)) {
        /* The client is behind: leave the rest in the upstream socket until it drains. */
        f->paused = true;
        gs_upstream_pause(u);
    }
}

static void on_drain(gs_http_req *req, void *ud)
{
    gs_fwd *f = ud;
    if (f->tun)
        gs_tunnel_drain(f->tun);
    if (f->paused && f->up) {
        f->paused = false;
        gs_upstream_resume(f->up);
    }
}

static void on_done(gs_upstream_req *u, int err, const char *msg, void *ud)
{
    gs_fwd *f = ud;
    f->up = NULL;
    if (!err) {
        gs_fwd_detach(f);
        if (f->early && f->status != 200) {
            char why[600];
            snprintf(why, sizeof why, "model %s answered %d: %.*s", f->model, f->status,
                     (int)(f->early_err.len > 400 ? 400 : f->early_err.len),
                     f->early_err.data ? f->early_err.data : "");
            gs_buf b;
            gs_buf_init(&b, 0);
            gs_loading_error_event(&b, f->status, "server_error", why);
            gs_http_write(f->req, b.data, b.len);
            gs_buf_free(&b);
        }
        if (f->early)
            gs_fwd_end_early(f, f->req);
        else
            gs_http_end(f->req);
        f->req = NULL;
    }
    f->cbs->on_done(f, err, msg);
}

static const gs_upstream_cbs up_cbs = {on_head, on_body, on_done, on_read_end};

void gs_fwd_send(gs_fwd *f, const char *model, gs_upstream_pool *pool, const gs_fwd_cbs *cbs)
{
    gs_http_req *req = f->req;
    f->model = model;
    f->cbs = cbs;
    f->sent_ns = gs_clock_ns();
    const char *body = f->body ? f->body : req->body.data;
    size_t blen = f->body ? f->body_len : req->body.len;
    static gs_buf hbuf;
    gs_buf *h = scratch(&hbuf, 0);
    gs_upstream_head(pool, h, req->method, f->upath);
    for (int i = 0; i < req->nheaders; i++)
        if (!gs_fwd_is_hop(req->headers[i].name) &&
            !(f->api_key && (strcasecmp(req->headers[i].name, "authorization") == 0 ||
                             strcasecmp(req->headers[i].name, "x-api-key") == 0)))
            header_line(h, &req->headers[i]);
    if (f->api_key) {
        gs_buf_puts(h, "Authorization: Bearer ");
        gs_buf_puts(h, f->api_key);
        gs_buf_puts(h, "\r\nx-api-key: ");
        gs_buf_puts(h, f->api_key);
        gs_buf_append(h, "\r\n", 2);
    }
    if (blen || strcmp(req->method, "POST") == 0 || strcmp(req->method, "PUT") == 0) {
        gs_buf_append(h, "Content-Length: ", 16);
        gs_buf_put_u64(h, blen);
        gs_buf_append(h, "\r\n", 2);
    }
    gs_buf_append(h, "\r\n", 2);
    req->on_drain = on_drain;
    f->up = gs_upstream_send(pool, h->data, h->len, body, blen, &up_cbs, f);
}

void gs_fwd_end_early(gs_fwd *f, gs_http_req *req)
{
    double up = f->up_ms > 0 ? f->up_ms
                : f->sent_ns  ? (double)(gs_clock_ns() - f->sent_ns) / 1e6
                              : 0;
    char st[160];
    if (gs_timing_header(st, sizeof st, f->wait.queue_ms, f->wait.load_ms, up) > 0)
        gs_http_end_trailers(req, st);
    else
        gs_http_end(req);
}

void gs_fwd_cancel(gs_fwd *f)
{
    if (f->up)
        gs_upstream_cancel(f->up);
    f->up = NULL;
    if (f->tun)
        gs_tunnel_cancel(f->tun);
    f->tun = NULL;
}

/* ---- protocol upgrades (tunnel.h) ---- */

static void tun_open(gs_tunnel *t, int status, void *ud)
{
    gs_fwd *f = ud;
    f->status = status;
    f->head_sent = true;
    f->up_ms = (double)(gs_clock_ns() - f->sent_ns) / 1e6;
    f->cbs->on_head(f);
}

static void tun_done(gs_tunnel *t, int err, const char *msg, void *ud)
{
    gs_fwd *f = ud;
    f->tun = NULL;
    if (!err) {
        /* The tunnel ended the client's connection itself. */
        gs_fwd_detach(f);
        f->req = NULL;
    }
    f->cbs->on_done(f, err, msg);
}

static const gs_tunnel_cbs tun_cbs = {tun_open, tun_done};

void gs_fwd_tunnel(gs_fwd *f, uv_loop_t *loop, const char *model, const char *host, int port,
                   const char *base, const gs_fwd_cbs *cbs)
{
    f->model = model;
    f->cbs = cbs;
    f->sent_ns = gs_clock_ns();
    f->req->on_drain = on_drain;
    f->tun = gs_tunnel_open(loop, f->req, model, host, port, base, f->upath, &tun_cbs, f);
}

void gs_fwd_fail(gs_fwd *f, const char *msg)
{
    gs_http_req *req = f->req;
    if (!req)
        return;
    gs_fwd_detach(f);
    f->req = NULL;
    if (!f->head_sent && !f->early) {
        gs_timing_tag(req, f->wait.queue_ms, f->wait.load_ms,
                      f->sent_ns ? (double)(gs_clock_ns() - f->sent_ns) / 1e6 : 0);
        gs_reply_error(req, 502, "bad_gateway", "model %s: %s", f->model, msg);
        f->status = 502;
        return;
    }
    if (f->sse || f->early) {
        /* An error event the OpenAI clients understand, then a clean end of the stream. */
        char ev[600];
        int k = snprintf(ev, sizeof ev,
                         "data: {\"error\":{\"message\":\"model %s: %s\",\"type\":\"server_error\","
                         "\"code\":502}}\n\n",
                         f->model, msg);
        gs_http_write(req, ev, (size_t)k);
        if (f->early)
            gs_fwd_end_early(f, req);
        else
            gs_http_end(req);
    } else {
        gs_http_abort(req);
    }
}
