/* confmodel: the `models` section of a config: every model key as a row of one table, ${PORT}
 * given in id order to models whose cmd uses it, and the rule that every id and alias names
 * exactly one model. Part of the config loader (confload.h). */
#ifndef GS_CONFMODEL_H
#define GS_CONFMODEL_H
#include "confload.h"

/* Read `models` (e: the top-level pair; NULL when absent) into L->c->models, sorted by id, with
 * gmac the global macros as written and gres the same resolved. Always sets L->c->models. */
void gs_confmodel_load(gs_confld *L, const gs_yaml_kv *e, const gs_macro *gmac,
                       const gs_macro *gres, int ngmac);
void gs_confmodel_free(gs_model_cfg *m);

#endif
