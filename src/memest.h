/* memest: how much memory a model will need, per device, before it starts.
 *
 * Memory-aware scheduling decides from numbers it has before a process exists: this module
 * reads a llama-server command line the way llama-server does (-m, -c, -np, -ngl, --n-cpu-moe,
 * -ot, -ctk/-ctv, -fa, -ub/-b, --mmproj, -md and friends) and combines it with the GGUF header
 * (layers, heads, head sizes, sliding-window layers, the tensor table) into bytes per device:
 * the weights where their layers go, the KV cache (llama-server's -c is the context of all
 * slots together; sliding-window layers keep only their window per slot), the compute buffers
 * (fitted to what llama-server build 11669 prints), the projector and the draft model, and the
 * process's own overhead. The figures are deliberately a little high: running out of memory
 * costs more than starting one model fewer. gs_memest_compute is pure (tables in
 * tests/unit/test_memest.c); gs_memest_argv reads the files the command line names. */
#ifndef GS_MEMEST_H
#define GS_MEMEST_H
#include <stdbool.h>
#include <stdint.h>

#include "gguf.h"

#define GS_MEMEST_MAX_GPUS 8
#define GS_MEMEST_MAX_DEV (1 + GS_MEMEST_MAX_GPUS) /* [0] RAM, [1 + i] GPU i */
#define GS_MEMEST_MAX_OT 16

/* What a command line asks of llama-server. Strings point into the argv it was read from. */
typedef struct gs_memest_args {
    const char *model, *mmproj, *draft;
    int64_t ctx;          /* -c; 0: the model's own context length */
    int64_t ctx_draft;    /* -cd; 0: as ctx */
    int parallel;         /* -np; -1: llama-server's auto (4 slots) */
    int ngl, ngl_draft;   /* -ngl / -ngld; -1: all layers (the default of a GPU build) */
    int n_cpu_moe;        /* experts of the first N layers stay in RAM; --cpu-moe: all */
    int ubatch, batch;    /* -ub / -b */
    int cache_k, cache_v; /* ggml type ids (1 = f16, the default) */
    int flash;            /* -fa: -1 auto (on), 0 off, 1 on */
    bool swa_full, no_kv_offload, no_mmproj_offload;
    int split_mode;       /* -sm: 0 none, 1 layer (default), 2 row */
    int main_gpu;         /* -mg */
    double tensor_split[GS_MEMEST_MAX_GPUS]; /* -ts; all 0: even */
    const char *ot[GS_MEMEST_MAX_OT];        /* -ot values ("regex=BUFT,regex=BUFT") */
    int n_ot;
    bool hf;              /* -hf/-hfr: the model comes from the Hub; no local file to read */
} gs_memest_args;

typedef struct gs_memest {
    uint64_t dev[GS_MEMEST_MAX_DEV]; /* bytes per device */
    uint64_t weights_dev[GS_MEMEST_MAX_DEV]; /* of which the model's weights */
    int ndev;                        /* 1 + GPUs considered */
    uint64_t weights, kv, compute, extra, overhead; /* the parts, over all devices (extra:
                                                     * projector and draft model) */
    int64_t ctx;                     /* the context it assumed */
} gs_memest;

/* Read a command line (argv[0] is the program). Unknown options are ignored; a bad number
 * is an error naming the option. Returns 0 or -EINVAL with *err set (caller frees). */
int gs_memest_parse_args(char *const *argv, int argc, gs_memest_args *a, char **err);
/* The estimate for a model (tensor table read), with its projector and draft model headers
 * where the command line has them (else NULL), on a machine with n_gpus GPUs (0: all in RAM). */
void gs_memest_compute(const gs_gguf_info *m, const gs_gguf_info *mmproj,
                       const gs_gguf_info *draft, const gs_memest_args *a, int n_gpus,
                       gs_memest *out);
/* Parse argv, read the files it names, estimate. Returns 0, or a negative errno with *err
 * naming the file or option (-ENOENT also when the line names no model file, e.g. -hf). */
int gs_memest_argv(char *const *argv, int argc, int n_gpus, gs_memest *out, char **err);
uint64_t gs_memest_total(const gs_memest *e);
/* "4.1 GiB", "230 MiB" into buf (at least 16 bytes). */
const char *gs_memest_human(uint64_t bytes, char *buf, unsigned cap);

#endif
