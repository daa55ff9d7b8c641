/* fuzz_matrix: the swap-matrix DSL and its solver. Input: up to 8 lines "name=expression" (a
 * line without '=' is a set named after its number); models are a..h, vars v1..v3 name a..c.
 * Checks the promises of matrix.h: bad input is an error with a message, never a crash; when it
 * compiles, every answer of the solver evicts only running models other than the target, what
 * stays runs together with the target, no cheaper choice exists, and only a target that no set
 * names is given no set. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "matrix.h"

#define NM 8
#define MAX_SETS 8

static int resolve(const char *id, void *ud)
{
    (void)ud;
    if (id[0] >= 'a' && id[0] < 'a' + NM && !id[1])
        return id[0] - 'a';
    if (id[0] == 'v' && id[1] >= '1' && id[1] <= '3' && !id[2])
        return id[1] - '1';
    return -1;
}

static void check(const gs_matrix *m, int target, unsigned mask, const int *costs)
{
    bool running[NM], evict[NM];
    for (int i = 0; i < NM; i++)
        running[i] = (mask >> i) & 1;
    int set = gs_matrix_solve(m, target, running, costs, evict);
    if (set < -1 || set >= gs_matrix_nsets(m))
        abort();
    if (running[target]) {
        for (int i = 0; i < NM; i++)
            if (evict[i])
                abort(); /* a running target evicts nothing */
        return;
    }
    int keep[NM + 1], nk = 0;
    long cost = 0;
    keep[nk++] = target;
    for (int i = 0; i < NM; i++) {
        if (evict[i] && (!running[i] || i == target))
            abort();
        if (running[i] && !evict[i])
            keep[nk++] = i;
        if (evict[i])
            cost += costs[i];
    }
    bool named = gs_matrix_together(m, &target, 1);
    if ((set >= 0) != named)
        abort();
    if (!gs_matrix_together(m, keep, nk) && nk > 1)
        abort();
    /* No subset of the running models that may stay beside the target costs less. */
    for (unsigned sub = mask;; sub = (sub - 1) & mask) {
        int k[NM + 1], n = 0;
        long c = 0;
        k[n++] = target;
        for (int i = 0; i < NM; i++) {
            if ((sub >> i) & 1)
                k[n++] = i;
            else if ((mask >> i) & 1)
                c += costs[i];
        }
        if (c < cost && gs_matrix_together(m, k, n))
            abort();
        if (!sub)
            break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    if (len > 4096)
        return 0;
    char *text = malloc(len + 1);
    memcpy(text, data, len);
    text[len] = 0;

    gs_matrix_set_def defs[MAX_SETS];
    char names[MAX_SETS][8];
    int n = 0;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line && n < MAX_SETS;
         line = strtok_r(NULL, "\n", &save)) {
        char err[256];
        err[0] = 0;
        if (gs_matrix_parse_check(line, err, sizeof err) < 0 && !err[0])
            abort(); /* an error always says why */
        char *eq = strchr(line, '=');
        if (eq) {
            *eq = 0;
            defs[n] = (gs_matrix_set_def){.name = line, .dsl = eq + 1};
        } else {
            names[n][0] = (char)('0' + n);
            names[n][1] = 0;
            defs[n] = (gs_matrix_set_def){.name = names[n], .dsl = line};
        }
        n++;
    }

    gs_matrix *m = NULL;
    int bad = -2;
    char err[256];
    err[0] = 0;
    int rc = gs_matrix_compile(defs, n, NM, resolve, NULL, &m, &bad, err, sizeof err);
    if (rc < 0) {
        if (m || !err[0] || bad < -1 || bad >= n)
            abort();
    } else {
        /* Running sets and costs come from the input's bytes, so the fuzzer steers them. */
        int costs[NM];
        for (int i = 0; i < NM; i++)
            costs[i] = 1 + (len > (size_t)i ? data[i] % 4 : 0);
        for (int t = 0; t < NM; t++) {
            unsigned mask = len ? data[(size_t)t * 7 % len] : 0;
            check(m, t, mask & 0x3f, costs);
            check(m, t, (mask >> 2) & 0x3f, costs);
        }
        gs_matrix_free(m);
    }
    free(text);
    return 0;
}
