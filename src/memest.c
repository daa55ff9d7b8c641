#include "memest.h"

#include <errno.h>
#include <limits.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mem.h"

#define MiB (1024ull * 1024)
/* Measured with build 11669 on x86-64: the process with a 0.5 MB model and 3 MiB of buffers
 * settles at 23 MiB RSS (binary, libraries, the CPU backend, threads). */
#define PROCESS_OVERHEAD (24 * MiB)
/* A CUDA/ROCm context and the BLAS workspace: what a GPU gives up to a process that uses it
 * before any buffer is allocated. */
#define GPU_CONTEXT (256 * MiB)

/* ---- the command line ------------------------------------------------------------------- */

/* KV cache types llama-server accepts, as bytes per element (num / den). */
static const struct { const char *name; int id; unsigned num, den; } cache_types[] = {
    {"f32", 0, 4, 1}, {"f16", 1, 2, 1}, {"bf16", 30, 2, 1}, {"q8_0", 8, 34, 32},
    {"q4_0", 2, 18, 32}, {"q4_1", 3, 20, 32}, {"iq4_nl", 20, 18, 32}, {"q5_0", 6, 22, 32},
    {"q5_1", 7, 24, 32},
};

static int cache_index(int id)
{
    for (size_t i = 0; i < GS_ARRAY_LEN(cache_types); i++)
        if (cache_types[i].id == id)
            return (int)i;
    return 1;
}

static bool is_opt(const char *a, const char *const *names)
{
    for (; *names; names++)
        if (!strcmp(a, *names))
            return true;
    return false;
}

static int bad(char **err, const char *opt, const char *v, const char *want)
{
    if (err)
        *err = gs_mem_printf("%s '%s': %s", opt, v ? v : "", want);
    return -EINVAL;
}

static int get_int(const char *opt, const char *v, long lo, long hi, long *out, char **err)
{
    char *end;
    if (!v || !*v)
        return bad(err, opt, v, "needs a number");
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || *end || n < lo || n > hi)
        return bad(err, opt, v, "is not a number in range");
    *out = n;
    return 0;
}

static int cache_type(const char *opt, const char *v, int *out, char **err)
{
    for (size_t i = 0; v && i < GS_ARRAY_LEN(cache_types); i++)
        if (!strcasecmp(v, cache_types[i].name)) {
            *out = cache_types[i].id;
            return 0;
        }
    return bad(err, opt, v, "is not a cache type (f32, f16, bf16, q8_0, q4_0, q4_1, iq4_nl, "
               "q5_0, q5_1)");
}

/* -ngl N, or "all"/"auto" (newer builds): -1 means every layer. */
static int gpu_layers(const char *opt, const char *v, int *out, char **err)
{
    if (v && (!strcmp(v, "all") || !strcmp(v, "auto"))) {
        *out = -1;
        return 0;
    }
    long n;
    int rc = get_int(opt, v, -1, INT_MAX, &n, err);
    if (!rc)
        *out = (int)n;
    return rc;
}

static int split_list(const char *opt, const char *v, double *ts, char **err)
{
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s", v ? v : "");
    int i = 0;
    for (char *save = NULL, *t = strtok_r(tmp, ",/", &save); t; t = strtok_r(NULL, ",/", &save)) {
        char *end;
        double d = strtod(t, &end);
        if (*end || d < 0 || i >= GS_MEMEST_MAX_GPUS)
            return bad(err, opt, v, "is not a list of proportions (3,1)");
        ts[i++] = d;
    }
    return 0;
}

int gs_memest_parse_args(char *const *argv, int argc, gs_memest_args *a, char **err)
{
    static const char *const o_model[] = {"-m", "--model", NULL};
    static const char *const o_ctx[] = {"-c", "--ctx-size", NULL};
    static const char *const o_ctxd[] = {"-cd", "--ctx-size-draft", NULL};
    static const char *const o_np[] = {"-np", "--parallel", NULL};
    static const char *const o_ngl[] = {"-ngl", "--gpu-layers", "--n-gpu-layers", NULL};
    static const char *const o_ngld[] = {"-ngld", "--gpu-layers-draft", "--n-gpu-layers-draft",
                                         NULL};
    static const char *const o_ncmoe[] = {"-ncmoe", "--n-cpu-moe", NULL};
    static const char *const o_cmoe[] = {"-cmoe", "--cpu-moe", NULL};
    static const char *const o_ub[] = {"-ub", "--ubatch-size", NULL};
    static const char *const o_b[] = {"-b", "--batch-size", NULL};
    static const char *const o_ctk[] = {"-ctk", "--cache-type-k", NULL};
    static const char *const o_ctv[] = {"-ctv", "--cache-type-v", NULL};
    static const char *const o_fa[] = {"-fa", "--flash-attn", NULL};
    static const char *const o_sm[] = {"-sm", "--split-mode", NULL};
    static const char *const o_mg[] = {"-mg", "--main-gpu", NULL};
    static const char *const o_ts[] = {"-ts", "--tensor-split", NULL};
    static const char *const o_ot[] = {"-ot", "--override-tensor", NULL};
    static const char *const o_mm[] = {"-mm", "--mmproj", NULL};
    static const char *const o_md[] = {"-md", "--model-draft", NULL};
    static const char *const o_hf[] = {"-hf", "-hfr", "--hf-repo", "-mu", "--model-url", NULL};
    memset(a, 0, sizeof *a);
    a->parallel = -1;
    a->ngl = a->ngl_draft = -1;
    a->ubatch = 512;
    a->batch = 2048;
    a->cache_k = a->cache_v = 1;
    a->flash = -1;
    a->split_mode = 1;
    if (err)
        *err = NULL;
    for (int i = 1; i < argc && argv[i]; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        int rc = 0;
        bool takes = true;
        if (is_opt(o, o_model))
            a->model = v;
        else if (is_opt(o, o_mm))
            a->mmproj = v;
        else if (is_opt(o, o_md))
            a->draft = v;
        else if (is_opt(o, o_hf))
            a->hf = true;
        else if (is_opt(o, o_ctx) && !(rc = get_int(o, v, 0, INT32_MAX, &n, err)))
            a->ctx = n;
        else if (is_opt(o, o_ctxd) && !(rc = get_int(o, v, 0, INT32_MAX, &n, err)))
            a->ctx_draft = n;
        else if (is_opt(o, o_np) && !(rc = get_int(o, v, -1, 4096, &n, err)))
            a->parallel = n == 0 ? -1 : (int)n;
        else if (is_opt(o, o_ngl))
            rc = gpu_layers(o, v, &a->ngl, err);
        else if (is_opt(o, o_ngld))
            rc = gpu_layers(o, v, &a->ngl_draft, err);
        else if (is_opt(o, o_ncmoe) && !(rc = get_int(o, v, 0, INT_MAX, &n, err)))
            a->n_cpu_moe = (int)n;
        else if (is_opt(o, o_ub) && !(rc = get_int(o, v, 1, 1 << 20, &n, err)))
            a->ubatch = (int)n;
        else if (is_opt(o, o_b) && !(rc = get_int(o, v, 1, 1 << 20, &n, err)))
            a->batch = (int)n;
        else if (is_opt(o, o_ctk))
            rc = cache_type(o, v, &a->cache_k, err);
        else if (is_opt(o, o_ctv))
            rc = cache_type(o, v, &a->cache_v, err);
        else if (is_opt(o, o_mg) && !(rc = get_int(o, v, 0, GS_MEMEST_MAX_GPUS - 1, &n, err)))
            a->main_gpu = (int)n;
        else if (is_opt(o, o_ts))
            rc = split_list(o, v, a->tensor_split, err);
        else if (is_opt(o, o_ot)) {
            if (a->n_ot < GS_MEMEST_MAX_OT && v)
                a->ot[a->n_ot++] = v;
        } else if (is_opt(o, o_sm)) {
            if (v && !strcmp(v, "none"))
                a->split_mode = 0;
            else if (v && !strcmp(v, "row"))
                a->split_mode = 2;
            else if (v && !strcmp(v, "layer"))
                a->split_mode = 1;
            else
                rc = bad(err, o, v, "is not none, layer or row");
        } else if (is_opt(o, o_fa)) {
            /* Older builds took -fa as a bare flag. */
            if (v && (!strcmp(v, "on") || !strcmp(v, "1") || !strcmp(v, "true")))
                a->flash = 1;
            else if (v && (!strcmp(v, "off") || !strcmp(v, "0") || !strcmp(v, "false")))
                a->flash = 0;
            else if (v && !strcmp(v, "auto"))
                a->flash = -1;
            else {
                a->flash = 1;
                takes = false;
            }
        } else {
            takes = false;
            if (is_opt(o, o_cmoe))
                a->n_cpu_moe = INT_MAX;
            else if (!strcmp(o, "--swa-full"))
                a->swa_full = true;
            else if (!strcmp(o, "-nkvo") || !strcmp(o, "--no-kv-offload"))
                a->no_kv_offload = true;
            else if (!strcmp(o, "--no-mmproj-offload"))
                a->no_mmproj_offload = true;
        }
        if (rc)
            return rc;
        if (takes) {
            if (!v)
                return bad(err, o, NULL, "needs a value");
            i++;
        }
    }
    return 0;
}

/* ---- the estimate ----------------------------------------------------------------------- */

static uint64_t pad(uint64_t n, uint64_t to)
{
    return (n + to - 1) / to * to;
}

typedef struct placer {
    const gs_gguf_info *m;
    const gs_memest_args *a;
    int n_gpus;
    int ngl;          /* layers on GPUs, output layer counted as n_layer + 1 */
    int gpu_start;    /* first layer on a GPU */
    double cum[GS_MEMEST_MAX_GPUS]; /* cumulative split fractions */
    regex_t re[GS_MEMEST_MAX_OT * 4];
    int re_dev[GS_MEMEST_MAX_OT * 4];
    int nre;
} placer;

/* Device index (0 RAM, 1 + i GPU i) of a buffer type name as -ot takes it. */
static int buft_device(const char *s, int n_gpus)
{
    if (!strncasecmp(s, "CPU", 3) || !n_gpus)
        return 0;
    const char *d = s + strlen(s);
    while (d > s && d[-1] >= '0' && d[-1] <= '9')
        d--;
    int k = *d ? atoi(d) : 0;
    return 1 + (k < n_gpus ? k : n_gpus - 1);
}

static void placer_init(placer *p, const gs_gguf_info *m, const gs_memest_args *a, int n_gpus)
{
    memset(p, 0, sizeof *p);
    p->m = m;
    p->a = a;
    p->n_gpus = n_gpus < 0 ? 0 : n_gpus > GS_MEMEST_MAX_GPUS ? GS_MEMEST_MAX_GPUS : n_gpus;
    int nl = (int)m->n_layer;
    p->ngl = !p->n_gpus ? 0 : a->ngl < 0 || a->ngl > nl + 1 ? nl + 1 : a->ngl;
    p->gpu_start = nl - (p->ngl < nl ? p->ngl : nl);
    double total = 0;
    for (int i = 0; i < p->n_gpus; i++)
        total += a->tensor_split[i];
    double c = 0;
    for (int i = 0; i < p->n_gpus; i++) {
        c += total > 0 ? a->tensor_split[i] / total : 1.0 / p->n_gpus;
        p->cum[i] = c;
    }
    for (int i = 0; i < a->n_ot; i++) {
        char tmp[512];
        snprintf(tmp, sizeof tmp, "%s", a->ot[i]);
        for (char *save = NULL, *t = strtok_r(tmp, ",", &save); t && p->nre < (int)GS_ARRAY_LEN(p->re);
             t = strtok_r(NULL, ",", &save)) {
            char *eq = strrchr(t, '=');
            if (!eq)
                continue;
            *eq = 0;
            if (regcomp(&p->re[p->nre], t, REG_EXTENDED | REG_NOSUB))
                continue; /* llama-server refuses it too; the estimate just ignores it */
            p->re_dev[p->nre++] = buft_device(eq + 1, p->n_gpus);
        }
    }
}

static void placer_free(placer *p)
{
    for (int i = 0; i < p->nre; i++)
        regfree(&p->re[i]);
}

/* The device of layer il (il == n_layer: the output layer). */
static int layer_device(const placer *p, int il)
{
    if (!p->n_gpus || il < p->gpu_start || (il >= (int)p->m->n_layer && p->ngl <= (int)p->m->n_layer))
        return 0; /* the output layer goes only when -ngl exceeds the layers */
    if (p->a->split_mode == 0)
        return 1 + (p->a->main_gpu < p->n_gpus ? p->a->main_gpu : 0);
    double f = (double)(il - p->gpu_start) / (double)(p->ngl ? p->ngl : 1);
    for (int i = 0; i < p->n_gpus; i++)
        if (f < p->cum[i] - 1e-9)
            return 1 + i;
    return p->n_gpus;
}

static int tensor_device(const placer *p, const struct gs_gguf_tensor *t)
{
    for (int i = 0; i < p->nre; i++)
        if (!regexec(&p->re[i], t->name, 0, NULL, 0))
            return p->re_dev[i];
    if (t->layer >= 0) {
        if (t->layer < p->a->n_cpu_moe && strstr(t->name, "_exps"))
            return 0;
        return layer_device(p, t->layer);
    }
    if (!strncmp(t->name, "token_embd", 10))
        return 0; /* llama.cpp keeps the input layer on the CPU */
    return layer_device(p, (int)p->m->n_layer);
}

static bool layer_slides(const gs_gguf_info *m, uint32_t il)
{
    if (!m->n_swa)
        return false;
    if (m->layer_swa)
        return m->layer_swa[il] != 0;
    /* llama.cpp's pattern: of every `period` layers the last is full attention. */
    static const struct { const char *arch; uint32_t period; } known[] = {
        {"gemma2", 2}, {"gemma3", 6}, {"gemma3n", 5}, {"cohere2", 4}, {"gpt-oss", 2},
        {"llama4", 4}, {"exaone4", 4},
    };
    uint32_t period = m->swa_period;
    for (size_t i = 0; !period && m->architecture && i < GS_ARRAY_LEN(known); i++)
        if (!strcmp(m->architecture, known[i].arch))
            period = known[i].period;
    return period > 1 && il % period < period - 1;
}

static void estimate_one(const gs_gguf_info *m, const gs_memest_args *a, int n_gpus,
                         gs_memest *out)
{
    placer p;
    placer_init(&p, m, a, n_gpus);
    int64_t ctx = a->ctx > 0 ? a->ctx : m->context_length ? (int64_t)m->context_length : 4096;
    out->ctx = ctx;
    uint64_t n_ctx = pad((uint64_t)ctx, 256);
    int n_seq = a->parallel > 0 ? a->parallel : 4;
    uint64_t ub = (uint64_t)(a->ubatch < a->batch ? a->ubatch : a->batch);
    ub = ub < n_ctx ? ub : n_ctx;

    /* Weights, tensor by tensor where the header has a table; else the file spread evenly. */
    uint64_t seen = 0;
    for (size_t i = 0; i < m->ntensors; i++) {
        int d = tensor_device(&p, &m->tensors[i]);
        out->dev[d] += m->tensors[i].bytes;
        out->weights_dev[d] += m->tensors[i].bytes;
        seen += m->tensors[i].bytes;
    }
    if (m->file_size > seen) {
        /* Split parts after the first, or no table: where the layers go, in proportion. */
        uint64_t rest = m->file_size - seen;
        uint64_t on_gpu = m->n_layer ? rest / (m->n_layer + 1) * (uint64_t)p.ngl : 0;
        out->dev[0] += rest - on_gpu;
        out->weights_dev[0] += rest - on_gpu;
        if (on_gpu) {
            out->dev[layer_device(&p, (int)m->n_layer)] += on_gpu;
            out->weights_dev[layer_device(&p, (int)m->n_layer)] += on_gpu;
        }
        seen = m->file_size;
    }
    out->weights += seen;

    /* KV cache: per layer, on the layer's device. */
    unsigned kn = cache_types[cache_index(a->cache_k)].num, kd = cache_types[cache_index(a->cache_k)].den;
    unsigned vn = cache_types[cache_index(a->cache_v)].num, vd = cache_types[cache_index(a->cache_v)].den;
    uint64_t cells_swa = pad((uint64_t)m->n_swa * (uint64_t)n_seq + ub, 256);
    cells_swa = cells_swa < n_ctx ? cells_swa : n_ctx;
    for (uint32_t il = 0; il < m->n_layer; il++) {
        uint64_t heads = m->layer_head_kv ? m->layer_head_kv[il] : m->n_head_kv;
        uint64_t kel, vel;
        if (m->kv_lora_rank) { /* MLA keeps one compressed latent (and the rope part) */
            heads = 1;
            kel = (uint64_t)m->kv_lora_rank + m->rope_dim;
            vel = 0;
        } else {
            kel = m->key_length;
            vel = m->value_length;
        }
        uint64_t cells = layer_slides(m, il) && !a->swa_full ? cells_swa : n_ctx;
        uint64_t b = cells * heads * (kel * kn / kd + vel * vn / vd);
        int d = a->no_kv_offload ? 0 : layer_device(&p, (int)il);
        out->dev[d] += b;
        out->kv += b;
    }

    /* Compute buffer, fitted to build 11669's figures (x86-64, flash attention on):
     * ubatch x 4 bytes x (5 embd + 3.3 ff + vocab) plus the f16 mask of ubatch x context;
     * without flash attention also the scores, heads x context x ubatch floats. The fit is a
     * little high (+10-15 %) on purpose. */
    uint64_t per_tok = 5ull * m->n_embd + (uint64_t)(3.3 * m->n_ff) + m->n_vocab;
    uint64_t compute = ub * 4 * per_tok + ub * n_ctx * 2;
    if (a->flash == 0)
        compute += (uint64_t)m->n_head * n_ctx * ub * 4;
    uint64_t host = (uint64_t)m->n_vocab * 4 * (uint64_t)n_seq; /* logits out */
    int main_dev = p.ngl ? layer_device(&p, (int)m->n_layer) : 0;
    if (main_dev) /* the host keeps a staging buffer of a batch of activations */
        host += ub * 4 * 2ull * m->n_embd;
    out->dev[main_dev] += compute;
    out->dev[0] += host;
    out->compute += compute + host;
    placer_free(&p);
}

void gs_memest_compute(const gs_gguf_info *m, const gs_gguf_info *mmproj,
                       const gs_gguf_info *draft, const gs_memest_args *a, int n_gpus,
                       gs_memest *out)
{
    memset(out, 0, sizeof *out);
    n_gpus = n_gpus < 0 ? 0 : n_gpus > GS_MEMEST_MAX_GPUS ? GS_MEMEST_MAX_GPUS : n_gpus;
    out->ndev = 1 + n_gpus;
    estimate_one(m, a, n_gpus, out);
    bool uses_gpu[GS_MEMEST_MAX_DEV] = {false};
    for (int d = 1; d < out->ndev; d++)
        uses_gpu[d] = out->dev[d] > 0;
    int main_dev = 0;
    if (n_gpus && a->ngl != 0)
        main_dev = 1 + (a->split_mode == 0 && a->main_gpu < n_gpus ? a->main_gpu : 0);
    if (mmproj) {
        /* The projector's weights, and its image batch (a quarter of them, at least 16 MiB). */
        uint64_t b = mmproj->file_size + mmproj->file_size / 4 + 16 * MiB;
        int d = a->no_mmproj_offload ? 0 : main_dev;
        out->dev[d] += b;
        out->extra += b;
        uses_gpu[d] = true;
    }
    if (draft) {
        gs_memest_args da = *a;
        da.ctx = a->ctx_draft > 0 ? a->ctx_draft : out->ctx;
        da.ngl = a->ngl_draft;
        da.n_ot = 0;
        da.n_cpu_moe = 0;
        gs_memest d = {0};
        estimate_one(draft, &da, n_gpus, &d);
        for (int k = 0; k < out->ndev; k++) {
            out->dev[k] += d.dev[k];
            out->extra += d.dev[k];
            uses_gpu[k] = uses_gpu[k] || d.dev[k];
        }
    }
    out->overhead = PROCESS_OVERHEAD;
    out->dev[0] += PROCESS_OVERHEAD;
    for (int d = 1; d < out->ndev; d++)
        if (uses_gpu[d]) {
            out->dev[d] += GPU_CONTEXT;
            out->overhead += GPU_CONTEXT;
        }
}

uint64_t gs_memest_total(const gs_memest *e)
{
    uint64_t t = 0;
    for (int d = 0; d < e->ndev && d < GS_MEMEST_MAX_DEV; d++)
        t += e->dev[d];
    return t;
}

const char *gs_memest_human(uint64_t b, char *buf, unsigned cap)
{
    if (b >= 1024 * MiB)
        snprintf(buf, cap, "%.1f GiB", (double)b / (1024.0 * MiB));
    else if (b >= MiB)
        snprintf(buf, cap, "%.0f MiB", (double)b / MiB);
    else
        snprintf(buf, cap, "%.0f KiB", (double)b / 1024.0);
    return buf;
}

/* A split model's first part holds only its own tensors: the other parts' bytes count too. */
static uint64_t split_rest(const char *path)
{
    const char *p = strstr(path, "-00001-of-");
    int total;
    if (!p || sscanf(p, "-00001-of-%5d.gguf", &total) != 1 || total < 2 || total > 9999)
        return 0;
    uint64_t sum = 0;
    size_t pre = (size_t)(p - path);
    for (int k = 2; k <= total; k++) {
        char *q = gs_mem_printf("%.*s-%05d-of-%05d.gguf", (int)pre, path, k, total);
        struct stat st;
        if (!stat(q, &st))
            sum += (uint64_t)st.st_size;
        free(q);
    }
    return sum;
}

int gs_memest_argv(char *const *argv, int argc, int n_gpus, gs_memest *out, char **err)
{
    gs_memest_args a;
    gs_gguf_info m = {0}, mm = {0}, dr = {0};
    bool have_mm = false, have_dr = false;
    memset(out, 0, sizeof *out);
    int rc = gs_memest_parse_args(argv, argc, &a, err);
    if (rc)
        return rc;
    if (!a.model) {
        if (err)
            *err = gs_mem_printf(a.hf ? "the model comes from the Hub (-hf): no file to read "
                                        "before it is downloaded"
                                      : "the command line names no model file (-m)");
        return -ENOENT;
    }
    if ((rc = gs_gguf_read_tensors(a.model, &m, err)))
        return rc;
    m.file_size += split_rest(a.model);
    if (a.mmproj && !gs_gguf_read(a.mmproj, &mm, NULL))
        have_mm = true;
    if (a.draft && !gs_gguf_read_tensors(a.draft, &dr, NULL))
        have_dr = true;
    gs_memest_compute(&m, have_mm ? &mm : NULL, have_dr ? &dr : NULL, &a, n_gpus, out);
    gs_gguf_info_free(&m);
    gs_gguf_info_free(&mm);
    gs_gguf_info_free(&dr);
    return 0;
}
