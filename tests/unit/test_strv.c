/* The string-vector helpers and the clock every module shares. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "mem.h"
#include "strv.h"

Test(strv, push_keeps_the_vector_terminated_and_counted)
{
    char **v = NULL;
    int n = 0;
    const char *words[] = {"a", "bb", "", "ccc"};
    for (int i = 0; i < 4; i++) {
        gs_strv_push(&v, &n, gs_mem_strdup(words[i]));
        cr_assert_eq(n, i + 1);
        cr_assert_null(v[n], "terminated after %d pushes", n);
    }
    for (int i = 0; i < 4; i++)
        cr_assert_str_eq(v[i], words[i]);
    cr_assert(gs_strv_has(v, n, "bb"));
    cr_assert(gs_strv_has(v, n, ""));
    cr_assert_not(gs_strv_has(v, n, "b"));
    cr_assert_not(gs_strv_has(v, 1, "bb"), "only the first n are looked at");
    cr_assert_not(gs_strv_has(NULL, 0, "a"));
    gs_strv_free(v);
}

Test(strv, dup_is_deep_and_an_empty_vector_is_not_null)
{
    char *src[] = {"x", "y", NULL};
    char **d = gs_strv_dup(src, 2);
    cr_assert_neq(d[0], src[0], "strings are copied, not shared");
    cr_assert_str_eq(d[1], "y");
    cr_assert_null(d[2]);
    gs_strv_free(d);
    char **e = gs_strv_dup(NULL, 0);
    cr_assert_not_null(e);
    cr_assert_null(e[0]);
    /* A vector from dup (exactly n + 1 slots) can still be pushed onto. */
    int n = 0;
    gs_strv_push(&e, &n, gs_mem_strdup("z"));
    cr_assert_str_eq(e[0], "z");
    cr_assert_null(e[1]);
    gs_strv_free(e);
    gs_strv_free(NULL);
    gs_strv_free_n(NULL, 3);
}

Test(strv, free_n_frees_vectors_with_holes)
{
    char **v = gs_mem_calloc(3, sizeof *v);
    v[0] = gs_mem_strdup("a");
    v[2] = gs_mem_strdup("c"); /* v[1] is a hole: gs_strv_free would stop there and leak c */
    gs_strv_free_n(v, 3);
}

Test(clock, monotonic_ms_and_ns_agree_and_never_go_back)
{
    uint64_t ns0 = gs_clock_ns(), ms0 = gs_clock_ms();
    struct timespec d = {0, 20 * 1000 * 1000};
    nanosleep(&d, NULL);
    uint64_t ns1 = gs_clock_ns(), ms1 = gs_clock_ms();
    cr_assert_geq(ns1 - ns0, 20u * 1000 * 1000, "slept 20 ms: %llu ns", (unsigned long long)(ns1 - ns0));
    cr_assert_geq(ms1 - ms0, 19u);
    cr_assert_leq(ms1 - ns1 / 1000000u + 1, 2u, "ms is ns / 1e6");
}

Test(clock, wall_ms_is_the_epoch_time)
{
    uint64_t w = gs_clock_wall_ms();
    uint64_t t = (uint64_t)time(NULL) * 1000u;
    cr_assert(w + 2000 >= t && w <= t + 2000, "wall %llu vs time() %llu", (unsigned long long)w,
              (unsigned long long)t);
}
