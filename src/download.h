/* download: pulls of models from the Hub into a model folder (SPEC §1 `pull`, §4 downloads).
 *
 * One gs_dl_mgr per process (the CLI's `ggswap pull` and the daemon's /api/models/pull both
 * use it). A job is one pull reference: it asks the Hub for the repo's file tree, chooses the
 * files (hub.c), checks free disk space, and fetches each file into `<file>.part` in the model
 * folder. A file is only ever renamed to its real name after its sha256 matched the Hub's LFS
 * hash, so nothing that looks like a model appears before it is complete and right: a folder
 * watcher may pick up every `.gguf` it sees. Transfers resume with Range from what `.part`
 * holds (after a cut, a stall, or a restart of ggswap), retry with backoff, and a `.part` is
 * locked (flock) while one process writes it, so two pulls of one file share one download:
 * in one process they share the transfer, across processes the second waits for the first.
 * Errors are sentences that say what to do (hub.c's wording for the Hub's answers). */
#ifndef GS_DOWNLOAD_H
#define GS_DOWNLOAD_H
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct json_t;

typedef enum gs_dl_state {
    GS_DL_QUEUED = 0,   /* asking the Hub what to fetch, or waiting for another ggswap */
    GS_DL_DOWNLOADING,
    GS_DL_VERIFYING,    /* sha256 of the complete file */
    GS_DL_DONE,
    GS_DL_FAILED,
    GS_DL_CANCELLED,
} gs_dl_state;

/* "queued", "downloading", "verifying", "done", "failed", "cancelled". */
const char *gs_dl_state_name(gs_dl_state s);

typedef struct gs_dl_mgr gs_dl_mgr;
typedef struct gs_dl_job gs_dl_job;

/* A job changed state or made progress (progress at most every 200 ms per job). */
typedef void (*gs_dl_change_cb)(gs_dl_job *j, void *ud);

typedef struct gs_dl_opts {
    const char *endpoint;    /* NULL: $HF_ENDPOINT, else https://huggingface.co */
    const char *token;       /* NULL: $HF_TOKEN */
    const char *token_from;  /* where the token came from, for messages ("$HF_TOKEN") */
    long stall_s;            /* no byte for this long = stalled; default 30 ($GGSWAP_PULL_STALL_S) */
    int max_attempts;        /* per file, counting from the last progress; default 6 */
    unsigned backoff_ms;     /* first retry delay, doubled each time up to 30 s; default 1000
                              * ($GGSWAP_PULL_BACKOFF_MS) */
    uint64_t reserve_bytes;  /* free disk space left after a pull; default 256 MiB */
    gs_dl_change_cb on_change;
    void *ud;
} gs_dl_opts;

gs_dl_mgr *gs_dl_mgr_new(uv_loop_t *loop, const gs_dl_opts *o);
/* Cancel what is in flight (keeping .part files for a later resume) and free once libuv has
 * closed every handle. */
void gs_dl_mgr_free(gs_dl_mgr *m);

/* The manager's transfers, Hub and token (for the page's Hub search through the daemon). */
struct gs_fetch *gs_dl_mgr_fetch(gs_dl_mgr *m);
const char *gs_dl_mgr_endpoint(const gs_dl_mgr *m);
const char *gs_dl_mgr_token(const gs_dl_mgr *m);   /* NULL when none */

/* Start pulling ref (with --quant `quant`, may be NULL) into dir. Returns 0 and the job in
 * *out, or -EINVAL with a sentence in err for a reference that cannot be a model. */
int gs_dl_pull(gs_dl_mgr *m, const char *ref, const char *quant, const char *dir,
               gs_dl_job **out, char *err, size_t errlen);
/* Cancel a job by id: its transfers stop (unless another job shares them) and its .part files
 * are deleted. -ENOENT for an unknown id, -EALREADY for a finished job. */
int gs_dl_cancel(gs_dl_mgr *m, const char *id);
/* Forget finished jobs beyond the newest `keep`. */
void gs_dl_prune(gs_dl_mgr *m, int keep);

const char *gs_dl_job_id(const gs_dl_job *j);
gs_dl_state gs_dl_job_state(const gs_dl_job *j);
const char *gs_dl_job_error(const gs_dl_job *j);   /* NULL unless failed */
const char *gs_dl_job_file(const gs_dl_job *j);    /* the model's file name, or the ref */
int64_t gs_dl_job_done(const gs_dl_job *j);
int64_t gs_dl_job_total(const gs_dl_job *j);       /* -1 while unknown */
double gs_dl_job_speed(const gs_dl_job *j);        /* bytes/s now */
/* Paths of the files this job put in place (complete and verified), or NULL past the end. */
const char *gs_dl_job_path(const gs_dl_job *j, int i);
/* SPEC §4's shape: {"id","ref","file","dir","done","total","state","error"?,"files":[...]}. */
struct json_t *gs_dl_job_json(const gs_dl_job *j);
/* Every job, newest first. */
struct json_t *gs_dl_list_json(const gs_dl_mgr *m);
/* Jobs not finished yet. */
int gs_dl_active(const gs_dl_mgr *m);

#endif
