#include "yaml.h"

#include <errno.h>

/* Deep enough for any config; bounded so that a hostile document cannot make this walk long. */
#define LINE_DEPTH 64

int gs_yaml_line(struct fy_node *n)
{
    for (int depth = 0; n && depth < LINE_DEPTH; depth++) {
        struct fy_token *t = fy_node_get_scalar_token(n);
        if (t) {
            const struct fy_mark *m = fy_token_start_mark(t);
            return m ? m->line + 1 : 0;
        }
        void *it = NULL;
        if (fy_node_is_mapping(n)) {
            struct fy_node_pair *p = fy_node_mapping_iterate(n, &it);
            n = p ? fy_node_pair_key(p) : NULL;
        } else if (fy_node_is_sequence(n)) {
            n = fy_node_sequence_iterate(n, &it);
        } else {
            break;
        }
    }
    return 0;
}

int gs_yaml_parse(const char *text, size_t len, const char *name, gs_diag *d,
                  struct fy_document **doc)
{
    *doc = NULL;
    struct fy_diag_cfg dcfg;
    fy_diag_cfg_default(&dcfg);
    dcfg.fp = NULL;
    dcfg.output_fn = NULL;
    dcfg.colorize = false;
    struct fy_diag *diag = fy_diag_create(&dcfg);
    if (!diag) {
        gs_diag_add(d, true, name, 0, "cannot start the YAML parser");
        return -ENOMEM;
    }
    fy_diag_set_collect_errors(diag, true);
    struct fy_parse_cfg pcfg = {.flags = FYPCF_QUIET | FYPCF_COLLECT_DIAG, .diag = diag};
    *doc = fy_document_build_from_string(&pcfg, text, len);
    int rc = 0;
    void *it = NULL;
    struct fy_diag_error *de;
    while ((de = fy_diag_errors_iterate(diag, &it))) {
        if (de->type < FYET_ERROR)
            continue;
        gs_diag_add(d, true, name, de->line > 0 ? de->line : 1, "yaml: %s",
                    de->msg ? de->msg : "syntax error");
        rc = -EINVAL;
    }
    fy_diag_destroy(diag);
    return rc;
}
