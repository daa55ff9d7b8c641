#include "timing.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "mem.h"

const double gs_hist_bounds[GS_HIST_NBUCKETS] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300,
};

void gs_hist_observe(gs_hist *h, double seconds)
{
    if (!(seconds >= 0)) /* also NaN */
        seconds = 0;
    for (int i = 0; i < GS_HIST_NBUCKETS; i++)
        if (seconds <= gs_hist_bounds[i])
            h->buckets[i]++;
    h->count++;
    h->sum += seconds;
}

static size_t id_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return (size_t)h;
}

/* The slot of model in the index: its entry, or the empty one where it would go. */
static size_t id_slot(const gs_timing *t, const char *model)
{
    size_t i = id_hash(model) & (t->nindex - 1);
    while (t->index[i] && strcmp(t->m[t->index[i] - 1].model, model))
        i = (i + 1) & (t->nindex - 1);
    return i;
}

/* Looked up on every request and once per model at each load: hashed, so 1,000 models are not
 * 1,000 comparisons each. */
gs_model_timing *gs_timing_get(gs_timing *t, const char *model)
{
    if (t->nindex) {
        size_t i = id_slot(t, model);
        if (t->index[i])
            return &t->m[t->index[i] - 1];
    }
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->m = gs_mem_realloc(t->m, sizeof *t->m * (size_t)t->cap);
    }
    gs_model_timing *e = &t->m[t->n++];
    memset(e, 0, sizeof *e);
    e->model = gs_mem_strdup(model);
    if ((size_t)t->n * 2 >= t->nindex) {
        free(t->index);
        t->nindex = t->nindex ? t->nindex * 2 : 32;
        t->index = gs_mem_calloc(t->nindex, sizeof *t->index);
        for (int k = 0; k < t->n - 1; k++)
            t->index[id_slot(t, t->m[k].model)] = k + 1;
    }
    t->index[id_slot(t, model)] = t->n;
    return e;
}

void gs_timing_free(gs_timing *t)
{
    for (int i = 0; i < t->n; i++)
        free(t->m[i].model);
    free(t->m);
    free(t->index);
    memset(t, 0, sizeof *t);
}

gs_wait_split gs_timing_split(double arrive, double dispatch, double start, double ready)
{
    gs_wait_split w = {0, 0};
    double total = dispatch - arrive;
    if (total <= 0)
        return w;
    if (start > 0) {
        if (ready <= 0 || ready > dispatch)
            ready = dispatch;
        double from = start > arrive ? start : arrive;
        if (ready > from)
            w.load_ms = ready - from;
    }
    w.queue_ms = total - w.load_ms;
    if (w.queue_ms < 0)
        w.queue_ms = 0;
    return w;
}

static double ms_clean(double v)
{
    return v >= 0 ? v : 0; /* also NaN */
}

/* v (ms) with one decimal, as %.1f would print it, at out; returns the length. Every proxied
 * answer carries three of these: no printf (its float path was a few % of the proxy's time). */
static size_t put_ms(char *out, double v)
{
    v = ms_clean(v);
    if (v > 1e15) /* a clock gone wrong; no integer overflow below */
        v = 1e15;
    unsigned long long t = (unsigned long long)(v * 10 + 0.5);
    size_t n = gs_buf_fmt_u64(out, t / 10, 10);
    out[n++] = '.';
    out[n++] = (char)('0' + t % 10);
    return n;
}

int gs_timing_header(char *out, size_t cap, double queue_ms, double load_ms, double upstream_ms)
{
    static const char *const part[] = {"Server-Timing: queue;dur=", ", load;dur=",
                                       ", upstream;dur="};
    const double v[] = {queue_ms, load_ms, upstream_ms};
    char tmp[160];
    size_t k = 0;
    for (int i = 0; i < 3; i++) {
        size_t l = strlen(part[i]);
        memcpy(tmp + k, part[i], l);
        k += l;
        k += put_ms(tmp + k, v[i]); /* at most 19 digits: tmp cannot overflow */
    }
    tmp[k++] = '\r';
    tmp[k++] = '\n';
    if (k >= cap)
        return -1;
    memcpy(out, tmp, k);
    out[k] = 0;
    return (int)k;
}

void gs_timing_tag(gs_http_req *req, double queue_ms, double load_ms, double upstream_ms)
{
    if (!req || strstr(req->head_extra, "Server-Timing:"))
        return;
    size_t used = strlen(req->head_extra);
    gs_timing_header(req->head_extra + used, sizeof req->head_extra - used, queue_ms, load_ms,
                     upstream_ms);
    if (!strstr(req->head_extra + used, "\r\n"))
        req->head_extra[used] = 0; /* did not fit: nothing rather than half a line */
}

void gs_timing_tag_now(gs_http_req *req)
{
    if (req)
        gs_timing_tag(req, req->start_ns ? (double)(gs_clock_ns() - req->start_ns) / 1e6 : 0, 0, 0);
}

static void render_hist(const gs_timing *t, gs_buf *b, const char *name, const char *help,
                        size_t off)
{
    gs_buf_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    for (int i = 0; i < t->n; i++) {
        const gs_hist *h = (const gs_hist *)((const char *)&t->m[i] + off);
        const char *m = t->m[i].model;
        for (int k = 0; k < GS_HIST_NBUCKETS; k++)
            gs_buf_printf(b, "%s_bucket{model=\"%s\",le=\"%g\"} %llu\n", name, m,
                          gs_hist_bounds[k], (unsigned long long)h->buckets[k]);
        gs_buf_printf(b, "%s_bucket{model=\"%s\",le=\"+Inf\"} %llu\n", name, m,
                      (unsigned long long)h->count);
        gs_buf_printf(b, "%s_sum{model=\"%s\"} %.6f\n", name, m, h->sum);
        gs_buf_printf(b, "%s_count{model=\"%s\"} %llu\n", name, m, (unsigned long long)h->count);
    }
}

void gs_timing_render(const gs_timing *t, gs_buf *b)
{
    /* Model ids cannot hold quotes, backslashes or control characters (config validates
     * them), so they go into labels as they are. */
    render_hist(t, b, "ggswap_request_queue_seconds",
                "Time requests waited in line before going upstream, not counting their model's "
                "load.",
                offsetof(gs_model_timing, queue));
    render_hist(t, b, "ggswap_model_load_seconds", "Time from a model's start to its readiness.",
                offsetof(gs_model_timing, load));
    render_hist(t, b, "ggswap_request_ttft_seconds",
                "Time from a streamed request's arrival to its first token.",
                offsetof(gs_model_timing, ttft));
    gs_buf_puts(b, "# HELP ggswap_swaps_total Starts of a model that had to stop another first.\n"
                   "# TYPE ggswap_swaps_total counter\n");
    for (int i = 0; i < t->n; i++)
        gs_buf_printf(b, "ggswap_swaps_total{model=\"%s\"} %llu\n", t->m[i].model,
                      (unsigned long long)t->m[i].swaps);
}
