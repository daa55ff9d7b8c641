#include "yaml.h"

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
