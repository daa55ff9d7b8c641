#include <criterion/criterion.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mem.h"
#include "memdev.h"

#define MiB (1024ull * 1024)

static char root[64];

static void setup(void)
{
    strcpy(root, "/tmp/gs-memdev-XXXXXX");
    cr_assert_not_null(mkdtemp(root));
}

static void teardown(void)
{
    char *cmd = gs_mem_printf("rm -rf '%s'", root);
    cr_assert_eq(system(cmd), 0);
    free(cmd);
}

TestSuite(memdev, .init = setup, .fini = teardown, .timeout = 30);

static void put(const char *rel, const char *text)
{
    char *p = gs_mem_printf("%s/%s", root, rel);
    char *d = gs_mem_strdup(p);
    char *cmd = gs_mem_printf("mkdir -p '%s'", dirname(d));
    cr_assert_eq(system(cmd), 0);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f, "%s", p);
    fputs(text, f);
    fclose(f);
    free(cmd);
    free(d);
    free(p);
}

static const char *meminfo = "MemTotal:       32000000 kB\nMemFree:         1000000 kB\n"
                             "MemAvailable:   24000000 kB\nBuffers:          100 kB\n"
                             "Cached:          9000000 kB\n";

Test(memdev, meminfo_parse)
{
    uint64_t t, a;
    cr_assert_eq(gs_memdev_parse_meminfo(meminfo, &t, &a), 0);
    cr_expect_eq(t, 32000000ull * 1024);
    cr_expect_eq(a, 24000000ull * 1024);
    /* an old kernel without MemAvailable: free + cached */
    cr_assert_eq(gs_memdev_parse_meminfo("MemTotal: 100 kB\nMemFree: 10 kB\nCached: 20 kB\n", &t, &a), 0);
    cr_expect_eq(a, 30 * 1024);
    cr_expect_lt(gs_memdev_parse_meminfo("garbage\n", &t, &a), 0);
    cr_expect_lt(gs_memdev_parse_meminfo("", &t, &a), 0);
}

static gs_memdev ram(void)
{
    char *proc = gs_mem_printf("%s/proc", root), *sys = gs_mem_printf("%s/sys", root);
    gs_memdev d;
    gs_memdev_ram(proc, sys, &d);
    free(proc);
    free(sys);
    return d;
}

Test(memdev, ram_without_cgroup_limit)
{
    put("proc/meminfo", meminfo);
    put("proc/self/cgroup", "0::/user.slice\n");
    put("sys/fs/cgroup/user.slice/memory.max", "max\n");
    gs_memdev d = ram();
    cr_expect_str_eq(d.name, "ram");
    cr_expect_str_eq(d.desc, "RAM");
    cr_expect_eq(d.total, 32000000ull * 1024);
    cr_expect_eq(d.free, 24000000ull * 1024);
}

Test(memdev, ram_cgroup_v2_limit)
{
    put("proc/meminfo", meminfo);
    put("proc/self/cgroup", "0::/box\n");
    put("sys/fs/cgroup/box/memory.max", "4294967296\n");
    put("sys/fs/cgroup/box/memory.current", "1073741824\n");
    gs_memdev d = ram();
    cr_expect_eq(d.total, 4ull << 30);
    cr_expect_eq(d.free, 3ull << 30);
    cr_expect_str_eq(d.desc, "RAM (cgroup v2 limit)");
}

Test(memdev, ram_cgroup_v1_limit_and_v1_unlimited)
{
    put("proc/meminfo", meminfo);
    put("proc/self/cgroup", "12:pids:/\n9:cpu,memory:/docker/abc\n0::/\n");
    put("sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes", "2147483648\n");
    put("sys/fs/cgroup/memory/docker/abc/memory.usage_in_bytes", "536870912\n");
    gs_memdev d = ram();
    cr_expect_eq(d.total, 2ull << 30);
    cr_expect_eq(d.free, (2ull << 30) - (512 * MiB));
    cr_expect_str_eq(d.desc, "RAM (cgroup v1 limit)");
    /* this machine's kind: v1, the path "/", no limit (2^63 rounded to pages) */
    put("proc/self/cgroup", "4:memory:/\n");
    put("sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n");
    d = ram();
    cr_expect_eq(d.total, 32000000ull * 1024);
    cr_expect_str_eq(d.desc, "RAM");
    /* a container sees its own limit at the hierarchy's root, not at the path */
    put("proc/self/cgroup", "4:memory:/kubepods/pod1\n");
    put("sys/fs/cgroup/memory/memory.limit_in_bytes", "1073741824\n");
    put("sys/fs/cgroup/memory/memory.usage_in_bytes", "0\n");
    d = ram();
    cr_expect_eq(d.total, 1ull << 30);
}

Test(memdev, ram_unreadable_is_zero_not_a_crash)
{
    gs_memdev d = ram();
    cr_expect_eq(d.total, 0);
    cr_expect_eq(d.free, 0);
}

Test(memdev, amd_sysfs)
{
    put("sys/class/drm/card1/device/vendor", "0x1002\n");
    put("sys/class/drm/card1/device/mem_info_vram_total", "17163091968\n");
    put("sys/class/drm/card1/device/mem_info_vram_used", "1073741824\n");
    put("sys/class/drm/card1-DP-1/status", "connected\n");
    put("sys/class/drm/card0/device/vendor", "0x8086\n"); /* an Intel iGPU: not counted */
    put("sys/class/drm/card0/device/mem_info_vram_total", "1\n");
    put("sys/class/drm/card0/device/mem_info_vram_used", "0\n");
    gs_memdevs ds = {.n = 1};
    char *sys = gs_mem_printf("%s/sys", root);
    gs_memdev_amd(sys, &ds);
    free(sys);
    cr_assert_eq(ds.n, 2);
    cr_expect_str_eq(ds.dev[1].name, "gpu0");
    cr_expect_str_eq(ds.dev[1].desc, "AMD card1");
    cr_expect_eq(ds.dev[1].index, 1);
    cr_expect_eq(ds.dev[1].total, 17163091968ull);
    cr_expect_eq(ds.dev[1].free, 17163091968ull - (1ull << 30));
}

Test(memdev, process_rss)
{
    put("proc/4242/status", "Name:\tllama-server\nVmPeak:\t 9999 kB\nVmRSS:\t  204800 kB\nRssAnon: 1 kB\n");
    char *proc = gs_mem_printf("%s/proc", root);
    cr_expect_eq(gs_memdev_rss(proc, 4242), 200 * MiB);
    cr_expect_eq(gs_memdev_rss(proc, 4243), 0);
    free(proc);
    cr_expect_gt(gs_memdev_rss("/proc", getpid()), 1 * MiB);
}

/* NVML through the stub library the Makefile builds beside the tests (build/.../tests/..). */
Test(memdev, nvidia_through_nvml_stub)
{
    char exe[512];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    cr_assert_gt(n, 0);
    exe[n] = 0;
    char *lib = gs_mem_printf("%s/../libnvidia-ml-stub.so", dirname(exe));
    cr_assert_eq(access(lib, R_OK), 0, "%s is missing: make builds it", lib);
    setenv("GGSWAP_NVML", lib, 1);
    setenv("GS_STUB_NVML_GPUS", "NVIDIA GeForce RTX 4090:24564:20000;NVIDIA A2000:6144:6000", 1);
    setenv("GS_STUB_NVML_PROCS", "4242:0:1500;4242:1:100;777:0:9000", 1);
    gs_memdevs ds;
    gs_memdev_probe(&ds);
    cr_assert_geq(ds.n, 3);
    cr_expect_str_eq(ds.dev[0].name, "ram");
    cr_expect_str_eq(ds.dev[1].name, "gpu0");
    cr_expect_str_eq(ds.dev[1].desc, "NVIDIA GeForce RTX 4090");
    cr_expect_eq(ds.dev[1].kind, GS_MEMDEV_NVIDIA);
    cr_expect_eq(ds.dev[1].total, 24564 * MiB);
    cr_expect_eq(ds.dev[1].free, 20000 * MiB);
    cr_expect_str_eq(ds.dev[2].name, "gpu1");
    cr_expect_eq(ds.dev[2].free, 6000 * MiB);
    cr_expect_eq(gs_memdev_gpu_count(), ds.n - 1);
    uint64_t per[GS_MEMEST_MAX_DEV];
    cr_expect_eq(gs_memdev_gpu_used(4242, per, GS_MEMEST_MAX_DEV), 1600 * MiB);
    cr_expect_eq(per[1], 1500 * MiB);
    cr_expect_eq(per[2], 100 * MiB);
    cr_expect_eq(gs_memdev_gpu_used(1, per, GS_MEMEST_MAX_DEV), 0);
    /* the figures are read live: a GPU whose memory another program took shows it */
    setenv("GS_STUB_NVML_GPUS", "NVIDIA GeForce RTX 4090:24564:2000", 1);
    gs_memdev_probe(&ds);
    cr_expect_eq(ds.dev[1].free, 2000 * MiB);
    free(lib);
}

Test(memdev, no_driver_means_no_gpu)
{
    setenv("GGSWAP_NVML", "/nonexistent/libnvidia-ml.so.1", 1);
    gs_memdevs ds = {.n = 1};
    cr_expect_eq(gs_memdev_nvidia(&ds), 0);
    cr_expect_eq(ds.n, 1);
}

Test(memdev, budget_rule)
{
    static const struct { uint64_t conf, free_now, ours, margin, want; } t[] = {
        {0, 20000, 0, 1024, 18976},      /* auto: what is free, less the margin */
        {0, 20000, 3000, 1024, 21976},   /* what our own children hold counts as ours */
        {450, 20000, 0, 1024, 450},      /* a size, when the machine has it */
        {8000, 5000, 1000, 1024, 4976},  /* never more than there is */
        {0, 500, 0, 1024, 0},            /* the margin eats it all */
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        cr_expect_eq(gs_memdev_budget(t[i].conf * MiB, t[i].free_now * MiB, t[i].ours * MiB,
                                      t[i].margin * MiB), t[i].want * MiB, "case %zu", i);
}
