/* ctl: `ggswap ctl`, a blocking HTTP/1.1 client for the daemon's service endpoints. */
#include "ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <llhttp.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "mem.h"
#include "memest.h"

#define DEFAULT_URL "http://127.0.0.1:8091"
#define CONNECT_TIMEOUT_MS 10000
#define REQUEST_TIMEOUT_MS 60000
/* Loading waits for the model's health check; big models on slow disks take minutes. */
#define LOAD_TIMEOUT_MS (10 * 60 * 1000)
#define RESPONSE_MAX (16u << 20)

static void usage(FILE *f)
{
    fputs("usage: ggswap ctl [--url URL] [--json] COMMAND\n"
          "commands:\n"
          "  status          the service, its settings and every model\n"
          "  models          the models table only\n"
          "  ps              the models in memory, their size and where (like `ollama ps`),\n"
          "                  and each device's budget\n"
          "  start | stop | restart | regenerate\n"
          "                  control the service (as the page's buttons do)\n"
          "  load MODEL      start MODEL and wait until it is ready\n"
          "  unload [MODEL]  stop MODEL, or every model\n"
          "options:\n"
          "  --url URL       the daemon (default $GGSWAP_URL, else " DEFAULT_URL ")\n"
          "  --json          print the daemon's JSON answer instead of a summary\n"
          "environment:\n"
          "  GGSWAP_URL      default for --url\n"
          "  GGSWAP_API_KEY  sent as 'Authorization: Bearer ...' when the config has apiKeys\n",
          f);
}

/* ---- the URL ---- */

typedef struct url {
    char *host;   /* without IPv6 brackets */
    char *port;
    char *prefix; /* path before the API routes, "" or "/something" without a trailing '/' */
    char *shown;  /* scheme://host:port[prefix], for messages */
} url;

static void url_free(url *u)
{
    free(u->host);
    free(u->port);
    free(u->prefix);
    free(u->shown);
}

/* Accepts http://host[:port][/prefix], host[:port] and [v6][:port]. */
static int url_parse(const char *s, url *u, char **err)
{
    memset(u, 0, sizeof *u);
    const char *p = s;
    if (strncasecmp(p, "http://", 7) == 0) {
        p += 7;
    } else if (strstr(p, "://")) {
        *err = gs_mem_printf("unsupported URL '%s': ggswap serves plain HTTP, use http://", s);
        return -EINVAL;
    }
    const char *host, *hend, *after;
    if (*p == '[') {
        host = p + 1;
        hend = strchr(host, ']');
        if (!hend) {
            *err = gs_mem_printf("bad URL '%s': missing ']' after the IPv6 address", s);
            return -EINVAL;
        }
        after = hend + 1;
    } else {
        host = p;
        hend = p + strcspn(p, ":/?#");
        after = hend;
    }
    if (hend == host) {
        *err = gs_mem_printf("bad URL '%s': no host", s);
        return -EINVAL;
    }
    const char *port = "80";
    size_t port_len = 2;
    if (*after == ':') {
        port = after + 1;
        port_len = strcspn(port, "/?#");
        char *end;
        long n = strtol(port, &end, 10);
        if (port_len == 0 || end != port + port_len || n < 1 || n > 65535) {
            *err = gs_mem_printf("bad URL '%s': the port must be a number from 1 to 65535", s);
            return -EINVAL;
        }
        after = port + port_len;
    } else if (*after && *after != '/') {
        *err = gs_mem_printf("bad URL '%s'", s);
        return -EINVAL;
    }
    size_t plen = strcspn(after, "?#");
    while (plen && after[plen - 1] == '/')
        plen--;
    /* People paste the API URL that `status` shows; its /v1 belongs to the OpenAI routes. */
    if (plen >= 3 && strncmp(after + plen - 3, "/v1", 3) == 0)
        plen -= 3;
    while (plen && after[plen - 1] == '/')
        plen--;
    u->host = gs_mem_strndup(host, (size_t)(hend - host));
    u->port = gs_mem_strndup(port, port_len);
    u->prefix = gs_mem_strndup(after, plen);
    bool v6 = strchr(u->host, ':') != NULL;
    u->shown = gs_mem_printf("http://%s%s%s:%s%s", v6 ? "[" : "", u->host, v6 ? "]" : "", u->port,
                             u->prefix);
    return 0;
}

/* ---- the HTTP client ---- */

typedef struct response {
    int status;
    gs_buf body;
    bool complete;
    bool too_big;
} response;

static int on_body(llhttp_t *p, const char *at, size_t n)
{
    response *r = p->data;
    if (gs_buf_append(&r->body, at, n) < 0) {
        r->too_big = true;
        return -1;
    }
    return 0;
}

static int on_complete(llhttp_t *p)
{
    response *r = p->data;
    r->status = p->status_code;
    r->complete = true;
    return 0;
}

/* Waits for `events` on fd until the deadline. Returns 0, or -ETIMEDOUT / -errno. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - (int64_t)gs_clock_ms();
        if (left <= 0)
            return -ETIMEDOUT;
        struct pollfd pfd = {.fd = fd, .events = events};
        int n = poll(&pfd, 1, left > INT32_MAX ? INT32_MAX : (int)left);
        if (n > 0)
            return 0;
        if (n == 0)
            return -ETIMEDOUT;
        if (errno != EINTR)
            return -errno;
    }
}

static int connect_one(const struct addrinfo *ai, int64_t deadline)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                    ai->ai_protocol);
    if (fd < 0)
        return -errno;
    int rc = 0;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        if (errno != EINPROGRESS) {
            rc = -errno;
            goto out;
        }
        rc = wait_fd(fd, POLLOUT, deadline);
        if (rc < 0)
            goto out;
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
            rc = -errno;
        else if (soerr)
            rc = -soerr;
    }
out:
    if (rc < 0) {
        close(fd);
        return rc;
    }
    return fd;
}

/* Lower-cases strerror's first letter so it reads inside a sentence. */
static const char *reason(int err)
{
    static char b[256];
    if (err == ETIMEDOUT)
        return "timed out";
    snprintf(b, sizeof b, "%s", strerror(err));
    if (b[0] >= 'A' && b[0] <= 'Z' && !(b[1] >= 'A' && b[1] <= 'Z'))
        b[0] = (char)(b[0] - 'A' + 'a');
    return b;
}

static char *unreachable(const url *u, const char *why)
{
    return gs_mem_printf("cannot reach %s: %s — is ggswap running? (start it with `ggswap "
                         "serve`)",
                         u->shown, why);
}

/* One request on a fresh connection. On failure *err says what went wrong; the return is -1 for
 * "could not reach / talk to the daemon". */
static int http_do(const url *u, const char *method, const char *path, int timeout_ms,
                   response *r, char **err)
{
    int fd = -1, rc = -1;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    gs_buf req;
    gs_buf_init(&req, 0);
    llhttp_t parser;
    llhttp_settings_t settings;
    memset(r, 0, sizeof *r);
    gs_buf_init(&r->body, RESPONSE_MAX);

    int gai = getaddrinfo(u->host, u->port, &hints, &res);
    if (gai != 0) {
        *err = gs_mem_printf("cannot reach %s: cannot resolve %s (%s); check --url or "
                             "$GGSWAP_URL",
                             u->shown, u->host, gai_strerror(gai));
        goto out;
    }
    int64_t deadline = (int64_t)gs_clock_ms() + CONNECT_TIMEOUT_MS;
    int cerr = ECONNREFUSED;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = connect_one(ai, deadline);
        if (fd < 0)
            cerr = -fd;
    }
    if (fd < 0) {
        char *why = cerr == ETIMEDOUT
                        ? gs_mem_printf("no connection within %d s", CONNECT_TIMEOUT_MS / 1000)
                        : gs_mem_strdup(reason(cerr));
        *err = unreachable(u, why);
        free(why);
        goto out;
    }

    bool v6 = strchr(u->host, ':') != NULL;
    gs_buf_printf(&req, "%s %s%s HTTP/1.1\r\nHost: %s%s%s%s%s\r\n", method, u->prefix, path,
                  v6 ? "[" : "", u->host, v6 ? "]" : "", strcmp(u->port, "80") ? ":" : "",
                  strcmp(u->port, "80") ? u->port : "");
    gs_buf_puts(&req, "User-Agent: ggswap-ctl\r\nAccept: application/json\r\n"
                      "Connection: close\r\n");
    const char *key = getenv("GGSWAP_API_KEY");
    if (key && *key)
        gs_buf_printf(&req, "Authorization: Bearer %s\r\n", key);
    if (strcmp(method, "POST") == 0)
        gs_buf_puts(&req, "Content-Length: 0\r\n");
    gs_buf_puts(&req, "\r\n");

    deadline = (int64_t)gs_clock_ms() + timeout_ms;
    for (size_t off = 0; off < req.len;) {
        ssize_t n = send(fd, req.data + off, req.len - off, MSG_NOSIGNAL);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        int e = n < 0 ? errno : EPIPE;
        if (e == EINTR)
            continue;
        if (e == EAGAIN || e == EWOULDBLOCK) {
            e = -wait_fd(fd, POLLOUT, deadline);
            if (e == 0)
                continue;
        }
        *err = gs_mem_printf("sending the request to %s failed: %s", u->shown, reason(e));
        goto out;
    }

    llhttp_settings_init(&settings);
    settings.on_body = on_body;
    settings.on_message_complete = on_complete;
    llhttp_init(&parser, HTTP_RESPONSE, &settings);
    parser.data = r;
    char chunk[65536];
    while (!r->complete) {
        ssize_t n = recv(fd, chunk, sizeof chunk, 0);
        if (n < 0) {
            int e = errno;
            if (e == EINTR)
                continue;
            if (e == EAGAIN || e == EWOULDBLOCK) {
                int w = wait_fd(fd, POLLIN, deadline);
                if (w == -ETIMEDOUT) {
                    *err = gs_mem_printf("%s did not answer %s %s within %d s", u->shown, method,
                                         path, timeout_ms / 1000);
                    goto out;
                }
                if (w == 0)
                    continue;
                e = -w;
            }
            *err = gs_mem_printf("reading the answer from %s failed: %s", u->shown, reason(e));
            goto out;
        }
        llhttp_errno_t pe = n == 0 ? llhttp_finish(&parser) : llhttp_execute(&parser, chunk, (size_t)n);
        if (r->too_big) {
            *err = gs_mem_printf("the answer from %s is larger than %u MiB", u->shown,
                                 RESPONSE_MAX >> 20);
            goto out;
        }
        if (pe != HPE_OK) {
            *err = gs_mem_printf("%s sent a malformed HTTP answer (%s)", u->shown,
                                 llhttp_get_error_reason(&parser));
            goto out;
        }
        if (n == 0 && !r->complete) {
            *err = gs_mem_printf("%s closed the connection before answering %s %s", u->shown,
                                 method, path);
            goto out;
        }
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    if (res)
        freeaddrinfo(res);
    gs_buf_free(&req);
    return rc;
}

/* Unreserved characters, ':' and '/' stay; everything else is %XX. */
static char *pct_encode(const char *s)
{
    gs_buf b;
    gs_buf_init(&b, 0);
    gs_buf_puts(&b, "");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~' || c == ':' || c == '/')
            gs_buf_append(&b, p, 1);
        else
            gs_buf_printf(&b, "%%%02X", c);
    }
    return gs_buf_steal(&b);
}

/* ---- output ---- */

static const char *jstr(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* Display width in characters (UTF-8 continuation bytes do not count). */
static int width(const char *s)
{
    int w = 0;
    for (; *s; s++)
        w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

static void print_padded(const char *s, int w, bool last)
{
    fputs(s, stdout);
    if (!last)
        for (int i = width(s); i < w + 2; i++)
            putchar(' ');
}

static char *fmt_duration(double secs)
{
    if (!isfinite(secs) || secs < 0)
        return gs_mem_strdup("-");
    long t = (long)(secs + 0.5);
    if (t < 60)
        return gs_mem_printf("%lds", t);
    if (t < 3600)
        return gs_mem_printf("%ldm%02lds", t / 60, t % 60);
    if (t < 86400)
        return gs_mem_printf("%ldh%02ldm", t / 3600, (t % 3600) / 60);
    return gs_mem_printf("%ldd%02ldh", t / 86400, (t % 86400) / 3600);
}

enum { COL_ID, COL_STATE, COL_KIND, COL_PARAMS, COL_ALIASES, COL_TTL, NCOLS };

static void print_models(const json_t *models)
{
    static const char *head[NCOLS] = {"MODEL", "STATE", "KIND", "PARAMS", "ALIASES", "TTL LEFT"};
    size_t n = json_array_size(models);
    if (n == 0) {
        puts("no models in the config");
        return;
    }
    char **cells = gs_mem_calloc(n * NCOLS, sizeof *cells);
    int w[NCOLS];
    for (int c = 0; c < NCOLS; c++)
        w[c] = width(head[c]);
    for (size_t i = 0; i < n; i++) {
        const json_t *m = json_array_get(models, i);
        char **row = cells + i * NCOLS;
        const char *s;
        row[COL_ID] = gs_mem_strdup((s = jstr(m, "id")) ? s : "?");
        row[COL_STATE] = gs_mem_strdup((s = jstr(m, "state")) ? s : "?");
        row[COL_KIND] = gs_mem_strdup((s = jstr(m, "kind")) ? s : "-");
        row[COL_PARAMS] = gs_mem_strdup((s = jstr(m, "parameters")) ? s : "-");
        gs_buf al;
        gs_buf_init(&al, 0);
        const json_t *a = json_object_get(m, "aliases");
        for (size_t k = 0; k < json_array_size(a); k++)
            if (json_string_value(json_array_get(a, k)))
                gs_buf_printf(&al, "%s%s", al.len ? ", " : "",
                              json_string_value(json_array_get(a, k)));
        row[COL_ALIASES] = al.len ? gs_buf_steal(&al) : gs_mem_strdup("-");
        gs_buf_free(&al);
        const json_t *tl = json_object_get(m, "ttl_left");
        row[COL_TTL] = json_is_number(tl) ? fmt_duration(json_number_value(tl)) : gs_mem_strdup("-");
        for (int c = 0; c < NCOLS; c++)
            if (width(row[c]) > w[c])
                w[c] = width(row[c]);
    }
    for (int c = 0; c < NCOLS; c++)
        print_padded(head[c], w[c], c == NCOLS - 1);
    putchar('\n');
    for (size_t i = 0; i < n; i++) {
        for (int c = 0; c < NCOLS; c++)
            print_padded(cells[i * NCOLS + c], w[c], c == NCOLS - 1);
        putchar('\n');
    }
    /* A failed model's reason is the tail of its log; its last line says the most. */
    for (size_t i = 0; i < n; i++) {
        const json_t *m = json_array_get(models, i);
        const char *e = jstr(m, "error");
        if (!e || !*e)
            continue;
        size_t len = strlen(e);
        while (len && (e[len - 1] == '\n' || e[len - 1] == '\r'))
            len--;
        size_t start = len;
        while (start && e[start - 1] != '\n')
            start--;
        printf("! %s failed: %.*s\n", cells[i * NCOLS + COL_ID], (int)(len - start), e + start);
    }
    for (size_t i = 0; i < n * NCOLS; i++)
        free(cells[i]);
    free(cells);
}

static void print_status(const json_t *o)
{
    const char *s;
    const json_t *v;
    printf("ggswap is %s\n", (s = jstr(o, "state")) ? s : "?");
    printf("  listen:        %s\n", (s = jstr(o, "listen")) ? s : "-");
    printf("  API URL:       %s\n", (s = jstr(o, "api_url")) ? s : "-");
    const char *mode = jstr(o, "mode");
    printf("  config:        %s%s%s%s\n", (s = jstr(o, "config")) ? s : "-",
           mode ? " (" : "", mode ? mode : "", mode ? ")" : "");
    v = json_object_get(o, "models_dirs");
    if (json_array_size(v) > 0) {
        for (size_t i = 0; i < json_array_size(v); i++)
            printf("  %-15s%s\n", i == 0 ? "model folders:" : "",
                   (s = json_string_value(json_array_get(v, i))) ? s : "?");
    } else {
        printf("  model folders: -\n");
    }
    /* A hand-written config names its servers in each cmd; only the integrated mode looks. */
    bool integrated = !mode || strcmp(mode, "integrated") == 0;
    v = json_object_get(o, "llama_server");
    if (json_is_string(v))
        printf("  llama-server:  %s\n", json_string_value(v));
    else
        printf("  llama-server:  %s\n", integrated ? "not found" : "- (each model's cmd)");
    v = json_object_get(o, "uptime");
    s = jstr(o, "state");
    if (json_is_number(v) && s && strcmp(s, "running") == 0) {
        char *d = fmt_duration(json_number_value(v));
        printf("  uptime:        %s\n", d);
        free(d);
    }
    if ((s = jstr(o, "version")))
        printf("  version:       %s\n", s);
    v = json_object_get(o, "problems");
    for (size_t i = 0; i < json_array_size(v); i++)
        if ((s = json_string_value(json_array_get(v, i))))
            printf("! %s\n", s);
    putchar('\n');
    print_models(json_object_get(o, "models"));
}

static char *fmt_bytes(const json_t *v)
{
    char b[16];
    if (!json_is_integer(v))
        return gs_mem_strdup("-");
    return gs_mem_strdup(gs_memest_human((uint64_t)json_integer_value(v), b, sizeof b));
}

/* `ggswap ctl ps`: the models that hold memory, as `ollama ps` shows them. */
static void print_ps(const json_t *o)
{
    enum { C_NAME, C_STATE, C_SIZE, C_EST, C_PROC, NC };
    static const char *const head[NC] = {"NAME", "STATE", "SIZE", "ESTIMATE", "PROCESSOR"};
    const json_t *models = json_object_get(o, "models");
    size_t n = json_array_size(models), rows = 0;
    char **cells = gs_mem_calloc(n * NC + 1, sizeof *cells);
    int w[NC];
    for (int c = 0; c < NC; c++)
        w[c] = width(head[c]);
    for (size_t i = 0; i < n; i++) {
        const json_t *m = json_array_get(models, i);
        const char *st = jstr(m, "state");
        if (!st || !strcmp(st, "stopped") || !strcmp(st, "failed"))
            continue;
        char **row = cells + rows++ * NC;
        row[C_NAME] = gs_mem_strdup(jstr(m, "model") ? jstr(m, "model") : "?");
        row[C_STATE] = gs_mem_strdup(st);
        const json_t *used = json_object_get(m, "used");
        row[C_SIZE] = fmt_bytes(json_is_integer(used) ? used : json_object_get(m, "measured"));
        row[C_EST] = fmt_bytes(json_object_get(m, "estimate"));
        /* where it lives: the share of what it needs in RAM and on the GPUs */
        const json_t *need = json_object_get(json_object_get(m, "byDevice"), "need");
        double cpu = 0, gpu = 0;
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)need, k, v) {
            if (!strcmp(k, "ram"))
                cpu += (double)json_integer_value(v);
            else
                gpu += (double)json_integer_value(v);
        }
        if (gpu <= 0)
            row[C_PROC] = gs_mem_strdup("100% CPU");
        else if (cpu <= 0)
            row[C_PROC] = gs_mem_strdup("100% GPU");
        else
            row[C_PROC] = gs_mem_printf("%.0f%%/%.0f%% CPU/GPU", 100 * cpu / (cpu + gpu),
                                        100 * gpu / (cpu + gpu));
        for (int c = 0; c < NC; c++)
            if (width(row[c]) > w[c])
                w[c] = width(row[c]);
    }
    for (int c = 0; c < NC; c++)
        print_padded(head[c], w[c], c == NC - 1);
    putchar('\n');
    for (size_t i = 0; i < rows; i++) {
        for (int c = 0; c < NC; c++)
            print_padded(cells[i * NC + c], w[c], c == NC - 1);
        putchar('\n');
    }
    const json_t *devs = json_object_get(o, "devices");
    for (size_t i = 0; i < json_array_size(devs); i++) {
        const json_t *d = json_array_get(devs, i);
        char *u = fmt_bytes(json_object_get(d, "used")), *b = fmt_bytes(json_object_get(d, "budget")),
             *f = fmt_bytes(json_object_get(d, "free"));
        const char *desc = jstr(d, "desc");
        printf("%s%s%s%s: %s used of a %s budget, %s free\n", jstr(d, "name") ? jstr(d, "name") : "?",
               desc && *desc ? " (" : "", desc && *desc ? desc : "", desc && *desc ? ")" : "", u, b, f);
        free(u);
        free(b);
        free(f);
    }
    if (!json_is_true(json_object_get(o, "enabled")))
        puts("memory-aware scheduling is off (add `memory:` to the config to turn it on)");
    const json_t *ev = json_object_get(o, "events");
    for (size_t i = json_array_size(ev) > 5 ? json_array_size(ev) - 5 : 0; i < json_array_size(ev); i++)
        printf("  %s %s\n", jstr(json_array_get(ev, i), "time") ? jstr(json_array_get(ev, i), "time") : "",
               jstr(json_array_get(ev, i), "message") ? jstr(json_array_get(ev, i), "message") : "");
    for (size_t i = 0; i < rows * NC; i++)
        free(cells[i]);
    free(cells);
}

/* The daemon's error: the OpenAI shape, else whatever text it sent. */
static void print_http_error(const url *u, const response *r)
{
    json_error_t je;
    json_t *o = json_loadb(r->body.data ? r->body.data : "", r->body.len, 0, &je);
    const char *msg = NULL;
    if (o) {
        json_t *e = json_object_get(o, "error");
        msg = json_is_object(e) ? jstr(e, "message") : json_string_value(e);
        if (!msg)
            msg = jstr(o, "message");
    }
    if (msg) {
        fprintf(stderr, "ggswap ctl: %s\n", msg);
    } else {
        size_t len = r->body.len;
        while (len && (r->body.data[len - 1] == '\n' || r->body.data[len - 1] == '\r'))
            len--;
        /* Not ggswap's error shape: maybe something else listens there. */
        if (len)
            fprintf(stderr, "ggswap ctl: HTTP %d from %s: %.*s\n", r->status, u->shown,
                    (int)len, r->body.data);
        else
            fprintf(stderr, "ggswap ctl: HTTP %d from %s (no message) — is it ggswap?\n",
                    r->status, u->shown);
    }
    if (r->status == 401)
        fprintf(stderr, "ggswap ctl: set GGSWAP_API_KEY to one of the config's apiKeys\n");
    json_decref(o);
}

static void print_raw(const response *r)
{
    if (!r->body.len)
        return;
    fwrite(r->body.data, 1, r->body.len, stdout);
    if (r->body.data[r->body.len - 1] != '\n')
        putchar('\n');
}

/* ---- commands ---- */

/* What each command asks (its path from the command word and the model) and prints. */
static char *path_service(const char *cmd, const char *model)
{
    return gs_mem_strdup("/api/service");
}

static char *path_action(const char *cmd, const char *model)
{
    return gs_mem_printf("/api/service/%s", cmd);
}

static char *path_memory(const char *cmd, const char *model)
{
    return gs_mem_strdup("/api/memory");
}

static char *path_model(const char *prefix, const char *model)
{
    if (!model)
        return gs_mem_strdup(prefix);
    char *enc = pct_encode(model);
    char *p = gs_mem_printf("%s/%s", prefix, enc);
    free(enc);
    return p;
}

static char *path_load(const char *cmd, const char *model)
{
    return path_model("/api/models/load", model);
}

static char *path_unload(const char *cmd, const char *model)
{
    return path_model("/api/models/unload", model);
}

static void show_status(const json_t *body, const char *model)
{
    print_status(body);
}

static void show_models(const json_t *body, const char *model)
{
    print_models(json_object_get(body, "models"));
}

static void show_ps(const json_t *body, const char *model)
{
    print_ps(body);
}

static void show_action(const json_t *body, const char *model)
{
    const char *m = jstr(body, "message");
    puts(m ? m : "ok");
    /* regenerate says what changed; the lists are empty on a plain reload. */
    static const char *lists[] = {"added", "removed", "changed"};
    for (size_t i = 0; i < GS_ARRAY_LEN(lists); i++) {
        const json_t *a = json_object_get(body, lists[i]);
        if (json_array_size(a) == 0)
            continue;
        printf("  %s:", lists[i]);
        for (size_t k = 0; k < json_array_size(a); k++) {
            const char *s = json_string_value(json_array_get(a, k));
            printf("%s %s", k ? "," : "", s ? s : "?");
        }
        putchar('\n');
    }
}

static void show_load(const json_t *body, const char *model)
{
    const char *id = jstr(body, "model");
    if (id && strcmp(id, model) != 0)
        printf("%s is ready (model %s)\n", model, id);
    else
        printf("%s is ready\n", model);
}

static void show_unload(const json_t *body, const char *model)
{
    if (model)
        printf("%s unloaded\n", model);
    else
        puts("every model unloaded");
}

typedef struct ctl_cmd {
    const char *name;
    int min_args, max_args; /* words, the command's own included */
    const char *method;
    char *(*path)(const char *cmd, const char *model); /* new string */
    int timeout_ms;
    void (*show)(const json_t *body, const char *model);
    const char *json_member; /* --json prints only this member of the answer; NULL: all of it */
} ctl_cmd;

static const ctl_cmd cmds[] = {
    {"status", 1, 1, "GET", path_service, REQUEST_TIMEOUT_MS, show_status, NULL},
    {"models", 1, 1, "GET", path_service, REQUEST_TIMEOUT_MS, show_models, "models"},
    {"ps", 1, 1, "GET", path_memory, REQUEST_TIMEOUT_MS, show_ps, NULL},
    {"start", 1, 1, "POST", path_action, REQUEST_TIMEOUT_MS, show_action, NULL},
    {"stop", 1, 1, "POST", path_action, REQUEST_TIMEOUT_MS, show_action, NULL},
    {"restart", 1, 1, "POST", path_action, REQUEST_TIMEOUT_MS, show_action, NULL},
    {"regenerate", 1, 1, "POST", path_action, REQUEST_TIMEOUT_MS, show_action, NULL},
    {"load", 2, 2, "POST", path_load, LOAD_TIMEOUT_MS, show_load, NULL},
    {"unload", 1, 2, "POST", path_unload, REQUEST_TIMEOUT_MS, show_unload, NULL},
};

/* The options before the command. Returns 0 to go on, else the exit status (usage printed). */
static int parse_opts(int argc, char **argv, const char **url_arg, bool *as_json)
{
    static const struct option lo[] = {
        {"url", required_argument, 0, 'u'},
        {"json", no_argument, 0, 'j'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":u:jh", lo, NULL)) != -1) {
        switch (c) {
        case 'u': *url_arg = optarg; break;
        case 'j': *as_json = true; break;
        case 'h': usage(stdout); return -1;
        case ':':
            fprintf(stderr, "ggswap ctl: %s needs a value\n", argv[optind - 1]);
            usage(stderr);
            return 2;
        default:
            if (optopt)
                fprintf(stderr, "ggswap ctl: unknown option '-%c'\n", optopt);
            else
                fprintf(stderr, "ggswap ctl: unknown option '%s'\n", argv[optind - 1]);
            usage(stderr);
            return 2;
        }
    }
    return 0;
}

/* The command of args[0] with its arguments checked, or NULL (usage printed; *rc set). */
static const ctl_cmd *find_cmd(int nargs, char **args, int *rc)
{
    *rc = 2;
    if (nargs == 0) {
        fprintf(stderr, "ggswap ctl: which command?\n");
        usage(stderr);
        return NULL;
    }
    const char *cmd = args[0];
    if (strcmp(cmd, "help") == 0) {
        usage(stdout);
        *rc = 0;
        return NULL;
    }
    const ctl_cmd *k = NULL;
    for (size_t i = 0; i < GS_ARRAY_LEN(cmds) && !k; i++)
        if (strcmp(cmd, cmds[i].name) == 0)
            k = &cmds[i];
    if (!k) {
        fprintf(stderr, "ggswap ctl: unknown command '%s'\n", cmd);
        usage(stderr);
        return NULL;
    }
    if (nargs < k->min_args) {
        fprintf(stderr, "ggswap ctl: %s needs a model name\n", cmd);
        usage(stderr);
        return NULL;
    }
    if (nargs > k->max_args) {
        fprintf(stderr, "ggswap ctl: unexpected argument '%s' after %s\n", args[k->max_args], cmd);
        usage(stderr);
        return NULL;
    }
    if (nargs > 1 && !*args[1]) {
        fprintf(stderr, "ggswap ctl: the model name is empty\n");
        usage(stderr);
        return NULL;
    }
    return k;
}

int gs_ctl_main(int argc, char **argv)
{
    const char *url_arg = NULL;
    bool as_json = false;
    int rc;
    url u;
    memset(&u, 0, sizeof u);
    response r;
    memset(&r, 0, sizeof r);
    char *err = NULL, *path = NULL;
    json_t *body = NULL;

    if ((rc = parse_opts(argc, argv, &url_arg, &as_json)) != 0) {
        rc = rc < 0 ? 0 : rc;
        goto out;
    }
    int nargs = argc - optind;
    char **args = argv + optind;
    const ctl_cmd *k = find_cmd(nargs, args, &rc);
    if (!k)
        goto out;
    const char *model = nargs > 1 ? args[1] : NULL;

    if (!url_arg || !*url_arg)
        url_arg = getenv("GGSWAP_URL");
    if (!url_arg || !*url_arg)
        url_arg = DEFAULT_URL;
    if (url_parse(url_arg, &u, &err) < 0) {
        fprintf(stderr, "ggswap ctl: %s\n", err);
        goto out;
    }

    path = k->path(k->name, model);
    rc = 1;
    if (http_do(&u, k->method, path, k->timeout_ms, &r, &err) < 0) {
        fprintf(stderr, "ggswap ctl: %s\n", err);
        goto out;
    }
    if (r.status < 200 || r.status > 299) {
        if (as_json)
            print_raw(&r);
        print_http_error(&u, &r);
        goto out;
    }
    json_error_t je;
    body = json_loadb(r.body.data ? r.body.data : "", r.body.len, 0, &je);
    if (!body) {
        fprintf(stderr,
                "ggswap ctl: %s%s answered with something that is not JSON (%s) — is it ggswap?\n",
                u.shown, path, je.text);
        goto out;
    }
    if (as_json && k->json_member) {
        char *d = json_dumps(json_object_get(body, k->json_member), JSON_COMPACT);
        puts(d ? d : "[]");
        free(d);
    } else if (as_json) {
        print_raw(&r);
    } else {
        k->show(body, model);
    }
    rc = 0;
out:
    fflush(stdout);
    json_decref(body);
    gs_buf_free(&r.body);
    free(err);
    free(path);
    url_free(&u);
    return rc;
}
