#include "cors.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MAX_ORIGIN 256

/* Printable ASCII without spaces: what can go back into a header line as it is. */
static bool clean(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if ((unsigned char)s[n] <= 0x20 || (unsigned char)s[n] >= 0x7f || n >= MAX_ORIGIN)
            return false;
    return n > 0;
}

static bool scheme_is(const char *o, const char *scheme)
{
    size_t n = strlen(scheme);
    return strncasecmp(o, scheme, n) == 0 && strncmp(o + n, "://", 3) == 0;
}

/* "host[:port]" is localhost, 127.0.0.1 or [::1], with a port of digits or none. */
static bool this_machine(const char *hp)
{
    static const char *const hosts[] = {"localhost", "127.0.0.1", "[::1]"};
    for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++) {
        size_t n = strlen(hosts[i]);
        if (strncasecmp(hp, hosts[i], n) != 0)
            continue;
        const char *p = hp + n;
        if (*p == 0)
            return true;
        if (*p++ != ':' || !*p || strlen(p) > 5)
            return false;
        for (; *p; p++)
            if (*p < '0' || *p > '9')
                return false;
        return true;
    }
    return false;
}

static bool default_allowed(const char *o)
{
    if (strcmp(o, "null") == 0)
        return true;
    if (scheme_is(o, "file") || scheme_is(o, "app") || scheme_is(o, "tauri"))
        return true;
    if (scheme_is(o, "http"))
        return this_machine(o + 7);
    if (scheme_is(o, "https"))
        return this_machine(o + 8);
    return false;
}

bool gs_cors_allowed(char *const *origins, int n, const char *origin)
{
    if (!origin || !clean(origin))
        return false;
    if (!origins)
        return default_allowed(origin);
    for (int i = 0; i < n; i++) {
        const char *e = origins[i];
        size_t el = strlen(e);
        if (strcmp(e, "*") == 0)
            return true;
        if (el > 3 && strcmp(e + el - 3, "://") == 0) {
            if (strncasecmp(origin, e, el) == 0)
                return true;
            continue;
        }
        while (el > 0 && e[el - 1] == '/')
            el--; /* "https://x.org/" names the same origin */
        if (strlen(origin) == el && strncasecmp(origin, e, el) == 0)
            return true;
    }
    return false;
}

size_t gs_cors_answer_headers(const char *origin, char *out, size_t cap)
{
    int n = snprintf(out, cap,
                     "Access-Control-Allow-Origin: %s\r\n"
                     "Access-Control-Expose-Headers: Server-Timing\r\n"
                     "Vary: Origin\r\n",
                     origin);
    if (n < 0 || (size_t)n >= cap) {
        if (cap)
            out[0] = 0;
        return 0;
    }
    return (size_t)n;
}

size_t gs_cors_preflight_headers(const char *origin, const char *asked, char *out, size_t cap)
{
    /* Header names only (a token list): anything else in the request is dropped. */
    char names[512];
    size_t k = 0;
    for (const char *p = asked ? asked : ""; *p && k + 1 < sizeof names; p++) {
        char ch = *p;
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == ',' || ch == ' ')
            names[k++] = ch;
    }
    while (k > 0 && (names[k - 1] == ' ' || names[k - 1] == ','))
        k--;
    names[k] = 0;
    size_t a = gs_cors_answer_headers(origin, out, cap);
    if (!a)
        return 0;
    int n = snprintf(out + a, cap - a,
                     "Access-Control-Allow-Methods: GET, POST, PUT, PATCH, DELETE, OPTIONS\r\n"
                     "Access-Control-Allow-Headers: %s%sAuthorization, Content-Type\r\n"
                     "Access-Control-Max-Age: 86400\r\n",
                     names, k ? ", " : "");
    if (n < 0 || (size_t)n >= cap - a) {
        out[0] = 0;
        return 0;
    }
    return a + (size_t)n;
}
