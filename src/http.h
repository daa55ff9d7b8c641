/* http: the HTTP/1.1 server side of ggswap's single port.
 *
 * Connections are libuv TCP streams parsed by llhttp. A request is handed to the handler only
 * once it is complete (head and body), because routing needs the body's `model`; bodies are
 * bounded (413 past the limit), heads too (431), and slow clients time out. Requests on one
 * connection are served one at a time: the parser is paused while a response is in progress
 * and resumed with any pipelined bytes afterwards. Responses are either whole (gs_http_respond)
 * or streamed (gs_http_start/write/end) with chunked encoding when the length is unknown; the
 * writer reports congestion so producers can stop reading their source until on_drain fires.
 * If the client goes away mid-request, on_abort tells the handler, which must then forget the
 * request: the connection and the request are freed by the close callback right after. */
#ifndef GS_HTTP_H
#define GS_HTTP_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "buf.h"
#include "hdrs.h"


typedef struct gs_http_req gs_http_req;
typedef void (*gs_http_req_cb)(gs_http_req *req, void *ud);
/* Bytes from the client of a connection in raw mode (gs_http_raw_start). */
typedef void (*gs_http_data_cb)(gs_http_req *req, const char *data, size_t len, void *ud);

typedef enum gs_http_req_state {
    GS_REQ_READING = 0, /* head or body still arriving */
    GS_REQ_HANDLING,    /* complete; the handler owns it, nothing sent yet */
    GS_REQ_STREAMING,   /* status line and headers sent, body in progress */
    GS_REQ_DONE,        /* response complete */
} gs_http_req_state;

struct gs_http_req {
    gs_http_req_state state;
    char method[16];
    char *url;                  /* as received: path?query */
    char *path;                 /* decoded of nothing: the part before '?' */
    char *query;                /* after '?', or "" */
    gs_http_header *headers;
    int nheaders;
    gs_buf body;
    bool keep_alive;
    bool chunked_out;           /* response uses chunked encoding */
    bool head_only;             /* HEAD request: no body is sent */
    bool upgrade;               /* the client asks to switch protocols (Connection: upgrade,
                                 * Upgrade: ...); the connection closes after a plain answer */
    int status;                 /* response status, once sent */
    uint64_t start_ns;          /* when the request head began */
    /* Set by the handler: */
    void *ud;
    gs_http_req_cb on_abort;    /* the client went away before the response ended */
    gs_http_req_cb on_drain;    /* the write queue fell below the low watermark */
    gs_http_data_cb on_data;    /* raw mode: what the client sends, with data_ud */
    void *data_ud;
    /* Header lines ("Name: v\r\n"...) that every response to this request carries, whoever
     * sends it (the CORS headers of an allowed origin); empty by default. */
    char head_extra[768];
};

typedef struct gs_http_limits {
    size_t max_head;            /* bytes of request line + headers; default 64 KiB */
    size_t max_body;            /* default 64 MiB */
    unsigned head_timeout_ms;   /* to receive a whole request once it began; default 30 s */
    unsigned idle_timeout_ms;   /* keep-alive idle; default 120 s */
    const char *tls_cert;       /* HTTPS with these PEM files (tls.h); NULL: plain HTTP */
    const char *tls_key;
} gs_http_limits;

typedef struct gs_http_server gs_http_server;

/* Listen on addr ("127.0.0.1:8091", "[::1]:8091", ":8091"). handler is called once per complete
 * request. Returns 0 or a negative errno (-EADDRINUSE, ...). */
int gs_http_server_start(uv_loop_t *loop, const char *addr, const gs_http_limits *limits,
                         gs_http_req_cb handler, void *ud, gs_http_server **out);
/* Stop accepting and close every connection (their requests get on_abort). */
void gs_http_server_close(gs_http_server *s);
/* Stop accepting only; existing connections go on. */
void gs_http_server_stop_listening(gs_http_server *s);
int gs_http_server_connections(const gs_http_server *s);

const char *gs_http_header_get(const gs_http_req *req, const char *name);

/* A whole response. extra is NULL or more header lines, each ending in "\r\n". */
int gs_http_respond(gs_http_req *req, int status, const char *content_type, const void *body,
                    size_t len, const char *extra);
/* Begin a streamed response. headers: complete header lines ("Name: v\r\n"...) without
 * Content-Length/Transfer-Encoding/Connection, which this module adds. content_length < 0
 * means unknown: chunked for HTTP/1.1 clients, close-delimited for HTTP/1.0. */
int gs_http_start(gs_http_req *req, int status, const char *headers, int64_t content_length);
int gs_http_write(gs_http_req *req, const void *data, size_t len);
/* gs_http_start holds the head back so that it leaves with the first body bytes (one write for
 * a small answer); flush sends it now, for streams whose first bytes may take a while. */
int gs_http_flush(gs_http_req *req);
/* Cork: gs_http_write keeps the pieces (and a held head) until gs_http_uncork, gs_http_end or
 * 64 KiB, so that what one upstream read brought leaves in one write: one packet and one
 * wake-up of the client instead of one per piece. */
void gs_http_cork(gs_http_req *req);
int gs_http_uncork(gs_http_req *req);
/* Finish the response; the request must not be touched afterwards. */
int gs_http_end(gs_http_req *req);
/* The same, with trailer lines ("Name: v\r\n"...) after the last chunk, for what is known only
 * at the end (a stream whose head went out early); a response that is not chunked (HTTP/1.0)
 * ends without them. */
int gs_http_end_trailers(gs_http_req *req, const char *trailers);
/* Abort a started response (e.g. the upstream died): close the connection. */
void gs_http_abort(gs_http_req *req);
/* True while more than the high watermark of output waits in the socket's queue. */
bool gs_http_congested(const gs_http_req *req);

/* Raw mode, for a protocol upgrade (a WebSocket tunnel): no more HTTP on this connection. The
 * bytes the client sends go to on_data (those that came after the request head at once, inside
 * this call); gs_http_write sends bytes as they are; congestion, on_drain and on_abort work as
 * for a streamed response; gs_http_end closes once what was written has left. */
int gs_http_raw_start(gs_http_req *req, gs_http_data_cb on_data, void *data_ud);
/* Stop (true) or resume reading from the client: backpressure from the other side. */
void gs_http_raw_pause(gs_http_req *req, bool pause);

#endif
