/* gen: the integrated mode's generated config.yaml (SPEC §1, §3).
 *
 * In integrated mode ggswap owns config.yaml: every start and every "Regenerate" scans the model
 * folders and rewrites it, so the user's own choices live in settings.yaml beside it
 * (settings.h), which ggswap reads and never rewrites. This module finds llama-server, turns a
 * scan and the settings into llama-swap compatible YAML (the seed's shape, one port per model that stays with it
 * across regenerations, byte-for-byte the same when nothing changed, loading in gs_config_parse
 * without warnings), writes it atomically into the home folder, and says in plain sentences
 * what is missing (no llama-server, no models) and where it looked. It also holds the `scan`
 * and `config generate` commands. */
#ifndef GS_GEN_H
#define GS_GEN_H
#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "config.h"
#include "scan.h"
#include "genports.h"
#include "settings.h"

/* The home folder: explicit (--home), else $GGSWAP_HOME, else ~/.clara/ggswap. New string. */
char *gs_gen_home(const char *explicit_home);

/* Find llama-server in SPEC §1's order: explicit path, $GGSWAP_LLAMA_SERVER, settings'
 * llamaServer, beside the ggswap binary, each $PATH folder. Returns the first executable
 * file (new string) or NULL; every place looked at is appended to *looked (NULL-terminated,
 * free with gs_strv_free) when looked is not NULL. */
char *gs_gen_find_llama_server(const char *explicit_path, const gs_settings *s, char ***looked,
                               int *nlooked);

/* Generation is a plan, then its text: gs_gen_plan_make decides everything config.yaml says
 * (pure: no files, no environment), gs_gen_emit writes it as YAML, and genconf.h builds the
 * same gs_config from it without YAML. */

/* Word flags of a model's command line. */
enum {
    GS_GEN_W_LINE = 1,     /* the word starts a line of the `cmd` block */
    GS_GEN_W_PATH = 2,     /* a path or name: always in double quotes, as in the seed */
};

/* One model of the generated config (enabled models only). Every string is the plan's own. */
typedef struct gs_gen_model {
    char *name;
    int port;              /* proxy is http://127.0.0.1:<port>, and --port <port> */
    char **argv;           /* llama-server's command line, NULL-terminated */
    unsigned char *wflags; /* per word: GS_GEN_W_* */
    int argc;
    char *cmd;             /* the `cmd` block: the words quoted, one line per GS_GEN_W_LINE
                            * word, each line ending in '\n' (gs_gen_cmd_text(m, "")) */
    int ttl;               /* seconds; 0 never unloads */
    char **aliases;        /* NULL-terminated (scan's OpenAI aliases, then the user's) */
    int naliases;
    char *memory;          /* settings' `memory` size as written, only with memory on; or NULL */
    bool unswappable;      /* settings' `swappable: false` */
    bool chat;             /* in "default_group" (chat, vision), else "embedding_group" */
    json_t *metadata;      /* kind, parameters, quantization, file, mmproj, size, context,
                            * architecture: what config.yaml's metadata holds */
} gs_gen_model;

typedef struct gs_gen_plan {
    gs_gen_model *models;  /* in the scan's order, disabled ones left out */
    int nmodels;
    char **dirs;           /* the folders scanned (for the header) */
    int ndirs;
    char *settings_path;   /* named in the header */
    int start_port;
    int health_check_timeout;
    char *log_level;
    bool memory_on;        /* memory-aware scheduling (the `memory:` block) */
    char *memory_ram;      /* as written; NULL: auto */
    char *memory_margin;   /* NULL: the default */
    char **memory_gpu;     /* sizes, NULL-terminated; NULL: auto */
    int nmemory_gpu;
} gs_gen_plan;

/* The plan for a scan: disabled models left out, aliases chosen (r's aliases are updated), ports
 * given out (keeping prev's, which may be NULL, as gs_gen_config_text_prev says), llama-server's
 * arguments and metadata. Problems with the settings (an alias that names two models, a settings
 * entry for a model that was not found, no port left) go to d (may be NULL) as warnings naming
 * settings.yaml's lines. `s` NULL means the defaults; `llama_server` NULL the bare name
 * "llama-server". Free with gs_gen_plan_free. */
void gs_gen_plan_make(gs_scan_result *r, const gs_settings *s, const char *llama_server,
                      const char *settings_path, const gs_genports *prev, gs_diag *d,
                      gs_gen_plan *p);
void gs_gen_plan_free(gs_gen_plan *p);
/* The config.yaml text of a plan (the seed's shape). Never NULL. */
char *gs_gen_emit(const gs_gen_plan *p);
/* The same text without models and groups (`models: {}`, `groups: {}`): the top-level keys. */
char *gs_gen_emit_top(const gs_gen_plan *p);
/* The text of one model's `cmd` block, each line starting with `indent` and ending in '\n'. */
char *gs_gen_cmd_text(const gs_gen_model *m, const char *indent);

/* The config.yaml text for a scan (disabled models omitted, aliases chosen, ports given out).
 * Updates r's aliases. Problems with the settings (an alias that names two models, a settings
 * entry for a model that was not found) go to d as warnings naming settings.yaml's lines.
 * `llama_server` NULL writes the bare name "llama-server". Never NULL. */
char *gs_gen_config_text(gs_scan_result *r, const gs_settings *s, const char *llama_server,
                         const char *settings_path, gs_diag *d);

/* gs_gen_config_text, keeping the ports of `prev` (may be NULL): a model still there keeps its
 * previous port when it is from startPort to 65535 and no earlier-kept model has it; new models
 * get the lowest free ports from startPort, in name order. When startPort differs from the one
 * prev was generated with (or, for a file that does not say, some previous port is below it),
 * every port is assigned from scratch. With prev generated from the same scan and settings the
 * text is byte-for-byte the same. */
char *gs_gen_config_text_prev(gs_scan_result *r, const gs_settings *s, const char *llama_server,
                              const char *settings_path, const gs_genports *prev, gs_diag *d);

/* Write path atomically (temp file in the same folder, fsync, rename), creating the folder
 * with its parents. Returns 0 or a negative errno. */
int gs_gen_write_atomic(const char *path, const char *text, size_t len);

typedef struct gs_gen_opts {
    const char *home;                 /* NULL: gs_gen_home(NULL) */
    const char *const *models_dirs;   /* --models-dir values; when given, only these */
    int nmodels_dirs;
    const char *llama_server;         /* --llama-server, or NULL */
    const char *output;               /* NULL: <home>/config.yaml; "-": stdout */
    const char *previous;             /* config whose ports to keep (gs_genports); NULL: the
                                       * output file, or <home>/config.yaml for stdout */
    bool keep_plan;                   /* hand the plan and the text back in the result (for
                                       * genconf.h, which builds the config without YAML) */
} gs_gen_opts;

typedef struct gs_gen_result {
    char *home;
    char *config_path;        /* written file ("-" for stdout) */
    char *settings_path;      /* <home>/settings.yaml (it may not exist) */
    char *listen;             /* settings' listen, or NULL */
    char *llama_server;       /* found, or NULL */
    char **looked;            /* places looked for llama-server, NULL-terminated */
    int nlooked;
    char **dirs;              /* folders scanned, NULL-terminated */
    int ndirs;
    int nmodels;              /* models written (disabled ones excluded) */
    char **problems;          /* human sentences, NULL-terminated: no llama-server, no models,
                               * unreadable/corrupt files, settings problems */
    int nproblems;
    char *error;              /* when the return is < 0: why nothing was written */
    gs_gen_plan *plan;        /* with keep_plan, when the file was written: what it says */
    char *text;               /* with keep_plan: the text written */
} gs_gen_result;

/* Integrated mode: read settings, scan, write config.yaml. Returns 0 when config.yaml was
 * written (even with problems, which go to r->problems), or a negative errno when settings.yaml
 * has errors or the file cannot be written (r->error says which). Free r with
 * gs_gen_result_free in both cases. */
int gs_gen_integrated(const gs_gen_opts *o, gs_gen_result *r);
void gs_gen_result_free(gs_gen_result *r);

/* `ggswap config generate [--home DIR] [--models-dir DIR]... [--llama-server PATH]
 * [--output FILE|-]`: argv[0] is "generate". Returns the exit code (0, 1 runtime, 2 usage). */
int gs_gen_main(int argc, char **argv);
/* `ggswap scan [--models-dir DIR]... [--json]`: argv[0] is "scan". Uses settings.yaml's
 * modelsDirs (home from $GGSWAP_HOME or ~/.clara/ggswap) when no --models-dir is given. */
int gs_scan_main(int argc, char **argv);

#endif
