/* netaddr: the socket addresses ggswap listens on, connects to and names in its logs.
 *
 * A listen address is llama-swap's `-listen` form: host:port, ":port" for every IPv4 interface,
 * "[v6]:port", or "localhost:port" (taken as 127.0.0.1, where llama-server listens by default,
 * not whatever /etc/hosts lists first). The models' servers and peers are reached by address or
 * by name; a name is resolved with getaddrinfo, which blocks, so callers resolve when a config is
 * loaded or a tunnel opens, never per request. */
#ifndef GS_NETADDR_H
#define GS_NETADDR_H
#include <stddef.h>
#include <sys/socket.h>

/* Parse a listen address into ss. 0, or -EINVAL for a missing or out-of-range port, an
 * unbalanced "[", or a host that is not an address. */
int gs_netaddr_parse_listen(const char *addr, struct sockaddr_storage *ss);
/* host (an IPv4 or IPv6 address, "localhost", or a name) and port into ss. 0, or -EHOSTUNREACH
 * with *why (when why is not NULL) saying what getaddrinfo found wrong. */
int gs_netaddr_resolve(const char *host, int port, struct sockaddr_storage *ss, const char **why);
/* "ip:port" of ss into out (size n); "?" when ss is neither IPv4 nor IPv6. */
void gs_netaddr_name(const struct sockaddr_storage *ss, char *out, size_t n);

#endif
