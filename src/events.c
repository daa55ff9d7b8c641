#include "events.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "mem.h"

#define PING_MS 15000

typedef struct sub {
    struct sub *next, *prev;
    gs_events *e;
    gs_http_req *req;
    bool sse;
    char *filter;
    unsigned long dropped;
} sub;

struct gs_events {
    uv_timer_t ping;
    sub *subs;
    int n;
    bool publishing; /* a log line written while publishing must not recurse */
};

static void unlink_sub(sub *s)
{
    gs_events *e = s->e;
    if (s->prev)
        s->prev->next = s->next;
    else
        e->subs = s->next;
    if (s->next)
        s->next->prev = s->prev;
    e->n--;
    free(s->filter);
    free(s);
}

static void on_abort(gs_http_req *req, void *ud)
{
    unlink_sub(ud);
}

static void ping_cb(uv_timer_t *t)
{
    gs_events *e = t->data;
    for (sub *s = e->subs; s; s = s->next)
        if (s->sse && !gs_http_congested(s->req))
            gs_http_write(s->req, ": ping\n\n", 8);
}

gs_events *gs_events_new(uv_loop_t *loop)
{
    gs_events *e = gs_mem_calloc(1, sizeof *e);
    uv_timer_init(loop, &e->ping);
    e->ping.data = e;
    uv_timer_start(&e->ping, ping_cb, PING_MS, PING_MS);
    uv_unref((uv_handle_t *)&e->ping);
    return e;
}

static void add(gs_events *e, gs_http_req *req, bool sse, const char *filter)
{
    sub *s = gs_mem_calloc(1, sizeof *s);
    s->e = e;
    s->req = req;
    s->sse = sse;
    s->filter = filter ? gs_mem_strdup(filter) : NULL;
    s->next = e->subs;
    if (e->subs)
        e->subs->prev = s;
    e->subs = s;
    e->n++;
    req->ud = s;
    req->on_abort = on_abort;
}

void gs_events_add_sse(gs_events *e, gs_http_req *req, const char *hello)
{
    gs_http_start(req, 200,
                  "Content-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                  "X-Accel-Buffering: no\r\n",
                  -1);
    if (hello)
        gs_http_write(req, hello, strlen(hello));
    else
        gs_http_flush(req);
    add(e, req, true, NULL);
}

void gs_events_add_log(gs_events *e, gs_http_req *req, const char *filter, const char *history)
{
    gs_http_start(req, 200,
                  "Content-Type: text/plain; charset=utf-8\r\nCache-Control: no-cache\r\n"
                  "X-Content-Type-Options: nosniff\r\n",
                  -1);
    if (history && *history)
        gs_http_write(req, history, strlen(history));
    else
        gs_http_flush(req);
    add(e, req, false, filter);
}

static void send_to(sub *s, const char *data, size_t len)
{
    if (gs_http_congested(s->req)) {
        s->dropped++;
        return;
    }
    gs_http_write(s->req, data, len);
}

void gs_events_publish(gs_events *e, const char *event, const char *data)
{
    if (!e || !e->subs)
        return;
    size_t len = strlen(event) + strlen(data) + 32;
    char *msg = gs_mem_alloc(len);
    int n = snprintf(msg, len, "event: %s\ndata: %s\n\n", event, data);
    e->publishing = true;
    sub *next;
    for (sub *s = e->subs; s; s = next) {
        next = s->next;
        if (s->sse)
            send_to(s, msg, (size_t)n);
    }
    e->publishing = false;
    free(msg);
}

void gs_events_log_line(gs_events *e, const char *source, const char *line, size_t len)
{
    if (!e || !e->subs || e->publishing)
        return;
    bool any_sse = false;
    e->publishing = true;
    sub *next;
    for (sub *s = e->subs; s; s = next) {
        next = s->next;
        if (s->sse) {
            any_sse = true;
            continue;
        }
        /* "upstream": every model's lines, as they came; else one source. */
        bool proxy_line = strcmp(source, "proxy") == 0;
        if (s->filter && (strcmp(s->filter, "upstream") == 0 ? proxy_line
                                                             : strcmp(s->filter, source) != 0))
            continue;
        if (gs_http_congested(s->req)) {
            s->dropped++;
            continue;
        }
        if (!s->filter && !proxy_line) {
            char pre[160];
            int k = snprintf(pre, sizeof pre, "[%s] ", source);
            gs_http_write(s->req, pre, (size_t)k);
        }
        gs_http_write(s->req, line, len);
        gs_http_write(s->req, "\n", 1);
    }
    e->publishing = false;
    if (any_sse) {
        /* Child output can be any bytes; JSON wants UTF-8, so bad bytes become '?'. */
        char *clean = gs_mem_strndup(line, len);
        gs_buf_scrub_utf8(clean, len);
        json_t *o = json_pack("{s:s, s:s%}", "source", source, "line", clean, len);
        free(clean);
        if (o) {
            char *d = json_dumps(o, JSON_COMPACT);
            gs_events_publish(e, "log", d);
            free(d);
            json_decref(o);
        }
    }
}

int gs_events_count(const gs_events *e)
{
    return e ? e->n : 0;
}

void gs_events_close_all(gs_events *e)
{
    while (e->subs) {
        sub *s = e->subs;
        gs_http_req *req = s->req;
        req->on_abort = NULL;
        unlink_sub(s);
        gs_http_end(req);
    }
}

static void timer_closed(uv_handle_t *h)
{
    free(h->data);
}

void gs_events_free(gs_events *e)
{
    if (!e)
        return;
    gs_events_close_all(e);
    uv_close((uv_handle_t *)&e->ping, timer_closed);
}
