/* hub: what `ggswap pull` asks of the Hugging Face Hub, as pure decisions (SPEC §1 `pull`).
 *
 * A pull reference (`org/repo`, `org/repo:Q8_0`, `org/repo/dir/file.gguf`, `hf.co/org/repo`, an
 * https URL) becomes a gs_hub_ref; the Hub's file-tree JSON (`/api/models/<repo>/tree/<rev>`)
 * becomes a list of files with their LFS sha256; and the choice of files to fetch (the quant
 * asked for, Q4_K_M by default, every part of a split model, the repo's mmproj for a vision
 * model) is made here, from those values only, so it can be tested as tables and fuzzed. Hub
 * answers that are not 2xx become a sentence a person understands (not found, gated without a
 * token, rate limited). No I/O here: the transfers are in fetch.c and download.c. */
#ifndef GS_HUB_H
#define GS_HUB_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GS_HUB_DEFAULT_ENDPOINT "https://huggingface.co"
#define GS_HUB_MAX_FILES 20000   /* entries of one tree listing that are kept */
#define GS_HUB_MAX_PICK 64       /* files one pull may fetch (parts of a split model + mmproj) */

typedef enum gs_hub_ref_kind {
    GS_HUB_REF_REPO = 0, /* org/repo[:QUANT]: the file is chosen from the tree */
    GS_HUB_REF_FILE,     /* org/repo/path/file.gguf */
    GS_HUB_REF_URL,      /* any other https URL of a .gguf */
} gs_hub_ref_kind;

typedef struct gs_hub_ref {
    gs_hub_ref_kind kind;
    char repo[200];      /* "org/repo" (REPO, FILE) */
    char rev[100];       /* "main" unless the reference said otherwise */
    char quant[64];      /* REPO: asked-for quant ("" = the default) */
    char path[1024];     /* FILE: path inside the repo */
    char url[2048];      /* URL: the URL as given */
} gs_hub_ref;

/* Parse a pull reference. `quant` (from --quant, may be NULL) overrides a ":QUANT" suffix.
 * `endpoint` (may be NULL) lets https URLs of that Hub (".../org/repo/resolve/rev/path" or
 * "/blob/") become FILE references, so they are verified like the others. Returns 0, or
 * -EINVAL with a sentence in err. */
int gs_hub_parse_ref(const char *ref, const char *quant, const char *endpoint, gs_hub_ref *out,
                     char *err, size_t errlen);

typedef struct gs_hub_file {
    char *path;          /* inside the repo, checked: relative, no "..", no control chars */
    int64_t size;        /* bytes, -1 when the listing did not say */
    char sha256[65];     /* lowercase hex of lfs.oid; "" for files not in LFS */
} gs_hub_file;

/* Parse one page of a tree listing (a JSON array of {"type","path","size","lfs":{"oid"}}).
 * Directories and entries that are not safe paths are skipped. Appends to *files / *n (both
 * may start empty). Returns 0, or -EINVAL (not a JSON array) / -E2BIG (too many entries). */
int gs_hub_tree_parse(const char *json, size_t len, gs_hub_file **files, int *n);
void gs_hub_files_free(gs_hub_file *files, int n);

/* True for the safe, relative paths the tree may name. */
bool gs_hub_path_ok(const char *path);
/* The local file name a repo path is saved as: its last component, when it is a safe name
 * ending in .gguf (any case) and not a hidden file; else NULL. Points into path. */
const char *gs_hub_local_name(const char *path);
/* True for an mmproj file (a vision projector): "mmproj" in its name, any case. */
bool gs_hub_is_mmproj(const char *path);

/* Which files to fetch. For REPO: the model files of the asked quant (case-insensitive) or,
 * with none asked, Q4_K_M, else the only quant there is; all parts of a split model (part 1's
 * siblings "-0000k-of-0000N"); plus one mmproj of the repo when it has any (F16 preferred,
 * then BF16, Q8_0, F32, then by name). For FILE: that file, its split siblings, and the mmproj
 * likewise unless the file is itself an mmproj. Fills pick[] with indices into files.
 * Returns the count, or -ENOENT with a sentence in err that says what exists (the quants of
 * the repo, or that it has no .gguf files at all). */
int gs_hub_select(const gs_hub_file *files, int n, const gs_hub_ref *ref, int *pick, int maxpick,
                  char *err, size_t errlen);
/* The distinct quants of a repo's model files, comma separated, in name order ("Q4_K_M, Q8_0"). */
void gs_hub_quants(const gs_hub_file *files, int n, char *out, size_t outlen);

/* A Hub answer that was not 2xx, as a sentence: 404 and X-Error-Code RepoNotFound/EntryNotFound
 * name the repo or file; 401/403 on a gated or private repo say to set $HF_TOKEN or `hfToken`
 * in settings.yaml (or that the token has no access: accept the licence on the repo's page);
 * 429 says the Hub is rate limiting; 5xx that the Hub is having trouble. `what` names the
 * repo or file; error_code and hub_msg (its JSON "error") may be NULL. */
void gs_hub_http_error(int status, const char *error_code, const char *hub_msg, const char *what,
                       bool had_token, char *out, size_t outlen);

/* A Hub search answer (`/api/models?search=`) reduced to what the page shows: a JSON array of
 * {"id","downloads","likes"} (new string), or NULL when it is not a JSON array. */
char *gs_hub_search_reduce(const char *json, size_t len, int max);

#endif
