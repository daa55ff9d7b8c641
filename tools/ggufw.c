/* ggufw: the GGUF writer and the tiny-model generator (test fixtures and demo models).
 *
 * Only ggswap-mkgguf and the tests link this; the daemon only ever reads GGUF headers. */
#include "ggufw.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "mem.h"

/* ---- writer ------------------------------------------------------------------------------ */

typedef enum fill_kind {
    FILL_DATA,     /* copied floats */
    FILL_ZERO,
    FILL_CONST,    /* every element `a` */
    FILL_UNIFORM,  /* uniform in [-a, a] from a seeded generator */
    FILL_BIAS_ROWS,/* rows of ne0: element 0 is `a`, rest uniform(c); rows < split are `b`
                    * then zeros */
    FILL_UNIFORM_NOT_ROW0, /* uniform in [-a, a], but the first row (ne0 elements) zero */
} fill_kind;

typedef struct wtensor {
    char *name;
    int ndims;
    uint64_t dims[4];
    uint64_t n;
    fill_kind kind;
    float *data;
    float a, b, c;
    uint64_t split;
    uint64_t seed;
} wtensor;

struct gs_gguf_writer {
    gs_buf kv;
    uint64_t n_kv;
    wtensor *t;
    size_t n_t, cap_t;
    uint32_t alignment;
    uint32_t version;
};

gs_gguf_writer *gs_gguf_writer_new(void)
{
    gs_gguf_writer *w = gs_mem_calloc(1, sizeof *w);
    gs_buf_init(&w->kv, 0);
    w->alignment = 32;
    w->version = 3;
    return w;
}

void gs_gguf_writer_set_version(gs_gguf_writer *w, uint32_t version)
{
    w->version = version;
}

void gs_gguf_writer_free(gs_gguf_writer *w)
{
    if (!w)
        return;
    gs_buf_free(&w->kv);
    for (size_t i = 0; i < w->n_t; i++) {
        free(w->t[i].name);
        free(w->t[i].data);
    }
    free(w->t);
    free(w);
}

static void put(gs_buf *b, const void *p, size_t n)
{
    (void)gs_buf_append(b, p, n); /* unlimited buffer: cannot fail */
}

static void put_u32(gs_buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put(b, x, 4);
}

static void put_u64(gs_buf *b, uint64_t v)
{
    put_u32(b, (uint32_t)v);
    put_u32(b, (uint32_t)(v >> 32));
}

static void put_str(gs_buf *b, const char *s)
{
    size_t n = strlen(s);
    put_u64(b, n);
    put(b, s, n);
}

static void put_key(gs_gguf_writer *w, const char *key, uint32_t type)
{
    put_str(&w->kv, key);
    put_u32(&w->kv, type);
    w->n_kv++;
}

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

void gs_gguf_writer_str(gs_gguf_writer *w, const char *key, const char *value)
{
    put_key(w, key, GS_GGUF_STRING);
    put_str(&w->kv, value);
}

void gs_gguf_writer_u32(gs_gguf_writer *w, const char *key, uint32_t value)
{
    put_key(w, key, GS_GGUF_UINT32);
    put_u32(&w->kv, value);
    /* The data section honours the alignment the file declares. */
    if (!strcmp(key, "general.alignment") && value && !(value & (value - 1)))
        w->alignment = value;
}

void gs_gguf_writer_i32(gs_gguf_writer *w, const char *key, int32_t value)
{
    put_key(w, key, GS_GGUF_INT32);
    put_u32(&w->kv, (uint32_t)value);
}

void gs_gguf_writer_u64(gs_gguf_writer *w, const char *key, uint64_t value)
{
    put_key(w, key, GS_GGUF_UINT64);
    put_u64(&w->kv, value);
}

void gs_gguf_writer_f32(gs_gguf_writer *w, const char *key, float value)
{
    put_key(w, key, GS_GGUF_FLOAT32);
    put_u32(&w->kv, f32_bits(value));
}

void gs_gguf_writer_bool(gs_gguf_writer *w, const char *key, bool value)
{
    put_key(w, key, GS_GGUF_BOOL);
    uint8_t b = value ? 1 : 0;
    put(&w->kv, &b, 1);
}

void gs_gguf_writer_str_array(gs_gguf_writer *w, const char *key, const char *const *v, size_t n)
{
    put_key(w, key, GS_GGUF_ARRAY);
    put_u32(&w->kv, GS_GGUF_STRING);
    put_u64(&w->kv, n);
    for (size_t i = 0; i < n; i++)
        put_str(&w->kv, v[i]);
}

void gs_gguf_writer_f32_array(gs_gguf_writer *w, const char *key, const float *v, size_t n)
{
    put_key(w, key, GS_GGUF_ARRAY);
    put_u32(&w->kv, GS_GGUF_FLOAT32);
    put_u64(&w->kv, n);
    for (size_t i = 0; i < n; i++)
        put_u32(&w->kv, f32_bits(v[i]));
}

void gs_gguf_writer_i32_array(gs_gguf_writer *w, const char *key, const int32_t *v, size_t n)
{
    put_key(w, key, GS_GGUF_ARRAY);
    put_u32(&w->kv, GS_GGUF_INT32);
    put_u64(&w->kv, n);
    for (size_t i = 0; i < n; i++)
        put_u32(&w->kv, (uint32_t)v[i]);
}

void gs_gguf_writer_raw(gs_gguf_writer *w, const char *key, uint32_t type, const void *value,
                        size_t len)
{
    put_key(w, key, type);
    put(&w->kv, value, len);
}

static wtensor *add_tensor(gs_gguf_writer *w, const char *name, const uint64_t *dims, int ndims)
{
    if (ndims < 1)
        ndims = 1;
    if (ndims > 4)
        ndims = 4;
    if (w->n_t == w->cap_t) {
        w->cap_t = w->cap_t ? w->cap_t * 2 : 16;
        w->t = gs_mem_realloc(w->t, w->cap_t * sizeof *w->t);
    }
    wtensor *t = &w->t[w->n_t++];
    memset(t, 0, sizeof *t);
    t->name = gs_mem_strdup(name);
    t->ndims = ndims;
    t->n = 1;
    for (int i = 0; i < ndims; i++) {
        t->dims[i] = dims ? dims[i] : 1;
        t->n *= t->dims[i];
    }
    t->kind = FILL_ZERO;
    return t;
}

void gs_gguf_writer_tensor_f32(gs_gguf_writer *w, const char *name, const uint64_t *dims,
                               int ndims, const float *data)
{
    wtensor *t = add_tensor(w, name, dims, ndims);
    if (data) {
        t->kind = FILL_DATA;
        t->data = gs_mem_alloc(t->n * sizeof(float) + 1);
        memcpy(t->data, data, t->n * sizeof(float));
    }
}

/* splitmix64: small, seedable, and every seed (even 0) gives a full-period stream. */
static uint64_t mix_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [-a, a]. */
static float uni(uint64_t *s, float a)
{
    return (float)((double)(mix_next(s) >> 11) * (2.0 / 9007199254740992.0) - 1.0) * a;
}

static void fill_chunk(wtensor *t, uint64_t *rng, uint64_t start, float *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t k = start + i;
        switch (t->kind) {
        case FILL_DATA: out[i] = t->data[k]; break;
        case FILL_ZERO: out[i] = 0; break;
        case FILL_CONST: out[i] = t->a; break;
        case FILL_UNIFORM: out[i] = uni(rng, t->a); break;
        case FILL_BIAS_ROWS: {
            uint64_t row = k / t->dims[0], col = k % t->dims[0];
            if (row < t->split)
                out[i] = col ? 0.0f : t->b;
            else
                out[i] = col ? uni(rng, t->c) : t->a;
            break;
        }
        case FILL_UNIFORM_NOT_ROW0: out[i] = k < t->dims[0] ? 0.0f : uni(rng, t->a); break;
        }
    }
}

static int write_all(int fd, const void *p, size_t n)
{
    const uint8_t *q = p;
    while (n) {
        ssize_t k = write(fd, q, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -errno;
        q += k;
        n -= (size_t)k;
    }
    return 0;
}

static uint64_t pad_to(uint64_t n, uint32_t align)
{
    return (align - n % align) % align;
}

int gs_gguf_writer_save(gs_gguf_writer *w, const char *path)
{
    static const uint8_t zeros[256];
    gs_buf head;
    gs_buf_init(&head, 0);
    int rc = 0, fd = -1;
    char *tmp = gs_mem_printf("%s.tmp.%ld", path, (long)getpid());
    float *chunk = NULL;

    uint8_t b[24];
    memcpy(b, "GGUF", 4);
    for (int i = 0; i < 4; i++)
        b[4 + i] = (uint8_t)(w->version >> (8 * i));
    for (int i = 0; i < 8; i++) {
        b[8 + i] = (uint8_t)((uint64_t)w->n_t >> (8 * i));
        b[16 + i] = (uint8_t)(w->n_kv >> (8 * i));
    }
    gs_buf_append(&head, b, 24);
    gs_buf_append(&head, w->kv.data ? w->kv.data : "", w->kv.len);
    uint64_t off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        wtensor *t = &w->t[i];
        put_str(&head, t->name);
        put_u32(&head, (uint32_t)t->ndims);
        for (int d = 0; d < t->ndims; d++)
            put_u64(&head, t->dims[d]);
        put_u32(&head, 0); /* GGML_TYPE_F32 */
        put_u64(&head, off);
        off += t->n * 4;
        off += pad_to(off, w->alignment);
    }
    size_t hpad = (size_t)pad_to(head.len, w->alignment);
    while (hpad) {
        size_t k = hpad < sizeof zeros ? hpad : sizeof zeros;
        gs_buf_append(&head, zeros, k);
        hpad -= k;
    }

    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    if ((rc = write_all(fd, head.data, head.len)))
        goto out;
    enum { N = 16384 };
    chunk = gs_mem_alloc(N * sizeof(float));
    for (size_t i = 0; i < w->n_t; i++) {
        wtensor *t = &w->t[i];
        uint64_t rng = t->seed;
        for (uint64_t k = 0; k < t->n; k += N) {
            size_t n = t->n - k < N ? (size_t)(t->n - k) : N;
            fill_chunk(t, &rng, k, chunk, n);
            /* GGUF is little-endian, as is every host ggswap targets. */
            if ((rc = write_all(fd, chunk, n * 4)))
                goto out;
        }
        uint64_t p = pad_to(t->n * 4, w->alignment);
        while (p) {
            size_t k = p < sizeof zeros ? (size_t)p : sizeof zeros;
            if ((rc = write_all(fd, zeros, k)))
                goto out;
            p -= k;
        }
    }
    /* No fsync: these are fixtures and test models; rename alone makes the file appear whole
     * to readers, which is what a concurrent scan needs. */
    if (close(fd) < 0) {
        fd = -1;
        rc = -errno;
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) < 0)
        rc = -errno;
out:
    if (fd >= 0)
        close(fd);
    if (rc)
        unlink(tmp);
    free(chunk);
    free(tmp);
    gs_buf_free(&head);
    return rc;
}

/* ---- a tiny llama model ------------------------------------------------------------------ */

/* What llama.cpp needs, and why:
 * - a SentencePiece-style ("llama") vocabulary: <unk>, <s>, </s>, the 256 byte-fallback tokens
 *   <0xNN> (so any input text tokenizes), then "\u2581" (the space marker) and the printable
 *   ASCII characters as normal tokens with decreasing scores;
 * - the llama hyper-parameters and every tensor of each block, F32 throughout;
 * - weights that make only printable tokens possible: channel 0 of every token embedding is a
 *   constant 1, and no block writes to channel 0 (the first output row of attn_output and
 *   ffn_down is zero), so it stays exactly 1 through the residual stream and is positive after
 *   the final RMS norm. The output rows of the control, unknown and byte tokens are -20 on
 *   channel 0 and zero elsewhere, so their logits are always negative, while the printable
 *   tokens' random rows give logits around zero whose maximum is positive. Output stays
 *   printable ASCII (valid UTF-8) and EOS never comes, however wide or deep the model, so
 *   generation always runs to the requested length. */
#define TINY_HEADS 4
#define TINY_CHAT_TEMPLATE                                                                       \
    "{%- for message in messages -%}"                                                            \
    "{{- '<s>' + message['role'] + '\\n' + message['content'] + '</s>\\n' -}}"                   \
    "{%- endfor -%}"                                                                             \
    "{%- if add_generation_prompt -%}{{- '<s>assistant\\n' -}}{%- endif -%}"

int gs_gguf_write_tiny_llama(const char *path, const char *name, uint32_t seed, int embd,
                             int layers, int ff)
{
    if (!embd)
        embd = 64;
    if (!layers)
        layers = 2;
    if (!ff)
        ff = 2 * embd;
    /* Heads of equal size with an even head dimension (rope rotates pairs). */
    if (embd < 8 || embd > 65536 || embd % (2 * TINY_HEADS) || layers < 1 || layers > 1024 ||
        ff < 1 || ff > 1 << 20)
        return -EINVAL;

    enum { N_SPECIAL = 3, N_BYTES = 256, N_PRINT = 1 + 94 };
    const size_t n_vocab = N_SPECIAL + N_BYTES + N_PRINT;
    char **tok = gs_mem_calloc(n_vocab, sizeof *tok);
    float *score = gs_mem_calloc(n_vocab, sizeof *score);
    int32_t *ttype = gs_mem_calloc(n_vocab, sizeof *ttype);
    size_t v = 0;
    tok[v] = gs_mem_strdup("<unk>"), ttype[v++] = 2;  /* UNKNOWN */
    tok[v] = gs_mem_strdup("<s>"), ttype[v++] = 3;    /* CONTROL */
    tok[v] = gs_mem_strdup("</s>"), ttype[v++] = 3;
    for (int i = 0; i < N_BYTES; i++)
        tok[v] = gs_mem_printf("<0x%02X>", i), ttype[v++] = 6; /* BYTE */
    const size_t first_printable = v;
    tok[v] = gs_mem_strdup("\xE2\x96\x81"), score[v] = 0, ttype[v++] = 1; /* NORMAL */
    for (int ch = 33; ch < 127; ch++) {
        tok[v] = gs_mem_printf("%c", ch);
        score[v] = -(float)(v - first_printable);
        ttype[v++] = 1;
    }

    gs_gguf_writer *w = gs_gguf_writer_new();
    gs_gguf_writer_str(w, "general.architecture", "llama");
    gs_gguf_writer_str(w, "general.name", name && *name ? name : "tiny-llama");
    gs_gguf_writer_u32(w, "general.alignment", 32);
    gs_gguf_writer_u32(w, "general.file_type", 0); /* all F32 */
    gs_gguf_writer_u32(w, "llama.context_length", 4096);
    gs_gguf_writer_u32(w, "llama.embedding_length", (uint32_t)embd);
    gs_gguf_writer_u32(w, "llama.block_count", (uint32_t)layers);
    gs_gguf_writer_u32(w, "llama.feed_forward_length", (uint32_t)ff);
    gs_gguf_writer_u32(w, "llama.attention.head_count", TINY_HEADS);
    gs_gguf_writer_u32(w, "llama.attention.head_count_kv", TINY_HEADS);
    gs_gguf_writer_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    gs_gguf_writer_u32(w, "llama.rope.dimension_count", (uint32_t)(embd / TINY_HEADS));
    gs_gguf_writer_str(w, "tokenizer.ggml.model", "llama");
    gs_gguf_writer_str_array(w, "tokenizer.ggml.tokens", (const char *const *)tok, n_vocab);
    gs_gguf_writer_f32_array(w, "tokenizer.ggml.scores", score, n_vocab);
    gs_gguf_writer_i32_array(w, "tokenizer.ggml.token_type", ttype, n_vocab);
    gs_gguf_writer_u32(w, "tokenizer.ggml.bos_token_id", 1);
    gs_gguf_writer_u32(w, "tokenizer.ggml.eos_token_id", 2);
    gs_gguf_writer_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    gs_gguf_writer_bool(w, "tokenizer.ggml.add_bos_token", true);
    gs_gguf_writer_bool(w, "tokenizer.ggml.add_eos_token", false);
    gs_gguf_writer_str(w, "tokenizer.chat_template", TINY_CHAT_TEMPLATE);

    uint64_t rng = 0x6767737761700000ull ^ seed; /* "ggswap" */
    const uint64_t E = (uint64_t)embd, F = (uint64_t)ff, V = n_vocab;
    const float wstd = 0.02f * 1.7320508f; /* uniform half-width for a 0.02 std deviation */
    wtensor *t;

    t = add_tensor(w, "token_embd.weight", (uint64_t[]){E, V}, 2);
    t->kind = FILL_BIAS_ROWS, t->a = t->b = 1.0f, t->c = wstd, t->seed = mix_next(&rng);
    t = add_tensor(w, "output_norm.weight", (uint64_t[]){E}, 1);
    t->kind = FILL_CONST, t->a = 1.0f;
    t = add_tensor(w, "output.weight", (uint64_t[]){E, V}, 2);
    t->kind = FILL_BIAS_ROWS, t->a = 0.0f, t->b = -20.0f, t->split = first_printable;
    t->c = 0.5f * 1.7320508f, t->seed = mix_next(&rng);
    for (int l = 0; l < layers; l++) {
        static const struct { const char *n; int rows; int cols; } mats[] = {
            /* rows/cols: 0 = embd, 1 = ff; ne0 first, as ggml orders dimensions */
            {"attn_q", 0, 0}, {"attn_k", 0, 0}, {"attn_v", 0, 0}, {"attn_output", 0, 0},
            {"ffn_gate", 0, 1}, {"ffn_up", 0, 1}, {"ffn_down", 1, 0},
        };
        char tn[64];
        snprintf(tn, sizeof tn, "blk.%d.attn_norm.weight", l);
        t = add_tensor(w, tn, (uint64_t[]){E}, 1);
        t->kind = FILL_CONST, t->a = 1.0f;
        for (size_t m = 0; m < GS_ARRAY_LEN(mats); m++) {
            if (m == 4) {
                snprintf(tn, sizeof tn, "blk.%d.ffn_norm.weight", l);
                t = add_tensor(w, tn, (uint64_t[]){E}, 1);
                t->kind = FILL_CONST, t->a = 1.0f;
            }
            snprintf(tn, sizeof tn, "blk.%d.%s.weight", l, mats[m].n);
            uint64_t d[2] = {mats[m].rows ? F : E, mats[m].cols ? F : E};
            t = add_tensor(w, tn, d, 2);
            bool writes_residual = m == 3 || m == 6; /* attn_output, ffn_down */
            t->kind = writes_residual ? FILL_UNIFORM_NOT_ROW0 : FILL_UNIFORM;
            t->a = wstd, t->seed = mix_next(&rng);
        }
    }
    int rc = gs_gguf_writer_save(w, path);
    gs_gguf_writer_free(w);
    for (size_t i = 0; i < n_vocab; i++)
        free(tok[i]);
    free(tok);
    free(score);
    free(ttype);
    return rc;
}
