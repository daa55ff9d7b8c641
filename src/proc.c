#include "proc.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "cmdline.h"
#include "mem.h"
#include "prefetch.h"
#include "strv.h"

#define LOG_RING_SIZE (128 * 1024)
#define LINE_MAX_BYTES 4096
#define STOP_TIMEOUT_MS 5000
#define HEALTH_FIRST_MS 2
#define HEALTH_MAX_MS 50

extern char **environ;

static char *g_shim;

/* One child process with its two output pipes. It outlives its gs_proc's interest in it when
 * a stop is slow, so it is a separate object, freed when its three handles are closed. */
struct gs_proc_run {
    gs_proc *p;               /* NULL once the proc has let go of it */
    uv_process_t child;
    uv_pipe_t out[2];
    gs_buf line[2];
    int handles;
    int pipes_open;
    int pid;
    bool exited;
    int64_t exit_status;
    int term_signal;
};

static void set_state(gs_proc *p, gs_proc_state st, const char *why);
static void health_check(gs_proc *p);
static void maybe_free(gs_proc *p);
static void run_check(gs_proc_run *r);

const char *gs_proc_state_name(gs_proc_state s)
{
    switch (s) {
    case GS_PROC_STOPPED: return "stopped";
    case GS_PROC_STARTING: return "starting";
    case GS_PROC_READY: return "ready";
    case GS_PROC_STOPPING: return "stopping";
    case GS_PROC_FAILED: return "failed";
    case GS_PROC_DYING: return "dying";
    }
    return "?";
}

void gs_proc_set_shim(const char *self_exe)
{
    free(g_shim);
    g_shim = self_exe ? gs_mem_strdup(self_exe) : NULL;
}

int gs_proc_shim_main(int argc, char **argv)
{
    /* argv: __child PPID PROGRAM ARGS... */
    if (argc < 3) {
        fprintf(stderr, "ggswap __child: usage: __child PPID PROGRAM [ARGS...]\n");
        return 127;
    }
    pid_t want = (pid_t)atol(argv[1]);
    /* The kernel sends SIGKILL when ggswap dies, even by kill -9; the setting survives exec. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != want)
        _exit(127); /* ggswap died before the prctl: nobody wants this child any more */
    execvp(argv[2], argv + 2);
    fprintf(stderr, "ggswap: cannot run %s: %s (check the path in the model's cmd)\n", argv[2],
            strerror(errno));
    return 127;
}

static void set_state(gs_proc *p, gs_proc_state st, const char *why)
{
    gs_proc_state old = p->state;
    if (old == st)
        return;
    p->state = st;
    p->state_since_ms = gs_clock_ms();
    if (st == GS_PROC_FAILED)
        p->fails++;
    gs_log_level lvl = st == GS_PROC_FAILED ? GS_LOG_ERROR : GS_LOG_INFO;
    gs_log_msg(lvl, "model %s: %s -> %s%s%s", p->id, gs_proc_state_name(old),
               gs_proc_state_name(st), why ? ": " : "", why ? why : "");
    if (st == GS_PROC_READY || st == GS_PROC_FAILED || st == GS_PROC_STOPPING) {
        gs_prefetch_release(p->prefetch); /* its work is done, or no longer wanted */
        p->prefetch = NULL;
    }
    if (p->on_state)
        p->on_state(p, old, p->ud);
}

/* ---- the child's output ---- */

static void emit_line(gs_proc *p, const char *s, size_t n)
{
    gs_ring_append(&p->log, s, n);
    gs_ring_append(&p->log, "\n", 1);
    gs_log_model_line(p->id, s, n);
}

static void run_handle_closed(uv_handle_t *h)
{
    gs_proc_run *r = h->data;
    if (--r->handles > 0)
        return;
    gs_buf_free(&r->line[0]);
    gs_buf_free(&r->line[1]);
    gs_proc *p = r->p;
    free(r);
    if (p)
        maybe_free(p);
}

static void out_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char slab[16 * 1024];
    buf->base = slab;
    buf->len = sizeof slab;
}

static void out_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    gs_proc_run *r = s->data;
    int i = s == (uv_stream_t *)&r->out[0] ? 0 : 1;
    if (n < 0) {
        if (r->line[i].len && r->p)
            emit_line(r->p, r->line[i].data, r->line[i].len);
        gs_buf_reset(&r->line[i]);
        uv_close((uv_handle_t *)s, run_handle_closed);
        r->pipes_open--;
        run_check(r);
        return;
    }
    gs_proc *p = r->p;
    const char *d = buf->base;
    size_t len = (size_t)n;
    while (len) {
        const char *nl = memchr(d, '\n', len);
        size_t take = nl ? (size_t)(nl - d) : len;
        gs_buf *lb = &r->line[i];
        if (lb->len + take > LINE_MAX_BYTES) {
            /* An endless line: flush what we have rather than grow. */
            if (p)
                emit_line(p, lb->data ? lb->data : "", lb->len);
            gs_buf_reset(lb);
            if (take > LINE_MAX_BYTES)
                take = LINE_MAX_BYTES;
            nl = NULL;
        }
        gs_buf_append(lb, d, take);
        if (nl) {
            size_t l = lb->len;
            if (l && lb->data[l - 1] == '\r')
                l--;
            if (p)
                emit_line(p, lb->data ? lb->data : "", l);
            gs_buf_reset(lb);
            take++;
        }
        d += take;
        len -= take;
    }
    /* llama-server prints when it is ready: look now instead of at the next poll. */
    if (p && p->state == GS_PROC_STARTING && !p->health)
        health_check(p);
}

/* ---- health ---- */

static void health_timer_cb(uv_timer_t *t);

static void schedule_health(gs_proc *p)
{
    unsigned ms = p->health_interval_ms;
    p->health_interval_ms = ms * 3 / 2 + 1;
    if (p->health_interval_ms > HEALTH_MAX_MS)
        p->health_interval_ms = HEALTH_MAX_MS;
    uv_timer_start(&p->health_timer, health_timer_cb, ms, 0);
}

static void become_ready(gs_proc *p)
{
    set_state(p, GS_PROC_READY, NULL);
    if (p->state == GS_PROC_READY && p->inflight == 0)
        gs_proc_request_end(p); /* arms the TTL when nothing comes */
}

static void abandon_hook(gs_proc *p)
{
    if (!p->in_hook)
        return;
    p->in_hook = false;
    if (p->hooks && p->hooks->abandon)
        p->hooks->abandon(p, p->hooks_ud);
}

static void health_head(gs_upstream_req *r, int status, const gs_http_header *h, int n,
                        int64_t clen, void *ud)
{
    gs_proc *p = ud;
    if (status == 200 && p->state == GS_PROC_STARTING && !p->in_hook) {
        p->health = NULL; /* on_done still comes; it must not look at p->health */
        /* Healthy: the hook bounds its own time, so healthCheckTimeout no longer applies. */
        uv_timer_stop(&p->health_timer);
        uv_timer_stop(&p->start_timer);
        if (p->hooks && p->hooks->before_ready) {
            p->in_hook = true;
            if (p->hooks->before_ready(p, p->hooks_ud))
                return; /* gs_proc_hook_done goes on */
            p->in_hook = false;
        }
        become_ready(p);
    }
}

static void health_body(gs_upstream_req *r, const char *d, size_t n, void *ud)
{
}

static void health_done(gs_upstream_req *r, int err, const char *msg, void *ud)
{
    gs_proc *p = ud;
    if (p->health == r)
        p->health = NULL;
}

static const gs_upstream_cbs health_cbs = {health_head, health_body, health_done, NULL};

static void health_check(gs_proc *p)
{
    if (p->health || !p->pool || p->in_hook)
        return;
    if (!p->cfg->check_endpoint) {
        set_state(p, GS_PROC_READY, "no health check configured");
        return;
    }
    gs_buf head;
    gs_buf_init(&head, 0);
    gs_upstream_head(p->pool, &head, "GET", p->cfg->check_endpoint);
    gs_buf_puts(&head, "User-Agent: ggswap\r\n\r\n");
    p->health = gs_upstream_send(p->pool, head.data, head.len, NULL, 0, &health_cbs, p);
    gs_buf_free(&head);
}

static void fail_start(gs_proc *p, const char *what)
{
    char *tail = gs_proc_log_tail(p, 1500);
    free(p->error);
    p->error = tail[0] ? gs_mem_printf("%s; last log lines:\n%s", what, tail)
                       : gs_mem_printf("%s (it printed nothing)", what);
    free(tail);
    /* The reason travels in JSON (API, page): a child's stray bytes must not break it. */
    gs_buf_scrub_utf8(p->error, strlen(p->error));
    set_state(p, GS_PROC_FAILED, p->error);
}

static void kill_group(gs_proc *p, int sig)
{
    if (p->pid > 0)
        kill(-p->pid, sig);
}

static void health_timer_cb(uv_timer_t *t)
{
    gs_proc *p = t->data;
    if (p->state != GS_PROC_STARTING)
        return;
    health_check(p);
    schedule_health(p);
}

static void start_timer_cb(uv_timer_t *t)
{
    gs_proc *p = t->data;
    if (p->state != GS_PROC_STARTING || p->in_hook)
        return;
    char what[160];
    snprintf(what, sizeof what, "model %s did not become ready within %d s (healthCheckTimeout)",
             p->id, p->health_timeout_s);
    uv_timer_stop(&p->health_timer);
    if (p->health) {
        gs_upstream_cancel(p->health);
        p->health = NULL;
    }
    fail_start(p, what);
    kill_group(p, SIGKILL);
}

/* Every timer of the proc at rest (not while it is being freed: they are closing then). */
static void stop_timers(gs_proc *p)
{
    if (p->freeing)
        return;
    uv_timer_stop(&p->health_timer);
    uv_timer_stop(&p->start_timer);
    uv_timer_stop(&p->stop_timer);
    uv_timer_stop(&p->ttl_timer);
}

/* ---- exit ---- */

/* The run is over once the child exited AND its output pipes are drained: the last lines it
 * printed (often the reason it failed) must be in the log before anyone reads the reason. */
static void run_check(gs_proc_run *r)
{
    gs_proc *p = r->p;
    if (!r->exited || r->pipes_open > 0 || !p)
        return;
    r->p = NULL;
    p->run = NULL;
    p->pid = 0;
    abandon_hook(p); /* a crash: nothing more to save or restore */
    if (p->health) {
        gs_upstream_cancel(p->health);
        p->health = NULL;
    }
    gs_upstream_pool_drain(p->pool);
    stop_timers(p);
    char what[160];
    if (r->term_signal)
        snprintf(what, sizeof what, "process %d was killed by signal %d", r->pid, r->term_signal);
    else
        snprintf(what, sizeof what, "process %d exited with status %lld", r->pid,
                 (long long)r->exit_status);
    switch (p->state) {
    case GS_PROC_STARTING: {
        char msg[256];
        snprintf(msg, sizeof msg, "model %s failed to start: %s", p->id, what);
        fail_start(p, msg);
        break;
    }
    case GS_PROC_READY:
    case GS_PROC_DYING:
        gs_warn("model %s: upstream exited unexpectedly (%s)", p->id, what);
        set_state(p, GS_PROC_STOPPED, what);
        break;
    case GS_PROC_STOPPING:
        set_state(p, GS_PROC_STOPPED, what);
        break;
    default:
        /* FAILED already (a start that timed out): no transition, but the owner waits for
         * the child to be gone before it may start another (same port). */
        if (p->on_state)
            p->on_state(p, p->state, p->ud);
        break;
    }
    maybe_free(p);
}

static void exit_cb(uv_process_t *child, int64_t status, int sig)
{
    gs_proc_run *r = child->data;
    r->exited = true;
    r->exit_status = status;
    r->term_signal = sig;
    /* Anything the child left in its group goes with it: no process is ever left behind, and
     * no grandchild keeps the output pipes open. */
    kill(-r->pid, SIGKILL);
    uv_close((uv_handle_t *)child, run_handle_closed);
    run_check(r);
}

/* ---- start / stop ---- */

static char **build_env(const gs_model_cfg *cfg)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = gs_mem_calloc(n + (size_t)cfg->nenv + 1, sizeof *env);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        env[k++] = environ[i];
    for (int i = 0; i < cfg->nenv; i++)
        env[k++] = cfg->env[i];
    return env;
}

/* Something else already listening on the model's port would answer its health check and
 * its requests: refuse to start instead of silently talking to a stranger. */
static bool port_in_use(const gs_model_cfg *cfg)
{
    const char *h = cfg->proxy_host;
    if (!h || (strcmp(h, "127.0.0.1") != 0 && strcmp(h, "localhost") != 0))
        return false;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)cfg->proxy_port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool busy = bind(fd, (struct sockaddr *)&a, sizeof a) < 0 && errno == EADDRINUSE;
    close(fd);
    return busy;
}

int gs_proc_start(gs_proc *p)
{
    int rc = 0;
    char **args = NULL, **env = NULL;
    if (p->state != GS_PROC_STOPPED && p->state != GS_PROC_FAILED)
        return -EBUSY;
    if (p->run)
        return -EBUSY; /* the previous child is still going away */
    const gs_model_cfg *cfg = p->cfg;
    if (!cfg->argv || cfg->argc == 0) {
        fail_start(p, "empty cmd");
        return -EINVAL;
    }
    gs_ring_free(&p->log);
    gs_ring_init(&p->log, LOG_RING_SIZE);
    free(p->error);
    p->error = NULL;
    if (port_in_use(cfg)) {
        char msg[300];
        snprintf(msg, sizeof msg,
                 "model %s: port %d is already in use by another program; free it or give the "
                 "model another port (startPort in the config or settings.yaml)",
                 p->id, cfg->proxy_port);
        set_state(p, GS_PROC_STARTING, NULL);
        fail_start(p, msg);
        return -EADDRINUSE;
    }

    if (p->hooks && p->hooks->before_start)
        p->hooks->before_start(p, p->hooks_ud);
    int extra = g_shim ? 3 : 0;
    int nextra_argv = 0;
    while (p->extra_argv && p->extra_argv[nextra_argv])
        nextra_argv++;
    args = gs_mem_calloc((size_t)cfg->argc + (size_t)extra + (size_t)nextra_argv + 1,
                         sizeof *args);
    char ppid[32];
    snprintf(ppid, sizeof ppid, "%d", (int)getpid());
    if (g_shim) {
        args[0] = g_shim;
        args[1] = "__child";
        args[2] = ppid;
    }
    for (int i = 0; i < cfg->argc; i++)
        args[extra + i] = cfg->argv[i];
    for (int i = 0; i < nextra_argv; i++)
        args[extra + cfg->argc + i] = p->extra_argv[i];
    env = build_env(cfg);

    gs_proc_run *r = gs_mem_calloc(1, sizeof *r);
    r->p = p;
    gs_buf_init(&r->line[0], LINE_MAX_BYTES + 1);
    gs_buf_init(&r->line[1], LINE_MAX_BYTES + 1);
    uv_pipe_init(p->loop, &r->out[0], 0);
    uv_pipe_init(p->loop, &r->out[1], 0);
    r->out[0].data = r->out[1].data = r->child.data = r;
    r->handles = 3;
    r->pipes_open = 2;
    uv_stdio_container_t stdio[3];
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[1].data.stream = (uv_stream_t *)&r->out[0];
    stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[2].data.stream = (uv_stream_t *)&r->out[1];
    uv_process_options_t o;
    memset(&o, 0, sizeof o);
    o.file = args[0];
    o.args = args;
    o.env = env;
    o.exit_cb = exit_cb;
    o.stdio = stdio;
    o.stdio_count = 3;
    /* DETACHED makes the child a session and process group leader: signals go to the group. */
    o.flags = UV_PROCESS_DETACHED;
    p->start_ms = gs_clock_ms();
    set_state(p, GS_PROC_STARTING, NULL);
    rc = uv_spawn(p->loop, &r->child, &o);
    if (rc < 0) {
        /* libuv wants the handle closed even when spawn failed. */
        r->p = NULL;
        uv_close((uv_handle_t *)&r->child, run_handle_closed);
        uv_close((uv_handle_t *)&r->out[0], run_handle_closed);
        uv_close((uv_handle_t *)&r->out[1], run_handle_closed);
        char msg[512];
        snprintf(msg, sizeof msg, "model %s: cannot run %s: %s", p->id, cfg->argv[0],
                 uv_strerror(rc));
        fail_start(p, msg);
        goto out;
    }
    p->run = r;
    p->pid = r->pid = r->child.pid;
    gs_info("model %s: started pid %d: %s", p->id, p->pid, cfg->cmd ? cfg->cmd : cfg->argv[0]);
    uv_read_start((uv_stream_t *)&r->out[0], out_alloc, out_read);
    uv_read_start((uv_stream_t *)&r->out[1], out_alloc, out_read);
    p->health_interval_ms = HEALTH_FIRST_MS;
    if (!cfg->check_endpoint) {
        set_state(p, GS_PROC_READY, "checkEndpoint is none");
    } else {
        /* The deadline counts from now, not from the loop's cached time: the callback that
         * asked for this start may have run long (a reload, spawning the child), and the
         * model would lose that much of its healthCheckTimeout. */
        uv_update_time(p->loop);
        uv_timer_start(&p->start_timer, start_timer_cb, (uint64_t)p->health_timeout_s * 1000, 0);
        schedule_health(p);
    }
out:
    free(args);
    free(env);
    return rc;
}

static void stop_timer_cb(uv_timer_t *t)
{
    gs_proc *p = t->data;
    if (p->state == GS_PROC_STOPPING && p->run) {
        gs_warn("model %s: pid %d did not stop within %d ms; sending SIGKILL", p->id, p->pid,
                p->stop_grace_ms);
        kill_group(p, SIGKILL);
    }
}

static void cmd_stop_exit(uv_process_t *h, int64_t status, int sig)
{
    uv_close((uv_handle_t *)h, (uv_close_cb)free);
}

static void run_cmd_stop(gs_proc *p)
{
    char pid[32];
    snprintf(pid, sizeof pid, "%d", p->pid);
    gs_buf b;
    gs_buf_init(&b, 64 * 1024);
    const char *s = p->cfg->cmd_stop;
    for (const char *q; (q = strstr(s, "${PID}")); s = q + 6) {
        gs_buf_append(&b, s, (size_t)(q - s));
        gs_buf_puts(&b, pid);
    }
    gs_buf_puts(&b, s);
    char **argv = NULL;
    int argc = 0;
    if (gs_cmdline_split(b.data ? b.data : "", &argv, &argc, NULL) == 0 && argc > 0) {
        uv_process_t *h = gs_mem_calloc(1, sizeof *h);
        uv_process_options_t o;
        memset(&o, 0, sizeof o);
        o.file = argv[0];
        o.args = argv;
        o.exit_cb = cmd_stop_exit;
        char **env = build_env(p->cfg);
        o.env = env;
        int rc = uv_spawn(p->loop, h, &o);
        free(env);
        if (rc < 0) {
            gs_warn("model %s: cmdStop failed to run (%s); sending SIGTERM", p->id,
                    uv_strerror(rc));
            uv_close((uv_handle_t *)h, (uv_close_cb)free);
            kill_group(p, SIGTERM);
        }
    } else {
        kill_group(p, SIGTERM);
    }
    gs_strv_free(argv);
    gs_buf_free(&b);
}

static void send_stop(gs_proc *p)
{
    /* Close our idle connections first: llama-server waits for open ones before exiting. */
    gs_upstream_pool_drain(p->pool);
    if (p->cfg->cmd_stop)
        run_cmd_stop(p);
    else
        kill_group(p, SIGTERM);
    uv_timer_start(&p->stop_timer, stop_timer_cb,
                   (uint64_t)(p->stop_grace_ms > 0 ? p->stop_grace_ms : STOP_TIMEOUT_MS), 0);
}

void gs_proc_stop(gs_proc *p, const char *why)
{
    gs_proc_stop_within(p, why, STOP_TIMEOUT_MS);
}

void gs_proc_stop_within(gs_proc *p, const char *why, int grace_ms)
{
    if (p->state != GS_PROC_STARTING && p->state != GS_PROC_READY && p->state != GS_PROC_DYING)
        return;
    if (p->health) {
        gs_upstream_cancel(p->health);
        p->health = NULL;
    }
    stop_timers(p);
    abandon_hook(p); /* a restore under way is cut short: the model is going anyway */
    if (!p->run) {
        set_state(p, GS_PROC_STOPPED, why);
        return;
    }
    bool planned = p->state == GS_PROC_READY; /* a DYING one has nothing left to save */
    set_state(p, GS_PROC_STOPPING, why);
    p->stop_grace_ms = grace_ms > 0 ? grace_ms : STOP_TIMEOUT_MS;
    if (planned && p->state == GS_PROC_STOPPING && p->hooks && p->hooks->before_stop) {
        p->in_hook = true;
        if (p->hooks->before_stop(p, p->hooks_ud))
            return; /* gs_proc_hook_done sends the signal */
        p->in_hook = false;
    }
    send_stop(p);
}

void gs_proc_hook_done(gs_proc *p)
{
    if (!p->in_hook)
        return;
    p->in_hook = false;
    if (p->state == GS_PROC_STARTING && p->run)
        become_ready(p);
    else if (p->state == GS_PROC_STOPPING && p->run)
        send_stop(p);
}

void gs_proc_check_dead(gs_proc *p)
{
    if (p->state != GS_PROC_READY || p->pid <= 0)
        return;
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%d/stat", p->pid);
    FILE *f = fopen(path, "r");
    bool dead = true;
    if (f) {
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        /* "pid (comm) S ...": the state follows the last ')' */
        char *rp = strrchr(buf, ')');
        dead = rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X');
    }
    if (dead) {
        char why[96];
        snprintf(why, sizeof why, "process %d is gone; holding requests until its exit is handled",
                 p->pid);
        uv_timer_stop(&p->ttl_timer);
        set_state(p, GS_PROC_DYING, why);
    }
}

void gs_proc_kill(gs_proc *p)
{
    kill_group(p, SIGKILL);
}

/* ---- TTL ---- */

static void ttl_cb(uv_timer_t *t)
{
    gs_proc *p = t->data;
    if (p->state == GS_PROC_READY && p->inflight == 0) {
        char why[64];
        snprintf(why, sizeof why, "idle for %d s (ttl)", p->cfg->ttl);
        gs_proc_stop_within(p, why, p->cfg->unload_timeout * 1000);
    }
}

void gs_proc_request_begin(gs_proc *p)
{
    p->inflight++;
    uv_timer_stop(&p->ttl_timer);
}

void gs_proc_request_end(gs_proc *p)
{
    if (p->inflight > 0)
        p->inflight--;
    p->last_used_ms = gs_clock_ms();
    if (p->inflight == 0 && p->state == GS_PROC_READY && p->cfg->ttl > 0)
        uv_timer_start(&p->ttl_timer, ttl_cb, (uint64_t)p->cfg->ttl * 1000, 0);
}

double gs_proc_ttl_left(const gs_proc *p)
{
    if (p->state != GS_PROC_READY || p->inflight > 0 || p->cfg->ttl <= 0)
        return -1;
    uint64_t since = p->last_used_ms > p->state_since_ms ? p->last_used_ms : p->state_since_ms;
    double left = (double)p->cfg->ttl - (double)(gs_clock_ms() - since) / 1000.0;
    return left < 0 ? 0 : left;
}

/* ---- life of the object ---- */

gs_proc *gs_proc_new(uv_loop_t *loop, const gs_model_cfg *cfg, int health_timeout_s,
                     gs_proc_state_cb on_state, void *ud)
{
    gs_proc *p = gs_mem_calloc(1, sizeof *p);
    p->id = gs_mem_strdup(cfg->id);
    p->cfg = cfg;
    p->loop = loop;
    p->health_timeout_s = health_timeout_s > 0 ? health_timeout_s : 120;
    p->on_state = on_state;
    p->ud = ud;
    p->state_since_ms = p->last_used_ms = gs_clock_ms();
    uv_timer_t *timers[] = {&p->health_timer, &p->start_timer, &p->stop_timer, &p->ttl_timer};
    for (size_t i = 0; i < GS_ARRAY_LEN(timers); i++) {
        uv_timer_init(loop, timers[i]);
        timers[i]->data = p;
    }
    p->timers_open = (int)GS_ARRAY_LEN(timers);
    gs_ring_init(&p->log, LOG_RING_SIZE);
    p->pool = gs_upstream_pool_new(loop, cfg->proxy_host, cfg->proxy_port, cfg->proxy_path);
    gs_upstream_pool_set_timeouts(p->pool, &cfg->timeouts);
    return p;
}

bool gs_proc_alive(const gs_proc *p)
{
    return p->run != NULL;
}

static void timer_closed(uv_handle_t *h)
{
    gs_proc *p = h->data;
    p->timers_open--;
    maybe_free(p);
}

static void maybe_free(gs_proc *p)
{
    if (!p->freeing || p->run || p->timers_open > 0)
        return;
    gs_upstream_pool_free(p->pool);
    gs_ring_free(&p->log);
    free(p->error);
    free(p->id);
    free(p);
}

void gs_proc_free(gs_proc *p)
{
    if (p->freeing)
        return;
    p->on_state = NULL;
    /* Going away for good: no save, and nothing may call back into p. */
    bool was_saving = p->in_hook && p->state == GS_PROC_STOPPING;
    abandon_hook(p);
    if (p->hooks && p->hooks->release)
        p->hooks->release(p, p->hooks_ud);
    p->hooks = NULL;
    gs_prefetch_release(p->prefetch);
    p->prefetch = NULL;
    if (p->state == GS_PROC_STARTING || p->state == GS_PROC_READY || p->state == GS_PROC_DYING)
        gs_proc_stop(p, "removed");
    else if (was_saving && p->run)
        send_stop(p); /* it was saving its slots: signal it now */
    p->freeing = true;
    if (p->health) {
        gs_upstream_cancel(p->health);
        p->health = NULL;
    }
    uv_close((uv_handle_t *)&p->health_timer, timer_closed);
    uv_close((uv_handle_t *)&p->start_timer, timer_closed);
    uv_close((uv_handle_t *)&p->stop_timer, timer_closed);
    uv_close((uv_handle_t *)&p->ttl_timer, timer_closed);
    /* The kill escalation timer is gone with its handle; make sure the child goes. */
    if (p->run)
        kill_group(p, SIGKILL);
}

char *gs_proc_log_tail(const gs_proc *p, size_t max)
{
    size_t len;
    char *all = gs_ring_dump(&p->log, &len);
    if (len <= max)
        return all;
    /* Start at a line boundary inside the last max bytes. */
    char *s = all + (len - max);
    char *nl = memchr(s, '\n', max);
    if (nl && nl + 1 < all + len)
        s = nl + 1;
    char *out = gs_mem_strdup(s);
    free(all);
    return out;
}
