#include "webui.h"

#include <string.h>

const gs_webui_file *gs_webui_find(const char *path)
{
    if (!path || !*path)
        path = "index.html";
    for (const gs_webui_file *f = gs_webui_files; f->name; f++)
        if (strcmp(f->name, path) == 0)
            return f;
    return NULL;
}
