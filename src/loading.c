#include "loading.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "mem.h"

#define COMMENT_EVERY_MS 1000
#define DOT_EVERY_MS 750      /* llama-swap's tick */
#define UPDATE_EVERY_TICKS 7  /* a progress line about every 5 s between the dots */
#define RULE "\xe2\x94\x81\xe2\x94\x81\xe2\x94\x81\xe2\x94\x81\xe2\x94\x81" /* five U+2501 */

struct gs_loading {
    uv_timer_t timer;
    gs_http_req *req;       /* NULL once released or finished */
    char *model;
    gs_loading_style style;
    gs_loading_progress_fn progress;
    void *ud;
    uint64_t t0;
    unsigned ticks;
};

void gs_loading_comment(gs_buf *b, const char *text)
{
    gs_buf_puts(b, ": ");
    for (const char *p = text; *p; p++)
        gs_buf_append(b, *p == '\n' || *p == '\r' ? " " : p, 1);
    gs_buf_puts(b, "\n\n");
}

void gs_loading_chunk(gs_buf *b, const char *text)
{
    json_t *o = json_pack("{s:[{s:{s:s}}]}", "choices", "delta", "reasoning_content", text);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    gs_buf_printf(b, "data: %s\n\n", s ? s : "{}");
    free(s);
    json_decref(o);
}

void gs_loading_error_event(gs_buf *b, int status, const char *type, const char *msg)
{
    json_t *o = json_pack("{s:{s:s, s:s, s:i}}", "error", "message", msg, "type", type, "code",
                          status);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    gs_buf_printf(b, "data: %s\n\n", s ? s : "{\"error\":{}}");
    free(s);
    json_decref(o);
}

bool gs_loading_wants_stream(const char *body, size_t len)
{
    if (!body || !len)
        return false;
    json_t *o = json_loadb(body, len, 0, NULL);
    bool yes = json_is_object(o) && json_is_true(json_object_get(o, "stream"));
    json_decref(o);
    return yes;
}

double gs_loading_elapsed(const gs_loading *l)
{
    return (double)(gs_clock_ns() - l->t0) / 1e9;
}

static void send_buf(gs_loading *l, gs_buf *b)
{
    if (l->req && b->len)
        gs_http_write(l->req, b->data, b->len);
    gs_buf_reset(b);
}

static void progress_text(gs_loading *l, char *out, size_t cap)
{
    out[0] = 0;
    if (l->progress)
        l->progress(l->ud, out, cap);
}

static void tick(uv_timer_t *t)
{
    gs_loading *l = t->data;
    if (!l->req)
        return;
    l->ticks++;
    gs_buf b;
    gs_buf_init(&b, 64 * 1024);
    char prog[300];
    progress_text(l, prog, sizeof prog);
    if (l->style == GS_LOADING_COMMENTS) {
        char line[400];
        snprintf(line, sizeof line, "ggswap: loading model %s: %.1f s%s%s", l->model,
                 gs_loading_elapsed(l), prog[0] ? ", " : "", prog);
        gs_loading_comment(&b, line);
    } else if (prog[0] && l->ticks % UPDATE_EVERY_TICKS == 0) {
        gs_loading_chunk(&b, "\n");
        gs_loading_chunk(&b, prog);
        gs_loading_chunk(&b, " ");
    } else {
        gs_loading_chunk(&b, ".");
    }
    send_buf(l, &b);
    gs_buf_free(&b);
}

gs_loading *gs_loading_start(uv_loop_t *loop, gs_http_req *req, const char *model,
                             gs_loading_style style, const char *extra,
                             gs_loading_progress_fn progress, void *ud)
{
    gs_loading *l = gs_mem_calloc(1, sizeof *l);
    l->req = req;
    l->model = gs_mem_strdup(model);
    l->style = style;
    l->progress = progress;
    l->ud = ud;
    l->t0 = gs_clock_ns();
    uv_timer_init(loop, &l->timer);
    l->timer.data = l;
    gs_buf h;
    gs_buf_init(&h, 64 * 1024);
    gs_buf_puts(&h, "Content-Type: text/event-stream\r\nCache-Control: no-cache\r\n");
    if (extra)
        gs_buf_puts(&h, extra);
    gs_http_start(req, 200, h.data, -1);
    gs_buf_free(&h);
    gs_buf b;
    gs_buf_init(&b, 64 * 1024);
    if (style == GS_LOADING_COMMENTS) {
        char line[300];
        snprintf(line, sizeof line, "ggswap: loading model %s", model);
        gs_loading_comment(&b, line);
    } else {
        char line[300];
        snprintf(line, sizeof line, "ggswap loading model: %s\n", model);
        gs_loading_chunk(&b, RULE "\n");
        gs_loading_chunk(&b, line);
    }
    gs_http_write(req, b.data, b.len); /* the head leaves with these bytes, now */
    gs_buf_free(&b);
    unsigned every = style == GS_LOADING_COMMENTS ? COMMENT_EVERY_MS : DOT_EVERY_MS;
    uv_timer_start(&l->timer, tick, every, every);
    return l;
}

static void closed(uv_handle_t *h)
{
    gs_loading *l = h->data;
    free(l->model);
    free(l);
}

void gs_loading_release(gs_loading *l)
{
    if (!l)
        return;
    l->req = NULL;
    uv_timer_stop(&l->timer);
    uv_close((uv_handle_t *)&l->timer, closed);
}

void gs_loading_finish(gs_loading *l)
{
    if (!l)
        return;
    if (l->req) {
        gs_buf b;
        gs_buf_init(&b, 64 * 1024);
        char line[300];
        if (l->style == GS_LOADING_COMMENTS) {
            snprintf(line, sizeof line, "ggswap: model %s ready after %.2f s", l->model,
                     gs_loading_elapsed(l));
            gs_loading_comment(&b, line);
        } else {
            snprintf(line, sizeof line, "Done! (%.2fs)\n", gs_loading_elapsed(l));
            gs_loading_chunk(&b, "\n");
            gs_loading_chunk(&b, line);
            gs_loading_chunk(&b, RULE "\n");
            gs_loading_chunk(&b, " \n");
        }
        send_buf(l, &b);
        gs_buf_free(&b);
    }
    gs_loading_release(l);
}
