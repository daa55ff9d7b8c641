/* yaml: helpers over libfyaml nodes shared by every YAML reader (the config loader, the
 * config-dir merge).
 *
 * The start of the one YAML layer that issue 10 asks for: readers that report file:line for a
 * node must agree on which line a node is on, so that rule lives here once. */
#ifndef GS_YAML_H
#define GS_YAML_H
#include <libfyaml.h>

/* The 1-based line of a node: a scalar's own line, else the line of the first scalar inside a
 * mapping (its first key) or sequence (its first element), looking at most 64 levels deep;
 * 0 when there is none. */
int gs_yaml_line(struct fy_node *n);

#endif
