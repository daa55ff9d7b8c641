/* webui: the management page, embedded in the binary at build time.
 *
 * The files of web/ become C arrays (tools/embed.c writes build/gen/webui_data.c), so the page
 * needs no files at run time and no request path can ever reach the filesystem. */
#ifndef GS_WEBUI_H
#define GS_WEBUI_H
#include <stddef.h>

typedef struct gs_webui_file {
    const char *name;  /* file name inside web/, e.g. "index.html" */
    const char *mime;
    const unsigned char *data;
    size_t len;
} gs_webui_file;

extern const gs_webui_file gs_webui_files[];

/* The file for a path below /ui/ ("" means index.html), or NULL. */
const gs_webui_file *gs_webui_find(const char *path);

#endif
