/* sslso: OpenSSL is loaded by the first TLS context or hash, not by a plain connection's
 * frees (each Criterion test runs in its own process, so each starts unloaded). */
#include <criterion/criterion.h>
#include <string.h>

#include "tls.h"

Test(sslso, frees_of_nothing_load_nothing)
{
    SSL_free(NULL);
    BIO_free(NULL);
    SSL_CTX_free(NULL);
    EVP_MD_CTX_free(NULL);
    gs_tls_ctx_free(NULL);
    cr_expect_eq(gs_sslso_loaded(), 0);
}

Test(sslso, a_tls_context_loads_it_and_still_names_a_bad_file)
{
    char err[512] = "";
    gs_tls_ctx *c = gs_tls_ctx_new("/nonexistent/cert.pem", "/nonexistent/key.pem", err, sizeof err);
    cr_expect_null(c);
    cr_expect_eq(gs_sslso_loaded(), 1);
    cr_expect(strstr(err, "-tls-cert-file /nonexistent/cert.pem"), "%s", err);
}

Test(sslso, sha256_through_the_table)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    cr_assert_not_null(ctx);
    unsigned char md[32];
    unsigned int n = 0;
    cr_assert_eq(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
    cr_assert_eq(EVP_DigestUpdate(ctx, "abc", 3), 1);
    cr_assert_eq(EVP_DigestFinal_ex(ctx, md, &n), 1);
    EVP_MD_CTX_free(ctx);
    cr_assert_eq(n, 32);
    /* FIPS 180-2's example: SHA-256("abc") = ba7816bf... */
    static const unsigned char want[4] = {0xba, 0x78, 0x16, 0xbf};
    cr_expect_eq(memcmp(md, want, 4), 0);
    cr_expect_eq(gs_sslso_loaded(), 1);
}
