#include "sdnotify.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int gs_sd_address(const char *value, struct sockaddr_un *sa, socklen_t *len)
{
    size_t n = value ? strlen(value) : 0;
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    if (n < 2 || n >= sizeof sa->sun_path || (value[0] != '/' && value[0] != '@'))
        return -EINVAL;
    memcpy(sa->sun_path, value, n);
    if (value[0] == '@')
        sa->sun_path[0] = 0; /* the abstract namespace */
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (value[0] == '/'));
    return 0;
}

int gs_sd_notify(const char *state)
{
    const char *v = getenv("NOTIFY_SOCKET");
    if (!v || !*v)
        return 0;
    struct sockaddr_un sa;
    socklen_t len;
    if (gs_sd_address(v, &sa, &len) < 0)
        return -EINVAL;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int rc = 1;
    if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, len) < 0)
        rc = -errno;
    close(fd);
    return rc;
}

int gs_sd_parse_journal_stream(const char *value, unsigned long long *dev,
                               unsigned long long *ino)
{
    if (!value || !*value)
        return -EINVAL;
    char *end;
    errno = 0;
    unsigned long long d = strtoull(value, &end, 10);
    if (errno || end == value || *end != ':' || end[1] < '0' || end[1] > '9')
        return -EINVAL;
    const char *p = end + 1;
    unsigned long long i = strtoull(p, &end, 10);
    if (errno || end == p || *end)
        return -EINVAL;
    *dev = d;
    *ino = i;
    return 0;
}

bool gs_sd_stderr_is_journal(void)
{
    unsigned long long dev, ino;
    struct stat st;
    if (gs_sd_parse_journal_stream(getenv("JOURNAL_STREAM"), &dev, &ino) < 0 ||
        fstat(STDERR_FILENO, &st) < 0)
        return false;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}
