#ifndef LINKGATE_CLIBCRYPTO_SHIM_H
#define LINKGATE_CLIBCRYPTO_SHIM_H
#define OPENSSL_NO_DEPRECATED 1
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/bio.h>
#include <openssl/rsa.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/params.h>

// Function-like macros do not import into Swift: wrap the ones we need.
static inline void linkgate_openssl_free(void *p) { OPENSSL_free(p); }
static inline long linkgate_bio_get_mem_data(BIO *bio, char **out) { return BIO_get_mem_data(bio, out); }
static inline int linkgate_evp_pkey_is_rsa(const EVP_PKEY *pkey) { return EVP_PKEY_is_a(pkey, "RSA"); }

#endif
