/* memlearn: what each model really used, read from its log and measured, and remembered.
 *
 * An estimate is a guess; once a model has run, ggswap knows better. llama-server prints the
 * buffers it allocated per device while it loads ("CPU_Mapped model buffer size = 218.12
 * MiB", "CUDA0 KV buffer size", "compute buffer size") and, in current builds, a memory
 * breakdown table; this module reads those lines from the child's log (pure: tables in
 * tests/unit/test_memlearn.c), recognises out-of-memory errors, and keeps one figure per
 * model file and command line in <home>/memory.json: the key hashes the argv and the size and
 * modification time of every file it names, so a changed file or argument forgets the figure.
 * Each device's figure is the largest seen: the log's buffers plus the process overhead, the
 * RSS the child reached, the GPU memory its driver reported. After an out-of-memory failure
 * the figure is raised (gs_memlearn_raise) so the next start frees more room first. */
#ifndef GS_MEMLEARN_H
#define GS_MEMLEARN_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memest.h"

/* What a log said. */
typedef struct gs_memlearn_log {
    uint64_t buf[GS_MEMEST_MAX_DEV];       /* sum of the buffer lines of the last load pass */
    uint64_t breakdown[GS_MEMEST_MAX_DEV]; /* "self" column of the breakdown table */
    bool have_buf, have_breakdown;
    bool seen_compute;                     /* a compute buffer line ended a pass */
    bool oom;                              /* an out-of-memory error was printed */
    char oom_line[160];                    /* the first such line, trimmed */
} gs_memlearn_log;

/* Feed a whole log (lines separated by '\n'); may be called repeatedly. */
void gs_memlearn_parse(gs_memlearn_log *l, const char *text, size_t len);
/* Device index of a ggml buffer name: CPU, CPU_Mapped, CUDA_Host... -> 0; CUDA1, ROCm1,
 * Vulkan1, SYCL1 -> 2; Metal, MTL0 -> 1; unknown -> -1. */
int gs_memlearn_device(const char *name, size_t len);
/* The per-device figures the log gives (the larger of buffers and breakdown); false when it
 * has none. */
bool gs_memlearn_log_figure(const gs_memlearn_log *l, uint64_t *dev);

/* The key of a command line: hex of a 64-bit hash of argv and of the size and mtime of each
 * argument that names a file. out needs 17 bytes. */
void gs_memlearn_key(char *const *argv, int argc, char out[17]);

typedef struct gs_memlearn_entry {
    uint64_t dev[GS_MEMEST_MAX_DEV]; /* bytes measured per device (0: none) */
    uint64_t load_ms;                /* how long its last start took */
    int ooms;                        /* out-of-memory failures seen */
} gs_memlearn_entry;

/* Look up / store under <home>/memory.json (written atomically; at most 512 entries, the
 * oldest dropped). get returns 0 or -ENOENT; put merges: each device keeps the larger figure
 * unless replace is set. */
int gs_memlearn_get(const char *home, const char *key, gs_memlearn_entry *e);
int gs_memlearn_put(const char *home, const char *key, const char *model,
                    const gs_memlearn_entry *e, bool replace);
/* After an out-of-memory failure: the figure to use next time, per device: the larger of
 * what was measured and the estimate, plus half (at least 64 MiB more on each used device). */
void gs_memlearn_raise(gs_memlearn_entry *e, const uint64_t *estimate, int ndev);

#endif
