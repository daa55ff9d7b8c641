/* genports: the ports of the generated config's models, kept from one generation to the next.
 *
 * A model's port is part of its definition (--port and proxy), so giving a model another port
 * on "Regenerate" restarts it; keeping the previous ports means adding or removing a file
 * restarts no unrelated running model. This module reads the ports out of the previous
 * config.yaml and gives out ports for a new generation (pure). */
#ifndef GS_GENPORTS_H
#define GS_GENPORTS_H
#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* A header line of the generated file. gs_config does not keep startPort for us (the file has
 * no startPort key, to stay in the seed's shape), and without it a lowered startPort would
 * never take effect, since every previous port would still be in range. */
#define GS_GENPORTS_LINE "# Ports are given from startPort "

typedef struct gs_genports {
    char **names;          /* model names, NULL-terminated */
    int *ports;            /* ports[i] belongs to names[i] */
    int n;
    int start_port;        /* the startPort the file was generated with; 0 when it does not say */
} gs_genports;

/* Read the ports from a previous generated config (text, or the file at path). A file in the
 * generated shape (its header, and every model as `  "NAME":` followed by its
 * `    proxy: "http://127.0.0.1:PORT"` line) is read by lines, without YAML: only its ports are
 * needed. Any other file goes through the config loader. A missing file gives an empty set and
 * 0; a file that does not load gives an empty set and its error (the caller then assigns ports
 * from scratch). Free with gs_genports_free either way. */
int gs_genports_parse(const char *text, size_t len, const char *name, gs_genports *p);
/* text_out (may be NULL): the file's text when it could be read (caller frees), else NULL. */
int gs_genports_load(const char *path, gs_genports *p, char **text_out);
void gs_genports_free(gs_genports *p);

/* Ports for the n models `names` (skip[i]: no port): a model still in prev (may be NULL) keeps
 * its previous port when it is from start_port to 65535 and no earlier-kept model has it; the
 * others get the lowest free ports from start_port, in order. When start_port differs from the
 * one prev was generated with (or, for a file that does not say, some previous port is below
 * it), every port is assigned from scratch. A model left without a port (past 65535) gets
 * skip[i] set and a warning in d (may be NULL) naming `sname`. */
void gs_genports_assign(const gs_genports *prev, const char *const *names, int n, int start_port,
                        bool *skip, int *port, const char *sname, gs_diag *d);

#endif
