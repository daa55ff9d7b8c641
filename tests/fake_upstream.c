/* fake-upstream: a stand-in for llama.cpp's llama-server in ggswap's tests and benchmarks.
 *
 * It speaks just enough of llama-server's HTTP API to be proxied (health while "loading", chat
 * and text completions with or without SSE streaming, embeddings, rerank, model list), and its
 * answers say which model answered and echo the request body, so tests can see where ggswap
 * routed a request and how it rewrote it. Request body fields steer failure modes a real server
 * shows only by accident: mid-stream crashes, slow headers, garbage replies. Command-line flags
 * steer the process: slow start, failed start, refusing SIGTERM, dying on its own, a port that
 * never accepts (--blackhole: connects to it hang, for connect timeouts).
 *
 * It is also the "direct" baseline of the benchmarks, so it runs one libuv loop, answers with
 * Content-Length, keeps connections alive and allocates little per request.
 * Everything it says goes to stderr, one line per event, prefixed with its model name.
 *
 * GET /ws with a WebSocket upgrade (RFC 6455) answers 101 and then, per text message: "info" ->
 * a JSON text with the request's path, Host and Origin; "flood N" -> N bytes in 64 KiB binary
 * messages, each written only once the previous one left (so it shows backpressure), then
 * "flood done" on stderr; "close" -> a close frame (1000) from the server; anything else is
 * echoed with its opcode. Pings get pongs, a close gets a close. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>
#include <llhttp.h>
#include <uv.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "buf.h"
#include "mem.h"

#define MAX_URL (16 * 1024)
#define MAX_BODY (64 * 1024 * 1024)
#define MAX_PENDING (1024 * 1024)
#define MAX_CHUNKS 1000000

static struct {
    const char *host;
    int port;
    const char *name;
    uint64_t health_delay_ms;
    int ignore_sigterm;
    int64_t exit_after_ms;     /* -1: never */
    int exit_code;
    const char *fail_start;
    long long alloc_mb;    /* --alloc MB: really allocated and touched, like a loaded model */
    const char *slot_dir;      /* --slot-save-path: POST /slots/0?action=save|restore work */
    uint64_t slot_delay_ms;    /* --slot-save-delay: a save answers this late */
    int blackhole;             /* --blackhole: listen, never accept, queue full */
} opt = { "127.0.0.1", 0, "fake", 0, 0, -1, 0, NULL, 0, NULL, 0, 0 };

static uv_loop_t *loop;
static uv_tcp_t server;
static uv_signal_t sig_term, sig_int;
static uv_timer_t exit_timer;
static uint64_t start_ms;
static unsigned long n_requests;  /* inference requests answered; "fake:<NAME>:<n>" */
static int exit_status;
static unsigned long n_restored;  /* slot files restored since start (in every answer) */
static int shutting_down;
static char read_slab[64 * 1024];  /* one loop, read callbacks consume synchronously */

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "fake-upstream %s: %s\n", opt.name, line);
}

/* ---- connections ------------------------------------------------------------------------- */

typedef enum conn_state {
    CS_READING,    /* waiting for (the rest of) a request */
    CS_WAITING,    /* request complete, answer delayed by a timer (hang_ms, /slow) */
    CS_STREAMING,  /* sending SSE chunks */
    CS_FLUSHING,   /* last bytes of an answer queued; next request or close when written */
    CS_WS,         /* after a WebSocket upgrade: frames */
    CS_CLOSING,
} conn_state;

typedef enum api_kind { API_CHAT, API_TEXT, API_NATIVE } api_kind;

typedef struct conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    int handles_open;
    conn_state state;
    llhttp_t parser;
    int keep_alive;
    int header_is_expect;  /* the header being parsed is Expect: (curl sends it for big bodies) */
    int expect_continue;
    gs_buf url;
    gs_buf body;
    gs_buf pending;     /* bytes that arrived after a complete request (pipelining) */
    char *delayed;      /* answer to send when the timer fires (CS_WAITING) */
    size_t delayed_len;
    /* stream */
    api_kind api;
    int n_chunks;
    int chunks_sent;    /* chunks the client's socket accepted */
    int chunk_ms;
    int crash_after;    /* -1: never */
    int include_usage;
    int stamp;          /* "stamp": true: each content chunk carries "t_us" (benchmarks) */
    unsigned long req_no;
    char *model_json;   /* "model" of the answer, a JSON string literal */
    json_t *echo;       /* the request body, echoed in the final chunk */
    /* WebSocket: the request's headers it needs, frames in, a flood in progress */
    char hname[32];     /* the header being parsed (lower case, cut at 31 bytes) */
    size_t hname_len;
    int hname_done;     /* its value is arriving */
    char ws_key[64], ws_host[256], ws_origin[256];
    gs_buf ws_in;
    uint64_t flood_left, flood_total;
} conn;

enum { WR_LAST = 1, WR_CHUNK = 2, WR_CLOSE = 4, WR_FLOOD = 8 };

typedef struct wreq {
    uv_write_t req;
    int flags;
    size_t len;
    char data[];
} wreq;

static llhttp_settings_t http_settings;

static void conn_set_state(conn *c, conn_state s)
{
    c->state = s;
}

static void conn_closed(uv_handle_t *h)
{
    conn *c = h->data;
    if (--c->handles_open > 0)
        return;
    gs_buf_free(&c->ws_in);
    gs_buf_free(&c->url);
    gs_buf_free(&c->body);
    gs_buf_free(&c->pending);
    free(c->delayed);
    free(c->model_json);
    json_decref(c->echo);
    free(c);
}

static void conn_close(conn *c)
{
    if (c->state == CS_CLOSING)
        return;
    conn_set_state(c, CS_CLOSING);
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, conn_closed);
    uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

/* The client went away (EOF, reset or a failed write). llama-server cancels the generation
 * then, and tests check that ggswap passes the disconnect on, so it is logged. */
static void conn_peer_gone(conn *c, int err)
{
    if (c->state == CS_STREAMING)
        say("client closed stream after %d chunks (%s)", c->chunks_sent,
            err == UV_EOF ? "EOF" : uv_err_name(err));
    else if (c->state == CS_WAITING)
        say("client closed request before the answer (%s)", err == UV_EOF ? "EOF" : uv_err_name(err));
    else if (c->state == CS_WS)
        say("websocket closed by the client (%s)", err == UV_EOF ? "EOF" : uv_err_name(err));
    conn_close(c);
}

static void stream_next(conn *c);
static void on_stream_timer(uv_timer_t *t);
static void conn_request_done(conn *c);
static void ws_flood_next(conn *c);

static void on_write(uv_write_t *req, int status)
{
    wreq *w = (wreq *)req;
    conn *c = req->data;
    int flags = w->flags;
    free(w);
    if (c->state == CS_CLOSING)
        return;
    if (status < 0) {
        conn_peer_gone(c, status);
        return;
    }
    if (flags & WR_CLOSE) {
        conn_close(c);
        return;
    }
    if (flags & WR_FLOOD) {
        ws_flood_next(c);
        return;
    }
    if (flags & WR_CHUNK) {
        c->chunks_sent++;
        if (c->crash_after >= 0 && c->chunks_sent >= c->crash_after) {
            say("crashing after %d chunks (crash_after_chunks), exit 3", c->chunks_sent);
            _exit(3);
        }
        if (c->chunks_sent < c->n_chunks) {
            if (c->chunk_ms > 0)
                uv_timer_start(&c->timer, on_stream_timer, (uint64_t)c->chunk_ms, 0);
            else
                stream_next(c);
        } else {
            stream_next(c); /* the end of the stream */
        }
        return;
    }
    if (flags & WR_LAST)
        conn_request_done(c);
}

/* Queue bytes on the socket; `flags` say what to do once they are written. */
static void conn_write(conn *c, const char *p, size_t n, int flags)
{
    wreq *w = gs_mem_alloc(sizeof *w + n);
    memcpy(w->data, p, n);
    w->len = n;
    w->flags = flags;
    w->req.data = c;
    uv_buf_t b = uv_buf_init(w->data, (unsigned)n);
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc < 0) {
        free(w);
        conn_peer_gone(c, rc);
    }
}

/* Hand over a heap buffer that is already the whole write (no copy). */
static void conn_write_owned(conn *c, char *p, size_t n, int flags)
{
    conn_write(c, p, n, flags);
    free(p);
}

static const char *status_text(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 413: return "Payload Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}

/* A complete answer with Content-Length, as one allocation. */
static char *make_response(conn *c, int status, const char *ctype, const char *body, size_t blen,
                           size_t *out_len)
{
    gs_buf b;
    gs_buf_init(&b, 0);
    gs_buf_printf(&b,
                  "HTTP/1.1 %d %s\r\nServer: fake-upstream\r\nContent-Type: %s\r\n"
                  "Content-Length: %zu\r\nConnection: %s\r\n\r\n",
                  status, status_text(status), ctype, blen, c->keep_alive ? "keep-alive" : "close");
    gs_buf_append(&b, body, blen);
    *out_len = b.len;
    return gs_buf_steal(&b);
}

/* Send an answer now, or after `delay_ms` (hang_ms, /slow). */
static void respond(conn *c, int status, const char *ctype, const char *body, size_t blen,
                    uint64_t delay_ms);

static void on_delay(uv_timer_t *t)
{
    conn *c = t->data;
    char *p = c->delayed;
    size_t n = c->delayed_len;
    c->delayed = NULL;
    conn_set_state(c, CS_FLUSHING);
    conn_write_owned(c, p, n, WR_LAST | (c->keep_alive ? 0 : WR_CLOSE));
}

static void respond(conn *c, int status, const char *ctype, const char *body, size_t blen,
                    uint64_t delay_ms)
{
    size_t n;
    char *p = make_response(c, status, ctype, body, blen, &n);
    if (delay_ms > 0) {
        free(c->delayed);
        c->delayed = p;
        c->delayed_len = n;
        conn_set_state(c, CS_WAITING);
        uv_timer_start(&c->timer, on_delay, delay_ms, 0);
        return;
    }
    conn_set_state(c, CS_FLUSHING);
    conn_write_owned(c, p, n, WR_LAST | (c->keep_alive ? 0 : WR_CLOSE));
}

static void respond_json(conn *c, int status, json_t *j, uint64_t delay_ms)
{
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!s) {
        static const char e[] = "{\"error\":{\"code\":500,\"message\":\"fake-upstream could not "
                                "encode its answer\",\"type\":\"server_error\"}}";
        respond(c, 500, "application/json; charset=utf-8", e, sizeof e - 1, delay_ms);
        return;
    }
    respond(c, status, "application/json; charset=utf-8", s, strlen(s), delay_ms);
    free(s);
}

static void respond_error(conn *c, int status, const char *type, const char *msg)
{
    respond_json(c, status,
                 json_pack("{s:{s:i,s:s,s:s}}", "error", "code", status, "message", msg, "type", type),
                 0);
}

/* ---- request handling -------------------------------------------------------------------- */

static int64_t json_int_field(json_t *o, const char *key, int64_t dflt)
{
    json_t *v = json_object_get(o, key);
    if (json_is_integer(v))
        return json_integer_value(v);
    if (json_is_real(v))
        return (int64_t)json_real_value(v);
    return dflt;
}

static int64_t clamp(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Query parameter `key` of the URL as a number, or dflt. */
static int64_t query_int(const char *url, const char *key, int64_t dflt)
{
    const char *q = strchr(url, '?');
    size_t kl = strlen(key);
    while (q) {
        q++;
        if (strncmp(q, key, kl) == 0 && q[kl] == '=')
            return strtoll(q + kl + 1, NULL, 10);
        q = strchr(q, '&');
    }
    return dflt;
}

static int path_is(const char *path, size_t plen, const char *want)
{
    return strlen(want) == plen && memcmp(path, want, plen) == 0;
}

static int loading(void)
{
    return uv_now(loop) - start_ms < opt.health_delay_ms;
}

static json_t *usage_json(size_t body_len, int completion_tokens)
{
    int prompt = (int)(body_len / 4) + 1;
    return json_pack("{s:i,s:i,s:i}", "prompt_tokens", prompt, "completion_tokens",
                     completion_tokens, "total_tokens", prompt + completion_tokens);
}

/* The "model" an answer names: the request's own, as llama-server does, else our name. */
static json_t *answer_model(json_t *body)
{
    json_t *m = json_object_get(body, "model");
    return json_is_string(m) ? json_incref(m) : json_string(opt.name);
}

static void stream_start(conn *c, json_t *body, api_kind api);

static void on_stream_timer(uv_timer_t *t)
{
    stream_next(t->data);
}

static void handle_inference(conn *c, json_t *body, api_kind api)
{
    unsigned long n = ++n_requests;
    uint64_t hang = (uint64_t)clamp(json_int_field(body, "hang_ms", 0), 0, 3600000);
    if (json_is_true(json_object_get(body, "garbage"))) {
        static const char junk[] = "GARBAGE \x01\x02\x03 this is not HTTP at all\r\n\r\n";
        say("request %lu: answering garbage (garbage: true)", n);
        conn_set_state(c, CS_FLUSHING);
        conn_write(c, junk, sizeof junk - 1, WR_CLOSE);
        return;
    }
    c->req_no = n;
    if (json_is_true(json_object_get(body, "stream"))) {
        stream_start(c, body, api);
        if (hang > 0) {
            /* The headers come late too: the stream starts when the timer fires. */
            conn_set_state(c, CS_WAITING);
            uv_timer_start(&c->timer, on_stream_timer, hang, 0);
        } else {
            stream_next(c);
        }
        return;
    }
    char content[512];
    snprintf(content, sizeof content, "fake:%s:%lu", opt.name, n);
    json_t *r;
    time_t now = time(NULL);
    char id[64];
    if (api == API_CHAT) {
        snprintf(id, sizeof id, "chatcmpl-fake-%lu", n);
        r = json_pack("{s:s,s:s,s:I,s:o,s:[{s:i,s:{s:s,s:s},s:s}],s:o}", "id", id, "object",
                      "chat.completion", "created", (json_int_t)now, "model", answer_model(body),
                      "choices", "index", 0, "message", "role", "assistant", "content", content,
                      "finish_reason", "stop", "usage", usage_json(c->body.len, 1));
    } else if (api == API_TEXT) {
        snprintf(id, sizeof id, "cmpl-fake-%lu", n);
        r = json_pack("{s:s,s:s,s:I,s:o,s:[{s:i,s:s,s:n,s:s}],s:o}", "id", id, "object",
                      "text_completion", "created", (json_int_t)now, "model", answer_model(body),
                      "choices", "index", 0, "text", content, "logprobs", "finish_reason", "stop",
                      "usage", usage_json(c->body.len, 1));
    } else {
        r = json_pack("{s:s,s:b,s:o,s:i,s:i,s:s}", "content", content, "stop", 1, "model",
                      answer_model(body), "tokens_predicted", 1, "tokens_evaluated",
                      (int)(c->body.len / 4) + 1, "stop_type", "eos");
    }
    json_object_set(r, "echo", body);
    json_object_set_new(r, "slots_restored", json_integer((json_int_t)n_restored));
    respond_json(c, 200, r, hang);
}

/* ---- SSE streams ------------------------------------------------------------------------- */

static void stream_start(conn *c, json_t *body, api_kind api)
{
    c->api = api;
    int64_t n = json_int_field(body, "n_chunks", -1);
    if (n < 0)
        n = json_int_field(body, "max_tokens", -1);
    if (n < 0)
        n = json_int_field(body, "n_predict", -1);
    if (n < 0)
        n = 5;
    c->n_chunks = (int)clamp(n, 0, MAX_CHUNKS);
    c->chunk_ms = (int)clamp(json_int_field(body, "chunk_ms", 0), 0, 3600000);
    c->crash_after = (int)clamp(json_int_field(body, "crash_after_chunks", -1), -1, MAX_CHUNKS);
    json_t *so = json_object_get(body, "stream_options");
    c->include_usage = json_is_true(json_object_get(so, "include_usage"));
    c->stamp = json_is_true(json_object_get(body, "stamp"));
    c->chunks_sent = -1; /* headers not sent yet */
    free(c->model_json);
    json_t *m = answer_model(body);
    c->model_json = json_dumps(m, JSON_ENCODE_ANY);
    json_decref(m);
    json_decref(c->echo);
    c->echo = json_incref(body);
}

/* One SSE event as one HTTP chunk. */
static void send_event(conn *c, const char *data, size_t n, int flags)
{
    gs_buf b;
    gs_buf_init(&b, 0);
    gs_buf_printf(&b, "%zx\r\ndata: ", n + 8);
    gs_buf_append(&b, data, n);
    gs_buf_puts(&b, "\n\n\r\n");
    conn_write(c, b.data, b.len, flags);
    gs_buf_free(&b);
}

/* Called after the headers, after each written chunk (or its pacing timer) and at the end. */
static void stream_next(conn *c)
{
    if (c->state == CS_CLOSING)
        return;
    char ev[1024];
    int len;
    long now = (long)time(NULL);
    if (c->chunks_sent < 0) {
        static const char head[] = "HTTP/1.1 200 OK\r\nServer: fake-upstream\r\n"
                                   "Content-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                                   "Transfer-Encoding: chunked\r\n";
        conn_set_state(c, CS_STREAMING);
        c->chunks_sent = 0;
        char h[256];
        int hl = snprintf(h, sizeof h, "%sConnection: %s\r\n\r\n", head,
                          c->keep_alive ? "keep-alive" : "close");
        conn_write(c, h, (size_t)hl, 0);
        if (c->state == CS_CLOSING)
            return;
        if (c->crash_after == 0) {
            say("crashing after 0 chunks (crash_after_chunks), exit 3");
            _exit(3);
        }
    }
    int i = c->chunks_sent;
    if (i < c->n_chunks) {
        /* The benchmarks' forwarding delay: the client subtracts this send time (CLOCK_MONOTONIC,
         * which every process on the machine shares) from the chunk's arrival time. */
        char stamp[48] = "";
        if (c->stamp) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            snprintf(stamp, sizeof stamp, "\"t_us\":%" PRId64 ",",
                     (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
        }
        if (c->api == API_CHAT)
            len = snprintf(ev, sizeof ev,
                           "{%s\"id\":\"chatcmpl-fake-%lu\",\"object\":\"chat.completion.chunk\","
                           "\"created\":%ld,\"model\":%s,\"choices\":[{\"index\":0,\"delta\":{%s"
                           "\"content\":\"c%d \"},\"finish_reason\":null}]}",
                           stamp, c->req_no, now, c->model_json,
                           i == 0 ? "\"role\":\"assistant\"," : "", i);
        else if (c->api == API_TEXT)
            len = snprintf(ev, sizeof ev,
                           "{%s\"id\":\"cmpl-fake-%lu\",\"object\":\"text_completion\",\"created\":%ld,"
                           "\"model\":%s,\"choices\":[{\"index\":0,\"text\":\"c%d \",\"logprobs\":null,"
                           "\"finish_reason\":null}]}",
                           stamp, c->req_no, now, c->model_json, i);
        else
            len = snprintf(ev, sizeof ev, "{%s\"content\":\"c%d \",\"stop\":false,\"index\":0}",
                           stamp, i);
        send_event(c, ev, (size_t)len, WR_CHUNK);
        return;
    }
    /* The end: a finishing event (which carries the echo), usage if asked, [DONE]. */
    json_t *fin;
    if (c->api == API_CHAT)
        fin = json_pack("{s:s,s:s,s:I,s:o,s:[{s:i,s:{},s:s}]}", "id", "", "object",
                        "chat.completion.chunk", "created", (json_int_t)now, "model",
                        answer_model(c->echo), "choices", "index", 0, "delta", "finish_reason", "stop");
    else if (c->api == API_TEXT)
        fin = json_pack("{s:s,s:s,s:I,s:o,s:[{s:i,s:s,s:n,s:s}]}", "id", "", "object",
                        "text_completion", "created", (json_int_t)now, "model",
                        answer_model(c->echo), "choices", "index", 0, "text", "", "logprobs",
                        "finish_reason", "stop");
    else
        fin = json_pack("{s:s,s:b,s:i,s:s}", "content", "", "stop", 1, "tokens_predicted",
                        c->n_chunks, "stop_type", "limit");
    char id[64];
    snprintf(id, sizeof id, c->api == API_CHAT ? "chatcmpl-fake-%lu" : "cmpl-fake-%lu", c->req_no);
    if (c->api != API_NATIVE)
        json_object_set_new(fin, "id", json_string(id));
    json_object_set(fin, "echo", c->echo ? c->echo : json_null());
    if (c->api == API_NATIVE || !c->include_usage)
        json_object_set_new(fin, "usage", usage_json(c->body.len, c->n_chunks));
    char *s = json_dumps(fin, JSON_COMPACT);
    json_decref(fin);
    send_event(c, s, strlen(s), 0);
    free(s);
    if (c->include_usage && c->api != API_NATIVE) {
        json_t *u = json_pack("{s:s,s:s,s:I,s:s,s:[],s:o}", "id", id, "object",
                              c->api == API_CHAT ? "chat.completion.chunk" : "text_completion", "created", (json_int_t)now, "model", "",
                              "choices", "usage", usage_json(c->body.len, c->n_chunks));
        json_t *m = answer_model(c->echo);
        json_object_set_new(u, "model", m);
        s = json_dumps(u, JSON_COMPACT);
        json_decref(u);
        send_event(c, s, strlen(s), 0);
        free(s);
    }
    static const char done[] = "e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n";
    conn_set_state(c, CS_FLUSHING);
    conn_write(c, done, sizeof done - 1, WR_LAST | (c->keep_alive ? 0 : WR_CLOSE));
}

/* ---- other endpoints --------------------------------------------------------------------- */

/* The OpenAI clients ask for base64 (little-endian float32s) by default; llama-server obliges. */
static json_t *base64_floats(const float *f, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned char raw[64];
    size_t len = n * 4, o = 0;
    char out[96];
    memcpy(raw, f, len); /* x86-64 and every target we test on are little-endian */
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)raw[i] << 16 | (i + 1 < len ? (uint32_t)raw[i + 1] << 8 : 0) |
                     (i + 2 < len ? raw[i + 2] : 0);
        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
        out[o++] = i + 1 < len ? tab[v >> 6 & 63] : '=';
        out[o++] = i + 2 < len ? tab[v & 63] : '=';
    }
    return json_stringn(out, o);
}

/* Eight numbers that depend on the input text, so different inputs give different vectors. */
static json_t *fake_embedding(const char *text, size_t n, int base64)
{
    uint32_t h = 2166136261u;
    float f[8];
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)text[i]) * 16777619u;
    for (int i = 0; i < 8; i++) {
        h = h * 1103515245u + 12345u;
        f[i] = (float)((double)(h >> 8) / (double)(1u << 24) - 0.5);
    }
    if (base64)
        return base64_floats(f, 8);
    json_t *v = json_array();
    for (int i = 0; i < 8; i++)
        json_array_append_new(v, json_real(f[i]));
    return v;
}

static void handle_embeddings(conn *c, json_t *body)
{
    json_t *input = json_object_get(body, "input");
    if (!input)
        input = json_object_get(body, "content");
    json_t *fmt = json_object_get(body, "encoding_format");
    int b64 = json_is_string(fmt) && !strcmp(json_string_value(fmt), "base64");
    json_t *data = json_array();
    if (json_is_array(input)) {
        size_t i;
        json_t *v;
        json_array_foreach(input, i, v) {
            const char *t = json_is_string(v) ? json_string_value(v) : "";
            json_array_append_new(data, json_pack("{s:s,s:o,s:i}", "object", "embedding", "embedding",
                                                  fake_embedding(t, strlen(t), b64), "index", (int)i));
        }
    } else {
        const char *t = json_is_string(input) ? json_string_value(input) : "";
        json_array_append_new(data, json_pack("{s:s,s:o,s:i}", "object", "embedding", "embedding",
                                              fake_embedding(t, strlen(t), b64), "index", 0));
    }
    n_requests++;
    json_t *r = json_pack("{s:s,s:o,s:o,s:o}", "object", "list", "data", data, "model",
                          answer_model(body), "usage", usage_json(c->body.len, 0));
    json_object_set(r, "echo", body);
    respond_json(c, 200, r, (uint64_t)clamp(json_int_field(body, "hang_ms", 0), 0, 3600000));
}

/* Documents that share more bytes with the query rank higher. */
static void handle_rerank(conn *c, json_t *body)
{
    json_t *q = json_object_get(body, "query");
    const char *query = json_is_string(q) ? json_string_value(q) : "";
    json_t *docs = json_object_get(body, "documents");
    json_t *results = json_array();
    size_t i;
    json_t *d;
    json_array_foreach(docs, i, d) {
        const char *t = json_is_string(d) ? json_string_value(d)
                                          : json_string_value(json_object_get(d, "text"));
        double score = 0;
        for (const char *p = t ? t : ""; *p; p++)
            score += strchr(query, *p) ? 1.0 : 0.0;
        size_t tl = t ? strlen(t) : 0;
        json_array_append_new(results, json_pack("{s:i,s:f}", "index", (int)i, "relevance_score",
                                                 tl ? score / (double)tl : 0.0));
    }
    n_requests++;
    json_t *r = json_pack("{s:s,s:o,s:o,s:o}", "object", "list", "model", answer_model(body),
                          "results", results, "usage", usage_json(c->body.len, 0));
    json_object_set(r, "echo", body);
    respond_json(c, 200, r, 0);
}

static void handle_models(conn *c)
{
    respond_json(c, 200,
                 json_pack("{s:s,s:[{s:s,s:s,s:I,s:s,s:{s:i}}]}", "object", "list", "data", "id",
                           opt.name, "object", "model", "created", (json_int_t)time(NULL),
                           "owned_by", "llamacpp", "meta", "n_ctx_train", 4096),
                 0);
}

/* llama-server's slot files, faked: one slot; a save writes a small text file that a restore
 * checks (anything else is "invalid", as a truncated or foreign file is for llama-server). */
static void handle_slots(conn *c, const char *url, size_t plen, int post)
{
    if (!post) {
        respond_json(c, 200,
                     json_pack("[{s:i,s:i,s:b,s:I}]", "id", 0, "n_ctx", 4096, "is_processing", 0,
                               "n_prompt_tokens", (json_int_t)n_requests),
                     0);
        return;
    }
    int save = strstr(url, "action=save") != NULL, restore = strstr(url, "action=restore") != NULL;
    if (!path_is(url, plen, "/slots/0") || (!save && !restore)) {
        respond_error(c, 400, "invalid_request_error", "Invalid slot id or action");
        return;
    }
    if (!opt.slot_dir) {
        respond_error(c, 501, "not_supported_error", "This server does not support slots action");
        return;
    }
    json_t *body = c->body.len ? json_loadb(c->body.data, c->body.len, 0, NULL) : NULL;
    const char *fn = json_string_value(json_object_get(body, "filename"));
    char path[PATH_MAX];
    if (!fn || strchr(fn, '/') || snprintf(path, sizeof path, "%s/%s", opt.slot_dir, fn) >= (int)sizeof path) {
        json_decref(body);
        respond_error(c, 400, "invalid_request_error", "Invalid filename");
        return;
    }
    if (save) {
        FILE *f = fopen(path, "w");
        int n = f ? fprintf(f, "fake-slot %s requests=%lu\n", opt.name, n_requests) : -1;
        if (f)
            fclose(f);
        say("slot 0 saved to %s", path);
        respond_json(c, 200, json_pack("{s:i,s:s,s:I,s:i}", "id_slot", 0, "filename", fn, "n_saved",
                                       (json_int_t)n_requests, "n_written", n),
                     opt.slot_delay_ms);
    } else {
        char got[128] = "";
        FILE *f = fopen(path, "r");
        size_t n = f ? fread(got, 1, sizeof got - 1, f) : 0;
        if (f)
            fclose(f);
        got[n] = 0;
        if (strncmp(got, "fake-slot ", 10) != 0) {
            say("slot 0: %s is not a slot file", path);
            respond_error(c, 400, "invalid_request_error",
                          "Unable to restore slot: No available space in KV cache or invalid slot save file");
        } else {
            n_restored++;
            say("slot 0 restored from %s", path);
            respond_json(c, 200, json_pack("{s:i,s:s,s:i,s:I}", "id_slot", 0, "filename", fn,
                                           "n_restored", 1, "n_read", (json_int_t)n),
                         0);
        }
    }
    json_decref(body);
}

static const char *method_name(conn *c)
{
    return llhttp_method_name((llhttp_method_t)llhttp_get_method(&c->parser));
}

/* Dispatch one complete request (url and body are in c). */
/* ---- WebSocket (RFC 6455) ----------------------------------------------------------------- */

#define WS_MAX_IN (32u * 1024 * 1024)
#define WS_FLOOD_PIECE (64 * 1024)

/* One unmasked frame (a server's) with FIN and opcode op. */
static void ws_send(conn *c, int op, const char *p, size_t n, int flags)
{
    gs_buf b;
    gs_buf_init(&b, 0);
    unsigned char h[10];
    size_t hl = 2;
    h[0] = (unsigned char)(0x80 | op);
    if (n < 126) {
        h[1] = (unsigned char)n;
    } else if (n < 65536) {
        h[1] = 126;
        h[2] = (unsigned char)(n >> 8);
        h[3] = (unsigned char)n;
        hl = 4;
    } else {
        h[1] = 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
        hl = 10;
    }
    gs_buf_append(&b, h, hl);
    gs_buf_append(&b, p, n);
    conn_write(c, b.data, b.len, flags);
    gs_buf_free(&b);
}

static void ws_flood_next(conn *c)
{
    if (c->state != CS_WS)
        return;
    if (!c->flood_left) {
        say("flood done: %" PRIu64 " bytes", c->flood_total);
        return;
    }
    static char piece[WS_FLOOD_PIECE];
    if (!piece[0])
        memset(piece, 'x', sizeof piece);
    size_t n = c->flood_left < sizeof piece ? (size_t)c->flood_left : sizeof piece;
    c->flood_left -= n;
    ws_send(c, 2, piece, n, WR_FLOOD);
}

static void ws_message(conn *c, int first, char *p, size_t n)
{
    int op = first & 0x0f;
    if (op == 8) {
        say("websocket close from the client");
        ws_send(c, 8, p, n < 2 ? n : 2, WR_CLOSE);
        return;
    }
    if (op == 9) {
        ws_send(c, 10, p, n, 0);
        return;
    }
    if (op == 10)
        return;
    if (op == 1 && n == 4 && !memcmp(p, "info", 4)) {
        json_t *o = json_pack("{s:s,s:s,s:s,s:s}", "model", opt.name, "host", c->ws_host,
                              "origin", c->ws_origin, "url", c->url.data ? c->url.data : "");
        char *j = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        if (!j)
            j = gs_mem_strdup("{}");
        ws_send(c, 1, j, strlen(j), 0);
        free(j);
        return;
    }
    if (op == 1 && n > 6 && !memcmp(p, "flood ", 6)) {
        char num[32];
        size_t k = n - 6 < sizeof num - 1 ? n - 6 : sizeof num - 1;
        memcpy(num, p + 6, k);
        num[k] = 0;
        c->flood_total = c->flood_left = strtoull(num, NULL, 10);
        ws_flood_next(c);
        return;
    }
    if (op == 1 && n == 5 && !memcmp(p, "close", 5)) {
        say("websocket closing from the server");
        ws_send(c, 8, "\x03\xe8", 2, WR_CLOSE);
        return;
    }
    ws_send(c, op, p, n, 0); /* echo */
}

static void ws_feed(conn *c, const char *data, size_t len)
{
    if (gs_buf_append(&c->ws_in, data, len)) {
        say("websocket: more than %u bytes of frames pending; closing", WS_MAX_IN);
        conn_close(c);
        return;
    }
    size_t off = 0;
    unsigned char *b = (unsigned char *)c->ws_in.data;
    while (c->state == CS_WS && c->ws_in.len - off >= 2) {
        unsigned char *f = b + off;
        size_t avail = c->ws_in.len - off;
        uint64_t n = f[1] & 0x7f;
        size_t hl = 2;
        if (n == 126) {
            if (avail < 4)
                break;
            n = (uint64_t)f[2] << 8 | f[3];
            hl = 4;
        } else if (n == 127) {
            if (avail < 10)
                break;
            n = 0;
            for (int i = 0; i < 8; i++)
                n = n << 8 | f[2 + i];
            hl = 10;
        }
        int masked = f[1] & 0x80;
        if (masked)
            hl += 4;
        if (n > WS_MAX_IN || avail < hl + n)
            break;
        char *payload = (char *)f + hl;
        if (masked)
            for (uint64_t i = 0; i < n; i++)
                payload[i] ^= (char)f[hl - 4 + (i & 3)];
        off += hl + (size_t)n;
        ws_message(c, f[0], payload, (size_t)n);
    }
    if (c->state == CS_WS)
        gs_buf_consume(&c->ws_in, off);
}

static void ws_accept(conn *c, const char *url)
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    char cat[128];
    int k = snprintf(cat, sizeof cat, "%s%s", c->ws_key, guid);
    unsigned char sha[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)cat, (size_t)k, sha);
    unsigned char acc[64];
    EVP_EncodeBlock(acc, sha, SHA_DIGEST_LENGTH);
    char head[512];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
                     "X-Fake-Model: %s\r\n\r\n", acc, opt.name);
    conn_set_state(c, CS_WS);
    gs_buf_init(&c->ws_in, WS_MAX_IN + 16);
    say("websocket open on %s (Host %s)", url, c->ws_host);
    conn_write(c, head, (size_t)n, 0);
    if (c->pending.len) {
        gs_buf more = c->pending;
        gs_buf_init(&c->pending, MAX_PENDING);
        ws_feed(c, more.data, more.len);
        gs_buf_free(&more);
    }
}

static void handle_request(conn *c)
{
    const char *url = c->url.data ? c->url.data : "/";
    const char *q = strchr(url, '?');
    size_t plen = q ? (size_t)(q - url) : strlen(url);
    int method = llhttp_get_method(&c->parser);
    int get = method == HTTP_GET;
    int post = method == HTTP_POST;

    if (llhttp_get_upgrade(&c->parser)) {
        if (get && path_is(url, plen, "/ws") && c->ws_key[0]) {
            ws_accept(c, url);
            return;
        }
        c->keep_alive = 0; /* the parser does not go on after an upgrade's head */
    }
    if (get && path_is(url, plen, "/health")) {
        if (loading()) {
            respond_error(c, 503, "unavailable_error", "Loading model");
            return;
        }
        static const char ok[] = "{\"status\":\"ok\"}";
        respond(c, 200, "application/json; charset=utf-8", ok, sizeof ok - 1, 0);
        return;
    }
    if (get && path_is(url, plen, "/pid")) {
        respond_json(c, 200, json_pack("{s:I,s:s}", "pid", (json_int_t)getpid(), "model", opt.name), 0);
        return;
    }
    if (get && path_is(url, plen, "/crash")) {
        say("crashing on GET /crash, exit 3");
        _exit(3);
    }
    if (get && path_is(url, plen, "/slow")) {
        int64_t ms = clamp(query_int(url, "ms", 1000), 0, 3600000);
        respond_json(c, 200, json_pack("{s:I,s:s}", "slept_ms", (json_int_t)ms, "model", opt.name),
                     (uint64_t)ms);
        return;
    }
    if (plen >= 6 && memcmp(url, "/echo/", 6) == 0) {
        json_t *r = json_pack("{s:s%,s:s,s:s,s:s,s:s%}", "path", url, plen, "url", url, "method",
                              method_name(c), "model", opt.name, "body",
                              c->body.data ? c->body.data : "", c->body.len);
        if (!r) /* body not UTF-8 */
            r = json_pack("{s:s%,s:s,s:s,s:s,s:I}", "path", url, plen, "url", url, "method",
                          method_name(c), "model", opt.name, "body_len", (json_int_t)c->body.len);
        respond_json(c, 200, r, 0);
        return;
    }
    if ((get && path_is(url, plen, "/slots")) || (post && plen > 7 && memcmp(url, "/slots/", 7) == 0)) {
        handle_slots(c, url, plen, post);
        return;
    }
    if (get && path_is(url, plen, "/v1/models")) {
        handle_models(c);
        return;
    }
    if (get && path_is(url, plen, "/metrics")) {
        char m[256];
        int n = snprintf(m, sizeof m,
                         "# TYPE llamacpp:requests_processing gauge\nllamacpp:requests_processing 0\n"
                         "# TYPE fake_requests_total counter\nfake_requests_total %lu\n",
                         n_requests);
        respond(c, 200, "text/plain; version=0.0.4", m, (size_t)n, 0);
        return;
    }

    api_kind api;
    int kind; /* 1 inference, 2 embeddings, 3 rerank */
    if (post && (path_is(url, plen, "/v1/chat/completions") || path_is(url, plen, "/chat/completions")))
        kind = 1, api = API_CHAT;
    else if (post && (path_is(url, plen, "/v1/completions") || path_is(url, plen, "/v1/responses") ||
                      path_is(url, plen, "/v1/messages")))
        kind = 1, api = API_TEXT;
    else if (post && (path_is(url, plen, "/completion") || path_is(url, plen, "/completions") ||
                      path_is(url, plen, "/infill")))
        kind = 1, api = API_NATIVE;
    else if (post && (path_is(url, plen, "/v1/embeddings") || path_is(url, plen, "/embeddings") ||
                      path_is(url, plen, "/embedding")))
        kind = 2, api = API_TEXT;
    else if (post && (path_is(url, plen, "/v1/rerank") || path_is(url, plen, "/rerank") ||
                      path_is(url, plen, "/v1/reranking") || path_is(url, plen, "/reranking")))
        kind = 3, api = API_TEXT;
    else {
        char msg[128];
        snprintf(msg, sizeof msg, "File Not Found: %s %.*s", method_name(c), (int)(plen > 80 ? 80 : plen), url);
        respond_error(c, 404, "not_found_error", msg);
        return;
    }
    if (loading()) {
        respond_error(c, 503, "unavailable_error", "Loading model");
        return;
    }
    json_error_t err;
    json_t *body = c->body.len ? json_loadb(c->body.data, c->body.len, 0, &err) : json_object();
    if (!json_is_object(body)) {
        char msg[256];
        snprintf(msg, sizeof msg, "Failed to parse JSON body: %s", body ? "not an object" : err.text);
        json_decref(body);
        respond_error(c, 400, "invalid_request_error", msg);
        return;
    }
    if (kind == 1)
        handle_inference(c, body, api);
    else if (kind == 2)
        handle_embeddings(c, body);
    else
        handle_rerank(c, body);
    json_decref(body);
}

/* ---- HTTP parsing ------------------------------------------------------------------------ */

static conn *parser_conn(llhttp_t *p)
{
    return GS_CONTAINER_OF(p, conn, parser);
}

static int on_message_begin(llhttp_t *p)
{
    conn *c = parser_conn(p);
    gs_buf_reset(&c->url);
    gs_buf_reset(&c->body);
    c->header_is_expect = c->expect_continue = 0;
    c->hname_len = 0;
    c->hname_done = 0;
    c->hname[0] = c->ws_key[0] = c->ws_host[0] = c->ws_origin[0] = 0;
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t n)
{
    return gs_buf_append(&parser_conn(p)->url, at, n) ? -1 : 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
    return gs_buf_append(&parser_conn(p)->body, at, n) ? -1 : 0;
}

static void cat_bounded(char *dst, size_t cap, const char *at, size_t n)
{
    size_t l = strlen(dst);
    if (n > cap - 1 - l)
        n = cap - 1 - l;
    memcpy(dst + l, at, n);
    dst[l + n] = 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t n)
{
    conn *c = parser_conn(p);
    c->header_is_expect = n == 6 && strncasecmp(at, "expect", 6) == 0;
    if (c->hname_done) {
        c->hname_len = 0;
        c->hname_done = 0;
    }
    for (size_t i = 0; i < n && c->hname_len < sizeof c->hname - 1; i++)
        c->hname[c->hname_len++] = (char)(at[i] >= 'A' && at[i] <= 'Z' ? at[i] + 32 : at[i]);
    c->hname[c->hname_len] = 0;
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n)
{
    conn *c = parser_conn(p);
    c->hname_done = 1;
    if (!strcmp(c->hname, "sec-websocket-key"))
        cat_bounded(c->ws_key, sizeof c->ws_key, at, n);
    else if (!strcmp(c->hname, "host"))
        cat_bounded(c->ws_host, sizeof c->ws_host, at, n);
    else if (!strcmp(c->hname, "origin"))
        cat_bounded(c->ws_origin, sizeof c->ws_origin, at, n);
    if (c->header_is_expect && n == 12 && strncasecmp(at, "100-continue", 12) == 0)
        c->expect_continue = 1;
    return 0;
}

static int on_headers_complete(llhttp_t *p)
{
    conn *c = parser_conn(p);
    c->keep_alive = llhttp_should_keep_alive(p);
    if (c->expect_continue) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        c->expect_continue = 0;
        conn_write(c, cont, sizeof cont - 1, 0);
    }
    return 0;
}

/* Pausing here hands the complete request to handle_request() outside the parser, and keeps
 * whatever follows it for after the answer. */
static int on_message_complete(llhttp_t *p)
{
    return HPE_PAUSED;
}

static void conn_feed(conn *c, const char *p, size_t n)
{
    enum llhttp_errno e = llhttp_execute(&c->parser, p, n);
    if (e == HPE_OK)
        return;
    if (e == HPE_PAUSED) {
        const char *stop = llhttp_get_error_pos(&c->parser);
        size_t used = stop ? (size_t)(stop - p) : n;
        if (used < n && gs_buf_append(&c->pending, p + used, n - used)) {
            conn_close(c);
            return;
        }
        conn_set_state(c, CS_FLUSHING);
        handle_request(c);
        return;
    }
    /* Input we cannot parse: answer like a server would and hang up. */
    c->keep_alive = 0;
    int too_big = c->body.len >= MAX_BODY || c->url.len >= MAX_URL;
    conn_set_state(c, CS_FLUSHING);
    respond_error(c, too_big ? 413 : 400, "invalid_request_error",
                  too_big ? "request too large" : llhttp_errno_name(e));
}

/* The answer is written: read the next request (keep-alive) or hang up. */
static void conn_request_done(conn *c)
{
    if (!c->keep_alive) {
        conn_close(c);
        return;
    }
    conn_set_state(c, CS_READING);
    llhttp_resume(&c->parser);
    if (c->pending.len) {
        gs_buf more = c->pending;
        gs_buf_init(&c->pending, MAX_PENDING);
        conn_feed(c, more.data, more.len);
        gs_buf_free(&more);
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    *b = uv_buf_init(read_slab, sizeof read_slab);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    conn *c = s->data;
    if (nread < 0) {
        conn_peer_gone(c, (int)nread);
        return;
    }
    if (nread == 0 || c->state == CS_CLOSING)
        return;
    if (c->state == CS_WS) {
        ws_feed(c, b->base, (size_t)nread);
        return;
    }
    if (c->state != CS_READING) {
        /* The client sent more while we answer: keep it for later. */
        if (gs_buf_append(&c->pending, b->base, (size_t)nread))
            conn_close(c);
        return;
    }
    conn_feed(c, b->base, (size_t)nread);
}

static void on_connection(uv_stream_t *srv, int status)
{
    if (status < 0) {
        say("accept failed: %s", uv_strerror(status));
        return;
    }
    conn *c = gs_mem_calloc(1, sizeof *c);
    uv_tcp_init(loop, &c->tcp);
    uv_timer_init(loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->handles_open = 2;
    c->keep_alive = 1;
    gs_buf_init(&c->url, MAX_URL);
    gs_buf_init(&c->body, MAX_BODY);
    gs_buf_init(&c->pending, MAX_PENDING);
    llhttp_init(&c->parser, HTTP_REQUEST, &http_settings);
    conn_set_state(c, CS_READING);
    if (uv_accept(srv, (uv_stream_t *)&c->tcp) < 0 ||
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
}

/* ---- process ----------------------------------------------------------------------------- */

static void close_any(uv_handle_t *h, void *arg)
{
    if (uv_is_closing(h))
        return;
    if (h->type == UV_TCP && h != (uv_handle_t *)&server) {
        conn_close(h->data);
        return;
    }
    if (h->type == UV_TIMER && h->data)
        return; /* a connection's timer, closed with its connection */
    uv_close(h, NULL);
}

/* Close everything; uv_run() then returns and main() exits with `code`. */
static void shut_down(int code)
{
    if (shutting_down)
        return;
    shutting_down = 1;
    exit_status = code;
    uv_walk(loop, close_any, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
    if (signum == SIGTERM && opt.ignore_sigterm) {
        say("ignoring SIGTERM (--ignore-sigterm)");
        return;
    }
    say("%s: exiting", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    shut_down(0);
}

static void on_exit_timer(uv_timer_t *t)
{
    say("exiting with code %d after %" PRId64 " ms (--exit-after-ms)", opt.exit_code, opt.exit_after_ms);
    shut_down(opt.exit_code);
}

static int parse_int(const char *flag, const char *v, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long n = v ? strtoll(v, &end, 10) : 0;
    if (!v || errno || *end || end == v || n < lo || n > hi) {
        fprintf(stderr, "fake-upstream: %s needs a number from %lld to %lld, got '%s'\n", flag, lo,
                hi, v ? v : "(nothing)");
        return -EINVAL;
    }
    *out = n;
    return 0;
}

/* Known flags take "--flag value" or "--flag=value"; anything else (llama-server's own flags and
 * their values) is ignored so that test configs can look like real ones. */
static int parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        const char *val = NULL;
        char flag[64];
        const char *eq = strchr(a, '=');
        if (a[0] == '-' && eq && (size_t)(eq - a) < sizeof flag) {
            snprintf(flag, sizeof flag, "%.*s", (int)(eq - a), a);
            val = eq + 1;
        } else {
            snprintf(flag, sizeof flag, "%s", a);
        }
#define VALUE() (val ? val : (i + 1 < argc ? argv[++i] : NULL))
        long long n;
        if (!strcmp(flag, "--port")) {
            if (parse_int("--port", VALUE(), 0, 65535, &n))
                return -EINVAL;
            opt.port = (int)n;
        } else if (!strcmp(flag, "--host")) {
            opt.host = VALUE();
        } else if (!strcmp(flag, "--model")) {
            opt.name = VALUE();
        } else if (!strcmp(flag, "--health-delay")) {
            if (parse_int("--health-delay", VALUE(), 0, INT_MAX, &n))
                return -EINVAL;
            opt.health_delay_ms = (uint64_t)n;
        } else if (!strcmp(flag, "--slot-save-path")) {
            opt.slot_dir = VALUE();
        } else if (!strcmp(flag, "--slot-save-delay")) {
            if (parse_int("--slot-save-delay", VALUE(), 0, INT_MAX, &n))
                return -EINVAL;
            opt.slot_delay_ms = (uint64_t)n;
        } else if (!strcmp(flag, "--ignore-sigterm")) {
            opt.ignore_sigterm = 1;
        } else if (!strcmp(flag, "--blackhole")) {
            opt.blackhole = 1;
        } else if (!strcmp(flag, "--exit-after-ms")) {
            if (parse_int("--exit-after-ms", VALUE(), 0, INT_MAX, &n))
                return -EINVAL;
            opt.exit_after_ms = n;
        } else if (!strcmp(flag, "--exit-code")) {
            if (parse_int("--exit-code", VALUE(), 0, 255, &n))
                return -EINVAL;
            opt.exit_code = (int)n;
        } else if (!strcmp(flag, "--fail-start")) {
            opt.fail_start = VALUE();
        } else if (!strcmp(flag, "--alloc")) {
            if (parse_int("--alloc", VALUE(), 0, 1 << 20, &n))
                return -EINVAL;
            opt.alloc_mb = n;
        }
#undef VALUE
        if (!opt.host || !opt.name) {
            fprintf(stderr, "fake-upstream: %s needs a value\n", flag);
            return -EINVAL;
        }
    }
    if (!opt.name[0])
        opt.name = "fake";
    return 0;
}

/* --blackhole: a listener that never accepts, its queue (backlog 0 holds one) already full
 * of our own connections, so Linux drops further SYNs: a client's connect neither succeeds
 * nor fails until its own timeout. Runs until a signal ends it. */
static int blackhole(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || inet_pton(AF_INET, opt.host, &a.sin_addr) != 1 ||
        bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 0) < 0) {
        fprintf(stderr, "fake-upstream %s: cannot listen on %s:%d: %s\n", opt.name, opt.host,
                opt.port, strerror(errno));
        return 1;
    }
    for (int i = 0; i < 3; i++) {
        int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (c >= 0)
            connect(c, (struct sockaddr *)&a, sizeof a); /* kept open until exit */
    }
    fprintf(stderr, "fake-upstream %s listening on %s:%d (pid %d, blackhole: never accepts)\n",
            opt.name, opt.host, opt.port, (int)getpid());
    for (;;)
        pause();
}

/* --alloc's memory: a global, so that it stays reachable (not a leak) until exit. */
char *fake_alloc_mem;

int main(int argc, char **argv)
{
    int rc = 0;
    if (parse_args(argc, argv)) {
        fprintf(stderr, "usage: fake-upstream --port N [--model NAME] [--health-delay MS] "
                        "[--ignore-sigterm] [--exit-after-ms MS] [--exit-code N] [--fail-start MSG] [--alloc MB] "
                        "[--slot-save-path DIR] [--slot-save-delay MS] [--blackhole] "
                        "[llama-server args, ignored]\n");
        return 2;
    }
    if (opt.fail_start) {
        fprintf(stderr, "%s\n", opt.fail_start);
        return 1;
    }
    if (opt.alloc_mb) {
        /* Memory a model would hold: every page written, so it is resident (RSS), and the
         * split reported the way llama-server prints its buffers (weights, KV, compute). */
        size_t n = (size_t)opt.alloc_mb << 20;
        char *mem = fake_alloc_mem = malloc(n);
        if (!mem) {
            fprintf(stderr, "fake-upstream %s: cannot allocate %lld MiB: out of memory\n", opt.name,
                    opt.alloc_mb);
            return 1;
        }
        for (size_t k = 0; k < n; k += 4096)
            mem[k] = (char)k;
        double mb = (double)opt.alloc_mb;
        fprintf(stderr, "load_tensors:   CPU_Mapped model buffer size = %8.2f MiB\n", mb * 0.7);
        fprintf(stderr, "llama_kv_cache:        CPU KV buffer size = %8.2f MiB\n", mb * 0.2);
        fprintf(stderr, "sched_reserve:        CPU compute buffer size = %8.2f MiB\n", mb * 0.1);
        /* kept until exit, as a model's buffers are */
    }
    if (!opt.port) {
        fprintf(stderr, "fake-upstream: --port N is required (like llama-server, pass the port ggswap chose)\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stderr, NULL, _IOLBF, 0);
    if (opt.blackhole)
        return blackhole();
    loop = uv_default_loop();
    start_ms = uv_now(loop);

    http_settings.on_message_begin = on_message_begin;
    http_settings.on_url = on_url;
    http_settings.on_body = on_body;
    http_settings.on_header_field = on_header_field;
    http_settings.on_header_value = on_header_value;
    http_settings.on_headers_complete = on_headers_complete;
    http_settings.on_message_complete = on_message_complete;

    struct sockaddr_storage addr;
    if (uv_ip4_addr(opt.host, opt.port, (struct sockaddr_in *)&addr) &&
        uv_ip6_addr(opt.host, opt.port, (struct sockaddr_in6 *)&addr)) {
        fprintf(stderr, "fake-upstream %s: bad --host '%s'\n", opt.name, opt.host);
        return 2;
    }
    uv_tcp_init(loop, &server);
    if ((rc = uv_tcp_bind(&server, (struct sockaddr *)&addr, 0)) < 0 ||
        (rc = uv_listen((uv_stream_t *)&server, 1024, on_connection)) < 0) {
        /* llama-server exits with 1 at once when its port is taken; so do we. */
        fprintf(stderr, "fake-upstream %s: cannot listen on %s:%d: %s\n", opt.name, opt.host,
                opt.port, uv_strerror(rc));
        uv_close((uv_handle_t *)&server, NULL);
        uv_run(loop, UV_RUN_DEFAULT);
        uv_loop_close(loop);
        return 1;
    }
    uv_signal_init(loop, &sig_term);
    uv_signal_init(loop, &sig_int);
    uv_signal_start(&sig_term, on_signal, SIGTERM);
    uv_signal_start(&sig_int, on_signal, SIGINT);
    if (opt.exit_after_ms >= 0) {
        uv_timer_init(loop, &exit_timer);
        uv_timer_start(&exit_timer, on_exit_timer, (uint64_t)opt.exit_after_ms, 0);
    }
    /* Tests and ggswap's log wait for exactly this line. */
    fprintf(stderr, "fake-upstream %s listening on %s:%d (pid %d, healthy after %" PRIu64 " ms)\n",
            opt.name, opt.host, opt.port, (int)getpid(), opt.health_delay_ms);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    return exit_status;
}
