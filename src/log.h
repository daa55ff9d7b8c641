/* log: the daemon's own log and the bounded log rings behind /logs.
 *
 * ggswap logs one line per event to stderr, with a level filter. Every line (of ggswap itself,
 * or of a model's llama-server) is also kept in a fixed-size ring so that /logs, /logs/stream
 * and the web page can show recent history without the log ever growing past its ring. A single
 * sink callback lets the events module broadcast new lines live; the log module itself knows
 * nothing about HTTP. */
#ifndef GS_LOG_H
#define GS_LOG_H
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

typedef enum gs_log_level {
    GS_LOG_DEBUG = 0,
    GS_LOG_INFO,
    GS_LOG_WARN,
    GS_LOG_ERROR,
} gs_log_level;

/* A byte ring holding the most recent `cap` bytes appended to it. */
typedef struct gs_ring {
    char *data;
    size_t cap;
    size_t start;  /* index of the oldest byte */
    size_t len;
} gs_ring;

/* cap bytes, allocated on the first append. */
void gs_ring_init(gs_ring *r, size_t cap);
void gs_ring_append(gs_ring *r, const char *p, size_t n);
/* Copy the ring's contents, oldest first, into a new NUL-terminated string (*len set if not NULL). */
char *gs_ring_dump(const gs_ring *r, size_t *len);
void gs_ring_free(gs_ring *r);

/* Called for every line that passes the level filter (source is "proxy") and for every model
 * log line (source is the model id). `line` has no trailing newline. */
typedef void (*gs_log_sink_cb)(const char *source, const char *line, size_t len, void *ud);

void gs_log_set_level(gs_log_level level);
gs_log_level gs_log_get_level(void);
/* Parse "debug", "info", "warn", "error". Returns 0 or -EINVAL. */
int gs_log_parse_level(const char *s, gs_log_level *out);
void gs_log_set_sink(gs_log_sink_cb cb, void *ud);
/* Silence stderr output (tests, `ctl`); the ring still records. */
void gs_log_set_quiet(int quiet);
/* stderr is journald's stream: prefix each line with its syslog priority ("<6>" for info). */
void gs_log_set_journal(bool on);

void gs_log_msg(gs_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void gs_log_vmsg(gs_log_level level, const char *fmt, va_list ap);
/* The ring of ggswap's own lines. */
gs_ring *gs_log_proxy_ring(void);
/* Every model's output lines as they came, in one ring (/logs/stream/upstream). */
gs_ring *gs_log_upstream_ring(void);
/* Both: ggswap's lines and "[model] line" (/logs/stream). */
gs_ring *gs_log_mux_ring(void);
/* logToStdout: print ggswap's own lines (to stderr; below warn only with proxy true) and copy
 * the models' output lines to stdout (upstream). Default: proxy only. */
void gs_log_set_outputs(bool proxy, bool upstream);
/* Forward a line that belongs to a model (child output) to the sink. */
void gs_log_model_line(const char *model, const char *line, size_t len);

#define gs_debug(...) gs_log_msg(GS_LOG_DEBUG, __VA_ARGS__)
#define gs_info(...) gs_log_msg(GS_LOG_INFO, __VA_ARGS__)
#define gs_warn(...) gs_log_msg(GS_LOG_WARN, __VA_ARGS__)
#define gs_error(...) gs_log_msg(GS_LOG_ERROR, __VA_ARGS__)

#endif
