/* ggswap-mkgguf: write GGUF fixtures for tests (tiny loadable llama models, header-only files
 * with chosen metadata) and show what ggswap's reader sees in a file. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ggufw.h"
#include "mem.h"

static const char usage_text[] =
    "usage:\n"
    "  ggswap-mkgguf tiny OUT [--name N] [--seed S] [--embd E] [--layers L] [--ff F]\n"
    "      a tiny llama model that llama-server loads (printable output, never EOS)\n"
    "  ggswap-mkgguf meta OUT [--arch A] [--name N] [--size-label L] [--ctx N]\n"
    "      [--pooling N|none|mean|cls|last|rank] [--file-type N] [--chat-template]\n"
    "      [--tensors COUNT:ELEMS] [--gguf-version 2|3]\n"
    "      [--kv KEY=TYPE:VALUE]...   TYPE: str u8 i8 u16 i16 u32 i32 u64 i64 f32 f64 bool\n"
    "      a valid GGUF with the chosen metadata and zero-filled 1-D tensors\n"
    "  ggswap-mkgguf info FILE\n"
    "      print the header facts as JSON\n";

static int usage(const char *msg)
{
    if (msg)
        fprintf(stderr, "ggswap-mkgguf: %s\n", msg);
    fputs(usage_text, stderr);
    return 2;
}

static int parse_u64(const char *s, uint64_t *v)
{
    char *end;
    if (!s || !*s || *s == '-')
        return -EINVAL;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 0);
    if (errno || *end)
        return -EINVAL;
    *v = x;
    return 0;
}

static int parse_i64(const char *s, int64_t *v)
{
    char *end;
    if (!s || !*s)
        return -EINVAL;
    errno = 0;
    long long x = strtoll(s, &end, 0);
    if (errno || *end)
        return -EINVAL;
    *v = x;
    return 0;
}

static int parse_int(const char *s, int lo, int hi, int *v)
{
    int64_t x;
    if (parse_i64(s, &x) || x < lo || x > hi)
        return -EINVAL;
    *v = (int)x;
    return 0;
}

/* --kv KEY=TYPE:VALUE */
static int add_kv(gs_gguf_writer *w, const char *spec)
{
    const char *eq = strchr(spec, '=');
    const char *colon = eq ? strchr(eq + 1, ':') : NULL;
    if (!eq || eq == spec || !colon)
        return -EINVAL;
    char *key = gs_mem_strndup(spec, (size_t)(eq - spec));
    char *type = gs_mem_strndup(eq + 1, (size_t)(colon - eq - 1));
    const char *val = colon + 1;
    int rc = 0;
    uint64_t u = 0;
    int64_t i = 0;
    uint8_t b[8];
    static const struct { const char *n; uint32_t t; int size; int sign; } ints[] = {
        {"u8", GS_GGUF_UINT8, 1, 0}, {"i8", GS_GGUF_INT8, 1, 1}, {"u16", GS_GGUF_UINT16, 2, 0},
        {"i16", GS_GGUF_INT16, 2, 1}, {"i64", GS_GGUF_INT64, 8, 1},
    };
    if (!strcmp(type, "str")) {
        gs_gguf_writer_str(w, key, val);
    } else if (!strcmp(type, "u32")) {
        if (!(rc = parse_u64(val, &u)) && u > UINT32_MAX)
            rc = -EINVAL;
        if (!rc)
            gs_gguf_writer_u32(w, key, (uint32_t)u);
    } else if (!strcmp(type, "i32")) {
        if (!(rc = parse_i64(val, &i)) && (i < INT32_MIN || i > INT32_MAX))
            rc = -EINVAL;
        if (!rc)
            gs_gguf_writer_i32(w, key, (int32_t)i);
    } else if (!strcmp(type, "u64")) {
        if (!(rc = parse_u64(val, &u)))
            gs_gguf_writer_u64(w, key, u);
    } else if (!strcmp(type, "f32") || !strcmp(type, "f64")) {
        char *end;
        double d = strtod(val, &end);
        if (!*val || *end) {
            rc = -EINVAL;
        } else if (type[1] == '3') {
            gs_gguf_writer_f32(w, key, (float)d);
        } else {
            memcpy(&u, &d, 8);
            for (int k = 0; k < 8; k++)
                b[k] = (uint8_t)(u >> (8 * k));
            gs_gguf_writer_raw(w, key, GS_GGUF_FLOAT64, b, 8);
        }
    } else if (!strcmp(type, "bool")) {
        if (!strcmp(val, "true") || !strcmp(val, "1"))
            gs_gguf_writer_bool(w, key, true);
        else if (!strcmp(val, "false") || !strcmp(val, "0"))
            gs_gguf_writer_bool(w, key, false);
        else
            rc = -EINVAL;
    } else {
        rc = -EINVAL;
        for (size_t k = 0; k < GS_ARRAY_LEN(ints); k++) {
            if (strcmp(type, ints[k].n))
                continue;
            if (ints[k].sign) {
                int64_t lim = ints[k].size == 8 ? INT64_MAX : (INT64_C(1) << (8 * ints[k].size - 1)) - 1;
                rc = parse_i64(val, &i);
                if (!rc && (i > lim || i < -lim - 1))
                    rc = -EINVAL;
                u = (uint64_t)i;
            } else {
                rc = parse_u64(val, &u);
                if (!rc && u >> (8 * ints[k].size))
                    rc = -EINVAL;
            }
            if (!rc) {
                for (int j = 0; j < ints[k].size; j++)
                    b[j] = (uint8_t)(u >> (8 * j));
                gs_gguf_writer_raw(w, key, ints[k].t, b, (size_t)ints[k].size);
            }
        }
    }
    free(key);
    free(type);
    return rc;
}

static int cmd_tiny(int argc, char **argv)
{
    const char *out = NULL, *name = NULL;
    uint64_t seed = 42;
    int embd = 0, layers = 0, ff = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (a[0] != '-' || a[1] == 0) {
            if (out)
                return usage("tiny takes one output file");
            out = a;
            continue;
        }
        if (!v)
            return usage("an option is missing its value");
        i++;
        if (!strcmp(a, "--name"))
            name = v;
        else if (!strcmp(a, "--seed")) {
            if (parse_u64(v, &seed) || seed > UINT32_MAX)
                return usage("--seed takes an integer 0..4294967295");
        } else if (!strcmp(a, "--embd")) {
            if (parse_int(v, 8, 65536, &embd) || embd % 8)
                return usage("--embd takes a multiple of 8 from 8 to 65536");
        } else if (!strcmp(a, "--layers")) {
            if (parse_int(v, 1, 1024, &layers))
                return usage("--layers takes 1..1024");
        } else if (!strcmp(a, "--ff")) {
            if (parse_int(v, 1, 1 << 20, &ff))
                return usage("--ff takes 1..1048576");
        } else {
            return usage("unknown option for tiny");
        }
    }
    if (!out)
        return usage("tiny needs an output file");
    int rc = gs_gguf_write_tiny_llama(out, name, (uint32_t)seed, embd, layers, ff);
    if (rc) {
        fprintf(stderr, "ggswap-mkgguf: cannot write %s: %s\n", out, strerror(-rc));
        return 1;
    }
    return 0;
}

static int cmd_meta(int argc, char **argv)
{
    const char *out = NULL, *arch = "llama", *name = NULL, *size_label = NULL;
    uint64_t ctx = 0, n_tensors = 0, n_elems = 0;
    int pooling = -1, file_type = -1, version = 3;
    bool chat_template = false, have_ctx = false;
    gs_gguf_writer *w = gs_gguf_writer_new();
    int rc = 2;
    /* --kv entries are written after the named ones, in order, so they can override. */
    const char **kvs = gs_mem_calloc((size_t)argc, sizeof *kvs);
    int n_kvs = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || a[1] == 0) {
            if (out) {
                usage("meta takes one output file");
                goto out;
            }
            out = a;
            continue;
        }
        if (!strcmp(a, "--chat-template")) {
            chat_template = true;
            continue;
        }
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            usage("an option is missing its value");
            goto out;
        }
        i++;
        const char *bad = NULL;
        if (!strcmp(a, "--arch"))
            arch = v;
        else if (!strcmp(a, "--name"))
            name = v;
        else if (!strcmp(a, "--size-label"))
            size_label = v;
        else if (!strcmp(a, "--ctx")) {
            have_ctx = true;
            if (parse_u64(v, &ctx) || ctx > UINT32_MAX)
                bad = "--ctx takes an integer 0..4294967295";
        } else if (!strcmp(a, "--pooling")) {
            pooling = -1;
            for (int p = 0; p <= 4; p++)
                if (!strcmp(v, gs_gguf_pooling_name(p)))
                    pooling = p;
            if (pooling < 0 && parse_int(v, 0, INT32_MAX, &pooling))
                bad = "--pooling takes a number or none, mean, cls, last, rank";
        } else if (!strcmp(a, "--file-type")) {
            if (parse_int(v, 0, INT32_MAX, &file_type))
                bad = "--file-type takes a number (15 is Q4_K_M)";
        } else if (!strcmp(a, "--gguf-version")) {
            if (parse_int(v, 2, 3, &version))
                bad = "--gguf-version takes 2 or 3";
        } else if (!strcmp(a, "--tensors")) {
            const char *colon = strchr(v, ':');
            char *cnt = colon ? gs_mem_strndup(v, (size_t)(colon - v)) : NULL;
            if (!colon || parse_u64(cnt, &n_tensors) || parse_u64(colon + 1, &n_elems) ||
                n_tensors > 100000 || n_elems > (1u << 28))
                bad = "--tensors takes COUNT:ELEMS (at most 100000 tensors of 2^28 elements)";
            free(cnt);
        } else if (!strcmp(a, "--kv")) {
            kvs[n_kvs++] = v;
        } else {
            bad = "unknown option for meta";
        }
        if (bad) {
            usage(bad);
            goto out;
        }
    }
    if (!out) {
        usage("meta needs an output file");
        goto out;
    }
    gs_gguf_writer_set_version(w, (uint32_t)version);
    gs_gguf_writer_str(w, "general.architecture", arch);
    if (name)
        gs_gguf_writer_str(w, "general.name", name);
    if (size_label)
        gs_gguf_writer_str(w, "general.size_label", size_label);
    if (file_type >= 0)
        gs_gguf_writer_u32(w, "general.file_type", (uint32_t)file_type);
    char key[512];
    if (have_ctx) {
        snprintf(key, sizeof key, "%s.context_length", arch);
        gs_gguf_writer_u32(w, key, (uint32_t)ctx);
    }
    if (pooling >= 0) {
        snprintf(key, sizeof key, "%s.pooling_type", arch);
        gs_gguf_writer_u32(w, key, (uint32_t)pooling);
    }
    if (chat_template)
        gs_gguf_writer_str(w, "tokenizer.chat_template",
                           "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n"
                           "{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}");
    for (int k = 0; k < n_kvs; k++) {
        if (add_kv(w, kvs[k])) {
            fprintf(stderr, "ggswap-mkgguf: bad --kv %s\n", kvs[k]);
            usage(NULL);
            goto out;
        }
    }
    for (uint64_t t = 0; t < n_tensors; t++) {
        char tn[64];
        snprintf(tn, sizeof tn, "blk.%" PRIu64 ".weight", t);
        gs_gguf_writer_tensor_f32(w, tn, (uint64_t[]){n_elems}, 1, NULL);
    }
    int e = gs_gguf_writer_save(w, out);
    if (e) {
        fprintf(stderr, "ggswap-mkgguf: cannot write %s: %s\n", out, strerror(-e));
        rc = 1;
        goto out;
    }
    rc = 0;
out:
    free(kvs);
    gs_gguf_writer_free(w);
    return rc;
}

static json_t *str_or_null(const char *s)
{
    json_t *j = s ? json_string(s) : NULL;
    return j ? j : json_null();
}

static int cmd_info(int argc, char **argv)
{
    if (argc != 3)
        return usage("info takes one file");
    gs_gguf_info info;
    char *err = NULL;
    int rc = gs_gguf_read(argv[2], &info, &err);
    if (rc) {
        fprintf(stderr, "ggswap-mkgguf: %s\n", err ? err : strerror(-rc));
        free(err);
        return 1;
    }
    json_t *o = json_object();
    json_object_set_new(o, "path", str_or_null(argv[2]));
    json_object_set_new(o, "version", json_integer(info.version));
    json_object_set_new(o, "architecture", str_or_null(info.architecture));
    json_object_set_new(o, "name", str_or_null(info.name));
    json_object_set_new(o, "size_label", str_or_null(info.size_label));
    json_object_set_new(o, "param_count", json_integer((json_int_t)info.param_count));
    json_object_set_new(o, "context_length", json_integer((json_int_t)info.context_length));
    json_object_set_new(o, "pooling_type", json_integer(info.pooling_type));
    json_object_set_new(o, "pooling", str_or_null(gs_gguf_pooling_name(info.pooling_type)));
    json_object_set_new(o, "file_type", json_integer(info.file_type));
    json_object_set_new(o, "file_type_name",
                        str_or_null(gs_gguf_file_type_name(info.file_type)));
    json_object_set_new(o, "is_clip", json_boolean(info.is_clip));
    json_object_set_new(o, "has_chat_template", json_boolean(info.has_chat_template));
    json_object_set_new(o, "n_tensors", json_integer((json_int_t)info.n_tensors));
    json_object_set_new(o, "n_kv", json_integer((json_int_t)info.n_kv));
    json_object_set_new(o, "file_size", json_integer((json_int_t)info.file_size));
    char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (s)
        puts(s);
    free(s);
    json_decref(o);
    gs_gguf_info_free(&info);
    return s ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage(NULL);
    if (!strcmp(argv[1], "tiny"))
        return cmd_tiny(argc, argv);
    if (!strcmp(argv[1], "meta"))
        return cmd_meta(argc, argv);
    if (!strcmp(argv[1], "info"))
        return cmd_info(argc, argv);
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        fputs(usage_text, stdout);
        return 0;
    }
    return usage("unknown command");
}
