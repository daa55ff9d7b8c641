#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "ggufw.h"
#include "mem.h"

/* ---- helpers ---- */

static char tmpdir[64];

static void setup(void)
{
    strcpy(tmpdir, "/tmp/gs-gguf-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void teardown(void)
{
    char *cmd = gs_mem_printf("rm -rf '%s'", tmpdir);
    cr_assert_eq(system(cmd), 0);
    free(cmd);
}

TestSuite(gguf, .init = setup, .fini = teardown, .timeout = 30);

static char *tpath(const char *name)
{
    return gs_mem_printf("%s/%s", tmpdir, name);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *d = gs_mem_alloc((size_t)n + 1);
    cr_assert_eq(fread(d, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return d;
}

static void spit(const char *path, const void *d, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(d, 1, n, f), n);
    fclose(f);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Raw GGUF bytes, for files the writer would never make. */
static void b_u32(gs_buf *b, uint32_t v)
{
    uint8_t x[4];
    for (int i = 0; i < 4; i++)
        x[i] = (uint8_t)(v >> (8 * i));
    gs_buf_append(b, x, 4);
}

static void b_u64(gs_buf *b, uint64_t v)
{
    b_u32(b, (uint32_t)v);
    b_u32(b, (uint32_t)(v >> 32));
}

static void b_str(gs_buf *b, const char *s)
{
    b_u64(b, strlen(s));
    gs_buf_puts(b, s);
}

static void b_head(gs_buf *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv)
{
    gs_buf_init(b, 0);
    gs_buf_append(b, "GGUF", 4);
    b_u32(b, version);
    b_u64(b, n_tensors);
    b_u64(b, n_kv);
}

static void b_kv_str(gs_buf *b, const char *k, const char *v)
{
    b_str(b, k);
    b_u32(b, GS_GGUF_STRING);
    b_str(b, v);
}

/* Read bytes from memory and check the result code; returns the message (caller frees). */
static char *read_mem_rc(const gs_buf *b, int want, gs_gguf_info *info)
{
    char *err = NULL;
    int rc = gs_gguf_read_mem(b->data, b->len, info, &err);
    cr_assert_eq(rc, want, "rc %d, want %d (%s)", rc, want, err ? err : "no message");
    if (want)
        cr_assert_not_null(err);
    else
        cr_assert_null(err);
    return err;
}

static void expect_error(const gs_buf *b, int want, const char *substr)
{
    gs_gguf_info info;
    char *err = read_mem_rc(b, want, &info);
    cr_log_info("%s", err);
    if (substr)
        cr_assert_not_null(strstr(err, substr), "message \"%s\" lacks \"%s\"", err, substr);
    cr_assert_null(info.architecture);
    free(err);
}

/* ---- round trips ---- */

Test(gguf, writer_reader_round_trip_fields)
{
    gs_gguf_writer *w = gs_gguf_writer_new();
    gs_gguf_writer_str(w, "general.architecture", "qwen2");
    gs_gguf_writer_str(w, "general.name", "Qwen2.5 7B Instruct");
    gs_gguf_writer_str(w, "general.size_label", "7B");
    gs_gguf_writer_u32(w, "general.file_type", 15);
    gs_gguf_writer_u32(w, "qwen2.context_length", 32768);
    gs_gguf_writer_u32(w, "qwen2.pooling_type", 1);
    gs_gguf_writer_str(w, "tokenizer.chat_template", "{{ messages }}");
    gs_gguf_writer_tensor_f32(w, "a", (uint64_t[]){3, 5}, 2, NULL);
    float d[7] = {1, 2, 3, 4, 5, 6, 7};
    gs_gguf_writer_tensor_f32(w, "b", (uint64_t[]){7}, 1, d);
    char *p = tpath("m.gguf");
    cr_assert_eq(gs_gguf_writer_save(w, p), 0);
    gs_gguf_writer_free(w);

    gs_gguf_info info;
    char *err = NULL;
    cr_assert_eq(gs_gguf_read(p, &info, &err), 0, "%s", err);
    cr_assert_null(err);
    cr_assert_eq(info.version, 3);
    cr_assert_str_eq(info.architecture, "qwen2");
    cr_assert_str_eq(info.name, "Qwen2.5 7B Instruct");
    cr_assert_str_eq(info.size_label, "7B");
    cr_assert_eq(info.file_type, 15);
    cr_assert_str_eq(gs_gguf_file_type_name(info.file_type), "Q4_K_M");
    cr_assert_eq(info.context_length, 32768);
    cr_assert_eq(info.pooling_type, 1);
    cr_assert_eq(info.param_count, 22);
    cr_assert_eq(info.n_tensors, 2);
    cr_assert_eq(info.n_kv, 7);
    cr_assert(info.has_chat_template);
    cr_assert(!info.is_clip);
    struct stat st;
    stat(p, &st);
    cr_assert_eq(info.file_size, (uint64_t)st.st_size);
    /* Alignment: header padded to 32, first tensor 15 floats padded to 64 bytes, then 28. */
    cr_assert_eq(st.st_size % 32, 0);
    gs_gguf_info_free(&info);

    /* The same bytes through memory give the same facts. */
    size_t n;
    char *bytes = slurp(p, &n);
    cr_assert_eq(gs_gguf_read_mem(bytes, n, &info, NULL), 0);
    cr_assert_str_eq(info.name, "Qwen2.5 7B Instruct");
    cr_assert_eq(info.param_count, 22);
    gs_gguf_info_free(&info);
    /* The tensor data is where the header says it is: "b" follows "a" at offset 64. */
    size_t data = n - 64 - 32;
    float got[7];
    memcpy(got, bytes + data + 64, sizeof got);
    cr_assert_eq(memcmp(got, d, sizeof d), 0);
    free(bytes);
    free(p);
}

Test(gguf, defaults_when_absent)
{
    gs_gguf_writer *w = gs_gguf_writer_new();
    char *p = tpath("empty.gguf");
    cr_assert_eq(gs_gguf_writer_save(w, p), 0);
    gs_gguf_writer_free(w);
    gs_gguf_info info;
    cr_assert_eq(gs_gguf_read(p, &info, NULL), 0);
    cr_assert_null(info.architecture);
    cr_assert_null(info.name);
    cr_assert_null(info.size_label);
    cr_assert_eq(info.param_count, 0);
    cr_assert_eq(info.context_length, 0);
    cr_assert_eq(info.pooling_type, -1);
    cr_assert_eq(info.file_type, -1);
    cr_assert(!info.has_chat_template);
    cr_assert_eq(info.n_kv, 0);
    cr_assert_eq(info.n_tensors, 0);
    gs_gguf_info_free(&info);
    free(p);
}

/* Every value type, nested arrays included, is stepped over correctly: the key after each one
 * is still found. Integer keys are accepted in every integer type. */
Test(gguf, every_value_type_round_trips)
{
    static const struct { uint32_t type; int size; uint64_t bits; uint64_t want; } ints[] = {
        {GS_GGUF_UINT8, 1, 200, 200},     {GS_GGUF_INT8, 1, 100, 100},
        {GS_GGUF_UINT16, 2, 65000, 65000}, {GS_GGUF_INT16, 2, 30000, 30000},
        {GS_GGUF_UINT32, 4, 4000000000u, 4000000000u}, {GS_GGUF_INT32, 4, 2000000000, 2000000000},
        {GS_GGUF_UINT64, 8, 1ull << 40, 1ull << 40}, {GS_GGUF_INT64, 8, 1ull << 50, 1ull << 50},
        {GS_GGUF_BOOL, 1, 1, 1},
        /* negative values and floats are not lengths: ignored */
        {GS_GGUF_INT8, 1, 0xFF, 0},       {GS_GGUF_INT32, 4, 0xFFFFFFFF, 0},
        {GS_GGUF_INT64, 8, UINT64_MAX, 0}, {GS_GGUF_FLOAT32, 4, 0x45800000, 0},
        {GS_GGUF_FLOAT64, 8, 0x40b0000000000000ull, 0},
    };
    for (size_t i = 0; i < GS_ARRAY_LEN(ints); i++) {
        gs_gguf_writer *w = gs_gguf_writer_new();
        uint8_t le[8];
        for (int k = 0; k < 8; k++)
            le[k] = (uint8_t)(ints[i].bits >> (8 * k));
        gs_gguf_writer_raw(w, "llama.context_length", ints[i].type, le, (size_t)ints[i].size);
        gs_gguf_writer_raw(w, "general.file_type", ints[i].type, le, (size_t)ints[i].size);
        gs_gguf_writer_str(w, "general.architecture", "llama");
        char *p = tpath("t.gguf");
        cr_assert_eq(gs_gguf_writer_save(w, p), 0);
        gs_gguf_writer_free(w);
        gs_gguf_info info;
        char *err = NULL;
        cr_assert_eq(gs_gguf_read(p, &info, &err), 0, "case %zu: %s", i, err);
        cr_assert_eq(info.context_length, ints[i].want, "case %zu: %llu", i,
                     (unsigned long long)info.context_length);
        int ft = !ints[i].want || ints[i].want > INT32_MAX ? -1 : (int)ints[i].want;
        cr_assert_eq(info.file_type, ft, "case %zu", i);
        cr_assert_str_eq(info.architecture, "llama");
        gs_gguf_info_free(&info);
        free(p);
    }

    /* All the other setters, scalar and array, then a key the reader must still see. */
    gs_gguf_writer *w = gs_gguf_writer_new();
    gs_gguf_writer_u32(w, "a.u32", 7);
    gs_gguf_writer_i32(w, "a.i32", -7);
    gs_gguf_writer_u64(w, "a.u64", 1ull << 60);
    gs_gguf_writer_f32(w, "a.f32", 1.5f);
    gs_gguf_writer_bool(w, "a.bool", true);
    gs_gguf_writer_str(w, "a.str", "");
    const char *strs[] = {"x", "", "\xE2\x96\x81", "long string value"};
    gs_gguf_writer_str_array(w, "a.strs", strs, 4);
    gs_gguf_writer_str_array(w, "a.none", NULL, 0);
    float fs[3] = {1, 2, 3};
    gs_gguf_writer_f32_array(w, "a.f32s", fs, 3);
    int32_t is[2] = {-1, 1};
    gs_gguf_writer_i32_array(w, "a.i32s", is, 2);
    /* arrays of every fixed-size type */
    for (uint32_t t = 0; t <= GS_GGUF_FLOAT64; t++) {
        if (t == GS_GGUF_STRING || t == GS_GGUF_ARRAY)
            continue;
        gs_buf v;
        gs_buf_init(&v, 0);
        b_u32(&v, t);
        b_u64(&v, 3);
        gs_buf_append(&v, "\1\2\3\4\5\6\7\10\11\12\13\14\15\16\17\20\21\22\23\24\25\26\27\30",
                      3 * (t == 0 || t == 1 || t == 7 ? 1 : t <= 3 ? 2 : t <= 6 ? 4 : 8));
        char key[32];
        snprintf(key, sizeof key, "arr.%u", t);
        gs_gguf_writer_raw(w, key, GS_GGUF_ARRAY, v.data, v.len);
        gs_buf_free(&v);
    }
    /* nested: [[1,2],[3]] of u32 and [["a","bc"],[]] of strings, and 3 levels deep */
    gs_buf v;
    gs_buf_init(&v, 0);
    b_u32(&v, GS_GGUF_ARRAY);
    b_u64(&v, 2);
    b_u32(&v, GS_GGUF_UINT32); b_u64(&v, 2); b_u32(&v, 1); b_u32(&v, 2);
    b_u32(&v, GS_GGUF_UINT32); b_u64(&v, 1); b_u32(&v, 3);
    gs_gguf_writer_raw(w, "nested.u32", GS_GGUF_ARRAY, v.data, v.len);
    gs_buf_reset(&v);
    b_u32(&v, GS_GGUF_ARRAY);
    b_u64(&v, 2);
    b_u32(&v, GS_GGUF_STRING); b_u64(&v, 2); b_str(&v, "a"); b_str(&v, "bc");
    b_u32(&v, GS_GGUF_STRING); b_u64(&v, 0);
    gs_gguf_writer_raw(w, "nested.str", GS_GGUF_ARRAY, v.data, v.len);
    gs_buf_reset(&v);
    b_u32(&v, GS_GGUF_ARRAY); b_u64(&v, 1);
    b_u32(&v, GS_GGUF_ARRAY); b_u64(&v, 1);
    b_u32(&v, GS_GGUF_INT64); b_u64(&v, 1); b_u64(&v, 42);
    gs_gguf_writer_raw(w, "nested.deep", GS_GGUF_ARRAY, v.data, v.len);
    gs_buf_free(&v);
    gs_gguf_writer_str(w, "general.name", "after everything");
    gs_gguf_writer_tensor_f32(w, "t", (uint64_t[]){2, 3, 4, 5}, 4, NULL);
    char *p = tpath("all.gguf");
    cr_assert_eq(gs_gguf_writer_save(w, p), 0);
    gs_gguf_writer_free(w);
    gs_gguf_info info;
    char *err = NULL;
    cr_assert_eq(gs_gguf_read(p, &info, &err), 0, "%s", err);
    cr_assert_str_eq(info.name, "after everything");
    cr_assert_eq(info.n_kv, 10 + 11 + 3 + 1);
    cr_assert_eq(info.param_count, 120);
    gs_gguf_info_free(&info);
    free(p);
}

Test(gguf, versions_2_and_3)
{
    for (uint32_t ver = 2; ver <= 3; ver++) {
        gs_gguf_writer *w = gs_gguf_writer_new();
        gs_gguf_writer_set_version(w, ver);
        gs_gguf_writer_str(w, "general.architecture", "llama");
        gs_gguf_writer_u32(w, "llama.context_length", 2048);
        gs_gguf_writer_tensor_f32(w, "x", (uint64_t[]){10}, 1, NULL);
        char *p = tpath("v.gguf");
        cr_assert_eq(gs_gguf_writer_save(w, p), 0);
        gs_gguf_writer_free(w);
        gs_gguf_info info;
        cr_assert_eq(gs_gguf_read(p, &info, NULL), 0);
        cr_assert_eq(info.version, ver);
        cr_assert_eq(info.context_length, 2048);
        cr_assert_eq(info.param_count, 10);
        gs_gguf_info_free(&info);
        free(p);
    }
}

Test(gguf, arch_keys_in_any_order_and_only_for_the_arch)
{
    gs_buf b;
    b_head(&b, 3, 0, 4);
    b_str(&b, "bert.pooling_type"); b_u32(&b, GS_GGUF_UINT32); b_u32(&b, 2);
    b_str(&b, "llama.context_length"); b_u32(&b, GS_GGUF_UINT32); b_u32(&b, 999);
    b_str(&b, "bert.context_length"); b_u32(&b, GS_GGUF_UINT32); b_u32(&b, 512);
    b_kv_str(&b, "general.architecture", "bert");
    gs_gguf_info info;
    read_mem_rc(&b, 0, &info);
    cr_assert_eq(info.context_length, 512);
    cr_assert_eq(info.pooling_type, 2);
    cr_assert_str_eq(gs_gguf_pooling_name(info.pooling_type), "cls");
    gs_gguf_info_free(&info);
    gs_buf_free(&b);
}

Test(gguf, clip_file_sets_is_clip)
{
    gs_gguf_writer *w = gs_gguf_writer_new();
    gs_gguf_writer_str(w, "general.architecture", "clip");
    gs_gguf_writer_str(w, "general.name", "mmproj");
    gs_gguf_writer_bool(w, "clip.has_vision_encoder", true);
    char *p = tpath("mmproj-model-f16.gguf");
    cr_assert_eq(gs_gguf_writer_save(w, p), 0);
    gs_gguf_writer_free(w);
    gs_gguf_info info;
    cr_assert_eq(gs_gguf_read(p, &info, NULL), 0);
    cr_assert(info.is_clip);
    cr_assert_str_eq(info.architecture, "clip");
    gs_gguf_info_free(&info);
    free(p);
}

Test(gguf, names_of_file_types_and_pooling)
{
    cr_assert_str_eq(gs_gguf_file_type_name(0), "F32");
    cr_assert_str_eq(gs_gguf_file_type_name(1), "F16");
    cr_assert_str_eq(gs_gguf_file_type_name(2), "Q4_0");
    cr_assert_str_eq(gs_gguf_file_type_name(7), "Q8_0");
    cr_assert_str_eq(gs_gguf_file_type_name(14), "Q4_K_S");
    cr_assert_str_eq(gs_gguf_file_type_name(15), "Q4_K_M");
    cr_assert_str_eq(gs_gguf_file_type_name(18), "Q6_K");
    cr_assert_str_eq(gs_gguf_file_type_name(30), "IQ4_XS");
    cr_assert_str_eq(gs_gguf_file_type_name(32), "BF16");
    cr_assert_str_eq(gs_gguf_file_type_name(38), "MXFP4");
    cr_assert_null(gs_gguf_file_type_name(4));
    cr_assert_null(gs_gguf_file_type_name(33));
    cr_assert_null(gs_gguf_file_type_name(-1));
    cr_assert_null(gs_gguf_file_type_name(1000));
    const char *pool[] = {"none", "mean", "cls", "last", "rank"};
    for (int i = 0; i < 5; i++)
        cr_assert_str_eq(gs_gguf_pooling_name(i), pool[i]);
    cr_assert_null(gs_gguf_pooling_name(-1));
    cr_assert_null(gs_gguf_pooling_name(5));
}

/* ---- hostile and broken files ---- */

/* A small valid file with every kind of field, whose last tensor ends the file exactly. */
static char *small_valid(size_t *len)
{
    gs_gguf_writer *w = gs_gguf_writer_new();
    gs_gguf_writer_str(w, "general.architecture", "llama");
    gs_gguf_writer_str(w, "general.name", "small");
    gs_gguf_writer_u32(w, "llama.context_length", 128);
    const char *strs[] = {"a", "bb", "ccc"};
    gs_gguf_writer_str_array(w, "tokenizer.ggml.tokens", strs, 3);
    int32_t is[2] = {1, 2};
    gs_gguf_writer_i32_array(w, "x.i32s", is, 2);
    gs_buf v;
    gs_buf_init(&v, 0);
    b_u32(&v, GS_GGUF_ARRAY); b_u64(&v, 1);
    b_u32(&v, GS_GGUF_STRING); b_u64(&v, 1); b_str(&v, "z");
    gs_gguf_writer_raw(w, "x.nested", GS_GGUF_ARRAY, v.data, v.len);
    gs_buf_free(&v);
    gs_gguf_writer_bool(w, "x.b", false);
    gs_gguf_writer_tensor_f32(w, "t0", (uint64_t[]){3, 2}, 2, NULL);
    gs_gguf_writer_tensor_f32(w, "t1", (uint64_t[]){8}, 1, NULL); /* 32 bytes: no padding */
    char *p = tpath("small.gguf");
    cr_assert_eq(gs_gguf_writer_save(w, p), 0);
    gs_gguf_writer_free(w);
    char *d = slurp(p, len);
    free(p);
    return d;
}

Test(gguf, truncated_at_every_offset_is_an_error)
{
    size_t n;
    char *full = small_valid(&n);
    gs_gguf_info info;
    cr_assert_eq(gs_gguf_read_mem(full, n, &info, NULL), 0);
    gs_gguf_info_free(&info);
    for (size_t len = 0; len < n; len++) {
        /* a copy of exactly len bytes, so ASan sees any read past the end */
        char *cut = gs_mem_alloc(len + 1);
        memcpy(cut, full, len);
        char *err = NULL;
        int rc = gs_gguf_read_mem(cut, len, &info, &err);
        cr_assert_eq(rc, -EINVAL, "len %zu: rc %d", len, rc);
        cr_assert_not_null(err, "len %zu", len);
        cr_assert_null(info.architecture);
        cr_assert_null(info.name);
        free(err);
        free(cut);
    }
    /* The same through the file reader. */
    char *p = tpath("cut.gguf");
    spit(p, full, n);
    for (size_t len = n; len-- > 0;) {
        cr_assert_eq(truncate(p, (off_t)len), 0);
        char *err = NULL;
        cr_assert_eq(gs_gguf_read(p, &info, &err), -EINVAL, "len %zu", len);
        cr_assert_not_null(strstr(err, p), "%s", err);
        free(err);
    }
    free(p);
    free(full);
}

Test(gguf, error_message_names_file_offset_and_field)
{
    gs_buf b;
    b_head(&b, 3, 0, 2);
    b_kv_str(&b, "general.architecture", "llama");
    size_t at = b.len + 8 + strlen("tokenizer.ggml.tokens") + 4 + 4 + 8;
    b_str(&b, "tokenizer.ggml.tokens");
    b_u32(&b, GS_GGUF_ARRAY);
    b_u32(&b, GS_GGUF_STRING);
    b_u64(&b, 1);
    b_u64(&b, 99999999999ull);
    gs_buf_append(&b, "abcdefgh", 8);
    char *p = tpath("model.gguf");
    spit(p, b.data, b.len);
    gs_gguf_info info;
    char *err = NULL;
    cr_assert_eq(gs_gguf_read(p, &info, &err), -EINVAL);
    char *want = gs_mem_printf("%s: offset %zu: metadata key 1 (tokenizer.ggml.tokens): "
                               "string length 99999999999 exceeds file size", p, at);
    cr_assert(!strncmp(err, want, strlen(want)), "got: %s\nwant: %s", err, want);
    free(want);
    free(err);
    free(p);
    gs_buf_free(&b);
}

Test(gguf, absurd_lengths_and_counts_fail_fast)
{
    double t0 = now();
    gs_buf b;
    gs_gguf_info info;

    /* string length 2^63 in a key, in a value, in a tensor name */
    static const char pad[64];
    b_head(&b, 3, 0, 1);
    b_u64(&b, 1ull << 63);
    gs_buf_append(&b, pad, sizeof pad);
    expect_error(&b, -EINVAL, "key length 9223372036854775808 exceeds file size");
    gs_buf_free(&b);
    b_head(&b, 3, 0, 1);
    b_str(&b, "general.name"); b_u32(&b, GS_GGUF_STRING); b_u64(&b, 1ull << 63);
    expect_error(&b, -EINVAL, "general.name");
    gs_buf_free(&b);
    b_head(&b, 3, 1, 0);
    b_u64(&b, UINT64_MAX);
    gs_buf_append(&b, pad, sizeof pad);
    expect_error(&b, -EINVAL, "tensor 0");
    gs_buf_free(&b);

    /* array count 2^60 of bytes, of strings, of arrays */
    for (uint32_t et = 0; et < 3; et++) {
        uint32_t types[3] = {GS_GGUF_UINT8, GS_GGUF_STRING, GS_GGUF_ARRAY};
        b_head(&b, 3, 0, 1);
        b_str(&b, "x"); b_u32(&b, GS_GGUF_ARRAY); b_u32(&b, types[et]); b_u64(&b, 1ull << 60);
        gs_buf_append(&b, "0123456789abcdef0123456789abcdef", 32);
        expect_error(&b, -EINVAL, "array of");
        gs_buf_free(&b);
    }

    /* n_kv 2^40 and n_tensors 2^40 */
    b_head(&b, 3, 0, 1ull << 40);
    expect_error(&b, -EINVAL, "kv count");
    gs_buf_free(&b);
    b_head(&b, 3, 1ull << 40, 0);
    expect_error(&b, -EINVAL, "tensor count");
    gs_buf_free(&b);

    /* n_dims 1000 */
    b_head(&b, 3, 1, 0);
    b_str(&b, "t"); b_u32(&b, 1000);
    for (int i = 0; i < 40; i++)
        b_u64(&b, 1);
    expect_error(&b, -EINVAL, "n_dims 1000");
    gs_buf_free(&b);

    /* dimensions whose product overflows; a negative dimension */
    b_head(&b, 3, 1, 0);
    b_str(&b, "t"); b_u32(&b, 3); b_u64(&b, 1ull << 40); b_u64(&b, 1ull << 40); b_u64(&b, 2);
    b_u32(&b, 0); b_u64(&b, 0);
    expect_error(&b, -EINVAL, "overflow");
    gs_buf_free(&b);
    b_head(&b, 3, 1, 0);
    b_str(&b, "t"); b_u32(&b, 1); b_u64(&b, UINT64_MAX); b_u32(&b, 0); b_u64(&b, 0);
    expect_error(&b, -EINVAL, "negative");
    gs_buf_free(&b);

    /* each tensor fine, their sum overflowing */
    b_head(&b, 3, 3, 0);
    for (int i = 0; i < 3; i++) {
        b_str(&b, "t"); b_u32(&b, 1); b_u64(&b, INT64_MAX); b_u32(&b, 24 /* I8 */); b_u64(&b, 0);
    }
    expect_error(&b, -EINVAL, "tensor 2 (t): parameter count overflows");
    gs_buf_free(&b);
    /* one tensor whose byte size overflows */
    b_head(&b, 3, 1, 0);
    b_str(&b, "t"); b_u32(&b, 1); b_u64(&b, INT64_MAX); b_u32(&b, 0); b_u64(&b, 0);
    expect_error(&b, -EINVAL, "data size overflows");
    gs_buf_free(&b);

    /* a tensor whose data would lie past the end of the file */
    b_head(&b, 3, 1, 0);
    b_str(&b, "t"); b_u32(&b, 1); b_u64(&b, 1000000); b_u32(&b, 0); b_u64(&b, 0);
    expect_error(&b, -EINVAL, "past the end of the file");
    gs_buf_free(&b);

    /* arrays nested deeper than the limit */
    b_head(&b, 3, 0, 1);
    b_str(&b, "deep"); b_u32(&b, GS_GGUF_ARRAY);
    for (int i = 0; i < 20; i++) {
        b_u32(&b, GS_GGUF_ARRAY); b_u64(&b, 1);
    }
    b_u32(&b, GS_GGUF_UINT8); b_u64(&b, 0);
    expect_error(&b, -E2BIG, "nested");
    gs_buf_free(&b);

    /* a kept string over the 1 MiB limit, present in full */
    b_head(&b, 3, 0, 1);
    b_str(&b, "general.name"); b_u32(&b, GS_GGUF_STRING); b_u64(&b, 2u << 20);
    char *big = gs_mem_calloc(1, 2u << 20);
    memset(big, 'a', 2u << 20);
    gs_buf_append(&b, big, 2u << 20);
    free(big);
    expect_error(&b, -E2BIG, "over the limit");
    gs_buf_free(&b);

    /* unknown value type, unknown array element type */
    b_head(&b, 3, 0, 1);
    b_str(&b, "k"); b_u32(&b, 13); b_u32(&b, 0);
    expect_error(&b, -EINVAL, "unknown value type 13");
    gs_buf_free(&b);
    b_head(&b, 3, 0, 1);
    b_str(&b, "k"); b_u32(&b, GS_GGUF_ARRAY); b_u32(&b, 99); b_u64(&b, 0);
    expect_error(&b, -EINVAL, "unknown array element type 99");
    gs_buf_free(&b);

    /* alignment that is not a power of 2 */
    b_head(&b, 3, 0, 1);
    b_str(&b, "general.alignment"); b_u32(&b, GS_GGUF_UINT32); b_u32(&b, 24);
    expect_error(&b, -EINVAL, "power of 2");
    gs_buf_free(&b);

    cr_assert_lt(now() - t0, 2.0, "hostile inputs must fail fast");
    (void)info;
}

Test(gguf, wrong_magic_v1_and_other_versions)
{
    gs_buf b;
    gs_buf_init(&b, 0);
    gs_buf_append(&b, "GGML\3\0\0\0", 8);
    b_u64(&b, 0); b_u64(&b, 0);
    expect_error(&b, -EINVAL, "not a GGUF file");
    gs_buf_free(&b);

    b_head(&b, 1, 0, 0);
    expect_error(&b, -EINVAL, "version 1 is not supported");
    gs_buf_free(&b);
    b_head(&b, 4, 0, 0);
    expect_error(&b, -EINVAL, "unsupported GGUF version 4");
    gs_buf_free(&b);
    b_head(&b, 0x03000000, 0, 0);
    expect_error(&b, -EINVAL, "big-endian");
    gs_buf_free(&b);

    gs_buf_init(&b, 0);
    expect_error(&b, -EINVAL, "empty");
    gs_buf_append(&b, "GG", 2);
    expect_error(&b, -EINVAL, "truncated");
    gs_buf_free(&b);
}

Test(gguf, hostile_text_is_sanitized)
{
    gs_buf b;
    b_head(&b, 3, 0, 2);
    b_kv_str(&b, "general.name", "bad\n\x1b[31mname\xff\xc3");
    b_kv_str(&b, "general.architecture", "ll\xc3\xa9" "ama");
    gs_gguf_info info;
    read_mem_rc(&b, 0, &info);
    cr_assert_str_eq(info.name, "bad??[31mname??");
    cr_assert_str_eq(info.architecture, "ll\xc3\xa9" "ama");
    gs_gguf_info_free(&info);
    gs_buf_free(&b);
}

Test(gguf, file_errors)
{
    gs_gguf_info info;
    char *err = NULL;
    char *p = tpath("missing.gguf");
    cr_assert_eq(gs_gguf_read(p, &info, &err), -ENOENT);
    cr_assert_not_null(strstr(err, p));
    free(err);
    free(p);
    cr_assert_eq(gs_gguf_read(tmpdir, &info, &err), -EISDIR);
    free(err);
    cr_assert_eq(gs_gguf_read(tmpdir, &info, NULL), -EISDIR);
}

/* A big vocabulary is stepped over quickly, across many 64 KiB read chunks, and a huge file
 * costs only its header. */
Test(gguf, big_vocab_and_huge_file_are_fast)
{
    enum { N = 150000 };
    char **toks = gs_mem_calloc(N, sizeof *toks);
    for (int i = 0; i < N; i++)
        toks[i] = gs_mem_printf("tok%d", i);
    gs_gguf_writer *w = gs_gguf_writer_new();
    gs_gguf_writer_str(w, "general.architecture", "llama");
    gs_gguf_writer_str_array(w, "tokenizer.ggml.tokens", (const char *const *)toks, N);
    gs_gguf_writer_str(w, "general.name", "after vocab");
    gs_gguf_writer_u32(w, "llama.context_length", 8192);
    gs_gguf_writer_tensor_f32(w, "t", (uint64_t[]){16}, 1, NULL);
    for (int i = 0; i < N; i++)
        free(toks[i]);
    free(toks);
    char *p = tpath("vocab.gguf");
    cr_assert_eq(gs_gguf_writer_save(w, p), 0);
    gs_gguf_writer_free(w);

    double t0 = now();
    gs_gguf_info info;
    char *err = NULL;
    cr_assert_eq(gs_gguf_read(p, &info, &err), 0, "%s", err);
    cr_assert_str_eq(info.name, "after vocab");
    cr_assert_eq(info.context_length, 8192);
    gs_gguf_info_free(&info);

    /* 5 GB (sparse): the header says tensors fill it; reading stays header-sized. */
    gs_buf b;
    b_head(&b, 3, 1, 1);
    b_kv_str(&b, "general.architecture", "llama");
    b_str(&b, "t"); b_u32(&b, 2); b_u64(&b, 1ull << 16); b_u64(&b, 5ull << 12);
    b_u32(&b, 1 /* F16 */); b_u64(&b, 0);
    char *q = tpath("huge.gguf");
    spit(q, b.data, b.len);
    cr_assert_eq(truncate(q, 96 + (5ll << 29) + 4096), 0);
    cr_assert_eq(gs_gguf_read(q, &info, &err), 0, "%s", err);
    cr_assert_eq(info.param_count, 5ull << 28);
    cr_assert_eq(info.file_size, 96 + (5ull << 29) + 4096);
    gs_gguf_info_free(&info);
    cr_assert_lt(now() - t0, 5.0);
    gs_buf_free(&b);
    free(q);
    free(p);
}

/* ---- the tiny llama model ---- */

Test(gguf, tiny_llama_reads_back)
{
    char *p = tpath("tiny.gguf");
    cr_assert_eq(gs_gguf_write_tiny_llama(p, "tiny-test", 7, 0, 0, 0), 0);
    gs_gguf_info info;
    char *err = NULL;
    cr_assert_eq(gs_gguf_read(p, &info, &err), 0, "%s", err);
    cr_assert_str_eq(info.architecture, "llama");
    cr_assert_str_eq(info.name, "tiny-test");
    cr_assert_eq(info.n_tensors, 3 + 9 * 2);
    /* vocab 354 x 64 twice, output norm, per layer 2 norms + 4 64x64 + 3 64x128 */
    cr_assert_eq(info.param_count, 2ull * 354 * 64 + 64 + 2 * (2 * 64 + 4 * 64 * 64 +
                                                              3 * 64 * 128));
    cr_assert_eq(info.context_length, 4096);
    cr_assert_eq(info.file_type, 0);
    cr_assert(info.has_chat_template);
    cr_assert_eq(info.pooling_type, -1);
    cr_assert(!info.is_clip);
    gs_gguf_info_free(&info);

    /* deterministic for a seed, different for another */
    size_t n1, n2, n3;
    char *a = slurp(p, &n1);
    char *q = tpath("tiny2.gguf");
    cr_assert_eq(gs_gguf_write_tiny_llama(q, "tiny-test", 7, 0, 0, 0), 0);
    char *b = slurp(q, &n2);
    cr_assert_eq(n1, n2);
    cr_assert_eq(memcmp(a, b, n1), 0);
    free(b);
    cr_assert_eq(gs_gguf_write_tiny_llama(q, "tiny-test", 8, 0, 0, 0), 0);
    b = slurp(q, &n3);
    cr_assert_eq(n1, n3);
    cr_assert_neq(memcmp(a, b, n1), 0);
    free(a);
    free(b);

    /* bigger shapes */
    cr_assert_eq(gs_gguf_write_tiny_llama(q, NULL, 1, 128, 3, 96), 0);
    cr_assert_eq(gs_gguf_read(q, &info, NULL), 0);
    cr_assert_eq(info.n_tensors, 3 + 9 * 3);
    cr_assert_str_eq(info.name, "tiny-llama");
    gs_gguf_info_free(&info);
    cr_assert_eq(gs_gguf_write_tiny_llama(q, NULL, 1, 60, 1, 1), -EINVAL);
    free(q);
    free(p);
}

Test(gguf, save_to_missing_dir_fails_cleanly)
{
    gs_gguf_writer *w = gs_gguf_writer_new();
    char *p = tpath("no/such/dir/x.gguf");
    cr_assert_eq(gs_gguf_writer_save(w, p), -ENOENT);
    gs_gguf_writer_free(w);
    free(p);
}

/* The shape memory estimates read: per-layer arrays, a bool pattern, the tensor table. */
Test(gguf, shape_keys_and_tensor_table)
{
    char *p = tpath("shape.gguf");
    gs_gguf_writer *w = gs_gguf_writer_new();
    gs_gguf_writer_u32(w, "gemma3.block_count", 3); /* before the architecture: kept */
    gs_gguf_writer_str(w, "general.architecture", "gemma3");
    gs_gguf_writer_u32(w, "gemma3.embedding_length", 256);
    gs_gguf_writer_u32(w, "gemma3.attention.head_count", 8);
    gs_gguf_writer_i32_array(w, "gemma3.attention.head_count_kv", (const int32_t[]){4, 0, 2}, 3);
    gs_gguf_writer_u32(w, "gemma3.attention.sliding_window", 512);
    uint8_t pat[12 + 3] = {7, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0};
    gs_gguf_writer_raw(w, "gemma3.attention.sliding_window_pattern", GS_GGUF_ARRAY, pat, sizeof pat);
    gs_gguf_writer_u32(w, "llama.block_count", 99); /* another architecture's key */
    gs_gguf_writer_tensor_f32(w, "token_embd.weight", (uint64_t[]){256, 10}, 2, NULL);
    gs_gguf_writer_tensor_f32(w, "blk.2.attn_q.weight", (uint64_t[]){256, 4}, 2, NULL);
    cr_assert_eq(gs_gguf_writer_save(w, p), 0);
    gs_gguf_writer_free(w);
    gs_gguf_info info;
    char *err = NULL;
    cr_assert_eq(gs_gguf_read_tensors(p, &info, &err), 0, "%s", err ? err : "");
    cr_expect_eq(info.n_layer, 3);
    cr_expect_eq(info.n_embd, 256);
    cr_expect_eq(info.n_head, 8);
    cr_expect_eq(info.n_head_kv, 4);
    cr_assert_not_null(info.layer_head_kv);
    cr_expect_eq(info.layer_head_kv[1], 0);
    cr_expect_eq(info.layer_head_kv[2], 2);
    cr_expect_eq(info.key_length, 32);
    cr_expect_eq(info.n_swa, 512);
    cr_assert_not_null(info.layer_swa);
    cr_expect(info.layer_swa[0] && info.layer_swa[1] && !info.layer_swa[2]);
    cr_expect_eq(info.n_vocab, 10);
    cr_assert_eq(info.ntensors, 2);
    cr_expect_str_eq(info.tensors[1].name, "blk.2.attn_q.weight");
    cr_expect_eq(info.tensors[1].layer, 2);
    cr_expect_eq(info.tensors[1].bytes, 256 * 4 * 4);
    cr_expect_eq(info.tensors[0].layer, -1);
    gs_gguf_info_free(&info);
    /* the plain reader keeps no table */
    cr_assert_eq(gs_gguf_read(p, &info, NULL), 0);
    cr_expect_eq(info.ntensors, 0);
    cr_expect_null(info.tensors);
    cr_expect_eq(info.n_layer, 3);
    gs_gguf_info_free(&info);
    free(p);
}
