#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mem.h"
#include "memlearn.h"

#define MiB (1024ull * 1024)

TestSuite(memlearn, .timeout = 30);

/* What build 11669 printed at -lv 4 for a 0.5 MB model, -c 1024 -np 2: the --fit dry run
 * first (zero-sized buffers), then the real load. */
static const char *log_cpu =
    "0.00.021.370 I common_memory_breakdown_print: | memory breakdown [MiB] | total   free    self   model   context   compute    unaccounted |\n"
    "0.00.021.370 I common_memory_breakdown_print: |   - Host               |                    2 =     0 +       0 +       1                |\n"
    "0.00.015.658 I load_tensors:          CPU model buffer size =     0.00 MiB\n"
    "0.00.015.782 I llama_kv_cache:        CPU KV buffer size =     0.00 MiB\n"
    "0.00.016.696 I sched_reserve:        CPU compute buffer size =     1.64 MiB\n"
    "0.00.022.481 I load_tensors:   CPU_Mapped model buffer size =     0.49 MiB\n"
    "0.00.022.720 I llama_context:        CPU  output buffer size =     0.01 MiB\n"
    "0.00.022.752 I llama_kv_cache:        CPU KV buffer size =     0.50 MiB\n"
    "0.00.022.974 I llama_kv_cache: size =    0.50 MiB (   512 cells,   2 layers,  2/2 seqs), K (f16):    0.25 MiB, V (f16):    0.25 MiB\n"
    "0.00.024.063 I sched_reserve:        CPU compute buffer size =     1.64 MiB\n"
    "0.00.238.598 D ~llama_context:        CPU compute buffer size is   1.6426 MiB, matches expectation of   1.6426 MiB\n";

Test(memlearn, cpu_buffers_of_the_last_pass)
{
    gs_memlearn_log l = {0};
    gs_memlearn_parse(&l, log_cpu, strlen(log_cpu));
    cr_assert(l.have_buf);
    uint64_t want = (uint64_t)(0.49 * MiB) + (uint64_t)(0.01 * MiB) + (uint64_t)(0.50 * MiB) +
                    (uint64_t)(1.64 * MiB);
    cr_expect_eq(l.buf[0], want, "%llu", (unsigned long long)l.buf[0]);
    cr_expect_eq(l.breakdown[0], 2 * MiB);
    cr_expect(!l.oom);
    uint64_t dev[GS_MEMEST_MAX_DEV];
    cr_assert(gs_memlearn_log_figure(&l, dev));
    cr_expect_eq(dev[0], want + 24 * MiB);
    cr_expect_eq(dev[1], 0);
}

Test(memlearn, gpu_buffers_and_breakdown)
{
    static const char *t =
        "load_tensors: offloading 32 repeating layers to GPU\n"
        "load_tensors:        CUDA0 model buffer size =  4403.49 MiB\n"
        "load_tensors:   CPU_Mapped model buffer size =   281.81 MiB\n"
        "llama_kv_cache:      CUDA0 KV buffer size =  1024.00 MiB\n"
        "llama_kv_cache:      CUDA1 KV buffer size =   512.00 MiB\n"
        "sched_reserve:      CUDA0 compute buffer size =   560.00 MiB\n"
        "sched_reserve:  CUDA_Host compute buffer size =    24.01 MiB\n"
        "common_memory_breakdown_print: |   - CUDA0 (NVIDIA GeForce RTX 4090) | 24080 = 17000 + ( 6100 =  4403 +    1024 +     560) +   980 |\n"
        "common_memory_breakdown_print: |   - Host                            |                   305 =   281 +       0 +      24                |\n";
    gs_memlearn_log l = {0};
    gs_memlearn_parse(&l, t, strlen(t));
    cr_expect_eq(l.buf[1], (uint64_t)(4403.49 * MiB) + 1024 * MiB + 560 * MiB);
    cr_expect_eq(l.buf[2], 512 * MiB);
    cr_expect_eq(l.buf[0], (uint64_t)(281.81 * MiB) + (uint64_t)(24.01 * MiB));
    cr_expect_eq(l.breakdown[1], 6100 * MiB);
    cr_expect_eq(l.breakdown[0], 305 * MiB);
    uint64_t dev[GS_MEMEST_MAX_DEV];
    cr_assert(gs_memlearn_log_figure(&l, dev));
    cr_expect_eq(dev[1], 6100 * MiB); /* the larger of the two */
}

Test(memlearn, device_names)
{
    static const struct { const char *n; int d; } t[] = {
        {"CPU", 0}, {"CPU_Mapped", 0}, {"CPU_REPACK", 0}, {"CUDA_Host", 0}, {"Host", 0},
        {"CUDA0", 1}, {"CUDA3", 4}, {"ROCm1", 2}, {"Vulkan0", 1}, {"SYCL0", 1}, {"Metal", 1},
        {"MTL0", 1}, {"banana", -1}, {"CUDA99", -1}, {"", -1},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        cr_expect_eq(gs_memlearn_device(t[i].n, strlen(t[i].n)), t[i].d, "%s", t[i].n);
}

Test(memlearn, out_of_memory_lines)
{
    static const char *const yes[] = {
        "ggml_backend_cuda_buffer_type_alloc_buffer: allocating 4403.49 MiB on device 0: cudaMalloc failed: out of memory",
        "llama_model_load: error loading model: unable to allocate CUDA0 buffer",
        "ggml_gallocr_reserve_n: failed to allocate CPU buffer of size 1073741824",
        "terminate called after throwing an instance of 'std::bad_alloc'",
        "ggml_vulkan: Device memory allocation of size 1 failed. ErrorOutOfDeviceMemory",
    };
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        gs_memlearn_log l = {0};
        gs_memlearn_parse(&l, yes[i], strlen(yes[i]));
        cr_expect(l.oom, "%s", yes[i]);
        cr_expect_str_eq(l.oom_line, strlen(yes[i]) < 159 ? yes[i] : l.oom_line);
    }
    gs_memlearn_log l = {0};
    gs_memlearn_parse(&l, log_cpu, strlen(log_cpu));
    cr_expect(!l.oom);
    gs_memlearn_log none = {0};
    uint64_t dev[GS_MEMEST_MAX_DEV];
    gs_memlearn_parse(&none, "hello\nworld", 11);
    cr_expect(!gs_memlearn_log_figure(&none, dev));
}

Test(memlearn, key_changes_with_arguments_and_files_not_ports)
{
    char dir[] = "/tmp/gs-memlearn-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char *f = gs_mem_printf("%s/m.gguf", dir);
    FILE *fp = fopen(f, "w");
    fputs("abc", fp);
    fclose(fp);
    char *a1[] = {"llama-server", "-m", f, "-c", "4096", "--port", "5800", NULL};
    char *a2[] = {"llama-server", "-m", f, "-c", "4096", "--port", "5801", NULL};
    char *a3[] = {"llama-server", "-m", f, "-c", "8192", "--port", "5800", NULL};
    char k1[17], k2[17], k3[17], k4[17];
    gs_memlearn_key(a1, 7, k1);
    gs_memlearn_key(a2, 7, k2);
    gs_memlearn_key(a3, 7, k3);
    cr_expect_str_eq(k1, k2);
    cr_expect_str_neq(k1, k3);
    cr_expect_eq(strlen(k1), 16);
    fp = fopen(f, "a");
    fputs("more", fp);
    fclose(fp);
    gs_memlearn_key(a1, 7, k4);
    cr_expect_str_neq(k1, k4, "a changed file forgets the figure");
    unlink(f);
    free(f);
    rmdir(dir);
}

Test(memlearn, store_merges_and_survives_garbage)
{
    char dir[] = "/tmp/gs-memlearn-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    gs_memlearn_entry e = {.dev = {200 * MiB, 0, 1000 * MiB}, .load_ms = 900}, g;
    cr_expect_eq(gs_memlearn_get(dir, "abc", &g), -ENOENT);
    cr_assert_eq(gs_memlearn_put(dir, "abc", "m1", &e, false), 0);
    cr_assert_eq(gs_memlearn_get(dir, "abc", &g), 0);
    cr_expect_eq(g.dev[0], 200 * MiB);
    cr_expect_eq(g.dev[2], 1000 * MiB);
    cr_expect_eq(g.load_ms, 900);
    /* a smaller figure does not lower what was seen, unless replacing */
    gs_memlearn_entry s = {.dev = {100 * MiB}};
    gs_memlearn_put(dir, "abc", "m1", &s, false);
    gs_memlearn_get(dir, "abc", &g);
    cr_expect_eq(g.dev[0], 200 * MiB);
    gs_memlearn_put(dir, "abc", "m1", &s, true);
    gs_memlearn_get(dir, "abc", &g);
    cr_expect_eq(g.dev[0], 100 * MiB);
    cr_expect_eq(g.dev[2], 0);
    /* a broken file is started afresh, not a crash */
    char *p = gs_mem_printf("%s/memory.json", dir);
    FILE *fp = fopen(p, "w");
    fputs("{not json", fp);
    fclose(fp);
    cr_expect_eq(gs_memlearn_get(dir, "abc", &g), -ENOENT);
    cr_expect_eq(gs_memlearn_put(dir, "x", "m", &e, false), 0);
    cr_expect_eq(gs_memlearn_get(dir, "x", &g), 0);
    unlink(p);
    free(p);
    rmdir(dir);
}

Test(memlearn, raise_after_out_of_memory)
{
    static const struct { uint64_t measured, est, want; } t[] = {
        {200, 180, 300},   /* half more than the larger */
        {0, 100, 164},     /* at least 64 MiB more */
        {0, 0, 0},         /* an unused device stays unused */
        {4000, 6000, 9000},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        gs_memlearn_entry e = {.dev = {t[i].measured * MiB}};
        uint64_t est[GS_MEMEST_MAX_DEV] = {t[i].est * MiB};
        gs_memlearn_raise(&e, est, 1);
        cr_expect_eq(e.dev[0], t[i].want * MiB, "case %zu: %llu", i, (unsigned long long)(e.dev[0] / MiB));
        cr_expect_eq(e.ooms, 1);
    }
}
