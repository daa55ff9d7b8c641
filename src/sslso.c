/* Not through the macros: this file looks the functions up. */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "sslso.h"

/* OpenSSL 3's sonames (Debian 12's libssl3), then the development link. libssl's own
 * dependency brings libcrypto, and dlsym on its handle finds both libraries' functions. */
static const char *const libs[] = {"libssl.so.3", "libssl.so"};

static gs_ssl_fns g_fns;
static bool g_ok;
static char g_why[512];
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

#define S(f) {#f, offsetof(gs_ssl_fns, f)}
static const struct { const char *name; size_t off; } syms[] = {
    S(TLS_server_method), S(SSL_CTX_new), S(SSL_CTX_free), S(SSL_CTX_ctrl),
    S(SSL_CTX_use_certificate_chain_file), S(SSL_CTX_use_PrivateKey_file),
    S(SSL_CTX_check_private_key), S(SSL_new), S(SSL_free), S(SSL_set_bio),
    S(SSL_set_accept_state), S(SSL_read), S(SSL_write), S(SSL_shutdown), S(SSL_get_error),
    S(TLS_client_method), S(SSL_CTX_set_verify), S(SSL_CTX_set_default_verify_paths),
    S(SSL_CTX_up_ref), S(SSL_set_connect_state), S(SSL_do_handshake), S(SSL_ctrl),
    S(SSL_set1_host), S(SSL_get0_param), S(SSL_get_verify_result),
    S(X509_VERIFY_PARAM_set1_ip_asc), S(X509_verify_cert_error_string),
    S(ERR_get_error), S(ERR_peek_last_error), S(ERR_error_string_n), S(ERR_clear_error),
    S(BIO_s_mem), S(BIO_new), S(BIO_free), S(BIO_read), S(BIO_write), S(BIO_ctrl_pending),
    S(EVP_sha256), S(EVP_MD_CTX_new), S(EVP_MD_CTX_free), S(EVP_DigestInit_ex),
    S(EVP_DigestUpdate), S(EVP_DigestFinal_ex),
};
#undef S

static void load(void)
{
    void *h = NULL;
    for (size_t i = 0; i < sizeof libs / sizeof libs[0] && !h; i++)
        h = dlopen(libs[i], RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(g_why, sizeof g_why, "cannot load OpenSSL (%s: %s): install it (Debian: apt install libssl3)",
                 libs[0], dlerror());
        return;
    }
    for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
        void *p = dlsym(h, syms[i].name);
        if (!p) {
            snprintf(g_why, sizeof g_why, "%s has no %s: ggswap needs OpenSSL 3", libs[0], syms[i].name);
            dlclose(h);
            return;
        }
        *(void **)((char *)&g_fns + syms[i].off) = p;
    }
    g_ok = true;
}

int gs_sslso_load(const char **why)
{
    pthread_once(&g_once, load);
    if (!g_ok && why)
        *why = g_why;
    return g_ok ? 0 : -ENOSYS;
}

int gs_sslso_loaded(void)
{
    return g_ok;
}

const gs_ssl_fns *gs_sslso(void)
{
    const char *why = NULL;
    if (gs_sslso_load(&why) < 0) {
        fprintf(stderr, "ggswap: %s\n", why);
        exit(1);
    }
    return &g_fns;
}
