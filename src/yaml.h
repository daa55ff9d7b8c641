/* yaml: helpers over libfyaml nodes shared by every YAML reader (the config loader, the
 * config-dir merge).
 *
 * The start of the one YAML layer that issue 10 asks for: readers that report file:line for a
 * node must agree on which line a node is on, so that rule lives here once. */
#ifndef GS_YAML_H
#define GS_YAML_H
#include <libfyaml.h>
#include <stddef.h>

#include "config.h"

/* The 1-based line of a node: a scalar's own line, else the line of the first scalar inside a
 * mapping (its first key) or sequence (its first element), looking at most 64 levels deep;
 * 0 when there is none. */
int gs_yaml_line(struct fy_node *n);

/* Parse text (`name` in messages) into *doc, quietly: every syntax error becomes a diagnostic
 * "name:line: yaml: what". Returns 0 (*doc may still be NULL for an empty file), -EINVAL after a
 * syntax error (*doc, if any, is the caller's to destroy) or -ENOMEM. */
int gs_yaml_parse(const char *text, size_t len, const char *name, gs_diag *d,
                  struct fy_document **doc);

#endif
