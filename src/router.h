/* router: llama-swap's group rules, as pure decisions over the config.
 *
 * Which running models must stop before a model may run is decided here and nowhere else: a
 * group with `swap` runs one member at a time; loading a member of an `exclusive` group stops
 * the models of other groups unless their group is `persistent`; exclusivity is one-way (a
 * non-exclusive group never evicts others). Ungrouped models share the "(default)" group,
 * which swaps and is exclusive. No state, no I/O: the proxy's scheduler asks, the unit tests
 * check. */
#ifndef GS_ROUTER_H
#define GS_ROUTER_H
#include <stdbool.h>

#include "config.h"

/* True when `running` (a model index) must stop before `target` may run. */
bool gs_router_must_evict(const gs_config *c, int target, int running);

#endif
