// The parts of OpenSSL 3 that clipd uses, plus inline wrappers for the function-like
// macros Swift cannot import. Nothing here holds state.
#ifndef CLIPD_COPENSSL_SHIM_H
#define CLIPD_COPENSSL_SHIM_H

// Hide every API OpenSSL 3 deprecates: using one is a compile error, not a warning.
#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED 1

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/obj_mac.h>
#include <openssl/params.h>
#include <openssl/rand.h>

static inline void clipd_openssl_free(void *pointer) { OPENSSL_free(pointer); }

static inline int clipd_nid_p256(void) { return NID_X9_62_prime256v1; }

static inline int clipd_ctrl_gcm_get_tag(void) { return EVP_CTRL_GCM_GET_TAG; }
static inline int clipd_ctrl_gcm_set_tag(void) { return EVP_CTRL_GCM_SET_TAG; }

// OSSL_PARAM keeps the key pointer it is given; Swift would pass a temporary copy of a
// string constant, so the names come from here, with static storage.
static inline const char *clipd_param_digest(void) { return OSSL_KDF_PARAM_DIGEST; }
static inline const char *clipd_param_key(void) { return OSSL_KDF_PARAM_KEY; }
static inline const char *clipd_param_salt(void) { return OSSL_KDF_PARAM_SALT; }
static inline const char *clipd_param_info(void) { return OSSL_KDF_PARAM_INFO; }
static inline const char *clipd_param_mac_digest(void) { return OSSL_MAC_PARAM_DIGEST; }

#endif
