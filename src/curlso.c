#include "curlso.h"

#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>

#include "log.h"

/* The soname of Debian's libcurl4 (and every distribution's libcurl 7.x/8.x). */
#define LIBCURL "libcurl.so.4"

static gs_curl g_curl;
static bool g_tried, g_ok;
static char g_why[512];

/* Looked up by name, stored by offset: one row per member of gs_curl. */
static const struct { const char *name; size_t off; } syms[] = {
#define S(member, fn) {fn, offsetof(gs_curl, member)}
    S(multi_init, "curl_multi_init"),
    S(multi_setopt, "curl_multi_setopt"),
    S(multi_socket_action, "curl_multi_socket_action"),
    S(multi_info_read, "curl_multi_info_read"),
    S(multi_add_handle, "curl_multi_add_handle"),
    S(multi_remove_handle, "curl_multi_remove_handle"),
    S(multi_assign, "curl_multi_assign"),
    S(multi_cleanup, "curl_multi_cleanup"),
    S(easy_init, "curl_easy_init"),
    S(easy_setopt, "curl_easy_setopt"),
    S(easy_getinfo, "curl_easy_getinfo"),
    S(easy_cleanup, "curl_easy_cleanup"),
    S(easy_strerror, "curl_easy_strerror"),
    S(slist_append, "curl_slist_append"),
    S(slist_free_all, "curl_slist_free_all"),
#undef S
};

static bool load(void)
{
    void *h = dlopen(LIBCURL, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(g_why, sizeof g_why, "cannot load %s (%s): install libcurl (Debian: apt install libcurl4)",
                 LIBCURL, dlerror());
        return false;
    }
    CURLcode (*global_init)(long) = (CURLcode(*)(long))dlsym(h, "curl_global_init");
    for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
        void *p = dlsym(h, syms[i].name);
        if (!p || !global_init) {
            snprintf(g_why, sizeof g_why, "%s has no %s: it is too old, install libcurl 7.62 or later",
                     LIBCURL, p ? "curl_global_init" : syms[i].name);
            dlclose(h);
            return false;
        }
        *(void **)((char *)&g_curl + syms[i].off) = p;
    }
    CURLcode rc = global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK) {
        snprintf(g_why, sizeof g_why, "curl_global_init failed (%d)", (int)rc);
        return false; /* h stays: libcurl may hold state it could not undo */
    }
    gs_debug("loaded %s for downloads", LIBCURL);
    return true;
}

const gs_curl *gs_curlso_get(const char **why)
{
    if (!g_tried) {
        g_tried = true;
        g_ok = load();
    }
    if (!g_ok && why)
        *why = g_why;
    return g_ok ? &g_curl : NULL;
}

int gs_curlso_loaded(void)
{
    return g_ok;
}
