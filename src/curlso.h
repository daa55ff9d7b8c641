/* curlso: libcurl, loaded when the first transfer starts.
 *
 * libcurl brings about thirty shared libraries with it (gnutls, krb5, ldap, ssh, ...): linked
 * into the daemon they cost ~5 ms at every exec and ~6 MB of RSS, although only `pull` and the
 * page's downloads ever use it. So nothing links it: this module dlopen()s libcurl.so.4 (and
 * runs curl_global_init, which also initialises its TLS library) on first use and hands out its
 * functions in a table. */
#ifndef GS_CURLSO_H
#define GS_CURLSO_H
#include <curl/curl.h>
#include <stddef.h>

typedef struct gs_curl {
    CURLM *(*multi_init)(void);
    CURLMcode (*multi_setopt)(CURLM *m, CURLMoption opt, ...);
    CURLMcode (*multi_socket_action)(CURLM *m, curl_socket_t s, int ev, int *running);
    CURLMsg *(*multi_info_read)(CURLM *m, int *left);
    CURLMcode (*multi_add_handle)(CURLM *m, CURL *e);
    CURLMcode (*multi_remove_handle)(CURLM *m, CURL *e);
    CURLMcode (*multi_assign)(CURLM *m, curl_socket_t s, void *p);
    CURLMcode (*multi_cleanup)(CURLM *m);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *e, CURLoption opt, ...);
    CURLcode (*easy_getinfo)(CURL *e, CURLINFO info, ...);
    void (*easy_cleanup)(CURL *e);
    const char *(*easy_strerror)(CURLcode c);
    struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
    void (*slist_free_all)(struct curl_slist *l);
} gs_curl;

/* The table, loading libcurl and calling curl_global_init on the first call (loop thread only).
 * NULL when it cannot be loaded: *why (static or kept) says what to install. */
const gs_curl *gs_curlso_get(const char **why);
/* Whether libcurl has been loaded in this process (for tests and the idle-memory figures). */
int gs_curlso_loaded(void);

#endif
