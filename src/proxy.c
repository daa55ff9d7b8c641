#include "proxy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include "log.h"
#include "mem.h"
#include "router.h"
#include "upstream.h"

/* The lifecycle of one proxied request. */
typedef enum pstate {
    P_QUEUED = 0, /* waiting for its model (start, swap, or an earlier request) */
    P_PROXYING,   /* sent upstream; response on its way */
} pstate;

struct gs_pending {
    gs_server *s;
    gs_http_req *req;
    gs_proc *proc;
    pstate state;
    gs_pending *next, *prev;
    char *upath;
    char method[16];       /* copied: the request is reset when its response ends */
    char *body;            /* rewritten body, or NULL: req->body */
    size_t body_len;
    unsigned fails_seen;   /* proc->fails when queued: a newer failure is ours */
    gs_upstream_req *up;
    bool head_sent;
    bool sse;
    bool paused;
    int status;
    long events;           /* SSE data events seen */
    uint64_t t0;
    bool load_only;
    bool retried;          /* sent again once after the upstream vanished before answering */
    uint64_t sent_ns;      /* when it was dispatched upstream */
    uint64_t hold_until;   /* ns: not before then (a crash is being noticed) */        /* /api/models/load or preload: answer once the model is ready */
    char tail[512];        /* the last bytes of the body, to find usage.completion_tokens */
    size_t tail_len;
};

static const char *const hop_headers[] = {
    "connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer",
    "upgrade", "host", "content-length", "expect",
};

static bool is_hop(const char *name)
{
    for (size_t i = 0; i < GS_ARRAY_LEN(hop_headers); i++)
        if (strcasecmp(name, hop_headers[i]) == 0)
            return true;
    return false;
}

/* "Name: value\r\n" (on the request path: no printf). */
static void header_line(gs_buf *b, const gs_http_header *h)
{
    gs_buf_puts(b, h->name);
    gs_buf_append(b, ": ", 2);
    gs_buf_puts(b, h->value);
    gs_buf_append(b, "\r\n", 2);
}

static void pset(gs_pending *p, pstate st)
{
    if (gs_log_get_level() == GS_LOG_DEBUG)
        gs_debug("request %s %s for %s: %s -> %s", p->req ? p->req->method : "-", p->upath,
                 p->proc->id, p->state == P_QUEUED ? "queued" : "proxying",
                 st == P_QUEUED ? "queued" : "proxying");
    p->state = st;
}

/* ---- lists ---- */

static void unlink_p(gs_pending *p)
{
    gs_server *s = p->s;
    if (p->state == P_QUEUED) {
        if (p->prev)
            p->prev->next = p->next;
        else
            s->queue_head = p->next;
        if (p->next)
            p->next->prev = p->prev;
        else
            s->queue_tail = p->prev;
    } else {
        if (p->prev)
            p->prev->next = p->next;
        else
            s->active = p->next;
        if (p->next)
            p->next->prev = p->prev;
    }
    p->next = p->prev = NULL;
}

static void push_active(gs_pending *p)
{
    gs_server *s = p->s;
    p->prev = NULL;
    p->next = s->active;
    if (s->active)
        s->active->prev = p;
    s->active = p;
}

static void pending_free(gs_pending *p)
{
    free(p->upath);
    free(p->body);
    free(p);
}

static double elapsed_ms(const gs_pending *p)
{
    return (double)(uv_hrtime() - p->t0) / 1e6;
}

static long find_tokens(const gs_pending *p)
{
    /* llama-server (and OpenAI) report usage at the end of the body or of the stream. */
    const char *key = "\"completion_tokens\":";
    const char *hit = NULL;
    for (const char *q = p->tail; (q = memmem(q, p->tail_len - (size_t)(q - p->tail), key,
                                              strlen(key)));
         q++)
        hit = q;
    if (hit) {
        const char *v = hit + strlen(key);
        while (*v == ' ')
            v++;
        char *end;
        long n = strtol(v, &end, 10);
        if (end != v && n >= 0)
            return n;
    }
    if (p->sse && p->events > 1)
        return p->events - 1; /* one delta per token, less the [DONE] marker */
    return -1;
}

static void record(gs_pending *p, int status)
{
    gs_request_log r;
    memset(&r, 0, sizeof r);
    struct timeval tv;
    gettimeofday(&tv, NULL);
    r.time_ms = (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
    snprintf(r.model, sizeof r.model, "%s", p->proc->id);
    snprintf(r.method, sizeof r.method, "%s", p->method);
    snprintf(r.path, sizeof r.path, "%s", p->upath);
    char *q = strchr(r.path, '?');
    if (q)
        *q = 0;
    r.status = status;
    r.duration_ms = elapsed_ms(p);
    r.tokens = status == 200 ? find_tokens(p) : -1;
    gs_server_log_request(p->s, &r);
}

/* ---- failing ---- */

static void fail_pending(gs_pending *p, int status, const char *code, const char *msg)
{
    gs_http_req *req = p->req;
    unlink_p(p);
    if (req) {
        req->on_abort = NULL;
        req->on_drain = NULL;
        gs_server_error(req, status, code, "%s", msg);
    }
    if (!p->load_only)
        record(p, status);
    else if (!req)
        gs_warn("preload of %s failed: %s", p->proc->id, msg);
    pending_free(p);
}

void gs_proxy_fail_queued(gs_server *s, gs_proc *proc, int status, const char *msg)
{
    gs_pending *n;
    for (gs_pending *p = s->queue_head; p; p = n) {
        n = p->next;
        if (!proc || p->proc == proc)
            fail_pending(p, status, status == 503 ? "service_unavailable" : "bad_gateway", msg);
    }
}

int gs_proxy_queued(gs_server *s, const gs_proc *proc)
{
    int n = 0;
    for (gs_pending *p = s->queue_head; p; p = p->next)
        n += p->proc == proc;
    return n;
}

/* ---- forwarding ---- */

static void finish(gs_pending *p, int status)
{
    unlink_p(p);
    gs_proc_request_end(p->proc);
    record(p, status);
    gs_server_model_changed(p->s, p->proc); /* inflight and the TTL countdown moved */
    gs_server *s = p->s;
    pending_free(p);
    gs_proxy_pump(s);
}

static void on_head(gs_upstream_req *u, int status, const gs_http_header *h, int n,
                    int64_t clen, void *ud)
{
    gs_pending *p = ud;
    gs_buf hb;
    gs_buf_init(&hb, 128 * 1024);
    for (int i = 0; i < n; i++) {
        if (is_hop(h[i].name))
            continue;
        if (strcasecmp(h[i].name, "content-type") == 0 && strstr(h[i].value, "event-stream"))
            p->sse = true;
        header_line(&hb, &h[i]);
    }
    p->status = status;
    p->head_sent = true;
    gs_http_start(p->req, status, hb.data ? hb.data : "", clen);
    if (p->sse)
        gs_http_flush(p->req); /* the first token may take a while: show the stream began */
    gs_buf_free(&hb);
}

static void keep_tail(gs_pending *p, const char *d, size_t n)
{
    size_t cap = sizeof p->tail;
    if (n >= cap) {
        memcpy(p->tail, d + n - cap, cap);
        p->tail_len = cap;
        return;
    }
    if (p->tail_len + n > cap) {
        size_t drop = p->tail_len + n - cap;
        memmove(p->tail, p->tail + drop, p->tail_len - drop);
        p->tail_len -= drop;
    }
    memcpy(p->tail + p->tail_len, d, n);
    p->tail_len += n;
}

static void on_body(gs_upstream_req *u, const char *d, size_t n, void *ud)
{
    gs_pending *p = ud;
    if (p->sse) {
        for (const char *q = d; (q = memmem(q, n - (size_t)(q - d), "data:", 5)); q += 5)
            p->events++;
    }
    keep_tail(p, d, n);
    gs_http_write(p->req, d, n);
    if (!p->paused && gs_http_congested(p->req)) {
        /* The client is behind: leave the rest in the upstream socket until it drains. */
        p->paused = true;
        gs_upstream_pause(u);
    }
}

static void on_drain(gs_http_req *req, void *ud)
{
    gs_pending *p = ud;
    if (p->paused && p->up) {
        p->paused = false;
        gs_upstream_resume(p->up);
    }
}

static void end_with_error(gs_pending *p, const char *msg)
{
    if (!p->head_sent) {
        p->req->on_abort = NULL;
        p->req->on_drain = NULL;
        gs_server_error(p->req, 502, "bad_gateway", "model %s: %s", p->proc->id, msg);
        p->status = 502;
        return;
    }
    p->req->on_abort = NULL;
    p->req->on_drain = NULL;
    if (p->sse) {
        /* An error event the OpenAI clients understand, then a clean end of the stream. */
        char ev[600];
        int k = snprintf(ev, sizeof ev,
                         "data: {\"error\":{\"message\":\"model %s: %s\",\"type\":\"server_error\","
                         "\"code\":502}}\n\n",
                         p->proc->id, msg);
        gs_http_write(p->req, ev, (size_t)k);
        gs_http_end(p->req);
    } else {
        gs_http_abort(p->req);
    }
}

static void retry_cb(uv_timer_t *t)
{
    gs_proxy_pump(t->data);
}

/* Queue the request again (at the front) for 100 ms from now, by which time the model is either
 * seen stopped (and restarted) or answers again. */
static void requeue(gs_pending *p)
{
    gs_server *s = p->s;
    unlink_p(p);
    gs_proc_request_end(p->proc);
    p->retried = true;
    p->up = NULL;
    p->fails_seen = p->proc->fails;
    p->hold_until = uv_hrtime() + 100ull * 1000 * 1000;
    pset(p, P_QUEUED);
    p->prev = NULL;
    p->next = s->queue_head;
    if (s->queue_head)
        s->queue_head->prev = p;
    else
        s->queue_tail = p;
    s->queue_head = p;
    if (s->retry_timer.type == UV_TIMER) {
        s->retry_timer.data = s;
        uv_timer_start(&s->retry_timer, retry_cb, 110, 0);
    }
}

static void on_done(gs_upstream_req *u, int err, const char *msg, void *ud)
{
    gs_pending *p = ud;
    p->up = NULL;
    if (err)
        gs_proc_check_dead(p->proc);
    /* Refused, or closed without a byte right after we sent it: the model most likely had just
     * died and is about to be seen stopped, so send it once more to its restart. A request it
     * had been working on for longer may be what killed it: that one gets the error. */
    bool fresh = uv_hrtime() - p->sent_ns < 25ull * 1000 * 1000;
    if (!p->head_sent && !p->retried &&
        (err == UV_ECONNREFUSED || ((err == UV_EOF || err == UV_ECONNRESET) && fresh))) {
        gs_info("model %s: %s; trying the request again shortly", p->proc->id, msg);
        requeue(p);
        return;
    }
    if (err) {
        gs_warn("model %s: %s %s: %s", p->proc->id, p->req->method, p->upath, msg);
        end_with_error(p, msg);
        finish(p, p->head_sent ? p->status : 502);
        return;
    }
    p->req->on_abort = NULL;
    p->req->on_drain = NULL;
    gs_http_end(p->req);
    finish(p, p->status);
}

static const gs_upstream_cbs up_cbs = {on_head, on_body, on_done};

static void on_abort(gs_http_req *req, void *ud)
{
    gs_pending *p = ud;
    p->req = NULL;
    gs_server *s = p->s;
    if (p->state == P_QUEUED) {
        gs_debug("request for %s: client went away while queued", p->proc->id);
        unlink_p(p);
        if (!p->load_only)
            record(p, 499);
        pending_free(p);
        gs_proxy_pump(s);
        return;
    }
    gs_info("model %s: client went away; closing the upstream request", p->proc->id);
    if (p->up)
        gs_upstream_cancel(p->up);
    p->up = NULL;
    finish(p, 499);
}

static void dispatch(gs_pending *p)
{
    if (p->load_only) {
        gs_http_req *req = p->req;
        unlink_p(p);
        if (req) {
            req->on_abort = NULL;
            char body[600];
            int k = snprintf(body, sizeof body, "{\"ok\":true,\"model\":\"%s\",\"state\":\"ready\"}\n",
                             p->proc->id);
            gs_http_respond(req, 200, "application/json", body, (size_t)k, NULL);
        }
        pending_free(p);
        return;
    }
    unlink_p(p);
    pset(p, P_PROXYING);
    p->sent_ns = uv_hrtime();
    push_active(p);
    gs_proc_request_begin(p->proc);
    gs_http_req *req = p->req;
    const char *body = p->body ? p->body : req->body.data;
    size_t blen = p->body ? p->body_len : req->body.len;
    gs_buf h;
    gs_buf_init(&h, 0);
    gs_upstream_head(p->proc->pool, &h, req->method, p->upath);
    for (int i = 0; i < req->nheaders; i++)
        if (!is_hop(req->headers[i].name))
            header_line(&h, &req->headers[i]);
    if (blen || strcmp(req->method, "POST") == 0 || strcmp(req->method, "PUT") == 0)
        gs_buf_printf(&h, "Content-Length: %zu\r\n", blen);
    gs_buf_puts(&h, "\r\n");
    req->on_drain = on_drain;
    p->up = gs_upstream_send(p->proc->pool, h.data, h.len, body, blen, &up_cbs, p);
    gs_buf_free(&h);
}

/* ---- scheduling ---- */

static int index_of(gs_server *s, const gs_proc *proc)
{
    for (int i = 0; i < s->cfg->nmodels; i++)
        if (s->procs[i] == proc)
            return i;
    return -1;
}

static bool occupied(const gs_proc *p)
{
    /* Counts as running for the group rules until its child is really gone. */
    return (p->state != GS_PROC_STOPPED && p->state != GS_PROC_FAILED) || gs_proc_alive(p);
}

/* A retired process (reload) listening on the same port must be gone before a start. */
static bool port_busy(gs_server *s, const gs_proc *p)
{
    for (int i = 0; i < s->nretired; i++) {
        const gs_proc *r = s->retired[i];
        if (gs_proc_alive(r) && r->cfg && r->cfg->proxy_port == p->cfg->proxy_port)
            return true;
    }
    return false;
}

/* How long a model that an earlier request waits to swap out may still take new requests
 * while its requests in flight drain: A B A B is served A A B B (llama-swap's FIFO batching),
 * but a steady stream of A cannot starve B for longer than this. */
#define BATCH_WINDOW_NS (5ull * 1000 * 1000 * 1000)

enum { FREE = 0, DRAINING = 1, STOPPING = 2 };

static void pump_once(gs_server *s)
{
    int n = s->cfg->nmodels;
    /* wanted: an earlier request waits for it. doomed: an earlier request needs it gone, either
     * once its requests drain (DRAINING, since `since`) or now (STOPPING). */
    /* Runs twice per request: no allocation for configs of everyday size. */
    unsigned char wanted_s[64], doomed_s[64];
    uint64_t since_s[64];
    bool small = n <= 64;
    unsigned char *wanted = small ? wanted_s : gs_mem_alloc((size_t)n);
    unsigned char *doomed = small ? doomed_s : gs_mem_alloc((size_t)n);
    uint64_t *since = small ? since_s : gs_mem_alloc((size_t)n * sizeof *since);
    memset(wanted, 0, (size_t)n);
    memset(doomed, 0, (size_t)n);
    memset(since, 0, (size_t)n * sizeof *since);
    uint64_t now = uv_hrtime();
    gs_pending *next;
    for (gs_pending *p = s->queue_head; p; p = next) {
        next = p->next;
        int m = index_of(s, p->proc);
        if (m < 0) {
            fail_pending(p, 503, "service_unavailable", "the model was removed by a reload");
            continue;
        }
        gs_proc *proc = p->proc;
        if (proc->state == GS_PROC_FAILED && proc->fails != p->fails_seen) {
            char *msg = proc->error ? gs_mem_strdup(proc->error)
                                    : gs_mem_printf("model %s failed to start", proc->id);
            fail_pending(p, 502, "model_start_failed", msg);
            free(msg);
            continue;
        }
        if (p->hold_until > now) {
            wanted[m] = 1;
            continue;
        }
        bool any = false, busy = false, contested = false, alive = false;
        for (int r = 0; r < n; r++) {
            if (r == m || !occupied(s->procs[r]) || !gs_router_must_evict(s->cfg, m, r))
                continue;
            any = true;
            busy |= s->procs[r]->inflight > 0;
            contested |= wanted[r] != 0;
        }
        if (doomed[m]) {
            if (doomed[m] == DRAINING && !any && proc->state == GS_PROC_READY && !proc->dying &&
                now - since[m] < BATCH_WINDOW_NS) {
                dispatch(p);
                continue;
            }
            wanted[m] = 1;
            continue;
        }
        if (!any && proc->state == GS_PROC_READY && !proc->dying) {
            dispatch(p);
            continue;
        }
        if (!busy && !contested) {
            for (int r = 0; r < n; r++) {
                if (r == m || !occupied(s->procs[r]) || !gs_router_must_evict(s->cfg, m, r))
                    continue;
                char why[300];
                snprintf(why, sizeof why, "making way for %s", proc->id);
                gs_proc_stop(s->procs[r], why);
                alive |= occupied(s->procs[r]);
            }
            if (!alive && (proc->state == GS_PROC_STOPPED || proc->state == GS_PROC_FAILED) &&
                !gs_proc_alive(proc) && !port_busy(s, proc)) {
                /* A start that fails at once bumps proc->fails: the requests queued now see
                 * it as theirs on the next pass (the state change asks for one). */
                gs_proc_start(proc);
            }
        }
        wanted[m] = 1;
        int how = busy || contested ? DRAINING : STOPPING;
        for (int r = 0; r < n; r++) {
            if (r == m || !occupied(s->procs[r]) || !gs_router_must_evict(s->cfg, m, r))
                continue;
            if (how == STOPPING || doomed[r] == FREE) {
                if (doomed[r] == FREE || p->t0 < since[r])
                    since[r] = p->t0;
                doomed[r] = (unsigned char)(how > doomed[r] ? how : doomed[r]);
            }
        }
    }
    if (!small) {
        free(wanted);
        free(doomed);
        free(since);
    }
}

void gs_proxy_pump(gs_server *s)
{
    /* Stopping or starting a process calls back into the server, which pumps again: run the
     * loop here instead of recursing. */
    if (s->pumping) {
        s->pump_again = true;
        return;
    }
    s->pumping = true;
    do {
        s->pump_again = false;
        pump_once(s);
    } while (s->pump_again);
    s->pumping = false;
}

static void enqueue(gs_server *s, gs_pending *p)
{
    if (p->req) {
        p->req->ud = p;
        p->req->on_abort = on_abort;
    }
    p->state = P_QUEUED;
    p->prev = s->queue_tail;
    if (s->queue_tail)
        s->queue_tail->next = p;
    else
        s->queue_head = p;
    s->queue_tail = p;
    gs_proxy_pump(s);
}

void gs_proxy_load(gs_server *s, gs_http_req *req, int idx)
{
    gs_pending *p = gs_mem_calloc(1, sizeof *p);
    p->s = s;
    p->req = req;
    p->proc = s->procs[idx];
    p->upath = gs_mem_strdup("(load)");
    p->load_only = true;
    p->t0 = uv_hrtime();
    p->fails_seen = p->proc->fails;
    enqueue(s, p);
}

void gs_proxy_request(gs_server *s, gs_http_req *req, int idx, const char *upath, char *body,
                      size_t body_len)
{
    gs_proc *proc = s->procs[idx];
    gs_pending *p = gs_mem_calloc(1, sizeof *p);
    p->s = s;
    p->req = req;
    p->proc = proc;
    p->upath = gs_mem_strdup(upath);
    snprintf(p->method, sizeof p->method, "%s", req->method);
    p->body = body;
    p->body_len = body_len;
    p->t0 = req->start_ns ? req->start_ns : uv_hrtime();
    p->fails_seen = proc->fails;
    int limit = proc->cfg->concurrency_limit > 0 ? proc->cfg->concurrency_limit : 10;
    int load = proc->inflight + gs_proxy_queued(s, proc);
    if (load >= limit) {
        req->on_abort = NULL;
        gs_server_error(req, 429, "concurrency_limit",
                        "model %s is at its concurrency limit (%d requests); retry shortly",
                        proc->id, limit);
        p->state = P_PROXYING; /* not linked anywhere */
        record(p, 429);
        pending_free(p);
        return;
    }
    enqueue(s, p);
}

void gs_proxy_cancel_active(gs_server *s, gs_proc *proc, const char *msg)
{
    gs_pending *n;
    for (gs_pending *p = s->active; p; p = n) {
        n = p->next;
        if (proc && p->proc != proc)
            continue;
        if (p->up)
            gs_upstream_cancel(p->up);
        p->up = NULL;
        end_with_error(p, msg);
        unlink_p(p);
        gs_proc_request_end(p->proc);
        record(p, p->head_sent ? p->status : 502);
        pending_free(p);
    }
}

void gs_proxy_retarget(gs_server *s, gs_proc *old, gs_proc *now)
{
    for (gs_pending *p = s->queue_head; p; p = p->next)
        if (p->proc == old && now) {
            p->proc = now;
            p->fails_seen = now->fails;
        }
}
