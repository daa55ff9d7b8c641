/* gguf: read the header of a GGUF model file.
 *
 * Discovery needs a handful of facts from each model (architecture, name, size label, parameter
 * count, context length, pooling type, file type) and must never read the weights, trust a
 * length field, or crash on a hostile file. The reader parses the header (magic, version 2 or 3,
 * metadata of every type including nested arrays, tensor infos) through a bounded cursor over
 * buffered reads: every count and length is checked against the file size and hard limits before
 * anything is allocated. The writer lives in tools/ggufw.c (tests and
 * ggswap-mkgguf only). */
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

    /* Shape, for memory estimates (src/memest.c): the <arch>.* keys; 0 when absent. A per-layer
     * array (head_count_kv, head_count, feed_forward_length) gives its largest value here and
     * every value in the layer_* array (n_layer entries, NULL when the key was a scalar). */
    uint32_t n_layer;       /* block_count */
    uint32_t n_embd;        /* embedding_length */
    uint32_t n_ff;          /* feed_forward_length */
    uint32_t n_head;        /* attention.head_count */
    uint32_t n_head_kv;     /* attention.head_count_kv (n_head when absent) */
    uint32_t key_length;    /* attention.key_length (n_embd / n_head when absent) */
    uint32_t value_length;  /* attention.value_length (same) */
    uint32_t n_swa;         /* attention.sliding_window: tokens a sliding-window layer sees */
    uint32_t swa_period;    /* attention.sliding_window_pattern as a number: every period-th
                             * layer is full attention, the rest slide */
    uint32_t kv_lora_rank;  /* attention.kv_lora_rank (MLA: DeepSeek-style compressed cache) */
    uint32_t rope_dim;      /* rope.dimension_count */
    uint32_t n_expert;      /* expert_count */
    uint32_t n_vocab;       /* rows of token_embd.weight */
    uint32_t *layer_head_kv;
    uint8_t *layer_swa;     /* attention.sliding_window_pattern as a per-layer bool array */
    /* Tensor table, filled only by gs_gguf_read_tensors: name, bytes of data, and the layer
     * ("blk.N.") or -1. */
    struct gs_gguf_tensor {
        char name[80];
        uint64_t bytes;
        int layer;
    } *tensors;
    size_t ntensors;
} gs_gguf_info;

/* Read the header of `path`. Returns 0, or a negative errno (-ENOENT, -EACCES, -EINVAL for a
 * malformed file, -E2BIG for a count or length over the limits) with a message naming the
 * offset and the field in err (caller frees) when err is not NULL. */
int gs_gguf_read(const char *path, gs_gguf_info *info, char **err);
/* Same, also keeping the tensor table (memory estimates need where each tensor goes). */
int gs_gguf_read_tensors(const char *path, gs_gguf_info *info, char **err);
/* Same over bytes in memory (fuzzing, tests). */
int gs_gguf_read_mem(const void *data, size_t len, gs_gguf_info *info, char **err);
int gs_gguf_read_mem_tensors(const void *data, size_t len, gs_gguf_info *info, char **err);
void gs_gguf_info_free(gs_gguf_info *info);
/* Name of a file_type value ("Q4_K_M", "F16", ...) or NULL. */
const char *gs_gguf_file_type_name(int file_type);
/* Name of a pooling type ("none", "mean", "cls", "last", "rank") or NULL. */
const char *gs_gguf_pooling_name(int pooling_type);

/* GGUF value types (the writer in tools/ggufw.h takes them too). */
enum {
    GS_GGUF_UINT8 = 0, GS_GGUF_INT8, GS_GGUF_UINT16, GS_GGUF_INT16, GS_GGUF_UINT32,
    GS_GGUF_INT32, GS_GGUF_FLOAT32, GS_GGUF_BOOL, GS_GGUF_STRING, GS_GGUF_ARRAY,
    GS_GGUF_UINT64, GS_GGUF_INT64, GS_GGUF_FLOAT64,
};

#endif
