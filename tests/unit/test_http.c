/* The HTTP server's writes, through a real socket: a response made of pieces of every size
 * (those that wait for the end of the loop turn and those past OUT_MAX that go at once) reaches
 * the client whole and in order, on keep-alive connections, pipelined ones and ones that end
 * with Connection: close (whose shutdown must come after the waiting bytes). Each case runs
 * with a known Content-Length (its writes wait for the turn's end) and as a stream of unknown
 * length (they go at once). A blocking client in a thread of its own talks to a gs_http_server
 * on this thread's loop. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "buf.h"
#include "http.h"

/* A response: the sizes of its body pieces, written in one handler call or, after a "0" entry,
 * the rest from a timer (a later loop turn). Piece i is filled with the letter 'a' + i % 26. */
typedef struct rcase {
    const char *path;
    int sizes[8];
} rcase;

static const rcase g_cases[] = {
    {"/small-large-small", {1, 40000, 1, -1}},
    {"/many-small", {2500, 2500, 2500, 2500, 2500, 2500, 2500, 2500}},
    {"/large-first", {70000, 3, 3, -1}},
    {"/later-turn", {5, 0, 20000, 7, -1}},
    {"/respond", {-1}}, /* gs_http_respond with a 2-byte body */
};

typedef struct pending {
    uv_timer_t timer;
    gs_http_req *req;
    const rcase *rc;
    int next;
} pending;

static uv_loop_t *g_loop;
static gs_http_server *g_srv;
static uv_async_t g_done;
static int g_port;

static const rcase *case_of(const char *path)
{
    for (size_t i = 0; i < sizeof g_cases / sizeof g_cases[0]; i++)
        if (strcmp(g_cases[i].path, path) == 0)
            return &g_cases[i];
    return NULL;
}

static void write_piece(gs_http_req *req, int i, int n)
{
    char *p = malloc((size_t)n);
    memset(p, 'a' + i % 26, (size_t)n);
    cr_assert_eq(gs_http_write(req, p, (size_t)n), 0);
    free(p);
}

/* Pieces from `from` on, up to the end or a 0 (the rest then waits for the timer). */
static int write_from(gs_http_req *req, const rcase *rc, int from)
{
    int i = from;
    for (; i < 8 && rc->sizes[i] > 0; i++)
        write_piece(req, i, rc->sizes[i]);
    if (i < 8 && rc->sizes[i] == 0)
        return i + 1;
    gs_http_end(req);
    return -1;
}

static void pending_closed(uv_handle_t *h)
{
    free(h->data);
}

static void later(uv_timer_t *t)
{
    pending *p = t->data;
    p->next = write_from(p->req, p->rc, p->next);
    cr_assert_eq(p->next, -1, "one pause per case");
    uv_close((uv_handle_t *)t, pending_closed);
}

static void handler(gs_http_req *req, void *ud)
{
    const rcase *rc = case_of(req->path);
    if (!rc) {
        gs_http_respond(req, 404, "text/plain", "no", 2, NULL);
        return;
    }
    if (rc->sizes[0] < 0) {
        gs_http_respond(req, 200, "text/plain", "ok", 2, NULL);
        return;
    }
    int64_t len = -1; /* "?len": the length is known up front */
    if (strcmp(req->query, "len") == 0)
        for (int i = len = 0; i < 8 && rc->sizes[i] >= 0; i++)
            len += rc->sizes[i];
    cr_assert_eq(gs_http_start(req, 200, "Content-Type: text/plain\r\n", len), 0);
    int next = write_from(req, rc, 0);
    if (next < 0)
        return;
    pending *p = calloc(1, sizeof *p);
    p->req = req, p->rc = rc, p->next = next;
    uv_timer_init(g_loop, &p->timer);
    p->timer.data = p;
    uv_timer_start(&p->timer, later, 1, 0);
}

/* What a case's body must be. */
static void expect_body(const rcase *rc, gs_buf *b)
{
    if (rc->sizes[0] < 0) {
        gs_buf_puts(b, "ok");
        return;
    }
    for (int i = 0; i < 8 && rc->sizes[i] >= 0; i++)
        for (int k = 0; k < rc->sizes[i]; k++)
            gs_buf_append(b, (char[]){(char)('a' + i % 26)}, 1);
}

/* ---- the client (its own thread, blocking sockets) ---- */

typedef struct client {
    const char *send;  /* the requests, written at once */
    gs_buf got;        /* everything read until the server closed */
} client;

static void *client_main(void *arg)
{
    client *cl = arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
        size_t len = strlen(cl->send), off = 0;
        while (off < len) {
            ssize_t n = write(fd, cl->send + off, len - off);
            if (n <= 0)
                break;
            off += (size_t)n;
        }
        char buf[8192];
        ssize_t n;
        while ((n = read(fd, buf, sizeof buf)) > 0)
            gs_buf_append(&cl->got, buf, (size_t)n);
    }
    close(fd);
    uv_async_send(&g_done);
    return NULL;
}

static void done_cb(uv_async_t *a)
{
    gs_http_server_close(g_srv);
    uv_close((uv_handle_t *)a, NULL);
}

/* Serve until the client has read to the end; what it got is in cl->got. */
static void run_client(client *cl)
{
    g_loop = uv_default_loop();
    int rc = -1;
    for (int i = 0; i < 50 && rc < 0; i++) {
        char addr[32];
        g_port = 20000 + (int)((getpid() * 7 + i * 131) % 30000);
        snprintf(addr, sizeof addr, "127.0.0.1:%d", g_port);
        rc = gs_http_server_start(g_loop, addr, NULL, handler, NULL, &g_srv);
    }
    cr_assert_eq(rc, 0, "no free port for the server");
    uv_async_init(g_loop, &g_done, done_cb);
    gs_buf_init(&cl->got, 16 << 20);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, client_main, cl), 0);
    uv_run(g_loop, UV_RUN_DEFAULT);
    pthread_join(th, NULL);
}

/* One response at *at in got: its status and de-chunked (or until-close) body. */
static int parse_response(const gs_buf *got, size_t *at, gs_buf *body)
{
    const char *s = got->data + *at;
    const char *end = strstr(s, "\r\n\r\n");
    cr_assert(end, "a whole response head at byte %zu", *at);
    int status = atoi(s + 9);
    bool chunked = memmem(s, (size_t)(end - s), "Transfer-Encoding: chunked", 26) != NULL;
    const char *cl = memmem(s, (size_t)(end - s), "Content-Length: ", 16);
    const char *p = end + 4, *lim = got->data + got->len;
    if (chunked) {
        for (;;) {
            char *e;
            unsigned long n = strtoul(p, &e, 16);
            cr_assert(e < lim && e[0] == '\r', "a chunk size line");
            p = e + 2;
            if (n == 0) {
                p += 2;
                break;
            }
            cr_assert((size_t)(lim - p) >= n + 2, "chunk of %lu bytes whole", n);
            gs_buf_append(body, p, n);
            p += n + 2;
        }
    } else if (cl) {
        size_t n = strtoul(cl + 16, NULL, 10);
        cr_assert((size_t)(lim - p) >= n);
        gs_buf_append(body, p, n);
        p += n;
    } else {
        gs_buf_append(body, p, (size_t)(lim - p));
        p = lim;
    }
    *at = (size_t)(p - got->data);
    return status;
}

/* path: a case's path, with or without "?len". */
static void check_case(const gs_buf *got, size_t *at, const char *path)
{
    char p[64];
    snprintf(p, sizeof p, "%.*s", (int)strcspn(path, "?"), path);
    gs_buf body, want;
    gs_buf_init(&body, 0);
    gs_buf_init(&want, 0);
    expect_body(case_of(p), &want);
    cr_assert_eq(parse_response(got, at, &body), 200, "%s: status", path);
    cr_assert_eq(body.len, want.len, "%s: %zu body bytes, want %zu", path, body.len, want.len);
    cr_assert(memcmp(body.data, want.data, want.len) == 0, "%s: the bytes in order", path);
    gs_buf_free(&body);
    gs_buf_free(&want);
}

/* Every case alone, ending with Connection: close: the body runs until the close, so a
 * shutdown sent before the waiting bytes would cut it short. */
Test(http, each_case_then_close)
{
    for (size_t i = 0; i < 2 * (sizeof g_cases / sizeof g_cases[0]); i++) {
        char path[64], req[256];
        snprintf(path, sizeof path, "%s%s", g_cases[i / 2].path, i % 2 ? "?len" : "");
        snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                 path);
        client cl = {.send = req};
        run_client(&cl);
        size_t at = 0;
        check_case(&cl.got, &at, path);
        cr_assert_eq(at, cl.got.len, "%s: nothing after the body", path);
        gs_buf_free(&cl.got);
    }
}

/* All cases pipelined on one keep-alive connection (chunked bodies), the last one closing. */
Test(http, pipelined_keep_alive)
{
    gs_buf req;
    gs_buf_init(&req, 0);
    size_t n = 2 * (sizeof g_cases / sizeof g_cases[0]);
    char paths[16][64];
    for (size_t i = 0; i < n; i++) {
        snprintf(paths[i], sizeof paths[i], "%s%s", g_cases[i / 2].path, i % 2 ? "?len" : "");
        gs_buf_printf(&req, "GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n", paths[i],
                      i + 1 == n ? "Connection: close\r\n" : "");
    }
    client cl = {.send = req.data};
    run_client(&cl);
    size_t at = 0;
    for (size_t i = 0; i < n; i++)
        check_case(&cl.got, &at, paths[i]);
    cr_assert_eq(at, cl.got.len);
    gs_buf_free(&cl.got);
    gs_buf_free(&req);
}
