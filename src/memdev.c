#include "memdev.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"

/* ---- files ------------------------------------------------------------------------------ */

static char *slurp(const char *path, size_t max)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return NULL;
    char *b = gs_mem_alloc(max + 1);
    size_t n = fread(b, 1, max, f);
    fclose(f);
    b[n] = 0;
    return b;
}

static bool read_u64(const char *path, uint64_t *v)
{
    char *t = slurp(path, 64);
    if (!t)
        return false;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(t, &end, 10);
    bool ok = !errno && end != t && (*end == 0 || *end == '\n');
    free(t);
    if (ok)
        *v = n;
    return ok;
}

int gs_memdev_parse_meminfo(const char *text, uint64_t *total, uint64_t *avail)
{
    uint64_t t = 0, a = 0, fr = 0, cached = 0;
    bool have_a = false;
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        unsigned long long kb;
        if (sscanf(l, "MemTotal: %llu kB", &kb) == 1)
            t = kb * 1024;
        else if (sscanf(l, "MemAvailable: %llu kB", &kb) == 1) {
            a = kb * 1024;
            have_a = true;
        } else if (sscanf(l, "MemFree: %llu kB", &kb) == 1)
            fr = kb * 1024;
        else if (sscanf(l, "Cached: %llu kB", &kb) == 1)
            cached = kb * 1024;
    }
    if (!t)
        return -EINVAL;
    *total = t;
    *avail = have_a ? a : fr + cached; /* kernels before 3.14 have no MemAvailable */
    return 0;
}

/* The memory cgroup of this process: the v2 path ("0::/x") or the v1 memory controller's. */
static bool cgroup_path(const char *proc_root, char *v2, char *v1, size_t cap)
{
    char p[512];
    snprintf(p, sizeof p, "%s/self/cgroup", proc_root);
    char *t = slurp(p, 65536);
    if (!t)
        return false;
    v2[0] = v1[0] = 0;
    bool any = false;
    for (char *save = NULL, *l = strtok_r(t, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char *c1 = strchr(l, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c1 = *c2 = 0;
        const char *ctrl = c1 + 1, *path = c2 + 1;
        if (!strcmp(l, "0") && !*ctrl) {
            snprintf(v2, cap, "%s", path);
            any = true;
        } else {
            /* "memory" alone or in a comma list ("memory,cpu") */
            for (const char *q = strstr(ctrl, "memory"); q; q = strstr(q + 1, "memory"))
                if ((q == ctrl || q[-1] == ',') && (q[6] == 0 || q[6] == ',')) {
                    snprintf(v1, cap, "%s", path);
                    any = true;
                    break;
                }
        }
    }
    free(t);
    return any;
}

/* The limit and usage of the cgroup (its own files, else the hierarchy's root ones, which is
 * what a container sees). A limit of 2^62 or more means none. */
static bool cgroup_limit(const char *sys_root, const char *proc_root, uint64_t *limit,
                         uint64_t *usage, const char **which)
{
    char v2[256], v1[256], p[768];
    if (!cgroup_path(proc_root, v2, v1, sizeof v2))
        return false;
    const char *files[2][3] = {{"", "memory.max", "memory.current"},
                               {"/memory", "memory.limit_in_bytes", "memory.usage_in_bytes"}};
    for (int k = 0; k < 2; k++) {
        const char *path = k ? v1 : v2;
        if (!*path)
            continue;
        for (int up = 0; up < 2; up++) {
            snprintf(p, sizeof p, "%s/fs/cgroup%s%s/%s", sys_root, files[k][0], up ? "" : path,
                     files[k][1]);
            char *t = slurp(p, 64);
            if (!t)
                continue;
            bool unlimited = !strncmp(t, "max", 3);
            unsigned long long n = unlimited ? 0 : strtoull(t, NULL, 10);
            free(t);
            if (unlimited || n >= (1ull << 62))
                return false;
            *limit = n;
            snprintf(p, sizeof p, "%s/fs/cgroup%s%s/%s", sys_root, files[k][0], up ? "" : path,
                     files[k][2]);
            if (!read_u64(p, usage))
                *usage = 0;
            *which = k ? "cgroup v1 limit" : "cgroup v2 limit";
            return true;
        }
    }
    return false;
}

void gs_memdev_ram(const char *proc_root, const char *sys_root, gs_memdev *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "ram");
    snprintf(out->desc, sizeof out->desc, "RAM");
    out->kind = GS_MEMDEV_RAM;
    char p[512];
    snprintf(p, sizeof p, "%s/meminfo", proc_root);
    char *t = slurp(p, 65536);
    if (t)
        gs_memdev_parse_meminfo(t, &out->total, &out->free);
    free(t);
    uint64_t limit, usage;
    const char *which;
    if (cgroup_limit(sys_root, proc_root, &limit, &usage, &which)) {
        uint64_t left = usage < limit ? limit - usage : 0;
        if (!out->total || limit < out->total)
            out->total = limit;
        if (!t || left < out->free)
            out->free = left;
        snprintf(out->desc, sizeof out->desc, "RAM (%s)", which);
    }
}

/* ---- AMD: amdgpu's sysfs files ------------------------------------------------------------ */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void gs_memdev_amd(const char *sys_root, gs_memdevs *out)
{
    char p[512];
    snprintf(p, sizeof p, "%s/class/drm", sys_root);
    DIR *d = opendir(p);
    if (!d)
        return;
    char *names[64];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 64) {
        int k, used = 0;
        /* cardN only, not its connectors (card0-DP-1) */
        if (sscanf(e->d_name, "card%d%n", &k, &used) == 1 && !e->d_name[used])
            names[n++] = gs_mem_strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (int i = 0; i < n; i++) {
        uint64_t total, used;
        char *vendor;
        snprintf(p, sizeof p, "%s/class/drm/%s/device/vendor", sys_root, names[i]);
        vendor = slurp(p, 32);
        bool amd = vendor && !strncmp(vendor, "0x1002", 6);
        free(vendor);
        snprintf(p, sizeof p, "%s/class/drm/%s/device/mem_info_vram_total", sys_root, names[i]);
        bool ok = amd && read_u64(p, &total);
        snprintf(p, sizeof p, "%s/class/drm/%s/device/mem_info_vram_used", sys_root, names[i]);
        ok = ok && read_u64(p, &used);
        if (ok && total && out->n < GS_MEMEST_MAX_DEV) {
            gs_memdev *g = &out->dev[out->n];
            memset(g, 0, sizeof *g);
            snprintf(g->name, sizeof g->name, "gpu%d", out->n - 1);
            snprintf(g->desc, sizeof g->desc, "AMD %s", names[i]);
            g->kind = GS_MEMDEV_AMD;
            g->index = atoi(names[i] + 4);
            g->total = total;
            g->free = used < total ? total - used : 0;
            out->n++;
        }
        free(names[i]);
    }
}

/* ---- NVIDIA: NVML, loaded when first needed ----------------------------------------------- */

typedef struct nvml_memory { unsigned long long total, free, used; } nvml_memory;
typedef struct nvml_proc_v1 { unsigned int pid; unsigned long long used; } nvml_proc_v1;
typedef struct nvml_proc_v2 {
    unsigned int pid;
    unsigned long long used;
    unsigned int gpu_instance, compute_instance;
} nvml_proc_v2;

static struct {
    bool tried, ok;
    void *lib;
    int (*init)(void);
    int (*count)(unsigned *);
    int (*handle)(unsigned, void **);
    int (*memory)(void *, nvml_memory *);
    int (*name)(void *, char *, unsigned);
    int (*procs_v2)(void *, unsigned *, nvml_proc_v2 *);
    int (*procs_v1)(void *, unsigned *, nvml_proc_v1 *);
} nv;

static bool nvml_load(void)
{
    if (nv.tried)
        return nv.ok;
    nv.tried = true;
    const char *lib = getenv("GGSWAP_NVML");
    nv.lib = dlopen(lib && *lib ? lib : "libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!nv.lib)
        return false;
    *(void **)&nv.init = dlsym(nv.lib, "nvmlInit_v2");
    *(void **)&nv.count = dlsym(nv.lib, "nvmlDeviceGetCount_v2");
    *(void **)&nv.handle = dlsym(nv.lib, "nvmlDeviceGetHandleByIndex_v2");
    *(void **)&nv.memory = dlsym(nv.lib, "nvmlDeviceGetMemoryInfo");
    *(void **)&nv.name = dlsym(nv.lib, "nvmlDeviceGetName");
    *(void **)&nv.procs_v2 = dlsym(nv.lib, "nvmlDeviceGetComputeRunningProcesses_v3");
    if (!nv.procs_v2)
        *(void **)&nv.procs_v2 = dlsym(nv.lib, "nvmlDeviceGetComputeRunningProcesses_v2");
    *(void **)&nv.procs_v1 = dlsym(nv.lib, "nvmlDeviceGetComputeRunningProcesses");
    /* The library stays loaded for the life of the process, as NVML expects. */
    nv.ok = nv.init && nv.count && nv.handle && nv.memory && nv.init() == 0;
    return nv.ok;
}

int gs_memdev_nvidia(gs_memdevs *out)
{
    unsigned n = 0;
    if (!nvml_load() || nv.count(&n))
        return 0;
    int found = 0;
    for (unsigned i = 0; i < n && out->n < GS_MEMEST_MAX_DEV; i++) {
        void *h = NULL;
        nvml_memory m;
        if (nv.handle(i, &h) || nv.memory(h, &m))
            continue;
        gs_memdev *g = &out->dev[out->n];
        memset(g, 0, sizeof *g);
        snprintf(g->name, sizeof g->name, "gpu%d", out->n - 1);
        char nm[96] = "";
        if (!nv.name || nv.name(h, nm, sizeof nm))
            snprintf(nm, sizeof nm, "NVIDIA GPU %u", i);
        nm[sizeof nm - 1] = 0;
        snprintf(g->desc, sizeof g->desc, "%s", nm);
        g->kind = GS_MEMDEV_NVIDIA;
        g->index = (int)i;
        g->total = m.total;
        g->free = m.free;
        out->n++;
        found++;
    }
    return found;
}

uint64_t gs_memdev_gpu_used(pid_t pid, uint64_t *per_dev, int ndev)
{
    gs_memdevs d;
    gs_memdev_probe(&d);
    uint64_t sum = 0;
    for (int k = 0; per_dev && k < ndev; k++)
        per_dev[k] = 0;
    for (int k = 1; k < d.n; k++) {
        if (d.dev[k].kind != GS_MEMDEV_NVIDIA || !nv.ok)
            continue;
        void *h = NULL;
        if (nv.handle((unsigned)d.dev[k].index, &h))
            continue;
        unsigned cnt = 64;
        uint64_t used = 0;
        if (nv.procs_v2) {
            nvml_proc_v2 p[64];
            if (nv.procs_v2(h, &cnt, p))
                continue;
            for (unsigned i = 0; i < cnt && i < 64; i++)
                if ((pid_t)p[i].pid == pid && p[i].used != ~0ull)
                    used += p[i].used;
        } else if (nv.procs_v1) {
            nvml_proc_v1 p[64];
            if (nv.procs_v1(h, &cnt, p))
                continue;
            for (unsigned i = 0; i < cnt && i < 64; i++)
                if ((pid_t)p[i].pid == pid && p[i].used != ~0ull)
                    used += p[i].used;
        }
        if (per_dev && k < ndev)
            per_dev[k] = used;
        sum += used;
    }
    return sum;
}

/* ---- all of it ---------------------------------------------------------------------------- */

void gs_memdev_probe(gs_memdevs *out)
{
    memset(out, 0, sizeof *out);
    gs_memdev_ram("/proc", "/sys", &out->dev[0]);
    out->n = 1;
    gs_memdev_nvidia(out);
    gs_memdev_amd("/sys", out);
}

int gs_memdev_gpu_count(void)
{
    static int n = -1;
    if (n < 0) {
        gs_memdevs d;
        gs_memdev_probe(&d);
        n = d.n - 1;
    }
    return n;
}

uint64_t gs_memdev_rss(const char *proc_root, pid_t pid)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%d/status", proc_root, (int)pid);
    char *t = slurp(p, 16384);
    if (!t)
        return 0;
    uint64_t rss = 0;
    const char *l = strstr(t, "\nVmRSS:");
    unsigned long long kb;
    if (l && sscanf(l + 1, "VmRSS: %llu kB", &kb) == 1)
        rss = kb * 1024;
    free(t);
    return rss;
}

uint64_t gs_memdev_budget(uint64_t configured, uint64_t free_now, uint64_t ours_now,
                          uint64_t margin)
{
    uint64_t can = free_now + ours_now;
    can = can > margin ? can - margin : 0;
    return configured && configured < can ? configured : can;
}
