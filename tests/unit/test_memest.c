#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ggufw.h"
#include "mem.h"
#include "memest.h"

#define MiB (1024ull * 1024)

TestSuite(memest, .timeout = 60);

/* ---- the command line, as llama-server reads it ---- */

static int parse(const char *line, gs_memest_args *a, char **err)
{
    static char buf[1024];
    static char *argv[64];
    snprintf(buf, sizeof buf, "llama-server %s", line);
    int argc = 0;
    for (char *s = NULL, *t = strtok_r(buf, " ", &s); t && argc < 63; t = strtok_r(NULL, " ", &s))
        argv[argc++] = t;
    argv[argc] = NULL;
    return gs_memest_parse_args(argv, argc, a, err);
}

Test(memest, defaults)
{
    gs_memest_args a;
    cr_assert_eq(parse("-m x.gguf --port 5800", &a, NULL), 0);
    cr_assert_str_eq(a.model, "x.gguf");
    cr_assert_eq(a.ctx, 0);
    cr_assert_eq(a.parallel, -1);
    cr_assert_eq(a.ngl, -1);
    cr_assert_eq(a.ubatch, 512);
    cr_assert_eq(a.cache_k, 1);
    cr_assert_eq(a.flash, -1);
    cr_assert_eq(a.split_mode, 1);
}

Test(memest, options_table)
{
    static const struct {
        const char *line;
        int64_t ctx;
        int np, ngl, moe, ctk, ctv, fa, ub;
    } t[] = {
        {"-m a -c 8192 -np 2", 8192, 2, -1, 0, 1, 1, -1, 512},
        {"--model a --ctx-size 1024 --parallel 1 --n-gpu-layers 20", 1024, 1, 20, 0, 1, 1, -1, 512},
        {"-m a -ngl all --n-cpu-moe 10", 0, -1, -1, 10, 1, 1, -1, 512},
        {"-m a --cpu-moe -ngl 99", 0, -1, 99, INT_MAX, 1, 1, -1, 512},
        {"-m a -ctk q8_0 -ctv q4_0 -fa on", 0, -1, -1, 0, 8, 2, 1, 512},
        {"-m a -fa -c 512", 512, -1, -1, 0, 1, 1, 1, 512},   /* older bare -fa */
        {"-m a --flash-attn off -ub 256", 0, -1, -1, 0, 1, 1, 0, 256},
        {"-m a --gpu-layers auto -np 0", 0, -1, -1, 0, 1, 1, -1, 512},
        {"-m a --seed -1 -c 2048", 2048, -1, -1, 0, 1, 1, -1, 512}, /* unknown option skipped */
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        gs_memest_args a;
        char *err = NULL;
        cr_assert_eq(parse(t[i].line, &a, &err), 0, "%s: %s", t[i].line, err ? err : "");
        cr_expect_eq(a.ctx, t[i].ctx, "%s: ctx", t[i].line);
        cr_expect_eq(a.parallel, t[i].np, "%s: np", t[i].line);
        cr_expect_eq(a.ngl, t[i].ngl, "%s: ngl", t[i].line);
        cr_expect_eq(a.n_cpu_moe, t[i].moe, "%s: moe", t[i].line);
        cr_expect_eq(a.cache_k, t[i].ctk, "%s: ctk", t[i].line);
        cr_expect_eq(a.cache_v, t[i].ctv, "%s: ctv", t[i].line);
        cr_expect_eq(a.flash, t[i].fa, "%s: fa", t[i].line);
        cr_expect_eq(a.ubatch, t[i].ub, "%s: ub", t[i].line);
    }
}

Test(memest, bad_values_name_the_option)
{
    static const char *const t[] = {"-m a -c lots", "-m a -ctk q9", "-m a -ngl", "-m a -sm diagonal",
                                    "-m a -np -5", "-m a -ts 1,x"};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        gs_memest_args a;
        char *err = NULL;
        cr_expect_eq(parse(t[i], &a, &err), -EINVAL, "%s", t[i]);
        cr_expect_not_null(err, "%s", t[i]);
        if (err) {
            char opt[16];
            sscanf(t[i] + 5, "%15s", opt);
            cr_expect(strstr(err, opt) != NULL, "%s: %s", t[i], err);
        }
        free(err);
    }
}

/* ---- the estimate over a synthetic header ---- */

/* A dense model: nl layers of 100 MiB, token_embd 50 MiB, output 30 MiB; 32 heads of 128,
 * 8 KV heads, embd 4096, ff 14336, vocab 32000. */
static gs_gguf_info dense(uint32_t nl)
{
    gs_gguf_info m = {0};
    m.architecture = (char *)"llama";
    m.n_layer = nl;
    m.n_embd = 4096;
    m.n_ff = 14336;
    m.n_head = 32;
    m.n_head_kv = 8;
    m.key_length = m.value_length = 128;
    m.n_vocab = 32000;
    m.context_length = 8192;
    m.ntensors = nl + 2;
    m.tensors = gs_mem_calloc(m.ntensors, sizeof *m.tensors);
    for (uint32_t i = 0; i < nl; i++) {
        snprintf(m.tensors[i].name, sizeof m.tensors[i].name, "blk.%u.ffn_up.weight", i);
        m.tensors[i].layer = (int)i;
        m.tensors[i].bytes = 100 * MiB;
    }
    snprintf(m.tensors[nl].name, 80, "token_embd.weight");
    m.tensors[nl].layer = -1;
    m.tensors[nl].bytes = 50 * MiB;
    snprintf(m.tensors[nl + 1].name, 80, "output.weight");
    m.tensors[nl + 1].layer = -1;
    m.tensors[nl + 1].bytes = 30 * MiB;
    m.file_size = nl * 100 * MiB + 80 * MiB;
    return m;
}

static gs_memest est(const gs_gguf_info *m, const char *line, int gpus)
{
    gs_memest_args a;
    cr_assert_eq(parse(line, &a, NULL), 0);
    gs_memest e;
    gs_memest_compute(m, NULL, NULL, &a, gpus, &e);
    return e;
}

/* KV of the dense model: per layer and cell 8 heads x (128 + 128) x 2 bytes = 4 KiB. */
Test(memest, kv_is_context_times_layers_heads_head_size_and_type)
{
    gs_gguf_info m = dense(10);
    static const struct { const char *line; uint64_t kv; } t[] = {
        {"-m a -c 4096", 4096ull * 10 * 4096},
        {"-m a -c 4096 -np 4", 4096ull * 10 * 4096},   /* -c is all slots together */
        {"-m a -c 1000", 1024ull * 10 * 4096},         /* padded to 256 cells */
        {"-m a", 8192ull * 10 * 4096},                 /* the header's context */
        {"-m a -c 4096 -ctk q8_0 -ctv q8_0", 4096ull * 10 * 8 * (136 + 136)},
        {"-m a -c 4096 -ctk f32", 4096ull * 10 * 8 * (512 + 256)},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        gs_memest e = est(&m, t[i].line, 0);
        cr_expect_eq(e.kv, t[i].kv, "%s: kv %llu, want %llu", t[i].line,
                     (unsigned long long)e.kv, (unsigned long long)t[i].kv);
        cr_expect_eq(e.ndev, 1);
        cr_expect_eq(e.weights, 1080 * MiB);
        cr_expect_eq(gs_memest_total(&e), e.weights + e.kv + e.compute + e.overhead);
    }
    free(m.tensors);
}

Test(memest, per_layer_kv_heads_and_sliding_window_layers)
{
    gs_gguf_info m = dense(6);
    uint32_t heads[6] = {8, 8, 0, 8, 4, 8}; /* a layer without attention has no cache */
    m.layer_head_kv = heads;
    gs_memest e = est(&m, "-m a -c 4096", 0);
    cr_expect_eq(e.kv, 4096ull * (8 + 8 + 0 + 8 + 4 + 8) * 512);
    m.layer_head_kv = NULL;

    /* gemma3: of each 6 layers 5 slide over 1024 tokens: per slot 1024 + a batch of 512 */
    m.architecture = (char *)"gemma3";
    m.n_swa = 1024;
    e = est(&m, "-m a -c 32768 -np 1", 0);
    cr_expect_eq(e.kv, (5ull * 1536 + 32768) * 4096);
    e = est(&m, "-m a -c 32768 -np 2", 0);
    cr_expect_eq(e.kv, (5ull * 2560 + 32768) * 4096);
    e = est(&m, "-m a -c 32768 --swa-full", 0);
    cr_expect_eq(e.kv, 6ull * 32768 * 4096);
    /* a period in the header wins over the table; an unknown arch slides nowhere */
    m.swa_period = 2;
    e = est(&m, "-m a -c 32768 -np 1", 0);
    cr_expect_eq(e.kv, (3ull * 1536 + 3 * 32768) * 4096);
    m.swa_period = 0;
    m.architecture = (char *)"mystery";
    e = est(&m, "-m a -c 32768 -np 1", 0);
    cr_expect_eq(e.kv, 6ull * 32768 * 4096);
    uint8_t pat[6] = {1, 0, 1, 0, 0, 0};
    m.layer_swa = pat;
    e = est(&m, "-m a -c 32768 -np 1", 0);
    cr_expect_eq(e.kv, (2ull * 1536 + 4 * 32768) * 4096);
    free(m.tensors);
}

Test(memest, mla_caches_one_latent)
{
    gs_gguf_info m = dense(4);
    m.kv_lora_rank = 512;
    m.rope_dim = 64;
    gs_memest e = est(&m, "-m a -c 4096", 0);
    cr_expect_eq(e.kv, 4096ull * 4 * (512 + 64) * 2);
    free(m.tensors);
}

/* Where the weights go: -ngl counts from the last layer, the output layer is layer n_layer,
 * token_embd stays in RAM. */
Test(memest, gpu_layers_table)
{
    gs_gguf_info m = dense(10);
    static const struct {
        const char *line;
        int gpus;
        uint64_t ram_w, gpu0_w, gpu1_w; /* weights only */
    } t[] = {
        {"-m a -c 4096", 0, 1080, 0, 0},
        {"-m a -c 4096", 1, 50, 1030, 0},          /* default: everything offloaded */
        {"-m a -c 4096 -ngl 99", 1, 50, 1030, 0},
        {"-m a -c 4096 -ngl 0", 1, 1080, 0, 0},
        {"-m a -c 4096 -ngl 10", 1, 80, 1000, 0},   /* all layers, output stays */
        {"-m a -c 4096 -ngl 4", 1, 680, 400, 0},
        {"-m a -c 4096 -ngl 11", 2, 50, 600, 430},  /* 11 offloaded: 6 and 5 (output) */
        {"-m a -c 4096 -ngl 11 -ts 3,1", 2, 50, 900, 130},
        {"-m a -c 4096 -ngl 11 -sm none -mg 1", 2, 50, 0, 1030},
        {"-m a -c 4096 -ot blk\\.[0-4]\\.=CPU", 1, 550, 530, 0},
        /* layers 0-5 would be GPU 0's share, 0-4 are sent to GPU 1 */
        {"-m a -c 4096 -ot blk\\.[0-4]\\.=CUDA1,output=CPU", 2, 80, 100, 900},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        gs_memest e = est(&m, t[i].line, t[i].gpus);
        uint64_t want[3] = {t[i].ram_w, t[i].gpu0_w, t[i].gpu1_w};
        for (int d = 0; d < 3; d++)
            cr_expect_eq(e.weights_dev[d], want[d] * MiB, "%s (%d GPUs): device %d has %llu MiB, want %llu",
                         t[i].line, t[i].gpus, d, (unsigned long long)(e.weights_dev[d] / MiB),
                         (unsigned long long)want[d]);
        /* the KV cache follows the layers: 10 layers x 4096 cells x 4 KiB */
        uint64_t kv_gpu = 0;
        for (int d = 1; d < e.ndev; d++)
            kv_gpu += e.dev[d] - e.weights_dev[d];
        if (t[i].gpus && t[i].gpu0_w + t[i].gpu1_w >= 1000)
            cr_expect_geq(kv_gpu, e.kv, "%s", t[i].line);
        cr_expect_eq(gs_memest_total(&e), e.weights + e.kv + e.compute + e.overhead, "%s", t[i].line);
    }
    free(m.tensors);
}

Test(memest, experts_stay_in_ram_with_n_cpu_moe)
{
    gs_gguf_info m = dense(4);
    m.ntensors = 4 + 2 + 4;
    m.tensors = gs_mem_realloc(m.tensors, m.ntensors * sizeof *m.tensors);
    for (int i = 0; i < 4; i++) {
        struct gs_gguf_tensor *t = &m.tensors[6 + i];
        snprintf(t->name, sizeof t->name, "blk.%d.ffn_up_exps.weight", i);
        t->layer = i;
        t->bytes = 1000 * MiB;
    }
    static const struct { const char *line; uint64_t ram_experts; } t[] = {
        {"-m a -c 256", 0}, {"-m a -c 256 --n-cpu-moe 1", 1000}, {"-m a -c 256 --n-cpu-moe 3", 3000},
        {"-m a -c 256 --cpu-moe", 4000}, {"-m a -c 256 -ot exps=CPU", 4000},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        gs_memest e = est(&m, t[i].line, 1);
        uint64_t ram = e.dev[0] / MiB; /* token_embd 50 + experts + KV/host/overhead (<60) */
        cr_expect_geq(ram, 50 + t[i].ram_experts, "%s: %llu", t[i].line, (unsigned long long)ram);
        cr_expect_lt(ram, 50 + t[i].ram_experts + 60, "%s: %llu", t[i].line, (unsigned long long)ram);
    }
    free(m.tensors);
}

Test(memest, flash_attention_off_adds_the_scores)
{
    gs_gguf_info m = dense(2);
    gs_memest on = est(&m, "-m a -c 4096", 0), off = est(&m, "-m a -c 4096 -fa off", 0);
    cr_expect_eq(off.compute - on.compute, 32ull * 4096 * 512 * 4);
    gs_memest half = est(&m, "-m a -c 4096 -ub 256", 0);
    cr_expect_lt(half.compute, on.compute * 6 / 10);
    free(m.tensors);
}

Test(memest, projector_draft_and_gpu_context)
{
    gs_gguf_info m = dense(4), d = dense(2), mm = {0};
    mm.file_size = 400 * MiB;
    gs_memest_args a;
    cr_assert_eq(parse("-m a -c 4096 -md d --mmproj p", &a, NULL), 0);
    gs_memest base, e;
    gs_memest_compute(&m, NULL, NULL, &a, 1, &base);
    gs_memest_compute(&m, &mm, &d, &a, 1, &e);
    /* projector: 400 + 100 + 16 MiB on the GPU; draft: its own weights, KV and compute */
    cr_expect_gt(e.extra, (516 + 280) * MiB);
    cr_expect_eq(gs_memest_total(&e), gs_memest_total(&base) + e.extra);
    cr_expect_geq(e.dev[1] - base.dev[1], (516 + 230) * MiB);
    cr_expect_eq(base.overhead, 24 * MiB + 256 * MiB);
    /* no GPU: no GPU context, everything in RAM */
    gs_memest_compute(&m, &mm, &d, &a, 0, &e);
    cr_expect_eq(e.ndev, 1);
    cr_expect_eq(e.overhead, 24 * MiB);
    cr_assert_eq(parse("-m a -c 4096 --mmproj p --no-mmproj-offload", &a, NULL), 0);
    gs_memest_compute(&m, &mm, NULL, &a, 1, &e);
    gs_memest_compute(&m, NULL, NULL, &a, 1, &base);
    cr_expect_eq(e.dev[0] - base.dev[0], 516 * MiB);
    free(m.tensors);
    free(d.tensors);
}

/* ---- against what a real llama-server (build 11669, x86-64) printed for tiny models ---- */

Test(memest, matches_llama_server_figures)
{
    char dir[] = "/tmp/gs-memest-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    static const struct {
        int embd, layers, ff, ctx;
        double model_mib, kv_mib, compute_mib;  /* printed buffer sizes */
    } t[] = {
        {256, 4, 1024, 4096, 16.70, 16.0, 12.52},
        {768, 8, 2048, 4096, 218.12, 96.0, 23.52},
        {768, 8, 2048, 2048, 218.12, 48.0, 21.52},
        {64, 2, 128, 8192, 0.49, 4.0, 9.14},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        char *p = gs_mem_printf("%s/m%zu.gguf", dir, i);
        cr_assert_eq(gs_gguf_write_tiny_llama(p, "t", 1, t[i].embd, t[i].layers, t[i].ff), 0);
        char ctx[16];
        snprintf(ctx, sizeof ctx, "%d", t[i].ctx);
        char *argv[] = {"llama-server", "-m", p, "-c", ctx, "--port", "5800", NULL};
        gs_memest e;
        char *err = NULL;
        cr_assert_eq(gs_memest_argv(argv, 7, 0, &e, &err), 0, "%s", err ? err : "");
        double w = (double)e.weights / MiB, kv = (double)e.kv / MiB, c = (double)e.compute / MiB;
        cr_expect(w >= t[i].model_mib * 0.99 && w <= t[i].model_mib * 1.05 + 0.1, "%zu: weights %.2f", i, w);
        cr_expect(kv >= t[i].kv_mib && kv <= t[i].kv_mib * 1.01, "%zu: kv %.2f", i, kv);
        cr_expect(c >= t[i].compute_mib && c <= t[i].compute_mib * 1.25 + 1, "%zu: compute %.2f", i, c);
        unlink(p);
        free(p);
    }
    rmdir(dir);
}

Test(memest, files_that_are_missing_or_not_named)
{
    gs_memest e;
    char *err = NULL;
    char *a1[] = {"llama-server", "-hf", "org/repo", NULL};
    cr_expect_eq(gs_memest_argv(a1, 3, 0, &e, &err), -ENOENT);
    cr_expect(err && strstr(err, "-hf"), "%s", err ? err : "");
    free(err);
    err = NULL;
    char *a2[] = {"llama-server", "-m", "/nonexistent/x.gguf", NULL};
    cr_expect_eq(gs_memest_argv(a2, 3, 0, &e, &err), -ENOENT);
    cr_expect(err && strstr(err, "/nonexistent/x.gguf"), "%s", err ? err : "");
    free(err);
}

Test(memest, human)
{
    char b[16];
    cr_expect_str_eq(gs_memest_human(4402341478ull, b, sizeof b), "4.1 GiB");
    cr_expect_str_eq(gs_memest_human(230 * MiB, b, sizeof b), "230 MiB");
    cr_expect_str_eq(gs_memest_human(2048, b, sizeof b), "2 KiB");
}
