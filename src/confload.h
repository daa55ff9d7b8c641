/* confload: the state and the readers that the parts of the config loader share.
 *
 * The loader is split along the config's own sections: config.c reads the top level and the
 * small ggswap blocks, confmodel.c the models, confroute.c groups, routing and the matrix,
 * confpeer.c peers, selectors and profiles. They all read through one gs_confld (the YAML
 * reader, the macro state, the config being filled) and share what more than one section
 * needs: names, proxy URLs, timeouts, request filters. */
#ifndef GS_CONFLOAD_H
#define GS_CONFLOAD_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "conftypes.h"
#include "macros.h"
#include "yaml.h"

typedef struct gs_confld {
    gs_yaml y;                 /* the document, its messages and node budget */
    gs_macros M;               /* macro output of the whole load */
    gs_config *c;              /* what is being filled */
    const gs_macro_scope *mx;  /* what typed getters expand (the global macros, or a model's) */
} gs_confld;

/* A YAML value kept to be read once the models are known. */
typedef struct gs_confref {
    struct fy_node *val;
    int line;
    bool set;                  /* present and not null */
} gs_confref;

/* Request filters of a model or a peer: where filters.* go. */
typedef struct gs_conffilters {
    char ***strip;
    int *nstrip;
    json_t **set;
    json_t **by_id;            /* NULL for peers: setParamsByID is a model's */
} gs_conffilters;

/* The lookups of config.h (gs_config_find and the rest), for the parts of the loader. */
int gs_confload_find(const gs_config *c, const char *name);
int gs_confload_find_peer(const gs_config *c, const char *name, const char **model);
int gs_confload_find_selector(const gs_config *c, const char *name);
int gs_confload_find_profile(const gs_config *c, const char *name);
/* The peer whose "peer/model" is exactly name (and *model its model, when model is not NULL),
 * or -1: not a bare model name. */
int gs_confload_peer_fqn(const gs_config *c, const char *name, const char **model);

/* The scope whose macros the typed getters expand from now on (NULL: none). */
void gs_confload_scope(gs_confld *L, const gs_macro_scope *mx);
/* Keep e's value in r for later. */
void gs_confload_ref(gs_confld *L, gs_confref *r, const gs_yaml_kv *e, const char *key);
/* Names end up in HTTP headers, Prometheus labels, logs and JSON: no control characters, no
 * quotes or backslashes. "" passes (emptiness is checked, and worded, by each caller). */
bool gs_confload_name_ok(const char *s, size_t n);
/* Parse http://host[:port][/path] (https:// too where allow_https) into host, port and path;
 * the URL loses a trailing '/'. Returns NULL, or why not. */
const char *gs_confload_proxy(char *url, bool allow_https, bool *tls, char **host, int *port,
                              char **path);
/* llama-swap's timeouts defaults (response_header differs between models and peers). */
void gs_confload_timeouts_default(gs_timeouts_cfg *t, int response_header);
/* A `timeouts` mapping into t. */
void gs_confload_timeouts(gs_confld *L, const gs_yaml_kv *e, const char *key,
                          gs_timeouts_cfg *t);
/* A `filters` mapping (stripParams, setParams, setParamsByID) into F, macros of mx expanded. */
void gs_confload_filters(gs_confld *L, const gs_conffilters *F, const gs_macro_scope *mx,
                         const gs_yaml_kv *e, const char *key);

#endif
