/* fuzz_gguf: GGUF header bytes into gs_gguf_read_mem; the facts it returns are then used the way
 * discovery uses them (names, labels, kind), so a bad header cannot hurt code further on. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "names.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    gs_gguf_info info;
    char *err = NULL;
    /* An exact-size heap copy, so ASan sees any read past the end. */
    uint8_t *copy = malloc(len ? len : 1);
    if (len)
        memcpy(copy, data, len);
    int rc = gs_gguf_read_mem(copy, len, &info, &err);
    if (rc == 0) {
        if (err)
            abort(); /* success with an error message */
        gs_gguf_file_type_name(info.file_type);
        gs_gguf_pooling_name(info.pooling_type);
        if (info.size_label)
            gs_names_params_from_label(info.size_label);
        char *label = gs_names_params_label(info.param_count);
        free(label);
        gs_names_kind(info.architecture, info.pooling_type, info.name ? info.name : "x.gguf",
                      false);
        if (info.architecture)
            gs_names_embedding_arch(info.architecture);
        gs_gguf_info_free(&info);
    } else {
        if (!err)
            abort(); /* every failure says why */
        gs_gguf_info_free(&info);
    }
    free(err);
    free(copy);
    return 0;
}
