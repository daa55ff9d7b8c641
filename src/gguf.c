#include "gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "mem.h"

/* ---------------------------------------------------------------------------------------------
 * Format facts (ggml/include/gguf.h): little-endian; "GGUF", u32 version, u64 n_tensors,
 * u64 n_kv; each kv is a string key, a u32 value type and the value; a string is a u64 length
 * and that many bytes; an array is a u32 element type, a u64 count and the elements. Then
 * per tensor: name, u32 n_dims, n_dims u64 dims, u32 ggml type, u64 offset into the data.
 * Version 1 used u32 lengths and counts, which is why it is refused rather than misread. */

enum {
    T_UINT8 = GS_GGUF_UINT8, T_INT8 = GS_GGUF_INT8, T_UINT16 = GS_GGUF_UINT16,
    T_INT16 = GS_GGUF_INT16, T_UINT32 = GS_GGUF_UINT32, T_INT32 = GS_GGUF_INT32,
    T_FLOAT32 = GS_GGUF_FLOAT32, T_BOOL = GS_GGUF_BOOL, T_STRING = GS_GGUF_STRING,
    T_ARRAY = GS_GGUF_ARRAY, T_UINT64 = GS_GGUF_UINT64, T_INT64 = GS_GGUF_INT64,
    T_FLOAT64 = GS_GGUF_FLOAT64, T_COUNT
};

#define CHUNK (64 * 1024)
#define MAX_KEEP_STR (1024 * 1024)        /* strings we copy out of the header */
#define MAX_SKIP_STR (256u * 1024 * 1024) /* strings we only step over (old files embed a
                                           * whole tokenizer.json as one string) */
#define MAX_KEY 65536
#define MAX_KV 1000000ull
#define MAX_TENSORS 10000000ull
#define MAX_DIMS 8
#define MAX_DEPTH 8
#define MAX_CANDIDATES 32

static const char *type_name(uint32_t t)
{
    static const char *const names[T_COUNT] = {
        "uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "bool",
        "string", "array", "uint64", "int64", "float64",
    };
    return t < T_COUNT ? names[t] : "unknown";
}

/* Fixed encoded size of a scalar type, 0 for string/array/unknown. */
static size_t type_size(uint32_t t)
{
    switch (t) {
    case T_UINT8: case T_INT8: case T_BOOL: return 1;
    case T_UINT16: case T_INT16: return 2;
    case T_UINT32: case T_INT32: case T_FLOAT32: return 4;
    case T_UINT64: case T_INT64: case T_FLOAT64: return 8;
    default: return 0;
    }
}

/* ---- reader: a bounded cursor over a file (buffered pread) or over memory ---------------- */

typedef struct cur {
    const char *label;     /* file name for messages */
    int fd;                /* -1 when reading memory */
    const uint8_t *mem;
    uint64_t size;
    uint64_t pos;          /* absolute offset of the next byte */
    uint8_t *win;          /* file window: bytes [win_off, win_off + win_len) */
    uint64_t win_off;
    size_t win_len;
    char ctx[352];         /* the field being read, for messages */
    char *err;
} cur;

static int fail(cur *c, int rc, uint64_t off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(cur *c, int rc, uint64_t off, const char *fmt, ...)
{
    if (c->err)
        return rc;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->ctx[0])
        c->err = gs_mem_printf("%s: offset %" PRIu64 ": %s: %s", c->label, off, c->ctx, msg);
    else
        c->err = gs_mem_printf("%s: offset %" PRIu64 ": %s", c->label, off, msg);
    return rc;
}

static uint64_t remaining(const cur *c)
{
    return c->size - c->pos;
}

static int refill(cur *c)
{
    size_t want = CHUNK;
    if (c->size - c->pos < want)
        want = (size_t)(c->size - c->pos);
    size_t got = 0;
    while (got < want) {
        ssize_t n = pread(c->fd, c->win + got, want - got, (off_t)(c->pos + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return fail(c, -errno, c->pos + got, "read failed: %s", strerror(errno));
        if (n == 0)
            return fail(c, -EINVAL, c->pos + got, "the file shrank while it was being read");
        got += (size_t)n;
    }
    c->win_off = c->pos;
    c->win_len = got;
    return 0;
}

/* Copy n bytes; the caller has decided n is small or checked it against the file size. */
static int get(cur *c, void *out, size_t n, const char *what)
{
    if (n > remaining(c))
        return fail(c, -EINVAL, c->pos, "%s needs %zu bytes but the file ends at %" PRIu64
                    " (truncated file?)", what, n, c->size);
    if (c->mem) {
        memcpy(out, c->mem + c->pos, n);
        c->pos += n;
        return 0;
    }
    uint8_t *o = out;
    while (n) {
        if (c->pos < c->win_off || c->pos >= c->win_off + c->win_len) {
            int rc = refill(c);
            if (rc)
                return rc;
        }
        size_t avail = (size_t)(c->win_off + c->win_len - c->pos);
        size_t take = n < avail ? n : avail;
        memcpy(o, c->win + (c->pos - c->win_off), take);
        o += take;
        c->pos += take;
        n -= take;
    }
    return 0;
}

static int skip(cur *c, uint64_t n, const char *what)
{
    if (n > remaining(c))
        return fail(c, -EINVAL, c->pos, "%s needs %" PRIu64 " bytes but the file ends at %" PRIu64
                    " (truncated file?)", what, n, c->size);
    c->pos += n;
    return 0;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static int get_u32(cur *c, uint32_t *v, const char *what)
{
    uint8_t b[4];
    int rc = get(c, b, 4, what);
    if (!rc)
        *v = le32(b);
    return rc;
}

static int get_u64(cur *c, uint64_t *v, const char *what)
{
    uint8_t b[8];
    int rc = get(c, b, 8, what);
    if (!rc)
        *v = le64(b);
    return rc;
}

/* Read a string length and check it before anything is read or allocated. */
static int str_len(cur *c, uint64_t *len, uint64_t cap, const char *what)
{
    uint64_t at = c->pos;
    int rc = get_u64(c, len, what);
    if (rc)
        return rc;
    if (*len > remaining(c))
        return fail(c, -EINVAL, at, "%s length %" PRIu64 " exceeds file size (%" PRIu64
                    " bytes left)", what, *len, remaining(c));
    if (*len > cap)
        return fail(c, -E2BIG, at, "%s length %" PRIu64 " is over the limit of %" PRIu64
                    " bytes", what, *len, cap);
    return 0;
}

/* Read a string into a fixed buffer, keeping at most cap-1 bytes (the rest is skipped);
 * *len is the length in the file. */
static int str_fixed(cur *c, char *out, size_t cap, uint64_t *len, const char *what)
{
    int rc = str_len(c, len, MAX_KEY, what);
    if (rc)
        return rc;
    size_t keep = *len < cap ? (size_t)*len : cap - 1;
    if ((rc = get(c, out, keep, what)))
        return rc;
    out[keep] = 0;
    return skip(c, *len - keep, what);
}

/* Text from a hostile file goes into logs, JSON and a web page: keep valid UTF-8, replace
 * control characters and broken sequences with '?'. */
static void sanitize(char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x80) {
            if (ch < 0x20 || ch == 0x7F)
                s[i] = '?';
            i++;
            continue;
        }
        size_t more = ch >= 0xC2 && ch <= 0xDF ? 1 : ch >= 0xE0 && ch <= 0xEF ? 2
                      : ch >= 0xF0 && ch <= 0xF4 ? 3 : 0;
        bool ok = more && more < n - i;
        for (size_t k = 1; ok && k <= more; k++)
            ok = ((unsigned char)s[i + k] & 0xC0) == 0x80;
        if (!ok) {
            s[i++] = '?';
            continue;
        }
        i += more + 1;
    }
}

static int str_keep(cur *c, char **out, const char *what)
{
    uint64_t len;
    int rc = str_len(c, &len, MAX_KEEP_STR, what);
    if (rc)
        return rc;
    char *s = gs_mem_alloc((size_t)len + 1);
    if ((rc = get(c, s, (size_t)len, what))) {
        free(s);
        return rc;
    }
    s[len] = 0;
    size_t n = strlen(s); /* an embedded NUL ends the text */
    sanitize(s, n);
    free(*out);
    *out = s;
    return 0;
}

static int str_skip(cur *c, const char *what)
{
    uint64_t len;
    int rc = str_len(c, &len, MAX_SKIP_STR, what);
    if (rc)
        return rc;
    c->pos += len;
    return 0;
}

/* A scalar value as read, for keys whose type varies between writers. */
typedef struct scalar {
    bool is_int;
    bool negative;
    uint64_t u;
} scalar;

static int read_scalar(cur *c, uint32_t type, scalar *v)
{
    uint8_t b[8];
    size_t n = type_size(type);
    int rc = get(c, b, n, "value");
    if (rc)
        return rc;
    v->is_int = true;
    v->negative = false;
    switch (type) {
    case T_UINT8: case T_BOOL: v->u = b[0]; break;
    case T_INT8: v->u = (uint64_t)(int64_t)(int8_t)b[0]; v->negative = (int8_t)b[0] < 0; break;
    case T_UINT16: v->u = (uint64_t)b[0] | (uint64_t)b[1] << 8; break;
    case T_INT16: {
        int16_t x = (int16_t)(uint16_t)(b[0] | b[1] << 8);
        v->u = (uint64_t)(int64_t)x;
        v->negative = x < 0;
        break;
    }
    case T_UINT32: v->u = le32(b); break;
    case T_INT32: {
        int32_t x = (int32_t)le32(b);
        v->u = (uint64_t)(int64_t)x;
        v->negative = x < 0;
        break;
    }
    case T_UINT64: v->u = le64(b); break;
    case T_INT64: v->u = le64(b); v->negative = (int64_t)v->u < 0; break;
    default: v->is_int = false; break; /* floats: not an integer key's value */
    }
    return 0;
}

static int skip_value(cur *c, uint32_t type, int depth);

/* An array value starts with its element type and its count. */
static int array_head(cur *c, uint32_t *et, uint64_t *count)
{
    int rc = get_u32(c, et, "array element type");
    return rc ? rc : get_u64(c, count, "array count");
}

static int skip_array(cur *c, int depth)
{
    uint64_t at = c->pos;
    uint32_t et;
    uint64_t count;
    int rc = array_head(c, &et, &count);
    if (rc)
        return rc;
    if (et >= T_COUNT)
        return fail(c, -EINVAL, at, "unknown array element type %" PRIu32, et);
    if (et == T_ARRAY && depth + 1 >= MAX_DEPTH)
        return fail(c, -E2BIG, at, "arrays nested deeper than %d", MAX_DEPTH);
    /* Every element takes at least this many bytes, so the count can be checked up front. */
    size_t min = et == T_STRING ? 8 : et == T_ARRAY ? 12 : type_size(et);
    if (count > remaining(c) / min)
        return fail(c, -EINVAL, at, "array of %" PRIu64 " %s exceeds file size (%" PRIu64
                    " bytes left)", count, type_name(et), remaining(c));
    if (et != T_STRING && et != T_ARRAY)
        return skip(c, count * min, "array");
    for (uint64_t i = 0; i < count; i++)
        if ((rc = skip_value(c, et, depth + 1)))
            return rc;
    return 0;
}

static int skip_value(cur *c, uint32_t type, int depth)
{
    if (type == T_STRING)
        return str_skip(c, "string");
    if (type == T_ARRAY)
        return skip_array(c, depth);
    return skip(c, type_size(type), "value");
}

/* Bytes per block and elements per block of the ggml tensor types (ggml.c's type_traits);
 * 0 for ids that were removed or are newer than this table, whose size is then not checked. */
static const struct { uint16_t size, blck; } ggml_types[] = {
    [0] = {4, 1},      /* F32 */     [1] = {2, 1},       /* F16 */
    [2] = {18, 32},    /* Q4_0 */    [3] = {20, 32},     /* Q4_1 */
    [6] = {22, 32},    /* Q5_0 */    [7] = {24, 32},     /* Q5_1 */
    [8] = {34, 32},    /* Q8_0 */    [9] = {36, 32},     /* Q8_1 */
    [10] = {84, 256},  /* Q2_K */    [11] = {110, 256},  /* Q3_K */
    [12] = {144, 256}, /* Q4_K */    [13] = {176, 256},  /* Q5_K */
    [14] = {210, 256}, /* Q6_K */    [15] = {292, 256},  /* Q8_K */
    [16] = {66, 256},  /* IQ2_XXS */ [17] = {74, 256},   /* IQ2_XS */
    [18] = {98, 256},  /* IQ3_XXS */ [19] = {50, 256},   /* IQ1_S */
    [20] = {18, 32},   /* IQ4_NL */  [21] = {110, 256},  /* IQ3_S */
    [22] = {82, 256},  /* IQ2_S */   [23] = {136, 256},  /* IQ4_XS */
    [24] = {1, 1},     /* I8 */      [25] = {2, 1},      /* I16 */
    [26] = {4, 1},     /* I32 */     [27] = {8, 1},      /* I64 */
    [28] = {8, 1},     /* F64 */     [29] = {56, 256},   /* IQ1_M */
    [30] = {2, 1},     /* BF16 */    [34] = {54, 256},   /* TQ1_0 */
    [35] = {66, 256},  /* TQ2_0 */   [39] = {17, 32},    /* MXFP4 */
};

/* "<arch>.context_length" can come before general.architecture, so every candidate is kept
 * until the end of the metadata. */
typedef struct candidate {
    char prefix[64];
    uint64_t value;
} candidate;

/* The <arch>.* shape keys memory estimates read; kept like the candidates above (with the
 * array, for per-layer keys) until the architecture is known. */
enum { HP_LAYER, HP_EMBD, HP_FF, HP_HEAD, HP_HEAD_KV, HP_KLEN, HP_VLEN, HP_SWA, HP_SWA_PAT,
       HP_LORA, HP_ROPE, HP_EXPERT, HP_COUNT };
static const char *const hp_suffix[HP_COUNT] = {
    ".block_count", ".embedding_length", ".feed_forward_length", ".attention.head_count",
    ".attention.head_count_kv", ".attention.key_length", ".attention.value_length",
    ".attention.sliding_window", ".attention.sliding_window_pattern",
    ".attention.kv_lora_rank", ".rope.dimension_count", ".expert_count",
};
#define MAX_HP 64
#define MAX_LAYER_ARRAY 4096
#define MAX_KEEP_TENSORS (1u << 20)

typedef struct hp_candidate {
    char prefix[64];
    int id;
    uint64_t value;
    uint32_t *arr;         /* per-layer values, or NULL */
    uint32_t n;
} hp_candidate;

typedef struct parse {
    cur c;
    bool want_tensors;
    size_t cap_tensors;
    hp_candidate hp[MAX_HP];
    int n_hp;
    gs_gguf_info *info;
    candidate ctx_len[MAX_CANDIDATES];
    int n_ctx_len;
    candidate pooling[MAX_CANDIDATES];
    int n_pooling;
    uint64_t alignment;
    uint64_t data_end;     /* end of the furthest tensor's data, relative to the data start */
    uint64_t data_end_at;  /* offset of that tensor's info, for the message */
    char data_end_ctx[sizeof ((cur *)0)->ctx];
} parse;

static void remember(candidate *list, int *n, const char *key, size_t prefix_len, uint64_t v)
{
    if (*n >= MAX_CANDIDATES || prefix_len >= sizeof list[0].prefix)
        return;
    memcpy(list[*n].prefix, key, prefix_len);
    list[*n].prefix[prefix_len] = 0;
    list[*n].value = v;
    (*n)++;
}

static bool ends_with(const char *s, size_t n, const char *suffix, size_t *prefix_len)
{
    size_t m = strlen(suffix);
    if (n <= m || memcmp(s + n - m, suffix, m))
        return false;
    *prefix_len = n - m;
    return true;
}

/* An array of integers (or bools) of at most MAX_LAYER_ARRAY elements; any other array is
 * stepped over and *out stays NULL. */
static int read_int_array(cur *c, uint32_t **out, uint32_t *n)
{
    uint64_t at = c->pos;
    uint32_t et;
    uint64_t count;
    int rc = array_head(c, &et, &count);
    if (rc)
        return rc;
    bool intish = et == T_BOOL || (et <= T_INT32 && et != T_FLOAT32) || et == T_UINT64 ||
                  et == T_INT64;
    if (!intish || count > MAX_LAYER_ARRAY) {
        c->pos = at;
        return skip_array(c, 0);
    }
    if (count > remaining(c) / type_size(et))
        return fail(c, -EINVAL, at, "array of %" PRIu64 " %s exceeds file size (%" PRIu64
                    " bytes left)", count, type_name(et), remaining(c));
    uint32_t *a = gs_mem_calloc(count ? (size_t)count : 1, sizeof *a);
    for (uint64_t i = 0; i < count; i++) {
        scalar v;
        if ((rc = read_scalar(c, et, &v))) {
            free(a);
            return rc;
        }
        a[i] = v.is_int && !v.negative && v.u <= UINT32_MAX ? (uint32_t)v.u : 0;
    }
    *out = a;
    *n = (uint32_t)count;
    return 0;
}

static int shape_key(const char *key, size_t klen, size_t *plen)
{
    for (int i = 0; i < HP_COUNT; i++)
        if (ends_with(key, klen, hp_suffix[i], plen))
            return i;
    return -1;
}

static hp_candidate *hp_add(parse *p, const char *key, size_t plen, int id)
{
    if (p->n_hp >= MAX_HP || plen >= sizeof p->hp[0].prefix)
        return NULL;
    hp_candidate *h = &p->hp[p->n_hp++];
    memset(h, 0, sizeof *h);
    memcpy(h->prefix, key, plen);
    h->id = id;
    return h;
}

static int read_kv(parse *p, uint64_t idx)
{
    cur *c = &p->c;
    gs_gguf_info *info = p->info;
    char key[256], shown[256];
    uint64_t len;
    snprintf(c->ctx, sizeof c->ctx, "metadata key %" PRIu64, idx);
    int rc = str_fixed(c, key, sizeof key, &len, "key");
    if (rc)
        return rc;
    size_t klen = strlen(key);
    bool full = klen == len; /* else: too long or with a NUL; matches no key we want */
    memcpy(shown, key, klen + 1);
    sanitize(shown, klen);
    snprintf(c->ctx, sizeof c->ctx, "metadata key %" PRIu64 " (%.200s%s)", idx, shown,
             len > klen ? "..." : "");
    uint64_t at = c->pos;
    uint32_t type;
    if ((rc = get_u32(c, &type, "value type")))
        return rc;
    if (type >= T_COUNT)
        return fail(c, -EINVAL, at, "unknown value type %" PRIu32, type);
    if (!full)
        return skip_value(c, type, 0);

    if (type == T_STRING) {
        if (!strcmp(key, "general.architecture"))
            return str_keep(c, &info->architecture, "string");
        if (!strcmp(key, "general.name"))
            return str_keep(c, &info->name, "string");
        if (!strcmp(key, "general.size_label"))
            return str_keep(c, &info->size_label, "string");
        if (!strcmp(key, "tokenizer.chat_template"))
            info->has_chat_template = true;
        return str_skip(c, "string");
    }
    size_t plen;
    int hp = shape_key(key, klen, &plen);
    if (type == T_ARRAY) {
        uint32_t *arr = NULL, n = 0;
        if (hp < 0 || (rc = read_int_array(c, &arr, &n)) || !arr)
            return hp < 0 ? skip_array(c, 0) : rc;
        hp_candidate *h = hp_add(p, key, plen, hp);
        if (!h) {
            free(arr);
            return 0;
        }
        h->arr = arr;
        h->n = n;
        for (uint32_t i = 0; i < n; i++)
            h->value = arr[i] > h->value ? arr[i] : h->value;
        return 0;
    }

    scalar v;
    if ((rc = read_scalar(c, type, &v)))
        return rc;
    if (!v.is_int || v.negative)
        return 0;
    if (hp >= 0) {
        hp_candidate *h = hp_add(p, key, plen, hp);
        if (h)
            h->value = v.u;
        return 0;
    }
    if (!strcmp(key, "general.alignment")) {
        if (!v.u || v.u & (v.u - 1) || v.u > (1u << 30))
            return fail(c, -EINVAL, at, "alignment %" PRIu64 " is not a power of 2", v.u);
        p->alignment = v.u;
    } else if (!strcmp(key, "general.file_type"))
        info->file_type = v.u > INT32_MAX ? -1 : (int)v.u;
    else if (ends_with(key, klen, ".context_length", &plen))
        remember(p->ctx_len, &p->n_ctx_len, key, plen, v.u);
    else if (ends_with(key, klen, ".pooling_type", &plen))
        remember(p->pooling, &p->n_pooling, key, plen, v.u);
    return 0;
}

static void keep_tensor(parse *p, const char *name, uint64_t bytes)
{
    gs_gguf_info *info = p->info;
    if (info->ntensors == p->cap_tensors) {
        p->cap_tensors = p->cap_tensors ? p->cap_tensors * 2 : 256;
        info->tensors = gs_mem_realloc(info->tensors, p->cap_tensors * sizeof *info->tensors);
    }
    struct gs_gguf_tensor *t = &info->tensors[info->ntensors++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->bytes = bytes;
    t->layer = -1;
    unsigned layer;
    int used = 0;
    if (sscanf(name, "blk.%u.%n", &layer, &used) == 1 && used > 0 && layer < MAX_LAYER_ARRAY)
        t->layer = (int)layer;
}

static int read_tensor(parse *p, uint64_t idx)
{
    cur *c = &p->c;
    char name[80];
    uint64_t len;
    snprintf(c->ctx, sizeof c->ctx, "tensor %" PRIu64, idx);
    int rc = str_fixed(c, name, sizeof name, &len, "name");
    if (rc)
        return rc;
    for (char *q = name; *q; q++)
        if ((unsigned char)*q < 0x20 || (unsigned char)*q >= 0x7F)
            *q = '?';
    snprintf(c->ctx, sizeof c->ctx, "tensor %" PRIu64 " (%s%s)", idx, name,
             len > strlen(name) ? "..." : "");
    uint64_t at = c->pos;
    uint32_t n_dims;
    if ((rc = get_u32(c, &n_dims, "n_dims")))
        return rc;
    if (n_dims > MAX_DIMS)
        return fail(c, -EINVAL, at, "n_dims %" PRIu32 " is over %d", n_dims, MAX_DIMS);
    uint64_t elems = 1, dims[2] = {0, 0};
    for (uint32_t d = 0; d < n_dims; d++) {
        uint64_t dim;
        at = c->pos;
        if ((rc = get_u64(c, &dim, "dimension")))
            return rc;
        if (dim > INT64_MAX)
            return fail(c, -EINVAL, at, "dimension %" PRIu32 " is negative", d);
        if (dim && elems > INT64_MAX / dim)
            return fail(c, -EINVAL, at, "dimensions overflow a 64-bit element count");
        elems *= dim;
        if (d < 2)
            dims[d] = dim;
    }
    if (!strcmp(name, "token_embd.weight") && n_dims >= 2 && dims[1] <= UINT32_MAX)
        p->info->n_vocab = (uint32_t)dims[1];
    if (elems > UINT64_MAX - p->info->param_count)
        return fail(c, -EINVAL, at, "parameter count overflows 64 bits");
    p->info->param_count += elems;
    /* Type and offset only serve to check that the data lies inside the file (a truncated
     * download is caught here); the data itself is never read. */
    uint32_t type;
    uint64_t offset;
    at = c->pos;
    if ((rc = get_u32(c, &type, "type")) || (rc = get_u64(c, &offset, "data offset")))
        return rc;
    uint64_t bytes = elems; /* a type newer than the table: about a byte per weight */
    if (type < GS_ARRAY_LEN(ggml_types) && ggml_types[type].size) {
        uint64_t blocks = elems / ggml_types[type].blck + (elems % ggml_types[type].blck != 0);
        if (blocks > UINT64_MAX / ggml_types[type].size ||
            blocks * ggml_types[type].size > UINT64_MAX - offset)
            return fail(c, -EINVAL, at, "data size overflows 64 bits");
        bytes = blocks * ggml_types[type].size;
        uint64_t end = offset + bytes;
        if (end > p->data_end) {
            p->data_end = end;
            p->data_end_at = at;
            memcpy(p->data_end_ctx, c->ctx, sizeof c->ctx);
        }
    }
    if (p->want_tensors && p->info->ntensors < MAX_KEEP_TENSORS)
        keep_tensor(p, name, bytes);
    return 0;
}

static void resolve_shape(parse *p)
{
    gs_gguf_info *info = p->info;
    uint32_t *field[HP_COUNT] = {
        &info->n_layer, &info->n_embd, &info->n_ff, &info->n_head, &info->n_head_kv,
        &info->key_length, &info->value_length, &info->n_swa, &info->swa_period,
        &info->kv_lora_rank, &info->rope_dim, &info->n_expert,
    };
    for (int i = 0; info->architecture && i < p->n_hp; i++) {
        hp_candidate *h = &p->hp[i];
        if (strcmp(h->prefix, info->architecture))
            continue;
        *field[h->id] = h->value > UINT32_MAX ? UINT32_MAX : (uint32_t)h->value;
        if (h->id == HP_HEAD_KV) {
            free(info->layer_head_kv);
            info->layer_head_kv = NULL;
            if (h->arr) {
                info->layer_head_kv = h->arr;
                h->arr = NULL;
            }
        } else if (h->id == HP_SWA_PAT) {
            free(info->layer_swa);
            info->layer_swa = NULL;
            if (h->arr) { /* a bool per layer rather than a period */
                info->swa_period = 0;
                info->layer_swa = gs_mem_calloc(h->n ? h->n : 1, 1);
                for (uint32_t k = 0; k < h->n; k++)
                    info->layer_swa[k] = h->arr[k] != 0;
            }
        }
    }
    /* A per-layer array shorter than the layers would be read past its end. */
    uint32_t n_kv_arr = 0, n_swa_arr = 0;
    for (int i = 0; i < p->n_hp; i++)
        if (info->architecture && !strcmp(p->hp[i].prefix, info->architecture)) {
            if (p->hp[i].id == HP_HEAD_KV)
                n_kv_arr = p->hp[i].n;
            if (p->hp[i].id == HP_SWA_PAT)
                n_swa_arr = p->hp[i].n;
        }
    if (info->layer_head_kv && n_kv_arr < info->n_layer) {
        free(info->layer_head_kv);
        info->layer_head_kv = NULL;
    }
    if (info->layer_swa && n_swa_arr < info->n_layer) {
        free(info->layer_swa);
        info->layer_swa = NULL;
    }
    if (!info->n_head_kv)
        info->n_head_kv = info->n_head;
    if (info->n_head && !info->key_length)
        info->key_length = info->n_embd / info->n_head;
    if (info->n_head && !info->value_length)
        info->value_length = info->n_embd / info->n_head;
}

static int parse_all(parse *p)
{
    cur *c = &p->c;
    gs_gguf_info *info = p->info;
    uint8_t head[4];
    if (!c->size)
        return fail(c, -EINVAL, 0, "the file is empty (an interrupted download?)");
    int rc = get(c, head, 4, "magic");
    if (rc)
        return rc;
    if (memcmp(head, "GGUF", 4)) {
        char shown[20];
        for (int i = 0; i < 4; i++)
            shown[i] = head[i] >= 0x20 && head[i] < 0x7F ? (char)head[i] : '.';
        shown[4] = 0;
        return fail(c, -EINVAL, 0, "not a GGUF file (magic \"%s\", expected \"GGUF\")", shown);
    }
    uint32_t version;
    if ((rc = get_u32(c, &version, "version")))
        return rc;
    if (version == 1)
        return fail(c, -EINVAL, 4, "GGUF version 1 is not supported; convert the model again "
                    "with a current llama.cpp");
    if ((version & 0xFFFF) == 0 && version)
        return fail(c, -EINVAL, 4, "big-endian GGUF (version field %#" PRIx32 ") is not "
                    "supported", version);
    if (version != 2 && version != 3)
        return fail(c, -EINVAL, 4, "unsupported GGUF version %" PRIu32 " (2 and 3 are read)",
                    version);
    info->version = version;
    uint64_t n_tensors, n_kv;
    if ((rc = get_u64(c, &n_tensors, "tensor count")) || (rc = get_u64(c, &n_kv, "kv count")))
        return rc;
    /* A kv takes at least 13 bytes (key length, type, 1-byte value), a tensor info 24. */
    if (n_kv > remaining(c) / 13)
        return fail(c, -EINVAL, 16, "kv count %" PRIu64 " exceeds file size", n_kv);
    if (n_kv > MAX_KV)
        return fail(c, -E2BIG, 16, "kv count %" PRIu64 " is over the limit of %llu", n_kv,
                    MAX_KV);
    if (n_tensors > remaining(c) / 24)
        return fail(c, -EINVAL, 8, "tensor count %" PRIu64 " exceeds file size", n_tensors);
    if (n_tensors > MAX_TENSORS)
        return fail(c, -E2BIG, 8, "tensor count %" PRIu64 " is over the limit of %llu",
                    n_tensors, MAX_TENSORS);
    info->n_kv = n_kv;
    info->n_tensors = n_tensors;
    for (uint64_t i = 0; i < n_kv; i++)
        if ((rc = read_kv(p, i)))
            return rc;
    for (uint64_t i = 0; i < n_tensors; i++)
        if ((rc = read_tensor(p, i)))
            return rc;
    uint64_t data_start = c->pos + (p->alignment - c->pos % p->alignment) % p->alignment;
    if (n_tensors && (data_start > c->size || p->data_end > c->size - data_start)) {
        memcpy(c->ctx, p->data_end_ctx, sizeof c->ctx);
        return fail(c, -EINVAL, p->data_end_at, "tensor data ends at offset %" PRIu64
                    ", past the end of the file (%" PRIu64 " bytes): truncated download?",
                    data_start + p->data_end, c->size);
    }
    c->ctx[0] = 0;
    /* The last value of a key wins, as a dictionary built from the kvs would have it. */
    const char *arch = info->architecture;
    for (int i = 0; arch && i < p->n_ctx_len; i++)
        if (!strcmp(p->ctx_len[i].prefix, arch))
            info->context_length = p->ctx_len[i].value;
    for (int i = 0; arch && i < p->n_pooling; i++)
        if (!strcmp(p->pooling[i].prefix, arch))
            info->pooling_type = p->pooling[i].value > INT32_MAX ? -1 : (int)p->pooling[i].value;
    info->is_clip = arch && !strcmp(arch, "clip");
    resolve_shape(p);
    return 0;
}

static int run(parse *p, gs_gguf_info *info, char **err)
{
    memset(info, 0, sizeof *info);
    info->pooling_type = -1;
    info->file_type = -1;
    info->file_size = p->c.size;
    p->info = info;
    p->alignment = 32;
    int rc = parse_all(p);
    for (int i = 0; i < p->n_hp; i++)
        free(p->hp[i].arr);
    if (rc) {
        gs_gguf_info_free(info);
        info->pooling_type = info->file_type = -1;
    }
    if (err)
        *err = p->c.err;
    else
        free(p->c.err);
    return rc;
}

static int read_mem(const void *data, size_t len, gs_gguf_info *info, char **err, bool tensors)
{
    parse *p = gs_mem_calloc(1, sizeof *p);
    p->want_tensors = tensors;
    p->c.label = "<memory>";
    p->c.fd = -1;
    p->c.mem = data ? data : (const uint8_t *)"";
    p->c.size = len;
    int rc = run(p, info, err);
    free(p);
    return rc;
}

int gs_gguf_read_mem(const void *data, size_t len, gs_gguf_info *info, char **err)
{
    return read_mem(data, len, info, err, false);
}

int gs_gguf_read_mem_tensors(const void *data, size_t len, gs_gguf_info *info, char **err)
{
    return read_mem(data, len, info, err, true);
}

static int read_path(const char *path, gs_gguf_info *info, char **err, bool tensors)
{
    memset(info, 0, sizeof *info);
    info->pooling_type = info->file_type = -1;
    if (err)
        *err = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (err)
            *err = gs_mem_printf("%s: cannot open: %s", path, strerror(e));
        return -e;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        if (err)
            *err = gs_mem_printf("%s: cannot stat: %s", path, strerror(e));
        close(fd);
        return -e;
    }
    if (!S_ISREG(st.st_mode)) {
        if (err)
            *err = gs_mem_printf("%s: not a regular file", path);
        close(fd);
        return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
    }
    parse *p = gs_mem_calloc(1, sizeof *p);
    p->want_tensors = tensors;
    p->c.label = path;
    p->c.fd = fd;
    p->c.size = (uint64_t)st.st_size;
    p->c.win = gs_mem_alloc(CHUNK);
    int rc = run(p, info, err);
    free(p->c.win);
    free(p);
    close(fd);
    return rc;
}

int gs_gguf_read(const char *path, gs_gguf_info *info, char **err)
{
    return read_path(path, info, err, false);
}

int gs_gguf_read_tensors(const char *path, gs_gguf_info *info, char **err)
{
    return read_path(path, info, err, true);
}

void gs_gguf_info_free(gs_gguf_info *info)
{
    if (!info)
        return;
    free(info->architecture);
    free(info->name);
    free(info->size_label);
    free(info->layer_head_kv);
    free(info->layer_swa);
    free(info->tensors);
    memset(info, 0, sizeof *info);
    info->pooling_type = info->file_type = -1;
}

const char *gs_gguf_file_type_name(int file_type)
{
    /* llama.cpp's enum llama_ftype (values 4-6 and 33-35 were removed formats). */
    static const struct { int v; const char *n; } names[] = {
        {0, "F32"}, {1, "F16"}, {2, "Q4_0"}, {3, "Q4_1"}, {7, "Q8_0"}, {8, "Q5_0"},
        {9, "Q5_1"}, {10, "Q2_K"}, {11, "Q3_K_S"}, {12, "Q3_K_M"}, {13, "Q3_K_L"},
        {14, "Q4_K_S"}, {15, "Q4_K_M"}, {16, "Q5_K_S"}, {17, "Q5_K_M"}, {18, "Q6_K"},
        {19, "IQ2_XXS"}, {20, "IQ2_XS"}, {21, "Q2_K_S"}, {22, "IQ3_XS"}, {23, "IQ3_XXS"},
        {24, "IQ1_S"}, {25, "IQ4_NL"}, {26, "IQ3_S"}, {27, "IQ3_M"}, {28, "IQ2_S"},
        {29, "IQ2_M"}, {30, "IQ4_XS"}, {31, "IQ1_M"}, {32, "BF16"}, {36, "TQ1_0"},
        {37, "TQ2_0"}, {38, "MXFP4"},
    };
    for (size_t i = 0; i < GS_ARRAY_LEN(names); i++)
        if (names[i].v == file_type)
            return names[i].n;
    return NULL;
}

const char *gs_gguf_pooling_name(int pooling_type)
{
    static const char *const names[] = {"none", "mean", "cls", "last", "rank"};
    if (pooling_type < 0 || pooling_type >= (int)GS_ARRAY_LEN(names))
        return NULL;
    return names[pooling_type];
}
