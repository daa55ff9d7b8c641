/* confroute: which models may run together, as a config says it: llama-swap's groups (legacy
 * top-level `groups`, or routing.router.settings.groups), the swap matrix (`matrix`, or
 * routing.router.settings.matrix), and routing.scheduler.settings.fifo.priority. Read after
 * the models, since every entry names models. Part of the config loader (confload.h). */
#ifndef GS_CONFROUTE_H
#define GS_CONFROUTE_H
#include "confload.h"

/* The routing blocks, kept while the top level is read. */
typedef struct gs_confroute {
    gs_confref groups, matrix;   /* legacy top-level keys */
    gs_confref rgroups, rmatrix; /* routing.router.settings.* */
    gs_confref priority;         /* routing.scheduler.settings.fifo.priority */
    char *use;                   /* routing.router.use; NULL when unset */
    int use_line;
    int routing_line;
} gs_confroute;

/* The top-level `routing` pair into rt. */
void gs_confroute_read(gs_confld *L, const gs_yaml_kv *e, gs_confroute *rt);
/* The router (groups or matrix; every model gets a group), then the priorities; frees rt's
 * own memory. */
void gs_confroute_load(gs_confld *L, gs_confroute *rt);
void gs_confroute_matrix_free(gs_matrix_cfg *m);

#endif
