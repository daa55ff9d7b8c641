#include "netaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

int gs_netaddr_parse_listen(const char *addr, struct sockaddr_storage *ss)
{
    char host[256];
    memset(ss, 0, sizeof *ss);
    const char *colon = strrchr(addr, ':');
    if (!colon)
        return -EINVAL;
    int port = atoi(colon + 1);
    if (port <= 0 || port > 65535)
        return -EINVAL;
    size_t hl = (size_t)(colon - addr);
    if (hl >= sizeof host)
        return -EINVAL;
    memcpy(host, addr, hl);
    host[hl] = 0;
    if (hl == 0)
        snprintf(host, sizeof host, "0.0.0.0");
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof host, "127.0.0.1");
    if (host[0] == '[') {
        size_t l = strlen(host);
        if (l < 2 || host[l - 1] != ']')
            return -EINVAL;
        host[l - 1] = 0;
        return uv_ip6_addr(host + 1, port, (struct sockaddr_in6 *)ss);
    }
    if (strchr(host, ':'))
        return uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss);
    return uv_ip4_addr(host, port, (struct sockaddr_in *)ss);
}

int gs_netaddr_resolve(const char *host, int port, struct sockaddr_storage *ss, const char **why)
{
    memset(ss, 0, sizeof *ss);
    const char *h = strcmp(host, "localhost") == 0 ? "127.0.0.1" : host;
    if (uv_ip4_addr(h, port, (struct sockaddr_in *)ss) == 0 ||
        uv_ip6_addr(h, port, (struct sockaddr_in6 *)ss) == 0)
        return 0;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    int gai = getaddrinfo(host, NULL, &hints, &res), rc = 0;
    if (gai != 0 || !res || res->ai_addrlen > sizeof *ss) {
        if (why)
            *why = gai ? gai_strerror(gai) : "no address";
        rc = -EHOSTUNREACH;
        goto out;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    if (ss->ss_family == AF_INET)
        ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
out:
    if (res)
        freeaddrinfo(res);
    return rc;
}

void gs_netaddr_name(const struct sockaddr_storage *ss, char *out, size_t n)
{
    char ip[48];
    int port;
    if (ss->ss_family == AF_INET6) {
        uv_ip6_name((const struct sockaddr_in6 *)ss, ip, sizeof ip);
        port = ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
    } else if (ss->ss_family == AF_INET) {
        uv_ip4_name((const struct sockaddr_in *)ss, ip, sizeof ip);
        port = ntohs(((const struct sockaddr_in *)ss)->sin_port);
    } else {
        snprintf(out, n, "?");
        return;
    }
    snprintf(out, n, "%s:%d", ip, port);
}
