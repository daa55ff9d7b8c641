/* memdev: the machine's memory devices, what each has free now, and what a process uses.
 *
 * Memory-aware scheduling needs, per device, how much there is and how much is free: RAM from
 * /proc/meminfo bounded by the cgroup's limit (v2 memory.max, v1 memory.limit_in_bytes, or
 * none); NVIDIA GPUs through NVML, loaded at run time with dlopen so that ggswap has no build
 * or package dependency on the driver ($GGSWAP_NVML names another library: the tests' stub);
 * AMD GPUs through amdgpu's sysfs files. Devices are named "ram", then "gpu0", "gpu1"... in
 * that order (NVIDIA first). It also measures a child: its RSS from /proc/PID/status and its
 * GPU memory where NVML lists the process. The file readers take a root folder so tests can
 * give them a made-up /proc and /sys. gs_memdev_budget is the pure rule for `memory.ram` /
 * `memory.gpu` (auto or a size) and `margin`. */
#ifndef GS_MEMDEV_H
#define GS_MEMDEV_H
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "memest.h"

typedef enum gs_memdev_kind { GS_MEMDEV_RAM, GS_MEMDEV_NVIDIA, GS_MEMDEV_AMD } gs_memdev_kind;

typedef struct gs_memdev {
    char name[16];         /* "ram", "gpu0", ... */
    char desc[96];         /* "RAM (cgroup v1 limit)", "NVIDIA GeForce RTX 4090", "AMD card0" */
    gs_memdev_kind kind;
    int index;             /* the driver's index (NVML device, DRM card) */
    uint64_t total, free;  /* bytes, as the kernel or the driver says now */
} gs_memdev;

typedef struct gs_memdevs {
    gs_memdev dev[GS_MEMEST_MAX_DEV];
    int n;                 /* dev[0] is always RAM */
} gs_memdevs;

/* RAM, then the GPUs the drivers answer for. Never fails: RAM is always there (a machine
 * whose /proc cannot be read gets total = free = 0, which callers treat as unknown). */
void gs_memdev_probe(gs_memdevs *out);
/* Number of GPUs (probed once, then remembered). */
int gs_memdev_gpu_count(void);

/* RAM from <proc_root>/meminfo and the cgroup under <sys_root>/fs/cgroup, for the process
 * whose <proc_root>/self/cgroup is read ("/proc" and "/sys" on a live system). */
void gs_memdev_ram(const char *proc_root, const char *sys_root, gs_memdev *out);
/* Parse meminfo text: MemTotal and MemAvailable (MemFree + Cached on old kernels), bytes. */
int gs_memdev_parse_meminfo(const char *text, uint64_t *total, uint64_t *avail);
/* AMD GPUs under <sys_root>/class/drm, appended to out (names continue the numbering). */
void gs_memdev_amd(const char *sys_root, gs_memdevs *out);
/* NVIDIA GPUs through NVML, appended to out. Returns the number found (0 when no driver). */
int gs_memdev_nvidia(gs_memdevs *out);

/* A process's resident memory in bytes (VmRSS), 0 when it is gone. */
uint64_t gs_memdev_rss(const char *proc_root, pid_t pid);
/* GPU memory of a process per GPU device index (1 + i as in gs_memdevs), from NVML; the
 * sum over all GPUs is returned, 0 when no driver lists it. */
uint64_t gs_memdev_gpu_used(pid_t pid, uint64_t *per_dev, int ndev);

/* The budget of a device: `configured` bytes (0 = auto: all the device has), never more than
 * what is free now plus what ggswap's own children hold there, less the margin. */
uint64_t gs_memdev_budget(uint64_t configured, uint64_t free_now, uint64_t ours_now,
                          uint64_t margin);

#endif
