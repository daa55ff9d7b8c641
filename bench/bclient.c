/* bclient: the measuring client of ggswap's benchmarks (bench/run.sh).
 *
 * wrk measures request rates; this measures what wrk cannot: the delay with which each streamed
 * chunk is forwarded (fake-upstream's "stamp": true puts its CLOCK_MONOTONIC send time into each
 * chunk; every process on the machine shares that clock), time to first byte / first SSE event,
 * model swap time, start-up time to a healthy /health, memory with many idle connections, and
 * the raw cost of reading many GGUF headers. Talks to 127.0.0.1 only. Prints one line of
 * "key=value" pairs per measurement for run.sh to pick up.
 *
 *   bclient streams PORT N CHUNKS CHUNK_MS MODEL [RSS_PID]
 *   bclient idle PORT N RSS_PID
 *   bclient ttfb PORT PATH BODY REPEAT
 *   bclient swap PORT MODEL_A MODEL_B REPEAT
 *   bclient swapdirect PORT REPEAT -- CMD_A... -- CMD_B...
 *   bclient startup PORT -- CMD...
 *   bclient readheads DIR
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void die(const char *what)
{
    fprintf(stderr, "bclient: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void raise_nofile(void)
{
    struct rlimit r = { 200000, 200000 };
    if (setrlimit(RLIMIT_NOFILE, &r) < 0) {
        getrlimit(RLIMIT_NOFILE, &r);
        r.rlim_cur = r.rlim_max;
        setrlimit(RLIMIT_NOFILE, &r);
    }
}

static long rss_kb(int pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

/* A connected blocking TCP socket to 127.0.0.1:port, or -1. */
static int dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket");
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            die("write");
        }
        p += w;
        n -= (size_t)w;
    }
}

static size_t post_req(char *out, size_t cap, const char *path, const char *body, int close_conn)
{
    return (size_t)snprintf(out, cap,
                            "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                            "Content-Length: %zu\r\nConnection: %s\r\n\r\n%s",
                            path, strlen(body), close_conn ? "close" : "keep-alive", body);
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int64_t pct(int64_t *v, size_t n, double p)
{
    if (!n)
        return -1;
    size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

/* ---- streams: forwarding delay of each chunk ---------------------------------------------- */

typedef struct sconn {
    int fd;
    int got_head, ok, done, events;
    size_t len;
    char buf[16384];
} sconn;

static int cmd_streams(int argc, char **argv)
{
    if (argc < 6)
        return 2;
    int port = atoi(argv[1]), n = atoi(argv[2]), chunks = atoi(argv[3]), chunk_ms = atoi(argv[4]);
    const char *model = argv[5];
    int rss_pid = argc > 6 ? atoi(argv[6]) : 0;
    raise_nofile();
    char body[512], req[1024];
    snprintf(body, sizeof body,
             "{\"model\":\"%s\",\"stream\":true,\"n_chunks\":%d,\"chunk_ms\":%d,\"stamp\":true,"
             "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
             model, chunks, chunk_ms);
    size_t rl = post_req(req, sizeof req, "/v1/chat/completions", body, 0);
    size_t cap = (size_t)n * (size_t)chunks + 16, ns = 0;
    int64_t *samp = malloc(cap * sizeof *samp);
    sconn *c = calloc((size_t)n, sizeof *c);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (!samp || !c || ep < 0)
        die("alloc");
    for (int i = 0; i < n; i++) {
        if ((c[i].fd = dial(port)) < 0)
            die("connect");
        send_all(c[i].fd, req, rl);
        fcntl(c[i].fd, F_SETFL, O_NONBLOCK);
        struct epoll_event e = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
        epoll_ctl(ep, EPOLL_CTL_ADD, c[i].fd, &e);
    }
    int open_ = n, errors = 0, all_started = 0, started = 0;
    long rss_max = -1;
    int64_t next_rss = 0, deadline = now_us() + 120 * 1000000LL;
    struct epoll_event evs[256];
    while (open_ > 0 && now_us() < deadline) {
        int k = epoll_wait(ep, evs, 256, 100);
        for (int j = 0; j < k; j++) {
            sconn *s = &c[evs[j].data.u32];
            for (;;) {
                ssize_t r = read(s->fd, s->buf + s->len, sizeof s->buf - s->len - 1);
                int64_t t = now_us();
                if (r < 0 && errno == EAGAIN)
                    break;
                if (r <= 0) {
                    if (!s->done)
                        errors++;
                    s->done = 1;
                    break;
                }
                s->len += (size_t)r;
                s->buf[s->len] = 0;
                if (!s->got_head) {
                    s->got_head = 1;
                    s->ok = strncmp(s->buf, "HTTP/1.1 200", 12) == 0;
                    if (!s->ok) {
                        errors++;
                        s->done = 1;
                        break;
                    }
                }
                /* Complete SSE events end with a blank line; keep a partial one for later. */
                char *p = s->buf, *end;
                while ((end = strstr(p, "\n\n"))) {
                    *end = 0;
                    char *ts = strstr(p, "\"t_us\":");
                    if (ts) {
                        int64_t sent = strtoll(ts + 7, NULL, 10);
                        /* The first chunk also measures connection set-up; only steady chunks count. */
                        if (s->events++ > 0 && ns < cap)
                            samp[ns++] = t - sent;
                        else if (s->events == 1)
                            started++;
                    }
                    if (strstr(p, "[DONE]"))
                        s->done = 1;
                    p = end + 2;
                }
                s->len = strlen(p);
                memmove(s->buf, p, s->len + 1);
                if (s->len > sizeof s->buf - 64)
                    s->len = 0; /* cannot happen with fake-upstream's small events */
                if (s->done)
                    break;
            }
            if (s->done && s->fd >= 0) {
                close(s->fd);
                s->fd = -1;
                open_--;
            }
        }
        if (!all_started && started + errors >= n)
            all_started = 1;
        /* Memory once every stream has started: the highest sample. */
        if (rss_pid && all_started && now_us() >= next_rss) {
            long kb = rss_kb(rss_pid);
            if (kb > rss_max)
                rss_max = kb;
            next_rss = now_us() + 50000;
        }
    }
    qsort(samp, ns, sizeof *samp, cmp64);
    printf("streams=%d samples=%zu errors=%d unfinished=%d p50_us=%lld p99_us=%lld max_us=%lld rss_kb=%ld\n", n,
           ns, errors, open_, (long long)pct(samp, ns, 50), (long long)pct(samp, ns, 99),
           (long long)(ns ? samp[ns - 1] : -1), rss_max);
    return errors || open_ ? 1 : 0;
}

/* ---- one request: status, first byte, first SSE event, whole answer ------------------------- */

typedef struct timing {
    int status;
    int64_t first, data, total; /* µs from the request's first byte */
} timing;

static timing one_request(int port, const char *path, const char *body)
{
    char req[8192], buf[65536];
    timing t = { 0, -1, -1, -1 };
    size_t rl = post_req(req, sizeof req, path, body, 1);
    int64_t t0 = now_us();
    int fd = dial(port);
    if (fd < 0)
        return t;
    send_all(fd, req, rl);
    char tail[8] = "";
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf - 1);
        int64_t t1 = now_us();
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        buf[r] = 0;
        if (t.first < 0) {
            t.first = t1 - t0;
            sscanf(buf, "HTTP/1.1 %d", &t.status);
        }
        if (t.data < 0) {
            char join[80];
            snprintf(join, sizeof join, "%s%.*s", tail, 8, buf);
            if (strstr(join, "data:") || strstr(buf, "data:"))
                t.data = t1 - t0;
            size_t l = (size_t)r, k = l >= 7 ? 7 : l;
            memcpy(tail, buf + l - k, k);
            tail[k] = 0;
        }
    }
    t.total = now_us() - t0;
    close(fd);
    return t;
}

static int cmd_ttfb(int argc, char **argv)
{
    if (argc < 5)
        return 2;
    int port = atoi(argv[1]), rep = atoi(argv[4]), bad = 0;
    int64_t first[1000], data[1000], total[1000];
    if (rep > 1000)
        rep = 1000;
    for (int i = 0; i < rep; i++) {
        timing t = one_request(port, argv[2], argv[3]);
        if (t.status != 200)
            bad++;
        first[i] = t.first;
        data[i] = t.data;
        total[i] = t.total;
    }
    qsort(first, (size_t)rep, sizeof(int64_t), cmp64);
    qsort(data, (size_t)rep, sizeof(int64_t), cmp64);
    qsort(total, (size_t)rep, sizeof(int64_t), cmp64);
    printf("n=%d bad=%d first_p50_us=%lld data_p50_us=%lld total_p50_us=%lld data_p99_us=%lld\n", rep,
           bad, (long long)pct(first, (size_t)rep, 50), (long long)pct(data, (size_t)rep, 50),
           (long long)pct(total, (size_t)rep, 50), (long long)pct(data, (size_t)rep, 99));
    return bad ? 1 : 0;
}

/* ---- swaps through a proxy (ggswap, llama.cpp's router) --------------------------------- */

static const char *chat_body(char *out, size_t cap, const char *model)
{
    snprintf(out, cap,
             "{\"model\":\"%s\",\"max_tokens\":1,\"temperature\":0,"
             "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
             model);
    return out;
}

static int cmd_swap(int argc, char **argv)
{
    if (argc < 5)
        return 2;
    int port = atoi(argv[1]), rep = atoi(argv[4]), bad = 0, n = 0;
    const char *m[2] = { argv[2], argv[3] };
    char body[512];
    int64_t v[200];
    timing w = one_request(port, "/v1/chat/completions", chat_body(body, sizeof body, m[0]));
    if (w.status != 200) {
        fprintf(stderr, "bclient swap: loading %s answered %d\n", m[0], w.status);
        bad++;
    }
    for (int i = 0; i < rep * 2 && n < 200; i++) {
        /* Alternate: B while A is loaded, then A while B is loaded. */
        timing t = one_request(port, "/v1/chat/completions", chat_body(body, sizeof body, m[(i + 1) % 2]));
        if (t.status != 200) {
            fprintf(stderr, "bclient swap: %s answered %d\n", m[(i + 1) % 2], t.status);
            bad++;
        }
        v[n++] = t.first;
        usleep(100000); /* let the stopped process go completely */
    }
    qsort(v, (size_t)n, sizeof *v, cmp64);
    printf("swaps=%d bad=%d p50_us=%lld min_us=%lld max_us=%lld all_us=", n, bad,
           (long long)pct(v, (size_t)n, 50), (long long)v[0], (long long)v[n - 1]);
    for (int i = 0; i < n; i++)
        printf("%s%lld", i ? "," : "", (long long)v[i]);
    printf("\n");
    return bad ? 1 : 0;
}

/* ---- process start-up ------------------------------------------------------------------- */

static pid_t spawn(char **argv)
{
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        setpgid(0, 0);
        execvp(argv[0], argv);
        _exit(127);
    }
    return pid;
}

/* µs until GET /health on port answers 200, polling every 1 ms; -1 when the process died. */
static int64_t wait_health(int port, pid_t pid, int64_t t0)
{
    static const char req[] = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    for (;;) {
        int st;
        if (pid > 0 && waitpid(pid, &st, WNOHANG) == pid)
            return -1;
        int fd = dial(port);
        if (fd >= 0) {
            char buf[256];
            send_all(fd, req, sizeof req - 1);
            ssize_t r = read(fd, buf, sizeof buf - 1);
            close(fd);
            if (r > 12 && strncmp(buf, "HTTP/1.1 200", 12) == 0)
                return now_us() - t0;
        }
        if (now_us() - t0 > 60 * 1000000LL)
            return -1;
        usleep(1000);
    }
}

static void stop(pid_t pid)
{
    kill(-pid, SIGTERM);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

static int cmd_startup(int argc, char **argv)
{
    if (argc < 4 || strcmp(argv[2], "--"))
        return 2;
    int port = atoi(argv[1]);
    int64_t t0 = now_us();
    pid_t pid = spawn(argv + 3);
    int64_t t = wait_health(port, pid, t0);
    stop(pid);
    printf("startup_us=%lld\n", (long long)t);
    return t < 0;
}

/* The direct baseline of a swap: stop A (SIGTERM, wait for the exit), start B, poll its /health
 * every 1 ms, send the request; alternate. */
static int cmd_swapdirect(int argc, char **argv)
{
    if (argc < 6 || strcmp(argv[3], "--"))
        return 2;
    int port = atoi(argv[1]), rep = atoi(argv[2]), bad = 0, n = 0;
    char **cmd[2] = { argv + 4, NULL };
    for (int i = 4; i < argc; i++)
        if (!strcmp(argv[i], "--")) {
            argv[i] = NULL;
            cmd[1] = argv + i + 1;
        }
    if (!cmd[1])
        return 2;
    char body[512];
    int64_t tot[200], stp[200], st[200];
    pid_t cur = spawn(cmd[0]);
    if (wait_health(port, cur, now_us()) < 0) {
        fprintf(stderr, "bclient swapdirect: model A did not become healthy\n");
        return 1;
    }
    one_request(port, "/v1/chat/completions", chat_body(body, sizeof body, "a"));
    for (int i = 0; i < rep * 2 && n < 200; i++) {
        int64_t t0 = now_us();
        kill(cur, SIGTERM);
        waitpid(cur, NULL, 0);
        int64_t t1 = now_us();
        cur = spawn(cmd[(i + 1) % 2]);
        int64_t h = wait_health(port, cur, t1);
        timing t = one_request(port, "/v1/chat/completions", chat_body(body, sizeof body, "b"));
        if (h < 0 || t.status != 200)
            bad++;
        stp[n] = t1 - t0;
        st[n] = h;
        tot[n++] = (t1 - t0) + h + t.first;
        usleep(100000);
    }
    stop(cur);
    qsort(tot, (size_t)n, sizeof *tot, cmp64);
    qsort(stp, (size_t)n, sizeof *stp, cmp64);
    qsort(st, (size_t)n, sizeof *st, cmp64);
    printf("swaps=%d bad=%d p50_us=%lld stop_p50_us=%lld start_to_health_p50_us=%lld all_us=", n, bad,
           (long long)pct(tot, (size_t)n, 50), (long long)pct(stp, (size_t)n, 50),
           (long long)pct(st, (size_t)n, 50));
    for (int i = 0; i < n; i++)
        printf("%s%lld", i ? "," : "", (long long)tot[i]);
    printf(" stop_all_us=");
    for (int i = 0; i < n; i++)
        printf("%s%lld", i ? "," : "", (long long)stp[i]);
    printf(" health_all_us=");
    for (int i = 0; i < n; i++)
        printf("%s%lld", i ? "," : "", (long long)st[i]);
    printf("\n");
    return bad ? 1 : 0;
}

/* ---- idle keep-alive connections -------------------------------------------------------- */

static int cmd_idle(int argc, char **argv)
{
    if (argc < 4)
        return 2;
    int port = atoi(argv[1]), n = atoi(argv[2]), pid = atoi(argv[3]), bad = 0;
    static const char req[] = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    raise_nofile();
    int *fds = malloc((size_t)n * sizeof *fds);
    long before = rss_kb(pid);
    for (int i = 0; i < n; i++) {
        if ((fds[i] = dial(port)) < 0)
            die("connect");
        /* One request on each, so every connection is a served keep-alive connection. */
        send_all(fds[i], req, sizeof req - 1);
        char buf[1024];
        ssize_t r = read(fds[i], buf, sizeof buf);
        if (r < 12 || strncmp(buf, "HTTP/1.1 200", 12))
            bad++;
    }
    usleep(300000);
    long with = rss_kb(pid);
    int alive = 0;
    for (int i = 0; i < n; i++) {
        /* Still open (the server did not drop idle connections while we counted)? */
        char b;
        ssize_t r = recv(fds[i], &b, 1, MSG_DONTWAIT | MSG_PEEK);
        if (r > 0 || (r < 0 && errno == EAGAIN)) /* unread bytes or nothing: still open */
            alive++;
        close(fds[i]);
    }
    printf("conns=%d bad=%d alive=%d rss_before_kb=%ld rss_kb=%ld per_conn_bytes=%ld\n", n, bad, alive,
           before, with, n ? (with - before) * 1024 / n : 0);
    return bad;
}

/* ---- the raw cost of reading GGUF headers (the lower bound of a scan) --------------------- */

static long read_heads(const char *dir, char *buf, size_t cap)
{
    DIR *d = opendir(dir);
    long n = 0;
    struct dirent *e;
    if (!d)
        return 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(p, &st) < 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            n += read_heads(p, buf, cap);
            continue;
        }
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 5, ".gguf"))
            continue;
        int fd = open(p, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        if (read(fd, buf, cap) > 0)
            n++;
        close(fd);
    }
    closedir(d);
    return n;
}

static int cmd_readheads(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    static char buf[65536];
    int64_t t0 = now_us();
    long n = read_heads(argv[1], buf, sizeof buf);
    printf("files=%ld us=%lld\n", n, (long long)(now_us() - t0));
    return 0;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    int rc = 2;
    if (argc >= 2) {
        const char *c = argv[1];
        if (!strcmp(c, "streams")) rc = cmd_streams(argc - 1, argv + 1);
        else if (!strcmp(c, "idle")) rc = cmd_idle(argc - 1, argv + 1);
        else if (!strcmp(c, "ttfb")) rc = cmd_ttfb(argc - 1, argv + 1);
        else if (!strcmp(c, "swap")) rc = cmd_swap(argc - 1, argv + 1);
        else if (!strcmp(c, "swapdirect")) rc = cmd_swapdirect(argc - 1, argv + 1);
        else if (!strcmp(c, "startup")) rc = cmd_startup(argc - 1, argv + 1);
        else if (!strcmp(c, "readheads")) rc = cmd_readheads(argc - 1, argv + 1);
    }
    if (rc == 2)
        fprintf(stderr, "usage: see the comment at the top of bench/bclient.c\n");
    return rc;
}
