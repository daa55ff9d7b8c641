/* router: llama-swap's group rules, as pure decisions over the config.
 *
 * Which running models must stop before a model may run is decided here and nowhere else: a
 * group with `swap` runs one member at a time; loading a member of an `exclusive` group stops
 * the models of other groups unless their group is `persistent`; exclusivity is one-way (a
 * non-exclusive group never evicts others). Ungrouped models share the "(default)" group,
 * which swaps and is exclusive. No state, no I/O: the scheduler's plan asks (through the
 * gs_plan_constraint that gs_router_evictions implements), the unit tests check. */
#ifndef GS_ROUTER_H
#define GS_ROUTER_H
#include <stdbool.h>

#include "config.h"

/* True when `running` (a model index) must stop before `target` may run. */
bool gs_router_must_evict(const gs_config *c, int target, int running);
/* The group rules as a plan constraint (gs_plan_evict_fn): ud is the gs_config. */
void gs_router_evictions(const void *ud, int target, const bool *running, int n, bool *evict);

#endif
