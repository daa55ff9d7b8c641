/* gguf: read the header of a GGUF model file, and write small GGUF files.
 *
 * Discovery needs a handful of facts from each model (architecture, name, size label, parameter
 * count, context length, pooling type, file type) and must never read the weights, trust a
 * length field, or crash on a hostile file. The reader parses the header (magic, version 2 or 3,
 * metadata of every type including nested arrays, tensor infos) through a bounded cursor over
 * buffered reads: every count and length is checked against the file size and hard limits before
 * anything is allocated. The writer makes test fixtures with chosen metadata and tiny llama
 * models that a real llama-server can load. */
#ifndef GS_GGUF_H
#define GS_GGUF_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct gs_gguf_info {
    uint32_t version;
    char *architecture;     /* general.architecture, or NULL */
    char *name;             /* general.name, or NULL */
    char *size_label;       /* general.size_label ("1B", "8x7B", "360M"), or NULL */
    uint64_t param_count;   /* sum of tensor element counts (0 when no tensors) */
    uint64_t context_length;/* <arch>.context_length, 0 when absent */
    int pooling_type;       /* <arch>.pooling_type; -1 when absent (0 none, 1 mean, 2 cls, 3 last, 4 rank) */
    int file_type;          /* general.file_type; -1 when absent */
    bool is_clip;           /* architecture "clip": an mmproj projector, not a model */
    bool has_chat_template; /* tokenizer.chat_template present */
    uint64_t n_tensors;
    uint64_t n_kv;
    uint64_t file_size;
} gs_gguf_info;

/* Read the header of `path`. Returns 0, or a negative errno (-ENOENT, -EACCES, -EINVAL for a
 * malformed file, -E2BIG for a count or length over the limits) with a message naming the
 * offset and the field in err (caller frees) when err is not NULL. */
int gs_gguf_read(const char *path, gs_gguf_info *info, char **err);
/* Same over bytes in memory (fuzzing, tests). */
int gs_gguf_read_mem(const void *data, size_t len, gs_gguf_info *info, char **err);
void gs_gguf_info_free(gs_gguf_info *info);
/* Name of a file_type value ("Q4_K_M", "F16", ...) or NULL. */
const char *gs_gguf_file_type_name(int file_type);
/* Name of a pooling type ("none", "mean", "cls", "last", "rank") or NULL. */
const char *gs_gguf_pooling_name(int pooling_type);

/* ---- writer ---- */
typedef struct gs_gguf_writer gs_gguf_writer;

gs_gguf_writer *gs_gguf_writer_new(void);
void gs_gguf_writer_free(gs_gguf_writer *w);
void gs_gguf_writer_str(gs_gguf_writer *w, const char *key, const char *value);
void gs_gguf_writer_u32(gs_gguf_writer *w, const char *key, uint32_t value);
void gs_gguf_writer_i32(gs_gguf_writer *w, const char *key, int32_t value);
void gs_gguf_writer_u64(gs_gguf_writer *w, const char *key, uint64_t value);
void gs_gguf_writer_f32(gs_gguf_writer *w, const char *key, float value);
void gs_gguf_writer_bool(gs_gguf_writer *w, const char *key, bool value);
void gs_gguf_writer_str_array(gs_gguf_writer *w, const char *key, const char *const *v, size_t n);
void gs_gguf_writer_f32_array(gs_gguf_writer *w, const char *key, const float *v, size_t n);
void gs_gguf_writer_i32_array(gs_gguf_writer *w, const char *key, const int32_t *v, size_t n);
/* An F32 tensor with up to 4 dimensions; data is copied (NULL writes zeros). */
void gs_gguf_writer_tensor_f32(gs_gguf_writer *w, const char *name, const uint64_t *dims,
                               int ndims, const float *data);
/* GGUF value types, for gs_gguf_writer_raw. */
enum {
    GS_GGUF_UINT8 = 0, GS_GGUF_INT8, GS_GGUF_UINT16, GS_GGUF_INT16, GS_GGUF_UINT32,
    GS_GGUF_INT32, GS_GGUF_FLOAT32, GS_GGUF_BOOL, GS_GGUF_STRING, GS_GGUF_ARRAY,
    GS_GGUF_UINT64, GS_GGUF_INT64, GS_GGUF_FLOAT64,
};
/* A kv whose value is given as its encoded little-endian bytes (any type, nested arrays,
 * deliberately broken values for tests). */
void gs_gguf_writer_raw(gs_gguf_writer *w, const char *key, uint32_t type, const void *value,
                        size_t len);
/* The version number written in the header (default 3; v2 has the same layout). */
void gs_gguf_writer_set_version(gs_gguf_writer *w, uint32_t version);
/* Write the file (atomically: temp file then rename). Returns 0 or a negative errno. */
int gs_gguf_writer_save(gs_gguf_writer *w, const char *path);

/* A tiny llama-architecture model that llama-server loads and runs (like the reference
 * tools/make_tiny_gguf.py): deterministic for a seed, printable-ASCII output, never EOS.
 * embd/layers/ff of 0 mean the small defaults (64, 2, 128). `name` goes to general.name. */
int gs_gguf_write_tiny_llama(const char *path, const char *name, uint32_t seed, int embd,
                             int layers, int ff);

#endif
