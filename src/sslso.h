/* sslso: OpenSSL (libssl and libcrypto), loaded when TLS or a sha256 is first needed.
 *
 * Mapped at exec, OpenSSL costs ~1.8 MB of a daemon's RSS and a millisecond of every start,
 * although only `-tls-cert-file` (HTTPS) and the sha256 of finished downloads use it. Nothing
 * links it: including this header (tls.h does) turns each OpenSSL call into a call through a
 * table of the library's functions, loaded with dlopen on first use. Callers that can fail
 * gracefully call gs_sslso_load first; the calls themselves load it too, and stop the process
 * with a message if it cannot be loaded (they only run where a load has already succeeded). */
#ifndef GS_SSLSO_H
#define GS_SSLSO_H
/* The real declarations first: the macros below must not rename them. */
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stddef.h>

typedef struct gs_ssl_fns {
    /* libssl */
    const SSL_METHOD *(*TLS_server_method)(void);
    SSL_CTX *(*SSL_CTX_new)(const SSL_METHOD *m);
    void (*SSL_CTX_free)(SSL_CTX *c);
    long (*SSL_CTX_ctrl)(SSL_CTX *c, int cmd, long larg, void *parg);
    int (*SSL_CTX_use_certificate_chain_file)(SSL_CTX *c, const char *file);
    int (*SSL_CTX_use_PrivateKey_file)(SSL_CTX *c, const char *file, int type);
    int (*SSL_CTX_check_private_key)(const SSL_CTX *c);
    SSL *(*SSL_new)(SSL_CTX *c);
    void (*SSL_free)(SSL *s);
    void (*SSL_set_bio)(SSL *s, BIO *r, BIO *w);
    void (*SSL_set_accept_state)(SSL *s);
    int (*SSL_read)(SSL *s, void *buf, int n);
    int (*SSL_write)(SSL *s, const void *buf, int n);
    int (*SSL_shutdown)(SSL *s);
    int (*SSL_get_error)(const SSL *s, int rc);
    /* libssl, the client side (https peers, upstream.c) */
    const SSL_METHOD *(*TLS_client_method)(void);
    void (*SSL_CTX_set_verify)(SSL_CTX *c, int mode, SSL_verify_cb cb);
    int (*SSL_CTX_set_default_verify_paths)(SSL_CTX *c);
    int (*SSL_CTX_up_ref)(SSL_CTX *c);
    void (*SSL_set_connect_state)(SSL *s);
    int (*SSL_do_handshake)(SSL *s);
    long (*SSL_ctrl)(SSL *s, int cmd, long larg, void *parg);
    int (*SSL_set1_host)(SSL *s, const char *host);
    X509_VERIFY_PARAM *(*SSL_get0_param)(SSL *s);
    long (*SSL_get_verify_result)(const SSL *s);
    int (*X509_VERIFY_PARAM_set1_ip_asc)(X509_VERIFY_PARAM *p, const char *ip);
    const char *(*X509_verify_cert_error_string)(long n);
    /* libcrypto */
    unsigned long (*ERR_get_error)(void);
    unsigned long (*ERR_peek_last_error)(void);
    void (*ERR_error_string_n)(unsigned long e, char *buf, size_t len);
    void (*ERR_clear_error)(void);
    const BIO_METHOD *(*BIO_s_mem)(void);
    BIO *(*BIO_new)(const BIO_METHOD *m);
    int (*BIO_free)(BIO *b);
    int (*BIO_read)(BIO *b, void *buf, int n);
    int (*BIO_write)(BIO *b, const void *buf, int n);
    size_t (*BIO_ctrl_pending)(BIO *b);
    const EVP_MD *(*EVP_sha256)(void);
    EVP_MD_CTX *(*EVP_MD_CTX_new)(void);
    void (*EVP_MD_CTX_free)(EVP_MD_CTX *c);
    int (*EVP_DigestInit_ex)(EVP_MD_CTX *c, const EVP_MD *md, ENGINE *e);
    int (*EVP_DigestUpdate)(EVP_MD_CTX *c, const void *d, size_t n);
    int (*EVP_DigestFinal_ex)(EVP_MD_CTX *c, unsigned char *md, unsigned int *n);
} gs_ssl_fns;

/* Load OpenSSL once (any thread). Returns 0, or -ENOSYS with *why (static) saying what to
 * install. */
int gs_sslso_load(const char **why);
/* Whether it has been loaded in this process (tests, idle-memory figures). */
int gs_sslso_loaded(void);
/* The table, loading it first; exits with a message when it cannot be loaded. */
const gs_ssl_fns *gs_sslso(void);

#define GS_SSL_(f) (gs_sslso()->f)
#define TLS_server_method() GS_SSL_(TLS_server_method)()
#define SSL_CTX_new(...) GS_SSL_(SSL_CTX_new)(__VA_ARGS__)
/* The frees take NULL, as OpenSSL's do, without loading anything (http.c frees a plain
 * connection's NULL SSL). */
static inline void gs_sslso_ctx_free_(SSL_CTX *c) { if (c) GS_SSL_(SSL_CTX_free)(c); }
static inline void gs_sslso_ssl_free_(SSL *x) { if (x) GS_SSL_(SSL_free)(x); }
static inline int gs_sslso_bio_free_(BIO *b) { return b ? GS_SSL_(BIO_free)(b) : 0; }
static inline void gs_sslso_md_free_(EVP_MD_CTX *c) { if (c) GS_SSL_(EVP_MD_CTX_free)(c); }
#define SSL_CTX_free(c) gs_sslso_ctx_free_(c)
#define SSL_CTX_ctrl(...) GS_SSL_(SSL_CTX_ctrl)(__VA_ARGS__)
#define SSL_CTX_use_certificate_chain_file(...) GS_SSL_(SSL_CTX_use_certificate_chain_file)(__VA_ARGS__)
#define SSL_CTX_use_PrivateKey_file(...) GS_SSL_(SSL_CTX_use_PrivateKey_file)(__VA_ARGS__)
#define SSL_CTX_check_private_key(...) GS_SSL_(SSL_CTX_check_private_key)(__VA_ARGS__)
#define SSL_new(...) GS_SSL_(SSL_new)(__VA_ARGS__)
#define SSL_free(x) gs_sslso_ssl_free_(x)
#define SSL_set_bio(...) GS_SSL_(SSL_set_bio)(__VA_ARGS__)
#define SSL_set_accept_state(...) GS_SSL_(SSL_set_accept_state)(__VA_ARGS__)
#define SSL_read(...) GS_SSL_(SSL_read)(__VA_ARGS__)
#define SSL_write(...) GS_SSL_(SSL_write)(__VA_ARGS__)
#define SSL_shutdown(...) GS_SSL_(SSL_shutdown)(__VA_ARGS__)
#define SSL_get_error(...) GS_SSL_(SSL_get_error)(__VA_ARGS__)
#define TLS_client_method() GS_SSL_(TLS_client_method)()
#define SSL_CTX_set_verify(...) GS_SSL_(SSL_CTX_set_verify)(__VA_ARGS__)
#define SSL_CTX_set_default_verify_paths(...) GS_SSL_(SSL_CTX_set_default_verify_paths)(__VA_ARGS__)
#define SSL_CTX_up_ref(...) GS_SSL_(SSL_CTX_up_ref)(__VA_ARGS__)
#define SSL_set_connect_state(...) GS_SSL_(SSL_set_connect_state)(__VA_ARGS__)
#define SSL_do_handshake(...) GS_SSL_(SSL_do_handshake)(__VA_ARGS__)
#define SSL_ctrl(...) GS_SSL_(SSL_ctrl)(__VA_ARGS__)
#define SSL_set1_host(...) GS_SSL_(SSL_set1_host)(__VA_ARGS__)
#define SSL_get0_param(...) GS_SSL_(SSL_get0_param)(__VA_ARGS__)
#define SSL_get_verify_result(...) GS_SSL_(SSL_get_verify_result)(__VA_ARGS__)
#define X509_VERIFY_PARAM_set1_ip_asc(...) GS_SSL_(X509_VERIFY_PARAM_set1_ip_asc)(__VA_ARGS__)
#define X509_verify_cert_error_string(...) GS_SSL_(X509_verify_cert_error_string)(__VA_ARGS__)
#define ERR_get_error() GS_SSL_(ERR_get_error)()
#define ERR_peek_last_error() GS_SSL_(ERR_peek_last_error)()
#define ERR_error_string_n(...) GS_SSL_(ERR_error_string_n)(__VA_ARGS__)
#define ERR_clear_error() GS_SSL_(ERR_clear_error)()
#define BIO_s_mem() GS_SSL_(BIO_s_mem)()
#define BIO_new(...) GS_SSL_(BIO_new)(__VA_ARGS__)
#define BIO_free(b) gs_sslso_bio_free_(b)
#define BIO_read(...) GS_SSL_(BIO_read)(__VA_ARGS__)
#define BIO_write(...) GS_SSL_(BIO_write)(__VA_ARGS__)
#define BIO_ctrl_pending(...) GS_SSL_(BIO_ctrl_pending)(__VA_ARGS__)
#define EVP_sha256() GS_SSL_(EVP_sha256)()
#define EVP_MD_CTX_new() GS_SSL_(EVP_MD_CTX_new)()
#define EVP_MD_CTX_free(c) gs_sslso_md_free_(c)
#define EVP_DigestInit_ex(...) GS_SSL_(EVP_DigestInit_ex)(__VA_ARGS__)
#define EVP_DigestUpdate(...) GS_SSL_(EVP_DigestUpdate)(__VA_ARGS__)
#define EVP_DigestFinal_ex(...) GS_SSL_(EVP_DigestFinal_ex)(__VA_ARGS__)

#endif
