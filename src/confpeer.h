/* confpeer: the names a config adds beside its models: `peers` (other OpenAI-compatible
 * servers, reached as "peer/model"), `selectors` (virtual ids that pick a target per request)
 * and `profiles` (runtime pins). Read after the models and the router, since all of them name
 * models. Part of the config loader (confload.h). */
#ifndef GS_CONFPEER_H
#define GS_CONFPEER_H
#include "confload.h"

/* Each reads its top-level block (kept in r) into L->c, sorted by id. */
void gs_confpeer_load_peers(gs_confld *L, const gs_confref *r);
void gs_confpeer_load_selectors(gs_confld *L, const gs_confref *r);
void gs_confpeer_load_profiles(gs_confld *L, const gs_confref *r);
void gs_confpeer_free_peer(gs_peer_cfg *p);
void gs_confpeer_free_selector(gs_selector_cfg *s);
void gs_confpeer_free_profile(gs_profile_cfg *p);

#endif
