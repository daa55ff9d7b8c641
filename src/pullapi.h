/* pullapi: the daemon's side of getting models (SPEC §4 downloads, §5 watched folders).
 *
 * The running daemon owns one download manager (download.c) and one folder watcher
 * (watch.c). Its routes: POST /api/models/pull {"ref"[,"quant"][,"dir"]} starts a pull into a
 * model folder (202 {"id",...}); GET /api/downloads lists pulls ({"downloads":[...]}, newest
 * first), GET /api/downloads/<id> one, DELETE /api/downloads/<id> cancels; each change is a
 * `download` event on /api/events. For the page: GET /api/hub/search?q= (the Hub's model
 * search, GGUF repos), GET /api/hub/files?repo= (a repo's .gguf files with size and whether they
 * fit this machine), DELETE /api/models/file/<model> (stop the model and delete its file, only
 * inside a model folder). In integrated mode the model folders are watched: a complete new
 * .gguf becomes a model and a deleted one goes away through the same regenerate + reload as
 * the Regenerate button, which keeps unchanged models running. */
#ifndef GS_PULLAPI_H
#define GS_PULLAPI_H

#include <stdint.h>

#include "http.h"

typedef struct gs_server gs_server;

/* Create the manager (and, in integrated mode, watch s->models_dirs). */
void gs_pullapi_attach(gs_server *s);
/* Stop transfers and the watcher (before the loop's last handles are closed). */
void gs_pullapi_detach(gs_server *s);

void gs_pullapi_handle_pull(gs_server *s, gs_http_req *req, const char *rest);
void gs_pullapi_handle_downloads(gs_server *s, gs_http_req *req, const char *rest);
void gs_pullapi_handle_hub(gs_server *s, gs_http_req *req, const char *rest);
void gs_pullapi_handle_delete_file(gs_server *s, gs_http_req *req, const char *rest);

/* Estimated memory a model file needs (its weights plus a working margin), and whether that
 * fits a machine of `total` bytes (RAM + GPUs). Pure, for tests. */
int64_t gs_pullapi_need(int64_t file_size);

#endif
