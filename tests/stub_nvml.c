/* A stand-in for NVIDIA's libnvidia-ml.so with the symbols ggswap's memdev module loads, for
 * tests on machines without a GPU. The figures come from the environment, read on every call:
 *   GS_STUB_NVML_GPUS="NAME:TOTAL_MIB:FREE_MIB;NAME:TOTAL_MIB:FREE_MIB"   one entry per GPU
 *   GS_STUB_NVML_PROCS="PID:GPU:MIB;..."                                 compute processes
 *   GS_STUB_NVML_FAIL_INIT=1                                            nvmlInit_v2 fails */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MiB (1024ull * 1024)

typedef struct { unsigned long long total, free, used; } mem_t;
typedef struct { unsigned int pid; unsigned long long used; unsigned int gi, ci; } proc_t;

static int gpu(unsigned idx, char *name, size_t cap, unsigned long long *total,
               unsigned long long *fr)
{
    const char *e = getenv("GS_STUB_NVML_GPUS");
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", e ? e : "");
    unsigned i = 0;
    for (char *s = NULL, *t = strtok_r(buf, ";", &s); t; t = strtok_r(NULL, ";", &s), i++) {
        char n[96];
        unsigned long long tm, fm;
        if (sscanf(t, "%95[^:]:%llu:%llu", n, &tm, &fm) != 3)
            continue;
        if (i == idx) {
            if (name)
                snprintf(name, cap, "%s", n);
            if (total)
                *total = tm * MiB;
            if (fr)
                *fr = fm * MiB;
            return 0;
        }
    }
    return i; /* the count when idx is out of range */
}

int nvmlInit_v2(void)
{
    const char *f = getenv("GS_STUB_NVML_FAIL_INIT");
    return f && *f == '1' ? 1 : 0;
}

int nvmlShutdown(void) { return 0; }

int nvmlDeviceGetCount_v2(unsigned *n)
{
    *n = (unsigned)gpu(~0u, NULL, 0, NULL, NULL);
    return 0;
}

int nvmlDeviceGetHandleByIndex_v2(unsigned i, void **h)
{
    *h = (void *)(unsigned long)(i + 1);
    return 0;
}

int nvmlDeviceGetMemoryInfo(void *h, mem_t *m)
{
    unsigned long long t, f;
    if (gpu((unsigned)(unsigned long)h - 1, NULL, 0, &t, &f))
        return 2;
    m->total = t;
    m->free = f;
    m->used = t - f;
    return 0;
}

int nvmlDeviceGetName(void *h, char *name, unsigned cap)
{
    return gpu((unsigned)(unsigned long)h - 1, name, cap, NULL, NULL) ? 2 : 0;
}

int nvmlDeviceGetComputeRunningProcesses_v3(void *h, unsigned *count, proc_t *p)
{
    unsigned want = (unsigned)(unsigned long)h - 1, n = 0;
    const char *e = getenv("GS_STUB_NVML_PROCS");
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", e ? e : "");
    for (char *s = NULL, *t = strtok_r(buf, ";", &s); t; t = strtok_r(NULL, ";", &s)) {
        unsigned pid, g;
        unsigned long long mib;
        if (sscanf(t, "%u:%u:%llu", &pid, &g, &mib) != 3 || g != want)
            continue;
        if (n < *count) {
            p[n].pid = pid;
            p[n].used = mib * MiB;
            p[n].gi = p[n].ci = 0;
        }
        n++;
    }
    if (n > *count) {
        *count = n;
        return 7; /* NVML_ERROR_INSUFFICIENT_SIZE */
    }
    *count = n;
    return 0;
}
