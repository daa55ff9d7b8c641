/* fuzz_http: raw bytes from a client through the real request path: libuv reads them from a
 * stream socket, llhttp parses them (http.c), gs_api_handle routes them (auth, JSON and
 * multipart `model`, /upstream paths, query decoding, service and model routes), and the
 * answers go back over the socket. Nothing is started: every model's proxy port is the
 * fuzzer's own listening port, so a start fails at once with "port in use" and requests for
 * real models get their error through the proxy's queue.
 *
 * Input: byte 0 chooses the server (bit 0: with apiKeys), how the bytes are cut into writes
 * (bits 1-3), and whether two watchers (the page's /api/events and a /logs/stream) are connected
 * meanwhile, so that what the input does is published to live streams (bit 4); the rest is what
 * the client sends. The client half-closes after sending, then
 * closes; the connection must be gone after that. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <llhttp.h>

#include "config.h"
#include "events.h"
#include "http.h"
#include "log.h"
#include "mem.h"
#include "server.h"

/* src/http.c, built with -DGS_FUZZING. */
int gs_http_fuzz_adopt(gs_http_server *s, int fd);

static uv_loop_t *g_loop;
static gs_http_server *g_http;
static gs_server g_srv[2];
static int g_mode;
static bool g_echo; /* FUZZ_HTTP_ECHO=1: print what the server answers (reproducing) */

/* The oracle: what the server writes must parse as a sequence of HTTP/1.1 responses, with
 * nothing after one that says Connection: close. (A HEAD answer carries a Content-Length but no
 * body, which a response parser cannot know: inputs with HEAD are not checked.) */
static llhttp_settings_t g_rsettings;
static llhttp_t g_rparser;
static bool g_check;
static llhttp_errno_t g_rerr;
static char g_rwhere[200];

static void check_response(const char *buf, size_t n)
{
    if (!g_check || g_rerr != HPE_OK)
        return;
    llhttp_errno_t e = llhttp_execute(&g_rparser, buf, n);
    if (e != HPE_OK) {
        g_rerr = e;
        snprintf(g_rwhere, sizeof g_rwhere, "%s", llhttp_get_error_reason(&g_rparser));
    }
}

#define CFG_TEXT \
    "healthCheckTimeout: 15\n" \
    "logLevel: error\n" \
    "%s" \
    "macros:\n" \
    "  llama: /nonexistent/llama-server --port ${PORT}\n" \
    "models:\n" \
    "  \"llama3.2:1b-instruct\":\n" \
    "    cmd: ${llama} -m /m/a.gguf\n" \
    "    proxy: http://127.0.0.1:%d\n" \
    "    aliases: [gpt-4, \"org/alias:q4\"]\n" \
    "    name: Llama\n" \
    "    description: a model\n" \
    "    filters:\n" \
    "      stripParams: \"temperature, top_p\"\n" \
    "      setParams: {top_k: 40}\n" \
    "  \"org/model:7b\":\n" \
    "    cmd: ${llama} -m /m/b.gguf\n" \
    "    proxy: http://127.0.0.1:%d\n" \
    "    useModelName: real/name\n" \
    "    concurrencyLimit: 1\n" \
    "    ttl: 5\n" \
    "  org:\n" \
    "    cmd: ${llama} -m /m/c.gguf\n" \
    "    proxy: http://localhost:%d\n" \
    "    checkEndpoint: none\n" \
    "  emb:\n" \
    "    cmd: ${llama} --embedding\n" \
    "    proxy: http://127.0.0.1:%d\n" \
    "    unlisted: true\n" \
    "groups:\n" \
    "  pair:\n" \
    "    swap: false\n" \
    "    exclusive: false\n" \
    "    members: [emb, org]\n"

static void handler(gs_http_req *req, void *ud)
{
    gs_api_handle(req, &g_srv[g_mode]);
}

static void setup_server(gs_server *s, int port, bool keys)
{
    char text[4096];
    snprintf(text, sizeof text, CFG_TEXT, keys ? "apiKeys: [sk-fuzz, \"k2:x\"]\n" : "", port,
             port, port, port);
    gs_config *cfg = NULL;
    gs_diag d = {0};
    if (gs_config_parse(text, strlen(text), "fuzz.yaml", &cfg, &d) < 0) {
        char *all = gs_diag_join(&d);
        fprintf(stderr, "fuzz_http: config rejected:\n%s\n", all);
        abort();
    }
    gs_diag_free(&d);
    s->loop = g_loop;
    s->listen = gs_mem_printf("127.0.0.1:%d", port);
    s->events = gs_events_new(g_loop);
    s->log_level_forced = true;
    gs_server_apply_config(s, cfg);
    s->http = g_http;
    s->state = GS_SERVICE_RUNNING;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    signal(SIGPIPE, SIG_IGN);
    g_echo = getenv("FUZZ_HTTP_ECHO") != NULL;
    /* FUZZ_HTTP_LOG=1: ggswap's debug log on stderr (reproducing). */
    gs_log_set_quiet(getenv("FUZZ_HTTP_LOG") == NULL);
    gs_log_set_level(getenv("FUZZ_HTTP_LOG") ? GS_LOG_DEBUG : GS_LOG_ERROR);
    gs_proc_set_shim(NULL);
    llhttp_settings_init(&g_rsettings);
    g_loop = uv_default_loop();
    /* Small limits, so that 413 and 431 are within the fuzzer's input sizes. */
    gs_http_limits lim = {.max_head = 600, .max_body = 700};
    /* A port of our own: the listener is never connected to, it only makes model ports busy. */
    int port = 0;
    for (int i = 0; i < 2000 && !g_http; i++) {
        port = 20000 + (int)((getpid() * 7 + i * 131) % 40000);
        char addr[32];
        snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
        if (gs_http_server_start(g_loop, addr, &lim, handler, NULL, &g_http) < 0)
            g_http = NULL;
    }
    if (!g_http)
        abort();
    setup_server(&g_srv[0], port, false);
    setup_server(&g_srv[1], port, true);
    return 0;
}

static size_t drain(int fd, bool *eof, bool check)
{
    char buf[65536];
    size_t total = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n > 0) {
            total += (size_t)n;
            if (g_echo && check)
                fwrite(buf, 1, (size_t)n > 2000 ? 2000 : (size_t)n, stderr);
            if (check)
                check_response(buf, (size_t)n);
            continue;
        }
        if (n == 0 && eof)
            *eof = true;
        return total;
    }
}

static void pump(int fd, bool *eof)
{
    uv_run(g_loop, UV_RUN_NOWAIT);
    drain(fd, eof, true);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    static const size_t cuts[8] = {0, 1, 2, 3, 7, 16, 100, 4096};
    if (len < 1 || len > 256 * 1024)
        return 0;
    if (g_echo)
        fprintf(stderr, "[fuzz_http: input of %zu bytes]\n", len);
    g_mode = data[0] & 1;
    size_t cut = cuts[(data[0] >> 1) & 7];
    data++;
    len--;
    g_check = !memmem(data, len, "HEAD", 4);
    g_rerr = HPE_OK;
    llhttp_init(&g_rparser, HTTP_RESPONSE, &g_rsettings);
    for (int i = 0; i < 2; i++)
        if (g_srv[i].state != GS_SERVICE_RUNNING)
            gs_server_service_start(&g_srv[i]);

    int watch[2] = {-1, -1};
    if (data[-1] & 0x10) {
        static const char *const wreq[2] = {
            "GET /api/events HTTP/1.1\r\nAuthorization: Bearer sk-fuzz\r\n\r\n",
            "GET /logs/stream HTTP/1.1\r\nX-Api-Key: k2:x\r\n\r\n"};
        for (int i = 0; i < 2; i++) {
            int wv[2];
            if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, wv) < 0 ||
                gs_http_fuzz_adopt(g_http, wv[0]) < 0)
                abort();
            fcntl(wv[1], F_SETFL, fcntl(wv[1], F_GETFL) | O_NONBLOCK);
            if (write(wv[1], wreq[i], strlen(wreq[i])) < 0)
                abort();
            watch[i] = wv[1];
        }
        uv_run(g_loop, UV_RUN_NOWAIT);
    }

    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        abort();
    fcntl(sv[1], F_SETFL, fcntl(sv[1], F_GETFL) | O_NONBLOCK);
    if (gs_http_fuzz_adopt(g_http, sv[0]) < 0)
        abort();

    bool eof = false;
    size_t off = 0;
    int stuck = 0;
    while (off < len && !eof && stuck < 50) {
        size_t n = cut && len - off > cut ? cut : len - off;
        ssize_t w = write(sv[1], data + off, n);
        if (w > 0) {
            off += (size_t)w;
            stuck = 0;
        } else if (w < 0 && errno != EAGAIN) {
            break; /* the server closed the connection */
        } else {
            stuck++;
        }
        pump(sv[1], &eof);
    }
    for (int i = 0; i < 4; i++)
        pump(sv[1], &eof);
    for (int i = 0; i < 2; i++)
        if (watch[i] >= 0) {
            drain(watch[i], NULL, false);
            close(watch[i]);
        }
    shutdown(sv[1], SHUT_WR);
    for (int i = 0; i < 20 && gs_http_server_connections(g_http) > 0; i++)
        pump(sv[1], &eof);
    close(sv[1]);
    for (int i = 0; i < 20 && gs_http_server_connections(g_http) > 0; i++)
        uv_run(g_loop, UV_RUN_NOWAIT);
    if (g_rerr != HPE_OK) {
        fprintf(stderr, "fuzz_http: the server's output is not valid HTTP: %s: %s\n",
                llhttp_errno_name(g_rerr), g_rwhere);
        abort();
    }
    if (gs_http_server_connections(g_http) > 0) {
        fprintf(stderr, "fuzz_http: the connection outlived its client\n");
        abort();
    }
    return 0;
}
