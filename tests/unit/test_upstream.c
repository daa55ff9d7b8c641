/* The upstream client's timeouts (llama-swap's `timeouts`), against servers in this process:
 * a listener whose accept queue is full (a connect that never completes), one that reads the
 * request and answers late or never, one that sends the head and then the body late. Each
 * case checks the error, the message (address, seconds, key) and when it came. */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "config.h"
#include "tls.h"
#include "upstream.h"

#define MAX_SCONNS 16

typedef struct srv srv;
typedef struct sconn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    srv *s;
    int closing;  /* handles closed so far */
    bool answered_head;
} sconn;

struct srv {
    uv_loop_t *loop;
    uv_tcp_t tcp;
    int port;
    int head_after_ms; /* -1: never answers */
    int body_after_ms; /* 0: head and body at once; else the body this much later */
    int eofs;          /* connections the client closed */
    uint64_t eof_ms;   /* loop time of the last one */
    sconn *conns[MAX_SCONNS];
    int nconns;
};

static void sconn_closed(uv_handle_t *h)
{
    sconn *c = h->data;
    if (++c->closing == 2)
        free(c);
}

static void sconn_close(sconn *c)
{
    srv *s = c->s;
    for (int i = 0; i < s->nconns; i++)
        if (s->conns[i] == c)
            s->conns[i] = s->conns[--s->nconns];
    uv_close((uv_handle_t *)&c->tcp, sconn_closed);
    uv_close((uv_handle_t *)&c->timer, sconn_closed);
}

static void swrite(sconn *c, const char *text)
{
    uv_buf_t b = uv_buf_init((char *)text, (unsigned)strlen(text));
    cr_assert_eq(uv_try_write((uv_stream_t *)&c->tcp, &b, 1), (int)strlen(text));
}

static void stimer(uv_timer_t *t)
{
    sconn *c = t->data;
    if (!c->answered_head) {
        c->answered_head = true;
        if (c->s->body_after_ms > 0) {
            swrite(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n");
            uv_timer_start(&c->timer, stimer, (uint64_t)c->s->body_after_ms, 0);
            return;
        }
        swrite(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        return;
    }
    swrite(c, "ok");
}

static void salloc(uv_handle_t *h, size_t n, uv_buf_t *b)
{
    static char slab[4096];
    *b = uv_buf_init(slab, sizeof slab);
}

static void sread(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    sconn *c = st->data;
    if (n < 0) {
        c->s->eofs++;
        c->s->eof_ms = uv_now(c->s->loop);
        sconn_close(c);
        return;
    }
    /* Requests here are GETs without a body: their end is the blank line. */
    if (n >= 4 && memcmp(b->base + n - 4, "\r\n\r\n", 4) == 0) {
        c->answered_head = false;
        if (c->s->head_after_ms >= 0)
            uv_timer_start(&c->timer, stimer, (uint64_t)c->s->head_after_ms, 0);
    }
}

static void saccept(uv_stream_t *l, int status)
{
    srv *s = l->data;
    sconn *c = calloc(1, sizeof *c);
    c->s = s;
    uv_tcp_init(s->loop, &c->tcp);
    uv_timer_init(s->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    cr_assert_eq(uv_accept(l, (uv_stream_t *)&c->tcp), 0);
    cr_assert_lt(s->nconns, MAX_SCONNS);
    s->conns[s->nconns++] = c;
    uv_read_start((uv_stream_t *)&c->tcp, salloc, sread);
}

static void srv_start(srv *s, uv_loop_t *loop, int head_after_ms, int body_after_ms)
{
    memset(s, 0, sizeof *s);
    s->loop = loop;
    s->head_after_ms = head_after_ms;
    s->body_after_ms = body_after_ms;
    uv_tcp_init(loop, &s->tcp);
    s->tcp.data = s;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    cr_assert_eq(uv_tcp_bind(&s->tcp, (struct sockaddr *)&a, 0), 0);
    cr_assert_eq(uv_listen((uv_stream_t *)&s->tcp, 16, saccept), 0);
    int len = sizeof a;
    uv_tcp_getsockname(&s->tcp, (struct sockaddr *)&a, &len);
    s->port = ntohs(a.sin_port);
}

static void srv_stop(srv *s)
{
    while (s->nconns)
        sconn_close(s->conns[0]);
    uv_close((uv_handle_t *)&s->tcp, NULL);
    uv_run(s->loop, UV_RUN_DEFAULT); /* s is on the test's stack: every close completes here */
}

/* A listener that never accepts, with its queue already full of other connections: Linux
 * drops further SYNs, so a connect to it neither succeeds nor fails. */
typedef struct blackhole {
    int lfd, fill[3], port;
} blackhole;

static void blackhole_open(blackhole *b)
{
    b->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(b->lfd, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(listen(b->lfd, 0), 0);
    socklen_t len = sizeof a;
    getsockname(b->lfd, (struct sockaddr *)&a, &len);
    b->port = ntohs(a.sin_port);
    for (int i = 0; i < 3; i++) {
        b->fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        connect(b->fill[i], (struct sockaddr *)&a, sizeof a);
    }
    usleep(100 * 1000); /* the handshakes of the fillers complete */
}

static void blackhole_close(blackhole *b)
{
    for (int i = 0; i < 3; i++)
        close(b->fill[i]);
    close(b->lfd);
}

/* ---- the client side ---- */

typedef struct result {
    bool done;
    int status;
    int err;
    char msg[256];
    char body[16];
    uint64_t done_ms;
} result;

static uv_loop_t *g_loop;

static void on_head(gs_upstream_req *r, int status, const gs_http_header *h, int n,
                    int64_t content_length, void *ud)
{
    ((result *)ud)->status = status;
}

static void on_body(gs_upstream_req *r, const char *data, size_t len, void *ud)
{
    result *res = ud;
    strncat(res->body, data, len < sizeof res->body - strlen(res->body) - 1
                                 ? len
                                 : sizeof res->body - strlen(res->body) - 1);
}

static void on_done(gs_upstream_req *r, int err, const char *msg, void *ud)
{
    result *res = ud;
    res->done = true;
    res->err = err;
    snprintf(res->msg, sizeof res->msg, "%s", msg ? msg : "");
    res->done_ms = uv_now(g_loop);
}

static const gs_upstream_cbs cbs = {.on_head = on_head, .on_body = on_body, .on_done = on_done};

static void wake(uv_timer_t *t)
{
}

/* Run the loop until *flag or max_ms. */
static bool run_until(bool *flag, uint64_t max_ms)
{
    uv_timer_t t;
    uv_timer_init(g_loop, &t);
    /* A fresh clock first (the loop's may be stale after slow set-up), and a timer that repeats,
     * so that no uv_run below can block past the end waiting for some later event. */
    uv_update_time(g_loop);
    uv_timer_start(&t, wake, max_ms < 10 ? max_ms : 10, 10);
    uint64_t end = uv_now(g_loop) + max_ms;
    while (!*flag && uv_now(g_loop) < end)
        uv_run(g_loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(g_loop, UV_RUN_NOWAIT); /* t is on this stack: its close completes here */
    return *flag;
}

/* Let time pass on the loop (its handles keep working). */
static void run_for(uint64_t ms)
{
    bool never = false;
    run_until(&never, ms);
}

static gs_upstream_pool *pool_with(int port, gs_timeouts_cfg to)
{
    gs_upstream_pool *p = gs_upstream_pool_new(g_loop, "127.0.0.1", port, "");
    gs_upstream_pool_set_timeouts(p, &to);
    return p;
}

static uint64_t get(gs_upstream_pool *p, result *res)
{
    gs_buf h;
    gs_buf_init(&h, 0);
    gs_upstream_head(p, &h, "GET", "/x");
    gs_buf_puts(&h, "\r\n");
    memset(res, 0, sizeof *res);
    uv_update_time(g_loop);
    uint64_t t0 = uv_now(g_loop);
    gs_upstream_send(p, h.data, h.len, NULL, 0, &cbs, res);
    gs_buf_free(&h);
    return t0;
}

static void setup(void)
{
    g_loop = calloc(1, sizeof *g_loop);
    uv_loop_init(g_loop);
}

static void teardown(void)
{
    uv_run(g_loop, UV_RUN_DEFAULT); /* the close callbacks */
    cr_assert_eq(uv_loop_close(g_loop), 0, "a handle was left open");
    free(g_loop);
}

TestSuite(upstream, .init = setup, .fini = teardown, .timeout = 30);

Test(upstream, connect_timeout_names_the_address_and_the_key)
{
    blackhole b;
    blackhole_open(&b);
    gs_upstream_pool *p = pool_with(b.port, (gs_timeouts_cfg){.connect = 1});
    result res;
    uint64_t t0 = get(p, &res);
    cr_assert(run_until(&res.done, 5000), "no answer within 5 s");
    char want[128];
    snprintf(want, sizeof want, "cannot connect to 127.0.0.1:%d within 1 s (timeouts.connect)",
             b.port);
    cr_assert_eq(res.err, UV_ETIMEDOUT, "%d %s", res.err, res.msg);
    cr_assert_str_eq(res.msg, want);
    cr_assert_geq(res.done_ms - t0, 950, "after %llu ms", (unsigned long long)(res.done_ms - t0));
    cr_assert_lt(res.done_ms - t0, 2500, "after %llu ms", (unsigned long long)(res.done_ms - t0));
    gs_upstream_pool_free(p);
    blackhole_close(&b);
}

Test(upstream, response_header_timeout_ends_a_request_that_gets_no_head)
{
    srv s;
    srv_start(&s, g_loop, -1, 0);
    gs_upstream_pool *p = pool_with(s.port, (gs_timeouts_cfg){.connect = 5, .response_header = 1});
    result res;
    uint64_t t0 = get(p, &res);
    cr_assert(run_until(&res.done, 5000));
    char want[128];
    snprintf(want, sizeof want,
             "no response head from 127.0.0.1:%d within 1 s (timeouts.responseHeader)", s.port);
    cr_assert_eq(res.err, UV_ETIMEDOUT, "%d %s", res.err, res.msg);
    cr_assert_str_eq(res.msg, want);
    cr_assert_geq(res.done_ms - t0, 950);
    cr_assert_lt(res.done_ms - t0, 2500);
    run_for(200);
    cr_assert_eq(s.eofs, 1, "the connection was closed, so the server can stop working on it");
    gs_upstream_pool_free(p);
    srv_stop(&s);
}

Test(upstream, response_header_timeout_counts_the_head_only)
{
    /* A head within the limit and a body that comes after it has passed: a slow generation
     * is not cut (as Go's ResponseHeaderTimeout). */
    srv s;
    srv_start(&s, g_loop, 300, 1200);
    gs_upstream_pool *p = pool_with(s.port, (gs_timeouts_cfg){.response_header = 1});
    result res;
    get(p, &res);
    cr_assert(run_until(&res.done, 5000));
    cr_assert_eq(res.err, 0, "%s", res.msg);
    cr_assert_eq(res.status, 200);
    cr_assert_str_eq(res.body, "ok");
    /* With none (0, the models' default) a late head is waited for. */
    gs_upstream_pool *q = pool_with(s.port, (gs_timeouts_cfg){0});
    s.head_after_ms = 1500;
    s.body_after_ms = 0;
    get(q, &res);
    cr_assert(run_until(&res.done, 5000));
    cr_assert_eq(res.err, 0, "%s", res.msg);
    cr_assert_str_eq(res.body, "ok");
    gs_upstream_pool_free(p);
    gs_upstream_pool_free(q);
    srv_stop(&s);
}

Test(upstream, idle_conn_closes_a_pooled_connection_and_the_next_request_opens_one)
{
    srv s;
    srv_start(&s, g_loop, 0, 0);
    gs_upstream_pool *p = pool_with(s.port, (gs_timeouts_cfg){.idle_conn = 1});
    result res;
    get(p, &res);
    cr_assert(run_until(&res.done, 3000));
    cr_assert_eq(res.err, 0, "%s", res.msg);
    uint64_t t_idle = res.done_ms;
    run_for(600);
    cr_assert_eq(s.eofs, 0, "still pooled before idleConn");
    run_for(900);
    cr_assert_eq(s.eofs, 1, "closed once idle for idleConn");
    cr_assert_geq(s.eof_ms - t_idle, 950);
    get(p, &res);
    cr_assert(run_until(&res.done, 3000));
    cr_assert_eq(res.err, 0, "%s", res.msg);
    cr_assert_str_eq(res.body, "ok");
    gs_upstream_pool_free(p);
    srv_stop(&s);
}

/* The socket of this process connected to port (the client side of a pooled connection). */
static int client_fd_to(int port)
{
    for (int fd = 3; fd < 1024; fd++) {
        struct sockaddr_in a;
        socklen_t len = sizeof a;
        if (getpeername(fd, (struct sockaddr *)&a, &len) == 0 && a.sin_family == AF_INET &&
            ntohs(a.sin_port) == port)
            return fd;
    }
    return -1;
}

Test(upstream, keepalive_sets_the_tcp_keepalive_period)
{
    static const struct {
        int keepalive, want_idle;
    } cases[] = {{7, 7}, {0, 15} /* Go's dialer default */};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        srv s;
        srv_start(&s, g_loop, 0, 0);
        gs_upstream_pool *p = pool_with(s.port, (gs_timeouts_cfg){.keepalive = cases[i].keepalive});
        result res;
        get(p, &res);
        cr_assert(run_until(&res.done, 3000));
        cr_assert_eq(res.err, 0, "%s", res.msg);
        int fd = client_fd_to(s.port);
        cr_assert_geq(fd, 0, "the pooled connection");
        int on = 0, idle = 0;
        socklen_t len = sizeof on;
        getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, &len);
        len = sizeof idle;
        getsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, &len);
        cr_assert_eq(on, 1);
        cr_assert_eq(idle, cases[i].want_idle, "keepalive %d", cases[i].keepalive);
        gs_upstream_pool_free(p);
        srv_stop(&s);
        uv_run(g_loop, UV_RUN_DEFAULT);
    }
}

Test(upstream, tls_handshake_timeout_ends_a_handshake_the_server_never_answers)
{
    /* The server reads the ClientHello and says nothing (it waits for an HTTP request end). */
    srv s;
    srv_start(&s, g_loop, -1, 0);
    char err[300] = "";
    gs_tls_ctx *ctx = gs_tls_client_ctx_new(err, sizeof err);
    cr_assert_not_null(ctx, "%s", err);
    gs_upstream_pool *p = pool_with(s.port, (gs_timeouts_cfg){.tls_handshake = 1});
    gs_upstream_pool_set_tls(p, ctx);
    gs_tls_ctx_free(ctx); /* the pool holds its own reference */
    result res;
    uint64_t t0 = get(p, &res);
    cr_assert(run_until(&res.done, 5000));
    char want[160];
    snprintf(want, sizeof want,
             "TLS handshake with 127.0.0.1:%d did not finish within 1 s (timeouts.tlsHandshake)",
             s.port);
    cr_assert_eq(res.err, UV_ETIMEDOUT, "%d %s", res.err, res.msg);
    cr_assert_str_eq(res.msg, want);
    cr_assert_geq(res.done_ms - t0, 950);
    cr_assert_lt(res.done_ms - t0, 2500);
    gs_upstream_pool_free(p);
    srv_stop(&s);
}

Test(upstream, https_to_a_plain_http_server_fails_the_handshake_clearly)
{
    /* A plain HTTP server answers the ClientHello's bytes with a 400 head: not TLS. */
    srv s;
    srv_start(&s, g_loop, 0, 0);
    char err[300] = "";
    gs_tls_ctx *ctx = gs_tls_client_ctx_new(err, sizeof err);
    cr_assert_not_null(ctx, "%s", err);
    gs_upstream_pool *p = pool_with(s.port, (gs_timeouts_cfg){.tls_handshake = 5});
    gs_upstream_pool_set_tls(p, ctx);
    gs_tls_ctx_free(ctx);
    result res;
    s.head_after_ms = -1;
    get(p, &res);
    /* Make the server speak HTTP at the first bytes it gets. */
    run_for(200);
    cr_assert_eq(s.nconns, 1);
    swrite(s.conns[0], "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    cr_assert(run_until(&res.done, 5000));
    char want[64];
    snprintf(want, sizeof want, "TLS handshake with 127.0.0.1:%d failed: ", s.port);
    cr_assert_neq(res.err, 0);
    cr_assert(strncmp(res.msg, want, strlen(want)) == 0, "%s", res.msg);
    gs_upstream_pool_free(p);
    srv_stop(&s);
}
