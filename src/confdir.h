/* confdir: llama-swap's `-config-dir`: a config split over several YAML files.
 *
 * The sources are the -config file (when given) and then every *.yaml / *.yml directly in the
 * folder, in name order. They are merged into one document with llama-swap's rules: mappings
 * merge key by key; under the maps whose keys name things (models, groups, profiles,
 * selectors, peers, matrix, routing.router.settings.groups/matrix) a key in two files is an
 * error; lists are concatenated; two scalars must agree, except that an empty (null) one
 * yields to the other. Each conflict names both files and lines and the key's path. The merged
 * document is then loaded as one config, and what the loader finds wrong in it is reported at
 * the file and line the key came from (the merged text's lines are mapped back). */
#ifndef GS_CONFDIR_H
#define GS_CONFDIR_H
#include <stdint.h>

#include "config.h"

/* Load file (may be NULL when dir is set) merged with dir's files (dir may be NULL: just
 * gs_config_load(file)). Same contract as gs_config_load. */
int gs_confdir_load(const char *file, const char *dir, gs_config **out, gs_diag *d);
/* The merged YAML text of the sources (caller frees), or NULL with the reasons in d. */
char *gs_confdir_merge(const char *file, const char *dir, gs_diag *d);
/* A number that changes when a source is added, removed, or rewritten (names, sizes, mtimes):
 * what a watcher compares. */
uint64_t gs_confdir_fingerprint(const char *file, const char *dir);

#endif
