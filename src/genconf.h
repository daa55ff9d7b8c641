/* genconf: the generated config as a gs_config, built from the plan without YAML.
 *
 * Integrated mode writes config.yaml for the user (and for llama-swap), but reading back what it
 * has just written costs more than everything else at start-up with many models: libfyaml
 * checks every key of a mapping against the ones before it, so 1,000 models take tens of
 * milliseconds. This module builds the same gs_config that gs_config_parse gives for
 * gs_gen_emit's text, directly from the plan. What only the config loader knows (the top-level
 * defaults, the compiled ignorePaths, a model's defaults) it still gets from the loader, by
 * parsing the top-level text and a one-model template, which are small. tests/unit/test_genconf.c
 * holds the two equal, field by field, so that the loader's rules stay the only ones. */
#ifndef GS_GENCONF_H
#define GS_GENCONF_H
#include "config.h"
#include "gen.h"

/* The config of plan p, as gs_config_parse(text, name) would give it. `text` is what gs_gen_emit
 * wrote for p (only the models' line numbers are read from it; NULL leaves them 0). Returns 0 and
 * sets *out, or a negative errno-style code with the reasons in d (the caller may then parse the
 * text instead). */
int gs_genconf_build(const gs_gen_plan *p, const char *text, const char *name, gs_config **out,
                     gs_diag *d);

#endif
