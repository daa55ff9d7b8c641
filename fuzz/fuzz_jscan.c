/* fuzz_jscan: the hot path's model scan against jansson, the parser it stands in for. Both must
 * call the same bodies JSON and find the same top-level model. Two differences are allowed: a
 * number out of jansson's range (valid JSON that jansson refuses), and a raw NUL byte right after
 * a number or literal, which jansson's lexer skips (`[1\0]` loads) and the JSON grammar refuses. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jscan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    if (len > 65536)
        return 0;
    gs_jscan_result r;
    int rc = gs_jscan_model((const char *)data, len, &r);
    json_error_t e;
    json_t *root = json_loadb((const char *)data, len, 0, &e);
    if (!root) {
        bool range = strstr(e.text, "too big") || strstr(e.text, "overflow");
        if (rc == 0 && !range)
            abort();
        free(r.model);
        return 0;
    }
    if (rc != 0) {
        if (!memchr(data, 0, len))
            abort();
        json_decref(root);
        return 0;
    }
    json_t *m = json_is_object(root) ? json_object_get(root, "model") : NULL;
    if (m && json_is_string(m)) {
        if (!r.model || strcmp(r.model, json_string_value(m)) != 0)
            abort();
    } else if (r.model || r.model_not_str != (m != NULL)) {
        abort();
    }
    free(r.model);
    json_decref(root);
    return 0;
}
