/* scan: find the GGUF models in the model folders (SPEC §1, §3).
 *
 * Discovery walks each folder recursively for `*.gguf` files (any case), reads only each file's
 * header, and turns what it finds into one record per model: its unique name, size, kind,
 * parameter count, quantisation, context length, paired mmproj projector and OpenAI aliases.
 * Folders are real-world ones, so the walk follows symlinks but visits every directory and
 * file once (by device and inode, which also stops symlink loops), and a file or folder that
 * cannot be read, or a file that is not a valid GGUF, is reported and skipped rather than
 * failing the scan. Results are sorted and do not depend on readdir order. */
#ifndef GS_SCAN_H
#define GS_SCAN_H
#include <stdbool.h>
#include <stdint.h>

#include "gguf.h"
#include "names.h"

typedef struct gs_scan_model {
    char *path;           /* as found under the scanned folder (symlinks kept, not resolved) */
    char *name;           /* unique model name (names.h) */
    char *quant;          /* "Q4_K_M": from the file name, else the header's file type; or NULL */
    uint64_t file_size;   /* bytes; for a split model, all parts found */
    int split_total;      /* 1, or the number of parts of a split model */
    gs_gguf_info info;    /* the header of the (first) file */
    gs_kind kind;
    uint64_t params;      /* size_label, else tensor element sum, else the file name; 0 unknown */
    char *params_label;   /* "1B", "8x7B", "360M"; "" when unknown */
    uint64_t ctx;         /* context length from the header; 0 when absent */
    const char *pooling;  /* embedding models: the pooling to pass ("mean" when the header has
                           * none); NULL for other kinds. Static string. */
    char *mmproj;         /* paired projector's path, or NULL */
    char **aliases;       /* OpenAI aliases (gs_scan_assign_aliases) */
    int naliases;
} gs_scan_model;

typedef struct gs_scan_result {
    gs_scan_model *models; /* sorted by name */
    int nmodels;
    char **dirs;           /* the folders scanned (after ~ expansion), in the order given */
    int ndirs;
    char **problems;       /* one complete sentence per file or folder that was skipped */
    int nproblems;
    int nfiles;            /* .gguf files seen, mmproj files and split parts included */
    int nmmproj;           /* projector files found */
} gs_scan_result;

/* Scan the folders. A folder that does not exist is skipped quietly (the caller reports "no
 * models found in ..." with r->dirs). Returns 0; *r must be freed with gs_scan_result_free.
 * Aliases are assigned over all models found (see gs_scan_assign_aliases). */
int gs_scan_dirs(const char *const *dirs, int ndirs, gs_scan_result *r);
/* (Re)assign the OpenAI aliases (names.h rules) to the models whose skip flag is false (skip
 * may be NULL); models with skip set get none. An alias in `reserved` is never given. */
void gs_scan_assign_aliases(gs_scan_result *r, const bool *skip, const char *const *reserved,
                            int nreserved);
void gs_scan_result_free(gs_scan_result *r);

/* Default model folders: ~/.clara/llama-models and models/ beside the ggswap binary.
 * Returns a NULL-terminated array (free with gs_strv_free); *n its length. */
char **gs_scan_default_dirs(int *n);
/* The folder holding the running binary (/proc/self/exe), or NULL. New string. */
char *gs_scan_exe_dir(void);
/* "~" and "~/x" → $HOME/x; anything else copied. New string. */
char *gs_scan_expand_home(const char *path);

#endif
