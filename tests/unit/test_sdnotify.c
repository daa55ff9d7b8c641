/* systemd without libsystemd: the $NOTIFY_SOCKET address, $JOURNAL_STREAM, a datagram sent to a
 * socket this test listens on, and the real daemon telling READY=1 / STOPPING=1 and writing
 * journal priorities when its stderr is the "journal". */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sdnotify.h"

Test(sdnotify, addresses)
{
    struct sockaddr_un sa;
    socklen_t len;
    cr_assert_eq(gs_sd_address("/run/systemd/notify", &sa, &len), 0);
    cr_expect_str_eq(sa.sun_path, "/run/systemd/notify");
    cr_expect_eq(len, offsetof(struct sockaddr_un, sun_path) + strlen("/run/systemd/notify") + 1);
    cr_assert_eq(gs_sd_address("@abstract/x", &sa, &len), 0);
    cr_expect_eq(sa.sun_path[0], 0);
    cr_expect_eq(memcmp(sa.sun_path + 1, "abstract/x", 10), 0);
    cr_expect_eq(len, offsetof(struct sockaddr_un, sun_path) + 11);
    const char *bad[] = {"", "/", "relative/path", "vsock:2:1", NULL};
    for (int i = 0; i < 4; i++)
        cr_expect_lt(gs_sd_address(bad[i], &sa, &len), 0, "%s", bad[i]);
    cr_expect_lt(gs_sd_address(NULL, &sa, &len), 0);
    char longp[200];
    memset(longp, 'a', sizeof longp);
    longp[0] = '/';
    longp[199] = 0;
    cr_expect_lt(gs_sd_address(longp, &sa, &len), 0, "longer than sun_path");
}

Test(sdnotify, journal_stream)
{
    unsigned long long d, i;
    cr_assert_eq(gs_sd_parse_journal_stream("8:12345", &d, &i), 0);
    cr_expect_eq(d, 8);
    cr_expect_eq(i, 12345);
    const char *bad[] = {"", "8", "8:", ":1", "8:1x", "a:1", "8:-1"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
        cr_expect_lt(gs_sd_parse_journal_stream(bad[k], &d, &i), 0, "%s", bad[k]);
}

static int listen_dgram(char *path, size_t cap)
{
    snprintf(path, cap, "/tmp/ggswap-notify-%d-%ld.sock", getpid(), (long)random());
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    unlink(path);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

/* The next datagram within ms, or "" on timeout. */
static void recv_within(int fd, int ms, char *buf, size_t cap)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    buf[0] = 0;
    if (poll(&p, 1, ms) == 1) {
        ssize_t n = recv(fd, buf, cap - 1, 0);
        buf[n > 0 ? n : 0] = 0;
    }
}

Test(sdnotify, notify_reaches_the_socket)
{
    char path[108], got[256];
    int fd = listen_dgram(path, sizeof path);
    unsetenv("NOTIFY_SOCKET");
    cr_expect_eq(gs_sd_notify("READY=1"), 0, "no socket: nothing to tell");
    setenv("NOTIFY_SOCKET", path, 1);
    cr_expect_eq(gs_sd_notify("READY=1\nSTATUS=hello"), 1);
    recv_within(fd, 2000, got, sizeof got);
    cr_expect_str_eq(got, "READY=1\nSTATUS=hello");
    setenv("NOTIFY_SOCKET", "/nonexistent/dir/sock", 1);
    cr_expect_lt(gs_sd_notify("READY=1"), 0);
    close(fd);
    unlink(path);
}

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(s, (struct sockaddr *)&a, sizeof a);
    socklen_t l = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &l);
    close(s);
    return ntohs(a.sin_port);
}

Test(sdnotify, the_daemon_tells_systemd, .timeout = 60)
{
    const char *bin = "build/asan/ggswap";
    if (access(bin, X_OK) != 0)
        cr_skip_test("%s not built", bin);
    char path[108], got[512], cfg[] = "/tmp/ggswap-sd-XXXXXX";
    int cfd = mkstemp(cfg);
    cr_assert_geq(cfd, 0);
    dprintf(cfd, "models: {}\n");
    close(cfd);
    int fd = listen_dgram(path, sizeof path);
    int errp[2];
    cr_assert_eq(pipe(errp), 0);
    struct stat st;
    fstat(errp[1], &st);
    char js[64], listen[32];
    snprintf(js, sizeof js, "%llu:%llu", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino);
    snprintf(listen, sizeof listen, "127.0.0.1:%d", free_port());
    pid_t pid = fork();
    if (pid == 0) {
        setenv("NOTIFY_SOCKET", path, 1);
        setenv("JOURNAL_STREAM", js, 1);
        setenv("ASAN_OPTIONS", "detect_leaks=1", 1);
        dup2(errp[1], 2);
        close(errp[0]);
        execl(bin, bin, "-config", cfg, "-listen", listen, (char *)NULL);
        _exit(127);
    }
    close(errp[1]);
    recv_within(fd, 30000, got, sizeof got);
    cr_expect(strncmp(got, "READY=1", 7) == 0, "got '%s'", got);
    cr_expect(strstr(got, listen) != NULL, "STATUS names the address: '%s'", got);
    kill(pid, SIGTERM);
    recv_within(fd, 20000, got, sizeof got);
    cr_expect(strncmp(got, "STOPPING=1", 10) == 0, "got '%s'", got);
    int status = 0;
    waitpid(pid, &status, 0);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit status %d", status);
    char err[8192];
    ssize_t n, total = 0;
    while (total < (ssize_t)sizeof err - 1 && (n = read(errp[0], err + total, sizeof err - 1 - (size_t)total)) > 0)
        total += n;
    err[total] = 0;
    cr_expect(strncmp(err, "<6>", 3) == 0, "journal lines carry their priority: %.200s", err);
    cr_expect(strstr(err, "\n<6>") != NULL, "every line: %.300s", err);
    close(errp[0]);
    close(fd);
    unlink(path);
    unlink(cfg);
}
