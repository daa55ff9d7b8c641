/* fetch: libcurl multi transfers on the libuv loop (see fetch.h). */
#include "fetch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "curlso.h"
#include "log.h"
#include "mem.h"

struct gs_fetch {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    gs_fetch_req *reqs;     /* every transfer in flight, a doubly linked list */
    int nreqs;
    int depth;              /* > 0 while dispatching curl's results (free is deferred) */
    bool closing;
};

struct gs_fetch_req {
    gs_fetch *f;
    gs_fetch_req *prev, *next;
    CURL *easy;
    struct curl_slist *headers;
    gs_fetch_opts o;
    char *url;
    gs_fetch_info info;
    bool head_sent;
    char errbuf[CURL_ERROR_SIZE];
};

typedef struct sock_ctx {
    uv_poll_t poll;
    curl_socket_t fd;
    gs_fetch *f;
} sock_ctx;

static void free_now(gs_fetch *f);

/* libcurl's functions, once the first transfer has loaded it (every use below comes after). */
static const gs_curl *K;

static void unlink_req(gs_fetch_req *r)
{
    gs_fetch *f = r->f;
    if (r->prev)
        r->prev->next = r->next;
    else
        f->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    f->nreqs--;
}

static void destroy_req(gs_fetch_req *r)
{
    K->multi_remove_handle(r->f->multi, r->easy);
    K->easy_cleanup(r->easy);
    K->slist_free_all(r->headers);
    free(r->url);
    free(r);
}

static int map_code(CURLcode c)
{
    switch (c) {
    case CURLE_OK: return 0;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT: return GS_FETCH_ENET;
    case CURLE_OPERATION_TIMEDOUT: return GS_FETCH_ESTALL;
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM: return GS_FETCH_ECUT;
    case CURLE_WRITE_ERROR:
    case CURLE_ABORTED_BY_CALLBACK: return GS_FETCH_EABORT;
    default: return -EIO;
    }
}

static void send_head(gs_fetch_req *r)
{
    long code = 0;
    K->easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
    r->info.status = (int)code;
    r->head_sent = true;
}

static void check_info(gs_fetch *f)
{
    CURLMsg *m;
    int left;
    f->depth++;
    while (!f->closing && (m = K->multi_info_read(f->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        gs_fetch_req *r = NULL;
        K->easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        CURLcode cc = m->data.result;
        int rc = map_code(cc);
        if (!r->head_sent) {
            send_head(r);
            if (rc == 0 && r->o.on_head && r->o.on_head(r, &r->info, r->o.ud) < 0)
                rc = GS_FETCH_EABORT;
        }
        char msg[CURL_ERROR_SIZE + 64];
        snprintf(msg, sizeof msg, "%s", r->errbuf[0] ? r->errbuf : K->easy_strerror(cc));
        unlink_req(r);
        if (r->o.on_done)
            r->o.on_done(r, rc, rc ? msg : NULL, &r->info, r->o.ud);
        destroy_req(r);
    }
    f->depth--;
    if (f->closing && f->depth == 0)
        free_now(f);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    sock_ctx *c = h->data;
    gs_fetch *f = c->f;
    int flags = 0, running;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    else {
        if (events & UV_READABLE)
            flags |= CURL_CSELECT_IN;
        if (events & UV_WRITABLE)
            flags |= CURL_CSELECT_OUT;
    }
    f->depth++;
    K->multi_socket_action(f->multi, c->fd, flags, &running);
    f->depth--;
    check_info(f);
}

static void on_timer(uv_timer_t *t)
{
    gs_fetch *f = t->data;
    int running;
    f->depth++;
    K->multi_socket_action(f->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    f->depth--;
    check_info(f);
}

static void sock_closed(uv_handle_t *h)
{
    free(h->data);
}

static int sock_cb(CURL *e, curl_socket_t s, int what, void *userp, void *sockp)
{
    gs_fetch *f = userp;
    sock_ctx *c = sockp;
    if (what == CURL_POLL_REMOVE) {
        if (c) {
            uv_poll_stop(&c->poll);
            uv_close((uv_handle_t *)&c->poll, sock_closed);
            K->multi_assign(f->multi, s, NULL);
        }
        return 0;
    }
    if (!c) {
        c = gs_mem_calloc(1, sizeof *c);
        c->fd = s;
        c->f = f;
        if (uv_poll_init_socket(f->loop, &c->poll, s) < 0) {
            free(c);
            return -1;
        }
        c->poll.data = c;
        K->multi_assign(f->multi, s, c);
    }
    int ev = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
        ev |= UV_READABLE;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
        ev |= UV_WRITABLE;
    uv_poll_start(&c->poll, ev, on_poll);
    return 0;
}

static int timer_cb(CURLM *m, long timeout_ms, void *userp)
{
    gs_fetch *f = userp;
    if (timeout_ms < 0)
        uv_timer_stop(&f->timer);
    else
        uv_timer_start(&f->timer, on_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

gs_fetch *gs_fetch_new(uv_loop_t *loop)
{
    gs_fetch *f = gs_mem_calloc(1, sizeof *f);
    f->loop = loop;
    uv_timer_init(loop, &f->timer);
    f->timer.data = f;
    return f;
}

/* libcurl and the multi handle come with the first transfer (curlso.h: a daemon that never
 * downloads never loads it). Returns 0, or -ENOSYS / -ENOMEM with *why set. */
static int ready(gs_fetch *f, const char **why)
{
    if (f->multi)
        return 0;
    if (!(K = gs_curlso_get(why)))
        return -ENOSYS;
    f->multi = K->multi_init();
    if (!f->multi) {
        *why = "curl_multi_init failed (out of memory?)";
        return -ENOMEM;
    }
    K->multi_setopt(f->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
    K->multi_setopt(f->multi, CURLMOPT_SOCKETDATA, f);
    K->multi_setopt(f->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    K->multi_setopt(f->multi, CURLMOPT_TIMERDATA, f);
    return 0;
}

static void timer_closed(uv_handle_t *h)
{
    free(h->data);
}

static void free_now(gs_fetch *f)
{
    while (f->reqs) {
        gs_fetch_req *r = f->reqs;
        unlink_req(r);
        destroy_req(r);
    }
    if (f->multi)
        K->multi_cleanup(f->multi);
    f->multi = NULL;
    uv_close((uv_handle_t *)&f->timer, timer_closed);
}

void gs_fetch_free(gs_fetch *f)
{
    if (!f || f->closing)
        return;
    f->closing = true;
    if (f->depth == 0)
        free_now(f);
}

/* Header lines of every response in the redirect chain. */
static size_t on_header(char *b, size_t size, size_t n, void *ud)
{
    gs_fetch_req *r = ud;
    size_t len = size * n;
    char line[1200];
    size_t l = len < sizeof line - 1 ? len : sizeof line - 1;
    memcpy(line, b, l);
    line[l] = 0;
    while (l && (line[l - 1] == '\r' || line[l - 1] == '\n'))
        line[--l] = 0;
    if (strncmp(line, "HTTP/", 5) == 0) {
        /* A new response: what the previous one said about itself no longer applies. */
        r->info.error_code[0] = 0;
        r->info.range_start = -1;
        r->info.length = -1;
        r->info.next_url[0] = 0;
        return len;
    }
    char *colon = strchr(line, ':');
    if (!colon)
        return len;
    *colon = 0;
    char *v = colon + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    if (strcasecmp(line, "x-error-code") == 0) {
        snprintf(r->info.error_code, sizeof r->info.error_code, "%s", v);
    } else if (strcasecmp(line, "x-linked-etag") == 0) {
        if (*v == 'W' && v[1] == '/')
            v += 2;
        size_t vl = strlen(v);
        if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
            v[vl - 1] = 0;
            v++;
        }
        snprintf(r->info.linked_etag, sizeof r->info.linked_etag, "%s", v);
    } else if (strcasecmp(line, "x-linked-size") == 0) {
        r->info.linked_size = strtoll(v, NULL, 10);
    } else if (strcasecmp(line, "content-length") == 0) {
        r->info.length = strtoll(v, NULL, 10);
    } else if (strcasecmp(line, "content-range") == 0) {
        if (strncasecmp(v, "bytes ", 6) == 0 && v[6] >= '0' && v[6] <= '9')
            r->info.range_start = strtoll(v + 6, NULL, 10);
    } else if (strcasecmp(line, "link") == 0) {
        /* <https://...>; rel="next" */
        char *lt = strchr(v, '<'), *gt = lt ? strchr(lt, '>') : NULL;
        if (lt && gt && strstr(gt, "rel=\"next\"") && (size_t)(gt - lt - 1) < sizeof r->info.next_url)
            snprintf(r->info.next_url, sizeof r->info.next_url, "%.*s", (int)(gt - lt - 1), lt + 1);
    }
    return len;
}

static size_t on_write(char *b, size_t size, size_t n, void *ud)
{
    gs_fetch_req *r = ud;
    size_t len = size * n;
    if (!r->head_sent) {
        send_head(r);
        if (r->o.on_head && r->o.on_head(r, &r->info, r->o.ud) < 0)
            return 0;
    }
    if (r->o.on_data && r->o.on_data(r, b, len, r->o.ud) < 0)
        return 0;
    return len;
}

int gs_fetch_start(gs_fetch *f, const gs_fetch_opts *o, gs_fetch_req **out)
{
    if (out)
        *out = NULL;
    if (f->closing)
        return -ESHUTDOWN;
    const char *why = NULL;
    int rc = ready(f, &why);
    if (rc < 0) {
        gs_error("downloads: %s", why);
        return rc;
    }
    gs_fetch_req *r = gs_mem_calloc(1, sizeof *r);
    r->f = f;
    r->o = *o;
    r->url = gs_mem_strdup(o->url);
    r->info.linked_size = -1;
    r->info.range_start = -1;
    r->info.length = -1;
    r->easy = K->easy_init();
    if (!r->easy) {
        free(r->url);
        free(r);
        return -ENOMEM;
    }
    CURL *e = r->easy;
    K->easy_setopt(e, CURLOPT_URL, r->url);
    K->easy_setopt(e, CURLOPT_PRIVATE, r);
    K->easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
    K->easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    K->easy_setopt(e, CURLOPT_MAXREDIRS, 10L);
    K->easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    K->easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    K->easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    K->easy_setopt(e, CURLOPT_USERAGENT, "ggswap/" GS_VERSION);
    K->easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    K->easy_setopt(e, CURLOPT_CONNECTTIMEOUT, o->connect_s > 0 ? o->connect_s : 20L);
    K->easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
    K->easy_setopt(e, CURLOPT_LOW_SPEED_TIME, o->stall_s > 0 ? o->stall_s : 30L);
    K->easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    K->easy_setopt(e, CURLOPT_HEADERDATA, r);
    K->easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    K->easy_setopt(e, CURLOPT_WRITEDATA, r);
    if (o->bearer && *o->bearer) {
        char *h = gs_mem_printf("Authorization: Bearer %s", o->bearer);
        r->headers = K->slist_append(r->headers, h);
        free(h);
    }
    if (r->headers)
        K->easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
    if (o->range_from > 0) {
        char range[48];
        snprintf(range, sizeof range, "%lld-", (long long)o->range_from);
        K->easy_setopt(e, CURLOPT_RANGE, range);
    }
    r->next = f->reqs;
    if (f->reqs)
        f->reqs->prev = r;
    f->reqs = r;
    f->nreqs++;
    CURLMcode mc = K->multi_add_handle(f->multi, e);
    if (mc != CURLM_OK) {
        unlink_req(r);
        destroy_req(r);
        return -EIO;
    }
    if (out)
        *out = r;
    return 0;
}

void gs_fetch_cancel(gs_fetch_req *r)
{
    if (!r)
        return;
    unlink_req(r);
    destroy_req(r);
}

double gs_fetch_speed(gs_fetch_req *r)
{
    curl_off_t v = 0;
    K->easy_getinfo(r->easy, CURLINFO_SPEED_DOWNLOAD_T, &v);
    return (double)v;
}

int gs_fetch_active(const gs_fetch *f)
{
    return f->nreqs;
}

const char *gs_fetch_strerror(int rc)
{
    const char *why = NULL;
    if (rc == -ENOSYS && !gs_curlso_get(&why))
        return why;
    return strerror(-rc);
}
