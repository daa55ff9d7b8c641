/* ggufw: write small GGUF files: test fixtures with chosen metadata and tiny llama models that a
 * real llama-server loads. Linked only into ggswap-mkgguf and the tests, never into the daemon. */
#ifndef GS_GGUFW_H
#define GS_GGUFW_H
#include "gguf.h"

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
