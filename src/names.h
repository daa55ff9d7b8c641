/* names: model names, sizes, kinds and OpenAI aliases for discovered GGUF files (SPEC §3).
 *
 * Discovery turns file names into the short ids users type (`llama3.2:1b-instruct`), and
 * decides which local model answers to the OpenAI names clients send (`gpt-4`,
 * `gpt-3.5-turbo`, ...). Everything here is pure string and number work on values the caller
 * already has (file names, header facts), so the rules can be tested as tables and give the same
 * answer on every run and every machine: no I/O, no locale, ties broken by name. */
#ifndef GS_NAMES_H
#define GS_NAMES_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The model name for a file name (a path is accepted; only its last component is used).
 * Drops `.gguf`, a split suffix (`-00001-of-00003`), the trailing quantisation tag and a
 * trailing `-vN[.N]` release tag, lowercases, then builds `head:size-rest` when the first
 * number is a size (`7b`, `360m`) or `head+version:rest` when it is a version, with no `:`
 * when nothing follows. Separators become `-`; dots between digits are kept. Never NULL or "". */
char *gs_names_from_file(const char *filename);

/* The quantisation tag at the end of a file name as written there ("Q4_K_M", "q8_0",
 * "UD-Q4_K_XL", "mxfp4"), or NULL when it has none. New string. */
char *gs_names_quant_from_file(const char *filename);

/* Split-file suffix (`-00002-of-00005`): returns true and sets part/total (1-based) when the
 * name has one. Only part 1 of a split model is a model. */
bool gs_names_split_part(const char *filename, int *part, int *total);

/* Parameter count from a size written in a file name ("Mistral-7B-..." → 7e9, "8x7B" → 56e9,
 * "SmolLM2-360M" → 3.6e8, "1.5b" → 1.5e9). The first size token that stands on its own wins
 * ("30B-A3B" → 30e9). 0 when there is none. */
uint64_t gs_names_params_from_name(const char *filename);
/* Parameter count from a `general.size_label` ("1B", "8x7B", "360M", "1.2T", "30B-A3B",
 * "4x1.5B", "22K"). 0 when the label cannot be read. */
uint64_t gs_names_params_from_label(const char *label);
/* A short label for a count: 7e9 → "7B", 1.1e9 → "1.1B", 3.6e8 → "360M", 0 → "" . New string. */
char *gs_names_params_label(uint64_t params);

typedef enum gs_kind {
    GS_KIND_CHAT = 0,
    GS_KIND_VISION,     /* a chat model paired with an mmproj projector */
    GS_KIND_EMBEDDING,
    GS_KIND_RERANKER,
} gs_kind;

/* "chat", "vision", "embedding", "reranker". */
const char *gs_kind_name(gs_kind k);

/* The kind from header facts and the file name: a reranker has rank pooling (4) or "rerank"
 * in its name; an embedding model has a pooling type other than none (>0), an embedding
 * architecture (bert, nomic-bert, jina-bert-v2, t5encoder, ...) or "embed" in its name;
 * otherwise a chat model, or vision when it has an mmproj. arch may be NULL; pooling -1 means
 * absent. */
gs_kind gs_names_kind(const char *arch, int pooling, const char *filename, bool has_mmproj);
/* True for an architecture that only makes embeddings. */
bool gs_names_embedding_arch(const char *arch);
/* True when a name says the model is instruct/chat tuned (a word "instruct", "chat", "it",
 * "inst", "assistant", "sft", "dpo", "rlhf", "hermes", "zephyr", "coder-instruct"...). */
bool gs_names_says_instruct(const char *name);

/* ---- collisions ---- */

typedef struct gs_names_entry {
    const char *path;   /* sort key for "-2", "-3" */
    const char *base;   /* gs_names_from_file() result */
    const char *quant;  /* quantisation (any case) or NULL */
    char *name;         /* out: the final, unique name (caller frees) */
} gs_names_entry;

/* Give every entry a unique name: entries whose base names are equal all get `-<quant>`
 * (lowercase) appended; names that are still equal (same quant, no quant, or equal to another
 * file's name) get `-2`, `-3`, ... in path order. `reserved` names (may be NULL) are never
 * given out. Deterministic for any input order. */
void gs_names_resolve(gs_names_entry *e, size_t n, const char *const *reserved, size_t nreserved);

/* ---- OpenAI aliases ---- */

enum {
    GS_ALIAS_GPT4 = 0,          /* the largest model of 4B parameters or more */
    GS_ALIAS_GPT35_TURBO,       /* the smallest chat model under 4B */
    GS_ALIAS_DAVINCI,           /* the largest instruct/chat model */
    GS_ALIAS_EMBEDDING_ADA,     /* the first embedding model by name */
    GS_ALIAS_COUNT
};
extern const char *const gs_names_openai_aliases[GS_ALIAS_COUNT];

typedef struct gs_alias_cand {
    const char *name;
    gs_kind kind;
    uint64_t params;   /* 0 when unknown */
    bool instruct;     /* instruct/chat tuned (name or chat template) */
} gs_alias_cand;

/* For each OpenAI alias, the index of the model it names, or -1. Only chat and vision models
 * are candidates for gpt-4, gpt-3.5-turbo and text-davinci-003 (an embedding model cannot
 * answer a chat request); models of unknown size never get a size-based alias. Ties go to the
 * first name in byte order. An alias in `reserved` (a model name or a user alias) is never
 * chosen (-1). */
void gs_names_choose_aliases(const gs_alias_cand *c, size_t n, const char *const *reserved,
                             size_t nreserved, int out[GS_ALIAS_COUNT]);

/* The one rule for names a config may hold (model ids, aliases, group, peer, selector and
 * profile ids), shared by the config loader and settings.yaml: non-empty, no control characters,
 * no quotes or backslashes (names end up in HTTP headers, Prometheus labels, logs and JSON).
 * Returns NULL when s[0..n) is usable, else why not (a sentence fragment). */
const char *gs_names_invalid(const char *s, size_t n);

#endif
