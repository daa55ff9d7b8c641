/* settings: the user's settings.yaml of the integrated mode (SPEC §1, §3).
 *
 * settings.yaml holds what the user chose for the generated config.yaml beside it (listen, the
 * model folders, llama-server, ttl, extra llama-server arguments, aliases, disabled models, the
 * --ctx-size cap, memory, the Hugging Face token); ggswap reads it and never rewrites it. Every
 * value is checked here against the rule the config loader will apply to what generation makes
 * of it, so that a settings.yaml that loads gives a config.yaml that loads; what is refused
 * names settings.yaml and the line. */
#ifndef GS_SETTINGS_H
#define GS_SETTINGS_H
#include <stdbool.h>
#include <stddef.h>

#include "config.h"

#define GS_SETTINGS_DEFAULT_TTL 300
#define GS_SETTINGS_DEFAULT_CTX_MAX 8192   /* keeps a 128k-context model from taking all memory */
#define GS_SETTINGS_DEFAULT_HEALTH 120     /* seconds; big models take longer than the seed's 30 */
#define GS_SETTINGS_DEFAULT_START_PORT 5800

/* settings.yaml: `models: {"name": {...}}` */
typedef struct gs_model_settings {
    char *name;
    int line;
    int ttl;               /* -1 when unset */
    char **extra_args;     /* NULL-terminated words, or NULL */
    int nextra;
    char **aliases;        /* NULL-terminated, or NULL */
    int naliases;
    bool disabled;
    long ctx_size;         /* 0 when unset; not capped by ctxSizeMax (an explicit choice) */
    char *memory;          /* `memory: 6GiB` (overrides the estimate), as written; or NULL */
    int swappable;         /* `swappable: false` -> 0 (never evicted for memory); -1 unset */
} gs_model_settings;

typedef struct gs_settings {
    char *path;            /* the file read; NULL when there was none */
    char *listen;          /* NULL when unset */
    char **models_dirs;    /* NULL-terminated, ~ expanded; NULL when unset */
    int nmodels_dirs;
    char *llama_server;    /* ~ expanded; NULL when unset */
    int ttl;               /* default GS_SETTINGS_DEFAULT_TTL; 0 = never unload */
    long ctx_size_max;     /* default GS_SETTINGS_DEFAULT_CTX_MAX; 0 = no cap */
    char **extra_args;     /* NULL-terminated words for every model, or NULL */
    int nextra;
    int health_check_timeout;
    int start_port;
    char *log_level;       /* default "info" */
    char *hf_token;        /* hfToken: the Hugging Face token for `pull`; NULL when unset */
    gs_model_settings *models;
    int nmodels;
    /* memory (SPEC §2): on by default in the integrated mode; `memory: false` turns it off.
     * The values are copied into config.yaml as written (the config loader checks them). */
    bool memory_off;
    char *memory_ram, *memory_margin; /* NULL: auto / the default margin */
    char **memory_gpu;     /* NULL-terminated sizes, or NULL (auto) */
    int nmemory_gpu;
    bool memory_gpu_auto;  /* gpu: auto written out */
} gs_settings;

void gs_settings_init(gs_settings *s);
/* Parse settings from text; `name` is used in messages ("FILE:LINE: error: KEY: what").
 * Unknown keys are warnings. Returns 0, or -EINVAL with the reasons in d (s then holds the
 * defaults plus whatever was valid). */
int gs_settings_parse(const char *text, size_t len, const char *name, gs_settings *s, gs_diag *d);
/* Read a file; a missing file is not an error (defaults, s->path NULL). */
int gs_settings_load(const char *path, gs_settings *s, gs_diag *d);
void gs_settings_free(gs_settings *s);
const gs_model_settings *gs_settings_model(const gs_settings *s, const char *name);

void gs_settings_init(gs_settings *s);
/* Parse settings from text; `name` is used in messages ("FILE:LINE: error: KEY: what").
 * Unknown keys are warnings. Returns 0, or -EINVAL with the reasons in d (s then holds the
 * defaults plus whatever was valid). */
int gs_settings_parse(const char *text, size_t len, const char *name, gs_settings *s, gs_diag *d);
/* Read a file; a missing file is not an error (defaults, s->path NULL). */
int gs_settings_load(const char *path, gs_settings *s, gs_diag *d);
void gs_settings_free(gs_settings *s);
const gs_model_settings *gs_settings_model(const gs_settings *s, const char *name);

#endif
