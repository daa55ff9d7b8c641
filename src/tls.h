/* tls: HTTPS on ggswap's one port (llama-swap's -tls-cert-file / -tls-key-file), with OpenSSL.
 *
 * This module only builds the server context from PEM files and says clearly what is wrong
 * with them (a file that cannot be read, is not a certificate or key, or a key that does not
 * belong to the certificate), so `serve` can refuse to start before anything listens. The
 * HTTP server (http.c) runs each connection's TLS in memory BIOs under its libuv stream:
 * ciphertext in from the socket, plaintext to llhttp, responses encrypted on the way out.
 *
 * It also builds the client context for peers over https (upstream.c runs those connections
 * the same way): the peer's certificate is verified against OpenSSL's default trust store,
 * the system's CA bundle, or the file in $SSL_CERT_FILE / the folder in $SSL_CERT_DIR when set
 * (as llama-swap's Go client reads them on Linux). */
#ifndef GS_TLS_H
#define GS_TLS_H
#include <stddef.h>

/* OpenSSL through the table that loads it on first use (sslso.h), for this module and http.c. */
#include "sslso.h"

typedef struct ssl_ctx_st gs_tls_ctx;

/* A server context for cert (PEM, the chain may follow) and key (PEM). NULL with the reason,
 * naming the flag and file, in err. */
gs_tls_ctx *gs_tls_ctx_new(const char *cert, const char *key, char *err, size_t errlen);
void gs_tls_ctx_free(gs_tls_ctx *ctx);
/* A client context that verifies the server's certificate chain (the name is checked per
 * connection). NULL with the reason in err. */
gs_tls_ctx *gs_tls_client_ctx_new(char *err, size_t errlen);
/* Why the handshake on ssl (a client's) failed, naming host:port: the certificate check's
 * reason when that is what failed, else OpenSSL's last error. */
void gs_tls_handshake_error(const struct ssl_st *ssl, const char *host, int port, char *out,
                            size_t outlen);
/* The last OpenSSL error as text (for connection-level messages). */
const char *gs_tls_last_error(void);

#endif
