/* Where a request's time went: the queue/load split, Server-Timing, the histograms. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "timing.h"

struct split_case {
    const char *what;
    double arrive, dispatch, start, ready;
    double queue, load;
};

Test(timing, split_table)
{
    static const struct split_case cases[] = {
        {"model was ready long before", 1000, 1002, 10, 20, 2, 0},
        {"never started (start unknown)", 1000, 1005, 0, 0, 5, 0},
        {"request started the model", 1000, 1900, 1000, 1890, 10, 890},
        {"joined a start already under way", 1000, 1500, 700, 1490, 10, 490},
        {"waited, then the start began", 1000, 3000, 2000, 2900, 1100, 900},
        {"ready unknown: load runs to dispatch", 1000, 1400, 1100, 0, 100, 300},
        {"ready after dispatch is clamped", 1000, 1400, 1100, 1500, 100, 300},
        {"dispatch before arrival (clock skew)", 1000, 999, 500, 600, 0, 0},
        {"ready before arrival", 1000, 1010, 500, 900, 10, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct split_case *c = &cases[i];
        gs_wait_split w = gs_timing_split(c->arrive, c->dispatch, c->start, c->ready);
        cr_assert_float_eq(w.queue_ms, c->queue, 1e-9, "%s: queue %f", c->what, w.queue_ms);
        cr_assert_float_eq(w.load_ms, c->load, 1e-9, "%s: load %f", c->what, w.load_ms);
    }
}

Test(timing, header)
{
    char h[200];
    int k = gs_timing_header(h, sizeof h, 1.24, 0, 35.06);
    cr_assert_str_eq(h, "Server-Timing: queue;dur=1.2, load;dur=0.0, upstream;dur=35.1\r\n");
    cr_assert_eq(k, (int)strlen(h));
    /* Negative or NaN figures never leak into a header. */
    gs_timing_header(h, sizeof h, -3, 0.0 / 0.0, 2);
    cr_assert_str_eq(h, "Server-Timing: queue;dur=0.0, load;dur=0.0, upstream;dur=2.0\r\n");
    cr_assert_eq(gs_timing_header(h, 10, 1, 2, 3), -1, "too small");
}

Test(timing, header_figures_are_printfs_one_decimal)
{
    /* Formatted without printf now: each figure must still read as %.1f of the value would
     * (within half a tenth where the value sits on a rounding tie). */
    char h[200], want[200];
    for (int i = 0; i < 3000; i++) {
        double q = i * 0.377, l = i * 13.03, u = i * 1000.0417;
        int k = gs_timing_header(h, sizeof h, q, l, u);
        cr_assert_gt(k, 0);
        double gq, gl, gu;
        cr_assert_eq(sscanf(h, "Server-Timing: queue;dur=%lf, load;dur=%lf, upstream;dur=%lf", &gq,
                            &gl, &gu),
                     3, "%s", h);
        cr_assert_float_eq(gq, q, 0.05 + 1e-6, "%s", h);
        cr_assert_float_eq(gl, l, 0.05 + 1e-6, "%s", h);
        cr_assert_float_eq(gu, u, 0.05 + 1e-6, "%s", h);
        snprintf(want, sizeof want, "Server-Timing: queue;dur=%.1f, load;dur=%.1f, upstream;dur=%.1f\r\n",
                 q, l, u);
        cr_assert_eq(strlen(h), strlen(want), "same width: %s vs %s", h, want);
    }
    gs_timing_header(h, sizeof h, 1e300, 0, 0); /* a broken clock: clamped, no overflow */
    cr_assert(strncmp(h, "Server-Timing: queue;dur=1000000000000000.0,", 44) == 0, "%s", h);
}

Test(timing, histogram_buckets_are_cumulative)
{
    gs_hist h;
    memset(&h, 0, sizeof h);
    gs_hist_observe(&h, 0.0005);
    gs_hist_observe(&h, 0.3);
    gs_hist_observe(&h, 1000);
    gs_hist_observe(&h, -1);
    cr_assert_eq(h.count, 4);
    cr_assert_eq(h.buckets[0], 2, "0.0005 and -1 (as 0) are <= 1 ms");
    cr_assert_eq(h.buckets[8], 3, "<= 0.5 s");
    cr_assert_eq(h.buckets[GS_HIST_NBUCKETS - 1], 3, "1000 s only in +Inf");
    cr_assert_float_eq(h.sum, 1000.3005, 1e-9);
}

Test(timing, render_prometheus)
{
    gs_timing t = {0};
    gs_model_timing *a = gs_timing_get(&t, "a");
    cr_assert_eq(gs_timing_get(&t, "a"), a, "one entry per model");
    for (int i = 0; i < 40; i++)
        gs_timing_get(&t, i % 2 ? "x" : "y"); /* grows past the first allocation */
    a = gs_timing_get(&t, "a");
    gs_hist_observe(&a->load, 0.9);
    a->swaps = 3;
    gs_buf b;
    gs_buf_init(&b, 0);
    gs_timing_render(&t, &b);
    cr_assert(strstr(b.data, "# TYPE ggswap_model_load_seconds histogram\n"));
    cr_assert(strstr(b.data, "ggswap_model_load_seconds_bucket{model=\"a\",le=\"0.5\"} 0\n"));
    cr_assert(strstr(b.data, "ggswap_model_load_seconds_bucket{model=\"a\",le=\"1\"} 1\n"));
    cr_assert(strstr(b.data, "ggswap_model_load_seconds_bucket{model=\"a\",le=\"+Inf\"} 1\n"));
    cr_assert(strstr(b.data, "ggswap_model_load_seconds_count{model=\"a\"} 1\n"));
    cr_assert(strstr(b.data, "ggswap_request_queue_seconds_count{model=\"y\"} 0\n"));
    cr_assert(strstr(b.data, "# TYPE ggswap_request_ttft_seconds histogram\n"));
    cr_assert(strstr(b.data, "# TYPE ggswap_swaps_total counter\nggswap_swaps_total{model=\"a\"} 3\n"));
    gs_buf_free(&b);
    gs_timing_free(&t);
}

Test(timing, tag_goes_into_head_extra_once_and_only_whole)
{
    gs_http_req req;
    memset(&req, 0, sizeof req);
    snprintf(req.head_extra, sizeof req.head_extra, "Access-Control-Allow-Origin: x\r\n");
    gs_timing_tag(&req, 1.5, 300, 0);
    cr_assert_str_eq(req.head_extra, "Access-Control-Allow-Origin: x\r\n"
                                     "Server-Timing: queue;dur=1.5, load;dur=300.0, upstream;dur=0.0\r\n");
    gs_timing_tag(&req, 9, 9, 9); /* a second answer path must not add a second line */
    cr_assert_eq(strstr(strstr(req.head_extra, "Server-Timing") + 1, "Server-Timing"), NULL);

    /* No room: nothing rather than half a header line. */
    memset(&req, 0, sizeof req);
    memset(req.head_extra, 'a', sizeof req.head_extra - 20);
    gs_timing_tag(&req, 1, 2, 3);
    cr_assert_eq(strlen(req.head_extra), sizeof req.head_extra - 20);
    cr_assert_null(strstr(req.head_extra, "Server"));
}

/* The per model table is hashed: 1,000 ids each get their own entry, found again by id, in the
 * order they came (which /metrics lists). */
Test(timing, thousand_models_each_their_own_entry)
{
    gs_timing t = {0};
    char id[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(id, sizeof id, "model%d:7b", i);
        gs_timing_get(&t, id)->swaps = (uint64_t)i + 1;
    }
    cr_assert_eq(t.n, 1000);
    for (int i = 999; i >= 0; i--) {
        snprintf(id, sizeof id, "model%d:7b", i);
        cr_expect_eq(gs_timing_get(&t, id)->swaps, (uint64_t)i + 1, "%s", id);
        cr_expect_str_eq(t.m[i].model, id);
    }
    cr_expect_eq(t.n, 1000, "no entry made twice");
    gs_timing_free(&t);
}
