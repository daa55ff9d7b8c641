#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "clock.h"
#include "mem.h"

#define PROXY_RING_SIZE (256 * 1024)
#define LINE_MAX_LEN 4096

static gs_log_level g_level = GS_LOG_INFO;
static gs_log_sink_cb g_sink;
static void *g_sink_ud;
static int g_quiet;
static bool g_journal; /* stderr is the journal: lines start with their syslog priority */
static gs_ring g_proxy_ring;
static gs_ring g_upstream_ring; /* every model's output, as it came (llama-swap's "upstream") */
static gs_ring g_mux_ring;      /* both, model lines as "[id] line": what /logs/stream shows */
static bool g_out_proxy = true; /* logToStdout: which logs the daemon prints */
static bool g_out_upstream;

/* The memory comes with the first append: a daemon with 1,000 models has 1,000 log rings, most
 * of which never see a line. */
void gs_ring_init(gs_ring *r, size_t cap)
{
    r->data = NULL;
    r->cap = cap;
    r->start = r->len = 0;
}

void gs_ring_append(gs_ring *r, const char *p, size_t n)
{
    if (!r->cap || !n)
        return;
    if (!r->data)
        r->data = gs_mem_alloc(r->cap);
    if (n >= r->cap) {
        /* Only the tail fits. */
        memcpy(r->data, p + (n - r->cap), r->cap);
        r->start = 0;
        r->len = r->cap;
        return;
    }
    size_t end = (r->start + r->len) % r->cap;
    size_t first = r->cap - end < n ? r->cap - end : n;
    memcpy(r->data + end, p, first);
    memcpy(r->data, p + first, n - first);
    if (r->len + n > r->cap) {
        size_t drop = r->len + n - r->cap;
        r->start = (r->start + drop) % r->cap;
        r->len = r->cap;
    } else {
        r->len += n;
    }
}

char *gs_ring_dump(const gs_ring *r, size_t *len)
{
    char *out = gs_mem_alloc(r->len + 1);
    if (r->len) {
        size_t first = r->cap - r->start < r->len ? r->cap - r->start : r->len;
        memcpy(out, r->data + r->start, first);
        memcpy(out + first, r->data, r->len - first);
    }
    out[r->len] = 0;
    if (len)
        *len = r->len;
    return out;
}

void gs_ring_free(gs_ring *r)
{
    free(r->data);
    r->data = NULL;
    r->cap = r->len = r->start = 0;
}

void gs_log_set_level(gs_log_level level)
{
    g_level = level;
}

gs_log_level gs_log_get_level(void)
{
    return g_level;
}

int gs_log_parse_level(const char *s, gs_log_level *out)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    for (size_t i = 0; i < GS_ARRAY_LEN(names); i++) {
        if (s && strcasecmp(s, names[i]) == 0) {
            *out = (gs_log_level)i;
            return 0;
        }
    }
    if (s && strcasecmp(s, "warning") == 0) {
        *out = GS_LOG_WARN;
        return 0;
    }
    return -EINVAL;
}

void gs_log_set_sink(gs_log_sink_cb cb, void *ud)
{
    g_sink = cb;
    g_sink_ud = ud;
}

void gs_log_set_journal(bool on)
{
    g_journal = on;
}

void gs_log_set_quiet(int quiet)
{
    g_quiet = quiet;
}

gs_ring *gs_log_proxy_ring(void)
{
    if (!g_proxy_ring.cap)
        gs_ring_init(&g_proxy_ring, PROXY_RING_SIZE);
    return &g_proxy_ring;
}

gs_ring *gs_log_upstream_ring(void)
{
    if (!g_upstream_ring.cap)
        gs_ring_init(&g_upstream_ring, PROXY_RING_SIZE);
    return &g_upstream_ring;
}

gs_ring *gs_log_mux_ring(void)
{
    if (!g_mux_ring.cap)
        gs_ring_init(&g_mux_ring, PROXY_RING_SIZE);
    return &g_mux_ring;
}

void gs_log_set_outputs(bool proxy, bool upstream)
{
    g_out_proxy = proxy;
    g_out_upstream = upstream;
}

void gs_log_vmsg(gs_log_level level, const char *fmt, va_list ap)
{
    static const char *tags[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    if (level < g_level)
        return;
    char line[LINE_MAX_LEN];
    uint64_t wall = gs_clock_wall_ms();
    time_t sec = (time_t)(wall / 1000u);
    struct tm tm;
    gmtime_r(&sec, &tm);
    int n = (int)strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
    n += snprintf(line + n, sizeof line - (size_t)n, ".%03dZ %s ", (int)(wall % 1000u),
                  tags[level]);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    if (m < 0)
        m = 0;
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len] = '\n';
    /* Warnings and errors are printed whatever logToStdout says: a failure is never silent. */
    bool print = !g_quiet && (g_out_proxy || level >= GS_LOG_WARN);
    if (print && g_journal) {
        static const char *prio[] = {"<7>", "<6>", "<4>", "<3>"};
        fputs(prio[level], stderr);
    }
    if (print)
        fwrite(line, 1, len + 1, stderr);
    gs_ring_append(gs_log_proxy_ring(), line, len + 1);
    gs_ring_append(gs_log_mux_ring(), line, len + 1);
    if (g_sink)
        g_sink("proxy", line, len, g_sink_ud);
}

void gs_log_msg(gs_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    gs_log_vmsg(level, fmt, ap);
    va_end(ap);
}

void gs_log_model_line(const char *model, const char *line, size_t len)
{
    gs_ring_append(gs_log_upstream_ring(), line, len);
    gs_ring_append(gs_log_upstream_ring(), "\n", 1);
    gs_ring *mux = gs_log_mux_ring();
    gs_ring_append(mux, "[", 1);
    gs_ring_append(mux, model, strlen(model));
    gs_ring_append(mux, "] ", 2);
    gs_ring_append(mux, line, len);
    gs_ring_append(mux, "\n", 1);
    if (g_out_upstream && !g_quiet) {
        /* stdout, as llama-swap copies its children's output there: a line at a time (journald
         * and docker read it live); under journald at info, whatever the line starts with. */
        if (g_journal)
            fputs("<6>", stdout);
        fwrite(line, 1, len, stdout);
        fputc('\n', stdout);
        fflush(stdout);
    }
    if (g_sink)
        g_sink(model, line, len, g_sink_ud);
}
