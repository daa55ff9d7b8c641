#include "tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

const char *gs_tls_last_error(void)
{
    static char buf[256];
    unsigned long e = ERR_get_error();
    if (!e)
        return "unknown TLS error";
    ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return buf;
}

static int readable(const char *flag, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s %s: cannot read: %s", flag, path, strerror(errno));
        return -1;
    }
    fclose(f);
    return 0;
}

gs_tls_ctx *gs_tls_ctx_new(const char *cert, const char *key, char *err, size_t errlen)
{
    SSL_CTX *ctx = NULL;
    const char *why = NULL;
    if (gs_sslso_load(&why) < 0) {
        snprintf(err, errlen, "HTTPS (-tls-cert-file) needs OpenSSL: %s", why);
        return NULL;
    }
    ERR_clear_error();
    if (readable("-tls-cert-file", cert, err, errlen) < 0 ||
        readable("-tls-key-file", key, err, errlen) < 0)
        goto fail;
    ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        snprintf(err, errlen, "cannot start TLS: %s", gs_tls_last_error());
        goto fail;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        snprintf(err, errlen, "-tls-cert-file %s: not a usable PEM certificate (%s)", cert,
                 gs_tls_last_error());
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
            snprintf(err, errlen, "-tls-key-file %s is not the key of the certificate in %s",
                     key, cert);
            ERR_clear_error();
            goto fail;
        }
        snprintf(err, errlen, "-tls-key-file %s: not a usable PEM private key (%s)", key,
                 gs_tls_last_error());
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(err, errlen, "-tls-key-file %s is not the key of the certificate in %s", key,
                 cert);
        ERR_clear_error();
        goto fail;
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

void gs_tls_ctx_free(gs_tls_ctx *ctx)
{
    if (ctx) /* no OpenSSL to load for nothing */
        SSL_CTX_free(ctx);
}

gs_tls_ctx *gs_tls_client_ctx_new(char *err, size_t errlen)
{
    const char *why = NULL;
    if (gs_sslso_load(&why) < 0) {
        snprintf(err, errlen, "https peers need OpenSSL: %s", why);
        return NULL;
    }
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        snprintf(err, errlen, "cannot start TLS: %s", gs_tls_last_error());
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    /* The system store, or $SSL_CERT_FILE / $SSL_CERT_DIR: how a private CA is trusted. */
    if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        snprintf(err, errlen, "cannot load the CA store (SSL_CERT_FILE, SSL_CERT_DIR): %s",
                 gs_tls_last_error());
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

void gs_tls_handshake_error(const SSL *ssl, const char *host, int port, char *out, size_t outlen)
{
    long v = SSL_get_verify_result(ssl);
    if (v == X509_V_ERR_HOSTNAME_MISMATCH || v == X509_V_ERR_IP_ADDRESS_MISMATCH) {
        ERR_clear_error();
        snprintf(out, outlen,
                 "TLS handshake with %s:%d failed: its certificate is not for %s (%s)", host,
                 port, host, X509_verify_cert_error_string(v));
        return;
    }
    if (v != X509_V_OK) {
        ERR_clear_error();
        snprintf(out, outlen,
                 "TLS handshake with %s:%d failed: certificate not trusted (%s); trust its CA "
                 "with SSL_CERT_FILE",
                 host, port, X509_verify_cert_error_string(v));
        return;
    }
    snprintf(out, outlen, "TLS handshake with %s:%d failed: %s", host, port,
             gs_tls_last_error());
}
