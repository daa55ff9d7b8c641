/* conftypes: what a loaded config holds, as plain C structures.
 *
 * The types alone, so that every part of the loader (config.c, confmodel.c, confroute.c,
 * confpeer.c, confload.c) and every reader of a config can name them without depending on the
 * loader: config.h is the loader's API and includes this. Nothing here is ever changed after a
 * load; a reload builds a new gs_config. */
#ifndef GS_CONFTYPES_H
#define GS_CONFTYPES_H
#include <jansson.h>
#include <stdbool.h>

/* Proxy timeouts in seconds, as llama-swap's `timeouts` (per model and per peer); 0 = none. */
typedef struct gs_timeouts_cfg {
    int connect;           /* default 30 */
    int keepalive;         /* default 30 */
    int response_header;   /* default 0 for models, 60 for peers */
    int tls_handshake;     /* default 10 */
    int expect_continue;   /* default 1 */
    int idle_conn;         /* default 90 */
} gs_timeouts_cfg;

/* Modalities in capabilities.in / capabilities.out. */
enum { GS_MODALITY_TEXT = 1, GS_MODALITY_AUDIO = 2, GS_MODALITY_IMAGE = 4 };

/* capabilities: what a model can do, for /v1/models (context -> context_length). */
typedef struct gs_caps_cfg {
    bool set;              /* any capabilities key given (an empty block counts as unset) */
    unsigned in, out;      /* GS_MODALITY_* bits */
    bool tools;
    bool reranker;
    int context;           /* >= 0; 0 = unknown */
} gs_caps_cfg;

typedef struct gs_model_cfg {
    char *id;              /* the key under `models` */
    char *cmd;             /* after comment stripping, line joining and macro expansion */
    char **argv;           /* cmd split like a shell line; NULL-terminated */
    int argc;
    char *cmd_stop;        /* may hold ${PID}; NULL when unset */
    char *proxy;           /* base URL, http:// only, no trailing slash; by default
                            * http://localhost:${PORT} */
    char *proxy_host;      /* parsed from proxy (IPv6 without brackets) */
    int proxy_port;
    char *proxy_path;      /* path part of proxy: "" or "/base"; requests go to <path><request path> */
    char **aliases;        /* `aliases`, then the setParamsByID keys */
    int naliases;
    int naliases_written;  /* aliases[0 .. naliases_written) are from `aliases` */
    char **env;            /* "NAME=value" */
    int nenv;
    char *check_endpoint;  /* "/health" by default; NULL when "none"; starts with '/' */
    int ttl;               /* seconds idle before unload; 0 = never */
    bool unlisted;
    char *use_model_name;  /* NULL when unset */
    char **strip_params;   /* filters.stripParams, split on commas, trimmed, never "model" */
    int nstrip;
    json_t *set_params;    /* filters.setParams object, or NULL */
    int concurrency_limit; /* 0 in YAML becomes the default, 10 */
    char *name;
    char *description;
    json_t *metadata;      /* object or NULL */
    json_t *set_params_by_id; /* filters.setParamsByID: object of requested name -> object of
                               * params (keys macro-expanded, "model" removed), or NULL. Every
                               * key other than the id is also in aliases (llama-swap registers
                               * them), so requests for it route here. */
    int unload_timeout;    /* seconds of grace for manual, API and TTL unloads: the model's
                            * unloadTimeout, else the global one (default 10) */
    bool send_loading_state; /* the model's sendLoadingState, else the global one */
    gs_timeouts_cfg timeouts;
    bool ignore_websockets; /* compat.ignoreWebsockets */
    gs_caps_cfg caps;      /* capabilities */
    int priority;          /* routing.scheduler.settings.fifo.priority; higher first; default 0 */
    /* ggswap's own (SPEC §2) */
    long long memory;      /* bytes: overrides the estimate; 0 when unset */
    bool swappable;        /* false: never evicted to make room (default true) */
    bool slot_cache;       /* the model's slotCache, else the global gs_config.slot_cache.enabled */
    int group;             /* index into gs_config.groups; every model has one (with a matrix
                            * router every model is in "(default)") */
    int line;              /* where the model is defined */
} gs_model_cfg;

typedef struct gs_group_cfg {
    /* As in llama-swap, all models that no group lists share one group "(default)" with
     * swap and exclusive true and persistent false: one of them runs at a time. It comes last,
     * and exists only when some model is ungrouped. */
    char *id;
    bool swap;
    bool exclusive;
    bool persistent;
    int *members;          /* indexes into gs_config.models */
    int nmembers;
} gs_group_cfg;

/* routing.router.use */
typedef enum gs_router_kind { GS_ROUTER_GROUP, GS_ROUTER_MATRIX } gs_router_kind;

/* routing.router.settings.matrix (or the legacy top-level `matrix`), as written: the routing
 * module parses the set expressions (the swap-matrix DSL) and solves them. Names are checked
 * here: vars name real model ids, evict_costs name a var or a model. */
typedef struct gs_matrix_var {
    char *name;            /* short name, [A-Za-z0-9.-]{1,32} */
    int model;             /* index into gs_config.models */
    int line;
} gs_matrix_var;

typedef struct gs_matrix_cost {
    char *name;            /* a var or a model id, as written */
    int model;             /* what it resolves to: index into gs_config.models */
    int cost;              /* >= 1; models not listed cost 1 */
    int line;
} gs_matrix_cost;

typedef struct gs_matrix_set {
    char *name;
    char *dsl;             /* the expression, e.g. "a & (b | c) | +other"; not parsed here */
    int line;              /* of the expression, for the DSL parser's messages */
} gs_matrix_set;

typedef struct gs_matrix_cfg {
    gs_matrix_var *vars;
    int nvars;
    gs_matrix_cost *costs;
    int ncosts;
    gs_matrix_set *sets;   /* in file order (ties go to the earlier set); at least one */
    int nsets;
    int line;              /* of the matrix key */
    struct gs_matrix *prog; /* the sets compiled (matrix.h); NULL only in a config with errors */
    int *cost_of;          /* per model: its evict cost (1 unless evict_costs says) */
} gs_matrix_cfg;

/* peers: remote OpenAI-compatible servers, reached as "peer/model" (or a bare model name when
 * one peer alone lists it and no local model or alias has it). */
typedef struct gs_peer_cfg {
    char *id;
    char *proxy;           /* base URL, http:// or https://, no trailing slash */
    bool tls;              /* https */
    char *proxy_host;      /* IPv6 without brackets */
    int proxy_port;        /* 80 / 443 by default */
    char *proxy_path;      /* "" or "/api"; requests go to <path><request path> */
    char *api_key;         /* sent as Authorization: Bearer and x-api-key; NULL when unset */
    char **models;         /* model names on the peer, duplicates dropped, NULL-terminated */
    int nmodels;
    char **strip_params;   /* filters.stripParams */
    int nstrip;
    json_t *set_params;    /* filters.setParams, or NULL */
    gs_timeouts_cfg timeouts; /* response_header defaults to 60 here */
    int line;
} gs_peer_cfg;

/* selectors: virtual model ids that pick one of their targets per request. */
typedef enum gs_selector_strategy {
    GS_SELECT_PIN,         /* always the first target */
    GS_SELECT_WARM,        /* the first ready target, else the first starting, else the first */
    GS_SELECT_SPILLOVER,   /* up to `spillover` requests per active target, then the next */
} gs_selector_strategy;

typedef struct gs_selector_cfg {
    char *id;
    gs_selector_strategy strategy;
    char **targets;        /* as written: model ids, aliases or peer models; NULL-terminated */
    int ntargets;
    int spillover;         /* settings.spillover, >= 1, default 1 */
    char *name;
    char *description;
    bool unlisted;
    json_t *metadata;      /* object or NULL */
    int line;
} gs_selector_cfg;

/* profiles: runtime pins of requested ids; none is active at start. */
typedef struct gs_profile_pin {
    char *from;            /* the requested id */
    char *to;              /* model, alias, peer model or selector; NULL: the id answers 404 */
    int line;
} gs_profile_pin;

typedef struct gs_profile_cfg {
    char *id;
    char *description;
    gs_profile_pin *pins;  /* at least one */
    int npins;
    int line;
} gs_profile_cfg;

/* logToStdout: which logs go to ggswap's stdout. */
typedef enum gs_log_stdout {
    GS_LOG_STDOUT_PROXY,   /* default: ggswap's own log */
    GS_LOG_STDOUT_UPSTREAM,
    GS_LOG_STDOUT_BOTH,
    GS_LOG_STDOUT_NONE,
} gs_log_stdout;

/* memory (SPEC §2): present = memory-aware scheduling. Sizes in bytes. */
typedef struct gs_memory_cfg {
    bool enabled;          /* the key is present (a mapping, null or true); false: `memory:
                            * false` or absent */
    bool ram_auto;         /* ram: auto (default): what the machine and its cgroup have free */
    long long ram;         /* ram: SIZE when !ram_auto */
    bool gpu_auto;         /* gpu: auto (default): each GPU's free memory from its driver */
    long long *gpu;        /* gpu: [SIZE, ...], one per GPU, when !gpu_auto; [] = no GPU */
    int ngpu;
    long long margin;      /* kept free on every device; default 1 GiB */
    int line;
} gs_memory_cfg;

/* slotCache (SPEC §2): `true`/`false`, or a mapping. */
typedef struct gs_slot_cache_cfg {
    bool enabled;          /* default false in a hand-written config (models may override) */
    long long max_size;    /* maxSize: cap of the cache folder in bytes, LRU; default 8 GiB */
    int save_timeout_ms;   /* saveTimeout (seconds, may be fractional): the most a save may add
                            * to a stop; default 5000 */
    char *path;            /* path: the cache folder; NULL = <home>/slots */
    int line;
} gs_slot_cache_cfg;

typedef struct gs_config {
    char *path;
    int health_check_timeout; /* seconds, default 120, minimum 15 (as llama-swap) */
    char *log_level;          /* "info" by default */
    int start_port;           /* default 5800 */
    int global_ttl;           /* default 0 */
    char **api_keys;
    int napi_keys;
    char **preload;           /* hooks.on_startup.preload, resolved to model ids */
    int npreload;
    gs_model_cfg *models;     /* sorted by id */
    int nmodels;
    gs_group_cfg *groups;
    int ngroups;

    /* llama-swap v250 */
    int unload_timeout;       /* unloadTimeout: seconds, default 10 (0 in the file = 10) */
    bool send_loading_state;  /* sendLoadingState, default false (models copy it) */
    bool include_aliases_in_list; /* includeAliasesInList, default false */
    gs_log_stdout log_to_stdout;  /* logToStdout, default proxy */
    char *store_path;         /* store.path: SQLite file for activity; NULL = in memory */
    char **ignore_paths;      /* upstream.ignorePaths as written (POSIX extended regexes);
                               * default one: .*\.(js|json|css|png|gif|jpg|jpeg|ico|txt)$ */
    int nignore_paths;
    void *ignore_re;          /* the same, compiled (regex_t[]); use gs_config_ignore_path */
    gs_router_kind router;    /* routing.router.use, default group */
    gs_matrix_cfg *matrix;    /* with GS_ROUTER_MATRIX, else NULL */
    gs_peer_cfg *peers;       /* sorted by id */
    int npeers;
    gs_selector_cfg *selectors; /* sorted by id */
    int nselectors;
    gs_profile_cfg *profiles; /* sorted by id */
    int nprofiles;

    /* ggswap's own (SPEC §2) */
    gs_memory_cfg memory;
    gs_slot_cache_cfg slot_cache;
    char **cors_origins;      /* cors.origins as written ("*", "https://x.org", "app://");
                               * NULL when unset: the default policy (this machine, app schemes) */
    int ncors_origins;
} gs_config;

#endif
